//! Reads: the schedule over days with coverage, people and their hours; lists and shows of
//! staff and shifts; the history; the node's status and its peers.

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Date;
use serde_json::json;
use shiftmesh_model::{Collection, Id, Index, Shift, View};

use crate::context::{Context, Reader};
use crate::reply::{
    CoverShown, OnDuty, PeerList, PersonInView, Reply, ScheduleDay, ScheduleView, ShiftList,
    ShiftShown, ShiftView, ShownShift, StaffRow, StaffShown, Unreadable,
};
use crate::request::Period;
use crate::status::{EntityCounts, Status, StatusReport};
use crate::{AppError, Result};

/// The most days one schedule view covers (a year and a little).
pub const SCHEDULE_MAX_DAYS: i64 = 400;

/// The unusable entities of a collection: their ids, what is wrong, their fields as stored.
pub fn unreadable(index: &Index, collection: Collection) -> Vec<Unreadable> {
    index
        .unreadable
        .iter()
        .filter(|((c, _), _)| *c == collection)
        .map(|((_, key), fields)| Unreadable {
            id: key.clone(),
            damaged: index
                .damaged
                .get(&(collection, key.clone()))
                .cloned()
                .unwrap_or_default(),
            fields: fields
                .iter()
                .map(|(name, v)| (name.to_owned(), v.to_json()))
                .collect(),
        })
        .collect()
}

/// A shift as views show it.
pub fn shift_view(view: &View, shift: &Shift) -> ShiftView {
    let index = view.index();
    let assigned: Vec<Id> = index
        .assignments_of_shift(&shift.id)
        .map(|a| a.staff.clone())
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
        shift: shift.clone(),
        assigned,
        damaged: index
            .damaged
            .get(&(Collection::Shifts, shift.id.to_string()))
            .cloned(),
    }
}

/// Concurrent values of an entity's fields, as JSON: field → [{value, change}].
fn concurrent(reader: &mut Reader, collection: Collection, key: &str) -> Result<serde_json::Value> {
    let values = reader.concurrent_values(collection, key)?;
    let mut map = serde_json::Map::new();
    for (field, values) in values {
        let list: Vec<serde_json::Value> = values
            .iter()
            .map(|v| {
                json!({"value": v.value, "change": v.change.map(|h| h.to_string()),
                       "author": v.author})
            })
            .collect();
        map.insert(field, serde_json::Value::Array(list));
    }
    Ok(serde_json::Value::Object(map))
}

pub fn staff_list(ctx: &mut Context) -> Result<Reply> {
    let r = ctx.db.read()?;
    let index = r.view().index();
    Ok(Reply::StaffList(
        index
            .staff
            .values()
            .map(|s| StaffRow {
                damaged: index
                    .damaged
                    .contains_key(&(Collection::Staff, s.id.to_string())),
                staff: s.clone(),
            })
            .collect(),
    ))
}

pub fn staff_show(ctx: &mut Context, id: &Id) -> Result<Reply> {
    let mut r = ctx.db.read()?;
    r.view().require(Collection::Staff, id.as_str())?;
    let concurrent = concurrent(&mut r, Collection::Staff, id.as_str())?;
    let index = r.view().index();
    let assignments: Vec<_> = index.assignments_of_staff(id).cloned().collect();
    let shift_times = assignments
        .iter()
        .filter_map(|a| {
            let shift = index.shifts.get(&a.shift)?;
            Some((a.shift.clone(), shift.time().to_string()))
        })
        .collect();
    Ok(Reply::StaffShown(StaffShown {
        staff: index.staff[id].clone(),
        assignments,
        availability: index.availability_of_staff(id).cloned().collect(),
        concurrent,
        damaged: index
            .damaged
            .get(&(Collection::Staff, id.to_string()))
            .cloned(),
        shift_times,
    }))
}

pub fn shift_show(ctx: &mut Context, id: &Id) -> Result<Reply> {
    let mut r = ctx.db.read()?;
    let index = r.view().index();
    if index.is_unreadable(Collection::Shifts, id.as_str()) {
        // Shown as stored, with what is wrong, rather than refused.
        let entry = unreadable(index, Collection::Shifts)
            .into_iter()
            .find(|u| u.id == id.as_str())
            .ok_or_else(|| AppError::NotFound(format!("shift '{id}' does not exist")))?;
        let assigned = index
            .assignments_of_shift(id)
            .map(|a| a.staff.clone())
            .collect();
        return Ok(Reply::ShiftShown(ShiftShown {
            shift: ShownShift::Unreadable(entry),
            concurrent: json!({}),
            assigned,
        }));
    }
    r.view().require(Collection::Shifts, id.as_str())?;
    let concurrent = concurrent(&mut r, Collection::Shifts, id.as_str())?;
    let shift = &r.view().index().shifts[id];
    Ok(Reply::ShiftShown(ShiftShown {
        shift: ShownShift::Readable(shift_view(r.view(), shift)),
        concurrent,
        assigned: Vec::new(),
    }))
}

pub fn shift_list(
    ctx: &mut Context,
    from: Option<Date>,
    to: Option<Date>,
    department: Option<Id>,
) -> Result<Reply> {
    let r = ctx.db.read()?;
    if let (Some(from), Some(to)) = (from, to) {
        if to < from {
            return Err(AppError::Usage(format!(
                "the range ends ({to}) before it starts ({from})"
            )));
        }
    }
    if let Some(d) = &department {
        r.view().require(Collection::Departments, d.as_str())?;
    }
    let index = r.view().index();
    let shifts = match index.shift_date_range() {
        None => Vec::new(),
        Some((first, last)) => index
            .shifts_between(from.unwrap_or(first), to.unwrap_or(last))
            .filter(|sh| department.is_none() || sh.department == department)
            .map(|sh| shift_view(r.view(), sh))
            .collect(),
    };
    Ok(Reply::Shifts(ShiftList {
        shifts,
        unreadable: unreadable(index, Collection::Shifts),
    }))
}

/// The days a period covers, given today in the site's zone.
fn days_of(period: Period, today: Date) -> (Date, Date) {
    let monday = shiftmesh_model::time::monday_of;
    let sunday = |monday: Date| {
        monday
            .checked_add(jiff::Span::new().days(6))
            .unwrap_or(monday)
    };
    match period {
        Period::Day(day) => (day, day),
        Period::Month(any) => (any.first_of_month(), any.last_of_month()),
        Period::Week(anchor) => (monday(anchor), sunday(monday(anchor))),
        Period::ThisWeek => (monday(today), sunday(monday(today))),
        Period::Range { from, to } => (from, to),
    }
}

pub fn schedule(
    ctx: &mut Context,
    period: Period,
    department: Option<Id>,
    staff: Option<Id>,
) -> Result<Reply> {
    let r = ctx.db.read()?;
    let view = r.view();
    let today = jiff::Timestamp::now()
        .to_zoned(view.zone().tz().clone())
        .date();
    let (from, to) = days_of(period, today);
    if to < from {
        return Err(AppError::Usage(format!(
            "the period ends ({to}) before it starts ({from})"
        )));
    }
    let length = from.until(to).map(|s| s.get_days()).unwrap_or(0);
    if i64::from(length) >= SCHEDULE_MAX_DAYS {
        return Err(AppError::Usage(format!(
            "a schedule view covers at most {SCHEDULE_MAX_DAYS} days, not {}",
            length + 1
        )));
    }
    let index = view.index();
    if let Some(staff) = &staff {
        view.require(Collection::Staff, staff.as_str())?;
    }
    if let Some(d) = &department {
        view.require(Collection::Departments, d.as_str())?;
    }
    let mut days: Vec<ScheduleDay> = Vec::new();
    let mut day = from;
    while day <= to {
        days.push(ScheduleDay {
            date: day,
            shifts: Vec::new(),
        });
        day = match day.tomorrow() {
            Ok(next) => next,
            Err(_) => break,
        };
    }
    let mut minutes: BTreeMap<Id, i64> = BTreeMap::new();
    for shift in index.shifts_between(from, to) {
        if department.is_some() && shift.department != department {
            continue;
        }
        let shown = shift_view(view, shift);
        if let Some(staff) = &staff {
            if !shown.assigned.contains(staff) {
                continue;
            }
        }
        let length = shift.time().interval(view.zone()).minutes();
        for person in &shown.assigned {
            *minutes.entry(person.clone()).or_default() += length;
        }
        if let Some(slot) = days.iter_mut().find(|d| d.date == shift.date) {
            slot.shifts.push(shown);
        }
    }
    for d in days.iter_mut() {
        d.shifts
            .sort_by(|a, b| (a.shift.start, &a.shift.id).cmp(&(b.shift.start, &b.shift.id)));
    }
    // Everyone who works in the range or has an availability entry touching it.
    let start = from.to_datetime(jiff::civil::Time::midnight());
    let end = to
        .tomorrow()
        .unwrap_or(to)
        .to_datetime(jiff::civil::Time::midnight());
    // One pass over every availability entry, grouped by person: looking each person's up by
    // id instead costs a year's schedule tens of thousands of map lookups per view.
    let mut touching: BTreeMap<&Id, Vec<&shiftmesh_model::Availability>> = BTreeMap::new();
    for a in index.availability.values() {
        if a.span.from < end && start < a.span.to {
            touching.entry(&a.staff).or_default().push(a);
        }
    }
    let mut ids: BTreeSet<Id> = minutes.keys().cloned().collect();
    ids.extend(touching.keys().map(|id| (*id).clone()));
    let people: Vec<PersonInView> = ids
        .into_iter()
        .filter_map(|id| {
            let person = index.staff.get(&id)?;
            if staff.as_ref().is_some_and(|s| *s != id)
                || (department.is_some() && person.department != department)
            {
                return None;
            }
            Some(PersonInView {
                name: person.name.clone(),
                department: person.department.clone(),
                minutes: minutes.get(&id).copied().unwrap_or(0),
                max_minutes_week: person.max_minutes_week,
                availability: touching
                    .get(&id)
                    .map(|list| list.iter().map(|a| (*a).clone()).collect())
                    .unwrap_or_default(),
                id,
            })
        })
        .collect();
    // Names the people listed lack: only a view of one person or department has any, so a
    // page's whole week carries none twice.
    let listed: BTreeSet<&Id> = people.iter().map(|p| &p.id).collect();
    let names = days
        .iter()
        .flat_map(|d| d.shifts.iter().flat_map(|s| &s.assigned))
        .filter(|id| !listed.contains(id))
        .filter_map(|id| Some((id.clone(), index.staff.get(id)?.name.clone())))
        .collect();
    Ok(Reply::Schedule(ScheduleView {
        from,
        to,
        time_zone: view.zone().name().to_owned(),
        days,
        people,
        names,
        unreadable: unreadable(index, Collection::Shifts),
    }))
}

/// How far ahead `now` looks for the next shift.
pub const NEXT_SHIFT_HORIZON_DAYS: i64 = 14;

/// Who is on duty at this moment (shifts under way, overnight ones from yesterday included)
/// and which shifts start next.
pub fn on_duty(ctx: &mut Context, department: Option<Id>) -> Result<Reply> {
    let r = ctx.db.read()?;
    let view = r.view();
    if let Some(d) = &department {
        view.require(Collection::Departments, d.as_str())?;
    }
    let index = view.index();
    let now = jiff::Timestamp::now();
    let at = view.zone().local(now);
    let today = at.date();
    let yesterday = today.yesterday().unwrap_or(today);
    let horizon = today
        .checked_add(jiff::Span::new().days(NEXT_SHIFT_HORIZON_DAYS))
        .unwrap_or(today);
    let mut under_way = Vec::new();
    let mut upcoming: Vec<(jiff::Timestamp, &Shift)> = Vec::new();
    for shift in index.shifts_between(yesterday, horizon) {
        if department.is_some() && shift.department != department {
            continue;
        }
        let interval = shift.time().interval(view.zone());
        if interval.start <= now && now < interval.end {
            under_way.push(shift_view(view, shift));
        } else if interval.start > now {
            upcoming.push((interval.start, shift));
        }
    }
    let first = upcoming.iter().map(|(start, _)| *start).min();
    let next: Vec<ShiftView> = upcoming
        .iter()
        .filter(|(start, _)| Some(*start) == first)
        .map(|(_, shift)| shift_view(view, shift))
        .collect();
    let names = under_way
        .iter()
        .chain(&next)
        .flat_map(|s| &s.assigned)
        .filter_map(|id| Some((id.clone(), index.staff.get(id)?.name.clone())))
        .collect();
    Ok(Reply::OnDuty(OnDuty {
        at,
        time_zone: view.zone().name().to_owned(),
        now: under_way,
        next,
        names,
    }))
}

/// Who could take a shift, ranked as `find-substitute` ranks them, with the near-misses.
pub fn cover(ctx: &mut Context, id: &Id) -> Result<Reply> {
    let r = ctx.db.read()?;
    let view = r.view();
    view.require(Collection::Shifts, id.as_str())?;
    let index = view.index();
    let shift = &index.shifts[id];
    // Who could cover depends on the values that stand, not on the concurrent ones.
    let concurrent = shiftmesh_model::Concurrent::new();
    let input = shiftmesh_rules::Input::new(index, view.zone(), &concurrent);
    Ok(Reply::Cover(CoverShown {
        shift: shift_view(view, shift),
        cover: shiftmesh_rules::cover(&input, shift),
    }))
}

/// The most changes one history request lists.
pub const HISTORY_LIMIT_MAX: usize = 10_000;

pub fn history(
    ctx: &mut Context,
    limit: usize,
    filter: &shiftmesh_model::history::HistoryFilter,
) -> Result<Reply> {
    if limit > HISTORY_LIMIT_MAX {
        return Err(AppError::Usage(format!(
            "history lists at most {HISTORY_LIMIT_MAX} changes at once, not {limit}"
        )));
    }
    let entries = ctx.db.history(limit, filter)?;
    Ok(Reply::History(entries))
}

pub fn status(ctx: &mut Context) -> Result<Reply> {
    let live = ctx.db.node_status();
    let data_dir = ctx.data_dir.clone();
    let fingerprint = ctx.db.fingerprinter();
    let mut r = ctx.db.read()?;
    let conflicts = match live.as_ref().and_then(|s| s.open_conflicts) {
        Some(n) => n,
        None => crate::conflicts::open_count(&mut r)?,
    };
    let node = match live {
        Some(node) => node,
        None => offline_status(&r, fingerprint),
    };
    let heads = r.heads();
    let changes = r.changes();
    let index = r.view().index();
    let site = r.view().site().clone();
    let warnings = crate::doctor::warnings(&crate::doctor::Machine {
        data_dir: &data_dir,
        store: r.store(),
        index,
        me: &node.peer_id,
        heads: Some(r.store().heads()),
        node: node.running.then_some(&node),
    });
    Ok(Reply::Status(StatusReport {
        warnings,
        peer_id: node.peer_id,
        name: node.name,
        site: site.name.clone(),
        time_zone: r.view().zone().name().to_owned(),
        data_dir,
        running: node.running,
        membership: node.membership,
        site_key_fingerprint: node.site_key_fingerprint,
        listen: node.listen,
        ui: node.ui,
        heads,
        changes,
        schema: site.schema,
        schema_notice: site.newer_notice(),
        damaged: index.damaged.len(),
        conflicts,
        counts: EntityCounts {
            departments: index.departments.len(),
            staff: index.staff.len(),
            shifts: index.shifts.len(),
            assignments: index.assignments.len(),
            availability: index.availability.len(),
        },
        peers: node.peers,
    }))
}

pub fn peers(ctx: &mut Context) -> Result<Reply> {
    let node = node_status(ctx)?;
    Ok(Reply::Peers(PeerList {
        running: node.running,
        peers: node.peers,
    }))
}

/// The running node's status, or the one read from the store when no node runs.
pub fn node_status(ctx: &mut Context) -> Result<Status> {
    if let Some(live) = ctx.db.node_status() {
        return Ok(live);
    }
    let fingerprint = ctx.db.fingerprinter();
    let r = ctx.db.read()?;
    Ok(offline_status(&r, fingerprint))
}

fn offline_status(r: &Reader, fingerprint: fn(&[u8; 32]) -> String) -> Status {
    Status::offline(
        r.identity(),
        r.store(),
        r.view().index(),
        fingerprint(&r.identity().site_key.0),
    )
}
