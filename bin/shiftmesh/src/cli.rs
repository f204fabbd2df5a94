//! The command line, exactly as `cli.md` writes it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use jiff::civil::{Date, DateTime, Time};
use shiftmesh_model::time::{parse_clock, parse_day, parse_moment, parse_month};
use shiftmesh_model::{AvailabilityKind, Id, SiteZone};

const EXAMPLES: &str = "\
Examples:
  shiftmesh node                        # run this machine's node (initialises on first run)
  shiftmesh invite                      # on a machine of the site: prints an invite
  shiftmesh init --join - && shiftmesh node   # on a new machine: paste the invite
  shiftmesh init --name 'City Museum' --time-zone Europe/Berlin
  shiftmesh staff add sarah --name 'Sarah Lee' --skill guide --max-hours-week 38
  shiftmesh shift add mon-am-exhibits --date 2026-11-23 --start 09:00 --end 13:00 --capacity 2
  shiftmesh assign sarah mon-am-exhibits
  shiftmesh schedule --week 2026-11-23
  shiftmesh history --entity sarah
  shiftmesh backup monday.automerge && shiftmesh merge colleague.automerge";

/// The heading the flags every command takes are listed under, apart from the command's own.
const GLOBAL: &str = "Global options";

/// An example for each command without one of its own, shown at the end of its `--help`.
const COMMAND_EXAMPLES: &[(&str, &str)] = &[
    ("init", "shiftmesh init --name 'City Clinic' --time-zone Europe/Berlin\n  shiftmesh init --join -   # then paste the line 'shiftmesh invite' printed on a machine of the site\n  shiftmesh init --join invite.txt   # or read it from a file"),
    ("node", "shiftmesh node\n  shiftmesh node --ui-listen 0.0.0.0:4781 --peer /ip4/192.168.1.20/tcp/4780"),
    ("status", "shiftmesh status\n  shiftmesh status --json"),
    ("invite", "shiftmesh invite --expires 2h > invite.txt"),
    ("peers", "shiftmesh peers"),
    ("peers list", "shiftmesh peers list --json"),
    ("peers trust", "shiftmesh peers trust 12D3KooWQ4zR6cYyUoh1sVv8hVJ9jHX8fNnGwU3dA2tKxPe5mBcL --name back-office"),
    ("peers revoke", "shiftmesh peers revoke back-office"),
    ("peers forget", "shiftmesh peers forget 12D3KooWQ4zR"),
    ("events", "shiftmesh events\n  shiftmesh events | jq .type"),
    ("department add", "shiftmesh department add ward --name 'Ward' --time-zone Europe/Berlin"),
    ("department list", "shiftmesh department list"),
    ("department remove", "shiftmesh department remove old-wing"),
    ("staff add", "shiftmesh staff add ana --name 'Ana Ruiz' --department ward --skill nurse --max-hours-week 38.5"),
    ("staff list", "shiftmesh staff list --json"),
    ("staff show", "shiftmesh staff show ana"),
    ("staff update", "shiftmesh staff update ana --max-hours-week 30 --skill nurse --skill triage"),
    ("staff remove", "shiftmesh staff remove ana --force"),
    ("shift add", "shiftmesh shift add ward-early --date tomorrow --start 6:00 --end 14:00 --department ward --capacity 2"),
    ("shift list", "shiftmesh shift list --from today --to +6d --department ward"),
    ("shift show", "shiftmesh shift show ward-early"),
    ("shift update", "shiftmesh shift update ward-early --start 7:00 --capacity 3"),
    ("shift remove", "shiftmesh shift remove ward-early --force"),
    ("assign", "shiftmesh assign ana ward-early --check   # look first\n  shiftmesh assign ana ward-early"),
    ("unassign", "shiftmesh unassign ana ward-early"),
    ("availability add", "shiftmesh availability add ana --from 2026-12-20 --to 2026-12-24 --kind leave --reason holiday\n  shiftmesh availability add ana --from tomorrowT12:00 --to tomorrowT18:00"),
    ("availability list", "shiftmesh availability list --staff ana"),
    ("availability remove", "shiftmesh availability remove a-20261220-ana"),
    ("schedule", "shiftmesh schedule                       # this week\n  shiftmesh schedule --week next --department ward\n  shiftmesh schedule --day today --staff ana"),
    ("conflicts", "shiftmesh conflicts --summary\n  shiftmesh conflicts --from today --to +7d --department ward\n  shiftmesh conflicts show 3f9a"),
    ("conflicts list", "shiftmesh conflicts list --severity error"),
    ("conflicts show", "shiftmesh conflicts show 3f9a"),
    ("resolve", "shiftmesh resolve 3f9a remove-assignment\n  shiftmesh resolve 3f9a find-substitute --staff ben\n  shiftmesh resolve 3f9a pick-value --value 10:00-16:00"),
    ("ack", "shiftmesh ack 7c21 --note 'agreed with Ana'"),
    ("import", "shiftmesh import --format csv staff.csv shifts.csv assignments.csv"),
    ("export", "shiftmesh export --format csv --out backup-dir\n  shiftmesh export --format ics --staff ana --out ana.ics"),
    ("backup", "shiftmesh backup monday.automerge\n  shiftmesh backup list"),
    ("backup list", "shiftmesh backup list --json"),
    ("doctor", "shiftmesh doctor\n  shiftmesh doctor --json | jq '.[] | select(.warning)'"),
    ("service", "shiftmesh service install\n  shiftmesh service status"),
    ("service install", "shiftmesh service install            # a user service\n  sudo shiftmesh service install       # a system service, its own user, data in /var/lib/shiftmesh"),
    ("service uninstall", "shiftmesh service uninstall"),
    ("service status", "shiftmesh service status"),
    ("completions", "shiftmesh completions bash > ~/.local/share/bash-completion/completions/shiftmesh"),
    ("man", "shiftmesh man target/man && man target/man/shiftmesh.1"),
    ("restore", "shiftmesh restore monday.automerge --yes"),
    ("merge", "shiftmesh merge colleague.automerge"),
    ("ui", "shiftmesh ui"),
    ("account add", "shiftmesh account add maria --role manager\n  shiftmesh account add ana --role staff --staff ana --password-stdin < pw.txt"),
    ("account list", "shiftmesh account list"),
    ("account passwd", "shiftmesh account passwd maria"),
    ("account disable", "shiftmesh account disable maria"),
];

/// The command line's definition, with an example at the end of every command's help.
pub fn command() -> clap::Command {
    let mut command = <Cli as clap::CommandFactory>::command();
    for (path, example) in COMMAND_EXAMPLES {
        let names: Vec<&str> = path.split(' ').collect();
        command = with_example(command, &names, example);
    }
    command
}

fn with_example(command: clap::Command, path: &[&str], example: &str) -> clap::Command {
    match path {
        [] => {
            if command.get_after_help().is_some() {
                command
            } else {
                let lead = if example.contains('\n') {
                    "Examples:"
                } else {
                    "Example:"
                };
                command.after_help(format!("{lead}\n  {example}"))
            }
        }
        [first, rest @ ..] => {
            command.mut_subcommand(*first, |sub| with_example(sub, rest, example))
        }
    }
}

/// Parses the process's arguments against [`command`].
pub fn parse() -> Result<Cli, clap::Error> {
    let matches = command().try_get_matches()?;
    <Cli as clap::FromArgMatches>::from_arg_matches(&matches)
}

#[derive(Debug, Parser)]
#[command(
    name = "shiftmesh",
    version,
    about = "Keeps a staff schedule in sync between the machines of a site, with no central server.",
    after_help = EXAMPLES
)]
pub struct Cli {
    /// The node's directory (identity, config, store) [default: $XDG_DATA_HOME/shiftmesh]
    #[arg(
        long,
        global = true,
        env = "SHIFTMESH_DATA_DIR",
        value_name = "DIR",
        help_heading = GLOBAL
    )]
    pub data_dir: Option<PathBuf>,
    /// Print machine-readable JSON on stdout
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,
    /// Who makes the change, recorded in the history beside the OS account running the command
    /// when it is another [default: the OS user]
    #[arg(
        long = "as",
        global = true,
        env = "SHIFTMESH_USER",
        value_name = "NAME",
        help_heading = GLOBAL
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
    /// Follow the running node's live events: a line each at a terminal; one JSON object per
    /// line when piped or with --json
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
    /// Who is on duty at this moment, and which shifts start next
    #[command(after_help = "Example:\n  shiftmesh now --department ward")]
    Now {
        /// Only this department's shifts
        #[arg(long, value_name = "ID", value_parser = parse_id)]
        department: Option<Id>,
    },
    /// Who could take a shift (someone is sick): ranked as find-substitute ranks, then the
    /// near-misses and why each misses
    #[command(after_help = "Example:\n  shiftmesh cover mon-night")]
    Cover {
        #[arg(value_name = "SHIFT_ID", value_parser = parse_id)]
        shift: Id,
    },
    /// The semantic conflicts of the schedule (double-booking, capacity, leave…), the same on
    /// every node
    Conflicts(ConflictsArgs),
    /// Resolve a conflict with one of its options (a change that syncs like any other)
    Resolve(ResolveArgs),
    /// Acknowledge a warning; the acknowledgement lapses when the data it covers changes
    Ack(AckArgs),
    /// Who changed what, when, on which node, with field-level before and after
    History(HistoryArgs),
    /// Undo one change (an edit, a whole import, a resolution) with a new change that writes
    /// back what it replaced; refused where a later change rewrote the same thing
    #[command(alias = "undo")]
    Revert(RevertArgs),
    /// Import staff, departments, shifts, assignments and availability from CSV files
    Import(ImportArgs),
    /// Export the schedule as JSON, CSV (five files) or iCalendar
    Export(ExportArgs),
    /// Run the node as a systemd service that starts with the machine: a user service, or
    /// (as root) a system service with its own user and /var/lib/shiftmesh
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Print the shell completion script for bash, zsh, fish, elvish or powershell
    Completions {
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Write the man pages (shiftmesh.1 and one per command) into DIR (for packagers)
    #[command(hide = true)]
    Man {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Check this machine the way a support person would (store, permissions, disk, peers,
    /// backups, time zones), each finding with what to do; exit 1 when something needs
    /// attention
    Doctor,
    /// Write the whole schedule, with its history, to one file; 'backup list' shows the backups
    /// the node writes by itself (config.toml's [backup])
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
        /// manager (edits everything) or staff (sees the schedule, manages their own leave)
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
        /// Read the password from the first line of stdin instead of asking
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
    /// Join an existing site with an invite from one of its machines ('shiftmesh invite'):
    /// '-' reads it from stdin (paste it, then Enter), a path reads it from that file. The
    /// invite itself is taken too, but then other users of this machine can see it while the
    /// command runs, and your shell's history keeps it. The site's name and time zone then
    /// come from the site
    #[arg(long, value_name = "-|FILE|INVITE", conflicts_with_all = ["name", "time_zone"])]
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
    let duration = shiftmesh_app::config::parse_duration(text).ok_or_else(bad)?;
    // An invite's validity is counted in whole minutes.
    if duration.as_secs() % 60 != 0 {
        return Err(bad());
    }
    let minutes = i64::try_from(duration.as_secs() / 60).unwrap_or(i64::MAX);
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
        /// Its whole peer id, as 'shiftmesh peers' (in the line that names a pending machine)
        /// or 'shiftmesh status' on it shows
        #[arg(value_name = "PEER_ID")]
        peer_id: String,
        /// A name to show for it [default: machine]
        #[arg(long)]
        name: Option<String>,
    },
    /// Revoke a member (a lost, stolen or retired machine): every node that learns of it
    /// closes its connections and refuses it from then on
    Revoke {
        /// Its peer id, a unique prefix of a member's id, or a member's name, as 'shiftmesh
        /// peers' shows
        #[arg(value_name = "PEER_ID")]
        peer_id: String,
    },
    /// Dismiss a pending machine (a reused invite leaves one) from the running node's list,
    /// until it connects again
    Forget {
        /// Its peer id or a unique prefix of it
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
        /// The name people see
        #[arg(long)]
        name: String,
        /// Its IANA time zone, if not the site's
        #[arg(long, value_name = "ZONE", value_parser = parse_zone)]
        time_zone: Option<SiteZone>,
    },
    /// List departments
    List,
    /// Rename a department or change its time zone
    #[command(
        after_help = "Example:\n  shiftmesh department update exhibits --name 'Exhibitions' --time-zone Europe/Vienna"
    )]
    Update {
        #[arg(value_parser = parse_id)]
        id: Id,
        /// Its new name
        #[arg(long)]
        name: Option<String>,
        /// Its IANA time zone
        #[arg(long, value_name = "ZONE", value_parser = parse_zone)]
        time_zone: Option<SiteZone>,
        /// Use the site's time zone again
        #[arg(long, conflicts_with = "time_zone")]
        site_time_zone: bool,
    },
    /// Remove a department that no staff member or shift belongs to any more
    Remove {
        #[arg(value_parser = parse_id)]
        id: Id,
    },
}

#[derive(Debug, Args, Default)]
pub struct StaffFields {
    /// Their name as people see it
    #[arg(long)]
    pub name: Option<String>,
    /// The department they belong to
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
    /// Their first working day (YYYY-MM-DD); not scheduled before it
    #[arg(long, allow_hyphen_values = true, value_name = "YYYY-MM-DD", value_parser = parse_date_arg)]
    pub employment_start: Option<Date>,
    /// Their last working day; not scheduled after it
    #[arg(long, allow_hyphen_values = true, value_name = "YYYY-MM-DD", value_parser = parse_date_arg)]
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
    /// Its day: YYYY-MM-DD, today, tomorrow or an offset like +3d
    #[arg(long, allow_hyphen_values = true, value_name = "DAY", value_parser = parse_date_arg)]
    pub date: Option<Date>,
    /// Start time, like 9:00 or 21:30
    #[arg(long, value_name = "HH:MM", value_parser = parse_time_arg)]
    pub start: Option<Time>,
    /// End time; an end before the start means the shift ends the next day
    #[arg(long, value_name = "HH:MM", value_parser = parse_time_arg)]
    pub end: Option<Time>,
    /// Allow an end equal to the start: a shift of 24 hours
    #[arg(long = "24h")]
    pub whole_day: bool,
    /// The department it belongs to
    #[arg(long, value_name = "ID", value_parser = parse_id)]
    pub department: Option<Id>,
    /// How many people the shift takes [default: 1]
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = parse_count)]
    pub capacity: Option<u32>,
    /// How many people the shift needs [default: 1]
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = parse_count)]
    pub min_staff: Option<u32>,
    /// A required skill (repeat for several); on update, replaces the old ones
    #[arg(long = "skill", value_name = "S", value_parser = parse_id)]
    pub skills: Vec<Id>,
    /// Remove every required skill (on update)
    #[arg(long, conflicts_with = "skills")]
    pub no_skills: bool,
    /// A short label shown with it, like "Night watch"
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
        /// The first day to list (YYYY-MM-DD, today, -1w…)
        #[arg(long, allow_hyphen_values = true, value_name = "DATE", value_parser = parse_date_arg)]
        from: Option<Date>,
        /// The last day to list
        #[arg(long, allow_hyphen_values = true, value_name = "DATE", value_parser = parse_date_arg)]
        to: Option<Date>,
        /// Only this department's shifts
        #[arg(long, value_name = "ID", value_parser = parse_id)]
        department: Option<Id>,
    },
    /// Copy the shifts of a range of days to another (with --with-assignments, who works
    /// them too); copying again adds only what is missing
    #[command(
        after_help = "Examples:\n  shiftmesh shift copy --from 2026-11-23 --to 2026-11-29 --onto 2026-11-30\n  shiftmesh shift copy --from this --to +6d --weeks 1 --with-assignments   # this week onto next\n  shiftmesh shift copy --from 2026-12-01 --to 2026-12-28 --weeks 4        # four weeks on"
    )]
    Copy {
        /// The first day to copy (YYYY-MM-DD, today, +3d…; 'this' is this week's Monday)
        #[arg(long, allow_hyphen_values = true, value_name = "DAY", value_parser = parse_copy_start)]
        from: Date,
        /// The last day to copy
        #[arg(long, allow_hyphen_values = true, value_name = "DAY", value_parser = parse_date_arg)]
        to: Date,
        /// The day the first day's shifts land on
        #[arg(long, allow_hyphen_values = true, value_name = "DAY", value_parser = parse_date_arg, required_unless_present = "weeks", conflicts_with = "weeks")]
        onto: Option<Date>,
        /// Move the copies this many weeks later instead (weekdays stay the same)
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=520))]
        weeks: Option<u16>,
        /// Only this department's shifts
        #[arg(long, value_name = "ID", value_parser = parse_id)]
        department: Option<Id>,
        /// Copy who is assigned too
        #[arg(long)]
        with_assignments: bool,
    },
    /// Repeat a shift as a template on the weekdays given, every N weeks, until a day; running
    /// it again adds only what is missing
    #[command(
        after_help = "Examples:\n  shiftmesh shift repeat ward-early --weekdays mon,tue,wed,thu,fri --until 2026-12-31\n  shiftmesh shift repeat sat-late --every-weeks 2 --until +3m --with-assignments"
    )]
    Repeat {
        /// The shift to repeat (its time, department, capacity, skills and label)
        #[arg(value_name = "SHIFT_ID", value_parser = parse_id)]
        shift: Id,
        /// The last day to fill (YYYY-MM-DD, +4w, +1m…)
        #[arg(long, allow_hyphen_values = true, value_name = "DAY", value_parser = parse_date_arg)]
        until: Date,
        /// The first day to fill [default: the day after the shift]
        #[arg(long, allow_hyphen_values = true, value_name = "DAY", value_parser = parse_date_arg)]
        from: Option<Date>,
        /// The weekdays, comma-separated: mon,tue,wed,thu,fri,sat,sun or weekdays, weekend
        /// [default: the shift's own]
        #[arg(long, value_name = "DAYS", value_parser = parse_weekdays)]
        weekdays: Option<Weekdays>,
        /// Every how many weeks, counted from the shift's week
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=52))]
        every_weeks: u8,
        /// Copy who is assigned too
        #[arg(long)]
        with_assignments: bool,
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
    /// The role they take on the shift, like "lead"
    #[arg(long)]
    pub role: Option<String>,
    /// A note kept with the assignment
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
    /// Only those dated on or after this day (YYYY-MM-DD, today, -1w…)
    #[arg(long, allow_hyphen_values = true, value_name = "DAY", value_parser = parse_date_arg)]
    pub from: Option<Date>,
    /// Only those dated on or before this day
    #[arg(long, allow_hyphen_values = true, value_name = "DAY", value_parser = parse_date_arg)]
    pub to: Option<Date>,
    /// Only those about this staff member
    #[arg(long, value_name = "ID", value_parser = parse_id)]
    pub staff: Option<Id>,
    /// Only those about a shift or staff member of this department
    #[arg(long, value_name = "ID", value_parser = parse_id)]
    pub department: Option<Id>,
    /// Counts by day and kind instead of the conflicts
    #[arg(long)]
    pub summary: bool,
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
    /// Why it is all right, for whoever looks next
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
        /// Start, in the site's time zone: a day and time (2026-12-20T09:00) or a day alone
        /// (from its start)
        #[arg(long, allow_hyphen_values = true, value_name = "DAY[THH:MM]", value_parser = parse_from_arg)]
        from: DateTime,
        /// End, in the site's time zone: a day and time (exclusive) or a day alone (to its
        /// end, so --from 2026-12-20 --to 2026-12-24 is five whole days)
        #[arg(long, allow_hyphen_values = true, value_name = "DAY[THH:MM]", value_parser = parse_to_arg)]
        to: DateTime,
        /// What it is: unavailable (a hard no), leave, undesired or desired (preferences)
        #[arg(long, value_enum, default_value = "unavailable")]
        kind: KindArg,
        /// Why, in a few words (shown with it)
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
    /// List availability entries
    List {
        /// Only this staff member's entries
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
    /// One day: YYYY-MM-DD, today, tomorrow, yesterday or an offset like +3d
    #[arg(long, allow_hyphen_values = true, value_name = "DAY", value_parser = parse_date_arg)]
    pub day: Option<Date>,
    /// The week (Monday to Sunday): this, next, last, or any day in it [default: this week]
    #[arg(long, allow_hyphen_values = true, value_name = "WEEK", value_parser = parse_week_arg)]
    pub week: Option<Date>,
    /// One month: this, next, last, YYYY-MM, or any day in it
    #[arg(long, allow_hyphen_values = true, value_name = "MONTH", value_parser = parse_month_arg)]
    pub month: Option<Date>,
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    #[command(flatten)]
    pub period: Period,
    /// Only this department's shifts and people
    #[arg(long, value_name = "ID", value_parser = parse_id)]
    pub department: Option<Id>,
    /// Only this staff member's shifts
    #[arg(long, value_name = "ID", value_parser = parse_id)]
    pub staff: Option<Id>,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  shiftmesh history --entity sarah\n  shiftmesh history --since yesterday --kind import\n  shiftmesh history --author alice@front-desk --limit 50"
)]
pub struct HistoryArgs {
    /// How many changes to show, newest first
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,
    /// Only changes that touched this entity (or an assignment of it)
    #[arg(long, value_name = "ID")]
    pub entity: Option<String>,
    /// Only changes made from this day (or day and time) on, on this machine's clock
    #[arg(long, allow_hyphen_values = true, value_name = "DAY[THH:MM]", value_parser = parse_from_arg)]
    pub since: Option<DateTime>,
    /// Only changes made up to this day (its end) or day and time
    #[arg(long, allow_hyphen_values = true, value_name = "DAY[THH:MM]", value_parser = parse_to_arg)]
    pub until: Option<DateTime>,
    /// Only changes whose author (user@node) contains this
    #[arg(long, value_name = "TEXT")]
    pub author: Option<String>,
    /// Only changes whose message starts with this: import, merge, assign, revert, resolve…
    #[arg(long, value_name = "WORD")]
    pub kind: Option<String>,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  shiftmesh history --kind import     # find the import's change\n  shiftmesh revert 3f9a1c2b7e4d      # undo it\n  shiftmesh revert --last-merge      # undo what the last 'merge FILE' brought"
)]
pub struct RevertArgs {
    /// The change: a unique prefix (6 or more hex digits) of its hash, as 'history' shows
    #[arg(
        value_name = "CHANGE",
        required_unless_present_any = ["last_merge", "after_revocation"]
    )]
    pub change: Option<String>,
    /// Undo everything the last 'shiftmesh merge FILE' on this machine brought, at once
    #[arg(long, conflicts_with_all = ["change", "after_revocation"])]
    pub last_merge: bool,
    /// Undo, change by change, what a revoked MACHINE (peer id, or its name) wrote after its
    /// revocation, not knowing of it; or everything a machine whose admission is void wrote
    #[arg(long, value_name = "MACHINE", conflicts_with = "change")]
    pub after_revocation: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ImportFormat {
    Csv,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The files' format (csv)
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
    /// json (everything), csv (five files, into --out DIR) or ics (a calendar)
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
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct BackupArgs {
    #[command(subcommand)]
    pub list: Option<BackupCommand>,
    /// Where to write the backup (./list for a file named list)
    #[arg(value_name = "FILE", required = true)]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Write and enable the unit, and start the node (a user unit unless run as root)
    Install {
        /// A user unit even when run as root
        #[arg(long)]
        user: bool,
    },
    /// Stop the service and remove its unit (the data stays)
    Uninstall {
        /// The user unit even when run as root
        #[arg(long)]
        user: bool,
    },
    /// Whether the unit is installed, enabled and running
    Status {
        /// The user unit even when run as root
        #[arg(long)]
        user: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// The backups the node wrote by itself, newest first, and where it writes them
    List,
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

/// Today on this machine's clock, which relative days (`today`, `+3d`, `next`) count from.
fn today() -> Date {
    jiff::Zoned::now().date()
}

fn parse_date_arg(text: &str) -> Result<Date, String> {
    parse_day(text, today()).map_err(|e| e.to_string())
}

fn parse_time_arg(text: &str) -> Result<Time, String> {
    parse_clock(text).map_err(|e| e.to_string())
}

fn parse_from_arg(text: &str) -> Result<DateTime, String> {
    parse_moment(text, today(), false).map_err(|e| e.to_string())
}

fn parse_to_arg(text: &str) -> Result<DateTime, String> {
    parse_moment(text, today(), true).map_err(|e| e.to_string())
}

/// Weekdays as Monday = 1 … Sunday = 7.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Weekdays(pub Vec<i8>);

/// Weekdays from names like `mon,wed,fri`, `weekdays`, `weekend`.
fn parse_weekdays(text: &str) -> Result<Weekdays, String> {
    let mut days = Vec::new();
    for name in text.split(',').map(|n| n.trim().to_ascii_lowercase()) {
        let found: &[i8] = match name.as_str() {
            "mon" | "monday" => &[1],
            "tue" | "tuesday" => &[2],
            "wed" | "wednesday" => &[3],
            "thu" | "thursday" => &[4],
            "fri" | "friday" => &[5],
            "sat" | "saturday" => &[6],
            "sun" | "sunday" => &[7],
            "weekdays" => &[1, 2, 3, 4, 5],
            "weekend" => &[6, 7],
            _ => {
                return Err(format!(
                "'{name}' is not a weekday (mon, tue, wed, thu, fri, sat, sun, weekdays, weekend)"
            ))
            }
        };
        days.extend_from_slice(found);
    }
    days.sort_unstable();
    days.dedup();
    Ok(Weekdays(days))
}

/// The first day of a copy: a day, or `this` for this week's Monday.
fn parse_copy_start(text: &str) -> Result<Date, String> {
    if text != "this" {
        return parse_date_arg(text);
    }
    Ok(shiftmesh_model::time::monday_of(today()))
}

/// A week: `this`, `next`, `last`, or any day in it.
fn parse_week_arg(text: &str) -> Result<Date, String> {
    let step = |weeks: i64| today().checked_add(jiff::Span::new().weeks(weeks));
    match text {
        "this" => Ok(today()),
        "next" => step(1).map_err(|e| e.to_string()),
        "last" => step(-1).map_err(|e| e.to_string()),
        _ => parse_date_arg(text).map_err(|_| {
            format!("'{text}' is not a week: give this, next, last, or a day in it (YYYY-MM-DD, today, +3d…)")
        }),
    }
}

/// A month: `this`, `next`, `last`, `YYYY-MM`, or any day in it.
fn parse_month_arg(text: &str) -> Result<Date, String> {
    let first = today().first_of_month();
    let step = |months: i64| first.checked_add(jiff::Span::new().months(months));
    match text {
        "this" => Ok(first),
        "next" => step(1).map_err(|e| e.to_string()),
        "last" => step(-1).map_err(|e| e.to_string()),
        _ if text.len() == 7 => parse_month(text).map_err(|e| e.to_string()),
        _ => parse_date_arg(text).map_err(|_| {
            format!("'{text}' is not a month: give this, next, last, YYYY-MM, or a day in it")
        }),
    }
}

/// A number of people: a whole number, 0 or more. Negative numbers reach this parser (rather
/// than being read as an unknown flag) so the error can say what is wrong.
fn parse_count(text: &str) -> Result<u32, String> {
    text.parse()
        .map_err(|_| format!("'{text}' is not a number of people: give a whole number like 2"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(command: &clap::Command, path: String, out: &mut Vec<(String, bool)>) {
        let subs: Vec<&clap::Command> = command
            .get_subcommands()
            .filter(|c| c.get_name() != "help")
            .collect();
        if subs.is_empty() {
            out.push((path.clone(), command.get_after_help().is_some()));
        }
        for sub in subs {
            leaves(sub, format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_command_ends_its_help_with_an_example() {
        let command = command();
        command.clone().debug_assert();
        let mut found = Vec::new();
        leaves(&command, "shiftmesh".into(), &mut found);
        let missing: Vec<&str> = found
            .iter()
            .filter(|(_, has)| !has)
            .map(|(path, _)| path.as_str())
            .collect();
        assert!(missing.is_empty(), "no example: {missing:?}");
        assert!(found.len() > 40, "{found:?}");
    }

    fn unexplained(command: &clap::Command, path: &str, out: &mut Vec<String>) {
        for arg in command.get_arguments() {
            let builtin = matches!(arg.get_id().as_str(), "help" | "version");
            if !builtin && arg.get_long().is_some() && arg.get_help().is_none() {
                out.push(format!("{path} --{}", arg.get_long().unwrap_or_default()));
            }
        }
        for sub in command.get_subcommands() {
            unexplained(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_flag_says_what_it_does() {
        let mut missing = Vec::new();
        unexplained(&command(), "shiftmesh", &mut missing);
        assert!(missing.is_empty(), "flags without help: {missing:?}");
    }

    fn leaf_paths(command: &clap::Command, path: Vec<String>, out: &mut Vec<Vec<String>>) {
        let subs: Vec<&clap::Command> = command
            .get_subcommands()
            .filter(|c| c.get_name() != "help")
            .collect();
        if subs.is_empty() {
            out.push(path.clone());
        }
        for sub in subs {
            let mut longer = path.clone();
            longer.push(sub.get_name().to_owned());
            leaf_paths(sub, longer, out);
        }
    }

    /// A user once typed `invite --expires 1é`: the parser cut the text inside a character
    /// and panicked. Every value of every command, however odd, is refused or taken.
    #[test]
    fn no_argument_panics() {
        let odd = [
            "1é",
            "é",
            "",
            "-1",
            "0",
            "99999999999999999999",
            "+99999999d",
            "-99999w",
            "2026-13-45",
            "2026-02-30T25:61",
            "25:99",
            "9:",
            ":",
            "\u{202e}x",
            "\u{0}",
            "a/b/../c",
            "x".repeat(100_000).leak(),
        ];
        let root = command();
        let mut leaves = Vec::new();
        leaf_paths(&root, Vec::new(), &mut leaves);
        let cwd = std::env::temp_dir();
        let mut tried = 0;
        for path in &leaves {
            let mut leaf = &root;
            for name in path {
                leaf = leaf.find_subcommand(name).expect("a path found by walking");
            }
            for arg in leaf
                .get_arguments()
                .filter(|a| a.get_action().takes_values())
            {
                for value in odd {
                    let mut argv: Vec<String> = vec!["shiftmesh".into()];
                    argv.extend(path.iter().cloned());
                    match arg.get_long() {
                        Some(long) => argv.push(format!("--{long}={value}")),
                        None => argv.push(value.to_owned()),
                    }
                    tried += 1;
                    let outcome = std::panic::catch_unwind(|| {
                        let Ok(matches) = command().try_get_matches_from(&argv) else {
                            return;
                        };
                        if let Ok(cli) = <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
                            let _ = crate::request::of_command(cli.command, &cwd);
                        }
                    });
                    assert!(outcome.is_ok(), "panicked on {argv:?}");
                }
            }
        }
        assert!(tried > 1_000, "only {tried} tried");
    }
}
