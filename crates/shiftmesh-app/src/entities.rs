//! Adding, changing and removing what the schedule holds: departments, staff, shifts,
//! assignments and availability. Every change is persisted before it is reported, with the
//! conflicts it brought.

use std::collections::BTreeSet;

use serde_json::json;
use shiftmesh_model::entity::check_name;
use shiftmesh_model::{
    Assignment, AssignmentKey, Availability, AvailabilityKind, Collection, Department, Entity, Id,
    LocalSpan, ModelError, Shift, SiteZone, Staff,
};

use crate::conflicts::{changed, write, Checked};
use crate::context::Context;
use crate::reply::{Assigned, Reply};
use crate::request::{ShiftFields, StaffFields};
use crate::session::{now_ms, Session};
use crate::text::{checked_lines, checked_text};
use crate::{AppError, Result};

fn usage(e: shiftmesh_model::InputError) -> AppError {
    AppError::Usage(e.message)
}

fn require_department(s: &Session, department: &Option<Id>) -> Result<()> {
    if let Some(d) = department {
        s.schedule.require(Collection::Departments, d.as_str())?;
    }
    Ok(())
}

pub fn department_add(
    ctx: &mut Context,
    id: Id,
    name: String,
    time_zone: Option<String>,
) -> Result<Reply> {
    check_name("name", &name).map_err(usage)?;
    if let Some(zone) = &time_zone {
        SiteZone::parse(zone).map_err(usage)?;
    }
    let department = Department {
        id: id.clone(),
        name,
        time_zone,
    };
    let (_, _, caused) = write(ctx, |s, edit| {
        let written = s
            .schedule
            .add(edit, &department, format!("add department {id}"))?;
        Ok(((), written))
    })?;
    Ok(changed(
        &department,
        format!("added department {id}"),
        caused,
    ))
}

/// Renames or re-zones a department. `time_zone: Some("")` returns it to the site's zone.
pub fn department_update(
    ctx: &mut Context,
    id: Id,
    name: Option<String>,
    time_zone: Option<String>,
) -> Result<Reply> {
    let mut department = {
        let s = ctx.db.open()?;
        s.schedule.require(Collection::Departments, id.as_str())?;
        s.schedule.index().departments[&id].clone()
    };
    let mut set = Vec::new();
    if let Some(name) = name {
        check_name("name", &name).map_err(usage)?;
        department.name = name;
        set.push("name");
    }
    if let Some(zone) = time_zone {
        if !zone.is_empty() {
            SiteZone::parse(&zone).map_err(usage)?;
        }
        department.time_zone = (!zone.is_empty()).then_some(zone);
        set.push("time_zone");
    }
    update(ctx, department, set, "department", |_, _| Ok(()))
}

/// Removes a department no staff member or shift belongs to any more: moving them is a choice
/// the manager makes, not a side effect.
pub fn department_remove(ctx: &mut Context, id: Id) -> Result<Reply> {
    {
        let s = ctx.db.open()?;
        s.schedule.require(Collection::Departments, id.as_str())?;
        let index = s.schedule.index();
        let of = |d: &Option<Id>| d.as_ref() == Some(&id);
        let staff = index.staff.values().filter(|s| of(&s.department)).count();
        let shifts = index.shifts.values().filter(|s| of(&s.department)).count();
        if staff + shifts > 0 {
            return Err(AppError::Refused(format!(
                "department {id} still has {staff} staff member(s) and {shifts} shift(s); move them first ('staff update ID --department OTHER', 'shift update ID --department OTHER')"
            )));
        }
    }
    remove(ctx, Collection::Departments, id, false)
}

pub fn department_list(ctx: &mut Context) -> Result<Reply> {
    let r = ctx.db.read()?;
    Ok(Reply::Departments(
        r.view().index().departments.values().cloned().collect(),
    ))
}

fn skills(given: &[Id]) -> BTreeSet<String> {
    given.iter().map(|s| s.to_string()).collect()
}

/// Applies the given fields to `staff` and returns the names of the fields they set.
fn apply_staff_fields(staff: &mut Staff, f: &StaffFields) -> Vec<&'static str> {
    let mut set = Vec::new();
    if let Some(name) = &f.name {
        staff.name = name.clone();
        set.push("name");
    }
    if let Some(department) = &f.department {
        staff.department = Some(department.clone());
        set.push("department");
    }
    if let Some(given) = &f.skills {
        staff.skills = skills(given);
        set.push("skills");
    }
    if let Some(minutes) = f.max_minutes_week {
        staff.max_minutes_week = Some(minutes);
        set.push("max_minutes_week");
    }
    if let Some(date) = f.employment_start {
        staff.employment_start = Some(date);
        set.push("employment_start");
    }
    if let Some(date) = f.employment_end {
        staff.employment_end = Some(date);
        set.push("employment_end");
    }
    if let Some(active) = f.active {
        staff.active = active;
        set.push("active");
    }
    set
}

pub fn staff_add(ctx: &mut Context, id: Id, fields: StaffFields) -> Result<Reply> {
    let Some(name) = fields.name.clone() else {
        return Err(AppError::Usage("staff add needs --name NAME".into()));
    };
    let mut staff = Staff::new(id.clone(), name);
    apply_staff_fields(&mut staff, &fields);
    staff.check().map_err(usage)?;
    let (_, _, caused) = write(ctx, |s, edit| {
        require_department(s, &staff.department)?;
        let written = s.schedule.add(edit, &staff, format!("add staff {id}"))?;
        Ok(((), written))
    })?;
    Ok(changed(&staff, format!("added staff {id}"), caused))
}

pub fn staff_update(ctx: &mut Context, id: Id, fields: StaffFields) -> Result<Reply> {
    let mut staff = {
        let s = ctx.db.open()?;
        s.schedule.require(Collection::Staff, id.as_str())?;
        s.schedule.index().staff[&id].clone()
    };
    let set = apply_staff_fields(&mut staff, &fields);
    staff.check().map_err(usage)?;
    update(ctx, staff, set, "staff", |s, staff| {
        require_department(s, &staff.department)
    })
}

pub fn shift_update(ctx: &mut Context, id: Id, fields: ShiftFields) -> Result<Reply> {
    let mut shift = {
        let s = ctx.db.open()?;
        s.schedule.require(Collection::Shifts, id.as_str())?;
        s.schedule.index().shifts[&id].clone()
    };
    let set = apply_shift_fields(&mut shift, &fields);
    shift.check().map_err(usage)?;
    if set.contains(&"time") {
        check_whole_day(&shift, &fields)?;
    }
    update(ctx, shift, set, "shift", |s, shift| {
        require_department(s, &shift.department)
    })
}

/// Writes the fields an update set (only those), persists, and reports the entity.
fn update<E: Entity + serde::Serialize>(
    ctx: &mut Context,
    entity: E,
    set: Vec<&'static str>,
    noun: &str,
    check: impl FnOnce(&Session, &E) -> Result<()>,
) -> Result<Reply> {
    if set.is_empty() {
        return Err(AppError::Usage(format!(
            "{noun} update needs at least one field to change"
        )));
    }
    let message = format!("update {noun} {} ({})", entity.key(), set.join(", "));
    let (_, written, caused) = write(ctx, |s, edit| {
        check(s, &entity)?;
        let written = s.schedule.update(edit, &entity, &set, message.clone())?;
        Ok(((), written))
    })?;
    // Writing the values a field already holds makes no change (and nothing to sync): say so,
    // rather than report an update no other machine will ever see.
    let message = match written.change {
        Some(_) => message,
        None => format!(
            "{noun} {} already has these values; nothing changed",
            entity.key()
        ),
    };
    Ok(changed(&entity, message, caused))
}

/// Removes a staff member or shift, and its assignments when `force` says so.
pub fn remove(ctx: &mut Context, collection: Collection, id: Id, force: bool) -> Result<Reply> {
    let held: Vec<AssignmentKey> = {
        let s = ctx.db.open()?;
        s.schedule.require(collection, id.as_str())?;
        let index = s.schedule.index();
        match collection {
            Collection::Staff => index.assignments_of_staff(&id).map(|a| a.key()).collect(),
            _ => index.assignments_of_shift(&id).map(|a| a.key()).collect(),
        }
    };
    if !held.is_empty() && !force {
        let names: Vec<String> = held.iter().take(5).map(|k| k.to_string()).collect();
        return Err(AppError::Refused(format!(
            "{id} has {} assignment(s) ({}{}); unassign them first, or pass --force to remove them too",
            held.len(),
            names.join(", "),
            if held.len() > 5 { ", …" } else { "" }
        )));
    }
    let also: Vec<(Collection, String)> = held
        .iter()
        .map(|k| (Collection::Assignments, k.to_string()))
        .collect();
    let message = if held.is_empty() {
        format!("remove {} {id}", collection.noun())
    } else {
        format!(
            "remove {} {id} and {} assignment(s)",
            collection.noun(),
            held.len()
        )
    };
    let (_, _, caused) = write(ctx, |s, edit| {
        let written = s
            .schedule
            .remove(edit, collection, id.as_str(), &also, message.clone())?;
        Ok(((), written))
    })?;
    Ok(changed(
        json!({"removed": id, "assignments_removed": held.len()}),
        message,
        caused,
    ))
}

fn apply_shift_fields(shift: &mut Shift, f: &ShiftFields) -> Vec<&'static str> {
    let mut set = Vec::new();
    if f.date.is_some() || f.start.is_some() || f.end.is_some() {
        shift.date = f.date.unwrap_or(shift.date);
        shift.start = f.start.unwrap_or(shift.start);
        shift.end = f.end.unwrap_or(shift.end);
        set.push("time");
    }
    if let Some(department) = &f.department {
        shift.department = Some(department.clone());
        set.push("department");
    }
    if let Some(capacity) = f.capacity {
        shift.capacity = capacity;
        set.push("capacity");
    }
    if let Some(min) = f.min_staff {
        shift.min_staff = min;
        set.push("min_staff");
    }
    if let Some(given) = &f.skills {
        shift.skills = skills(given);
        set.push("skills");
    }
    if let Some(label) = &f.label {
        shift.label = label.clone();
        set.push("label");
    }
    set
}

/// An end equal to the start makes a 24-hour shift, which is far more often a typing slip than
/// a plan: it is refused unless the request says it is meant.
fn check_whole_day(shift: &Shift, fields: &ShiftFields) -> Result<()> {
    if shift.start == shift.end && !fields.whole_day {
        return Err(AppError::Usage(format!(
            "shift {} would start and end at {}, which makes it 24 hours long; pass --24h if that is meant",
            shift.id,
            shiftmesh_model::time::format_time(shift.start)
        )));
    }
    Ok(())
}

pub fn shift_add(ctx: &mut Context, id: Id, fields: ShiftFields) -> Result<Reply> {
    let (Some(date), Some(start), Some(end)) = (fields.date, fields.start, fields.end) else {
        return Err(AppError::Usage(
            "shift add needs --date YYYY-MM-DD --start HH:MM --end HH:MM".into(),
        ));
    };
    let capacity = fields.capacity.unwrap_or(1);
    let mut shift = Shift {
        id: id.clone(),
        department: None,
        date,
        start,
        end,
        capacity,
        min_staff: fields.min_staff.unwrap_or(1.min(capacity)),
        skills: BTreeSet::new(),
        label: String::new(),
    };
    apply_shift_fields(&mut shift, &fields);
    shift.check().map_err(usage)?;
    check_whole_day(&shift, &fields)?;
    let (_, _, caused) = write(ctx, |s, edit| {
        require_department(s, &shift.department)?;
        let written = s.schedule.add(edit, &shift, format!("add shift {id}"))?;
        Ok(((), written))
    })?;
    Ok(changed(
        &shift,
        format!("added shift {id}: {}", shift.time()),
        caused,
    ))
}

pub fn assign(
    ctx: &mut Context,
    staff: Id,
    shift: Id,
    role: Option<String>,
    note: Option<String>,
    check: bool,
) -> Result<Reply> {
    let edit = ctx.edit()?;
    let assignment = Assignment {
        shift,
        staff,
        role: checked_text("role", role)?,
        note: checked_lines("note", note)?,
        created_at_ms: now_ms(),
        created_by: edit.author.clone(),
        window: None,
    };
    let (s, checked) = Checked::open(&mut ctx.db)?;
    let written = s.schedule.assign(&edit, &assignment)?;
    let caused = checked.caused(&mut s.schedule, &written.dirty)?;
    if !check {
        s.persist()?;
    }
    // A check writes nothing: its change is dropped again (a running node reloads the
    // schedule after every request that did not persist what it wrote).
    Ok(Reply::Assigned(Assigned {
        assignment: assignment.key().to_string(),
        written: !check,
        conflicts: caused.brought,
    }))
}

pub fn unassign(ctx: &mut Context, staff: Id, shift: Id) -> Result<Reply> {
    let key = AssignmentKey::new(shift.clone(), staff.clone()).to_string();
    let message = format!("unassign {staff} from {shift}");
    let (_, _, caused) = write(ctx, |s, edit| {
        let written = s
            .schedule
            .remove(edit, Collection::Assignments, &key, &[], message.clone())
            .map_err(|e| match e {
                ModelError::NotFound { .. } => {
                    AppError::NotFound(format!("{staff} is not assigned to {shift}"))
                }
                other => other.into(),
            })?;
        Ok(((), written))
    })?;
    Ok(changed(json!({"removed": key}), message, caused))
}

pub fn availability_add(
    ctx: &mut Context,
    staff: Id,
    span: LocalSpan,
    kind: AvailabilityKind,
    reason: Option<String>,
) -> Result<Reply> {
    let entry = Availability {
        id: Availability::derive_id(&staff, &span, kind),
        staff: staff.clone(),
        span,
        kind,
        reason: checked_lines("reason", reason)?,
    };
    let message = format!("add {} for {staff}: {span}", kind.as_str());
    let (_, _, caused) = write(ctx, |s, edit| {
        s.schedule.require(Collection::Staff, staff.as_str())?;
        let written = s.schedule.add(edit, &entry, message.clone())?;
        Ok(((), written))
    })?;
    Ok(changed(
        &entry,
        format!("added {} ({message})", entry.id),
        caused,
    ))
}

pub fn availability_list(ctx: &mut Context, staff: Option<Id>) -> Result<Reply> {
    let r = ctx.db.read()?;
    let index = r.view().index();
    let list = match &staff {
        Some(id) => index.availability_of_staff(id).cloned().collect(),
        None => index.availability.values().cloned().collect(),
    };
    Ok(Reply::AvailabilityList(list))
}

pub fn availability_remove(ctx: &mut Context, id: Id) -> Result<Reply> {
    let entry = {
        let s = ctx.db.open()?;
        s.schedule
            .index()
            .availability
            .get(&id)
            .cloned()
            .ok_or_else(|| AppError::NotFound(format!("availability '{id}' does not exist")))?
    };
    let message = format!(
        "remove {} for {}: {}",
        entry.kind.as_str(),
        entry.staff,
        entry.span
    );
    let (_, _, caused) = write(ctx, |s, edit| {
        let written = s.schedule.remove(
            edit,
            Collection::Availability,
            id.as_str(),
            &[],
            message.clone(),
        )?;
        Ok(((), written))
    })?;
    Ok(changed(json!({"removed": id}), message, caused))
}
