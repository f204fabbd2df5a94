//! The history kept in the store: each change's line recorded once, when it is persisted (or,
//! for a long past that arrived at once, when the history is first read), and read back
//! newest first without loading the document.

use automerge::AutoCommit;
use shiftmesh_model::history::{record_since, HistoryEntry, HistoryFilter, Recorded};
use shiftmesh_store::{HistoryRow, Store, StoreError};

use crate::{AppError, Result};

/// Past this many changes to record at once, a write leaves them to the next read of the
/// history: a fresh node that received a long past should not wait for its audit trail.
pub const HISTORY_RECORD_INLINE_CHANGES_MAX: usize = 1000;

/// Records the lines of every change of `doc` the store's history lacks. With `inline`, does
/// nothing when there are more than [`HISTORY_RECORD_INLINE_CHANGES_MAX`] of them.
pub fn bring_up_to_date(store: &Store, doc: &mut AutoCommit, inline: bool) -> Result<()> {
    let heads = doc.get_heads();
    let since = match store.history_heads()? {
        Some(covered) if covered == heads => return Ok(()),
        // A restore or a replaced store can leave a history of changes the document does not
        // hold: it is worked out again.
        Some(covered) if shiftmesh_model::absent(doc, &covered).is_empty() => covered,
        Some(_) => {
            store.clear_history()?;
            Vec::new()
        }
        None => Vec::new(),
    };
    if inline && doc.get_changes_meta(&since).len() > HISTORY_RECORD_INLINE_CHANGES_MAX {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let rows: Vec<HistoryRow> = record_since(doc, &since)
        .into_iter()
        .map(row)
        .collect::<Result<_>>()?;
    store.record_history(&rows, &heads)?;
    tracing::debug!(
        "recorded the history of {} change(s) in {:?}",
        rows.len(),
        started.elapsed()
    );
    Ok(())
}

fn row(recorded: Recorded) -> Result<HistoryRow> {
    let line = serde_json::to_vec(&recorded.entry)
        .map_err(|e| AppError::Refused(format!("a history line does not encode ({e})")))?;
    Ok(HistoryRow {
        bulk: recorded.is_bulk(),
        hash: recorded.hash,
        order: recorded.order,
        line,
        entities: recorded.entities,
    })
}

/// Whether the store's history covers exactly `heads`.
pub fn is_current(store: &Store, heads: &[automerge::ChangeHash]) -> Result<bool, StoreError> {
    Ok(store.history_heads()?.as_deref() == Some(heads))
}

/// The newest `limit` recorded lines the filter admits.
pub fn read(store: &Store, limit: usize, filter: &HistoryFilter) -> Result<Vec<HistoryEntry>> {
    let lines: Box<dyn Iterator<Item = std::result::Result<Vec<u8>, StoreError>>> =
        match &filter.entity {
            Some(entity) => Box::new(store.history_of(entity)),
            None => Box::new(store.history_newest()),
        };
    let mut out = Vec::new();
    for line in lines {
        if out.len() >= limit {
            break;
        }
        let line = line?;
        let entry: HistoryEntry = match serde_json::from_slice(&line) {
            Ok(entry) => entry,
            Err(e) => {
                // The history is a record kept for speed; the document holds the truth.
                store.clear_history()?;
                return Err(AppError::Refused(format!(
                    "the recorded history was damaged ({e}) and has been cleared; ask again \
                     to have it worked out from the schedule"
                )));
            }
        };
        if filter.admits(&entry) {
            out.push(entry);
        }
    }
    Ok(out)
}
