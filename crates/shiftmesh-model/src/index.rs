//! The read index: every live entity, typed, plus the lookups reads and validation need (by day,
//! by staff, by shift). It lives outside Automerge and is refreshed entity by entity from the
//! set of entities a change touched, so reads never walk the document.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::civil::Date;

use crate::entity::{
    Acknowledgement, Assignment, Availability, Collection, Department, Entity, Fields, Member,
    Shift, Staff,
};
use crate::{AssignmentKey, Id};

/// Site-wide settings kept in the document so that every node uses the same.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Site {
    pub name: Option<String>,
    pub time_zone: Option<String>,
}

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
    /// Entities marked removed (they stay in the document so references to them can be seen).
    pub removed: BTreeSet<(Collection, String)>,
    /// Entities with at least one field holding concurrent values (see `concurrent-edit`).
    pub conflicted: BTreeSet<(Collection, String)>,
    /// Entities the document holds in a form this version cannot read, with the reason.
    pub unreadable: BTreeMap<(Collection, String), String>,
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
}

impl Parsed {
    fn of(collection: Collection, key: &str, fields: Fields) -> Result<Parsed, crate::InputError> {
        Ok(match collection {
            Collection::Departments => Parsed::Department(Department::from_fields(key, fields)?),
            Collection::Staff => Parsed::Staff(Staff::from_fields(key, fields)?),
            Collection::Shifts => Parsed::Shift(Shift::from_fields(key, fields)?),
            Collection::Assignments => Parsed::Assignment(Assignment::from_fields(key, fields)?),
            Collection::Availability => {
                Parsed::Availability(Availability::from_fields(key, fields)?)
            }
            Collection::Acks => Parsed::Ack(Acknowledgement::from_fields(key, fields)?),
            Collection::Members => Parsed::Member(Member::from_fields(key, fields)?),
        })
    }
}

/// Where the entries read from the document go: the index kept in step (one entity at a time)
/// and a whole index being built take them the same way, through [`route`].
trait Sink {
    fn removed(&mut self, collection: Collection, key: &str);
    fn conflicted(&mut self, collection: Collection, key: &str);
    fn entity(&mut self, entity: Parsed);
    fn unreadable(&mut self, collection: Collection, key: &str, reason: String);
}

/// What one stored entry means: nothing, a removed entity, or an entity (perhaps holding
/// concurrent values) that parses or is unreadable.
fn route(sink: &mut impl Sink, collection: Collection, key: &str, stored: Stored) {
    match stored {
        Stored::Absent => {}
        Stored::Removed => sink.removed(collection, key),
        Stored::Present(fields, conflicted) => {
            if conflicted {
                sink.conflicted(collection, key);
            }
            match Parsed::of(collection, key, fields) {
                Ok(entity) => sink.entity(entity),
                Err(e) => sink.unreadable(collection, key, e.message),
            }
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
        }
    }
    fn unreadable(&mut self, collection: Collection, key: &str, reason: String) {
        self.unreadable.insert((collection, key.to_owned()), reason);
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
        }
    }
    fn unreadable(&mut self, collection: Collection, key: &str, reason: String) {
        self.unreadable.push(((collection, key.to_owned()), reason));
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
    removed: Vec<(Collection, String)>,
    conflicted: Vec<(Collection, String)>,
    unreadable: Vec<((Collection, String), String)>,
}

impl IndexBuilder {
    pub fn add(&mut self, collection: Collection, key: &str, stored: Stored) {
        route(self, collection, key, stored);
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
            removed: self.removed.into_iter().collect(),
            conflicted: self.conflicted.into_iter().collect(),
            unreadable: self.unreadable.into_iter().collect(),
            shifts_by_day: sets(by_day),
            shifts_by_staff: sets(by_staff),
            staff_days: sets(staff_days),
            availability_by_staff: sets(availability_by_staff),
        }
    }
}

/// What the document holds for one key of a collection.
pub enum Stored {
    Absent,
    Removed,
    /// The winning value of each field, and whether any field holds concurrent values.
    Present(Fields, bool),
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
        }
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
        keys.extend(self.removed.iter().cloned());
        keys.extend(self.unreadable.keys().cloned());
        keys
    }

    pub fn is_removed(&self, collection: Collection, key: &str) -> bool {
        self.removed.contains(&(collection, key.to_owned()))
    }

    /// The shifts that start on the days `from..=to`, in date order.
    pub fn shifts_between(&self, from: Date, to: Date) -> impl Iterator<Item = &Shift> + '_ {
        self.shifts_by_day
            .range(from..=to)
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
const INDEX_SNAPSHOT_VERSION: u32 = 3;

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
        if !self.unreadable.is_empty() {
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
        Some(out)
    }

    /// Reads back what [`Index::to_snapshot`] wrote, row by row; None if it is not such a
    /// snapshot.
    pub fn from_snapshot(bytes: &[u8]) -> Option<Index> {
        let (head, mut rest): (SnapshotHead, _) = postcard::take_from_bytes(bytes).ok()?;
        if head.version != INDEX_SNAPSHOT_VERSION {
            return None;
        }
        let mut builder = IndexBuilder::default();
        for _ in 0..head.collections {
            let (part, after): (CollectionHead, _) = postcard::take_from_bytes(rest).ok()?;
            rest = after;
            let collection = Collection::from_key(&part.collection)?;
            let names: Vec<std::sync::Arc<str>> = part
                .fields
                .iter()
                .map(|n| std::sync::Arc::from(n.as_str()))
                .collect();
            for _ in 0..part.rows {
                let (row, after): (Row, _) = postcard::take_from_bytes(rest).ok()?;
                rest = after;
                let fields: Fields = names.iter().cloned().zip(row.values).collect();
                builder.add(
                    collection,
                    &row.key,
                    Stored::Present(fields, row.conflicted),
                );
            }
            for key in part.removed {
                builder.add(collection, &key, Stored::Removed);
            }
        }
        rest.is_empty().then(|| builder.build(head.site))
    }
}

fn remove_from<K: Ord, V: Ord>(map: &mut BTreeMap<K, BTreeSet<V>>, key: &K, value: &V) {
    if let Some(set) = map.get_mut(key) {
        set.remove(value);
        if set.is_empty() {
            map.remove(key);
        }
    }
}
