//! This node and the mesh: what `status` and `peers` show. A running node fills [`Status`] from
//! its network state; with no node, it is read from the store.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use shiftmesh_model::Index;
use shiftmesh_store::{Identity, Store};

/// This node and its peers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub running: bool,
    pub peer_id: String,
    pub name: String,
    /// The site key's fingerprint (never the key).
    pub site_key_fingerprint: String,
    pub listen: Vec<String>,
    /// Where the page is served (its base URL), when the node serves it.
    #[serde(default)]
    pub ui: Option<String>,
    /// Open conflicts as the node's incremental validation has them (None when no node runs).
    pub open_conflicts: Option<usize>,
    /// This machine's standing in the site: "member", "revoked", "joining", "join refused:
    /// REASON", or "not a member".
    pub membership: String,
    pub peers: Vec<PeerStatus>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerStatus {
    pub peer_id: String,
    /// The name the site's membership list gives it (or, for a pending peer, the one it gave).
    pub name: Option<String>,
    /// "member", "revoked", "void" (admitted only by a machine revoked before it, so no
    /// member: see [`member_state`]), "pending" (has the site key, not a member: 'peers trust
    /// ID' lets it in), "inviter" (trusted by this machine's join until the membership list
    /// arrives), or "unknown" (remembered from an earlier run, not a member).
    pub state: String,
    pub connected: bool,
    pub addresses: Vec<String>,
    /// When a sync session with it last completed (RFC 3339).
    pub last_sync: Option<String>,
    /// Changes of ours it lacks, counted from what it is known to hold (the heads it last
    /// announced or synced): 0 when its heads are ours.
    pub behind: Option<usize>,
    /// Heads it announced that we lack.
    pub ahead: Option<usize>,
    /// Its clock minus ours, from its last announcement (ms; None when unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_offset_ms: Option<i64>,
    /// It closed this machine's connections as soon as they opened, several times in a row
    /// (a member that revoked this machine does).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refuses_us: bool,
    /// Connected, but no sync runs with it yet: this node is learning the membership first,
    /// from these members (peer ids), which judge it revoked; empty for the short hold after
    /// a start, when every connection waits for the members to speak.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_until_synced_with: Option<Vec<String>>,
}

impl PeerStatus {
    pub fn new(peer_id: String) -> PeerStatus {
        PeerStatus {
            peer_id,
            name: None,
            state: "unknown".into(),
            connected: false,
            addresses: Vec::new(),
            last_sync: None,
            behind: None,
            ahead: None,
            clock_offset_ms: None,
            refuses_us: false,
            held_until_synced_with: None,
        }
    }
}

impl Status {
    /// The status read from the store and the schedule's index, when no node runs.
    /// `fingerprint` is the site key's, as the network shows it.
    pub fn offline(
        identity: &Identity,
        store: &Store,
        index: &Index,
        fingerprint: String,
    ) -> Status {
        let me = identity.peer_id().to_string();
        let ticket = store.join_ticket().ok().flatten();
        let mut peers: BTreeMap<String, PeerStatus> = BTreeMap::new();
        for (peer_id, record) in store.known_peers().unwrap_or_default() {
            let entry = peers
                .entry(peer_id.clone())
                .or_insert_with(|| PeerStatus::new(peer_id));
            entry.addresses = record.addresses;
        }
        if let Some(t) = ticket.as_ref().filter(|t| t.accepted) {
            let entry = peers
                .entry(t.inviter.clone())
                .or_insert_with(|| PeerStatus::new(t.inviter.clone()));
            entry.state = "inviter".into();
        }
        for member in index.members.values().filter(|m| m.peer != me) {
            let entry = peers
                .entry(member.peer.clone())
                .or_insert_with(|| PeerStatus::new(member.peer.clone()));
            entry.name = Some(member.name.clone());
            entry.state = member_state(member).into();
        }
        let membership = match index.members.get(&me) {
            Some(m) if m.void.is_some() => {
                "not a member (admitted only by a machine revoked before it)".to_owned()
            }
            Some(m) if m.revoked => "revoked".to_owned(),
            Some(_) => "member".to_owned(),
            None => match ticket {
                Some(t) if t.refused.is_some() => {
                    format!("join refused: {}", t.refused.unwrap_or_default())
                }
                Some(t) if !t.accepted => "joining".to_owned(),
                // Accepted, but the membership list has not arrived yet.
                Some(_) => "member".to_owned(),
                None => "not a member".to_owned(),
            },
        };
        Status {
            running: false,
            peer_id: me,
            name: identity.config.node_name.clone(),
            site_key_fingerprint: fingerprint,
            listen: Vec::new(),
            ui: None,
            open_conflicts: None,
            membership,
            peers: peers.into_values().collect(),
        }
    }
}

/// How many entities of each kind the schedule holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityCounts {
    pub departments: usize,
    pub staff: usize,
    pub shifts: usize,
    pub assignments: usize,
    pub availability: usize,
}

/// What `status` shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    pub peer_id: String,
    pub name: String,
    pub site: Option<String>,
    pub time_zone: String,
    pub data_dir: std::path::PathBuf,
    pub running: bool,
    pub membership: String,
    pub site_key_fingerprint: String,
    pub listen: Vec<String>,
    pub ui: Option<String>,
    pub heads: Vec<String>,
    pub changes: usize,
    pub schema: i64,
    pub schema_notice: Option<String>,
    /// Entities holding fields this version cannot read.
    pub damaged: usize,
    pub conflicts: usize,
    pub counts: EntityCounts,
    pub peers: Vec<PeerStatus>,
    /// What needs attention on this machine (`doctor`'s cheap checks; `doctor` says more).
    #[serde(default)]
    pub warnings: Vec<crate::doctor::Finding>,
}

/// How a member record stands, as `peers` and `status` name it: a record whose admission does
/// not count under the membership rule is `void`.
pub fn member_state(member: &shiftmesh_model::Member) -> &'static str {
    if member.void.is_some() {
        "void"
    } else if member.revoked {
        "revoked"
    } else {
        "member"
    }
}
