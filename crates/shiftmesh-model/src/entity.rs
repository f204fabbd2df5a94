//! The schedule's entities and how each is laid out as a map of fields in the document.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use jiff::civil::Date;
use serde::{Deserialize, Serialize, Serializer};

use crate::time::{format_time, parse_date, LocalSpan, ShiftTime};
use crate::{AssignmentKey, Id, InputError};

/// The longest free text accepted (names, labels, notes, reasons), in bytes.
pub const TEXT_MAX_BYTES: usize = 1024;
/// The most skills one staff member or shift may carry.
pub const SKILLS_MAX_COUNT: usize = 64;
/// The largest capacity of one shift.
pub const CAPACITY_MAX: u32 = 1000;
/// The most hours a week one staff member may be contracted for.
pub const MAX_HOURS_WEEK_LIMIT: u32 = 168;

/// The top-level maps of the document, one per entity kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Collection {
    Departments,
    Staff,
    Shifts,
    Assignments,
    Availability,
    Acks,
    Members,
}

impl Collection {
    pub const ALL: [Collection; 7] = [
        Collection::Departments,
        Collection::Staff,
        Collection::Shifts,
        Collection::Assignments,
        Collection::Availability,
        Collection::Acks,
        Collection::Members,
    ];

    /// The key of this collection's map under the document root.
    pub fn key(self) -> &'static str {
        match self {
            Collection::Departments => "departments",
            Collection::Staff => "staff",
            Collection::Shifts => "shifts",
            Collection::Assignments => "assignments",
            Collection::Availability => "availability",
            Collection::Acks => "acks",
            Collection::Members => "members",
        }
    }

    pub fn from_key(key: &str) -> Option<Collection> {
        Collection::ALL.into_iter().find(|c| c.key() == key)
    }

    /// The singular noun used in messages.
    pub fn noun(self) -> &'static str {
        match self {
            Collection::Departments => "department",
            Collection::Staff => "staff member",
            Collection::Shifts => "shift",
            Collection::Assignments => "assignment",
            Collection::Availability => "availability",
            Collection::Acks => "acknowledgement",
            Collection::Members => "member",
        }
    }

    /// Whether removal marks the entity `removed` instead of deleting its key, so that an
    /// assignment made concurrently elsewhere still finds what it points at (and it can be
    /// restored).
    pub fn removes_softly(self) -> bool {
        matches!(
            self,
            Collection::Departments | Collection::Staff | Collection::Shifts
        )
    }
}

impl fmt::Display for Collection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// One field's value as the document holds it. Every field is one scalar register, so a
/// concurrent write to it is kept as a conflict that `concurrent-edit` shows (sets of skills
/// included: they are written as one sorted, `;`-separated value).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum FieldValue {
    Str(String),
    Int(i64),
    Bool(bool),
}

impl FieldValue {
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            FieldValue::Str(s) => serde_json::Value::from(s.as_str()),
            FieldValue::Int(i) => serde_json::Value::from(*i),
            FieldValue::Bool(b) => serde_json::Value::from(*b),
        }
    }

    /// Whether the field is left out of the document (empty text reads back as empty).
    pub fn is_empty_text(&self) -> bool {
        matches!(self, FieldValue::Str(s) if s.is_empty())
    }
}

fn set_field(set: &BTreeSet<String>) -> FieldValue {
    FieldValue::Str(set.iter().cloned().collect::<Vec<_>>().join(";"))
}

/// The field that marks a softly removed entity.
pub const REMOVED_FIELD: &str = "removed";

/// An entity's fields as read from the document (the winning value of each). Entities have a
/// handful of fields, so a vector searched in order beats a map.
/// Field names are shared (`Arc<str>`): an index snapshot names each field once per collection.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fields(Vec<(Arc<str>, FieldValue)>);

impl Fields {
    pub fn new() -> Fields {
        Fields(Vec::new())
    }

    pub fn get(&self, name: &str) -> Option<&FieldValue> {
        self.0.iter().find(|(n, _)| &**n == name).map(|(_, v)| v)
    }

    /// Moves a field's value out.
    pub fn take(&mut self, name: &str) -> Option<FieldValue> {
        let at = self.0.iter().position(|(n, _)| &**n == name)?;
        Some(self.0.swap_remove(at).1)
    }

    /// Sets a field, replacing an earlier value of the same name.
    pub fn insert(&mut self, name: impl Into<Arc<str>>, value: FieldValue) {
        let name = name.into();
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &FieldValue)> {
        self.0.iter().map(|(n, v)| (&**n, v))
    }
}

impl<N: Into<Arc<str>>> FromIterator<(N, FieldValue)> for Fields {
    fn from_iter<I: IntoIterator<Item = (N, FieldValue)>>(iter: I) -> Self {
        let mut fields = Fields::new();
        for (name, value) in iter {
            fields.insert(name, value);
        }
        fields
    }
}

/// A kind of entity stored in one [`Collection`], keyed by a string.
pub trait Entity: Sized + Clone + PartialEq {
    const COLLECTION: Collection;
    fn key(&self) -> String;
    fn to_fields(&self) -> Vec<(&'static str, FieldValue)>;
    /// Builds the entity from its fields, taking their values.
    fn from_fields(key: &str, fields: Fields) -> Result<Self, InputError>;
}

fn get_str<'a>(fields: &'a Fields, name: &str) -> Result<&'a str, InputError> {
    match fields.get(name) {
        Some(FieldValue::Str(s)) => Ok(s),
        Some(other) => Err(InputError::new(format!(
            "field {name} holds {other:?}, not text"
        ))),
        None => Err(InputError::new(format!("field {name} is missing"))),
    }
}

fn str_or_empty<'a>(fields: &'a Fields, name: &str) -> &'a str {
    match fields.get(name) {
        Some(FieldValue::Str(s)) => s,
        _ => "",
    }
}

fn take_str(fields: &mut Fields, name: &str) -> Result<String, InputError> {
    match fields.take(name) {
        Some(FieldValue::Str(s)) => Ok(s),
        Some(other) => Err(InputError::new(format!(
            "field {name} holds {other:?}, not text"
        ))),
        None => Err(InputError::new(format!("field {name} is missing"))),
    }
}

fn take_str_or_empty(fields: &mut Fields, name: &str) -> String {
    match fields.take(name) {
        Some(FieldValue::Str(s)) => s,
        _ => String::new(),
    }
}

fn get_int(fields: &Fields, name: &str) -> Result<i64, InputError> {
    match fields.get(name) {
        Some(FieldValue::Int(i)) => Ok(*i),
        Some(other) => Err(InputError::new(format!(
            "field {name} holds {other:?}, not a number"
        ))),
        None => Err(InputError::new(format!("field {name} is missing"))),
    }
}

fn get_set(fields: &Fields, name: &str) -> BTreeSet<String> {
    str_or_empty(fields, name)
        .split(';')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn get_optional_id(fields: &Fields, name: &str) -> Result<Option<Id>, InputError> {
    match fields.get(name) {
        Some(FieldValue::Str(s)) if !s.is_empty() => Ok(Some(Id::parse(s)?)),
        _ => Ok(None),
    }
}

fn get_u32(fields: &Fields, name: &str) -> Result<u32, InputError> {
    u32::try_from(get_int(fields, name)?)
        .map_err(|_| InputError::new(format!("field {name} is out of range")))
}

fn optional_id_field(id: &Option<Id>) -> FieldValue {
    FieldValue::Str(id.as_ref().map(|i| i.to_string()).unwrap_or_default())
}

/// Checks free text: at most [`TEXT_MAX_BYTES`] and no control characters other than none.
pub fn check_text(what: &str, text: &str) -> Result<(), InputError> {
    if text.len() > TEXT_MAX_BYTES {
        return Err(InputError::new(format!(
            "{what} is {} bytes long; the limit is {TEXT_MAX_BYTES}",
            text.len()
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(InputError::new(format!(
            "{what} contains a control character"
        )));
    }
    Ok(())
}

/// Checks a name: non-empty text.
pub fn check_name(what: &str, text: &str) -> Result<(), InputError> {
    if text.trim().is_empty() {
        return Err(InputError::new(format!("{what} must not be empty")));
    }
    check_text(what, text)
}

/// Checks a set of skills: each a valid id, at most [`SKILLS_MAX_COUNT`].
pub fn check_skills(skills: &BTreeSet<String>) -> Result<(), InputError> {
    if skills.len() > SKILLS_MAX_COUNT {
        return Err(InputError::new(format!(
            "{} skills given; the limit is {SKILLS_MAX_COUNT}",
            skills.len()
        )));
    }
    for skill in skills {
        Id::parse(skill).map_err(|e| InputError::new(format!("skill: {e}")))?;
    }
    Ok(())
}

fn serialize_time<S: Serializer>(time: &jiff::civil::Time, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(*time))
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Department {
    pub id: Id,
    pub name: String,
    /// Empty when the department uses the site's zone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

impl Entity for Department {
    const COLLECTION: Collection = Collection::Departments;
    fn key(&self) -> String {
        self.id.to_string()
    }
    fn to_fields(&self) -> Vec<(&'static str, FieldValue)> {
        vec![
            ("name", FieldValue::Str(self.name.clone())),
            (
                "time_zone",
                FieldValue::Str(self.time_zone.clone().unwrap_or_default()),
            ),
        ]
    }
    fn from_fields(key: &str, mut fields: Fields) -> Result<Self, InputError> {
        let time_zone = take_str_or_empty(&mut fields, "time_zone");
        Ok(Department {
            id: Id::parse(key)?,
            name: take_str(&mut fields, "name")?,
            time_zone: (!time_zone.is_empty()).then_some(time_zone),
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Staff {
    pub id: Id,
    pub name: String,
    pub department: Option<Id>,
    pub skills: BTreeSet<String>,
    /// Contracted maximum, in minutes a week (None: no limit).
    pub max_minutes_week: Option<u32>,
    pub employment_start: Option<Date>,
    pub employment_end: Option<Date>,
    pub active: bool,
}

impl Staff {
    /// An active staff member with only an id and a name; the rest is set by the caller.
    pub fn new(id: Id, name: String) -> Staff {
        Staff {
            id,
            name,
            department: None,
            skills: BTreeSet::new(),
            max_minutes_week: None,
            employment_start: None,
            employment_end: None,
            active: true,
        }
    }

    pub fn check(&self) -> Result<(), InputError> {
        check_name("name", &self.name)?;
        check_skills(&self.skills)?;
        if let (Some(start), Some(end)) = (self.employment_start, self.employment_end) {
            if end < start {
                return Err(InputError::new(format!(
                    "employment end {end} is before its start {start}"
                )));
            }
        }
        if let Some(minutes) = self.max_minutes_week {
            if minutes > MAX_HOURS_WEEK_LIMIT * 60 {
                return Err(InputError::new(format!(
                    "max hours a week must be at most {MAX_HOURS_WEEK_LIMIT}"
                )));
            }
        }
        Ok(())
    }
}

fn date_field(date: &Option<Date>) -> FieldValue {
    FieldValue::Str(date.map(|d| d.to_string()).unwrap_or_default())
}

fn get_optional_date(fields: &Fields, name: &str) -> Result<Option<Date>, InputError> {
    match fields.get(name) {
        Some(FieldValue::Str(s)) if !s.is_empty() => Ok(Some(parse_date(s)?)),
        _ => Ok(None),
    }
}

impl Entity for Staff {
    const COLLECTION: Collection = Collection::Staff;
    fn key(&self) -> String {
        self.id.to_string()
    }
    fn to_fields(&self) -> Vec<(&'static str, FieldValue)> {
        vec![
            ("name", FieldValue::Str(self.name.clone())),
            ("department", optional_id_field(&self.department)),
            ("skills", set_field(&self.skills)),
            (
                "max_minutes_week",
                FieldValue::Int(self.max_minutes_week.map_or(-1, i64::from)),
            ),
            ("employment_start", date_field(&self.employment_start)),
            ("employment_end", date_field(&self.employment_end)),
            ("active", FieldValue::Bool(self.active)),
        ]
    }
    fn from_fields(key: &str, mut fields: Fields) -> Result<Self, InputError> {
        let max = get_int(&fields, "max_minutes_week").unwrap_or(-1);
        Ok(Staff {
            id: Id::parse(key)?,
            name: take_str(&mut fields, "name")?,
            department: get_optional_id(&fields, "department")?,
            skills: get_set(&fields, "skills"),
            max_minutes_week: u32::try_from(max).ok(),
            employment_start: get_optional_date(&fields, "employment_start")?,
            employment_end: get_optional_date(&fields, "employment_end")?,
            active: !matches!(fields.get("active"), Some(FieldValue::Bool(false))),
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Shift {
    pub id: Id,
    pub department: Option<Id>,
    pub date: Date,
    #[serde(serialize_with = "serialize_time")]
    pub start: jiff::civil::Time,
    #[serde(serialize_with = "serialize_time")]
    pub end: jiff::civil::Time,
    pub capacity: u32,
    pub min_staff: u32,
    pub skills: BTreeSet<String>,
    pub label: String,
}

impl Shift {
    pub fn time(&self) -> ShiftTime {
        ShiftTime {
            date: self.date,
            start: self.start,
            end: self.end,
        }
    }

    pub fn check(&self) -> Result<(), InputError> {
        if self.capacity == 0 || self.capacity > CAPACITY_MAX {
            return Err(InputError::new(format!(
                "capacity must be between 1 and {CAPACITY_MAX}, not {}",
                self.capacity
            )));
        }
        if self.min_staff > self.capacity {
            return Err(InputError::new(format!(
                "minimum staff ({}) must not exceed capacity ({})",
                self.min_staff, self.capacity
            )));
        }
        check_skills(&self.skills)?;
        check_text("label", &self.label)
    }
}

impl Entity for Shift {
    const COLLECTION: Collection = Collection::Shifts;
    fn key(&self) -> String {
        self.id.to_string()
    }
    fn to_fields(&self) -> Vec<(&'static str, FieldValue)> {
        vec![
            ("department", optional_id_field(&self.department)),
            ("time", FieldValue::Str(self.time().encode())),
            ("capacity", FieldValue::Int(i64::from(self.capacity))),
            ("min_staff", FieldValue::Int(i64::from(self.min_staff))),
            ("skills", set_field(&self.skills)),
            ("label", FieldValue::Str(self.label.clone())),
        ]
    }
    fn from_fields(key: &str, mut fields: Fields) -> Result<Self, InputError> {
        let time = ShiftTime::decode(get_str(&fields, "time")?)?;
        Ok(Shift {
            id: Id::parse(key)?,
            department: get_optional_id(&fields, "department")?,
            date: time.date,
            start: time.start,
            end: time.end,
            capacity: get_u32(&fields, "capacity")?,
            min_staff: get_u32(&fields, "min_staff")?,
            skills: get_set(&fields, "skills"),
            label: take_str_or_empty(&mut fields, "label"),
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Assignment {
    pub shift: Id,
    pub staff: Id,
    pub role: String,
    pub note: String,
    /// When it was created, in milliseconds since the Unix epoch (orders "first" and "last").
    pub created_at_ms: i64,
    /// Who created it, as `user@node`.
    pub created_by: String,
    /// The part of the shift this person works, when `split-time` narrowed it; None for the
    /// whole shift.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<LocalSpan>,
}

impl Assignment {
    pub fn key(&self) -> AssignmentKey {
        AssignmentKey::new(self.shift.clone(), self.staff.clone())
    }
}

impl Entity for Assignment {
    const COLLECTION: Collection = Collection::Assignments;
    fn key(&self) -> String {
        Assignment::key(self).to_string()
    }
    fn to_fields(&self) -> Vec<(&'static str, FieldValue)> {
        vec![
            ("role", FieldValue::Str(self.role.clone())),
            ("note", FieldValue::Str(self.note.clone())),
            ("created_at", FieldValue::Int(self.created_at_ms)),
            ("created_by", FieldValue::Str(self.created_by.clone())),
            (
                "window",
                FieldValue::Str(self.window.map(|w| w.encode()).unwrap_or_default()),
            ),
        ]
    }
    fn from_fields(key: &str, mut fields: Fields) -> Result<Self, InputError> {
        let parsed = AssignmentKey::parse(key)?;
        let window = match take_str_or_empty(&mut fields, "window") {
            w if w.is_empty() => None,
            w => Some(LocalSpan::decode(&w)?),
        };
        Ok(Assignment {
            shift: parsed.shift,
            staff: parsed.staff,
            role: take_str_or_empty(&mut fields, "role"),
            note: take_str_or_empty(&mut fields, "note"),
            created_at_ms: get_int(&fields, "created_at").unwrap_or(0),
            created_by: take_str_or_empty(&mut fields, "created_by"),
            window,
        })
    }
}

/// What an availability entry says about a person.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AvailabilityKind {
    Unavailable,
    Leave,
    Undesired,
    Desired,
}

impl AvailabilityKind {
    pub const ALL: [AvailabilityKind; 4] = [
        AvailabilityKind::Unavailable,
        AvailabilityKind::Leave,
        AvailabilityKind::Undesired,
        AvailabilityKind::Desired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AvailabilityKind::Unavailable => "unavailable",
            AvailabilityKind::Leave => "leave",
            AvailabilityKind::Undesired => "undesired",
            AvailabilityKind::Desired => "desired",
        }
    }

    pub fn parse(text: &str) -> Result<Self, InputError> {
        AvailabilityKind::ALL
            .into_iter()
            .find(|k| k.as_str() == text)
            .ok_or_else(|| {
                InputError::new(format!(
                    "'{text}' is not an availability kind (unavailable, leave, undesired, desired)"
                ))
            })
    }

    /// Whether the person cannot work in this span (as opposed to a preference).
    pub fn blocks_work(self) -> bool {
        matches!(
            self,
            AvailabilityKind::Unavailable | AvailabilityKind::Leave
        )
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Availability {
    pub id: Id,
    pub staff: Id,
    #[serde(flatten)]
    pub span: LocalSpan,
    pub kind: AvailabilityKind,
    pub reason: String,
}

impl Availability {
    /// The id of an availability entry is derived from what it says, so the same entry added
    /// on two nodes (or imported twice) is one entry.
    pub fn derive_id(staff: &Id, span: &LocalSpan, kind: AvailabilityKind) -> Id {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!("{staff}\n{}\n{}", span.encode(), kind.as_str()));
        let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        Id(Arc::from(format!("av-{hex}")))
    }
}

impl Entity for Availability {
    const COLLECTION: Collection = Collection::Availability;
    fn key(&self) -> String {
        self.id.to_string()
    }
    fn to_fields(&self) -> Vec<(&'static str, FieldValue)> {
        vec![
            ("staff", FieldValue::Str(self.staff.to_string())),
            ("span", FieldValue::Str(self.span.encode())),
            ("kind", FieldValue::Str(self.kind.as_str().to_owned())),
            ("reason", FieldValue::Str(self.reason.clone())),
        ]
    }
    fn from_fields(key: &str, mut fields: Fields) -> Result<Self, InputError> {
        Ok(Availability {
            id: Id::parse(key)?,
            staff: Id::parse(get_str(&fields, "staff")?)?,
            span: LocalSpan::decode(get_str(&fields, "span")?)?,
            kind: AvailabilityKind::parse(get_str(&fields, "kind")?)?,
            reason: take_str_or_empty(&mut fields, "reason"),
        })
    }
}

/// An acknowledgement of a warning. It covers the data whose fingerprint it records and lapses
/// when that data changes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Acknowledgement {
    pub conflict: String,
    pub fingerprint: String,
    pub by: String,
    pub at_ms: i64,
    pub note: String,
}

impl Entity for Acknowledgement {
    const COLLECTION: Collection = Collection::Acks;
    fn key(&self) -> String {
        self.conflict.clone()
    }
    fn to_fields(&self) -> Vec<(&'static str, FieldValue)> {
        vec![
            ("fingerprint", FieldValue::Str(self.fingerprint.clone())),
            ("by", FieldValue::Str(self.by.clone())),
            ("at", FieldValue::Int(self.at_ms)),
            ("note", FieldValue::Str(self.note.clone())),
        ]
    }
    fn from_fields(key: &str, mut fields: Fields) -> Result<Self, InputError> {
        Ok(Acknowledgement {
            conflict: key.to_owned(),
            fingerprint: take_str(&mut fields, "fingerprint")?,
            by: take_str_or_empty(&mut fields, "by"),
            at_ms: get_int(&fields, "at").unwrap_or(0),
            note: take_str_or_empty(&mut fields, "note"),
        })
    }
}

/// The longest peer id accepted as a member's key (libp2p's base58 ids are about 52 bytes).
pub const PEER_ID_MAX_BYTES: usize = 128;

/// A machine trusted with the schedule, by its libp2p peer id. Membership lives in the
/// document so every node enforces the same list and `history` shows who changed it; a member
/// is never deleted, only marked revoked, so a revocation cannot be undone by a concurrent
/// edit that did not see it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Member {
    pub peer: String,
    pub name: String,
    /// Who added it, as `user@node`.
    pub added_by: String,
    pub added_at_ms: i64,
    pub revoked: bool,
    /// Who revoked it, as `user@node` (empty unless revoked).
    pub revoked_by: String,
    pub revoked_at_ms: i64,
}

impl Member {
    /// Checks the peer id's shape (the node checks it is a real peer id) and the name.
    pub fn check(&self) -> Result<(), InputError> {
        check_peer_key(&self.peer)?;
        check_text("a member's name", &self.name)
    }

    /// Whether this member may receive the schedule.
    pub fn is_trusted(&self) -> bool {
        !self.revoked
    }
}

/// A peer id as a key: base58 characters only, at most [`PEER_ID_MAX_BYTES`].
pub fn check_peer_key(peer: &str) -> Result<(), InputError> {
    let base58 = |c: char| c.is_ascii_alphanumeric() && !matches!(c, '0' | 'O' | 'I' | 'l');
    if peer.is_empty() || peer.len() > PEER_ID_MAX_BYTES || !peer.chars().all(base58) {
        return Err(InputError::new(format!(
            "'{}' is not a peer id (see 'shiftmesh peers' for the ids of this site's machines)",
            peer.chars().take(PEER_ID_MAX_BYTES).collect::<String>()
        )));
    }
    Ok(())
}

impl Entity for Member {
    const COLLECTION: Collection = Collection::Members;
    fn key(&self) -> String {
        self.peer.clone()
    }
    fn to_fields(&self) -> Vec<(&'static str, FieldValue)> {
        vec![
            ("name", FieldValue::Str(self.name.clone())),
            ("added_by", FieldValue::Str(self.added_by.clone())),
            ("added_at", FieldValue::Int(self.added_at_ms)),
            ("revoked", FieldValue::Bool(self.revoked)),
            ("revoked_by", FieldValue::Str(self.revoked_by.clone())),
            ("revoked_at", FieldValue::Int(self.revoked_at_ms)),
        ]
    }
    fn from_fields(key: &str, mut fields: Fields) -> Result<Self, InputError> {
        check_peer_key(key)?;
        Ok(Member {
            peer: key.to_owned(),
            name: take_str_or_empty(&mut fields, "name"),
            added_by: take_str_or_empty(&mut fields, "added_by"),
            added_at_ms: get_int(&fields, "added_at").unwrap_or(0),
            // Anything but an explicit false counts as revoked: a member is trusted only when
            // the document plainly says so.
            revoked: !matches!(fields.get("revoked"), Some(FieldValue::Bool(false))),
            revoked_by: take_str_or_empty(&mut fields, "revoked_by"),
            revoked_at_ms: get_int(&fields, "revoked_at").unwrap_or(0),
        })
    }
}
