//! What a conflict is: its kind, severity, stable id, the entities it is about, and the ways to
//! resolve it.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shiftmesh_model::Id;

/// The kinds of semantic conflict (the catalogue of the product brief).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    DoubleBooking,
    CapacityExceeded,
    StaffUnavailable,
    DanglingReference,
    InvalidShiftTime,
    /// A field holds a value of the wrong type, out of range, or is missing (another writer's).
    UnreadableField,
    ConcurrentEdit,
    /// One id was created on several machines at once with different fields.
    ConcurrentCreate,
    /// Another writer put its own value at the root key of one of shiftmesh's collections.
    RivalCollection,
    MissingSkill,
    Understaffed,
    InsufficientRest,
    MaxHoursExceeded,
}

impl Kind {
    pub const ALL: [Kind; 13] = [
        Kind::DoubleBooking,
        Kind::CapacityExceeded,
        Kind::StaffUnavailable,
        Kind::DanglingReference,
        Kind::InvalidShiftTime,
        Kind::UnreadableField,
        Kind::ConcurrentEdit,
        Kind::ConcurrentCreate,
        Kind::RivalCollection,
        Kind::MissingSkill,
        Kind::Understaffed,
        Kind::InsufficientRest,
        Kind::MaxHoursExceeded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::DoubleBooking => "double-booking",
            Kind::CapacityExceeded => "capacity-exceeded",
            Kind::StaffUnavailable => "staff-unavailable",
            Kind::DanglingReference => "dangling-reference",
            Kind::InvalidShiftTime => "invalid-shift-time",
            Kind::UnreadableField => "unreadable-field",
            Kind::ConcurrentEdit => "concurrent-edit",
            Kind::ConcurrentCreate => "concurrent-create",
            Kind::RivalCollection => "rival-collection",
            Kind::MissingSkill => "missing-skill",
            Kind::Understaffed => "understaffed",
            Kind::InsufficientRest => "insufficient-rest",
            Kind::MaxHoursExceeded => "max-hours-exceeded",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    pub fn severity(self) -> Severity {
        match self {
            Kind::DoubleBooking
            | Kind::CapacityExceeded
            | Kind::StaffUnavailable
            | Kind::DanglingReference
            | Kind::InvalidShiftTime
            | Kind::UnreadableField => Severity::Error,
            Kind::ConcurrentEdit
            | Kind::ConcurrentCreate
            | Kind::RivalCollection
            | Kind::MissingSkill
            | Kind::Understaffed
            | Kind::InsufficientRest
            | Kind::MaxHoursExceeded => Severity::Warning,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Errors make the schedule wrong and must be resolved; warnings may be acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }

    pub fn parse(text: &str) -> Option<Severity> {
        [Severity::Error, Severity::Warning]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// The resolution options of the catalogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptionId {
    KeepFirst,
    KeepSecond,
    SplitTime,
    FindSubstitute,
    RemoveExcess,
    IncreaseCapacity,
    MarkUncovered,
    RemoveAssignment,
    Restore,
    EditShift,
    PickValue,
    Acknowledge,
    RestoreValue,
    Edit,
    KeepVersion,
    Adopt,
}

impl OptionId {
    pub const ALL: [OptionId; 16] = [
        OptionId::KeepFirst,
        OptionId::KeepSecond,
        OptionId::SplitTime,
        OptionId::FindSubstitute,
        OptionId::RemoveExcess,
        OptionId::IncreaseCapacity,
        OptionId::MarkUncovered,
        OptionId::RemoveAssignment,
        OptionId::Restore,
        OptionId::EditShift,
        OptionId::PickValue,
        OptionId::Acknowledge,
        OptionId::RestoreValue,
        OptionId::Edit,
        OptionId::KeepVersion,
        OptionId::Adopt,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OptionId::KeepFirst => "keep-first",
            OptionId::KeepSecond => "keep-second",
            OptionId::SplitTime => "split-time",
            OptionId::FindSubstitute => "find-substitute",
            OptionId::RemoveExcess => "remove-excess",
            OptionId::IncreaseCapacity => "increase-capacity",
            OptionId::MarkUncovered => "mark-uncovered",
            OptionId::RemoveAssignment => "remove-assignment",
            OptionId::Restore => "restore",
            OptionId::EditShift => "edit-shift",
            OptionId::PickValue => "pick-value",
            OptionId::Acknowledge => "acknowledge",
            OptionId::RestoreValue => "restore-value",
            OptionId::Edit => "edit",
            OptionId::KeepVersion => "keep-version",
            OptionId::Adopt => "adopt",
        }
    }

    pub fn parse(text: &str) -> Option<OptionId> {
        OptionId::ALL.into_iter().find(|o| o.as_str() == text)
    }
}

impl fmt::Display for OptionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One way to resolve a conflict, with what it would do in words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolutionOption {
    pub id: OptionId,
    pub label: String,
}

impl ResolutionOption {
    pub fn new(id: OptionId, label: impl Into<String>) -> Self {
        ResolutionOption {
            id,
            label: label.into(),
        }
    }
}

/// One of several values a field holds, and who wrote it (for `concurrent-edit`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrittenValue {
    pub value: serde_json::Value,
    pub author: String,
    /// The machine whose actor wrote it (a peer id), if the actor names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
    /// The change that wrote it (hex), for [`WrittenValue::provenance`].
    #[serde(skip)]
    pub change: Option<String>,
    /// The machine by its name and whether its signature proves the value, filled in when the
    /// conflict is shown: signatures can arrive later than the change, and the validation keeps
    /// only what the data says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<shiftmesh_model::history::Provenance>,
    /// For `concurrent-create`: the version's object, which `keep-version` keeps.
    #[serde(skip)]
    pub object: Option<String>,
}

/// A semantic conflict, derived from the schedule and never stored in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    pub id: String,
    pub kind: Kind,
    pub severity: Severity,
    pub message: String,
    pub staff: Vec<Id>,
    pub shifts: Vec<Id>,
    /// Assignment keys (`SHIFT/STAFF`), the first first where the kind orders them.
    pub assignments: Vec<String>,
    pub options: Vec<ResolutionOption>,
    /// For `concurrent-edit`: the entity (`collection/key`), the field and every value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<WrittenValue>,
    /// A hash of the data the conflict is about: an acknowledgement lapses when it changes.
    pub fingerprint: String,
    /// The earliest day of the shifts it names, for sorting and filtering by date; filled in
    /// where conflicts are shown (the checks leave it empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<jiff::civil::Date>,
}

impl Conflict {
    pub fn offers(&self, option: OptionId) -> bool {
        self.options.iter().any(|o| o.id == option)
    }

    /// The earliest day of the shifts the conflict names (none for one about no shift). The
    /// validation sets it on every conflict it finds (`date`); this is for conflicts read
    /// from elsewhere.
    pub fn date_in(&self, index: &shiftmesh_model::Index) -> Option<jiff::civil::Date> {
        first_day(index, &self.shifts)
    }

    /// The conflict with its date: the earliest day of the shifts it names.
    pub fn dated(mut self, index: &shiftmesh_model::Index) -> Conflict {
        self.date = self.date_in(index);
        self
    }
}

/// The earliest day of those of `shifts` that exist: a conflict's date.
pub(crate) fn first_day(
    index: &shiftmesh_model::Index,
    shifts: &[shiftmesh_model::Id],
) -> Option<jiff::civil::Date> {
    shifts
        .iter()
        .filter_map(|s| index.shifts.get(s).map(|shift| shift.date))
        .min()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// The stable id of a conflict: a hash of its kind and the ids of the entities involved, in a
/// fixed order (never of times, actors or iteration order), so every node shows the same id.
pub fn conflict_id(kind: Kind, parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(kind.as_str());
    for part in parts {
        hasher.update([0]);
        hasher.update(part);
    }
    format!("c-{}", &hex(&hasher.finalize())[..16])
}

/// A hash of the data a conflict is about, built from its values in a fixed order.
#[derive(Clone)]
pub struct Fingerprint(Sha256);

impl Fingerprint {
    pub fn new() -> Fingerprint {
        Fingerprint(Sha256::new())
    }

    pub fn add(mut self, part: impl AsRef<[u8]>) -> Fingerprint {
        self.0.update(part.as_ref());
        self.0.update([0]);
        self
    }

    /// [`Fingerprint::add`] of `part`'s text, written into the hash without building it.
    pub fn add_text(mut self, part: impl fmt::Display) -> Fingerprint {
        use fmt::Write as _;
        // Writing into the hash cannot fail.
        let _ = write!(IntoHash(&mut self.0), "{part}");
        self.0.update([0]);
        self
    }

    /// [`Fingerprint::add`] of `parts` joined by `separator`, without building the text.
    pub fn add_joined<'a>(
        mut self,
        parts: impl IntoIterator<Item = &'a String>,
        separator: &str,
    ) -> Fingerprint {
        for (i, part) in parts.into_iter().enumerate() {
            if i > 0 {
                self.0.update(separator);
            }
            self.0.update(part);
        }
        self.0.update([0]);
        self
    }

    pub fn finish(self) -> String {
        hex(&self.0.finalize()[..16])
    }
}

/// Text written into a hash as it is formatted.
struct IntoHash<'a>(&'a mut Sha256);

impl fmt::Write for IntoHash<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.0.update(text);
        Ok(())
    }
}

impl Default for Fingerprint {
    fn default() -> Self {
        Fingerprint::new()
    }
}
