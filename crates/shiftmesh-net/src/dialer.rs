//! Our own redial loop. libp2p dials only when asked, mDNS reports a peer once, and idle
//! connections close, so every member we know an address of is redialed while it is
//! disconnected, with a backoff that doubles from [`REDIAL_MIN_MS`] to [`REDIAL_MAX_MS`] and
//! resets on connect. Peers that are not members are remembered (within a bound) but never
//! dialed; `--peer` addresses are always dialed, since the user named them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use libp2p::core::ConnectedPoint;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::ConnectionId;
use libp2p::{Multiaddr, PeerId, Swarm};

use crate::behaviour::Behaviour;

pub const REDIAL_MIN_MS: u64 = 500;
pub const REDIAL_MAX_MS: u64 = 30_000;
/// A connection that stayed open this long resets a peer's redial backoff when it closes; one
/// that closed sooner doubles it.
pub const STABLE_CONNECTION_SECS: u64 = 10;
/// After this many connections in a row closed as soon as they opened, a peer is reported as
/// refusing us (a member that revoked this machine does that).
pub const REFUSED_AFTER_QUICK_CLOSES: u32 = 3;
/// Peers known by id (found by mDNS, told by identify, remembered); beyond this, new ones are
/// ignored, so a noisy network cannot grow our memory.
pub const MAX_KNOWN_PEERS: usize = 256;
pub const MAX_ADDRESSES_PER_KNOWN_PEER: usize = 8;
/// Members a node dials of its own accord while fewer are connected (`--peer` addresses are
/// always dialed, and members that dial us are always taken). Every member knows where every
/// other is, so any two can connect; dialing all of them would push each edit over every pair
/// of a 20-machine site (the concurrent-edits benchmark on SMALL went from 0.9 s to 5.4 s, 2.3 s
/// with four each), while two each, chosen differently by each node, keep the site one mesh
/// when any machine is off (1.1 s, and propagation as before).
pub const MEMBER_CONNECTIONS_TARGET: usize = 2;

/// The order in which `me` prefers to dial members: a hash of both ids, so each node prefers
/// different ones and the connections spread over the site.
fn preference(me: &PeerId, peer: &PeerId) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (me, peer).hash(&mut hasher);
    hasher.finish()
}

#[derive(Debug)]
struct Backoff {
    next_at: Instant,
    delay_ms: u64,
}

impl Backoff {
    fn now() -> Backoff {
        Backoff {
            next_at: Instant::now(),
            delay_ms: REDIAL_MIN_MS,
        }
    }

    fn due(&self, now: Instant) -> bool {
        self.next_at <= now
    }

    fn wait(&mut self, now: Instant) {
        self.next_at = now + Duration::from_millis(self.delay_ms);
        self.delay_ms = (self.delay_ms * 2).min(REDIAL_MAX_MS);
    }

    fn reset(&mut self) {
        *self = Backoff::now();
    }
}

#[derive(Debug)]
struct Known {
    addresses: Vec<Multiaddr>,
    connected: bool,
    /// When its current connection opened.
    connected_at: Option<Instant>,
    backoff: Backoff,
    /// Connections in a row it closed as soon as they opened.
    quick_closes: u32,
}

/// A `--peer` address; its peer id is learned on the first connection unless given.
#[derive(Debug)]
struct Static {
    address: Multiaddr,
    peer: Option<PeerId>,
    backoff: Backoff,
    dialing: Option<ConnectionId>,
}

pub struct Dialer {
    me: PeerId,
    known: BTreeMap<PeerId, Known>,
    statics: Vec<Static>,
    dialing: HashMap<ConnectionId, PeerId>,
    /// The peers worth dialing: members, and the inviter of a machine still joining.
    dialable: HashSet<PeerId>,
}

/// Whether an address is worth dialing (not the unspecified 0.0.0.0 or ::).
pub fn is_dialable(address: &Multiaddr) -> bool {
    !address.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_unspecified(),
        Protocol::Ip6(ip) => ip.is_unspecified(),
        _ => false,
    })
}

fn peer_of(address: &Multiaddr) -> Option<PeerId> {
    address.iter().find_map(|p| match p {
        Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}

impl Dialer {
    pub fn new(me: PeerId) -> Dialer {
        Dialer {
            me,
            known: BTreeMap::new(),
            statics: Vec::new(),
            dialing: HashMap::new(),
            dialable: HashSet::new(),
        }
    }

    pub fn add_static(&mut self, address: Multiaddr) {
        let peer = peer_of(&address);
        self.statics.push(Static {
            address,
            peer,
            backoff: Backoff::now(),
            dialing: None,
        });
    }

    /// Remembers an address of a peer; true when it is new.
    pub fn add_known(&mut self, peer: PeerId, address: Multiaddr) -> bool {
        if peer == self.me || !is_dialable(&address) {
            return false;
        }
        let address: Multiaddr = address
            .iter()
            .filter(|p| !matches!(p, Protocol::P2p(_)))
            .collect();
        if !self.known.contains_key(&peer) && self.known.len() >= MAX_KNOWN_PEERS {
            return false;
        }
        let known = self.known.entry(peer).or_insert_with(|| Known {
            addresses: Vec::new(),
            connected: false,
            connected_at: None,
            backoff: Backoff::now(),
            quick_closes: 0,
        });
        if !known.addresses.contains(&address) {
            known.addresses.push(address);
            let excess = known
                .addresses
                .len()
                .saturating_sub(MAX_ADDRESSES_PER_KNOWN_PEER);
            known.addresses.drain(..excess);
            // A new address is worth trying at once.
            known.backoff.reset();
            return true;
        }
        false
    }

    /// The addresses a peer is known at (empty when it is not known).
    pub fn addresses_of(&self, peer: &PeerId) -> &[Multiaddr] {
        self.known.get(peer).map_or(&[], |k| k.addresses.as_slice())
    }

    pub fn set_dialable(&mut self, dialable: HashSet<PeerId>) {
        self.dialable = dialable;
    }

    fn is_connected(&self, peer: &PeerId) -> bool {
        self.known.get(peer).is_some_and(|k| k.connected)
    }

    /// Dials every disconnected peer whose backoff has passed.
    pub fn dial_due(&mut self, swarm: &mut Swarm<Behaviour>) {
        let now = Instant::now();
        for i in 0..self.statics.len() {
            let connected = self.statics[i]
                .peer
                .is_some_and(|p| self.is_connected(&p) || p == self.me);
            let s = &mut self.statics[i];
            if connected || s.dialing.is_some() || !s.backoff.due(now) {
                continue;
            }
            s.backoff.wait(now);
            let opts = DialOpts::unknown_peer_id()
                .address(s.address.clone())
                .build();
            s.dialing = Some(opts.connection_id());
            if let Err(e) = swarm.dial(opts) {
                s.dialing = None;
                tracing::debug!("cannot dial {}: {e}", s.address);
            }
        }
        // Members are dialed only while fewer than the target are connected (or being dialed),
        // each node in an order of its own, so the site stays one well-knit mesh without every
        // pair connected.
        let connected_members = self
            .known
            .iter()
            .filter(|(peer, k)| k.connected && self.dialable.contains(peer))
            .count();
        let mut budget =
            MEMBER_CONNECTIONS_TARGET.saturating_sub(connected_members + self.dialing.len());
        let me = self.me;
        let mut candidates: Vec<(u64, PeerId)> = self
            .known
            .iter()
            .filter(|(peer, k)| {
                !k.connected
                    && k.backoff.due(now)
                    && !k.addresses.is_empty()
                    && self.dialable.contains(peer)
            })
            .map(|(peer, _)| (preference(&me, peer), *peer))
            .collect();
        candidates.sort();
        for (_, peer) in candidates {
            if budget == 0 {
                break;
            }
            budget -= 1;
            let Some(known) = self.known.get_mut(&peer) else {
                continue;
            };
            known.backoff.wait(now);
            let opts = DialOpts::peer_id(peer)
                .addresses(known.addresses.clone())
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            self.dialing.insert(opts.connection_id(), peer);
            if let Err(e) = swarm.dial(opts) {
                tracing::debug!("cannot dial {peer}: {e}");
            }
        }
    }

    pub fn connected(&mut self, peer: PeerId, connection: ConnectionId, endpoint: &ConnectedPoint) {
        self.dialing.remove(&connection);
        for s in &mut self.statics {
            if s.dialing == Some(connection) {
                s.dialing = None;
                s.peer = Some(peer);
            }
            if s.peer == Some(peer) {
                s.backoff.reset();
            }
        }
        if let ConnectedPoint::Dialer { address, .. } = endpoint {
            self.add_known(peer, address.clone());
        }
        if let Some(known) = self.known.get_mut(&peer) {
            known.connected = true;
            known.connected_at = Some(Instant::now());
        } else if self.known.len() < MAX_KNOWN_PEERS {
            // A peer that dialed us: we know no address to redial it at, but track it.
            self.known.insert(
                peer,
                Known {
                    addresses: Vec::new(),
                    connected: true,
                    connected_at: Some(Instant::now()),
                    backoff: Backoff::now(),
                    quick_closes: 0,
                },
            );
        }
    }

    /// A peer's last connection closed: redial soon if the connection had lasted, later and
    /// later if it closes as soon as it opens (a member that revoked us refuses us that way, and
    /// a flapping link does the same). True when the peer has just refused us
    /// [`REFUSED_AFTER_QUICK_CLOSES`] times in a row.
    pub fn disconnected(&mut self, peer: PeerId) -> bool {
        let Some(known) = self.known.get_mut(&peer) else {
            return false;
        };
        known.connected = false;
        let lasted = known
            .connected_at
            .take()
            .is_some_and(|at| at.elapsed() >= Duration::from_secs(STABLE_CONNECTION_SECS));
        if lasted {
            known.backoff.reset();
            known.quick_closes = 0;
            false
        } else {
            known.quick_closes = known.quick_closes.saturating_add(1);
            known.backoff.wait(Instant::now());
            if known.backoff.delay_ms >= REDIAL_MAX_MS {
                tracing::warn!(
                    "{peer} keeps closing our connections as soon as they open; if it is a member, this machine may have been revoked from the site (ask on a member: shiftmesh peers)"
                );
            }
            known.quick_closes == REFUSED_AFTER_QUICK_CLOSES
        }
    }

    pub fn failed(&mut self, _peer: Option<PeerId>, connection: ConnectionId) {
        self.dialing.remove(&connection);
        for s in &mut self.statics {
            if s.dialing == Some(connection) {
                s.dialing = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libp2p::core::transport::PortUse;
    use libp2p::core::Endpoint;

    fn delay_of(dialer: &Dialer, peer: &PeerId) -> u64 {
        dialer.known[peer].backoff.delay_ms
    }

    /// A revoked machine was refused at once and redialed every half second forever.
    #[test]
    fn a_peer_that_closes_at_once_is_redialed_later_and_later_and_a_lasting_one_soon() {
        let mut dialer = Dialer::new(PeerId::random());
        let peer = PeerId::random();
        let address: Multiaddr = "/ip4/127.0.0.1/tcp/4780".parse().unwrap();
        let endpoint = ConnectedPoint::Dialer {
            address: address.clone(),
            role_override: Endpoint::Dialer,
            port_use: PortUse::Reuse,
        };
        dialer.add_known(peer, address);
        let mut delays = Vec::new();
        let mut refused = Vec::new();
        for _ in 0..8 {
            dialer.connected(peer, ConnectionId::new_unchecked(1), &endpoint);
            refused.push(dialer.disconnected(peer));
            delays.push(delay_of(&dialer, &peer));
        }
        let told: Vec<usize> = (0..8).filter(|i| refused[*i]).collect();
        assert_eq!(
            told,
            [REFUSED_AFTER_QUICK_CLOSES as usize - 1],
            "reported once"
        );
        assert!(delays.windows(2).all(|w| w[1] >= w[0]), "{delays:?}");
        assert_eq!(delays.last(), Some(&REDIAL_MAX_MS));
        // A connection that lasted resets it.
        dialer.connected(peer, ConnectionId::new_unchecked(2), &endpoint);
        if let Some(known) = dialer.known.get_mut(&peer) {
            known.connected_at =
                Some(Instant::now() - Duration::from_secs(STABLE_CONNECTION_SECS + 1));
        }
        dialer.disconnected(peer);
        assert_eq!(delay_of(&dialer, &peer), REDIAL_MIN_MS);
    }
}
