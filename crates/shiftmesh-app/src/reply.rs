//! What each request gives back: typed, serialisable results. The CLI renders them as text or
//! prints their JSON (`--json`, the shapes of `cli.md`); the HTTP API answers with the same JSON;
//! the control socket carries the whole reply to the CLI that sent the request.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use shiftmesh_model::history::HistoryEntry;
use shiftmesh_model::{Account, Availability, Damage, Department, Id, Role, Shift, Staff};
use shiftmesh_rules::{Candidate, Conflict};

use crate::status::{PeerStatus, StatusReport};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    Status(StatusReport),
    Peers(PeerList),
    Invite(InviteIssued),
    /// A change of the schedule (an entity added, updated or removed), with what it brought.
    Changed(Changed),
    Departments(Vec<Department>),
    StaffList(Vec<StaffRow>),
    StaffShown(StaffShown),
    Shifts(ShiftList),
    ShiftShown(ShiftShown),
    Assigned(Assigned),
    AvailabilityList(Vec<Availability>),
    Schedule(ScheduleView),
    OnDuty(OnDuty),
    Cover(CoverShown),
    Conflicts(ConflictList),
    ConflictShown(ConflictShown),
    Resolved(Resolved),
    History(Vec<HistoryEntry>),
    Imported(Imported),
    /// Shifts planned from what exists (a copy of a range).
    Planned(Planned),
    Exported(Exported),
    BackedUp(BackedUp),
    /// The scheduled backups, newest first, and where they are written.
    Backups(BackupList),
    /// What `doctor` found, check by check.
    Doctor(Vec<crate::doctor::Finding>),
    Restored(Restored),
    Merged(MergedFile),
    Account(AccountView),
    Accounts(Vec<AccountView>),
    SignedIn(AccountView),
}

impl Reply {
    /// The same JSON as [`Reply::to_json`], as text: written out directly for the replies that
    /// can be large (a week of a year's schedule, a listing of conflicts), without building
    /// the tree of values first.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        let written = match self {
            Reply::Schedule(view) => serde_json::to_vec(view),
            Reply::Conflicts(list) if list.summary.is_none() => serde_json::to_vec(&list.conflicts),
            other => serde_json::to_vec(&other.to_json()),
        };
        written.unwrap_or_else(|_| b"null".to_vec())
    }

    /// The reply as JSON: what `--json` prints and what the HTTP API answers.
    pub fn to_json(&self) -> serde_json::Value {
        let value = |v: &dyn erased::Json| v.json();
        match self {
            Reply::Peers(list) => value(&list.peers),
            Reply::StaffList(rows) => value(rows),
            Reply::Changed(c) => {
                let mut entity = c.entity.clone();
                if let (Some(map), false) = (entity.as_object_mut(), c.conflicts.is_empty()) {
                    map.insert("conflicts".into(), value(&c.conflicts));
                }
                if let (Some(map), false) = (entity.as_object_mut(), c.cleared.is_empty()) {
                    map.insert("cleared".into(), value(&c.cleared));
                }
                entity
            }
            Reply::Shifts(list) => {
                let mut all: Vec<serde_json::Value> =
                    list.shifts.iter().map(|s| value(s)).collect();
                all.extend(list.unreadable.iter().map(|u| value(u)));
                serde_json::Value::Array(all)
            }
            Reply::Conflicts(ConflictList {
                summary: Some(days),
                ..
            }) => value(days),
            Reply::Conflicts(list) => value(&list.conflicts),
            Reply::Exported(Exported::Content { json: Some(v), .. }) => v.clone(),
            other => {
                // Every other reply is its content as it stands: the one value inside the
                // variant.
                match serde_json::to_value(other) {
                    Ok(serde_json::Value::Object(map)) if map.len() == 1 => {
                        map.into_iter().next().map(|(_, v)| v).unwrap_or_default()
                    }
                    Ok(v) => v,
                    Err(_) => serde_json::Value::Null,
                }
            }
        }
    }
}

/// Serialising through a reference of any serialisable type.
mod erased {
    pub trait Json {
        fn json(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or_default()
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerList {
    pub peers: Vec<PeerStatus>,
    /// Whether a node runs (connections and pending machines are known only then).
    pub running: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InviteIssued {
    pub invite: String,
    pub peer_id: String,
    pub addresses: Vec<String>,
    pub expires: String,
}

/// A staff member as lists show them, marked when a field of theirs cannot be read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StaffRow {
    #[serde(flatten)]
    pub staff: Staff,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub damaged: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StaffShown {
    pub staff: Staff,
    pub assignments: Vec<shiftmesh_model::Assignment>,
    pub availability: Vec<Availability>,
    /// Each field holding concurrent values: the values, with the change that wrote each.
    pub concurrent: serde_json::Value,
    pub damaged: Option<Vec<Damage>>,
    /// Where each assignment's shift is (for text): shift id → its time, when it exists.
    #[serde(default)]
    pub shift_times: Vec<(Id, String)>,
}

/// A change of the schedule: what to show of it, what it records, and the open conflicts it
/// brought.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Changed {
    /// The entity as it is now (or, for a removal, what was removed).
    pub entity: serde_json::Value,
    /// What happened, in words ("added staff sam"; "… already has these values; nothing
    /// changed").
    pub message: String,
    /// The conflicts it brought.
    pub conflicts: Vec<Conflict>,
    /// The ids of the conflicts it cleared.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cleared: Vec<String>,
}

/// A shift as views show it: its coverage and who is on it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShiftView {
    #[serde(flatten)]
    pub shift: Shift,
    pub overnight: bool,
    pub assigned: Vec<Id>,
    /// assigned / minimum / capacity; `?` for a number that cannot be read.
    pub coverage: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub damaged: Option<Vec<Damage>>,
}

/// An entity this version cannot use (a field it cannot do without is damaged): its id, what
/// is wrong, and its fields as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unreadable {
    pub id: String,
    pub damaged: Vec<Damage>,
    pub fields: serde_json::Map<String, serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShiftList {
    pub shifts: Vec<ShiftView>,
    /// Shifts that cannot be placed on a day.
    pub unreadable: Vec<Unreadable>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShiftShown {
    /// The shift, or, when it cannot be read, what it holds.
    pub shift: ShownShift,
    pub concurrent: serde_json::Value,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub assigned: Vec<Id>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ShownShift {
    Readable(ShiftView),
    Unreadable(Unreadable),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Assigned {
    pub assignment: String,
    pub written: bool,
    /// The open conflicts the assignment brings (or would bring).
    pub conflicts: Vec<Conflict>,
}

/// A person in a schedule view: their hours in the range against their weekly maximum, and
/// their availability entries that overlap it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersonInView {
    pub id: Id,
    pub name: String,
    pub department: Option<Id>,
    /// Minutes assigned in the range.
    pub minutes: i64,
    pub max_minutes_week: Option<u32>,
    pub availability: Vec<Availability>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScheduleDay {
    pub date: jiff::civil::Date,
    pub shifts: Vec<ShiftView>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScheduleView {
    pub from: jiff::civil::Date,
    pub to: jiff::civil::Date,
    pub time_zone: String,
    pub days: Vec<ScheduleDay>,
    /// Everyone assigned or with availability in the range.
    pub people: Vec<PersonInView>,
    /// The names of those assigned to a shift in the view whom `people` does not list (a view
    /// of one person or department lists only them).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub names: BTreeMap<Id, String>,
    /// Shifts that cannot be placed on a day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<Unreadable>,
}

/// Who is on duty at a moment, and who comes on next.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OnDuty {
    /// The moment, in the site's zone.
    pub at: jiff::civil::DateTime,
    pub time_zone: String,
    /// The shifts under way at that moment.
    pub now: Vec<ShiftView>,
    /// The shifts that start next (all those starting at the same, earliest, time).
    pub next: Vec<ShiftView>,
    /// The names of everyone assigned to the shifts listed.
    pub names: BTreeMap<Id, String>,
}

/// Who could cover a shift, ranked, and the near-misses with why each misses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CoverShown {
    pub shift: ShiftView,
    #[serde(flatten)]
    pub cover: shiftmesh_rules::Cover,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConflictList {
    pub conflicts: Vec<Conflict>,
    /// How many warnings are acknowledged (and not listed).
    pub acknowledged: usize,
    /// How many open conflicts the filter selected, before its limit.
    #[serde(default)]
    pub matching: usize,
    /// Counts by day and kind, when asked for instead of the conflicts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Vec<ConflictDay>>,
}

/// How many open conflicts one day has, by kind (`date` is none for those about no shift).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConflictDay {
    pub date: Option<jiff::civil::Date>,
    pub errors: usize,
    pub warnings: usize,
    pub kinds: BTreeMap<String, usize>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidates {
    pub shift: Id,
    pub staff: Vec<Candidate>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConflictShown {
    pub conflict: Conflict,
    pub acknowledged: bool,
    pub candidates: Option<Candidates>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resolved {
    pub resolved: String,
    pub option: String,
    /// What the change records.
    pub message: String,
    /// Whether the conflict is still there afterwards (with new data).
    pub still_open: bool,
    /// The conflicts the resolution brought.
    pub conflicts: Vec<Conflict>,
    /// How many conflicts are open afterwards.
    pub open: usize,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub departments: usize,
    pub staff: usize,
    pub shifts: usize,
    pub assignments: usize,
    pub availability: usize,
}

impl Counts {
    /// "3 staff, 12 shifts" (nothing said of what there is none of).
    pub fn describe(&self) -> String {
        let parts: Vec<String> = [
            (self.departments, "departments"),
            (self.staff, "staff"),
            (self.shifts, "shifts"),
            (self.assignments, "assignments"),
            (self.availability, "availability entries"),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        parts.join(", ")
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Imported {
    pub imported: Counts,
    /// The conflicts the import brought.
    #[serde(default)]
    pub conflicts: Vec<Conflict>,
}

/// What a copy added, what it found already there, and the conflicts it brought.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Planned {
    pub message: String,
    pub added: Counts,
    /// Ids of shifts that already existed (made by an earlier run) and were left as they are.
    pub skipped: Vec<String>,
    pub conflicts: Vec<Conflict>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Exported {
    /// Written to files on this machine.
    Written {
        written: Vec<PathBuf>,
        /// Values written with characters replaced, and entities left out.
        notes: Vec<String>,
    },
    /// The content itself: JSON, or iCalendar text.
    Content {
        json: Option<serde_json::Value>,
        text: Option<String>,
        notes: Vec<String>,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackedUp {
    pub written: Option<PathBuf>,
    pub bytes: usize,
    pub changes: usize,
    /// The backup itself, when it was asked for rather than written to a file.
    #[serde(with = "serde_bytes", default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackupList {
    /// Where the node writes them (None: scheduled backups are off).
    pub dir: Option<PathBuf>,
    pub every: Option<String>,
    pub keep_days: Option<u32>,
    pub backups: Vec<crate::backups::BackupFile>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Restored {
    pub restored: String,
    pub changes: usize,
    pub damaged_store_moved_to: Option<PathBuf>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MergedFile {
    pub merged: String,
    pub new_changes: usize,
    /// The conflicts the merge brought.
    #[serde(default)]
    pub conflicts: Vec<Conflict>,
}

/// An account as it is shown: everything but its password hash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountView {
    pub login: Id,
    pub name: String,
    pub role: Role,
    pub staff: Option<Id>,
    pub disabled: bool,
    pub has_password: bool,
    pub created_by: String,
    /// What the request did, for messages.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl AccountView {
    pub fn of(account: &Account, message: impl Into<String>) -> AccountView {
        AccountView {
            login: account.login.clone(),
            name: account.name.clone(),
            role: account.role,
            staff: account.staff.clone(),
            disabled: account.disabled,
            has_password: !account.password_hash.is_empty(),
            created_by: account.created_by.clone(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same_json(reply: &Reply) {
        let written: serde_json::Value = serde_json::from_slice(&reply.to_json_bytes()).unwrap();
        assert_eq!(written, reply.to_json());
    }

    #[test]
    fn replies_written_directly_are_the_same_json_as_their_values() {
        let day = jiff::civil::date(2026, 11, 23);
        same_json(&Reply::Schedule(ScheduleView {
            from: day,
            to: day,
            time_zone: "Europe/Berlin".into(),
            days: vec![ScheduleDay {
                date: day,
                shifts: Vec::new(),
            }],
            people: Vec::new(),
            names: BTreeMap::new(),
            unreadable: Vec::new(),
        }));
        same_json(&Reply::Conflicts(ConflictList {
            conflicts: Vec::new(),
            acknowledged: 2,
            matching: 0,
            summary: None,
        }));
        same_json(&Reply::Conflicts(ConflictList {
            conflicts: Vec::new(),
            acknowledged: 0,
            matching: 1,
            summary: Some(vec![ConflictDay {
                date: Some(day),
                errors: 1,
                warnings: 0,
                kinds: BTreeMap::from([("double-booking".to_owned(), 1)]),
            }]),
        }));
        same_json(&Reply::Departments(Vec::new()));
    }
}
