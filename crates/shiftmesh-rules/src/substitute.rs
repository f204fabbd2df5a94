//! Finding a substitute: who could take a shift, ranked the same way on every node.

use serde::{Deserialize, Serialize};
use shiftmesh_model::{AssignmentKey, Id, Shift, Staff};

use crate::check::{hours, iso_week, iso_week_of, Input};

/// Someone who could take a shift.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    pub staff: Id,
    pub name: String,
    /// Warnings taking the shift would add (short rest next to it, an undesired slot).
    pub new_warnings: usize,
    /// Those warnings in words ("7 h rest after mon-night, under the 11 h wanted").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
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
    let mut warnings = Vec::new();
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
            let (gap, side) = if interval.end <= target.start {
                (target.start.as_second() - interval.end.as_second(), "after")
            } else {
                (
                    interval.start.as_second() - target.end.as_second(),
                    "before",
                )
            };
            if gap / 60 < input.settings.min_rest_minutes {
                warnings.push(format!(
                    "{} rest {side} {}, under the {} wanted",
                    hours(gap / 60),
                    other.id,
                    hours(input.settings.min_rest_minutes)
                ));
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
            let state = match entry.kind.as_str() {
                "leave" => "on leave",
                other => other,
            };
            reasons.push(format!("{} is {state} {}", staff.id, entry.span));
        } else if entry.kind.as_str() == "undesired" {
            warnings.push(format!("would rather not work {}", entry.span));
        }
    }
    if let Some(max) = staff.max_minutes_week {
        let total = week_minutes + target.minutes();
        if total > i64::from(max) {
            reasons.push(format!(
                "{} would work {} in {}, {} over their maximum of {}",
                staff.id,
                hours(total),
                iso_week(shift),
                hours(total - i64::from(max)),
                hours(i64::from(max))
            ));
        }
    }
    if !reasons.is_empty() {
        return Err(reasons);
    }
    Ok(Candidate {
        staff: staff.id.clone(),
        name: staff.name.clone(),
        new_warnings: warnings.len(),
        warnings,
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

/// Someone who cannot take a shift as things stand, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NearMiss {
    pub staff: Id,
    pub name: String,
    pub reasons: Vec<String>,
}

/// Who could cover a shift: those eligible, ranked as [`candidates`] ranks them, and below the
/// line the active staff who miss, fewest reasons first, with the reasons.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cover {
    pub candidates: Vec<Candidate>,
    pub near_misses: Vec<NearMiss>,
}

/// The most near-misses listed for one shift.
pub const NEAR_MISSES_MAX: usize = 10;

/// Everyone who could take `shift`, and the nearest misses, leaving out those assigned to it.
pub fn cover(input: &Input<'_>, shift: &Shift) -> Cover {
    let assigned: Vec<Id> = input
        .index
        .assignments_of_shift(&shift.id)
        .map(|a| a.staff.clone())
        .collect();
    let mut near_misses: Vec<NearMiss> = input
        .index
        .staff
        .values()
        .filter(|s| s.active && !assigned.contains(&s.id))
        .filter_map(|s| {
            eligibility(input, shift, s, None, shift.department.as_ref())
                .err()
                .map(|reasons| NearMiss {
                    staff: s.id.clone(),
                    name: s.name.clone(),
                    reasons,
                })
        })
        .collect();
    near_misses.sort_by(|a, b| (a.reasons.len(), &a.staff).cmp(&(b.reasons.len(), &b.staff)));
    near_misses.truncate(NEAR_MISSES_MAX);
    Cover {
        candidates: candidates(input, shift, &assigned, None),
        near_misses,
    }
}
