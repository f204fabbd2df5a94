//! Replies as text, the way a person reads them at a terminal. (`--json` prints
//! [`Reply::to_json`] instead.)

use std::collections::BTreeMap;
use std::fmt::Write as _;

use shiftmesh_app::{
    hours, Assigned, Changed, ConflictList, ConflictShown, Exported, Imported, PeerList, Reply,
    ScheduleView, ShiftList, ShiftShown, ShiftView, ShownShift, StaffRow, StaffShown, StatusReport,
    Unreadable,
};
use shiftmesh_model::history::Provenance;
use shiftmesh_model::time::{format_datetime, format_time};
use shiftmesh_model::{describe_damage, Damage, Id};
use shiftmesh_rules::{Conflict, Severity};

/// The widest a cell of a table's inner columns is shown; longer ones are cut with "…", so one
/// long name does not push every row off an 80-column terminal. The first column (the ids
/// people type) and the last are shown whole.
pub const CELL_MAX_CHARS: usize = 28;

/// A cell cut to [`CELL_MAX_CHARS`].
fn fit(cell: String) -> String {
    if cell.chars().count() <= CELL_MAX_CHARS {
        return cell;
    }
    let mut cut: String = cell.chars().take(CELL_MAX_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// Lays out rows under a header, columns padded to their widest cell.
pub fn table(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let rows: Vec<Vec<String>> = rows
        .map(|row| {
            let last = row.len().saturating_sub(1);
            row.into_iter()
                .enumerate()
                .map(|(i, cell)| if i == 0 || i == last { cell } else { fit(cell) })
                .collect()
        })
        .collect();
    if rows.is_empty() {
        return "(none)".to_owned();
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: Vec<String>| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<w$}  ", w = *w);
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut out, header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(&mut out, row);
    }
    out
}

/// How far a wrapped conflict message is indented.
const MESSAGE_INDENT_CHARS: usize = 4;

/// The width text is fitted to: `COLUMNS` when set, else the terminal's; none when the output
/// goes to a pipe or file (scripts get each conflict on one line).
fn width() -> Option<usize> {
    use std::io::IsTerminal;
    if let Some(columns) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        return Some(columns);
    }
    if !std::io::stdout().is_terminal() {
        return None;
    }
    terminal_size::terminal_size().map(|(terminal_size::Width(w), _)| usize::from(w))
}

/// `text` in lines of at most `width` characters (a longer word has a line of its own), each
/// indented by `indent` spaces.
fn wrap(text: &str, indent: usize, width: usize) -> String {
    let room = width.saturating_sub(indent).max(1);
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > room {
            let _ = writeln!(out, "{:indent$}{line}", "");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        let _ = writeln!(out, "{:indent$}{line}", "");
    }
    out
}

/// The text of a reply.
pub fn text(reply: &Reply) -> String {
    match reply {
        Reply::Status(s) => status(s),
        Reply::Peers(p) => peers(p),
        Reply::Invite(i) => i.invite.clone(),
        Reply::Changed(c) => changed(c),
        Reply::Departments(list) => table(
            &["ID", "NAME", "TIME ZONE"],
            list.iter().map(|d| {
                vec![
                    d.id.to_string(),
                    d.name.clone(),
                    d.time_zone.clone().unwrap_or_else(|| "(site)".into()),
                ]
            }),
        ),
        Reply::StaffList(rows) => staff_table(rows),
        Reply::StaffShown(s) => staff_shown(s),
        Reply::Shifts(list) => shift_list(list),
        Reply::ShiftShown(s) => shift_shown(s),
        Reply::Assigned(a) => assigned(a),
        Reply::AvailabilityList(list) => table(
            &["ID", "STAFF", "FROM", "TO", "KIND", "REASON"],
            list.iter().map(|a| {
                vec![
                    a.id.to_string(),
                    a.staff.to_string(),
                    format_datetime(a.span.from),
                    format_datetime(a.span.to),
                    a.kind.as_str().to_owned(),
                    a.reason.clone(),
                ]
            }),
        ),
        Reply::Schedule(s) => schedule(s),
        Reply::OnDuty(d) => on_duty(d),
        Reply::Cover(c) => cover(c),
        Reply::Conflicts(c) => conflicts(c),
        Reply::ConflictShown(c) => conflict_shown(c),
        Reply::Resolved(r) => {
            let mut text = r.message.clone();
            if r.still_open {
                let _ = write!(
                    text,
                    "; the conflict is still there, with new data: see 'shiftmesh conflicts show {}'",
                    r.resolved
                );
            }
            text.push_str(&brought(&r.conflicts, true));
            text
        }
        Reply::History(entries) => {
            let mut out = String::new();
            for e in entries {
                let _ = writeln!(
                    out,
                    "{}  {}  {}{}  {}",
                    &e.hash[..12.min(e.hash.len())],
                    e.time,
                    e.author,
                    made_on(e.provenance.as_ref(), e.machine.as_deref()),
                    e.message
                );
                for d in &e.diff {
                    let _ = writeln!(out, "    {}: {} → {}", d.path, d.before, d.after);
                }
                if e.diff_omitted > 0 {
                    let _ = writeln!(out, "    … and {} more field changes", e.diff_omitted);
                }
                if let Some(operations) = e.bulk_operations {
                    let _ = writeln!(
                        out,
                        "    (a bulk change of {operations} operations; its fields are not listed)"
                    );
                }
            }
            if out.is_empty() {
                out.push_str("(no changes)");
            }
            out
        }
        Reply::Imported(i) => imported(i),
        Reply::Planned(p) => planned(p),
        Reply::Exported(e) => match e {
            Exported::Written { written, .. } => format!(
                "wrote {}",
                written
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Exported::Content { json, text, .. } => match (json, text) {
                (_, Some(text)) => text.clone(),
                (Some(json), None) => serde_json::to_string_pretty(json).unwrap_or_default(),
                (None, None) => String::new(),
            },
        },
        Reply::Backups(list) => backups(list),
        Reply::Doctor(findings) => doctor(findings),
        Reply::BackedUp(b) => format!(
            "wrote {} ({} bytes, {} changes)",
            b.written
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            b.bytes,
            b.changes
        ),
        Reply::Restored(r) => {
            let mut text = format!("restored {} ({} changes)", r.restored, r.changes);
            if let Some(aside) = &r.damaged_store_moved_to {
                let _ = write!(text, "; the damaged store was moved to {}", aside.display());
            }
            text
        }
        Reply::Merged(m) => {
            let mut text = if m.new_changes == 0 {
                format!(
                    "{} holds no change this node lacks; nothing merged",
                    m.merged
                )
            } else {
                format!(
                    "merged {} new change(s) from {} (undo all of them with 'shiftmesh revert --last-merge')",
                    m.new_changes, m.merged
                )
            };
            text.push_str(&brought(&m.conflicts, true));
            text
        }
        Reply::Account(a) | Reply::SignedIn(a) => a.message.clone(),
        Reply::Accounts(list) => table(
            &[
                "LOGIN",
                "NAME",
                "ROLE",
                "STAFF",
                "PASSWORD",
                "DISABLED",
                "CREATED BY",
            ],
            list.iter().map(|a| {
                vec![
                    a.login.to_string(),
                    a.name.clone(),
                    a.role.as_str().to_owned(),
                    a.staff.as_ref().map(Id::to_string).unwrap_or_default(),
                    if a.has_password { "set" } else { "none" }.to_owned(),
                    if a.disabled { "yes" } else { "no" }.to_owned(),
                    a.created_by.clone(),
                ]
            }),
        ),
    }
}

/// What a change brought, appended to its message (nothing when it brought nothing).
/// The conflicts a change brought, said so that a saved change with an error is not mistaken
/// for a refused one (and a checked one for a saved one).
fn brought(conflicts: &[Conflict], written: bool) -> String {
    if conflicts.is_empty() {
        return String::new();
    }
    let errors = conflicts
        .iter()
        .filter(|c| c.severity == Severity::Error)
        .count();
    let warnings = conflicts.len() - errors;
    let mut text = match (written, errors) {
        (true, 0) => format!("; saved; it brings {warnings} warning(s):"),
        (true, _) => format!(
            "\nSAVED WITH {errors} ERROR(S) and {warnings} warning(s) it brought; fix them with 'shiftmesh resolve ID OPTION' (or check first next time with --check):"
        ),
        (false, _) => format!(
            "; it would bring {errors} error(s) and {warnings} warning(s):"
        ),
    };
    text.push_str(&describe(conflicts));
    text
}

fn changed(c: &Changed) -> String {
    let mut text = c.message.clone();
    if !c.cleared.is_empty() {
        let _ = write!(
            text,
            "; it clears {} conflict(s): {}",
            c.cleared.len(),
            c.cleared.join(", ")
        );
    }
    text.push_str(&brought(&c.conflicts, true));
    text
}

fn assigned(a: &Assigned) -> String {
    let verb = if a.written {
        "assigned"
    } else {
        "would assign"
    };
    // The key is SHIFT/STAFF; say it the way it was typed: STAFF to SHIFT.
    let (shift, staff) = a
        .assignment
        .split_once('/')
        .unwrap_or((a.assignment.as_str(), ""));
    let mut text = format!("{verb} {staff} to {shift}");
    if a.conflicts.is_empty() {
        text.push_str("; no conflicts");
    } else {
        text.push_str(&brought(&a.conflicts, a.written));
    }
    if !a.written {
        text.push_str("\n(checked only: nothing was written)");
    }
    text
}

fn planned(p: &shiftmesh_app::Planned) -> String {
    let mut text = p.message.clone();
    if !p.skipped.is_empty() {
        let _ = write!(
            text,
            "; {} already there, left as they are",
            p.skipped.len()
        );
    }
    text.push_str(&brought_summary(&p.conflicts));
    text
}

fn imported(i: &Imported) -> String {
    let mut text = format!("imported {}", i.imported.describe());
    text.push_str(&brought_summary(&i.conflicts));
    text
}

/// For a bulk change: how many conflicts it brought, by severity (the list can be long).
fn brought_summary(conflicts: &[Conflict]) -> String {
    if conflicts.is_empty() {
        return String::new();
    }
    let errors = conflicts
        .iter()
        .filter(|c| c.severity == Severity::Error)
        .count();
    format!(
        "; this brings {} error(s) and {} warning(s) ('shiftmesh conflicts' lists them)",
        errors,
        conflicts.len() - errors
    )
}

/// Lines for a list of conflicts, grouped by severity.
pub fn describe(conflicts: &[Conflict]) -> String {
    let mut out = String::new();
    for severity in [Severity::Error, Severity::Warning] {
        let group: Vec<&Conflict> = conflicts
            .iter()
            .filter(|c| c.severity == severity)
            .collect();
        if group.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{}s", severity.as_str());
        let width = width();
        for c in group {
            let head = format!("  {}  {:<19} ", c.id, c.kind.as_str());
            match width {
                // Too long for the terminal: the message goes under its id, wrapped.
                Some(w) if head.chars().count() + c.message.chars().count() > w => {
                    let _ = writeln!(out, "{}", head.trim_end());
                    out.push_str(&wrap(&c.message, MESSAGE_INDENT_CHARS, w));
                }
                _ => {
                    let _ = writeln!(out, "{head}{}", c.message);
                }
            }
            let options: Vec<&str> = c.options.iter().map(|o| o.id.as_str()).collect();
            let _ = writeln!(out, "  {:<18}  options: {}", "", options.join(", "));
        }
    }
    out
}

fn heading(open: &[Conflict], acknowledged: usize) -> String {
    let errors = open
        .iter()
        .filter(|c| c.severity == Severity::Error)
        .count();
    let warnings = open.len() - errors;
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let mut text = format!(
        "{}, {}",
        plural(errors, "error"),
        plural(warnings, "warning")
    );
    if acknowledged > 0 {
        let _ = write!(text, " ({acknowledged} acknowledged, not shown)");
    }
    text
}

fn conflict_summary(days: &[shiftmesh_app::ConflictDay]) -> String {
    if days.is_empty() {
        return "no conflicts".into();
    }
    let (errors, warnings) = days
        .iter()
        .fold((0, 0), |(e, w), d| (e + d.errors, w + d.warnings));
    let mut text = table(
        &["DAY", "ERRORS", "WARNINGS", "KINDS"],
        days.iter().map(|d| {
            vec![
                d.date.map_or("(no day)".to_owned(), |day| {
                    format!("{} {day}", weekday_name(day.weekday()))
                }),
                d.errors.to_string(),
                d.warnings.to_string(),
                d.kinds
                    .iter()
                    .map(|(kind, n)| format!("{kind} {n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ]
        }),
    );
    let _ = write!(
        text,
        "total: {errors} error(s), {warnings} warning(s) on {} day(s); list one day's with 'shiftmesh conflicts --from DAY --to DAY'",
        days.iter().filter(|d| d.date.is_some()).count()
    );
    text
}

fn conflicts(list: &ConflictList) -> String {
    if let Some(days) = &list.summary {
        return conflict_summary(days);
    }
    if list.conflicts.is_empty() {
        return format!(
            "no conflicts{}",
            if list.acknowledged == 0 {
                String::new()
            } else {
                format!(" ({} acknowledged)", list.acknowledged)
            }
        );
    }
    let mut text = heading(&list.conflicts, list.acknowledged);
    text.push_str(&describe(&list.conflicts));
    text.push_str(
        "\nshow one with 'shiftmesh conflicts show ID', fix it with\n'shiftmesh resolve ID OPTION'",
    );
    text
}

fn conflict_shown(shown: &ConflictShown) -> String {
    let c = &shown.conflict;
    let mut out = format!(
        "{}  {} ({})\n{}\n",
        c.id,
        c.kind,
        c.severity.as_str(),
        c.message
    );
    if shown.acknowledged {
        out.push_str("acknowledged: it shows again when the data it covers changes\n");
    }
    let list = |ids: Vec<String>| {
        if ids.is_empty() {
            "-".to_owned()
        } else {
            ids.join(", ")
        }
    };
    let _ = writeln!(
        out,
        "staff: {}   shifts: {}   assignments: {}",
        list(c.staff.iter().map(|s| s.to_string()).collect()),
        list(c.shifts.iter().map(|s| s.to_string()).collect()),
        list(c.assignments.clone())
    );
    for v in &c.values {
        let _ = writeln!(
            out,
            "  value {} written by {}{}",
            v.value,
            if v.author.is_empty() {
                "unknown"
            } else {
                &v.author
            },
            made_on(v.provenance.as_ref(), None)
        );
    }
    out.push_str("options:\n");
    for o in &c.options {
        let _ = writeln!(out, "  {:<18} {}", o.id.as_str(), o.label);
    }
    if let Some(candidates) = &shown.candidates {
        let _ = writeln!(out, "substitutes for {} (best first):", candidates.shift);
        if candidates.staff.is_empty() {
            out.push_str("  nobody is free, skilled and under their hours\n");
        }
        for cand in &candidates.staff {
            let _ = writeln!(
                out,
                "  {:<12} {}: {} new warning(s), {} h that week{}",
                cand.staff.as_str(),
                cand.name,
                cand.new_warnings,
                cand.week_minutes / 60,
                if cand.same_department {
                    ", same department"
                } else {
                    ""
                }
            );
        }
    }
    let _ = write!(out, "resolve with: shiftmesh resolve {} OPTION", c.id);
    out
}

/// What is damaged in an entity, as a line for its `show`, pointing at the conflicts.
fn damage_text(damage: Option<&Vec<Damage>>) -> String {
    match damage {
        Some(d) => format!(
            "  damaged     {} (see 'shiftmesh conflicts --kind unreadable-field')\n",
            describe_damage(d)
        ),
        None => String::new(),
    }
}

fn staff_table(rows: &[StaffRow]) -> String {
    table(
        &["ID", "NAME", "DEPARTMENT", "SKILLS", "MAX H/WEEK", "ACTIVE"],
        rows.iter().map(|row| {
            let s = &row.staff;
            vec![
                if row.damaged {
                    format!("{} (damaged)", s.id)
                } else {
                    s.id.to_string()
                },
                s.name.clone(),
                s.department.as_ref().map(Id::to_string).unwrap_or_default(),
                s.skills.iter().cloned().collect::<Vec<_>>().join(","),
                s.max_minutes_week.map(hours).unwrap_or_default(),
                if s.active { "yes".into() } else { "no".into() },
            ]
        }),
    )
}

/// Concurrent values of an entity's fields, as text lines.
fn concurrent_text(concurrent: &serde_json::Value) -> String {
    let mut text = String::new();
    if let Some(fields) = concurrent.as_object() {
        for (field, values) in fields {
            let shown: Vec<String> = values
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| v["value"].to_string())
                .collect();
            let _ = writeln!(
                text,
                "  concurrent values of {}: {} (see 'shiftmesh conflicts'; pick one there)",
                if field.is_empty() {
                    "the entity"
                } else {
                    field
                },
                shown.join(" | ")
            );
        }
    }
    text
}

fn staff_shown(s: &StaffShown) -> String {
    let row = StaffRow {
        staff: s.staff.clone(),
        damaged: s.damaged.is_some(),
    };
    let mut out = staff_table(std::slice::from_ref(&row));
    out.push_str(&damage_text(s.damaged.as_ref()));
    out.push_str(&concurrent_text(&s.concurrent));
    let _ = writeln!(out, "\nassignments ({}):", s.assignments.len());
    for a in &s.assignments {
        let when = s
            .shift_times
            .iter()
            .find(|(shift, _)| *shift == a.shift)
            .map(|(_, time)| time.clone())
            .unwrap_or_else(|| "(shift missing)".into());
        let _ = writeln!(
            out,
            "  {:<24} {when}{}",
            a.shift.as_str(),
            if a.role.is_empty() {
                String::new()
            } else {
                format!("  role: {}", a.role)
            }
        );
    }
    let _ = writeln!(out, "availability ({}):", s.availability.len());
    for a in &s.availability {
        let _ = writeln!(
            out,
            "  {} {} {}  {}",
            a.id,
            a.kind.as_str(),
            a.span,
            a.reason
        );
    }
    out
}

fn shift_line(view: &ShiftView, names: &BTreeMap<Id, String>) -> String {
    let shift = &view.shift;
    let mark = if view.damaged.is_some() {
        "  ← damaged"
    } else if view.assigned.len() < shift.min_staff as usize {
        "  ← understaffed"
    } else if view.assigned.len() > shift.capacity as usize {
        "  ← over capacity"
    } else {
        ""
    };
    format!(
        "  {}–{}{:<6} {:<24} {:<14} {:>7}  {}{}",
        format_time(shift.start),
        format_time(shift.end),
        if view.overnight { " (+1)" } else { "" },
        shift.id.as_str(),
        shift.department.as_ref().map(Id::as_str).unwrap_or("-"),
        view.coverage,
        if view.assigned.is_empty() {
            "(nobody)".to_owned()
        } else {
            view.assigned
                .iter()
                .map(|id| names.get(id).map_or(id.as_str(), String::as_str))
                .collect::<Vec<_>>()
                .join(", ")
        },
        if shift.label.is_empty() {
            mark.to_owned()
        } else {
            format!("  · {}{mark}", shift.label)
        }
    )
}

/// Shifts that cannot be placed on a day, one line each with what is wrong.
fn broken_rows(broken: &[Unreadable]) -> String {
    let mut out = format!(
        "{} shift(s) cannot be read (damaged; see 'shiftmesh conflicts --kind unreadable-field'):\n",
        broken.len()
    );
    for b in broken {
        let _ = writeln!(out, "  {}  {}", b.id, describe_damage(&b.damaged));
    }
    out
}

fn shift_list(list: &ShiftList) -> String {
    if list.shifts.is_empty() && list.unreadable.is_empty() {
        return "(no shifts)".into();
    }
    let mut out = if list.shifts.is_empty() {
        String::new()
    } else {
        table(
            &["ID", "DATE", "TIME", "DEPARTMENT", "COVERAGE", "ASSIGNED"],
            list.shifts.iter().map(|v| {
                vec![
                    if v.damaged.is_some() {
                        format!("{} (damaged)", v.shift.id)
                    } else {
                        v.shift.id.to_string()
                    },
                    v.shift.date.to_string(),
                    format!(
                        "{}–{}{}",
                        format_time(v.shift.start),
                        format_time(v.shift.end),
                        if v.overnight { " (+1)" } else { "" }
                    ),
                    v.shift
                        .department
                        .as_ref()
                        .map(Id::to_string)
                        .unwrap_or_default(),
                    v.coverage.clone(),
                    v.assigned
                        .iter()
                        .map(Id::as_str)
                        .collect::<Vec<_>>()
                        .join(","),
                ]
            }),
        )
    };
    if !list.unreadable.is_empty() {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&broken_rows(&list.unreadable));
    }
    out
}

fn shift_shown(s: &ShiftShown) -> String {
    match &s.shift {
        ShownShift::Unreadable(entry) => {
            let mut out = format!("shift {}\n", entry.id);
            out.push_str(&damage_text(Some(&entry.damaged)));
            for (name, v) in &entry.fields {
                let _ = writeln!(out, "  {name:<11} {v}");
            }
            let _ = writeln!(
                out,
                "  assigned    {}",
                s.assigned
                    .iter()
                    .map(Id::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            out
        }
        ShownShift::Readable(view) => {
            let shift = &view.shift;
            let mut out = format!(
                "shift {}\n  when        {}\n  department  {}\n  coverage    {} (assigned/min/capacity)\n  skills      {}\n  label       {}\n  assigned    {}\n",
                shift.id,
                shift.time(),
                shift.department.as_ref().map(Id::as_str).unwrap_or("-"),
                view.coverage,
                shift.skills.iter().cloned().collect::<Vec<_>>().join(", "),
                shift.label,
                view.assigned
                    .iter()
                    .map(Id::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            out.push_str(&damage_text(view.damaged.as_ref()));
            out.push_str(&concurrent_text(&s.concurrent));
            out
        }
    }
}

fn weekday_name(day: jiff::civil::Weekday) -> &'static str {
    use jiff::civil::Weekday;
    match day {
        Weekday::Monday => "Mon",
        Weekday::Tuesday => "Tue",
        Weekday::Wednesday => "Wed",
        Weekday::Thursday => "Thu",
        Weekday::Friday => "Fri",
        Weekday::Saturday => "Sat",
        Weekday::Sunday => "Sun",
    }
}

/// A shift in one line for `now`: when, which, and who by name.
fn duty_line(view: &ShiftView, names: &std::collections::BTreeMap<Id, String>) -> String {
    let who: Vec<&str> = view
        .assigned
        .iter()
        .map(|id| names.get(id).map_or(id.as_str(), String::as_str))
        .collect();
    let label = if view.shift.label.is_empty() {
        String::new()
    } else {
        format!(" ({})", view.shift.label)
    };
    format!(
        "  {} {}–{}  {}{}  {}  {}",
        view.shift.date,
        format_time(view.shift.start),
        format_time(view.shift.end),
        view.shift.id,
        label,
        view.coverage,
        if who.is_empty() {
            "nobody assigned".to_owned()
        } else {
            who.join(", ")
        }
    )
}

fn on_duty(d: &shiftmesh_app::OnDuty) -> String {
    let mut out = format!(
        "on duty at {} {} ({})\n",
        d.at.date(),
        format_time(d.at.time()),
        d.time_zone
    );
    if d.now.is_empty() {
        out.push_str("  no shift is under way\n");
    }
    for view in &d.now {
        let _ = writeln!(out, "{}", duty_line(view, &d.names));
    }
    out.push_str("next\n");
    if d.next.is_empty() {
        out.push_str("  no shift starts in the next two weeks\n");
    }
    for view in &d.next {
        let _ = writeln!(out, "{}", duty_line(view, &d.names));
    }
    out
}

fn cover(c: &shiftmesh_app::CoverShown) -> String {
    let mut out = format!(
        "who could cover {} ({}, coverage {}):\n",
        c.shift.shift.id,
        c.shift.shift.time(),
        c.shift.coverage
    );
    if c.cover.candidates.is_empty() {
        out.push_str("  nobody can take it as things stand\n");
    }
    for (rank, candidate) in c.cover.candidates.iter().enumerate() {
        let _ = write!(
            out,
            "  {}. {} ({}): {} that week{}",
            rank + 1,
            candidate.name,
            candidate.staff,
            hours(u32::try_from(candidate.week_minutes).unwrap_or(u32::MAX)) + " h",
            if candidate.same_department {
                ", same department"
            } else {
                ""
            }
        );
        for warning in &candidate.warnings {
            let _ = write!(out, "; warning: {warning}");
        }
        out.push('\n');
    }
    if !c.cover.near_misses.is_empty() {
        out.push_str("near misses:\n");
    }
    for miss in &c.cover.near_misses {
        let _ = writeln!(
            out,
            "  {} ({}): {}",
            miss.name,
            miss.staff,
            miss.reasons.join("; ")
        );
    }
    let full = c.shift.assigned.len() >= c.shift.shift.capacity as usize;
    match c.cover.candidates.first() {
        Some(first) if full => {
            let _ = write!(
                out,
                "the shift is full: to give it to {} in place of someone, run 'shiftmesh unassign STAFF {}' first (or resolve their conflict with find-substitute)",
                first.staff, c.shift.shift.id
            );
        }
        Some(first) => {
            let _ = write!(
                out,
                "to assign the first: shiftmesh assign {} {}",
                first.staff, c.shift.shift.id
            );
        }
        None => {}
    }
    out
}

/// People's names by id: everyone the view lists, and everyone assigned in it.
fn names_of(s: &ScheduleView) -> BTreeMap<Id, String> {
    let mut names = s.names.clone();
    names.extend(s.people.iter().map(|p| (p.id.clone(), p.name.clone())));
    names
}

/// Whether a view is one whole month (shown as a calendar).
fn is_month(s: &ScheduleView) -> bool {
    s.from == s.from.first_of_month() && s.to == s.from.last_of_month() && s.from != s.to
}

fn schedule(s: &ScheduleView) -> String {
    let mut out = format!("schedule {} – {} ({})", s.from, s.to, s.time_zone);
    out.push_str(if is_month(s) {
        "\n"
    } else {
        "; coverage is assigned/min/capacity\n"
    });
    if is_month(s) {
        out.push_str(&month_grid(s));
    } else {
        out.push_str(&day_by_day(s));
    }
    out.push_str(&hours_of(s));
    if !s.unreadable.is_empty() {
        out.push('\n');
        out.push_str(&broken_rows(&s.unreadable));
    }
    out
}

/// Each day with its shifts (who works them by name), and who is away that day.
fn day_by_day(s: &ScheduleView) -> String {
    let names = names_of(s);
    let mut out = String::new();
    for day in &s.days {
        let _ = writeln!(out, "\n{} {}", weekday_name(day.date.weekday()), day.date);
        if day.shifts.is_empty() {
            out.push_str("  (no shifts)\n");
        }
        let start = day.date.to_datetime(jiff::civil::Time::midnight());
        let end = day
            .date
            .tomorrow()
            .unwrap_or(day.date)
            .to_datetime(jiff::civil::Time::midnight());
        let away_today: Vec<_> = s
            .people
            .iter()
            .flat_map(|p| p.availability.iter().map(move |a| (p, a)))
            .filter(|(_, a)| a.kind.blocks_work() && a.span.from < end && start < a.span.to)
            .collect();
        for view in &day.shifts {
            out.push_str(&shift_line(view, &names));
            // Someone booked while away is the first thing to see on the line itself.
            let booked_away: Vec<&str> = away_today
                .iter()
                .filter(|(p, _)| view.assigned.contains(&p.id))
                .map(|(p, _)| p.name.as_str())
                .collect();
            if !booked_away.is_empty() {
                let _ = write!(out, "  ← {} away that day", booked_away.join(", "));
            }
            out.push('\n');
        }
        let away: Vec<String> = away_today
            .iter()
            .map(|(p, a)| {
                let why = if a.reason.is_empty() {
                    a.kind.as_str().to_owned()
                } else {
                    format!("{}, {}", a.kind.as_str(), a.reason)
                };
                format!("{} ({why})", p.name)
            })
            .collect();
        if !away.is_empty() {
            let _ = writeln!(out, "  away: {}", away.join("; "));
        }
    }
    out
}

/// A month as a calendar: each day's number, then how many of its shifts have their minimum
/// staff out of how many it has (`3/4`), marked `!` when one is short.
fn month_grid(s: &ScheduleView) -> String {
    const CELL_CHARS: usize = 10;
    let mut out = String::from("\n");
    for name in ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"] {
        let _ = write!(out, "{name:<CELL_CHARS$}");
    }
    out = out.trim_end().to_owned();
    out.push('\n');
    let lead = usize::from(s.from.weekday().to_monday_zero_offset().unsigned_abs());
    let mut line = " ".repeat(lead * CELL_CHARS);
    let mut short_days = 0;
    for day in &s.days {
        let total = day.shifts.len();
        let covered = day
            .shifts
            .iter()
            .filter(|v| v.assigned.len() >= v.shift.min_staff as usize)
            .count();
        let cell = if total == 0 {
            format!("{:>2} ·", day.date.day())
        } else {
            let mark = if covered < total {
                short_days += 1;
                "!"
            } else {
                ""
            };
            format!("{:>2} {covered}/{total}{mark}", day.date.day())
        };
        let _ = write!(line, "{cell:<CELL_CHARS$}");
        if day.date.weekday() == jiff::civil::Weekday::Sunday {
            out.push_str(line.trim_end());
            out.push('\n');
            line.clear();
        }
    }
    if !line.trim().is_empty() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "\nEach day: how many of its shifts have their minimum staff / how many it has;\n'!' marks the {short_days} day(s) with a shift short. See a day with 'shiftmesh schedule --day DAY'."
    );
    out
}

/// Hours assigned per person in the view, against their weekly maximum.
fn hours_of(s: &ScheduleView) -> String {
    let working: Vec<_> = s.people.iter().filter(|p| p.minutes > 0).collect();
    if working.is_empty() {
        return String::new();
    }
    // A weekly maximum means something against a week's hours only.
    let week = s.from.until(s.to).map_or(0, |span| span.get_days()) == 6;
    let mut out = String::from("\nhours in this view\n");
    let rows = working.iter().map(|p| {
        let worked = hours(u32::try_from(p.minutes).unwrap_or(u32::MAX));
        let limit = match (p.max_minutes_week, week) {
            (Some(max), true) if i64::from(max) < p.minutes => {
                format!("of {} h  ← over their maximum", hours(max))
            }
            (Some(max), true) => format!("of {} h", hours(max)),
            (Some(max), false) => format!("(at most {} h a week)", hours(max)),
            (None, _) => String::new(),
        };
        vec![format!("  {}", p.name), format!("{worked} h"), limit]
    });
    out.push_str(&table(&["  PERSON", "HOURS", ""], rows));
    out
}

/// Each peer id cut to the shortest prefix no other listed id shares (at least
/// [`shiftmesh_app::PEER_PREFIX_MIN_CHARS`] characters), as git shortens commit ids; every
/// command that takes a peer id takes these.
fn short_peer_ids(ids: &[&str]) -> Vec<String> {
    ids.iter()
        .map(|id| {
            let shared = ids
                .iter()
                .filter(|other| *other != id)
                .map(|other| {
                    id.bytes()
                        .zip(other.bytes())
                        .take_while(|(a, b)| a == b)
                        .count()
                })
                .max()
                .unwrap_or(0);
            let keep = (shared + 1).max(shiftmesh_app::PEER_PREFIX_MIN_CHARS);
            id.chars().take(keep).collect()
        })
        .collect()
}

fn peers(list: &PeerList) -> String {
    let ids: Vec<&str> = list.peers.iter().map(|p| p.peer_id.as_str()).collect();
    let short = short_peer_ids(&ids);
    let mut text = table(
        &[
            "PEER",
            "NAME",
            "STATE",
            "CONNECTED",
            "LAST SYNC",
            "BEHIND",
            "AHEAD",
            "ADDRESS",
        ],
        list.peers.iter().zip(&short).map(|(p, short)| {
            let count = |n: Option<usize>| n.map_or("-".to_owned(), |n| n.to_string());
            vec![
                short.clone(),
                p.name.clone().unwrap_or_else(|| "-".to_owned()),
                p.state.clone(),
                if p.connected { "yes" } else { "no" }.to_owned(),
                p.last_sync.clone().unwrap_or_else(|| "-".to_owned()),
                count(p.behind),
                count(p.ahead),
                p.addresses.last().cloned().unwrap_or_default(),
            ]
        }),
    );
    for p in &list.peers {
        let Some(claimers) = &p.held_until_synced_with else {
            continue;
        };
        let name = p.name.as_deref().unwrap_or(&p.peer_id);
        if claimers.is_empty() {
            let _ = write!(
                text,
                "\nno sync with {name} yet: this node has just started or reconnected and waits (a few seconds at most) for the members it knows of to say whom they judge revoked"
            );
        } else {
            let by: Vec<&str> = claimers
                .iter()
                .map(|id| {
                    list.peers
                        .iter()
                        .find(|q| &q.peer_id == id)
                        .and_then(|q| q.name.as_deref())
                        .unwrap_or(id)
                })
                .collect();
            let _ = write!(
                text,
                "\nno sync with {name} until this node has synced with {}, which judges it revoked",
                by.join(", ")
            );
        }
    }
    for p in list.peers.iter().filter(|p| p.state == "pending") {
        let _ = write!(
            text,
            "\n{} has the site key but is not a member; if it is one of this site's machines, let it in with:\n  shiftmesh peers trust {}",
            p.peer_id, p.peer_id
        );
    }
    if !list.peers.is_empty() {
        text.push_str("\n(peer ids are shortened; 'peers revoke' takes a unique prefix or a member's name, 'peers trust' the whole id)");
    }
    if !list.running {
        text.push_str(
            "\n(no node is running: connections and pending machines are known only while it runs)",
        );
    }
    text
}

fn status(s: &StatusReport) -> String {
    let state = if s.running {
        let mut state = format!("running, listening on {}", s.listen.join(" "));
        if let Some(ui) = &s.ui {
            let _ = write!(state, "; page at {ui} ('shiftmesh ui' prints a login link)");
        }
        state
    } else {
        "not running (this command read the store directly; start it with 'shiftmesh node')"
            .to_owned()
    };
    let connected = s.peers.iter().filter(|p| p.connected).count();
    let count = |state: &str| s.peers.iter().filter(|p| p.state == state).count();
    let mut others = format!("{} members", count("member"));
    for state in ["pending", "revoked", "void"] {
        if count(state) > 0 {
            let _ = write!(others, ", {} {state}", count(state));
        }
    }
    let mut schema = s.schema.to_string();
    if let Some(notice) = &s.schema_notice {
        let _ = write!(schema, " ({notice})");
    }
    let mut conflicts = format!("{} open ('shiftmesh conflicts' lists them)", s.conflicts);
    if s.damaged > 0 {
        let _ = write!(
            conflicts,
            "; {} entities hold fields this version cannot read",
            s.damaged
        );
    }
    let mut warnings = String::new();
    for w in &s.warnings {
        let _ = write!(
            warnings,
            "\nwarning     {} ('shiftmesh doctor' says what to do)",
            w.what
        );
    }
    format!(
        "site        {} ({})\nnode        {}  {}\nmembership  {}\nsite key    fingerprint {}\ndata dir    {}\nnode state  {state}\npeers       {connected} connected; {others} ('shiftmesh peers' lists them)\nschema      {schema}\nchanges     {}\nheads       {}\nentities    {} departments, {} staff, {} shifts, {} assignments, {} availability entries\nconflicts   {conflicts}{warnings}",
        s.site.clone().unwrap_or_default(),
        s.time_zone,
        s.name,
        s.peer_id,
        s.membership,
        s.site_key_fingerprint,
        s.data_dir.display(),
        s.changes,
        s.heads
            .iter()
            .map(|h| &h[..12.min(h.len())])
            .collect::<Vec<_>>()
            .join(" "),
        s.counts.departments,
        s.counts.staff,
        s.counts.shifts,
        s.counts.assignments,
        s.counts.availability
    )
}

/// What to do with an invite: printed on stderr, so stdout holds the invite alone and
/// `shiftmesh invite > invite.txt` saves just it. The invite is read from stdin or a file, not
/// given on the command line, where other local users see it (`/proc/PID/cmdline`) and the
/// shell's history keeps it.
pub fn invite_instructions(invite: &shiftmesh_app::InviteIssued) -> String {
    format!(
        "On the new machine, paste the invite (on stdout) into:\n  shiftmesh init --join -\n  shiftmesh node\nor save it to a file (shiftmesh invite > invite.txt), copy the file over and run 'shiftmesh init --join invite.txt'.\nThe invite can be used once, until {}. It holds the site key: pass it only to machines of this site, and delete the file once used.",
        invite.expires
    )
}

fn backups(list: &shiftmesh_app::BackupList) -> String {
    let Some(dir) = &list.dir else {
        return "scheduled backups are off (config.toml: [backup] every = \"off\")".into();
    };
    let mut out = format!(
        "backups every {} into {}, kept {} days\n",
        list.every.as_deref().unwrap_or("?"),
        dir.display(),
        list.keep_days.unwrap_or(0)
    );
    if list.backups.is_empty() {
        out.push_str("none written yet (the node writes the first one when it runs)");
    }
    for b in &list.backups {
        out.push_str(&format!(
            "{}  {:>12} bytes  {}\n",
            b.time,
            b.bytes,
            b.path.display()
        ));
    }
    out.trim_end().to_owned()
}

fn doctor(findings: &[shiftmesh_app::doctor::Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let mark = if f.warning { "WARN" } else { "ok  " };
        let _ = writeln!(out, "{mark}  {:<12} {}", f.check, f.what);
        if let Some(fix) = &f.fix {
            let _ = writeln!(out, "      {:<12} fix: {fix}", "");
        }
    }
    // When something needs attention, the exit status and a line on stderr say so.
    if findings.iter().all(|f| !f.warning) {
        out.push_str("nothing needs attention");
    }
    out.trim_end().to_owned()
}

/// What follows an author to say who made a change: the machine by its name in the
/// membership list (`peer`, its peer id, when it is no member), and what is not proven.
fn made_on(provenance: Option<&Provenance>, peer: Option<&str>) -> String {
    let Some(p) = provenance else {
        return String::new();
    };
    let machine = match (&p.machine_name, peer) {
        (Some(name), _) => format!(" on '{name}'"),
        (None, Some(peer)) => format!(" on a machine that is no member ({peer})"),
        (None, None) => String::new(),
    };
    let mut marks = Vec::new();
    if !p.verified {
        marks.push("unverified");
    }
    if p.after_revocation {
        marks.push("after its machine's revocation");
    }
    if marks.is_empty() {
        machine
    } else {
        format!("{machine} [{}]", marks.join(", "))
    }
}
