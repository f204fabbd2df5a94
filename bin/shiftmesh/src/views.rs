//! Read-only commands: status, the schedule grid, history, and showing entities.

use std::fmt::Write as _;

use jiff::civil::{Date, Weekday};
use serde::Serialize;
use serde_json::json;
use shiftmesh_model::history::history as read_history;
use shiftmesh_model::time::format_time;
use shiftmesh_model::{describe_damage, Collection, Damage, Id, Index, Shift, Staff, View};

use crate::cli::{HistoryArgs, ScheduleArgs};
use shiftmesh_node::Status;

use crate::context::{Context, Reader};
use crate::output;

/// Lays out rows under a header, columns padded to their widest cell.
pub fn table(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let rows: Vec<Vec<String>> = rows.collect();
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

pub fn hours(minutes: u32) -> String {
    if minutes.is_multiple_of(60) {
        format!("{}", minutes / 60)
    } else {
        format!("{:.2}", f64::from(minutes) / 60.0)
            .trim_end_matches('0')
            .to_owned()
    }
}

/// What is damaged in an entity, as a line for its `show`, pointing at the conflicts.
fn damage_text(index: &Index, collection: Collection, key: &str) -> Option<String> {
    let damage = index.damaged.get(&(collection, key.to_owned()))?;
    Some(format!(
        "  damaged     {} (see 'shiftmesh conflicts --kind unreadable-field')\n",
        describe_damage(damage)
    ))
}

/// An id as lists show it: marked when the document holds a field of it this version cannot
/// read.
fn listed_id(index: &Index, collection: Collection, key: &str) -> String {
    if index.damaged.contains_key(&(collection, key.to_owned())) {
        format!("{key} (damaged)")
    } else {
        key.to_owned()
    }
}

/// An entity this version cannot use (a field it cannot do without is damaged), as lists and
/// exports show it: its id, what is wrong, and its fields as stored.
#[derive(Serialize)]
pub struct Unreadable<'a> {
    pub id: &'a str,
    pub damaged: &'a [Damage],
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// The unusable entities of a collection.
pub fn unreadable(index: &Index, collection: Collection) -> Vec<Unreadable<'_>> {
    index
        .unreadable
        .iter()
        .filter(|((c, _), _)| *c == collection)
        .map(|((_, key), fields)| Unreadable {
            id: key,
            damaged: index
                .damaged
                .get(&(collection, key.clone()))
                .map(Vec::as_slice)
                .unwrap_or_default(),
            fields: fields
                .iter()
                .map(|(name, v)| (name.to_owned(), v.to_json()))
                .collect(),
        })
        .collect()
}

pub fn staff_table(index: &Index, list: &[&Staff]) -> String {
    table(
        &["ID", "NAME", "DEPARTMENT", "SKILLS", "MAX H/WEEK", "ACTIVE"],
        list.iter().map(|s| {
            vec![
                listed_id(index, Collection::Staff, s.id.as_str()),
                s.name.clone(),
                s.department.as_ref().map(Id::to_string).unwrap_or_default(),
                s.skills.iter().cloned().collect::<Vec<_>>().join(","),
                s.max_minutes_week.map(hours).unwrap_or_default(),
                if s.active { "yes".into() } else { "no".into() },
            ]
        }),
    )
}

/// Concurrent values of an entity's fields, as JSON and as text lines.
fn concurrent(
    reader: &mut Reader,
    collection: Collection,
    key: &str,
) -> anyhow::Result<(serde_json::Value, String)> {
    let values = reader.concurrent_values(collection, key)?;
    let mut text = String::new();
    let mut map = serde_json::Map::new();
    for (field, values) in values {
        let list: Vec<serde_json::Value> = values
            .iter()
            .map(|v| json!({"value": v.value, "change": v.change.map(|h| h.to_string())}))
            .collect();
        let shown: Vec<String> = values.iter().map(|v| v.value.to_string()).collect();
        let _ = writeln!(
            text,
            "  concurrent values of {}: {} (shown: the first; resolve by setting the field)",
            if field.is_empty() {
                "the entity"
            } else {
                &field
            },
            shown.join(" | ")
        );
        map.insert(field, serde_json::Value::Array(list));
    }
    Ok((serde_json::Value::Object(map), text))
}

pub fn staff_show(ctx: &mut Context, id: &Id) -> anyhow::Result<()> {
    let mut r = ctx.db.read()?;
    r.view().require(Collection::Staff, id.as_str())?;
    let (conflicts, conflict_text) = concurrent(&mut r, Collection::Staff, id.as_str())?;
    let index = r.view().index();
    let staff = &index.staff[id];
    let assignments: Vec<_> = index.assignments_of_staff(id).collect();
    let availability: Vec<_> = index.availability_of_staff(id).collect();
    let damaged = index.damaged.get(&(Collection::Staff, id.to_string()));
    let value = json!({"staff": staff, "assignments": assignments, "availability": availability,
                       "concurrent": conflicts, "damaged": damaged});
    output::either(ctx.json, &value, || {
        let mut out = staff_table(index, &[staff]);
        out.push_str(&damage_text(index, Collection::Staff, id.as_str()).unwrap_or_default());
        out.push_str(&conflict_text);
        let _ = writeln!(out, "\nassignments ({}):", assignments.len());
        for a in &assignments {
            let when = index
                .shifts
                .get(&a.shift)
                .map(|sh| sh.time().to_string())
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
        let _ = writeln!(out, "availability ({}):", availability.len());
        for a in &availability {
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
    })
}

#[derive(Serialize)]
struct ShiftView<'a> {
    #[serde(flatten)]
    shift: &'a Shift,
    overnight: bool,
    assigned: Vec<&'a str>,
    coverage: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    damaged: Option<&'a [Damage]>,
}

fn shift_view<'a>(view: &'a View, shift: &'a Shift) -> ShiftView<'a> {
    let index = view.index();
    let assigned: Vec<&str> = index
        .assignments_of_shift(&shift.id)
        .map(|a| a.staff.as_str())
        .collect();
    // A damaged capacity or minimum is shown as unknown, not as its fallback.
    let known = |field: &str, value: u32| {
        if index.is_damaged(Collection::Shifts, shift.id.as_str(), field) {
            "?".to_owned()
        } else {
            value.to_string()
        }
    };
    ShiftView {
        coverage: format!(
            "{}/{}/{}",
            assigned.len(),
            known("min_staff", shift.min_staff),
            known("capacity", shift.capacity)
        ),
        overnight: shift.time().is_overnight(),
        shift,
        assigned,
        damaged: index
            .damaged
            .get(&(Collection::Shifts, shift.id.to_string()))
            .map(Vec::as_slice),
    }
}

fn shift_line(view: &ShiftView<'_>) -> String {
    let shift = view.shift;
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
            view.assigned.join(", ")
        },
        mark
    )
}

pub fn shift_show(ctx: &mut Context, id: &Id) -> anyhow::Result<()> {
    let mut r = ctx.db.read()?;
    let index = r.view().index();
    if index.is_unreadable(Collection::Shifts, id.as_str()) {
        // Shown as stored, with what is wrong, rather than refused.
        let found = unreadable(index, Collection::Shifts);
        let entry = found.iter().find(|u| u.id == id.as_str());
        let assigned: Vec<&str> = index
            .assignments_of_shift(id)
            .map(|a| a.staff.as_str())
            .collect();
        let value = json!({"shift": entry, "assigned": assigned});
        return output::either(ctx.json, &value, || {
            let mut out = format!("shift {id}\n");
            out.push_str(&damage_text(index, Collection::Shifts, id.as_str()).unwrap_or_default());
            for (name, v) in entry.map(|e| e.fields.iter()).into_iter().flatten() {
                let _ = writeln!(out, "  {name:<11} {v}");
            }
            let _ = writeln!(out, "  assigned    {}", assigned.join(", "));
            out
        });
    }
    r.view().require(Collection::Shifts, id.as_str())?;
    let (conflicts, conflict_text) = concurrent(&mut r, Collection::Shifts, id.as_str())?;
    let shift = &r.view().index().shifts[id];
    let view = shift_view(r.view(), shift);
    let value = json!({"shift": view, "concurrent": conflicts});
    output::either(ctx.json, &value, || {
        let mut out = format!(
            "shift {}\n  when        {}\n  department  {}\n  coverage    {} (assigned/min/capacity)\n  skills      {}\n  label       {}\n  assigned    {}\n",
            shift.id,
            shift.time(),
            shift.department.as_ref().map(Id::as_str).unwrap_or("-"),
            view.coverage,
            shift.skills.iter().cloned().collect::<Vec<_>>().join(", "),
            shift.label,
            view.assigned.join(", ")
        );
        out.push_str(
            &damage_text(r.view().index(), Collection::Shifts, id.as_str()).unwrap_or_default(),
        );
        out.push_str(&conflict_text);
        out
    })
}

pub fn shift_list(
    ctx: &mut Context,
    from: Option<Date>,
    to: Option<Date>,
    department: Option<Id>,
) -> anyhow::Result<()> {
    let r = ctx.db.read()?;
    let index = r.view().index();
    let broken = unreadable(index, Collection::Shifts);
    let Some((first, last)) = index.shift_date_range() else {
        if broken.is_empty() {
            return output::either(ctx.json, &json!([]), || "(no shifts)".into());
        }
        return output::either(ctx.json, &broken, || broken_rows(&broken));
    };
    let views: Vec<ShiftView<'_>> = index
        .shifts_between(from.unwrap_or(first), to.unwrap_or(last))
        .filter(|sh| department.is_none() || sh.department == department)
        .map(|sh| shift_view(r.view(), sh))
        .collect();
    let mut all = serde_json::to_value(&views)?;
    if let (Some(list), false) = (all.as_array_mut(), broken.is_empty()) {
        list.extend(broken.iter().filter_map(|b| serde_json::to_value(b).ok()));
    }
    output::either(ctx.json, &all, || {
        let mut out = table(
            &["ID", "DATE", "TIME", "DEPARTMENT", "COVERAGE", "ASSIGNED"],
            views.iter().map(|v| {
                vec![
                    listed_id(index, Collection::Shifts, v.shift.id.as_str()),
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
                    v.assigned.join(","),
                ]
            }),
        );
        if !broken.is_empty() {
            out.push('\n');
            out.push_str(&broken_rows(&broken));
        }
        out
    })
}

/// Shifts that cannot be placed on a day, one line each with what is wrong.
fn broken_rows(broken: &[Unreadable<'_>]) -> String {
    let mut out = format!(
        "{} shift(s) cannot be read (damaged; see 'shiftmesh conflicts --kind unreadable-field'):\n",
        broken.len()
    );
    for b in broken {
        let _ = writeln!(out, "  {}  {}", b.id, describe_damage(b.damaged));
    }
    out
}

/// The days a schedule view covers.
fn period(args: &ScheduleArgs, today: Date) -> (Date, Date) {
    let p = &args.period;
    if let Some(day) = p.day {
        return (day, day);
    }
    if let Some(month) = p.month {
        return (month.first_of_month(), month.last_of_month());
    }
    let anchor = p.week.unwrap_or(today);
    let back = i64::from(anchor.weekday().to_monday_zero_offset());
    let monday = anchor
        .checked_sub(jiff::Span::new().days(back))
        .unwrap_or(anchor);
    let sunday = monday
        .checked_add(jiff::Span::new().days(6))
        .unwrap_or(monday);
    (monday, sunday)
}

pub fn schedule(ctx: &mut Context, args: ScheduleArgs) -> anyhow::Result<()> {
    let r = ctx.db.read()?;
    let view = &r.view();
    let today = jiff::Timestamp::now()
        .to_zoned(view.zone().tz().clone())
        .date();
    let (from, to) = period(&args, today);
    let index = view.index();
    if let Some(staff) = &args.staff {
        view.require(Collection::Staff, staff.as_str())?;
    }
    if let Some(d) = &args.department {
        view.require(Collection::Departments, d.as_str())?;
    }
    let mut days: Vec<(Date, Vec<ShiftView<'_>>)> = Vec::new();
    let mut day = from;
    while day <= to {
        days.push((day, Vec::new()));
        day = match day.tomorrow() {
            Ok(next) => next,
            Err(_) => break,
        };
    }
    for shift in index.shifts_between(from, to) {
        if args.department.is_some() && shift.department != args.department {
            continue;
        }
        let shown = shift_view(view, shift);
        if let Some(staff) = &args.staff {
            if !shown.assigned.contains(&staff.as_str()) {
                continue;
            }
        }
        if let Some((_, list)) = days.iter_mut().find(|(d, _)| *d == shift.date) {
            list.push(shown);
        }
    }
    for (_, list) in days.iter_mut() {
        list.sort_by(|a, b| (a.shift.start, &a.shift.id).cmp(&(b.shift.start, &b.shift.id)));
    }
    let value = json!({
        "from": from.to_string(), "to": to.to_string(), "time_zone": view.zone().name(),
        "days": days.iter().map(|(d, list)| json!({"date": d.to_string(), "shifts": list})).collect::<Vec<_>>(),
    });
    output::either(ctx.json, &value, || {
        let mut out = format!(
            "schedule {from} – {to} ({}); coverage is assigned/min/capacity\n",
            view.zone().name()
        );
        for (date, list) in &days {
            let _ = writeln!(out, "\n{} {date}", weekday_name(date.weekday()));
            if list.is_empty() {
                out.push_str("  (no shifts)\n");
            }
            for view in list {
                out.push_str(&shift_line(view));
                out.push('\n');
            }
        }
        let broken = unreadable(index, Collection::Shifts);
        if !broken.is_empty() {
            out.push('\n');
            out.push_str(&broken_rows(&broken));
        }
        out
    })
}

fn weekday_name(day: Weekday) -> &'static str {
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

fn rfc3339(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

pub fn history(ctx: &mut Context, args: HistoryArgs) -> anyhow::Result<()> {
    let s = ctx.db.open()?;
    let entries = read_history(s.schedule.doc_mut(), args.limit, args.entity.as_deref());
    let value: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            let mut v = serde_json::to_value(e).unwrap_or_default();
            v["time"] = json!(rfc3339(e.time_s));
            v
        })
        .collect();
    output::either(ctx.json, &value, || {
        let mut out = String::new();
        for e in &entries {
            let _ = writeln!(
                out,
                "{}  {}  {}  {}",
                &e.hash[..12],
                rfc3339(e.time_s),
                e.author,
                e.message
            );
            for d in &e.diff {
                let _ = writeln!(out, "    {}: {} → {}", d.path, d.before, d.after);
            }
            if e.diff_omitted > 0 {
                let _ = writeln!(out, "    … and {} more field changes", e.diff_omitted);
            }
        }
        if out.is_empty() {
            out.push_str("(no changes)");
        }
        out
    })
}

pub fn status(ctx: &mut Context) -> anyhow::Result<()> {
    let live = ctx.db.node_status();
    let mut r = ctx.db.read()?;
    let conflicts = match live.as_ref().and_then(|s| s.open_conflicts) {
        Some(n) => n,
        None => crate::conflicts::open_count(&mut r)?,
    };
    let node = live.unwrap_or_else(|| Status::offline(r.identity(), r.store(), r.view().index()));
    let heads = r.heads();
    let changes = r.changes();
    let index = r.view().index();
    let site = r.view().site().clone();
    let value = json!({
        "peer_id": node.peer_id,
        "name": node.name,
        "site": site.name,
        "time_zone": r.view().zone().name(),
        "data_dir": ctx.data_dir,
        "running": node.running,
        "membership": node.membership,
        "site_key_fingerprint": node.site_key_fingerprint,
        "listen": node.listen,
        "heads": heads,
        "changes": changes,
        "schema": site.schema,
        "schema_notice": site.newer_notice(),
        "damaged": index.damaged.len(),
        "conflicts": conflicts,
        "counts": {
            "departments": index.departments.len(), "staff": index.staff.len(),
            "shifts": index.shifts.len(), "assignments": index.assignments.len(),
            "availability": index.availability.len(),
        },
        "peers": node.peers,
    });
    output::either(ctx.json, &value, || {
        let state = if node.running {
            format!("running, listening on {}", node.listen.join(" "))
        } else {
            "not running (this command read the store directly; start it with 'shiftmesh node')"
                .to_owned()
        };
        let connected = node.peers.iter().filter(|p| p.connected).count();
        let count = |state: &str| node.peers.iter().filter(|p| p.state == state).count();
        let mut others = format!("{} members", count("member"));
        for state in ["pending", "revoked"] {
            if count(state) > 0 {
                let _ = write!(others, ", {} {state}", count(state));
            }
        }
        let mut schema = site.schema.to_string();
        if let Some(notice) = site.newer_notice() {
            let _ = write!(schema, " ({notice})");
        }
        let mut conflicts = format!("{conflicts} open ('shiftmesh conflicts' lists them)");
        if !index.damaged.is_empty() {
            let _ = write!(
                conflicts,
                "; {} entities hold fields this version cannot read",
                index.damaged.len()
            );
        }
        format!(
            "site        {} ({})\nnode        {}  {}\nmembership  {}\nsite key    fingerprint {}\ndata dir    {}\nnode state  {state}\npeers       {connected} connected; {others} ('shiftmesh peers' lists them)\nschema      {schema}\nchanges     {changes}\nheads       {}\nentities    {} departments, {} staff, {} shifts, {} assignments, {} availability entries\nconflicts   {conflicts}",
            site.name.unwrap_or_default(),
            r.view().zone().name(),
            node.name,
            node.peer_id,
            node.membership,
            node.site_key_fingerprint,
            ctx.data_dir.display(),
            heads.iter().map(|h| &h[..12]).collect::<Vec<_>>().join(" "),
            index.departments.len(),
            index.staff.len(),
            index.shifts.len(),
            index.assignments.len(),
            index.availability.len()
        )
    })
}
