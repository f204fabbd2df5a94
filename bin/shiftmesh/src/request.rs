//! The command line as a typed request: the one step from what was typed to what shiftmesh
//! does. Relative paths are made absolute here, so a running node reads and writes files where
//! the user typed the command.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

use shiftmesh_app::{
    ConflictFilter, CopySpec, ExportFormat as Format, Period, RepeatSpec, Request, ShiftFields,
    Source, StaffFields,
};
use shiftmesh_model::history::HistoryFilter;
use shiftmesh_model::Role;

use crate::cli::{
    AccountCommand, AvailabilityCommand, BackupCommand, Command, ConflictsCommand,
    DepartmentCommand, ExportFormat, PeersCommand, RoleArg, ShiftCommand, StaffCommand,
};
use crate::UsageError;

fn absolute(cwd: &Path, path: PathBuf) -> PathBuf {
    if path.is_relative() {
        cwd.join(path)
    } else {
        path
    }
}

fn staff_fields(f: crate::cli::StaffFields) -> StaffFields {
    StaffFields {
        name: f.name,
        department: f.department,
        skills: (!f.skills.is_empty() || f.no_skills).then_some(f.skills),
        max_minutes_week: f.max_hours_week,
        employment_start: f.employment_start,
        employment_end: f.employment_end,
        active: f.active,
    }
}

fn shift_fields(f: crate::cli::ShiftFields) -> ShiftFields {
    ShiftFields {
        date: f.date,
        start: f.start,
        end: f.end,
        department: f.department,
        capacity: f.capacity,
        min_staff: f.min_staff,
        skills: (!f.skills.is_empty() || f.no_skills).then_some(f.skills),
        label: f.label,
        whole_day: f.whole_day,
    }
}

fn conflict_filter(f: crate::cli::ConflictFilter) -> ConflictFilter {
    ConflictFilter {
        kind: f.kind,
        severity: f.severity,
        from: f.from,
        to: f.to,
        limit: None,
        staff: f.staff,
        department: f.department,
        summary: f.summary,
    }
}

/// A password: the first line of stdin, or asked for twice on the terminal.
fn password(from_stdin: bool) -> Result<String, UsageError> {
    let stdin = std::io::stdin();
    if from_stdin || !stdin.is_terminal() {
        if !from_stdin {
            return Err(UsageError(
                "no terminal to ask for the password on; pass --password-stdin and give it on stdin".into(),
            ));
        }
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| UsageError(format!("reading the password from stdin: {e}")))?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    let ask = |prompt: &str| -> Result<String, UsageError> {
        eprint!("{prompt}");
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| UsageError(format!("reading the password: {e}")))?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    };
    let first = ask("password (it is shown as you type; check nobody watches): ")?;
    let again = ask("the same again: ")?;
    if first != again {
        return Err(UsageError(
            "the two passwords differ; nothing changed".into(),
        ));
    }
    Ok(first)
}

/// The request a command line stands for. `init`, `node`, `events`, `ui`, `service`,
/// `completions` and `man` are not requests (they set a machine up, run it, or follow it).
pub fn of_command(command: Command, cwd: &Path) -> Result<Request, UsageError> {
    let path = |p: PathBuf| absolute(cwd, p);
    Ok(match command {
        Command::Init(_)
        | Command::Node(_)
        | Command::Events
        | Command::Ui
        | Command::Service(_)
        | Command::Completions { .. }
        | Command::Man { .. } => {
            return Err(UsageError(
                "init, node, events, ui, service, completions and man are run by the command line itself".into(),
            ))
        }
        Command::Status => Request::Status,
        Command::Invite(args) => Request::Invite {
            expires_minutes: args.expires.minutes,
        },
        Command::Peers { command } => match command {
            None | Some(PeersCommand::List) => Request::Peers,
            Some(PeersCommand::Trust { peer_id, name }) => Request::PeerTrust { peer_id, name },
            Some(PeersCommand::Revoke { peer_id }) => Request::PeerRevoke { peer_id },
            Some(PeersCommand::Forget { peer_id }) => Request::PeerForget { peer_id },
        },
        Command::Department(cmd) => match cmd {
            DepartmentCommand::Add {
                id,
                name,
                time_zone,
            } => Request::DepartmentAdd {
                id,
                name,
                time_zone: time_zone.map(|z| z.name().to_owned()),
            },
            DepartmentCommand::List => Request::DepartmentList,
            DepartmentCommand::Update {
                id,
                name,
                time_zone,
                site_time_zone,
            } => Request::DepartmentUpdate {
                id,
                name,
                time_zone: match (time_zone, site_time_zone) {
                    (Some(zone), _) => Some(zone.name().to_owned()),
                    (None, true) => Some(String::new()),
                    (None, false) => None,
                },
            },
            DepartmentCommand::Remove { id } => Request::DepartmentRemove { id },
        },
        Command::Staff(cmd) => match cmd {
            StaffCommand::Add { id, fields } => Request::StaffAdd {
                id,
                fields: staff_fields(fields),
            },
            StaffCommand::List => Request::StaffList,
            StaffCommand::Show { id } => Request::StaffShow { id },
            StaffCommand::Update { id, fields } => Request::StaffUpdate {
                id,
                fields: staff_fields(fields),
            },
            StaffCommand::Remove { id, force } => Request::StaffRemove { id, force },
        },
        Command::Shift(cmd) => match cmd {
            ShiftCommand::Add { id, fields } => Request::ShiftAdd {
                id,
                fields: shift_fields(fields),
            },
            ShiftCommand::List {
                from,
                to,
                department,
            } => Request::ShiftList {
                from,
                to,
                department,
            },
            ShiftCommand::Show { id } => Request::ShiftShow { id },
            ShiftCommand::Repeat {
                shift,
                until,
                from,
                weekdays,
                every_weeks,
                with_assignments,
            } => Request::ShiftRepeat(RepeatSpec {
                shift,
                from,
                until,
                weekdays: weekdays.map(|w| w.0).unwrap_or_default(),
                every_weeks,
                with_assignments,
            }),
            ShiftCommand::Copy {
                from,
                to,
                onto,
                weeks,
                department,
                with_assignments,
            } => {
                let onto = match (onto, weeks) {
                    (Some(day), _) => day,
                    (None, Some(weeks)) => from
                        .checked_add(jiff::Span::new().weeks(i64::from(weeks)))
                        .map_err(|e| UsageError(format!("--weeks {weeks}: {e}")))?,
                    (None, None) => {
                        return Err(UsageError(
                            "shift copy needs --onto DAY or --weeks N".into(),
                        ))
                    }
                };
                Request::ShiftCopy(CopySpec {
                    from,
                    to,
                    onto,
                    department,
                    with_assignments,
                })
            }
            ShiftCommand::Update { id, fields } => Request::ShiftUpdate {
                id,
                fields: shift_fields(fields),
            },
            ShiftCommand::Remove { id, force } => Request::ShiftRemove { id, force },
        },
        Command::Assign(a) => Request::Assign {
            staff: a.staff,
            shift: a.shift,
            role: a.role,
            note: a.note,
            check: a.check,
        },
        Command::Unassign(a) => Request::Unassign {
            staff: a.staff,
            shift: a.shift,
        },
        Command::Availability(cmd) => match cmd {
            AvailabilityCommand::Add {
                staff,
                from,
                to,
                kind,
                reason,
            } => Request::AvailabilityAdd {
                staff,
                from,
                to,
                kind: kind.into(),
                reason,
            },
            AvailabilityCommand::List { staff } => Request::AvailabilityList { staff },
            AvailabilityCommand::Remove { id } => Request::AvailabilityRemove { id },
        },
        Command::Schedule(a) => Request::Schedule {
            period: match (a.period.day, a.period.week, a.period.month) {
                (Some(day), _, _) => Period::Day(day),
                (_, Some(week), _) => Period::Week(week),
                (_, _, Some(month)) => Period::Month(month),
                _ => Period::ThisWeek,
            },
            department: a.department,
            staff: a.staff,
        },
        Command::Now { department } => Request::Now { department },
        Command::Cover { shift } => Request::Cover { shift },
        Command::Conflicts(args) => match args.command {
            None => Request::Conflicts(conflict_filter(args.filter)),
            Some(ConflictsCommand::List { filter }) => Request::Conflicts(conflict_filter(filter)),
            Some(ConflictsCommand::Show { id }) => Request::ConflictShow { id },
        },
        Command::Resolve(a) => Request::Resolve {
            id: a.id,
            option: a.option,
            staff: a.staff,
            value: a.value,
        },
        Command::Ack(a) => Request::Ack {
            id: a.id,
            note: a.note,
        },
        Command::History(a) => {
            let instant = |local: jiff::civil::DateTime| {
                local
                    .to_zoned(jiff::tz::TimeZone::system())
                    .map(|z| z.timestamp())
                    .map_err(|e| UsageError(format!("{local}: {e}")))
            };
            Request::History {
                limit: a.limit,
                filter: HistoryFilter {
                    entity: a.entity,
                    since: a.since.map(instant).transpose()?,
                    until: a.until.map(instant).transpose()?,
                    author: a.author,
                    kind: a.kind,
                },
            }
        }
        Command::Revert(a) => match (a.change, a.after_revocation) {
            (_, Some(machine)) => Request::RevertAfterRevocation { machine },
            (Some(change), None) if !a.last_merge => Request::Revert { change },
            _ => Request::RevertLastMerge,
        },
        Command::Import(a) => Request::Import {
            files: a.files.into_iter().map(|f| Source::Path(path(f))).collect(),
        },
        Command::Export(a) => Request::Export {
            format: match a.format {
                ExportFormat::Json => Format::Json,
                ExportFormat::Csv => Format::Csv,
                ExportFormat::Ics => Format::Ics,
            },
            staff: a.staff,
            department: a.department,
            out: a.out.map(path),
        },
        Command::Doctor => Request::Doctor,
        Command::Backup(a) => match (a.list, a.file) {
            (Some(BackupCommand::List), _) | (None, None) => Request::BackupList,
            (None, Some(file)) => Request::Backup {
                file: Some(path(file)),
            },
        },
        Command::Restore(a) => Request::Restore {
            source: Source::Path(path(a.file)),
        },
        Command::Merge(a) => Request::Merge {
            source: Source::Path(path(a.file)),
        },
        Command::Account(cmd) => match cmd {
            AccountCommand::Add {
                login,
                role,
                staff,
                name,
                password_stdin,
                no_password,
            } => Request::AccountAdd {
                login,
                name,
                role: match role {
                    RoleArg::Manager => Role::Manager,
                    RoleArg::Staff => Role::Staff,
                },
                staff,
                password: if no_password {
                    None
                } else {
                    Some(password(password_stdin)?)
                },
            },
            AccountCommand::List => Request::AccountList,
            AccountCommand::Passwd {
                login,
                password_stdin,
            } => Request::AccountPasswd {
                login,
                password: password(password_stdin)?,
            },
            AccountCommand::Disable { login } => Request::AccountDisable { login },
        },
    })
}
