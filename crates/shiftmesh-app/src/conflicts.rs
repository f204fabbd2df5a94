//! Conflicts: listing and showing them, resolving and acknowledging them, and what a change
//! brought — the same for every front end.

use std::borrow::Cow;

use shiftmesh_model::{Collection, Concurrent, Dirty, Edit, Schedule, View, Written};
use shiftmesh_rules::{
    is_acknowledged, open_and_acknowledged, plan, sort_conflicts, substitutes, Conflict, Input,
    OptionId, Request as Plan, Validator,
};

use crate::context::{Context, Db, Reader};
use crate::reply::{
    Candidates, Changed, ConflictDay, ConflictList, ConflictShown, Reply, Resolved,
};
use crate::request::ConflictFilter;
use crate::session::Session;
use crate::text::checked_lines;
use crate::{AppError, Result};

/// The open conflicts and the acknowledged warnings of a view.
pub fn evaluate(view: &View, concurrent: &Concurrent) -> (Vec<Conflict>, Vec<Conflict>) {
    let input = Input::new(view.index(), view.zone(), concurrent);
    split(&Validator::new(&input), view)
}

/// A validator's conflicts, split into open ones and acknowledged warnings.
fn split(validator: &Validator, view: &View) -> (Vec<Conflict>, Vec<Conflict>) {
    open_and_acknowledged(validator.conflicts(), &view.index().acks)
}

/// The validation of a schedule a request is about to change, as it stands: the running
/// node's, borrowed (the node brings its own up to date once the change is made), or one full
/// pass. After the change only what it touched is re-checked (the incremental pass).
pub struct Checked<'v> {
    validator: Cow<'v, Validator>,
}

impl Checked<'_> {
    /// The session to change, with its validation as it stands.
    pub fn open<'s>(db: &'s mut Db) -> Result<(&'s mut Session, Checked<'s>)> {
        if let Db::Live {
            session,
            validation,
            ..
        } = db
        {
            let validator = Cow::Borrowed(*validation);
            return Ok((session, Checked { validator }));
        }
        let session = db.open()?;
        let schedule = &mut session.schedule;
        let concurrent = schedule.all_concurrent_values()?;
        let input = Input::new(schedule.index(), schedule.zone(), &concurrent);
        let validator = Cow::Owned(Validator::new(&input));
        Ok((session, Checked { validator }))
    }

    /// The open conflicts and acknowledged warnings as of the last check.
    pub fn now(&self, schedule: &Schedule) -> (Vec<Conflict>, Vec<Conflict>) {
        split(&self.validator, schedule.view())
    }

    /// The open conflicts a change that touched `dirty` brought and the ones it cleared,
    /// without updating the validation (so a borrowed one is not copied). The conflicts
    /// brought are dated.
    pub fn caused(&self, schedule: &mut Schedule, dirty: &Dirty) -> Result<Effect> {
        let concurrent = schedule.all_concurrent_values()?;
        let input = Input::new(schedule.index(), schedule.zone(), &concurrent);
        let (brought, cleared) = self
            .validator
            .changed_by(&input, dirty, &schedule.index().acks);
        Ok(Effect {
            brought: dated(brought, schedule.index()),
            cleared,
        })
    }

    /// Brings the validation up to date after a change that touched `dirty` (copying a
    /// borrowed one first), for a request that lists every conflict afterwards.
    pub fn update(&mut self, schedule: &mut Schedule, dirty: &Dirty) -> Result<()> {
        let concurrent = schedule.all_concurrent_values()?;
        let input = Input::new(schedule.index(), schedule.zone(), &concurrent);
        self.validator.to_mut().update(&input, dirty);
        Ok(())
    }
}

/// What a change did to the open conflicts.
#[derive(Clone, Debug, Default)]
pub struct Effect {
    /// The open conflicts that were not open, dated.
    pub brought: Vec<Conflict>,
    /// The ids of the open conflicts that are gone.
    pub cleared: Vec<String>,
}

/// Makes a change with `write` (given the session and who is acting), persists it, and says
/// what it did: the write's result, the change, and the conflicts it brought and cleared.
pub fn write<T>(
    ctx: &mut Context,
    write: impl FnOnce(&mut Session, &Edit) -> Result<(T, Written)>,
) -> Result<(T, Written, Effect)> {
    let edit = ctx.edit()?;
    let (s, checked) = Checked::open(&mut ctx.db)?;
    let (value, written) = write(s, &edit)?;
    s.persist()?;
    let effect = checked.caused(&mut s.schedule, &written.dirty)?;
    Ok((value, written, effect))
}

/// Conflicts with their dates (the earliest day of the shifts each names), for sorting and
/// filtering by date wherever they are shown.
pub fn dated(conflicts: Vec<Conflict>, index: &shiftmesh_model::Index) -> Vec<Conflict> {
    conflicts.into_iter().map(|c| c.dated(index)).collect()
}

/// A change as its reply: the entity to show, what happened, what it brought and cleared.
pub fn changed(entity: impl serde::Serialize, message: String, effect: Effect) -> Reply {
    Reply::Changed(Changed {
        entity: serde_json::to_value(entity).unwrap_or_default(),
        message,
        conflicts: effect.brought,
        cleared: effect.cleared,
    })
}

fn of_reader(reader: &mut Reader) -> Result<(Vec<Conflict>, Vec<Conflict>)> {
    let concurrent = reader.all_concurrent_values()?;
    Ok(evaluated(reader, &concurrent))
}

/// The open conflicts and acknowledged warnings as the schedule stands: the running node's
/// validation when the request runs inside it (kept current after every change), else a full
/// pass.
fn evaluated(reader: &Reader, concurrent: &Concurrent) -> (Vec<Conflict>, Vec<Conflict>) {
    match reader.validation() {
        Some(validation) => split(validation, reader.view()),
        None => evaluate(reader.view(), concurrent),
    }
}

/// How many conflicts are open (for `status`).
pub fn open_count(reader: &mut Reader) -> Result<usize> {
    if let Some(validation) = reader.validation() {
        return Ok(validation.open_count(&reader.view().index().acks));
    }
    Ok(of_reader(reader)?.0.len())
}

/// The open conflicts the filter selects, errors first; only those are copied (a year's
/// schedule can hold thousands, and a page asks for one week's).
pub fn list(ctx: &mut Context, filter: &ConflictFilter) -> Result<Reply> {
    let mut reader = ctx.db.read()?;
    let full_pass = match reader.validation() {
        Some(_) => None,
        None => {
            let concurrent = reader.all_concurrent_values()?;
            let view = reader.view();
            let input = Input::new(view.index(), view.zone(), &concurrent);
            Some(Validator::new(&input))
        }
    };
    let Some(validator) = full_pass.as_ref().or(reader.validation()) else {
        return Err(AppError::Refused("no validation of the schedule".into()));
    };
    // A filter that names nobody is a typing slip, not a clean bill.
    if let Some(staff) = &filter.staff {
        reader.view().require(Collection::Staff, staff.as_str())?;
    }
    if let Some(d) = &filter.department {
        reader.view().require(Collection::Departments, d.as_str())?;
    }
    if let (Some(from), Some(to)) = (filter.from, filter.to) {
        if to < from {
            return Err(AppError::Usage(format!(
                "the range ends ({to}) before it starts ({from})"
            )));
        }
    }
    let index = reader.view().index();
    let mut acknowledged = 0;
    let mut conflicts = Vec::new();
    for c in validator.iter() {
        if is_acknowledged(c, &index.acks) {
            acknowledged += 1;
            continue;
        }
        if filter.kind.is_some_and(|k| c.kind != k)
            || filter.severity.is_some_and(|s| c.severity != s)
        {
            continue;
        }
        if !about(c, filter, index) {
            continue;
        }
        let date = c.date.or_else(|| c.date_in(index));
        let outside = date.is_some_and(|d| {
            filter.from.is_some_and(|from| d < from) || filter.to.is_some_and(|to| d > to)
        });
        if outside {
            continue;
        }
        let mut c = c.clone();
        c.date = date;
        conflicts.push(c);
    }
    sort_conflicts(&mut conflicts);
    prove(&mut conflicts, &reader);
    let matching = conflicts.len();
    let summary = filter.summary.then(|| summarise(&conflicts));
    if filter.summary {
        conflicts.clear();
    }
    if let Some(limit) = filter.limit {
        conflicts.truncate(limit);
    }
    Ok(Reply::Conflicts(ConflictList {
        conflicts,
        acknowledged,
        matching,
        summary,
    }))
}

/// Fills in, for the values of concurrent edits, the machine that wrote each by its name in the
/// membership list and whether its signature proves it.
fn prove(conflicts: &mut [Conflict], reader: &Reader) {
    prove_values(conflicts, &reader.view().index().members, |h| {
        reader.is_signed(h)
    });
}

/// Fills in where each written value of `conflicts` was made: the writing machine by its name
/// in the membership list, and whether a valid signature of that machine binds the change.
/// Worked out when shown (not in validation), so that a signature arriving later counts.
pub fn prove_values(
    conflicts: &mut [Conflict],
    members: &std::collections::BTreeMap<String, shiftmesh_model::Member>,
    is_signed: impl Fn(&automerge::ChangeHash) -> bool,
) {
    for value in conflicts.iter_mut().flat_map(|c| c.values.iter_mut()) {
        let Some(machine) = &value.machine else {
            continue;
        };
        let verified = value
            .change
            .as_deref()
            .and_then(|h| h.parse().ok())
            .is_some_and(|h| is_signed(&h));
        value.provenance = Some(shiftmesh_model::history::Provenance {
            machine_name: members.get(machine).map(|m| m.name.clone()),
            verified,
            after_revocation: false,
        });
    }
}

/// Whether a conflict is about the staff member and the department a filter names.
fn about(c: &Conflict, filter: &ConflictFilter, index: &shiftmesh_model::Index) -> bool {
    if filter.staff.as_ref().is_some_and(|s| !c.staff.contains(s)) {
        return false;
    }
    let Some(department) = &filter.department else {
        return true;
    };
    let of = |d: &Option<shiftmesh_model::Id>| d.as_ref() == Some(department);
    c.shifts
        .iter()
        .any(|id| index.shifts.get(id).is_some_and(|s| of(&s.department)))
        || c.staff
            .iter()
            .any(|id| index.staff.get(id).is_some_and(|s| of(&s.department)))
}

/// Counts of conflicts by day (undated ones apart) and kind, days in order.
fn summarise(conflicts: &[Conflict]) -> Vec<ConflictDay> {
    let mut days: std::collections::BTreeMap<Option<jiff::civil::Date>, ConflictDay> =
        std::collections::BTreeMap::new();
    for c in conflicts {
        let day = days.entry(c.date).or_insert_with(|| ConflictDay {
            date: c.date,
            errors: 0,
            warnings: 0,
            kinds: std::collections::BTreeMap::new(),
        });
        match c.severity {
            shiftmesh_rules::Severity::Error => day.errors += 1,
            shiftmesh_rules::Severity::Warning => day.warnings += 1,
        }
        *day.kinds.entry(c.kind.as_str().to_owned()).or_default() += 1;
    }
    days.into_values().collect()
}

/// The conflict with this id, or with this unique prefix of one; and whether it is an
/// acknowledged warning.
fn find(id: &str, open: Vec<Conflict>, acknowledged: Vec<Conflict>) -> Result<(Conflict, bool)> {
    let all = open
        .into_iter()
        .map(|c| (c, false))
        .chain(acknowledged.into_iter().map(|c| (c, true)));
    let mut matches: Vec<(Conflict, bool)> = Vec::new();
    for (c, acked) in all {
        if c.id == id {
            return Ok((c, acked));
        }
        if c.id.starts_with(id) || c.id.trim_start_matches("c-").starts_with(id) {
            matches.push((c, acked));
        }
    }
    match matches.len() {
        1 => Ok(matches.remove(0)),
        0 => Err(AppError::NotFound(format!(
            "there is no conflict {id} (it may have been resolved); 'shiftmesh conflicts' lists the current ones"
        ))),
        n => Err(AppError::Usage(format!(
            "{id} is the start of {n} conflict ids ({}{}); give more of it",
            matches
                .iter()
                .take(5)
                .map(|(c, _)| c.id.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            if n > 5 { ", …" } else { "" }
        ))),
    }
}

pub fn show(ctx: &mut Context, id: &str) -> Result<Reply> {
    let mut reader = ctx.db.read()?;
    let concurrent = reader.all_concurrent_values()?;
    let (open, acknowledged) = evaluated(&reader, &concurrent);
    let (conflict, is_acknowledged) = find(id, open, acknowledged)?;
    let input = Input::new(reader.view().index(), reader.view().zone(), &concurrent);
    let candidates = if conflict.offers(OptionId::FindSubstitute) {
        let (shift, staff) = substitutes(&conflict, &input)?;
        Some(Candidates { shift, staff })
    } else {
        None
    };
    let mut conflict = [conflict.dated(reader.view().index())];
    prove(&mut conflict, &reader);
    let [conflict] = conflict;
    Ok(Reply::ConflictShown(ConflictShown {
        conflict,
        acknowledged: is_acknowledged,
        candidates,
    }))
}

/// Resolves (or acknowledges) a conflict as one change, persisted before it is reported.
fn apply(ctx: &mut Context, id: &str, request: Plan) -> Result<Reply> {
    let edit = ctx.edit()?;
    let (s, mut checked) = Checked::open(&mut ctx.db)?;
    let (open, acknowledged) = checked.now(&s.schedule);
    let (conflict, _) = find(id, open.clone(), acknowledged)?;
    let planned = {
        let concurrent = s.schedule.all_concurrent_values()?;
        let input = Input::new(s.schedule.index(), s.schedule.zone(), &concurrent);
        plan(&conflict, &request, &input, &edit)?
    };
    let written = s
        .schedule
        .apply(&edit, planned.message.clone(), &planned.ops)?;
    s.persist()?;
    checked.update(&mut s.schedule, &written.dirty)?;
    let (after, _) = checked.now(&s.schedule);
    let still_open = after.iter().any(|c| c.id == conflict.id);
    let brought: Vec<Conflict> = after
        .iter()
        .filter(|c| !open.iter().any(|o| o.id == c.id))
        .cloned()
        .collect();
    Ok(Reply::Resolved(Resolved {
        resolved: conflict.id.clone(),
        option: request.option,
        message: format!("{} ({})", planned.message, conflict.kind),
        still_open,
        conflicts: dated(brought, s.schedule.index()),
        open: after.len(),
    }))
}

pub fn resolve(
    ctx: &mut Context,
    id: &str,
    option: String,
    staff: Option<shiftmesh_model::Id>,
    value: Option<String>,
) -> Result<Reply> {
    apply(
        ctx,
        id,
        Plan {
            option,
            staff,
            value,
            note: None,
        },
    )
}

pub fn ack(ctx: &mut Context, id: &str, note: Option<String>) -> Result<Reply> {
    let note = checked_lines("note", note)?;
    apply(
        ctx,
        id,
        Plan {
            option: "acknowledge".into(),
            staff: None,
            value: None,
            note: Some(note),
        },
    )
}
