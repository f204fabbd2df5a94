//! Who this node lets in: the members in the document, minus the revoked, plus (on a machine
//! joining a site) the inviter once it accepted us. The node computes the list after every
//! change to membership and hands it to the network task, which enforces it.

use std::collections::BTreeMap;

use shiftmesh_net::{PeerId, TrustList};
use shiftmesh_store::JoinTicket;

use shiftmesh_app::Session;

/// Peers that have the key but are not members, remembered for `peers` (the oldest seen is
/// forgotten first beyond this).
pub const MAX_PENDING_PEERS: usize = 64;

/// The trust list for the session's schedule and join ticket.
pub fn trust_list(session: &Session) -> TrustList {
    let index = session.schedule.index();
    let parse = |s: &String| s.parse::<PeerId>().ok();
    let mut list = TrustList {
        members: index
            .members
            .values()
            .filter(|m| m.is_trusted())
            .filter_map(|m| parse(&m.peer))
            .collect(),
        revoked: index
            .members
            .values()
            .filter(|m| m.revoked)
            .filter_map(|m| parse(&m.peer))
            .collect(),
        joining: None,
    };
    if let Some(ticket) = join_ticket(session) {
        if let Ok(inviter) = ticket.inviter.parse::<PeerId>() {
            if ticket.accepted {
                if !list.revoked.contains(&inviter) {
                    list.members.insert(inviter);
                }
            } else if ticket.refused.is_none() {
                list.joining = Some(inviter);
            }
        }
    }
    list
}

pub fn join_ticket(session: &Session) -> Option<JoinTicket> {
    session.store.join_ticket().ok().flatten()
}

/// Reads a peer id a user typed; the error says what one looks like and where to find it.
pub fn parse_peer_id(text: &str) -> Result<String, String> {
    text.trim()
        .parse::<PeerId>()
        .map(|p| p.to_string())
        .map_err(|_| {
            format!(
                "'{}' is not a peer id (they look like 12D3KooW…; 'shiftmesh peers' lists them)",
                text.chars().take(80).collect::<String>()
            )
        })
}

/// A peer that connected with the site key but is not a member.
#[derive(Clone, Debug)]
pub struct Pending {
    pub address: String,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    /// The name it gave when it asked to join (its own claim; it proves nothing).
    pub name: Option<String>,
}

/// The pending peers, bounded.
#[derive(Debug, Default)]
pub struct PendingPeers(BTreeMap<PeerId, Pending>);

impl PendingPeers {
    pub fn seen(&mut self, peer: PeerId, address: String, now_ms: i64) {
        if !self.0.contains_key(&peer) && self.0.len() >= MAX_PENDING_PEERS {
            let oldest = self
                .0
                .iter()
                .min_by_key(|(_, p)| p.last_seen_ms)
                .map(|(id, _)| *id);
            if let Some(oldest) = oldest {
                self.0.remove(&oldest);
            }
        }
        let entry = self.0.entry(peer).or_insert_with(|| Pending {
            address: address.clone(),
            first_seen_ms: now_ms,
            last_seen_ms: now_ms,
            name: None,
        });
        entry.address = address;
        entry.last_seen_ms = now_ms;
    }

    pub fn named(&mut self, peer: &PeerId, name: &str) {
        if let Some(p) = self.0.get_mut(peer) {
            p.name = Some(name.to_owned());
        }
    }

    /// Drops a machine from the list; whether it was on it.
    pub fn forget(&mut self, peer: &PeerId) -> bool {
        self.0.remove(peer).is_some()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&PeerId, &Pending)> {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_peers_are_bounded_and_the_stalest_goes_first() {
        let mut pending = PendingPeers::default();
        let first = PeerId::random();
        pending.seen(first, "a".into(), 0);
        for i in 1..MAX_PENDING_PEERS as i64 + 10 {
            pending.seen(PeerId::random(), "b".into(), i);
        }
        assert_eq!(pending.iter().count(), MAX_PENDING_PEERS);
        assert!(pending.iter().all(|(id, _)| *id != first));
    }
}
