//! The schedule with its store open: what every command that changes the schedule works on,
//! whether the CLI opened the store itself or a running node lends it the one it holds.

use std::path::Path;

use shiftmesh_model::{ChangeSignature, Index, Schedule};
use shiftmesh_store::{Identity, Opened, Store, StoreError, StoredSignature};

use crate::{AppError, Result};

/// sled's lock is held until this is dropped.
pub struct Session {
    pub store: Store,
    pub schedule: Schedule,
    pub identity: Identity,
    /// Whether [`Session::persist`] also rewrites the index snapshot. A one-off command does,
    /// so the next read skips loading the document; a running node holds the index in memory
    /// and writes the snapshot once, when it stops.
    pub write_index_on_persist: bool,
    /// Whether [`Session::persist`] also records the history of the new changes. A one-off
    /// command does; a running node records on its tick instead, off the acknowledgement's path.
    pub record_history_on_persist: bool,
}

impl Session {
    /// Opens the store and loads the schedule.
    pub fn open(dir: &Path) -> Result<Session> {
        let Opened {
            mut store,
            identity,
        } = Store::open(dir)?;
        let mut schedule = load_schedule(&mut store)?;
        write_as_this_machine(&mut schedule, &identity);
        Ok(Session {
            store,
            schedule,
            identity,
            write_index_on_persist: true,
            record_history_on_persist: true,
        })
    }

    /// Makes the schedule's new changes durable; an edit is acknowledged only after this.
    pub fn persist(&mut self) -> Result<(), StoreError> {
        // Signatures go first: one whose change is not yet on disk is harmless, a change on disk
        // without its signature would show as unverified.
        save_signatures(&self.store, self.schedule.take_unsaved_signatures())?;
        if let Some((bytes, heads)) = self.schedule.take_received_whole() {
            self.store.write_snapshot_bytes(&bytes, heads)?;
        }
        self.store.persist(self.schedule.doc_mut())?;
        if self.write_index_on_persist {
            write_index_snapshot(&mut self.store, &mut self.schedule)?;
        }
        if self.record_history_on_persist {
            let _ = self.record_history(crate::history::ONE_OFF_RECORD_LIMIT);
        }
        Ok(())
    }

    /// Records the history of the changes not yet recorded, within `limit`; whether the
    /// history is now up to date. The changes are durable already: a history that cannot be
    /// recorded now is worked out when it is next read, and must not fail anything.
    pub fn record_history(&mut self, limit: crate::history::RecordLimit) -> bool {
        match crate::history::bring_up_to_date(&self.store, self.schedule.doc_mut(), Some(limit)) {
            Ok(done) => done,
            Err(e) => {
                tracing::warn!("the history of the new changes was not recorded: {e}");
                false
            }
        }
    }

    /// Loads the schedule again from the store (after Automerge panicked on a peer's input,
    /// the copy in memory cannot be trusted).
    pub fn reload(&mut self) -> Result<()> {
        self.schedule = load_schedule(&mut self.store)?;
        write_as_this_machine(&mut self.schedule, &self.identity);
        Ok(())
    }
}

/// Makes the changes this process writes this machine's: written with an actor naming it by its
/// peer id, with a nonce of its own (see [`shiftmesh_model::machine_actor`]), and signed with its
/// key. The membership rule and `history` read which machine wrote what.
pub fn write_as_this_machine(schedule: &mut Schedule, identity: &Identity) {
    let mut nonce = [0; shiftmesh_model::ACTOR_NONCE_BYTES];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut nonce);
    schedule.sign_as(identity.keypair.clone(), nonce);
}

/// Records signatures in the store (they are flushed with the next change persisted).
pub(crate) fn save_signatures(
    store: &Store,
    signatures: Vec<ChangeSignature>,
) -> Result<(), StoreError> {
    let stored: Vec<StoredSignature> = signatures
        .into_iter()
        .map(|s| (s.change, s.machine, s.signature))
        .collect();
    store.save_signatures(&stored)
}

/// Puts back the signatures the store holds (see [`shiftmesh_model::ChangeSignature`]).
pub fn restore_signatures(store: &Store, schedule: &mut Schedule) -> Result<(), StoreError> {
    let stored = store.signatures()?;
    schedule.restore_signatures(stored.into_iter().map(|(change, machine, signature)| {
        ChangeSignature {
            change,
            machine,
            signature,
        }
    }));
    Ok(())
}

/// Loads the document and its index (from the index snapshot when it matches). A document of
/// an older schema is upgraded in place, and the upgrade is made durable at once, so that it
/// syncs to the site like any change and the store never needs re-creating.
pub fn load_schedule(store: &mut Store) -> Result<Schedule> {
    // The document first: its load peaks at over twice what it then keeps, and the index
    // is best built after that peak has passed.
    let doc = store.load_document()?;
    let index = fresh_index(store)?.map(|(index, _)| index);
    let mut schedule = Schedule::from_doc_and_index(doc, index).map_err(|e| {
        AppError::Refused(format!(
            "the store in {} does not hold a schedule ({e})",
            store.dir().display()
        ))
    })?;
    restore_signatures(store, &mut schedule)?;
    if schedule.upgraded() > 0 {
        store.persist(schedule.doc_mut())?;
        tracing::info!(
            "upgraded the schedule in {} to schema {} ({} step(s))",
            store.dir().display(),
            schedule.site().schema,
            schedule.upgraded()
        );
    }
    Ok(schedule)
}

/// The index snapshot on disk, if it was written for exactly the heads on disk, with the
/// number of changes it covers.
pub fn fresh_index(store: &Store) -> Result<Option<(Index, usize)>, StoreError> {
    Ok(store
        .read_index_snapshot()?
        .and_then(|(bytes, changes)| Index::from_snapshot(&bytes).map(|index| (index, changes))))
}

/// The members as the index snapshot for the heads on disk holds them, if there is one.
pub fn fresh_members(
    store: &Store,
) -> Result<Option<std::collections::BTreeMap<String, shiftmesh_model::Member>>, StoreError> {
    Ok(store
        .read_index_snapshot()?
        .and_then(|(bytes, _)| Index::members_from_snapshot(&bytes)))
}

/// Writes the index snapshot for the heads on disk; returns the number of changes.
pub fn write_index_snapshot(
    store: &mut Store,
    schedule: &mut Schedule,
) -> Result<usize, StoreError> {
    let changes = schedule.change_count();
    if let Some(bytes) = schedule.index().to_snapshot() {
        store.write_index_snapshot(&bytes, changes)?;
    }
    Ok(changes)
}

/// The variable that sets this process's clock off by a number of seconds: a test's way to
/// play a machine whose clock is wrong (everything it records and compares uses this clock).
pub const CLOCK_SKEW_ENV: &str = "SHIFTMESH_CLOCK_SKEW_SECS";

pub fn now_ms() -> i64 {
    let skew_ms = std::env::var(CLOCK_SKEW_ENV)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .map_or(0, |secs| secs.saturating_mul(1000));
    jiff::Timestamp::now()
        .as_millisecond()
        .saturating_add(skew_ms)
}
