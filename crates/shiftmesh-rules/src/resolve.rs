//! Resolutions: each option of a conflict becomes ordinary operations on the schedule, applied
//! as one change that syncs like any other, so a conflict resolved on one node disappears on all.

use jiff::Timestamp;
use shiftmesh_model::time::{parse_clock, ShiftTime};
use shiftmesh_model::{
    Acknowledgement, Assignment, AssignmentKey, Collection, Edit, FieldValue, Id, LocalSpan, Op,
    Shift,
};
use thiserror::Error;

use crate::check::{creation_order, live_assignments, Input, SPLIT_ROUND_MINUTES};
use crate::conflict::{Conflict, Kind, OptionId, Severity};
use crate::substitute::{candidates, eligibility, Candidate};

/// What went wrong planning a resolution. Each says why, and nothing is written.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ResolveError {
    #[error("{option} is not an option for {conflict} ({kind}); its options are: {offered}")]
    OptionNotOffered {
        option: String,
        conflict: String,
        kind: Kind,
        offered: String,
    },
    #[error("{option} needs {what}")]
    Missing { option: OptionId, what: String },
    #[error("{staff} cannot take {shift}: {reasons}")]
    NotEligible {
        staff: Id,
        shift: Id,
        reasons: String,
    },
    #[error("{0}")]
    BadValue(String),
    #[error("{0} is an error and cannot be acknowledged; resolve it instead")]
    ErrorsCannotBeAcknowledged(String),
    #[error("the data of {0} changed; list the conflicts again")]
    Stale(String),
}

/// What the user asked for.
#[derive(Clone, Debug, Default)]
pub struct Request {
    pub option: String,
    pub staff: Option<Id>,
    pub value: Option<String>,
    pub note: Option<String>,
}

/// The operations of a resolution and the change message that records it.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub message: String,
    pub ops: Vec<Op>,
}

fn assignment<'a>(
    input: &Input<'a>,
    key: &str,
    conflict: &Conflict,
) -> Result<&'a Assignment, ResolveError> {
    AssignmentKey::parse(key)
        .ok()
        .and_then(|k| input.index.assignments.get(&k))
        .ok_or_else(|| ResolveError::Stale(conflict.id.clone()))
}

fn shift<'a>(input: &Input<'a>, id: &Id, conflict: &Conflict) -> Result<&'a Shift, ResolveError> {
    input
        .live_shift(id)
        .ok_or_else(|| ResolveError::Stale(conflict.id.clone()))
}

fn remove(key: &str) -> Op {
    Op::Remove {
        collection: Collection::Assignments,
        key: key.to_owned(),
    }
}

/// The assignment `find-substitute` hands to someone else (None: add someone to the shift).
fn substitute_target(
    conflict: &Conflict,
    input: &Input<'_>,
) -> Result<(Id, Option<Assignment>), ResolveError> {
    let pick = |key: &str| assignment(input, key, conflict).cloned();
    let target = match conflict.kind {
        Kind::DoubleBooking | Kind::InsufficientRest => Some(pick(&conflict.assignments[1])?),
        Kind::StaffUnavailable | Kind::MissingSkill => Some(pick(&conflict.assignments[0])?),
        Kind::MaxHoursExceeded => conflict
            .assignments
            .iter()
            .filter_map(|k| pick(k).ok())
            .max_by_key(creation_order),
        _ => None,
    };
    match target {
        Some(a) => Ok((a.shift.clone(), Some(a))),
        None => Ok((conflict.shifts[0].clone(), None)),
    }
}

/// The candidates `find-substitute` would offer for a conflict.
pub fn substitutes(
    conflict: &Conflict,
    input: &Input<'_>,
) -> Result<(Id, Vec<Candidate>), ResolveError> {
    let (shift_id, target) = substitute_target(conflict, input)?;
    let shift = shift(input, &shift_id, conflict)?;
    let exclude: Vec<Id> = conflict.staff.clone();
    let replacing = target.as_ref().map(|a| a.key());
    Ok((
        shift_id,
        candidates(input, shift, &exclude, replacing.as_ref()),
    ))
}

/// Plans the resolution `request` of `conflict`.
pub fn plan(
    conflict: &Conflict,
    request: &Request,
    input: &Input<'_>,
    edit: &Edit,
) -> Result<Plan, ResolveError> {
    let offered = || {
        conflict
            .options
            .iter()
            .map(|o| o.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let option = OptionId::parse(&request.option)
        .filter(|o| {
            conflict.offers(*o)
                || (*o == OptionId::Acknowledge && conflict.severity == Severity::Warning)
        })
        .ok_or_else(|| {
            if request.option == OptionId::Acknowledge.as_str()
                && conflict.severity == Severity::Error
            {
                return ResolveError::ErrorsCannotBeAcknowledged(conflict.id.clone());
            }
            ResolveError::OptionNotOffered {
                option: request.option.clone(),
                conflict: conflict.id.clone(),
                kind: conflict.kind,
                offered: offered(),
            }
        })?;
    let message = format!("resolve {} {option}", conflict.id);
    let value = || {
        request.value.clone().ok_or_else(|| ResolveError::Missing {
            option,
            what: "--value".into(),
        })
    };
    let ops = match option {
        // A window of overlap keeps the one chosen and loses every other assignment in it.
        OptionId::KeepFirst | OptionId::KeepSecond => {
            let kept = usize::from(option == OptionId::KeepSecond);
            conflict
                .assignments
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != kept)
                .map(|(_, key)| remove(key))
                .collect()
        }
        OptionId::MarkUncovered | OptionId::RemoveAssignment => {
            vec![remove(&conflict.assignments[0])]
        }
        OptionId::SplitTime => split_time(conflict, input)?,
        OptionId::RemoveExcess => {
            let shift = shift(input, &conflict.shifts[0], conflict)?;
            let mut assigned = live_assignments(&shift.id, input);
            let excess = assigned.len().saturating_sub(shift.capacity as usize);
            assigned.sort_by_key(|a| std::cmp::Reverse(creation_order(a)));
            assigned
                .iter()
                .take(excess)
                .map(|a| remove(&a.key().to_string()))
                .collect()
        }
        OptionId::IncreaseCapacity => {
            let shift = shift(input, &conflict.shifts[0], conflict)?;
            let count = live_assignments(&shift.id, input).len() as u32;
            let wanted: u32 = value()?
                .parse()
                .map_err(|_| ResolveError::BadValue("--value must be a whole number".into()))?;
            if wanted < count {
                return Err(ResolveError::BadValue(format!(
                    "{} has {count} people assigned; the capacity must be at least {count}",
                    shift.id
                )));
            }
            vec![Op::SetField {
                collection: Collection::Shifts,
                key: shift.id.to_string(),
                field: "capacity".into(),
                value: FieldValue::Int(i64::from(wanted)),
            }]
        }
        OptionId::Restore => {
            let mut ops = Vec::new();
            for (collection, id) in [
                (Collection::Shifts, conflict.shifts[0].as_str()),
                (Collection::Staff, conflict.staff[0].as_str()),
            ] {
                if input.index.is_removed(collection, id) {
                    ops.push(Op::Restore {
                        collection,
                        key: id.to_owned(),
                    });
                }
            }
            ops
        }
        OptionId::EditShift => {
            let shift = shift(input, &conflict.shifts[0], conflict)?;
            let text = value()?;
            let (start, end) = text.split_once(['-', '–']).ok_or_else(|| {
                ResolveError::BadValue(format!("'{text}' is not of the form HH:MM-HH:MM"))
            })?;
            let start = parse_clock(start.trim()).map_err(|e| ResolveError::BadValue(e.message))?;
            let end = parse_clock(end.trim()).map_err(|e| ResolveError::BadValue(e.message))?;
            let time = ShiftTime {
                date: shift.date,
                start,
                end,
            };
            vec![Op::SetField {
                collection: Collection::Shifts,
                key: shift.id.to_string(),
                field: "time".into(),
                value: FieldValue::Str(time.encode()),
            }]
        }
        OptionId::PickValue => {
            let text = value()?;
            let chosen = conflict
                .values
                .iter()
                .find(|w| value_matches(&w.value, &text))
                .ok_or_else(|| {
                    ResolveError::BadValue(format!(
                        "'{text}' is not one of the values: {}",
                        conflict
                            .values
                            .iter()
                            .map(|w| w.value.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
            let value = match &chosen.value {
                serde_json::Value::String(s) => FieldValue::Str(s.clone()),
                serde_json::Value::Bool(b) => FieldValue::Bool(*b),
                serde_json::Value::Number(n) => {
                    FieldValue::Int(n.as_i64().ok_or_else(|| {
                        ResolveError::BadValue(format!("{n} is not a whole number"))
                    })?)
                }
                other => {
                    return Err(ResolveError::BadValue(format!(
                        "{other} cannot be written back"
                    )))
                }
            };
            let (collection, key) = conflict_entity(conflict)?;
            vec![Op::SetField {
                collection,
                key,
                field: conflict.field.clone().unwrap_or_default(),
                value,
            }]
        }
        OptionId::FindSubstitute => {
            let staff_id = request.staff.clone().ok_or_else(|| ResolveError::Missing {
                option,
                what: "--staff ID (conflicts show lists the candidates)".into(),
            })?;
            let (shift_id, target) = substitute_target(conflict, input)?;
            let shift = shift(input, &shift_id, conflict)?;
            let staff = input
                .live_staff(&staff_id)
                .ok_or_else(|| ResolveError::NotEligible {
                    staff: staff_id.clone(),
                    shift: shift_id.clone(),
                    reasons: format!("there is no staff member {staff_id}"),
                })?;
            if conflict.staff.contains(&staff_id) {
                return Err(ResolveError::NotEligible {
                    staff: staff_id,
                    shift: shift_id,
                    reasons: "they are part of this conflict".into(),
                });
            }
            let replacing = target.as_ref().map(|a| a.key());
            eligibility(
                input,
                shift,
                staff,
                replacing.as_ref(),
                shift.department.as_ref(),
            )
            .map_err(|reasons| ResolveError::NotEligible {
                staff: staff_id.clone(),
                shift: shift_id.clone(),
                reasons: reasons.join("; "),
            })?;
            let mut ops = Vec::new();
            if let Some(old) = &target {
                ops.push(remove(&old.key().to_string()));
            }
            ops.push(Op::Assign(Assignment {
                shift: shift_id,
                staff: staff_id,
                role: target.as_ref().map(|a| a.role.clone()).unwrap_or_default(),
                note: target.as_ref().map(|a| a.note.clone()).unwrap_or_default(),
                created_at_ms: edit.now_ms,
                created_by: edit.author.clone(),
                window: None,
            }));
            ops
        }
        OptionId::Acknowledge => vec![acknowledge(conflict, request, edit)],
        OptionId::RestoreValue => {
            let (collection, key) = conflict_entity(conflict)?;
            vec![Op::RestoreField {
                collection,
                key,
                field: conflict.field.clone().unwrap_or_default(),
            }]
        }
        OptionId::Edit => {
            let (collection, key) = conflict_entity(conflict)?;
            let field = conflict.field.clone().unwrap_or_default();
            let fields = input
                .index
                .stored_fields(collection, &key)
                .ok_or_else(|| ResolveError::Stale(conflict.id.clone()))?;
            let value = shiftmesh_model::parse_field(collection, &key, fields, &field, &value()?)
                .map_err(|e| ResolveError::BadValue(e.message))?;
            vec![Op::SetField {
                collection,
                key,
                field,
                value,
            }]
        }
        OptionId::KeepVersion => {
            let (collection, key) = conflict_entity(conflict)?;
            let text = value()?;
            let by_author: Vec<&str> = conflict
                .values
                .iter()
                .filter(|v| shiftmesh_model::history::names_author(&v.author, &text))
                .filter_map(|v| v.object.as_deref())
                .collect();
            if by_author.iter().any(|o| *o != by_author[0]) {
                return Err(ResolveError::BadValue(format!(
                    "'{text}' names {} of the versions; give its number (1 to {}) or its whole author",
                    by_author.len(),
                    conflict.values.len()
                )));
            }
            let chosen = text
                .parse::<usize>()
                .ok()
                .and_then(|n| conflict.values.get(n.checked_sub(1)?))
                .and_then(|v| v.object.clone())
                .or_else(|| by_author.first().map(|o| (*o).to_owned()))
                .ok_or_else(|| {
                    ResolveError::BadValue(format!(
                        "'{text}' names none of the versions; give its number (1 to {}) or its author",
                        conflict.values.len()
                    ))
                })?;
            vec![Op::KeepVersion {
                collection,
                key,
                object: chosen,
            }]
        }
        OptionId::Adopt => {
            let collection = conflict
                .field
                .as_deref()
                .and_then(Collection::from_key)
                .ok_or_else(|| ResolveError::Stale(conflict.id.clone()))?;
            vec![
                Op::Adopt { collection },
                acknowledge(conflict, request, edit),
            ]
        }
    };
    // The message says what the resolution did, not only which option was chosen.
    let done: Vec<String> = ops.iter().map(Op::describe).collect();
    let message = if done.is_empty() {
        message
    } else {
        format!("{message}: {}", done.join("; "))
    };
    Ok(Plan { message, ops })
}

fn acknowledge(conflict: &Conflict, request: &Request, edit: &Edit) -> Op {
    Op::Acknowledge(Acknowledgement {
        conflict: conflict.id.clone(),
        fingerprint: conflict.fingerprint.clone(),
        by: edit.author.clone(),
        at_ms: edit.now_ms,
        note: request.note.clone().unwrap_or_default(),
    })
}

/// The entity a conflict about one entity's data names (`collection/key`, or `site`).
fn conflict_entity(conflict: &Conflict) -> Result<(Collection, String), ResolveError> {
    match conflict.entity.as_deref() {
        Some("site") => Ok((Collection::Site, String::new())),
        Some(entity) => entity
            .split_once('/')
            .and_then(|(c, k)| Some((Collection::from_key(c)?, k.to_owned())))
            .ok_or_else(|| ResolveError::Stale(conflict.id.clone())),
        None => Err(ResolveError::Stale(conflict.id.clone())),
    }
}

/// Whether `text` names `value`: text values by themselves, others as JSON (`3`, `true`).
/// Whether `text` names a value: as stored, or for a shift's time (stored as
/// `2026-12-13T10:00/16:00`) as people write it, `10:00-16:00` or `10:00–16:00`.
fn value_matches(value: &serde_json::Value, text: &str) -> bool {
    match value {
        serde_json::Value::String(s) if s == text => true,
        serde_json::Value::String(s) => s.split_once('T').is_some_and(|(_, times)| {
            ShiftTime::decode(s).is_ok() && times == text.trim().replace(['-', '–'], "/")
        }),
        other => other.to_string().as_str() == text,
    }
}

/// `split-time`: the earlier shift is worked until a point in the overlap (its midpoint rounded
/// to 15 minutes), the later one from then on.
fn split_time(conflict: &Conflict, input: &Input<'_>) -> Result<Vec<Op>, ResolveError> {
    let mut held = Vec::new();
    for key in &conflict.assignments[..2] {
        let a = assignment(input, key, conflict)?;
        let s = shift(input, &a.shift, conflict)?;
        held.push((a, s, input.interval(a, s)));
    }
    held.sort_by_key(|(_, _, interval)| interval.start);
    let (a, a_shift, a_iv) = held[0];
    let (b, b_shift, b_iv) = held[1];
    let round = SPLIT_ROUND_MINUTES * 60;
    let mid = (b_iv.start.as_second() + a_iv.end.as_second()) / 2;
    let split = ((mid + round / 2) / round) * round;
    let split = split.clamp(b_iv.start.as_second(), a_iv.end.as_second());
    let at = Timestamp::from_second(split).map_err(|e| ResolveError::BadValue(e.to_string()))?;
    let local = |shift: &Shift, t: Timestamp| input.zone_of(shift).local(t);
    let window = |shift: &Shift, from: Timestamp, to: Timestamp| {
        LocalSpan::new(local(shift, from), local(shift, to)).map_err(|e| {
            ResolveError::BadValue(format!("the overlap cannot be split: {}", e.message))
        })
    };
    let a_window = window(a_shift, a_iv.start, at)?;
    let b_window = window(b_shift, at, b_iv.end)?;
    Ok(vec![
        Op::SetField {
            collection: Collection::Assignments,
            key: a.key().to_string(),
            field: "window".into(),
            value: FieldValue::Str(a_window.encode()),
        },
        Op::SetField {
            collection: Collection::Assignments,
            key: b.key().to_string(),
            field: "window".into(),
            value: FieldValue::Str(b_window.encode()),
        },
    ])
}
