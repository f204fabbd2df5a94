//! Finding a substitute: who could take a shift, ranked the same way on every node.

use serde::{Deserialize, Serialize};
use shiftmesh_model::{AssignmentKey, Id, Shift, Staff};

use crate::check::{iso_week, iso_week_of, Input};

/// Someone who could take a shift.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    pub staff: Id,
    pub name: String,
    /// Warnings taking the shift would add (short rest next to it, an undesired slot).
    pub new_warnings: usize,
    /// Minutes already worked in the shift's week.
    pub week_minutes: i64,
    pub same_department: bool,
}

/// The most candidates listed for one shift.
pub const CANDIDATES_MAX: usize = 10;

/// Whether `staff` may take `shift` (in place of the assignment `replacing`, if any); the
/// reasons why not otherwise.
pub fn eligibility(
    input: &Input<'_>,
    shift: &Shift,
    staff: &Staff,
    replacing: Option<&AssignmentKey>,
    reference_department: Option<&Id>,
) -> Result<Candidate, Vec<String>> {
    let mut reasons = Vec::new();
    if !staff.active {
        reasons.push(format!("{} is not active", staff.id));
    }
    if staff.employment_start.is_some_and(|d| d > shift.date)
        || staff.employment_end.is_some_and(|d| d < shift.date)
    {
        reasons.push(format!("{} is not employed on {}", staff.id, shift.date));
    }
    let missing: Vec<&str> = shift
        .skills
        .difference(&staff.skills)
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        reasons.push(format!("{} lacks {}", staff.id, missing.join(", ")));
    }
    let target = shift.time().interval(input.zone_of(shift));
    let week = iso_week_of(shift);
    let mut week_minutes = 0;
    let mut new_warnings = 0;
    for held in input.index.assignments_of_staff(&staff.id) {
        if Some(&held.key()) == replacing {
            continue;
        }
        let Some(other) = input.live_shift(&held.shift) else {
            continue;
        };
        if other.id == shift.id {
            reasons.push(format!("{} is already assigned to {}", staff.id, shift.id));
            continue;
        }
        let interval = input.interval(held, other);
        if interval.overlaps(&target) {
            reasons.push(format!(
                "{} is busy with {} ({})",
                staff.id,
                other.id,
                other.time()
            ));
        } else {
            let gap = if interval.end <= target.start {
                target.start.as_second() - interval.end.as_second()
            } else {
                interval.start.as_second() - target.end.as_second()
            };
            if gap / 60 < input.settings.min_rest_minutes {
                new_warnings += 1;
            }
        }
        if iso_week_of(other) == week {
            week_minutes += interval.minutes();
        }
    }
    for entry in input.index.availability_of_staff(&staff.id) {
        if !entry.span.interval(input.zone).overlaps(&target) {
            continue;
        }
        if entry.kind.blocks_work() {
            reasons.push(format!(
                "{} is {} {}",
                staff.id,
                entry.kind.as_str(),
                entry.span
            ));
        } else if entry.kind.as_str() == "undesired" {
            new_warnings += 1;
        }
    }
    if let Some(max) = staff.max_minutes_week {
        let total = week_minutes + target.minutes();
        if total > i64::from(max) {
            reasons.push(format!(
                "{} would work {} h in {}, over their maximum of {} h",
                staff.id,
                total / 60,
                iso_week(shift),
                max / 60
            ));
        }
    }
    if !reasons.is_empty() {
        return Err(reasons);
    }
    Ok(Candidate {
        staff: staff.id.clone(),
        name: staff.name.clone(),
        new_warnings,
        week_minutes,
        same_department: staff.department.is_some()
            && staff.department.as_ref() == reference_department,
    })
}

/// Everyone eligible for `shift` except `exclude`, ranked: fewest new warnings, then fewest
/// hours that week, then the same department, then id.
pub fn candidates(
    input: &Input<'_>,
    shift: &Shift,
    exclude: &[Id],
    replacing: Option<&AssignmentKey>,
) -> Vec<Candidate> {
    let department = shift.department.as_ref();
    let mut found: Vec<Candidate> = input
        .index
        .staff
        .values()
        .filter(|s| !exclude.contains(&s.id))
        .filter_map(|s| eligibility(input, shift, s, replacing, department).ok())
        .collect();
    found.sort_by(|a, b| {
        (a.new_warnings, a.week_minutes, !a.same_department, &a.staff).cmp(&(
            b.new_warnings,
            b.week_minutes,
            !b.same_department,
            &b.staff,
        ))
    });
    found.truncate(CANDIDATES_MAX);
    found
}
