//! The command line, exactly as `cli.md` writes it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use jiff::civil::{Date, DateTime, Time};
use shiftmesh_model::time::{parse_date, parse_datetime, parse_month, parse_time};
use shiftmesh_model::{AvailabilityKind, Id, SiteZone};

const EXAMPLES: &str = "\
Examples:
  shiftmesh node                        # run this machine's node (initialises on first run)
  shiftmesh invite                      # on a machine of the site: prints an invite
  shiftmesh init --join INVITE && shiftmesh node   # on a new machine
  shiftmesh init --name 'City Museum' --time-zone Europe/Berlin
  shiftmesh staff add sarah --name 'Sarah Lee' --skill guide --max-hours-week 38
  shiftmesh shift add mon-am-exhibits --date 2026-11-23 --start 09:00 --end 13:00 --capacity 2
  shiftmesh assign sarah mon-am-exhibits
  shiftmesh schedule --week 2026-11-23
  shiftmesh history --entity sarah
  shiftmesh backup monday.automerge && shiftmesh merge colleague.automerge";

#[derive(Debug, Parser)]
#[command(
    name = "shiftmesh",
    version,
    about = "Keeps a staff schedule in sync between the machines of a site, with no central server.",
    after_help = EXAMPLES
)]
pub struct Cli {
    /// The node's directory (identity, config, store) [default: $XDG_DATA_HOME/shiftmesh]
    #[arg(long, global = true, env = "SHIFTMESH_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Print machine-readable JSON on stdout
    #[arg(long, global = true)]
    pub json: bool,
    /// Who makes the change, recorded in the history [default: the OS user]
    #[arg(
        long = "as",
        global = true,
        env = "SHIFTMESH_USER",
        value_name = "NAME"
    )]
    pub as_user: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create this node's data directory: identity, site name and time zone
    Init(InitArgs),
    /// Run this machine's node: sync with the site's other machines until SIGINT or SIGTERM
    Node(NodeArgs),
    /// This node and the mesh: peer id, listen addresses, peers, heads, changes, conflicts
    Status,
    /// Print an invite that lets one more machine join this site ('init --join INVITE')
    Invite(InviteArgs),
    /// The site's machines (members, pending, revoked): connected or not, last sync, how far
    /// behind; trust or revoke one
    Peers {
        #[command(subcommand)]
        command: Option<PeersCommand>,
    },
    /// Follow the running node's live events, one JSON object per line
    Events,
    /// Departments of the site
    #[command(subcommand)]
    Department(DepartmentCommand),
    /// Staff members
    #[command(subcommand)]
    Staff(StaffCommand),
    /// Shifts (time slots with capacity and minimum staffing)
    #[command(subcommand)]
    Shift(ShiftCommand),
    /// Assign a staff member to a shift
    Assign(AssignArgs),
    /// Remove a staff member from a shift
    Unassign(UnassignArgs),
    /// Unavailability, leave and preferences of staff
    #[command(subcommand)]
    Availability(AvailabilityCommand),
    /// The schedule as a day, week or month, with coverage (assigned / minimum / capacity)
    Schedule(ScheduleArgs),
    /// The semantic conflicts of the schedule (double-booking, capacity, leave…), the same on
    /// every node
    Conflicts(ConflictsArgs),
    /// Resolve a conflict with one of its options (a change that syncs like any other)
    Resolve(ResolveArgs),
    /// Acknowledge a warning; the acknowledgement lapses when the data it covers changes
    Ack(AckArgs),
    /// Who changed what, when, on which node, with field-level before and after
    History(HistoryArgs),
    /// Import staff, departments, shifts, assignments and availability from CSV files
    Import(ImportArgs),
    /// Export the schedule as JSON, CSV (five files) or iCalendar
    Export(ExportArgs),
    /// Write the whole schedule, with its history, to one file
    Backup(BackupArgs),
    /// Replace this node's schedule with a backup
    Restore(RestoreArgs),
    /// Add every change of another node's backup that this node lacks (sync by file)
    Merge(MergeArgs),
    /// Print a one-time link that opens this machine's page signed in as its owner (needs the
    /// node running)
    Ui,
    /// Sign-in accounts for the page: managers edit the schedule, staff see it and manage
    /// their own availability and leave
    #[command(subcommand)]
    Account(AccountCommand),
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Add an account; its password is asked for (or read from stdin with --password-stdin)
    Add {
        #[arg(value_name = "LOGIN", value_parser = parse_id)]
        login: Id,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The staff member the account belongs to (a staff account changes their leave)
        #[arg(long, value_name = "ID", value_parser = parse_id)]
        staff: Option<Id>,
        /// The name shown for the account [default: the login]
        #[arg(long)]
        name: Option<String>,
        /// Read the password from the first line of stdin instead of asking
        #[arg(long)]
        password_stdin: bool,
        /// Create the account without a password (it cannot sign in until 'account passwd')
        #[arg(long, conflicts_with = "password_stdin")]
        no_password: bool,
    },
    /// List the accounts (never their passwords)
    List,
    /// Set an account's password (asked for, or read from stdin with --password-stdin)
    Passwd {
        #[arg(value_name = "LOGIN", value_parser = parse_id)]
        login: Id,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable an account: it can no longer sign in on any machine of the site
    Disable {
        #[arg(value_name = "LOGIN", value_parser = parse_id)]
        login: Id,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Manager,
    Staff,
}

#[derive(Debug, Args, Default)]
pub struct InitArgs {
    /// The site's name
    #[arg(long, value_name = "SITE_NAME")]
    pub name: Option<String>,
    /// The site's IANA time zone [default: the machine's]
    #[arg(long, value_name = "ZONE", value_parser = parse_zone)]
    pub time_zone: Option<SiteZone>,
    /// This node's name, recorded with every change it makes [default: the host name]
    #[arg(long, value_name = "NAME")]
    pub node_name: Option<String>,
    /// Join an existing site with an invite from one of its machines ('shiftmesh invite');
    /// the site's name and time zone then come from the site
    #[arg(long, value_name = "INVITE", conflicts_with_all = ["name", "time_zone"])]
    pub join: Option<String>,
}

#[derive(Debug, Args, Default)]
pub struct NodeArgs {
    /// Where to listen [default: /ip4/0.0.0.0/tcp/4780, or any free port if it is taken]
    #[arg(long, value_name = "MULTIADDR")]
    pub listen: Vec<String>,
    /// A peer to dial and keep dialing, e.g. /ip4/192.168.1.20/tcp/4780 (repeatable)
    #[arg(long, value_name = "MULTIADDR")]
    pub peer: Vec<String>,
    /// Do not look for peers on the LAN with mDNS
    #[arg(long)]
    pub no_mdns: bool,
    /// Where the page and the HTTP API listen [default: 127.0.0.1:4781]; an address other
    /// machines can reach needs a manager account with a password first
    #[arg(long, value_name = "ADDR:PORT")]
    pub ui_listen: Option<std::net::SocketAddr>,
    /// Serve no page and no HTTP API
    #[arg(long, conflicts_with = "ui_listen")]
    pub no_ui: bool,
}

#[derive(Debug, Args)]
pub struct InviteArgs {
    /// How long the invite's one-time join secret stays valid: minutes, hours or days, like
    /// 30m, 24h, 7d (at most 30d)
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = parse_expiry)]
    pub expires: Expiry,
}

/// How long an invite stays valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expiry {
    pub minutes: i64,
}

use shiftmesh_app::MAX_INVITE_MINUTES;

fn parse_expiry(text: &str) -> Result<Expiry, String> {
    let bad = || format!("'{text}' is not a duration like 30m, 24h or 7d");
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: i64 = number.parse().map_err(|_| bad())?;
    let minutes = match unit {
        "m" => n,
        "h" => n.saturating_mul(60),
        "d" => n.saturating_mul(24 * 60),
        _ => return Err(bad()),
    };
    if !(1..=MAX_INVITE_MINUTES).contains(&minutes) {
        return Err(format!(
            "an invite stays valid between 1 minute and 30 days, not '{text}'"
        ));
    }
    Ok(Expiry { minutes })
}

#[derive(Debug, Subcommand)]
pub enum PeersCommand {
    /// List the site's machines and the pending ones (the default)
    List,
    /// Make a machine a member of the site: every node then syncs with it. For a machine shown
    /// as pending ('shiftmesh peers'); a new machine usually joins with an invite instead
    Trust {
        /// Its peer id, as 'shiftmesh peers' or 'shiftmesh status' on it shows
        #[arg(value_name = "PEER_ID")]
        peer_id: String,
        /// A name to show for it [default: machine]
        #[arg(long)]
        name: Option<String>,
    },
    /// Revoke a member (a lost, stolen or retired machine): every node that learns of it
    /// closes its connections and refuses it from then on
    Revoke {
        #[arg(value_name = "PEER_ID")]
        peer_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DepartmentCommand {
    /// Add a department
    Add {
        #[arg(value_parser = parse_id)]
        id: Id,
        #[arg(long)]
        name: String,
        /// Its IANA time zone, if not the site's
        #[arg(long, value_name = "ZONE", value_parser = parse_zone)]
        time_zone: Option<SiteZone>,
    },
    /// List departments
    List,
}

#[derive(Debug, Args, Default)]
pub struct StaffFields {
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long, value_name = "ID", value_parser = parse_id)]
    pub department: Option<Id>,
    /// A skill (repeat for several); on update, the given skills replace the old ones
    #[arg(long = "skill", value_name = "S", value_parser = parse_id)]
    pub skills: Vec<Id>,
    /// Remove every skill (on update)
    #[arg(long, conflicts_with = "skills")]
    pub no_skills: bool,
    /// Contracted maximum hours a week (decimals allowed)
    #[arg(long, value_name = "H", value_parser = shiftmesh_app::parse_hours)]
    pub max_hours_week: Option<u32>,
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date_arg)]
    pub employment_start: Option<Date>,
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date_arg)]
    pub employment_end: Option<Date>,
    /// Whether the person can be scheduled
    #[arg(long, value_name = "true|false")]
    pub active: Option<bool>,
}

#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Add a staff member
    Add {
        #[arg(value_parser = parse_id)]
        id: Id,
        #[command(flatten)]
        fields: StaffFields,
    },
    /// List staff members
    List,
    /// Show one staff member, with their assignments and availability
    Show {
        #[arg(value_parser = parse_id)]
        id: Id,
    },
    /// Change a staff member (only the given fields change)
    Update {
        #[arg(value_parser = parse_id)]
        id: Id,
        #[command(flatten)]
        fields: StaffFields,
    },
    /// Remove a staff member
    Remove {
        #[arg(value_parser = parse_id)]
        id: Id,
        /// Also remove their assignments
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Args, Default)]
pub struct ShiftFields {
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date_arg)]
    pub date: Option<Date>,
    /// Start time; an end at or before the start means the shift ends the next day
    #[arg(long, value_name = "HH:MM", value_parser = parse_time_arg)]
    pub start: Option<Time>,
    #[arg(long, value_name = "HH:MM", value_parser = parse_time_arg)]
    pub end: Option<Time>,
    #[arg(long, value_name = "ID", value_parser = parse_id)]
    pub department: Option<Id>,
    /// How many people the shift takes [default: 1]
    #[arg(long, value_name = "N")]
    pub capacity: Option<u32>,
    /// How many people the shift needs [default: 1]
    #[arg(long, value_name = "N")]
    pub min_staff: Option<u32>,
    /// A required skill (repeat for several); on update, replaces the old ones
    #[arg(long = "skill", value_name = "S", value_parser = parse_id)]
    pub skills: Vec<Id>,
    /// Remove every required skill (on update)
    #[arg(long, conflicts_with = "skills")]
    pub no_skills: bool,
    #[arg(long, value_name = "TEXT")]
    pub label: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ShiftCommand {
    /// Add a shift
    Add {
        #[arg(value_parser = parse_id)]
        id: Id,
        #[command(flatten)]
        fields: ShiftFields,
    },
    /// List shifts, by date
    List {
        #[arg(long, value_name = "DATE", value_parser = parse_date_arg)]
        from: Option<Date>,
        #[arg(long, value_name = "DATE", value_parser = parse_date_arg)]
        to: Option<Date>,
        #[arg(long, value_name = "ID", value_parser = parse_id)]
        department: Option<Id>,
    },
    /// Show one shift, with who is assigned
    Show {
        #[arg(value_parser = parse_id)]
        id: Id,
    },
    /// Change a shift (only the given fields change)
    Update {
        #[arg(value_parser = parse_id)]
        id: Id,
        #[command(flatten)]
        fields: ShiftFields,
    },
    /// Remove a shift
    Remove {
        #[arg(value_parser = parse_id)]
        id: Id,
        /// Also remove its assignments
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Args)]
pub struct AssignArgs {
    #[arg(value_name = "STAFF_ID", value_parser = parse_id)]
    pub staff: Id,
    #[arg(value_name = "SHIFT_ID", value_parser = parse_id)]
    pub shift: Id,
    #[arg(long)]
    pub role: Option<String>,
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    /// Write nothing; list the conflicts the assignment would cause (exit 1 if any is an error)
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args, Clone, Default)]
pub struct ConflictFilter {
    /// Only conflicts of this kind (double-booking, capacity-exceeded, staff-unavailable, …)
    #[arg(long, value_name = "KIND", value_parser = parse_kind)]
    pub kind: Option<shiftmesh_rules::Kind>,
    /// Only errors or only warnings
    #[arg(long, value_name = "error|warning", value_parser = parse_severity)]
    pub severity: Option<shiftmesh_rules::Severity>,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ConflictsArgs {
    #[command(subcommand)]
    pub command: Option<ConflictsCommand>,
    #[command(flatten)]
    pub filter: ConflictFilter,
}

#[derive(Debug, Subcommand)]
pub enum ConflictsCommand {
    /// List the open conflicts, errors first
    List {
        #[command(flatten)]
        filter: ConflictFilter,
    },
    /// One conflict: what, why, the entities, each option and what it would do, substitutes
    Show {
        #[arg(value_name = "CONFLICT_ID")]
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    #[arg(value_name = "CONFLICT_ID")]
    pub id: String,
    /// One of the conflict's options (conflicts show lists them)
    #[arg(value_name = "OPTION")]
    pub option: String,
    /// The substitute, for find-substitute
    #[arg(long, value_name = "ID", value_parser = parse_id)]
    pub staff: Option<Id>,
    /// The value, for increase-capacity, pick-value and edit-shift
    #[arg(long, value_name = "VALUE")]
    pub value: Option<String>,
}

#[derive(Debug, Args)]
pub struct AckArgs {
    #[arg(value_name = "CONFLICT_ID")]
    pub id: String,
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
}

#[derive(Debug, Args)]
pub struct UnassignArgs {
    #[arg(value_name = "STAFF_ID", value_parser = parse_id)]
    pub staff: Id,
    #[arg(value_name = "SHIFT_ID", value_parser = parse_id)]
    pub shift: Id,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    Unavailable,
    Leave,
    Undesired,
    Desired,
}

impl From<KindArg> for AvailabilityKind {
    fn from(kind: KindArg) -> Self {
        match kind {
            KindArg::Unavailable => AvailabilityKind::Unavailable,
            KindArg::Leave => AvailabilityKind::Leave,
            KindArg::Undesired => AvailabilityKind::Undesired,
            KindArg::Desired => AvailabilityKind::Desired,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum AvailabilityCommand {
    /// Record when a staff member is unavailable, on leave, or would (not) like to work
    Add {
        #[arg(value_name = "STAFF_ID", value_parser = parse_id)]
        staff: Id,
        /// Start, in the site's time zone
        #[arg(long, value_name = "YYYY-MM-DDTHH:MM", value_parser = parse_datetime_arg)]
        from: DateTime,
        /// End (exclusive), in the site's time zone
        #[arg(long, value_name = "YYYY-MM-DDTHH:MM", value_parser = parse_datetime_arg)]
        to: DateTime,
        #[arg(long, value_enum, default_value = "unavailable")]
        kind: KindArg,
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
    /// List availability entries
    List {
        #[arg(long, value_name = "ID", value_parser = parse_id)]
        staff: Option<Id>,
    },
    /// Remove an availability entry
    Remove {
        #[arg(value_parser = parse_id)]
        id: Id,
    },
}

#[derive(Debug, Args)]
#[group(multiple = false)]
pub struct Period {
    /// One day
    #[arg(long, value_name = "DATE", value_parser = parse_date_arg)]
    pub day: Option<Date>,
    /// The week (Monday to Sunday) that holds DATE [default: this week]
    #[arg(long, value_name = "DATE", value_parser = parse_date_arg)]
    pub week: Option<Date>,
    /// One month
    #[arg(long, value_name = "YYYY-MM", value_parser = parse_month_arg)]
    pub month: Option<Date>,
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    #[command(flatten)]
    pub period: Period,
    #[arg(long, value_name = "ID", value_parser = parse_id)]
    pub department: Option<Id>,
    #[arg(long, value_name = "ID", value_parser = parse_id)]
    pub staff: Option<Id>,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// How many changes to show, newest first
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,
    /// Only changes that touched this entity (or an assignment of it)
    #[arg(long, value_name = "ID")]
    pub entity: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ImportFormat {
    Csv,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[arg(long, value_enum)]
    pub format: ImportFormat,
    /// One or more CSV files; each file's header row says what it holds
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ExportFormat {
    Json,
    Csv,
    Ics,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Only this staff member's shifts (ics)
    #[arg(long, value_name = "ID", value_parser = parse_id)]
    pub staff: Option<Id>,
    /// Only this department's shifts (ics)
    #[arg(long, value_name = "ID", value_parser = parse_id)]
    pub department: Option<Id>,
    /// Where to write: a file (json, ics) or a directory (csv) [default: stdout; csv needs it]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Do not ask before replacing the schedule
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

fn parse_id(text: &str) -> Result<Id, String> {
    Id::parse(text).map_err(|e| e.to_string())
}

fn parse_kind(text: &str) -> Result<shiftmesh_rules::Kind, String> {
    shiftmesh_rules::Kind::parse(text).ok_or_else(|| {
        let kinds: Vec<&str> = shiftmesh_rules::Kind::ALL
            .iter()
            .map(|k| k.as_str())
            .collect();
        format!("'{text}' is not a conflict kind ({})", kinds.join(", "))
    })
}

fn parse_severity(text: &str) -> Result<shiftmesh_rules::Severity, String> {
    shiftmesh_rules::Severity::parse(text)
        .ok_or_else(|| format!("'{text}' is not a severity (error or warning)"))
}

fn parse_zone(text: &str) -> Result<SiteZone, String> {
    SiteZone::parse(text).map_err(|e| e.to_string())
}

fn parse_date_arg(text: &str) -> Result<Date, String> {
    parse_date(text).map_err(|e| e.to_string())
}

fn parse_time_arg(text: &str) -> Result<Time, String> {
    parse_time(text).map_err(|e| e.to_string())
}

fn parse_datetime_arg(text: &str) -> Result<DateTime, String> {
    parse_datetime(text).map_err(|e| e.to_string())
}

fn parse_month_arg(text: &str) -> Result<Date, String> {
    parse_month(text).map_err(|e| e.to_string())
}
