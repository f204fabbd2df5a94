//! The history kept in the store: each change's line recorded once, and read back newest first
//! without loading the document. A one-off command records its changes as it persists them; a
//! running node records on its tick, after the edit was acknowledged and sent on, so the
//! history costs nothing on the paths people wait on. A long past that arrived at once (a
//! fresh node's catch-up) is recorded when the history is first read.

use std::collections::{BTreeMap, BTreeSet};

use automerge::{AutoCommit, ChangeHash};
use shiftmesh_model::history::{
    change_operations, changes_since, record, HistoryEntry, HistoryFilter, Provenance, Recorded,
};
use shiftmesh_model::{Member, Schedule};
use shiftmesh_store::{HistoryRow, Store, StoreError};

use crate::{AppError, Result};

/// Past this many changes to record at once, recording along the way leaves them to the next
/// read of the history: a fresh node that received a long past should not wait for its audit
/// trail.
pub const HISTORY_RECORD_INLINE_CHANGES_MAX: usize = 1000;

/// How much recording along the way (not for a read of the history) may take on at once.
#[derive(Clone, Copy, Debug)]
pub struct RecordLimit {
    pub changes: usize,
    /// Operations in all: a running node leaves a bulk change it received (a catch-up) to the
    /// first read, rather than hold the memory for it while it serves.
    pub operations: u64,
}

/// What a one-off command records as it persists: everything but a long past.
pub const ONE_OFF_RECORD_LIMIT: RecordLimit = RecordLimit {
    changes: HISTORY_RECORD_INLINE_CHANGES_MAX,
    operations: u64::MAX,
};

/// What a running node records on its tick.
pub const NODE_RECORD_LIMIT: RecordLimit = RecordLimit {
    changes: HISTORY_RECORD_INLINE_CHANGES_MAX,
    operations: shiftmesh_model::history::BULK_CHANGE_OPS,
};

/// Records the lines of every change of `doc` the store's history lacks; within `limit`, or
/// not at all (None: no limit, as for a read of the history). Whether the history is now up to
/// date (false: left for later, being over the limit).
pub fn bring_up_to_date(
    store: &Store,
    doc: &mut AutoCommit,
    limit: Option<RecordLimit>,
) -> Result<bool> {
    let heads = doc.get_heads();
    let since = match store.history_heads()? {
        Some(covered) if covered == heads => return Ok(true),
        // A restore or a replaced store can leave a history of changes the document does not
        // hold: it is worked out again.
        Some(covered) if shiftmesh_model::absent(doc, &covered).is_empty() => covered,
        Some(_) => {
            store.clear_history()?;
            Vec::new()
        }
        None => Vec::new(),
    };
    let pending = changes_since(doc, &since);
    if let Some(limit) = limit {
        let operations: u64 = pending.iter().map(change_operations).sum();
        if pending.len() > limit.changes || operations > limit.operations {
            return Ok(false);
        }
    }
    let started = std::time::Instant::now();
    let rows: Vec<HistoryRow> = pending
        .iter()
        .map(|meta| row(record(doc, meta)))
        .collect::<Result<_>>()?;
    store.record_history(&rows, &heads)?;
    tracing::debug!(
        "recorded the history of {} change(s) in {:?}",
        rows.len(),
        started.elapsed()
    );
    Ok(true)
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

/// The machines of `entries` that are revoked or void: their changes made after the revocation
/// are flagged, which needs the document to work out.
pub fn revoked_machines(
    entries: &[HistoryEntry],
    members: &BTreeMap<String, Member>,
) -> BTreeSet<String> {
    entries
        .iter()
        .filter_map(|e| e.machine.as_ref())
        .filter(|machine| members.get(*machine).is_some_and(|m| m.revoked))
        .cloned()
        .collect()
}

/// The changes `machines` made after their revocation (see
/// [`Schedule::changes_after_revocation`]).
pub fn changes_after_revocation(
    schedule: &mut Schedule,
    machines: &BTreeSet<String>,
) -> BTreeSet<ChangeHash> {
    machines
        .iter()
        .flat_map(|machine| schedule.changes_after_revocation(machine))
        .collect()
}

/// Fills in who made each entry, as far as it is proven: the machine's name in the membership
/// list, whether its signature verifies, and whether it came after the machine's revocation.
pub fn prove(
    entries: &mut [HistoryEntry],
    members: &BTreeMap<String, Member>,
    is_signed: impl Fn(&ChangeHash) -> bool,
    after_revocation: &BTreeSet<ChangeHash>,
) {
    for entry in entries {
        let hash: Option<ChangeHash> = entry.hash.parse().ok();
        entry.provenance = Some(Provenance {
            machine_name: entry
                .machine
                .as_ref()
                .and_then(|machine| members.get(machine))
                .map(|member| member.name.clone()),
            verified: entry.machine.is_some() && hash.as_ref().is_some_and(&is_signed),
            after_revocation: hash.is_some_and(|h| after_revocation.contains(&h)),
        });
    }
}
