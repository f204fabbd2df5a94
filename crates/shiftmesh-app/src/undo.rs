//! Undo: reverting one change (an edit, an import, a resolution) as a new change.

use crate::conflicts::{changed, write};
use crate::context::Context;
use crate::reply::Reply;
use crate::{AppError, Result};

/// The fewest hex digits of a change hash a revert takes (`history` shows twelve).
pub const CHANGE_PREFIX_MIN_CHARS: usize = 6;

/// Reverts everything the last merge of a backup on this machine brought, as one new change.
pub fn revert_last_merge(ctx: &mut Context) -> Result<Reply> {
    let record = {
        let s = ctx.db.open()?;
        s.store.last_merge()?.ok_or_else(|| {
            AppError::NotFound(
                "no merge to revert: none was made on this machine since the last one was reverted"
                    .into(),
            )
        })?
    };
    let heads = |hex: &[String]| -> Result<Vec<automerge::ChangeHash>> {
        hex.iter()
            .map(|h| {
                h.parse().map_err(|_| {
                    AppError::Refused("the record of the last merge is damaged".into())
                })
            })
            .collect()
    };
    let (before, after) = (heads(&record.before)?, heads(&record.after)?);
    let what = format!("the merge of {}", record.name);
    let message = format!(
        "revert the merge of {} ({} change(s))",
        record.name, record.new_changes
    );
    let (message, _, caused) = write(ctx, |s, edit| {
        let (written, message) = s
            .schedule
            .revert_between(edit, &before, &after, &what, message)?;
        s.store.set_last_merge(None)?;
        Ok((message, written))
    })?;
    Ok(changed(
        serde_json::json!({"reverted_merge": record.name, "changes": record.new_changes}),
        message,
        caused,
    ))
}

/// Reverts the change whose hash is, or starts with, `change`.
pub fn revert(ctx: &mut Context, change: &str) -> Result<Reply> {
    let prefix = change.trim();
    if prefix.len() < CHANGE_PREFIX_MIN_CHARS || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AppError::Usage(format!(
            "'{}' is not a change: give at least {CHANGE_PREFIX_MIN_CHARS} hex digits of one, as 'shiftmesh history' shows",
            prefix.chars().take(80).collect::<String>()
        )));
    }
    let hash = {
        let s = ctx.db.open()?;
        let found = s.schedule.changes_starting_with(prefix);
        match found.as_slice() {
            [one] => *one,
            [] => {
                return Err(AppError::NotFound(format!(
                    "there is no change {prefix} ('shiftmesh history' lists them)"
                )))
            }
            many => {
                return Err(AppError::Usage(format!(
                    "{prefix} is the start of {} changes; give more of it",
                    many.len()
                )))
            }
        }
    };
    let (message, _, caused) = write(ctx, |s, edit| {
        let (written, message) = s.schedule.revert(edit, hash)?;
        Ok((message, written))
    })?;
    Ok(changed(
        serde_json::json!({"reverted": hash.to_string()}),
        message,
        caused,
    ))
}

/// Reverts what a revoked machine wrote after its revocation (or a machine whose admission is
/// void wrote at all), newest first, each change as a revert of its own; a change that cannot
/// be reverted (a later change rewrote what it wrote, or it wrote only membership) is listed
/// with the reason, and the others are still reverted.
pub fn revert_after_revocation(ctx: &mut Context, machine: &str) -> Result<Reply> {
    let peer = crate::peers::resolve_machine(ctx, machine, &["revoked", "void"])?;
    let changes = ctx.db.open()?.schedule.changes_after_revocation(&peer);
    if changes.is_empty() {
        return Err(AppError::NotFound(format!(
            "{peer} wrote nothing after a revocation ('shiftmesh peers' shows whether it is revoked)"
        )));
    }
    let (outcome, _, caused) = write(ctx, |s, edit| {
        let mut reverted = Vec::new();
        let mut refused = Vec::new();
        let mut all = shiftmesh_model::Written::default();
        for hash in changes.iter().rev() {
            match s.schedule.revert(edit, *hash) {
                Ok((written, _)) => {
                    reverted.push(hash.to_string());
                    all.change = written.change.or(all.change);
                    all.dirty.extend(written.dirty);
                }
                Err(e) => refused.push(serde_json::json!({
                    "change": hash.to_string(),
                    "reason": e.to_string(),
                })),
            }
        }
        Ok(((reverted, refused), all))
    })?;
    let (reverted, refused) = outcome;
    let message = format!(
        "reverted {} of the {} change(s) {peer} wrote while it was no member{}",
        reverted.len(),
        changes.len(),
        if refused.is_empty() {
            String::new()
        } else {
            format!(
                "; {} could not be: {}",
                refused.len(),
                refused
                    .iter()
                    .map(|r| r["reason"].as_str().unwrap_or_default().to_owned())
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        }
    );
    Ok(changed(
        serde_json::json!({"machine": peer, "reverted": reverted, "refused": refused}),
        message,
        caused,
    ))
}
