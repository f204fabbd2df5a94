//! The conflict commands: list, show, resolve, acknowledge, and what an assignment would cause.

use std::borrow::Cow;
use std::fmt::Write as _;

use anyhow::{bail, Context as _};
use serde_json::json;
use shiftmesh_model::{Concurrent, Dirty, Schedule, View};
use shiftmesh_node::Session;
use shiftmesh_rules::{
    open_and_acknowledged, plan, substitutes, Conflict, Input, Request, Severity, Validator,
};

use crate::cli::{AckArgs, ConflictFilter, ResolveArgs};
use crate::context::{Context, Db, Reader};
use crate::output;

/// The open conflicts and the acknowledged warnings of a view.
pub fn evaluate(view: &View, concurrent: &Concurrent) -> (Vec<Conflict>, Vec<Conflict>) {
    let input = Input::new(view.index(), view.zone(), concurrent);
    split(&Validator::new(&input), view)
}

/// A validator's conflicts, split into open ones and acknowledged warnings.
fn split(validator: &Validator, view: &View) -> (Vec<Conflict>, Vec<Conflict>) {
    open_and_acknowledged(validator.conflicts(), &view.index().acks)
}

/// The validation of a schedule a command is about to change, as it stands: the running
/// node's, borrowed (the node brings its own up to date once the change is made), or one full
/// pass. After the change only what it touched is re-checked (the incremental pass).
pub struct Checked<'v> {
    validator: Cow<'v, Validator>,
}

impl Checked<'_> {
    /// The session to change, with its validation as it stands.
    pub fn open<'s>(db: &'s mut Db) -> anyhow::Result<(&'s mut Session, Checked<'s>)> {
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

    /// The open conflicts a change that touched `dirty` brought, without updating the
    /// validation (so a borrowed one is not copied).
    pub fn caused(&self, schedule: &mut Schedule, dirty: &Dirty) -> anyhow::Result<Vec<Conflict>> {
        let concurrent = schedule.all_concurrent_values()?;
        let input = Input::new(schedule.index(), schedule.zone(), &concurrent);
        Ok(self
            .validator
            .brought_by(&input, dirty, &schedule.index().acks))
    }

    /// Brings the validation up to date after a change that touched `dirty` (copying a
    /// borrowed one first), for a command that lists every conflict afterwards.
    pub fn update(&mut self, schedule: &mut Schedule, dirty: &Dirty) -> anyhow::Result<()> {
        let concurrent = schedule.all_concurrent_values()?;
        let input = Input::new(schedule.index(), schedule.zone(), &concurrent);
        self.validator.to_mut().update(&input, dirty);
        Ok(())
    }
}

fn of_reader(reader: &mut Reader) -> anyhow::Result<(Vec<Conflict>, Vec<Conflict>)> {
    let concurrent = reader.all_concurrent_values()?;
    Ok(evaluated(reader, &concurrent))
}

/// The open conflicts and acknowledged warnings as the schedule stands: the running node's
/// validation when the command runs inside it (kept current after every change), else a full
/// pass.
fn evaluated(reader: &Reader, concurrent: &Concurrent) -> (Vec<Conflict>, Vec<Conflict>) {
    match reader.validation() {
        Some(validation) => split(validation, reader.view()),
        None => evaluate(reader.view(), concurrent),
    }
}

/// How many conflicts are open (for `status`).
pub fn open_count(reader: &mut Reader) -> anyhow::Result<usize> {
    Ok(of_reader(reader)?.0.len())
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
        for c in group {
            let _ = writeln!(out, "  {}  {:<19} {}", c.id, c.kind.as_str(), c.message);
            let options: Vec<&str> = c.options.iter().map(|o| o.id.as_str()).collect();
            let _ = writeln!(out, "  {:<18}  options: {}", "", options.join(", "));
        }
    }
    out
}

pub fn list(ctx: &mut Context, filter: ConflictFilter) -> anyhow::Result<()> {
    let mut reader = ctx.db.read()?;
    let (open, acknowledged) = of_reader(&mut reader)?;
    let shown: Vec<Conflict> = open
        .into_iter()
        .filter(|c| filter.kind.is_none_or(|k| c.kind == k))
        .filter(|c| filter.severity.is_none_or(|s| c.severity == s))
        .collect();
    output::either(ctx.json, &shown, || {
        if shown.is_empty() {
            return format!(
                "no conflicts{}",
                if acknowledged.is_empty() {
                    String::new()
                } else {
                    format!(" ({} acknowledged)", acknowledged.len())
                }
            );
        }
        let mut text = heading(&shown, acknowledged.len());
        text.push_str(&describe(&shown));
        text.push_str("\nshow one with 'shiftmesh conflicts show ID'; fix it with 'shiftmesh resolve ID OPTION'");
        text
    })
}

fn find(
    id: &str,
    open: Vec<Conflict>,
    acknowledged: Vec<Conflict>,
) -> anyhow::Result<(Conflict, bool)> {
    if let Some(c) = open.into_iter().find(|c| c.id == id) {
        return Ok((c, false));
    }
    if let Some(c) = acknowledged.into_iter().find(|c| c.id == id) {
        return Ok((c, true));
    }
    bail!("there is no conflict {id} (it may have been resolved); 'shiftmesh conflicts' lists the current ones")
}

pub fn show(ctx: &mut Context, id: &str) -> anyhow::Result<()> {
    let mut reader = ctx.db.read()?;
    let concurrent = reader.all_concurrent_values()?;
    let (open, acknowledged) = evaluated(&reader, &concurrent);
    let (conflict, is_acknowledged) = find(id, open, acknowledged)?;
    let input = Input::new(reader.view().index(), reader.view().zone(), &concurrent);
    let candidates = if conflict.offers(shiftmesh_rules::OptionId::FindSubstitute) {
        Some(substitutes(&conflict, &input)?)
    } else {
        None
    };
    let value = json!({
        "conflict": conflict,
        "acknowledged": is_acknowledged,
        "candidates": candidates.as_ref().map(|(shift, list)| json!({"shift": shift, "staff": list})),
    });
    output::either(ctx.json, &value, || {
        let c = &conflict;
        let mut out = format!(
            "{}  {} ({})\n{}\n",
            c.id,
            c.kind,
            c.severity.as_str(),
            c.message
        );
        if is_acknowledged {
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
                "  value {} written by {}",
                v.value,
                if v.author.is_empty() {
                    "unknown"
                } else {
                    &v.author
                }
            );
        }
        out.push_str("options:\n");
        for o in &c.options {
            let _ = writeln!(out, "  {:<18} {}", o.id.as_str(), o.label);
        }
        if let Some((shift, list)) = &candidates {
            let _ = writeln!(out, "substitutes for {shift} (best first):");
            if list.is_empty() {
                out.push_str("  nobody is free, skilled and under their hours\n");
            }
            for cand in list {
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
    })
}

/// Resolves (or acknowledges) a conflict as one change, persisted before it is reported.
fn apply(ctx: &mut Context, id: &str, request: Request) -> anyhow::Result<()> {
    let (s, mut checked) = Checked::open(&mut ctx.db)?;
    let (open, acknowledged) = checked.now(&s.schedule);
    let (conflict, _) = find(id, open, acknowledged)?;
    let edit = s.edit();
    let planned = {
        let concurrent = s.schedule.all_concurrent_values()?;
        let input = Input::new(s.schedule.index(), s.schedule.zone(), &concurrent);
        plan(&conflict, &request, &input, &edit)?
    };
    let written = s
        .schedule
        .apply(&edit, planned.message.clone(), &planned.ops)
        .with_context(|| format!("{} could not be applied", planned.message))?;
    s.persist()?;
    checked.update(&mut s.schedule, &written.dirty)?;
    let (after, _) = checked.now(&s.schedule);
    let remaining = after.iter().any(|c| c.id == conflict.id);
    output::either(
        ctx.json,
        &json!({"resolved": conflict.id, "option": request.option, "remaining": after}),
        || {
            let mut text = format!("{} ({})", planned.message, conflict.kind);
            if remaining {
                text.push_str(
                    "; the conflict is still there, with new data: see 'shiftmesh conflicts show' ",
                );
                text.push_str(&conflict.id);
            }
            text
        },
    )
}

pub fn resolve(ctx: &mut Context, args: ResolveArgs) -> anyhow::Result<()> {
    apply(
        ctx,
        &args.id,
        Request {
            option: args.option,
            staff: args.staff,
            value: args.value,
            note: None,
        },
    )
}

pub fn ack(ctx: &mut Context, args: AckArgs) -> anyhow::Result<()> {
    apply(
        ctx,
        &args.id,
        Request {
            option: "acknowledge".into(),
            staff: None,
            value: None,
            note: Some(crate::commands::checked_lines("note", args.note)?),
        },
    )
}
