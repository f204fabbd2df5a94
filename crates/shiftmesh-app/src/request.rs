//! Every operation shiftmesh offers, as a typed request: what the CLI parses its command line
//! into, what the control socket carries to a running node, and what the HTTP API builds from
//! a path and a JSON body.

use std::path::PathBuf;

use jiff::civil::{Date, DateTime, Time};
use serde::{Deserialize, Serialize};
use shiftmesh_model::{AvailabilityKind, Id, Role};
use shiftmesh_rules::{Kind, Severity};

/// Where bytes come from: a file on this machine (owner only), or the request itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Path(PathBuf),
    Bytes {
        /// How errors name it (`staff.csv:3: …`).
        name: String,
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
}

impl Source {
    pub fn name(&self) -> String {
        match self {
            Source::Path(path) => path.display().to_string(),
            Source::Bytes { name, .. } => name.clone(),
        }
    }
}

/// The fields of a staff member a request sets; absent ones stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffFields {
    pub name: Option<String>,
    pub department: Option<Id>,
    /// Replaces every skill (an empty list clears them).
    pub skills: Option<Vec<Id>>,
    /// Contracted maximum, in minutes a week.
    pub max_minutes_week: Option<u32>,
    pub employment_start: Option<Date>,
    pub employment_end: Option<Date>,
    pub active: Option<bool>,
}

/// The fields of a shift a request sets; absent ones stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShiftFields {
    pub date: Option<Date>,
    pub start: Option<Time>,
    pub end: Option<Time>,
    pub department: Option<Id>,
    pub capacity: Option<u32>,
    pub min_staff: Option<u32>,
    /// Replaces every required skill (an empty list clears them).
    pub skills: Option<Vec<Id>>,
    pub label: Option<String>,
    /// An end equal to the start is meant: a shift of 24 hours.
    #[serde(default)]
    pub whole_day: bool,
}

/// The days a schedule view covers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Day(Date),
    /// The week (Monday to Sunday) that holds the date.
    Week(Date),
    /// The month that holds the date.
    Month(Date),
    /// The week that holds today, in the site's zone.
    #[default]
    ThisWeek,
    /// Any range of days, both ends included.
    Range {
        from: Date,
        to: Date,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Json,
    Csv,
    Ics,
}

/// Which open conflicts a listing shows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictFilter {
    pub kind: Option<Kind>,
    pub severity: Option<Severity>,
    /// Only those dated on or after this day (and those about no shift).
    #[serde(default)]
    pub from: Option<Date>,
    /// Only those dated on or before this day (and those about no shift).
    #[serde(default)]
    pub to: Option<Date>,
    /// At most this many, errors first.
    #[serde(default)]
    pub limit: Option<usize>,
    /// Only those about this staff member.
    #[serde(default)]
    pub staff: Option<Id>,
    /// Only those about a shift or staff member of this department.
    #[serde(default)]
    pub department: Option<Id>,
    /// Counts by day and kind instead of the conflicts themselves.
    #[serde(default)]
    pub summary: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    Status,
    Peers,
    PeerTrust {
        peer_id: String,
        name: Option<String>,
    },
    PeerRevoke {
        peer_id: String,
    },
    /// Dismisses a pending machine on the running node.
    PeerForget {
        peer_id: String,
    },
    Invite {
        expires_minutes: i64,
    },
    DepartmentAdd {
        id: Id,
        name: String,
        time_zone: Option<String>,
    },
    DepartmentList,
    DepartmentUpdate {
        id: Id,
        name: Option<String>,
        /// A zone name, or "" for the site's zone.
        time_zone: Option<String>,
    },
    DepartmentRemove {
        id: Id,
    },
    StaffAdd {
        id: Id,
        #[serde(flatten)]
        fields: StaffFields,
    },
    StaffList,
    StaffShow {
        id: Id,
    },
    StaffUpdate {
        id: Id,
        #[serde(flatten)]
        fields: StaffFields,
    },
    StaffRemove {
        id: Id,
        #[serde(default)]
        force: bool,
    },
    ShiftAdd {
        id: Id,
        #[serde(flatten)]
        fields: ShiftFields,
    },
    ShiftList {
        from: Option<Date>,
        to: Option<Date>,
        department: Option<Id>,
    },
    ShiftShow {
        id: Id,
    },
    /// Copies a range of days' shifts to another range.
    ShiftCopy(crate::plan::CopySpec),
    /// Repeats a shift as a template on the days a rule picks.
    ShiftRepeat(crate::plan::RepeatSpec),
    ShiftUpdate {
        id: Id,
        #[serde(flatten)]
        fields: ShiftFields,
    },
    ShiftRemove {
        id: Id,
        #[serde(default)]
        force: bool,
    },
    Assign {
        staff: Id,
        shift: Id,
        role: Option<String>,
        note: Option<String>,
        /// Write nothing; report what the assignment would cause.
        #[serde(default)]
        check: bool,
    },
    Unassign {
        staff: Id,
        shift: Id,
    },
    AvailabilityAdd {
        staff: Id,
        from: DateTime,
        to: DateTime,
        kind: AvailabilityKind,
        reason: Option<String>,
    },
    AvailabilityList {
        staff: Option<Id>,
    },
    AvailabilityRemove {
        id: Id,
    },
    Schedule {
        #[serde(default)]
        period: Period,
        department: Option<Id>,
        staff: Option<Id>,
    },
    /// Who is on duty now, and who comes on next.
    Now {
        #[serde(default)]
        department: Option<Id>,
    },
    /// Who could take a shift, and who nearly could.
    Cover {
        shift: Id,
    },
    Conflicts(ConflictFilter),
    ConflictShow {
        id: String,
    },
    Resolve {
        id: String,
        option: String,
        staff: Option<Id>,
        value: Option<String>,
    },
    Ack {
        id: String,
        note: Option<String>,
    },
    /// Undoes one change (as `history` shows it, by a unique prefix of its hash) with a new
    /// change.
    Revert {
        change: String,
    },
    /// Undoes everything the last merge of a backup on this machine brought.
    RevertLastMerge,
    /// Undoes, change by change, what a revoked machine wrote after its revocation (or a
    /// machine whose admission is void wrote at all).
    RevertAfterRevocation {
        machine: String,
    },
    History {
        limit: usize,
        #[serde(flatten)]
        filter: shiftmesh_model::history::HistoryFilter,
    },
    Import {
        files: Vec<Source>,
    },
    Export {
        format: ExportFormat,
        staff: Option<Id>,
        department: Option<Id>,
        /// A file (json, ics) or directory (csv) on this machine; None returns the content.
        out: Option<PathBuf>,
    },
    Backup {
        /// A file on this machine; None returns the bytes.
        file: Option<PathBuf>,
    },
    /// The backups the node wrote by itself (config.toml's `[backup]`).
    BackupList,
    /// Checks this machine the way a support person would.
    Doctor,
    Restore {
        source: Source,
    },
    Merge {
        source: Source,
    },
    AccountAdd {
        login: Id,
        name: Option<String>,
        role: Role,
        staff: Option<Id>,
        /// The password in clear, hashed at once (argon2id); None: none yet.
        password: Option<String>,
    },
    AccountList,
    AccountPasswd {
        login: Id,
        password: String,
    },
    AccountDisable {
        login: Id,
    },
    /// Checks a login and password (the HTTP API's sign-in); answered with the account.
    SignIn {
        login: String,
        password: String,
    },
}

impl Request {
    /// What the request does, in a few words, for messages ("assign", "staff add").
    pub fn describe(&self) -> &'static str {
        match self {
            Request::Status => "status",
            Request::Peers => "peers",
            Request::PeerTrust { .. } => "peers trust",
            Request::PeerRevoke { .. } => "peers revoke",
            Request::PeerForget { .. } => "peers forget",
            Request::Invite { .. } => "invite",
            Request::DepartmentAdd { .. } => "department add",
            Request::DepartmentList => "department list",
            Request::DepartmentUpdate { .. } => "department update",
            Request::DepartmentRemove { .. } => "department remove",
            Request::StaffAdd { .. } => "staff add",
            Request::StaffList => "staff list",
            Request::StaffShow { .. } => "staff show",
            Request::StaffUpdate { .. } => "staff update",
            Request::StaffRemove { .. } => "staff remove",
            Request::ShiftAdd { .. } => "shift add",
            Request::ShiftList { .. } => "shift list",
            Request::ShiftShow { .. } => "shift show",
            Request::ShiftCopy(_) => "shift copy",
            Request::ShiftRepeat(_) => "shift repeat",
            Request::ShiftUpdate { .. } => "shift update",
            Request::ShiftRemove { .. } => "shift remove",
            Request::Assign { check: true, .. } => "assign --check",
            Request::Assign { .. } => "assign",
            Request::Unassign { .. } => "unassign",
            Request::AvailabilityAdd { .. } => "availability add",
            Request::AvailabilityList { .. } => "availability list",
            Request::AvailabilityRemove { .. } => "availability remove",
            Request::Schedule { .. } => "schedule",
            Request::Now { .. } => "now",
            Request::Cover { .. } => "cover",
            Request::Conflicts(_) => "conflicts",
            Request::ConflictShow { .. } => "conflicts show",
            Request::Resolve { .. } => "resolve",
            Request::Ack { .. } => "ack",
            Request::Revert { .. } => "revert",
            Request::RevertLastMerge => "revert --last-merge",
            Request::RevertAfterRevocation { .. } => "revert --after-revocation",
            Request::History { .. } => "history",
            Request::Import { .. } => "import",
            Request::Export { .. } => "export",
            Request::Backup { .. } => "backup",
            Request::BackupList => "backup list",
            Request::Doctor => "doctor",
            Request::Restore { .. } => "restore",
            Request::Merge { .. } => "merge",
            Request::AccountAdd { .. } => "account add",
            Request::AccountList => "account list",
            Request::AccountPasswd { .. } => "account passwd",
            Request::AccountDisable { .. } => "account disable",
            Request::SignIn { .. } => "sign in",
        }
    }

    /// Whether the request only reads (any signed-in account may make it).
    pub fn is_read(&self) -> bool {
        matches!(
            self,
            Request::Status
                | Request::Peers
                | Request::DepartmentList
                | Request::StaffList
                | Request::StaffShow { .. }
                | Request::ShiftList { .. }
                | Request::ShiftShow { .. }
                | Request::Assign { check: true, .. }
                | Request::AvailabilityList { .. }
                | Request::Schedule { .. }
                | Request::Now { .. }
                | Request::Cover { .. }
                | Request::Conflicts(_)
                | Request::ConflictShow { .. }
                | Request::History { .. }
                | Request::Export { out: None, .. }
                | Request::SignIn { .. }
        )
    }

    /// Whether only the machine's owner may make it: the site's membership, its key (an invite
    /// carries it), its accounts, and replacing or copying the whole schedule.
    pub fn owner_only(&self) -> bool {
        matches!(
            self,
            Request::PeerTrust { .. }
                | Request::PeerRevoke { .. }
                | Request::RevertAfterRevocation { .. }
                | Request::PeerForget { .. }
                | Request::Invite { .. }
                | Request::Restore { .. }
                | Request::Backup { .. }
                | Request::BackupList
                | Request::Doctor
                | Request::AccountAdd { .. }
                | Request::AccountList
                | Request::AccountPasswd { .. }
                | Request::AccountDisable { .. }
        )
    }
}
