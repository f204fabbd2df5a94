//! Undo: reverting one change (an edit, an import, a resolution) as a new change.

use crate::conflicts::{changed, write};
use crate::context::Context;
use crate::reply::Reply;
use crate::{AppError, Result};

/// The fewest hex digits of a change hash a revert takes (`history` shows twelve).
pub const CHANGE_PREFIX_MIN_CHARS: usize = 6;

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
