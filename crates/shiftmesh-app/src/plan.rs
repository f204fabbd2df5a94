//! Planning from what exists: copying the shifts of a range of days (with or without their
//! assignments) to another range, and repeating a shift as a template on the days a rule
//! picks; each as one change that reports the conflicts it brings, and re-runnable: what an
//! earlier run made is found by its id and left alone.

use jiff::civil::Date;
use shiftmesh_model::{Batch, Collection, Id};

use crate::context::Context;
use crate::reply::{Planned, Reply};
use crate::transfer::{counts, write_batch};
use crate::views::SCHEDULE_MAX_DAYS;
use crate::{AppError, Result};

/// What to copy where.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CopySpec {
    /// The first and last day of the shifts to copy.
    pub from: Date,
    pub to: Date,
    /// The day the first day's shifts land on; every shift moves by the same number of days.
    pub onto: Date,
    /// Only this department's shifts.
    #[serde(default)]
    pub department: Option<Id>,
    /// Copy who is assigned too (staff no longer active are left out).
    #[serde(default)]
    pub with_assignments: bool,
}

/// A shift repeated as a template: on which days, how often, until when.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RepeatSpec {
    /// The shift to repeat: its time, department, capacity, minimum, skills and label.
    pub shift: Id,
    /// The first day to fill [default: the day after the shift].
    #[serde(default)]
    pub from: Option<Date>,
    /// The last day to fill.
    pub until: Date,
    /// The weekdays it repeats on, Monday = 1 … Sunday = 7 [default: the shift's own].
    #[serde(default)]
    pub weekdays: Vec<i8>,
    /// Every how many weeks, counted from the shift's week [default: 1].
    #[serde(default = "every_week")]
    pub every_weeks: u8,
    /// Copy who is assigned too.
    #[serde(default)]
    pub with_assignments: bool,
}

fn every_week() -> u8 {
    1
}

/// The most shifts one copy creates.
pub const COPY_MAX_SHIFTS: usize = 20_000;

/// The id a copy of a shift gets: its id with its date replaced by the new one where the id
/// holds it (`2026-11-23-am` → `2026-11-30-am`, and so a copy of a copy), else the new date
/// appended (`mon-am` → `mon-am-2026-11-30`). The same copy always gets the same id, so
/// copying again finds it and skips it.
pub fn copied_id(id: &Id, old: Date, new: Date) -> Result<Id> {
    let (old, new) = (old.to_string(), new.to_string());
    let text = if id.as_str().contains(&old) {
        id.as_str().replace(&old, &new)
    } else {
        format!("{id}-{new}")
    };
    Id::parse(&text).map_err(|e| AppError::Usage(e.message))
}

/// Copies the shifts of `spec.from..=spec.to` onto the days from `spec.onto`, leaving out
/// those already copied.
pub fn copy(ctx: &mut Context, spec: CopySpec) -> Result<Reply> {
    if spec.to < spec.from {
        return Err(AppError::Usage(format!(
            "the range to copy ends ({}) before it starts ({})",
            spec.to, spec.from
        )));
    }
    let days = |from: Date, to: Date| from.until(to).map(|s| i64::from(s.get_days())).unwrap_or(0);
    if days(spec.from, spec.to) >= SCHEDULE_MAX_DAYS {
        return Err(AppError::Usage(format!(
            "copy at most {SCHEDULE_MAX_DAYS} days at once"
        )));
    }
    if spec.onto == spec.from {
        return Err(AppError::Usage(
            "the copies would land on the days they are copied from; give another --onto".into(),
        ));
    }
    let shift_by = jiff::Span::new().days(days(spec.from, spec.onto));
    let copies = {
        let s = ctx.db.open()?;
        if let Some(d) = &spec.department {
            s.schedule.require(Collection::Departments, d.as_str())?;
        }
        let mut copies = Vec::new();
        for shift in s.schedule.index().shifts_between(spec.from, spec.to) {
            if spec.department.is_some() && shift.department != spec.department {
                continue;
            }
            let date = shift
                .date
                .checked_add(shift_by)
                .map_err(|_| AppError::Usage(format!("{} cannot move that far", shift.id)))?;
            copies.push((shift.id.clone(), date));
        }
        copies
    };
    let what = format!("copy {} – {} onto {}", spec.from, spec.to, spec.onto);
    write_copies(ctx, &copies, spec.with_assignments, what)
}

/// Repeats a shift on the days its rule picks, from `spec.from` to `spec.until`.
pub fn repeat(ctx: &mut Context, spec: RepeatSpec) -> Result<Reply> {
    if spec.every_weeks == 0 {
        return Err(AppError::Usage("--every-weeks must be 1 or more".into()));
    }
    if let Some(bad) = spec.weekdays.iter().find(|d| !(1..=7).contains(*d)) {
        return Err(AppError::Usage(format!(
            "weekday {bad} is not one of 1 (Monday) to 7 (Sunday)"
        )));
    }
    let template = {
        let s = ctx.db.open()?;
        s.schedule
            .require(Collection::Shifts, spec.shift.as_str())?;
        s.schedule.index().shifts[&spec.shift].clone()
    };
    let first = match spec.from {
        Some(day) => day,
        None => template
            .date
            .tomorrow()
            .map_err(|e| AppError::Usage(e.to_string()))?,
    };
    if spec.until < first {
        return Err(AppError::Usage(format!(
            "--until {} is before the first day to fill ({first})",
            spec.until
        )));
    }
    if first
        .until(spec.until)
        .map_or(0, |s| i64::from(s.get_days()))
        >= SCHEDULE_MAX_DAYS
    {
        return Err(AppError::Usage(format!(
            "a repeat fills at most {SCHEDULE_MAX_DAYS} days at once"
        )));
    }
    let weekdays: Vec<i8> = if spec.weekdays.is_empty() {
        vec![template.date.weekday().to_monday_one_offset()]
    } else {
        spec.weekdays.clone()
    };
    let monday = shiftmesh_model::time::monday_of;
    let home_week = monday(template.date);
    let mut copies = Vec::new();
    let mut day = first;
    while day <= spec.until {
        let weeks = home_week
            .until(monday(day))
            .map_or(0, |s| i64::from(s.get_days()) / 7);
        if day != template.date
            && weekdays.contains(&day.weekday().to_monday_one_offset())
            && weeks.rem_euclid(i64::from(spec.every_weeks)) == 0
        {
            copies.push((template.id.clone(), day));
        }
        day = match day.tomorrow() {
            Ok(next) => next,
            Err(_) => break,
        };
    }
    let what = format!("repeat {} until {}", template.id, spec.until);
    write_copies(ctx, &copies, spec.with_assignments, what)
}

/// Writes copies of shifts (each given by its id and the day the copy falls on) as one change,
/// leaving out those an earlier run made.
fn write_copies(
    ctx: &mut Context,
    copies: &[(Id, Date)],
    with_assignments: bool,
    what: String,
) -> Result<Reply> {
    if copies.len() > COPY_MAX_SHIFTS {
        return Err(AppError::Usage(format!(
            "this would create {} shifts, over the {COPY_MAX_SHIFTS} one change may; take a shorter range",
            copies.len()
        )));
    }
    let edit = ctx.edit()?;
    let mut batch = Batch::default();
    let mut skipped = Vec::new();
    let mut made = std::collections::BTreeSet::new();
    {
        let s = ctx.db.open()?;
        let index = s.schedule.index();
        for (original, date) in copies {
            let shift = &index.shifts[original];
            let id = copied_id(&shift.id, shift.date, *date)?;
            // A copy removed since counts as made: running again does not bring it back.
            if s.schedule.exists(Collection::Shifts, id.as_str())
                || index.is_removed(Collection::Shifts, id.as_str())
                || index.is_unreadable(Collection::Shifts, id.as_str())
                || !made.insert(id.clone())
            {
                skipped.push(id.to_string());
                continue;
            }
            if with_assignments {
                for held in index.assignments_of_shift(&shift.id) {
                    if !index.staff.get(&held.staff).is_some_and(|p| p.active) {
                        continue;
                    }
                    let mut assignment = held.clone();
                    assignment.shift = id.clone();
                    assignment.created_at_ms = edit.now_ms;
                    assignment.created_by = edit.author.clone();
                    assignment.window = None;
                    batch.assignments.push(assignment);
                }
            }
            let mut copy = shift.clone();
            copy.id = id;
            copy.date = *date;
            batch.shifts.push(copy);
        }
    }
    let added = counts(&batch);
    let message = format!(
        "{what}: {}",
        if batch.is_empty() {
            "nothing new".to_owned()
        } else {
            added.describe()
        }
    );
    let conflicts = if batch.is_empty() {
        Vec::new()
    } else {
        write_batch(ctx, &edit, &batch, message.clone())?
    };
    Ok(Reply::Planned(Planned {
        message,
        added,
        skipped,
        conflicts,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copied_ids_are_readable_and_the_same_every_time() {
        let day = |t: &str| shiftmesh_model::time::parse_date(t).unwrap();
        let id = |t: &str| Id::parse(t).unwrap();
        let (old, new) = (day("2026-11-23"), day("2026-11-30"));
        assert_eq!(
            copied_id(&id("2026-11-23-am"), old, new).unwrap().as_str(),
            "2026-11-30-am"
        );
        assert_eq!(
            copied_id(&id("mon-am"), old, new).unwrap().as_str(),
            "mon-am-2026-11-30"
        );
        let twice = copied_id(&id("mon-am-2026-11-30"), new, day("2026-12-07")).unwrap();
        assert_eq!(twice.as_str(), "mon-am-2026-12-07");
    }
}
