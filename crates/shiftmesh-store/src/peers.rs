//! What the node remembers about peers between runs: the addresses it reached them at, and
//! each peer's sync states (so the next session sends only what is new).

use serde::{Deserialize, Serialize};

use crate::{Store, StoreError};

/// At most this many peers are remembered; a site has a handful of machines, and the bound
/// keeps a noisy network from filling the store.
pub const MAX_REMEMBERED_PEERS: usize = 256;
/// At most this many addresses are kept per peer (the newest).
pub const MAX_ADDRESSES_PER_PEER: usize = 8;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRecord {
    /// Multiaddresses the peer was reached at or listens on, newest last.
    pub addresses: Vec<String>,
    /// When this machine last heard from it (ms since the epoch), for `doctor`.
    #[serde(default)]
    pub last_seen_ms: Option<i64>,
}

fn state_key(peer: &str, role: &str) -> Vec<u8> {
    let mut key = peer.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(role.as_bytes());
    key
}

impl Store {
    /// Every remembered peer with its record; unreadable records are skipped (they are only a
    /// hint for dialing).
    pub fn known_peers(&self) -> Result<Vec<(String, PeerRecord)>, StoreError> {
        let mut peers = Vec::new();
        for entry in self.peers.iter() {
            let (key, value) = entry?;
            if let (Ok(id), Ok(record)) = (
                String::from_utf8(key.to_vec()),
                serde_json::from_slice::<PeerRecord>(&value),
            ) {
                peers.push((id, record));
            }
        }
        Ok(peers)
    }

    /// Adds an address to the peer's record (keeping the newest few). Returns false when the
    /// peer is new and the store already remembers as many peers as it may.
    pub fn remember_address(&mut self, peer: &str, address: &str) -> Result<bool, StoreError> {
        self.update_peer(peer, |record| {
            if record.addresses.last().map(String::as_str) == Some(address) {
                return false;
            }
            record.addresses.retain(|a| a != address);
            record.addresses.push(address.to_owned());
            let excess = record
                .addresses
                .len()
                .saturating_sub(MAX_ADDRESSES_PER_PEER);
            record.addresses.drain(..excess);
            true
        })
    }

    /// Records that the peer was heard from at `now_ms`. Returns false when the peer is new
    /// and the store already remembers as many peers as it may.
    pub fn mark_seen(&mut self, peer: &str, now_ms: i64) -> Result<bool, StoreError> {
        self.update_peer(peer, |record| {
            record.last_seen_ms = Some(now_ms);
            true
        })
    }

    /// Reads, changes and writes back a peer's record (`change` says whether it changed it).
    fn update_peer(
        &mut self,
        peer: &str,
        change: impl FnOnce(&mut PeerRecord) -> bool,
    ) -> Result<bool, StoreError> {
        let mut record: PeerRecord = match self.peers.get(peer.as_bytes())? {
            Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
            None if self.peers.len() >= MAX_REMEMBERED_PEERS => return Ok(false),
            None => PeerRecord::default(),
        };
        if change(&mut record) {
            let bytes = serde_json::to_vec(&record).expect("a peer record serialises");
            self.peers.insert(peer.as_bytes(), bytes)?;
        }
        Ok(true)
    }

    /// The peer's saved sync state for `role` ("outbound" or "inbound").
    pub fn sync_state(&self, peer: &str, role: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .sync_states
            .get(state_key(peer, role))?
            .map(|v| v.to_vec()))
    }

    /// Saves the peer's sync state for `role`. Callers save a state only after the changes it
    /// covers are durable.
    pub fn save_sync_state(
        &mut self,
        peer: &str,
        role: &str,
        state: &[u8],
    ) -> Result<(), StoreError> {
        self.sync_states.insert(state_key(peer, role), state)?;
        Ok(())
    }

    /// Forgets every peer's sync state (after the schedule was replaced, they no longer hold).
    pub fn clear_sync_states(&mut self) -> Result<(), StoreError> {
        self.sync_states.clear()?;
        Ok(())
    }
}
