//! The floors: the same work done with raw Automerge in this process, with no storage engine,
//! no network, no validation and no CLI, on the same document.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ReadDoc, ROOT};

/// One replica's side of a sync with another, in memory: the encoded messages are decoded
/// again so that the wire format's cost is counted, as it is between nodes.
fn exchange(
    from: &mut AutoCommit,
    from_state: &mut sync::State,
    to: &mut AutoCommit,
    to_state: &mut sync::State,
) -> anyhow::Result<Option<usize>> {
    let Some(message) = from.sync().generate_sync_message(from_state) else {
        return Ok(None);
    };
    let wire = message.encode();
    to.sync()
        .receive_sync_message(to_state, sync::Message::decode(&wire)?)?;
    Ok(Some(wire.len()))
}

/// Syncs two replicas until neither has anything to say; returns the bytes moved.
fn sync_pair(
    a: &mut AutoCommit,
    a_state: &mut sync::State,
    b: &mut AutoCommit,
    b_state: &mut sync::State,
) -> anyhow::Result<usize> {
    let mut moved = 0;
    loop {
        let there = exchange(a, a_state, b, b_state)?;
        let back = exchange(b, b_state, a, a_state)?;
        if there.is_none() && back.is_none() {
            return Ok(moved);
        }
        moved += there.unwrap_or(0) + back.unwrap_or(0);
    }
}

/// The document into an empty one with the sync protocol: time and bytes moved.
pub fn catch_up(bytes: &[u8]) -> anyhow::Result<(Duration, usize)> {
    let mut full = AutoCommit::load(bytes)?;
    let mut empty = AutoCommit::new();
    let (mut s_full, mut s_empty) = (sync::State::new(), sync::State::new());
    let started = Instant::now();
    let moved = sync_pair(&mut empty, &mut s_empty, &mut full, &mut s_full)?;
    Ok((started.elapsed(), moved))
}

/// The staff member `id`'s map in a shiftmesh document.
fn staff_object(doc: &AutoCommit, id: &str) -> anyhow::Result<ObjId> {
    let (_, staff) = doc.get(ROOT, "staff")?.context("no staff collection")?;
    let (_, member) = doc
        .get(&staff, id)?
        .with_context(|| format!("no staff member {id}"))?;
    Ok(member)
}

fn rename(doc: &mut AutoCommit, id: &str, name: String) -> anyhow::Result<()> {
    let member = staff_object(doc, id)?;
    doc.put(&member, "name", name)?;
    doc.commit();
    Ok(())
}

/// An edit made durable: change a staff member's name, commit, append the change to a file and
/// wait for the disk. Returns each edit's time.
pub fn acknowledge(
    bytes: &[u8],
    staff: &[String],
    edits: usize,
    file: &Path,
) -> anyhow::Result<Vec<Duration>> {
    let mut doc = AutoCommit::load(bytes)?;
    let mut log = std::fs::File::create(file)?;
    // The first incremental save after a load holds the whole document; a node's log starts
    // from its snapshot, so that one is not timed.
    log.write_all(&doc.save_incremental())?;
    log.sync_data()?;
    let mut times = Vec::with_capacity(edits);
    for i in 0..edits {
        let started = Instant::now();
        rename(&mut doc, &staff[i % staff.len()], format!("Edit {i}"))?;
        log.write_all(&doc.save_incremental())?;
        log.sync_data()?;
        times.push(started.elapsed());
    }
    Ok(times)
}

/// An edit on one of `replicas` copies reaching all the others by the sync protocol, the copies
/// having synced before. Returns each edit's time until the last copy applied it.
pub fn propagate(
    bytes: &[u8],
    staff: &[String],
    replicas: usize,
    edits: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut origin = AutoCommit::load(bytes)?;
    let mut others: Vec<AutoCommit> = (1..replicas).map(|_| origin.fork()).collect();
    let mut states: Vec<(sync::State, sync::State)> = others
        .iter()
        .map(|_| (sync::State::new(), sync::State::new()))
        .collect();
    for (other, (ours, theirs)) in others.iter_mut().zip(&mut states) {
        sync_pair(&mut origin, ours, other, theirs)?;
    }
    let mut times = Vec::with_capacity(edits);
    // One untimed edit first, as the nodes' measurement has: the first exchange after the
    // initial sync is not representative.
    for i in 0..=edits {
        let started = Instant::now();
        rename(&mut origin, &staff[i % staff.len()], format!("Edit {i}"))?;
        for (other, (ours, theirs)) in others.iter_mut().zip(&mut states) {
            sync_pair(&mut origin, ours, other, theirs)?;
        }
        if i > 0 {
            times.push(started.elapsed());
        }
    }
    Ok(times)
}

/// `replicas` copies each make `edits / replicas` edits at once (none sees another's), then
/// every pair syncs, round after round, until all hold the same heads. Returns the time from
/// the last edit until then.
pub fn converge(
    bytes: &[u8],
    staff: &[String],
    replicas: usize,
    edits: usize,
) -> anyhow::Result<Duration> {
    // Each copy is a fork, with an actor of its own, as each node has.
    let mut first = AutoCommit::load(bytes)?;
    let mut docs: Vec<AutoCommit> = (1..replicas).map(|_| first.fork()).collect();
    docs.push(first);
    for i in 0..edits {
        let replica = i % replicas;
        rename(
            &mut docs[replica],
            &staff[(i * 7 + replica) % staff.len()],
            format!("Concurrent {i}"),
        )?;
    }
    let mut states: Vec<Vec<sync::State>> = (0..replicas)
        .map(|_| (0..replicas).map(|_| sync::State::new()).collect())
        .collect();
    let started = Instant::now();
    loop {
        for a in 0..replicas {
            for b in a + 1..replicas {
                let (left, right) = docs.split_at_mut(b);
                let (a_states, b_states) = {
                    let (low, high) = states.split_at_mut(b);
                    (&mut low[a], &mut high[0])
                };
                sync_pair(
                    &mut left[a],
                    &mut a_states[b],
                    &mut right[0],
                    &mut b_states[a],
                )?;
            }
        }
        let heads = docs[0].get_heads();
        if docs.iter_mut().all(|d| d.get_heads() == heads) {
            return Ok(started.elapsed());
        }
    }
}
