//! The event stream's lines (NDJSON, one object per line, each with `type` and `time`).

use serde_json::{json, Value};
use shiftmesh_model::{AssignmentKey, Collection};
use shiftmesh_rules::Conflict;

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntityChange {
    Created,
    Updated,
    Removed,
}

/// Who made a change and where it came from: `origin` is "local" or the peer id the change came
/// from, `relayed_by` that member's name ("local" for this machine); `by` the authors of the
/// changes (`user@node`, several joined by ", ") and `made_on` the machines that made them (by
/// their names in the membership list, each marked "(unverified)" when no valid signature of
/// that machine binds the change), which need not be the one that relayed them.
#[derive(Clone, Copy, Debug)]
pub struct Source<'a> {
    pub origin: &'a str,
    pub relayed_by: &'a str,
    pub by: &'a str,
    pub made_on: &'a str,
}

/// An entity created, updated or removed; assignments are reported as such, the rest as
/// `entity-…` with their collection.
pub fn entity(collection: Collection, key: &str, change: EntityChange, source: Source) -> Value {
    let Source {
        origin,
        relayed_by,
        by,
        made_on,
    } = source;
    let verb = match change {
        EntityChange::Created => "created",
        EntityChange::Updated => "updated",
        EntityChange::Removed => "removed",
    };
    if collection == Collection::Assignments && change != EntityChange::Updated {
        if let Ok(k) = AssignmentKey::parse(key) {
            return json!({"type": format!("assignment-{verb}"), "time": now(), "assignment": key,
                          "staff": k.staff, "shift": k.shift, "origin": origin,
                          "relayed_by": relayed_by, "by": by, "made_on": made_on});
        }
    }
    json!({"type": format!("entity-{verb}"), "time": now(), "collection": collection.key(),
           "id": key, "origin": origin, "relayed_by": relayed_by, "by": by, "made_on": made_on})
}

/// A change too large to report entity by entity (an import, a first sync).
pub fn many_changed(count: usize, source: Source) -> Value {
    json!({"type": "entities-changed", "time": now(), "count": count, "origin": source.origin,
           "relayed_by": source.relayed_by, "by": source.by, "made_on": source.made_on})
}

pub fn conflict(kind: &str, conflict: &Conflict) -> Value {
    json!({"type": kind, "time": now(), "id": conflict.id, "conflict": conflict})
}

pub fn peer(kind: &str, peer: &str, address: Option<&str>) -> Value {
    json!({"type": kind, "time": now(), "peer_id": peer, "address": address})
}

pub fn sync_completed(
    peer: &str,
    role: &str,
    rounds: u32,
    bytes_sent: usize,
    bytes_received: usize,
    new_changes: usize,
    duration_ms: u64,
) -> Value {
    json!({"type": "sync-completed", "time": now(), "peer_id": peer, "role": role,
           "rounds": rounds, "bytes_sent": bytes_sent, "bytes_received": bytes_received,
           "new_changes": new_changes, "duration_ms": duration_ms})
}

pub fn sync_failed(peer: &str, role: &str, reason: &str) -> Value {
    json!({"type": "sync-failed", "time": now(), "peer_id": peer, "role": role, "reason": reason})
}

/// Told to a follower that fell behind.
pub fn lost(count: u64) -> String {
    json!({"type": "events-lost", "time": now(), "count": count}).to_string()
}
