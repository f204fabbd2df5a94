//! The read index: every live entity, typed, plus the lookups reads and validation need (by day,
//! by staff, by shift). It lives outside Automerge and is refreshed entity by entity from the
//! set of entities a change touched, so reads never walk the document.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::civil::Date;

use crate::entity::{
    Account, Acknowledgement, Assignment, Availability, Collection, Damage, Department, Entity,
    Fields, Member, Read, Shift, Staff,
};
use crate::schema::StepNote;
use crate::{AssignmentKey, Id};

/// Site-wide settings kept in the document so that every node uses the same.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Site {
    pub name: Option<String>,
    pub time_zone: Option<String>,
    /// The schema version the document records.
    pub schema: i64,
    /// The steps of a schema newer than this version understands, as the document notes them:
    /// what they bring and which collections this version must not write.
    pub newer: Vec<StepNote>,
}

impl Site {
    /// Whether this version must not write a collection, and if so, what to tell the user.
    pub fn locked(&self, collection: Collection) -> Option<String> {
        let step = self
            .newer
            .iter()
            .find(|n| n.locks.iter().any(|l| l == collection.key()))?;
        Some(format!(
            "this site uses schema {}; this shiftmesh understands {}: upgrade it to edit {}",
            self.schema,
            crate::schema::SCHEMA_VERSION,
            if step.about.is_empty() {
                collection.key()
            } else {
                &step.about
            }
        ))
    }

    /// What this version cannot show of a newer schema, in one sentence (None when the
    /// document's schema is not newer).
    pub fn newer_notice(&self) -> Option<String> {
        if self.newer.is_empty() {
            return None;
        }
        let abouts: Vec<&str> = self
            .newer
            .iter()
            .map(|n| n.about.as_str())
            .filter(|a| !a.is_empty())
            .collect();
        Some(format!(
            "this site uses schema {}; this shiftmesh understands {}: upgrade it to see and edit {}",
            self.schema,
            crate::schema::SCHEMA_VERSION,
            if abouts.is_empty() {
                "everything".to_owned()
            } else {
                abouts.join(", ")
            }
        ))
    }
}

/// A value another writer put at the root key of one of shiftmesh's collections. shiftmesh
/// keeps reading and writing its own map (by identity), so nothing vanishes for it; but other
/// Automerge readers see the rival instead.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rival {
    /// What it is: "a map of 2 entries", "text", "a list".
    pub what: String,
    /// The keys it holds when it is a map (the first [`RIVAL_KEYS_MAX`]).
    pub keys: Vec<String>,
    /// How many keys it holds in all.
    pub entries: usize,
    /// Who wrote it, `user@node`.
    pub author: String,
    /// The object, as `counter@actor`, when it is one.
    #[serde(skip)]
    pub object: Option<String>,
    /// The key holds nothing: another writer deleted it (`what` is then empty).
    pub deleted: bool,
}

/// The most keys of a rival map listed.
pub const RIVAL_KEYS_MAX: usize = 50;

/// Entities a change touched, by collection and key.
pub type Dirty = BTreeSet<(Collection, String)>;

/// For the touched entities whose changes only wrote named fields of theirs (not the entity as
/// a whole: made, deleted or replaced), which fields — the entity map's own keys. An entity
/// touched as a whole is not listed: every field of it counts as touched.
pub type TouchedFields = BTreeMap<(Collection, String), BTreeSet<String>>;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Index {
    pub site: Site,
    pub departments: BTreeMap<Id, Department>,
    pub staff: BTreeMap<Id, Staff>,
    pub shifts: BTreeMap<Id, Shift>,
    /// Ordered by shift, then staff, so the assignments of one shift are one range.
    pub assignments: BTreeMap<AssignmentKey, Assignment>,
    pub availability: BTreeMap<Id, Availability>,
    pub acks: BTreeMap<String, Acknowledgement>,
    /// The site's machines, by peer id (revoked ones included).
    pub members: BTreeMap<String, Member>,
    /// Sign-in accounts, by login.
    pub accounts: BTreeMap<Id, Account>,
    /// Entities marked removed (they stay in the document so references to them can be seen).
    pub removed: BTreeSet<(Collection, String)>,
    /// Entities with at least one field holding concurrent values (see `concurrent-edit`).
    pub conflicted: BTreeSet<(Collection, String)>,
    /// Every entity with a field the document holds in a form this version cannot read, with
    /// what is wrong with each (the `unreadable-field` conflicts).
    pub damaged: BTreeMap<(Collection, String), Vec<Damage>>,
    /// Of those, the entities that cannot be used at all (a field they cannot do without is
    /// damaged), with their fields as stored: listed and reported, but in no view or check.
    pub unreadable: BTreeMap<(Collection, String), Fields>,
    /// Values other writers put at the root keys of shiftmesh's collections.
    pub rivals: BTreeMap<Collection, Vec<Rival>>,
    shifts_by_day: BTreeMap<Date, BTreeSet<Id>>,
    shifts_by_staff: BTreeMap<Id, BTreeSet<Id>>,
    /// Each person's live shifts by the shift's (local start) date, so the checks of one week
    /// of one person read only that week.
    staff_days: BTreeMap<(Id, Date), BTreeSet<Id>>,
    availability_by_staff: BTreeMap<Id, BTreeSet<Id>>,
}

/// One entity read from its fields.
enum Parsed {
    Department(Department),
    Staff(Staff),
    Shift(Shift),
    Assignment(Assignment),
    Availability(Availability),
    Ack(Acknowledgement),
    Member(Member),
    Account(Account),
}

impl Parsed {
    /// The entity (None when it cannot be used) and its damaged fields.
    fn of(collection: Collection, key: &str, fields: Fields) -> (Option<Parsed>, Vec<Damage>) {
        fn wrap<E>(read: Read<E>, f: fn(E) -> Parsed) -> (Option<Parsed>, Vec<Damage>) {
            (read.entity.map(f), read.damage)
        }
        match collection {
            Collection::Departments => wrap(Department::read(key, fields), Parsed::Department),
            Collection::Staff => wrap(Staff::read(key, fields), Parsed::Staff),
            Collection::Shifts => wrap(Shift::read(key, fields), Parsed::Shift),
            Collection::Assignments => wrap(Assignment::read(key, fields), Parsed::Assignment),
            Collection::Availability => wrap(Availability::read(key, fields), Parsed::Availability),
            Collection::Acks => wrap(Acknowledgement::read(key, fields), Parsed::Ack),
            Collection::Members => wrap(Member::read(key, fields), Parsed::Member),
            Collection::Accounts => wrap(Account::read(key, fields), Parsed::Account),
            // The site's settings are not kept as an entity.
            Collection::Site => (None, Vec::new()),
        }
    }
}

/// Where the entries read from the document go: the index kept in step (one entity at a time)
/// and a whole index being built take them the same way, through [`route`].
trait Sink {
    fn removed(&mut self, collection: Collection, key: &str);
    fn conflicted(&mut self, collection: Collection, key: &str);
    fn entity(&mut self, entity: Parsed);
    fn damaged(&mut self, collection: Collection, key: &str, damage: Vec<Damage>, usable: bool);
}

/// The damaged fields of an entity's fields, as its reader finds them.
pub(crate) fn read_damage(collection: Collection, key: &str, fields: Fields) -> Vec<Damage> {
    Parsed::of(collection, key, fields).1
}

/// Fields holding whole numbers, and fields holding true or false; every other field holds
/// text. (How `resolve … edit --value` reads what the user typed.)
const WHOLE_NUMBER_FIELDS: &[&str] = &[
    "capacity",
    "min_staff",
    "max_minutes_week",
    "created_at",
    "at",
    "added_at",
    "revoked_at",
];
const FLAG_FIELDS: &[&str] = &["active", "revoked", "disabled", "removed"];

/// Reads text typed for one field of an entity as the type the field holds, and checks it by
/// reading the entity with it (`fields`: the entity's fields as they are now).
pub fn parse_field(
    collection: Collection,
    key: &str,
    mut fields: Fields,
    field: &str,
    text: &str,
) -> Result<crate::FieldValue, crate::InputError> {
    use crate::FieldValue;
    let value = if WHOLE_NUMBER_FIELDS.contains(&field) {
        FieldValue::Int(text.trim().parse().map_err(|_| {
            crate::InputError::new(format!("{field} takes a whole number, not '{text}'"))
        })?)
    } else if FLAG_FIELDS.contains(&field) {
        match text.trim() {
            "true" | "yes" => FieldValue::Bool(true),
            "false" | "no" => FieldValue::Bool(false),
            _ => {
                return Err(crate::InputError::new(format!(
                    "{field} takes true or false, not '{text}'"
                )))
            }
        }
    } else {
        FieldValue::Str(text.to_owned())
    };
    fields.insert(field, value.clone());
    match read_damage(collection, key, fields)
        .into_iter()
        .find(|d| d.field == field)
    {
        Some(d) => Err(crate::InputError::new(format!(
            "{field} cannot be {}: it {}",
            value.describe(),
            d.problem
        ))),
        None => Ok(value),
    }
}

/// What is wrong with an entity, in one line: "capacity holds 1.5, which is not a whole
/// number between 1 and 1000; time is missing".
pub fn describe_damage(damage: &[Damage]) -> String {
    damage
        .iter()
        .map(|d| {
            let what = if d.field.is_empty() {
                "it".to_owned()
            } else {
                d.field.clone()
            };
            match &d.stored {
                Some(value) => format!("{what} holds {} and {}", value.describe(), d.problem),
                None => format!("{what} {}", d.problem),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// What one stored entry means: nothing, a removed entity, or an entity (perhaps holding
/// concurrent values, perhaps with damaged fields) that can be used or cannot.
fn route(sink: &mut impl Sink, collection: Collection, key: &str, stored: Stored) {
    match stored {
        Stored::Absent => {}
        Stored::Removed => sink.removed(collection, key),
        Stored::Present(fields, conflicted) => {
            if conflicted {
                sink.conflicted(collection, key);
            }
            let (entity, damage) = Parsed::of(collection, key, fields);
            if !damage.is_empty() || entity.is_none() {
                sink.damaged(collection, key, damage, entity.is_some());
            }
            if let Some(entity) = entity {
                sink.entity(entity);
            }
        }
        Stored::NotAMap(what, conflicted) => {
            if conflicted {
                sink.conflicted(collection, key);
            }
            let damage = Damage {
                field: String::new(),
                stored: Some(what),
                problem: "is not a map of fields".into(),
                author: String::new(),
            };
            sink.damaged(collection, key, vec![damage], false);
        }
    }
}

impl Sink for Index {
    fn removed(&mut self, collection: Collection, key: &str) {
        self.removed.insert((collection, key.to_owned()));
    }
    fn conflicted(&mut self, collection: Collection, key: &str) {
        self.conflicted.insert((collection, key.to_owned()));
    }
    fn entity(&mut self, entity: Parsed) {
        match entity {
            Parsed::Department(e) => self.insert_department(e),
            Parsed::Staff(e) => self.insert_staff(e),
            Parsed::Shift(e) => self.insert_shift(e),
            Parsed::Assignment(e) => self.insert_assignment(e),
            Parsed::Availability(e) => self.insert_availability(e),
            Parsed::Ack(e) => self.insert_ack(e),
            Parsed::Member(e) => {
                self.members.insert(e.peer.clone(), e);
            }
            Parsed::Account(e) => {
                self.accounts.insert(e.login.clone(), e);
            }
        }
    }
    fn damaged(&mut self, collection: Collection, key: &str, damage: Vec<Damage>, usable: bool) {
        let entry = (collection, key.to_owned());
        if !usable {
            // Its stored fields are filled in by the schedule, which has the document.
            self.unreadable.insert(entry.clone(), Fields::new());
        }
        self.damaged.insert(entry, damage);
    }
}

impl Sink for IndexBuilder {
    fn removed(&mut self, collection: Collection, key: &str) {
        self.removed.push((collection, key.to_owned()));
    }
    fn conflicted(&mut self, collection: Collection, key: &str) {
        self.conflicted.push((collection, key.to_owned()));
    }
    fn entity(&mut self, entity: Parsed) {
        match entity {
            Parsed::Department(e) => self.departments.push(e),
            Parsed::Staff(e) => self.staff.push(e),
            Parsed::Shift(e) => self.shifts.push(e),
            Parsed::Assignment(e) => self.assignments.push(e),
            Parsed::Availability(e) => self.availability.push(e),
            Parsed::Ack(e) => self.acks.push(e),
            Parsed::Member(e) => self.members.push(e),
            Parsed::Account(e) => self.accounts.push(e),
        }
    }
    fn damaged(&mut self, collection: Collection, key: &str, damage: Vec<Damage>, usable: bool) {
        let entry = (collection, key.to_owned());
        if !usable {
            self.unreadable.push((entry.clone(), Fields::new()));
        }
        self.damaged.push((entry, damage));
    }
}

/// Collects every entity of a whole index (a document walk or a snapshot), then builds the
/// maps in bulk: from sorted input an ordered map is built without a search per insert.
#[derive(Default)]
pub struct IndexBuilder {
    departments: Vec<Department>,
    staff: Vec<Staff>,
    shifts: Vec<Shift>,
    assignments: Vec<Assignment>,
    availability: Vec<Availability>,
    acks: Vec<Acknowledgement>,
    members: Vec<Member>,
    accounts: Vec<Account>,
    removed: Vec<(Collection, String)>,
    conflicted: Vec<(Collection, String)>,
    damaged: Vec<((Collection, String), Vec<Damage>)>,
    unreadable: Vec<((Collection, String), Fields)>,
}

impl IndexBuilder {
    pub fn add(&mut self, collection: Collection, key: &str, stored: Stored) {
        route(self, collection, key, stored);
    }

    /// Adds what another builder collected (of other collections, or other keys).
    pub fn merge(&mut self, other: IndexBuilder) {
        let IndexBuilder {
            departments,
            staff,
            shifts,
            assignments,
            availability,
            acks,
            members,
            accounts,
            removed,
            conflicted,
            damaged,
            unreadable,
        } = other;
        self.departments.extend(departments);
        self.staff.extend(staff);
        self.shifts.extend(shifts);
        self.assignments.extend(assignments);
        self.availability.extend(availability);
        self.acks.extend(acks);
        self.members.extend(members);
        self.accounts.extend(accounts);
        self.removed.extend(removed);
        self.conflicted.extend(conflicted);
        self.damaged.extend(damaged);
        self.unreadable.extend(unreadable);
    }

    pub fn build(self, site: Site) -> Index {
        let shifts: BTreeMap<Id, Shift> =
            self.shifts.into_iter().map(|e| (e.id.clone(), e)).collect();
        let assignments: BTreeMap<AssignmentKey, Assignment> =
            self.assignments.into_iter().map(|e| (e.key(), e)).collect();
        let mut by_day: BTreeMap<Date, Vec<Id>> = BTreeMap::new();
        for shift in shifts.values() {
            by_day.entry(shift.date).or_default().push(shift.id.clone());
        }
        let mut by_staff: HashMap<Id, Vec<Id>> = HashMap::new();
        let mut staff_days: HashMap<(Id, Date), Vec<Id>> = HashMap::new();
        // Assignments are ordered by shift: walking them alongside the shifts pairs each with
        // its shift (for its date) without a lookup.
        let mut shift_iter = shifts.iter().peekable();
        for key in assignments.keys() {
            by_staff
                .entry(key.staff.clone())
                .or_default()
                .push(key.shift.clone());
            while shift_iter.peek().is_some_and(|(id, _)| **id < key.shift) {
                shift_iter.next();
            }
            if let Some((id, shift)) = shift_iter.peek() {
                if **id == key.shift {
                    staff_days
                        .entry((key.staff.clone(), shift.date))
                        .or_default()
                        .push(key.shift.clone());
                }
            }
        }
        let mut availability_by_staff: HashMap<Id, Vec<Id>> = HashMap::new();
        for e in &self.availability {
            availability_by_staff
                .entry(e.staff.clone())
                .or_default()
                .push(e.id.clone());
        }
        fn sets<K: Ord>(
            groups: impl IntoIterator<Item = (K, Vec<Id>)>,
        ) -> BTreeMap<K, BTreeSet<Id>> {
            groups
                .into_iter()
                .map(|(k, v)| (k, v.into_iter().collect()))
                .collect()
        }
        Index {
            site,
            departments: self
                .departments
                .into_iter()
                .map(|e| (e.id.clone(), e))
                .collect(),
            staff: self.staff.into_iter().map(|e| (e.id.clone(), e)).collect(),
            shifts,
            assignments,
            availability: self
                .availability
                .into_iter()
                .map(|e| (e.id.clone(), e))
                .collect(),
            acks: self
                .acks
                .into_iter()
                .map(|e| (e.conflict.clone(), e))
                .collect(),
            members: self
                .members
                .into_iter()
                .map(|e| (e.peer.clone(), e))
                .collect(),
            accounts: self
                .accounts
                .into_iter()
                .map(|e| (e.login.clone(), e))
                .collect(),
            removed: self.removed.into_iter().collect(),
            conflicted: self.conflicted.into_iter().collect(),
            damaged: self.damaged.into_iter().collect(),
            unreadable: self.unreadable.into_iter().collect(),
            rivals: BTreeMap::new(),
            shifts_by_day: sets(by_day),
            shifts_by_staff: sets(by_staff),
            staff_days: sets(staff_days),
            availability_by_staff: sets(availability_by_staff),
        }
    }
}

/// What the document holds for one key of a collection. The flag says whether the entity
/// holds concurrent values: in a field, or at its key (created on two machines at once). A
/// removed entity's concurrent values are not reported (nothing shows them).
pub enum Stored {
    Absent,
    Removed,
    /// The winning value of each field.
    Present(Fields, bool),
    /// Something other than a map of fields (another writer's).
    NotAMap(crate::FieldValue, bool),
}

impl Index {
    /// Replaces what the index holds for one entity with what the document now holds.
    pub fn set(&mut self, collection: Collection, key: &str, stored: Stored) {
        self.forget(collection, key);
        self.add(collection, key, stored);
    }

    /// Adds an entity the index does not hold yet.
    pub fn add(&mut self, collection: Collection, key: &str, stored: Stored) {
        route(self, collection, key, stored);
    }

    fn insert_department(&mut self, e: Department) {
        self.departments.insert(e.id.clone(), e);
    }

    fn insert_staff(&mut self, e: Staff) {
        self.staff.insert(e.id.clone(), e);
    }

    fn insert_shift(&mut self, e: Shift) {
        self.shifts_by_day
            .entry(e.date)
            .or_default()
            .insert(e.id.clone());
        let staff: Vec<Id> = self
            .assignments_of_shift(&e.id)
            .map(|a| a.staff.clone())
            .collect();
        for person in staff {
            self.staff_days
                .entry((person, e.date))
                .or_default()
                .insert(e.id.clone());
        }
        self.shifts.insert(e.id.clone(), e);
    }

    fn insert_assignment(&mut self, e: Assignment) {
        self.shifts_by_staff
            .entry(e.staff.clone())
            .or_default()
            .insert(e.shift.clone());
        if let Some(shift) = self.shifts.get(&e.shift) {
            self.staff_days
                .entry((e.staff.clone(), shift.date))
                .or_default()
                .insert(e.shift.clone());
        }
        self.assignments.insert(e.key(), e);
    }

    fn insert_availability(&mut self, e: Availability) {
        self.availability_by_staff
            .entry(e.staff.clone())
            .or_default()
            .insert(e.id.clone());
        self.availability.insert(e.id.clone(), e);
    }

    fn insert_ack(&mut self, e: Acknowledgement) {
        self.acks.insert(e.conflict.clone(), e);
    }

    fn forget(&mut self, collection: Collection, key: &str) {
        let entry = (collection, key.to_owned());
        self.removed.remove(&entry);
        self.damaged.remove(&entry);
        self.unreadable.remove(&entry);
        self.conflicted.remove(&entry);
        match collection {
            Collection::Departments => {
                if let Ok(id) = Id::parse(key) {
                    self.departments.remove(&id);
                }
            }
            Collection::Staff => {
                if let Ok(id) = Id::parse(key) {
                    self.staff.remove(&id);
                }
            }
            Collection::Shifts => {
                let Ok(id) = Id::parse(key) else { return };
                if let Some(old) = self.shifts.remove(&id) {
                    remove_from(&mut self.shifts_by_day, &old.date, &id);
                    let staff: Vec<Id> = self
                        .assignments_of_shift(&id)
                        .map(|a| a.staff.clone())
                        .collect();
                    for person in staff {
                        remove_from(&mut self.staff_days, &(person, old.date), &id);
                    }
                }
            }
            Collection::Assignments => {
                let Ok(k) = AssignmentKey::parse(key) else {
                    return;
                };
                if self.assignments.remove(&k).is_some() {
                    remove_from(&mut self.shifts_by_staff, &k.staff, &k.shift);
                    if let Some(shift) = self.shifts.get(&k.shift) {
                        remove_from(
                            &mut self.staff_days,
                            &(k.staff.clone(), shift.date),
                            &k.shift,
                        );
                    }
                }
            }
            Collection::Availability => {
                let Ok(id) = Id::parse(key) else { return };
                if let Some(old) = self.availability.remove(&id) {
                    remove_from(&mut self.availability_by_staff, &old.staff, &id);
                }
            }
            Collection::Acks => {
                self.acks.remove(key);
            }
            Collection::Members => {
                self.members.remove(key);
            }
            Collection::Accounts => {
                if let Ok(id) = Id::parse(key) {
                    self.accounts.remove(&id);
                }
            }
            Collection::Site => {}
        }
    }

    /// An entity's fields as the document holds them: those of a usable entity as it writes
    /// them, those of an unusable one as stored.
    pub fn stored_fields(&self, collection: Collection, key: &str) -> Option<Fields> {
        fn of<E: Entity>(entity: Option<&E>) -> Option<Fields> {
            Some(entity?.to_fields().into_iter().collect())
        }
        if let Some(raw) = self.unreadable.get(&(collection, key.to_owned())) {
            return Some(raw.clone());
        }
        let id = || Id::parse(key).ok();
        match collection {
            Collection::Departments => of(id().and_then(|i| self.departments.get(&i))),
            Collection::Staff => of(id().and_then(|i| self.staff.get(&i))),
            Collection::Shifts => of(id().and_then(|i| self.shifts.get(&i))),
            Collection::Assignments => of(AssignmentKey::parse(key)
                .ok()
                .and_then(|k| self.assignments.get(&k))),
            Collection::Availability => of(id().and_then(|i| self.availability.get(&i))),
            Collection::Acks => of(self.acks.get(key)),
            Collection::Members => of(self.members.get(key)),
            Collection::Accounts => of(id().and_then(|i| self.accounts.get(&i))),
            Collection::Site => None,
        }
    }

    /// Whether a field of an entity is damaged (the checks that read it skip it).
    pub fn is_damaged(&self, collection: Collection, key: &str, field: &str) -> bool {
        // Most schedules have no damage: skip building the owned key the map is looked up by.
        !self.damaged.is_empty()
            && self
                .damaged
                .get(&(collection, key.to_owned()))
                .is_some_and(|d| d.iter().any(|d| d.field == field))
    }

    /// Whether an entity exists but cannot be used (a field it cannot do without is damaged).
    pub fn is_unreadable(&self, collection: Collection, key: &str) -> bool {
        self.unreadable.contains_key(&(collection, key.to_owned()))
    }

    /// The key of every entity the index knows of (live, removed or unreadable).
    pub fn all_keys(&self) -> Dirty {
        let mut keys = Dirty::new();
        keys.extend(
            self.departments
                .keys()
                .map(|k| (Collection::Departments, k.to_string())),
        );
        keys.extend(
            self.staff
                .keys()
                .map(|k| (Collection::Staff, k.to_string())),
        );
        keys.extend(
            self.shifts
                .keys()
                .map(|k| (Collection::Shifts, k.to_string())),
        );
        keys.extend(
            self.assignments
                .keys()
                .map(|k| (Collection::Assignments, k.to_string())),
        );
        keys.extend(
            self.availability
                .keys()
                .map(|k| (Collection::Availability, k.to_string())),
        );
        keys.extend(self.acks.keys().map(|k| (Collection::Acks, k.clone())));
        keys.extend(
            self.members
                .keys()
                .map(|k| (Collection::Members, k.clone())),
        );
        keys.extend(
            self.accounts
                .keys()
                .map(|k| (Collection::Accounts, k.to_string())),
        );
        keys.extend(self.removed.iter().cloned());
        keys.extend(self.damaged.keys().cloned());
        keys.insert((Collection::Site, String::new()));
        keys
    }

    pub fn is_removed(&self, collection: Collection, key: &str) -> bool {
        self.removed.contains(&(collection, key.to_owned()))
    }

    /// The shifts that start on the days `from..=to`, in date order (none when `to` comes
    /// before `from`).
    pub fn shifts_between(&self, from: Date, to: Date) -> impl Iterator<Item = &Shift> + '_ {
        // BTreeMap::range panics on a reversed range; a reversed range holds no day.
        let reversed = to < from;
        self.shifts_by_day
            .range(from..=to.max(from))
            .filter(move |_| !reversed)
            .flat_map(|(_, ids)| ids.iter())
            .filter_map(|id| self.shifts.get(id))
    }

    /// The assignments of one shift, ordered by staff id.
    pub fn assignments_of_shift(&self, shift: &Id) -> impl Iterator<Item = &Assignment> + '_ {
        let shift = shift.clone();
        let start = AssignmentKey::new(shift.clone(), Id(std::sync::Arc::from("")));
        self.assignments
            .range(start..)
            .take_while(move |(k, _)| k.shift == shift)
            .map(|(_, a)| a)
    }

    /// The assignments of one staff member, ordered by shift id.
    pub fn assignments_of_staff(&self, staff: &Id) -> impl Iterator<Item = &Assignment> + '_ {
        let staff = staff.clone();
        self.shifts_by_staff
            .get(&staff)
            .into_iter()
            .flat_map(|shifts| shifts.iter())
            .filter_map(move |shift| {
                self.assignments
                    .get(&AssignmentKey::new(shift.clone(), staff.clone()))
            })
    }

    /// The assignments of one staff member to live shifts dated `from..=to`, by date.
    pub fn assignments_of_staff_between(
        &self,
        staff: &Id,
        from: Date,
        to: Date,
    ) -> impl Iterator<Item = &Assignment> + '_ {
        let staff = staff.clone();
        self.staff_days
            .range((staff.clone(), from)..=(staff.clone(), to))
            .flat_map(|(_, shifts)| shifts.iter())
            .filter_map(move |shift| {
                self.assignments
                    .get(&AssignmentKey::new(shift.clone(), staff.clone()))
            })
    }

    /// The dates on which a staff member holds live shifts.
    pub fn days_of_staff(&self, staff: &Id) -> impl Iterator<Item = Date> + '_ {
        let staff = staff.clone();
        self.staff_days
            .range((staff.clone(), Date::MIN)..)
            .take_while(move |((person, _), _)| *person == staff)
            .map(|((_, day), _)| *day)
    }

    /// The availability entries of one staff member.
    pub fn availability_of_staff(&self, staff: &Id) -> impl Iterator<Item = &Availability> + '_ {
        self.availability_by_staff
            .get(staff)
            .into_iter()
            .flat_map(|ids| ids.iter())
            .filter_map(|id| self.availability.get(id))
    }

    /// The first and last day on which any shift starts.
    pub fn shift_date_range(&self) -> Option<(Date, Date)> {
        let first = self.shifts_by_day.keys().next()?;
        let last = self.shifts_by_day.keys().next_back()?;
        Some((*first, *last))
    }
}

/// The head of an index written to disk. It is followed, for each collection, by a
/// [`CollectionHead`] and then that many [`Row`]s, each encoded on its own, so that writing and
/// reading stream row by row and never hold a second copy of every entity.
#[derive(serde::Serialize, serde::Deserialize)]
struct SnapshotHead {
    version: u32,
    site: Site,
    collections: u32,
}

/// A collection's field names, once, and how many rows follow.
#[derive(serde::Serialize, serde::Deserialize)]
struct CollectionHead {
    collection: String,
    fields: Vec<String>,
    rows: u64,
    removed: Vec<String>,
}

/// One entity: its key, its values in the order of the collection's fields, and whether some
/// field holds concurrent values.
#[derive(serde::Serialize, serde::Deserialize)]
struct Row {
    key: String,
    values: Vec<crate::FieldValue>,
    conflicted: bool,
}

/// The version of the snapshot layout; a snapshot of another version is ignored and rebuilt.
const INDEX_SNAPSHOT_VERSION: u32 = 4;

fn encode_collection<'a, E: Entity + 'a>(
    index: &Index,
    entities: impl ExactSizeIterator<Item = &'a E>,
    out: &mut Vec<u8>,
) -> Option<()> {
    let removed = index
        .removed
        .iter()
        .filter(|(c, _)| *c == E::COLLECTION)
        .map(|(_, k)| k.clone())
        .collect();
    let mut rows = entities.len() as u64;
    let mut head = CollectionHead {
        collection: E::COLLECTION.key().to_owned(),
        fields: Vec::new(),
        rows,
        removed,
    };
    let mut body = Vec::new();
    for entity in entities {
        let pairs = entity.to_fields();
        if head.fields.is_empty() {
            head.fields = pairs.iter().map(|(name, _)| (*name).to_owned()).collect();
        }
        let key = entity.key();
        let row = Row {
            conflicted: index.conflicted.contains(&(E::COLLECTION, key.clone())),
            key,
            values: pairs.into_iter().map(|(_, v)| v).collect(),
        };
        body = postcard::to_extend(&row, body).ok()?;
        rows -= 1;
    }
    debug_assert_eq!(rows, 0);
    let mut encoded = postcard::to_extend(&head, std::mem::take(out)).ok()?;
    encoded.extend_from_slice(&body);
    *out = encoded;
    Some(())
}

impl Index {
    /// Encodes the index so it can be read back without the document. Returns None when some
    /// entity is unreadable (such an index is rebuilt from the document instead).
    pub fn to_snapshot(&self) -> Option<Vec<u8>> {
        // What only the document can tell (who wrote a damaged value, a rival's contents, the
        // site's concurrent settings) is not kept in a snapshot: such an index is rebuilt.
        if !self.damaged.is_empty()
            || !self.rivals.is_empty()
            || self.conflicted.contains(&(Collection::Site, String::new()))
        {
            return None;
        }
        let head = SnapshotHead {
            version: INDEX_SNAPSHOT_VERSION,
            site: self.site.clone(),
            collections: Collection::ALL.len() as u32,
        };
        let mut out = postcard::to_stdvec(&head).ok()?;
        encode_collection(self, self.departments.values(), &mut out)?;
        encode_collection(self, self.staff.values(), &mut out)?;
        encode_collection(self, self.shifts.values(), &mut out)?;
        encode_collection(self, self.assignments.values(), &mut out)?;
        encode_collection(self, self.availability.values(), &mut out)?;
        encode_collection(self, self.acks.values(), &mut out)?;
        encode_collection(self, self.members.values(), &mut out)?;
        encode_collection(self, self.accounts.values(), &mut out)?;
        Some(out)
    }

    /// Reads back what [`Index::to_snapshot`] wrote, row by row; None if it is not such a
    /// snapshot.
    pub fn from_snapshot(bytes: &[u8]) -> Option<Index> {
        let (site, builder) = read_snapshot(bytes, |_| true)?;
        Some(builder.build(site))
    }

    /// The members alone from a snapshot (as [`Index::from_snapshot`] would give them), for a
    /// reader that needs no more: the other collections' rows are read past, not built.
    pub fn members_from_snapshot(bytes: &[u8]) -> Option<BTreeMap<String, Member>> {
        let (site, builder) = read_snapshot(bytes, |c| c == Collection::Members)?;
        Some(builder.build(site).members)
    }
}

/// The rows of a snapshot of the collections `wanted` admits, and its site; None if it is not
/// such a snapshot.
fn read_snapshot(
    bytes: &[u8],
    wanted: impl Fn(Collection) -> bool,
) -> Option<(Site, IndexBuilder)> {
    let (head, mut rest): (SnapshotHead, _) = postcard::take_from_bytes(bytes).ok()?;
    if head.version != INDEX_SNAPSHOT_VERSION {
        return None;
    }
    let mut builder = IndexBuilder::default();
    for _ in 0..head.collections {
        let (part, after): (CollectionHead, _) = postcard::take_from_bytes(rest).ok()?;
        rest = after;
        let collection = Collection::from_key(&part.collection)?;
        let keep = wanted(collection);
        let names: Vec<std::sync::Arc<str>> = part
            .fields
            .iter()
            .map(|n| std::sync::Arc::from(n.as_str()))
            .collect();
        for _ in 0..part.rows {
            let (row, after): (Row, _) = postcard::take_from_bytes(rest).ok()?;
            rest = after;
            if keep {
                let fields: Fields = names.iter().cloned().zip(row.values).collect();
                builder.add(
                    collection,
                    &row.key,
                    Stored::Present(fields, row.conflicted),
                );
            }
        }
        if keep {
            for key in part.removed {
                builder.add(collection, &key, Stored::Removed);
            }
        }
    }
    rest.is_empty().then_some((head.site, builder))
}

fn remove_from<K: Ord, V: Ord>(map: &mut BTreeMap<K, BTreeSet<V>>, key: &K, value: &V) {
    if let Some(set) = map.get_mut(key) {
        set.remove(value);
        if set.is_empty() {
            map.remove(key);
        }
    }
}
