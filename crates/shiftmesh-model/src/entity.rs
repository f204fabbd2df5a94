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
/// The longest person or machine name recorded as a change's author (`person@machine`), in
/// bytes: enough for any login or host name, short enough to keep every history line readable.
pub const AUTHOR_PART_MAX_BYTES: usize = 64;

/// The top-level maps of the document, one per entity kind, and the site's own settings (the
/// root's scalars, which are not a collection but are read, conflicted and written like an
/// entity's fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Collection {
    Departments,
    Staff,
    Shifts,
    Assignments,
    Availability,
    Acks,
    Members,
    /// Sign-in accounts (schema 2).
    Accounts,
    /// The site's settings at the document root (name, time zone); its only key is "".
    Site,
}

impl Collection {
    /// The collections this version keeps in the document, each a map created by the genesis
    /// or a schema step (see [`crate::schema`]).
    pub const ALL: [Collection; 8] = [
        Collection::Departments,
        Collection::Staff,
        Collection::Shifts,
        Collection::Assignments,
        Collection::Availability,
        Collection::Acks,
        Collection::Members,
        Collection::Accounts,
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
            Collection::Accounts => "accounts",
            Collection::Site => "site",
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
            Collection::Accounts => "account",
            Collection::Site => "site setting",
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

/// One field's value as the document holds it. Every field shiftmesh writes is one scalar
/// register, so a concurrent write to it is kept as a conflict that `concurrent-edit` shows
/// (sets of skills included: they are written as one sorted, `;`-separated value). Other
/// Automerge writers may leave other shapes: a text object reads as the text it holds; a
/// floating-point number and anything else shiftmesh never writes are kept as they are, so
/// what cannot be read can be reported with the value it holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum FieldValue {
    Str(String),
    Int(i64),
    Bool(bool),
    /// A floating-point number (another writer's; shiftmesh writes whole numbers as integers).
    Float(f64),
    /// A value of a shape no field of shiftmesh holds, described ("a list", "null", "bytes").
    Foreign(String),
}

impl FieldValue {
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            FieldValue::Str(s) => serde_json::Value::from(s.as_str()),
            FieldValue::Int(i) => serde_json::Value::from(*i),
            FieldValue::Bool(b) => serde_json::Value::from(*b),
            FieldValue::Float(f) => serde_json::Value::from(*f),
            FieldValue::Foreign(what) => serde_json::Value::from(format!("({what})")),
        }
    }

    /// Whether the field is left out of the document (empty text reads back as empty).
    pub fn is_empty_text(&self) -> bool {
        matches!(self, FieldValue::Str(s) if s.is_empty())
    }

    /// The value as a whole number, when it is one (an integral float included: a JavaScript
    /// writer may store `3` as `3.0`).
    fn as_whole(&self) -> Option<i64> {
        match self {
            FieldValue::Int(i) => Some(*i),
            FieldValue::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
            _ => None,
        }
    }

    /// The value as a person would read it in a message.
    pub fn describe(&self) -> String {
        // Long text is cut: a message must stay a line, whatever another writer stored.
        const SHOWN_MAX_CHARS: usize = 60;
        match self {
            FieldValue::Str(s) if s.chars().count() > SHOWN_MAX_CHARS => {
                let start: String = s.chars().take(SHOWN_MAX_CHARS).collect();
                format!("{start:?}… ({} bytes in all)", s.len())
            }
            FieldValue::Str(s) => format!("{s:?}"),
            FieldValue::Int(i) => i.to_string(),
            FieldValue::Bool(b) => b.to_string(),
            FieldValue::Float(f) => format!("{f:?}"),
            FieldValue::Foreign(what) => what.clone(),
        }
    }
}

/// A field of an entity that the document holds in a form this version cannot read: missing,
/// of the wrong type, or out of range. The entity stays visible (marked damaged) and the
/// `unreadable-field` conflict reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Damage {
    /// The field's name; empty when the entity itself is not a map of fields or its key is
    /// not a valid id.
    pub field: String,
    /// What the field holds (None: nothing).
    pub stored: Option<FieldValue>,
    /// What is wrong with it, in words ("is not a whole number between 1 and 1000").
    pub problem: String,
    /// Who wrote the value, `user@node` (empty when unknown, such as for a missing field).
    pub author: String,
}

impl Damage {
    pub fn stored_text(&self) -> String {
        self.stored
            .as_ref()
            .map_or_else(|| "nothing".to_owned(), FieldValue::describe)
    }
}

/// An entity read from its fields: the entity (with a fallback for each field it can do
/// without) unless a field it cannot do without is damaged, and every damaged field.
#[derive(Clone, Debug, PartialEq)]
pub struct Read<E> {
    pub entity: Option<E>,
    pub damage: Vec<Damage>,
}

/// What the command line's length limit would refuse in a text read from the document: the
/// same bound holds for what peers and other programs write. Control characters stay readable
/// (nothing readable is hidden); the command line escapes them when it prints.
fn text_problem(text: &str) -> Option<String> {
    (text.len() > TEXT_MAX_BYTES).then(|| {
        format!(
            "is {} bytes long; the limit is {TEXT_MAX_BYTES}",
            text.len()
        )
    })
}

/// Reads an entity's fields one by one, noting each that is damaged.
pub(crate) struct FieldReader {
    fields: Fields,
    damage: Vec<Damage>,
}

impl FieldReader {
    pub(crate) fn new(fields: Fields) -> FieldReader {
        FieldReader {
            fields,
            damage: Vec::new(),
        }
    }

    fn damaged(&mut self, field: &str, stored: Option<FieldValue>, problem: impl Into<String>) {
        self.damage.push(Damage {
            field: field.to_owned(),
            stored,
            problem: problem.into(),
            author: String::new(),
        });
    }

    /// Optional text: absent reads as empty. Text longer than the command line accepts, as
    /// another program or a member's modified build could write, reads as empty too.
    fn text(&mut self, name: &str) -> String {
        match self.fields.take(name) {
            None => String::new(),
            Some(FieldValue::Str(s)) => match text_problem(&s) {
                None => s,
                Some(problem) => {
                    self.damaged(name, Some(FieldValue::Str(s)), problem);
                    String::new()
                }
            },
            Some(other) => {
                self.damaged(name, Some(other), "is not text");
                String::new()
            }
        }
    }

    /// Text that must not be empty; damaged, it reads as `fallback`.
    fn name(&mut self, name: &str, fallback: &str) -> String {
        match self.fields.take(name) {
            Some(FieldValue::Str(s)) if !s.trim().is_empty() => match text_problem(&s) {
                None => s,
                Some(problem) => {
                    self.damaged(name, Some(FieldValue::Str(s)), problem);
                    fallback.to_owned()
                }
            },
            Some(FieldValue::Str(s)) => {
                self.damaged(name, Some(FieldValue::Str(s)), "is empty");
                fallback.to_owned()
            }
            None => {
                self.damaged(name, None, "is missing");
                fallback.to_owned()
            }
            Some(other) => {
                self.damaged(name, Some(other), "is not text");
                fallback.to_owned()
            }
        }
    }

    /// A required value parsed from text; None (and damaged) when it is not there or does not
    /// parse.
    fn parsed<T>(
        &mut self,
        name: &str,
        parse: impl Fn(&str) -> Result<T, InputError>,
    ) -> Option<T> {
        match self.fields.take(name) {
            Some(FieldValue::Str(s)) => match parse(&s) {
                Ok(value) => Some(value),
                Err(e) => {
                    self.damaged(name, Some(FieldValue::Str(s)), e.message);
                    None
                }
            },
            None => {
                self.damaged(name, None, "is missing");
                None
            }
            Some(other) => {
                self.damaged(name, Some(other), "is not text");
                None
            }
        }
    }

    /// An optional value parsed from non-empty text; damaged, it reads as None.
    fn optional<T>(
        &mut self,
        name: &str,
        parse: impl Fn(&str) -> Result<T, InputError>,
    ) -> Option<T> {
        match self.fields.get(name) {
            None => None,
            Some(FieldValue::Str(s)) if s.is_empty() => None,
            _ => self.parsed(name, parse),
        }
    }

    /// A whole number in `range`; damaged (or, when `required`, missing), it reads as None.
    fn whole(
        &mut self,
        name: &str,
        range: std::ops::RangeInclusive<i64>,
        required: bool,
    ) -> Option<i64> {
        match self.fields.take(name) {
            None if required => {
                self.damaged(name, None, "is missing");
                None
            }
            None => None,
            Some(value) => match value.as_whole() {
                Some(n) if range.contains(&n) => Some(n),
                _ => {
                    let problem = format!(
                        "is not a whole number between {} and {}",
                        range.start(),
                        range.end()
                    );
                    self.damaged(name, Some(value), problem);
                    None
                }
            },
        }
    }

    /// A true/false flag, read as `if_absent` when absent and as `if_damaged` when it holds
    /// anything else (the safe reading: revoked, disabled).
    fn flag(&mut self, name: &str, if_absent: bool, if_damaged: bool) -> bool {
        match self.fields.take(name) {
            None => if_absent,
            Some(FieldValue::Bool(b)) => b,
            Some(other) => {
                self.damaged(name, Some(other), "is not true or false");
                if_damaged
            }
        }
    }

    /// A `;`-separated set of ids; damaged, it reads as empty.
    fn set(&mut self, name: &str) -> BTreeSet<String> {
        let text = self.text(name);
        let set: BTreeSet<String> = text
            .split(';')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if let Some(bad) = set.iter().find(|s| Id::parse(s).is_err()) {
            let problem = format!("holds '{bad}', which is not an id");
            self.damaged(name, Some(FieldValue::Str(text)), problem);
            return BTreeSet::new();
        }
        set
    }

    fn finish<E>(self, entity: Option<E>) -> Read<E> {
        Read {
            entity,
            damage: self.damage,
        }
    }
}

/// The key of an entity as an id; a key that is not one makes the entity unreadable.
fn key_id(key: &str, reader: &mut FieldReader) -> Option<Id> {
    match Id::parse(key) {
        Ok(id) => Some(id),
        Err(e) => {
            reader.damaged(
                "",
                None,
                format!("its key is not a valid id: {}", e.message),
            );
            None
        }
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
    /// Reads the entity from its fields as the document holds them: every field that is
    /// missing, of the wrong type or out of range is reported, and the entity is built with a
    /// fallback for each field it can do without.
    fn read(key: &str, fields: Fields) -> Read<Self>;
}

fn optional_id_field(id: &Option<Id>) -> FieldValue {
    FieldValue::Str(id.as_ref().map(|i| i.to_string()).unwrap_or_default())
}

/// Checks free text: at most [`TEXT_MAX_BYTES`] and no control characters other than none.
pub fn check_text(what: &str, text: &str) -> Result<(), InputError> {
    check_line(what, text, TEXT_MAX_BYTES)
}

/// One line of plain text: at most `max_bytes`, no control characters.
fn check_line(what: &str, text: &str, max_bytes: usize) -> Result<(), InputError> {
    if text.len() > max_bytes {
        return Err(InputError::new(format!(
            "{what} is {} bytes long; the limit is {max_bytes}",
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

/// Checks free text that may run over several lines (a note, a reason): line breaks and tabs
/// are allowed, other control characters are not. Give it text whose line breaks were
/// normalised with [`normalize_line_breaks`].
pub fn check_multiline_text(what: &str, text: &str) -> Result<(), InputError> {
    if text.len() > TEXT_MAX_BYTES {
        return Err(InputError::new(format!(
            "{what} is {} bytes long; the limit is {TEXT_MAX_BYTES}",
            text.len()
        )));
    }
    if let Some(bad) = text
        .chars()
        .find(|c| c.is_control() && *c != '\n' && *c != '\t')
    {
        return Err(InputError::new(format!(
            "{what} contains the control character {bad:?}"
        )));
    }
    Ok(())
}

/// Line breaks as shiftmesh stores them: CRLF and a lone CR become LF.
pub fn normalize_line_breaks(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// Text as an export writes it, so that the import reads it back: what the import would refuse
/// (a control character; in one-line text also a line break or tab, which other Automerge
/// writers may have stored) becomes a space. Returns whether anything was replaced.
pub fn exportable_text(text: &str, multiline: bool) -> (String, bool) {
    let normalized = if multiline {
        normalize_line_breaks(text)
    } else {
        text.to_owned()
    };
    let keep = |c: char| !c.is_control() || (multiline && (c == '\n' || c == '\t'));
    if normalized.chars().all(keep) && normalized == text {
        return (normalized, false);
    }
    let cleaned: String = normalized
        .chars()
        .map(|c| if keep(c) { c } else { ' ' })
        .collect();
    let changed = cleaned != text;
    (cleaned, changed)
}

/// Checks a name: non-empty text.
pub fn check_name(what: &str, text: &str) -> Result<(), InputError> {
    if text.trim().is_empty() {
        return Err(InputError::new(format!("{what} must not be empty")));
    }
    check_text(what, text)
}

/// Checks one half of an author (`person@machine`): a non-empty name of at most
/// [`AUTHOR_PART_MAX_BYTES`], without control characters.
pub fn check_author_part(what: &str, text: &str) -> Result<(), InputError> {
    if text.trim().is_empty() {
        return Err(InputError::new(format!("{what} must not be empty")));
    }
    check_line(what, text, AUTHOR_PART_MAX_BYTES)
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

fn deserialize_time<'de, D: serde::Deserializer<'de>>(d: D) -> Result<jiff::civil::Time, D::Error> {
    let text = String::deserialize(d)?;
    crate::time::parse_time(&text).map_err(serde::de::Error::custom)
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    fn read(key: &str, fields: Fields) -> Read<Self> {
        let mut r = FieldReader::new(fields);
        let id = key_id(key, &mut r);
        let name = r.name("name", key);
        // A zone this build does not know is damaged: the department then uses the site's.
        let time_zone = r.optional("time_zone", |z| {
            crate::time::SiteZone::parse(z).map(|_| z.to_owned())
        });
        let entity = id.map(|id| Department {
            id,
            name,
            time_zone,
        });
        r.finish(entity)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    fn read(key: &str, fields: Fields) -> Read<Self> {
        let mut r = FieldReader::new(fields);
        let id = key_id(key, &mut r);
        // -1 stands for "no limit".
        let max = r.whole(
            "max_minutes_week",
            -1..=i64::from(MAX_HOURS_WEEK_LIMIT) * 60,
            false,
        );
        let staff = Staff {
            id: id.clone().unwrap_or_else(|| Id(Arc::from(""))),
            // A person without a readable name is shown by id rather than hidden.
            name: r.name("name", key),
            department: r.optional("department", Id::parse),
            skills: r.set("skills"),
            max_minutes_week: max.and_then(|m| u32::try_from(m).ok()),
            employment_start: r.optional("employment_start", parse_date),
            employment_end: r.optional("employment_end", parse_date),
            active: r.flag("active", true, true),
        };
        r.finish(id.map(|_| staff))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shift {
    pub id: Id,
    pub department: Option<Id>,
    pub date: Date,
    #[serde(
        serialize_with = "serialize_time",
        deserialize_with = "deserialize_time"
    )]
    pub start: jiff::civil::Time,
    #[serde(
        serialize_with = "serialize_time",
        deserialize_with = "deserialize_time"
    )]
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
    fn read(key: &str, fields: Fields) -> Read<Self> {
        let mut r = FieldReader::new(fields);
        let id = key_id(key, &mut r);
        // Without its time a shift cannot be placed on a day: it is unreadable (listed, and
        // reported, but not in views or checks). The other fields fall back, and the checks
        // that read a damaged one skip it.
        let time = r.parsed("time", ShiftTime::decode);
        let capacity = r.whole("capacity", 1..=i64::from(CAPACITY_MAX), true);
        let min_staff = r.whole("min_staff", 0..=i64::from(CAPACITY_MAX), true);
        let department = r.optional("department", Id::parse);
        let skills = r.set("skills");
        let label = r.text("label");
        let entity = match (id, time) {
            (Some(id), Some(time)) => Some(Shift {
                id,
                department,
                date: time.date,
                start: time.start,
                end: time.end,
                capacity: capacity.map_or(CAPACITY_MAX, |c| c as u32),
                min_staff: min_staff.map_or(0, |m| m as u32),
                skills,
                label,
            }),
            _ => None,
        };
        r.finish(entity)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    fn read(key: &str, fields: Fields) -> Read<Self> {
        let mut r = FieldReader::new(fields);
        let parsed = match AssignmentKey::parse(key) {
            Ok(k) => Some(k),
            Err(e) => {
                r.damaged(
                    "",
                    None,
                    format!("its key is not SHIFT/STAFF: {}", e.message),
                );
                None
            }
        };
        // A damaged window reads as the whole shift.
        let window = r.optional("window", LocalSpan::decode);
        let role = r.text("role");
        let note = r.text("note");
        let created_at_ms = r
            .whole("created_at", i64::MIN..=i64::MAX, false)
            .unwrap_or(0);
        let created_by = r.text("created_by");
        let entity = parsed.map(|k| Assignment {
            shift: k.shift,
            staff: k.staff,
            role,
            note,
            created_at_ms,
            created_by,
            window,
        });
        r.finish(entity)
    }
}

/// What an availability entry says about a person.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    fn read(key: &str, fields: Fields) -> Read<Self> {
        let mut r = FieldReader::new(fields);
        let id = key_id(key, &mut r);
        // Whose, when and what kind: an entry cannot be used without any of them.
        let staff = r.parsed("staff", Id::parse);
        let span = r.parsed("span", LocalSpan::decode);
        let kind = r.parsed("kind", AvailabilityKind::parse);
        let reason = r.text("reason");
        let entity = match (id, staff, span, kind) {
            (Some(id), Some(staff), Some(span), Some(kind)) => Some(Availability {
                id,
                staff,
                span,
                kind,
                reason,
            }),
            _ => None,
        };
        r.finish(entity)
    }
}

/// An acknowledgement of a warning. It covers the data whose fingerprint it records and lapses
/// when that data changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    fn read(key: &str, fields: Fields) -> Read<Self> {
        let mut r = FieldReader::new(fields);
        // An acknowledgement covers the data whose fingerprint it records: without one it
        // covers nothing.
        let fingerprint = r.parsed("fingerprint", |f| Ok(f.to_owned()));
        let by = r.text("by");
        let at_ms = r.whole("at", i64::MIN..=i64::MAX, false).unwrap_or(0);
        let note = r.text("note");
        let entity = fingerprint.map(|fingerprint| Acknowledgement {
            conflict: key.to_owned(),
            fingerprint,
            by,
            at_ms,
            note,
        });
        r.finish(entity)
    }
}

/// The longest peer id accepted as a member's key (libp2p's base58 ids are about 52 bytes).
pub const PEER_ID_MAX_BYTES: usize = 128;

/// A machine trusted with the schedule, by its libp2p peer id. Membership lives in the
/// document so every node enforces the same list and `history` shows who changed it; a member
/// is never deleted, only marked revoked, so a revocation cannot be undone by a concurrent
/// edit that did not see it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    /// Why the document's record of this machine does not count, when it does not: every write
    /// that made it a member was made by a machine that was no member then (one revoked by a
    /// revocation that had not seen the write). Worked out from the document's history by every
    /// node alike, never stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub void: Option<String>,
    /// The changes that revoked it, as the membership rule counts them (empty unless revoked):
    /// what it wrote that none of them had seen, it wrote after its revocation. Worked out like
    /// `void`.
    #[serde(skip)]
    pub revocations: Vec<automerge::ChangeHash>,
}

impl Member {
    /// Checks the peer id's shape (the node checks it is a real peer id) and the name.
    pub fn check(&self) -> Result<(), InputError> {
        check_peer_key(&self.peer)?;
        check_text("a member's name", &self.name)
    }

    /// Whether this member may receive the schedule.
    pub fn is_trusted(&self) -> bool {
        !self.revoked && self.void.is_none()
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
    fn read(key: &str, fields: Fields) -> Read<Self> {
        let mut r = FieldReader::new(fields);
        let valid_key = match check_peer_key(key) {
            Ok(()) => true,
            Err(e) => {
                r.damaged("", None, e.message);
                false
            }
        };
        let name = r.text("name");
        let added_by = r.text("added_by");
        let added_at_ms = r.whole("added_at", i64::MIN..=i64::MAX, false).unwrap_or(0);
        // Anything but an explicit false counts as revoked: a member is trusted only when the
        // document plainly says so.
        let revoked = r.flag("revoked", true, true);
        let revoked_by = r.text("revoked_by");
        let revoked_at_ms = r
            .whole("revoked_at", i64::MIN..=i64::MAX, false)
            .unwrap_or(0);
        let entity = valid_key.then(|| Member {
            peer: key.to_owned(),
            name,
            added_by,
            added_at_ms,
            revoked,
            revoked_by,
            revoked_at_ms,
            void: None,
            revocations: Vec::new(),
        });
        r.finish(entity)
    }
}

/// What an account may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Every schedule operation.
    Manager,
    /// Reads the schedule; changes only their own availability and leave.
    Staff,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Manager => "manager",
            Role::Staff => "staff",
        }
    }

    pub fn parse(text: &str) -> Result<Role, InputError> {
        match text {
            "manager" => Ok(Role::Manager),
            "staff" => Ok(Role::Staff),
            other => Err(InputError::new(format!(
                "'{other}' is not a role (manager, staff)"
            ))),
        }
    }
}

/// A person's sign-in account (schema 2), kept in the document so that it syncs, shows in
/// the history, and lets its owner sign in on any machine of the site.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub login: Id,
    /// The name shown for the account.
    pub name: String,
    pub role: Role,
    /// The staff member this account belongs to, whose availability and leave it may change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staff: Option<Id>,
    /// An argon2id hash in PHC form; empty when the account has no password yet. Never
    /// shown or sent anywhere.
    #[serde(skip)]
    pub password_hash: String,
    pub disabled: bool,
    /// Who created it, `user@node`.
    pub created_by: String,
    pub created_at_ms: i64,
}

impl Account {
    pub fn check(&self) -> Result<(), InputError> {
        check_name("an account's name", &self.name)?;
        check_text("a password hash", &self.password_hash)
    }
}

impl Entity for Account {
    const COLLECTION: Collection = Collection::Accounts;
    fn key(&self) -> String {
        self.login.to_string()
    }
    fn to_fields(&self) -> Vec<(&'static str, FieldValue)> {
        vec![
            ("name", FieldValue::Str(self.name.clone())),
            ("role", FieldValue::Str(self.role.as_str().to_owned())),
            ("staff", optional_id_field(&self.staff)),
            ("password", FieldValue::Str(self.password_hash.clone())),
            ("disabled", FieldValue::Bool(self.disabled)),
            ("created_by", FieldValue::Str(self.created_by.clone())),
            ("created_at", FieldValue::Int(self.created_at_ms)),
        ]
    }
    fn read(key: &str, fields: Fields) -> Read<Self> {
        let mut r = FieldReader::new(fields);
        let login = key_id(key, &mut r);
        let name = r.name("name", key);
        // Without a readable role nobody can say what the account may do: it is unusable.
        let role = r.parsed("role", Role::parse);
        let staff = r.optional("staff", Id::parse);
        let password_hash = r.text("password");
        // A damaged flag reads as disabled: an account signs in only when plainly allowed to.
        let disabled = r.flag("disabled", false, true);
        let created_by = r.text("created_by");
        let created_at_ms = r
            .whole("created_at", i64::MIN..=i64::MAX, false)
            .unwrap_or(0);
        let entity = match (login, role) {
            (Some(login), Some(role)) => Some(Account {
                login,
                name,
                role,
                staff,
                password_hash,
                disabled,
                created_by,
                created_at_ms,
            }),
            _ => None,
        };
        r.finish(entity)
    }
}
