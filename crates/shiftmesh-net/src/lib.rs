//! The only part of shiftmesh that touches libp2p.
//!
//! One task owns the [`Swarm`]: TCP, wrapped in the site's pre-shared key (pnet) before
//! anything else is said, then noise and yamux; no QUIC, which cannot carry pnet. That is the
//! first gate: a machine without the site key never completes a handshake. The second gate is
//! here too: the node tells the task which peer ids are members ([`TrustList`]), and a peer
//! that has the key but is not a member may only ask to join: its sync requests and
//! announcements are refused, it is sent nothing, and the node hears of it only as
//! [`Event::Pending`]. Revoked members are blocked outright (their connections are closed and
//! refused).
//!
//! Request-response (CBOR, explicit size limits) carries the sync messages, heads
//! announcements and join requests, each from one authenticated peer to another; nothing is
//! forwarded on anyone's behalf. The node talks to the task through bounded channels:
//! [`Command`]s in, [`Event`]s out. Peers are found by mDNS, by `--peer` addresses and by
//! addresses remembered from earlier runs, and the task redials members with backoff, since
//! libp2p never reconnects on its own.

mod behaviour;
mod dialer;
mod gate;
mod rate;
mod sources;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::core::ConnectedPoint;
use libp2p::pnet::PreSharedKey;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::{ConnectionId, SwarmEvent};
use libp2p::{identify, mdns, Swarm};
use shiftmesh_sync::{
    Announcement, AnnouncementAck, JoinRequest, JoinResponse, MemberAddresses, SyncRequest,
    SyncResponse, MAX_SHARED_ADDRESSES_PER_MEMBER, MAX_SHARED_MEMBERS, MAX_SHARED_REVOKED,
};
use tokio::sync::mpsc;

pub use libp2p::identity::Keypair;
pub use libp2p::multiaddr::Error as AddressError;
pub use libp2p::{Multiaddr, PeerId};

use crate::behaviour::{Behaviour, BehaviourEvent};
pub use crate::behaviour::{
    ANNOUNCE_PROTOCOL, FIRST_BYTES_TIMEOUT_SECS, IDLE_CONNECTION_TIMEOUT_SECS, JOIN_PROTOCOL,
    MAX_CONCURRENT_STREAMS, MAX_CONNECTIONS, MAX_CONNECTIONS_PER_PEER, MAX_PENDING_INCOMING,
    MAX_SMALL_MESSAGE_BYTES, MAX_SYNC_WIRE_BYTES, SMALL_REQUEST_TIMEOUT_SECS, SYNC_PROTOCOL,
    SYNC_REQUEST_TIMEOUT_SECS, UPGRADE_TIMEOUT_SECS,
};
use crate::dialer::Dialer;
pub use crate::dialer::{MAX_KNOWN_PEERS, REDIAL_MAX_MS, REDIAL_MIN_MS};
use crate::rate::Bucket;
pub use crate::rate::{REQUESTS_PER_PEER_PER_SEC, REQUEST_BURST_PER_PEER};
pub use crate::sources::MAX_PENDING_INCOMING_PER_SOURCE;

/// Commands the node may queue before `send` reports the network task as busy.
pub const COMMAND_QUEUE_LEN: usize = 1024;
/// Events the network task may queue before it waits for the node.
pub const EVENT_QUEUE_LEN: usize = 1024;
/// Requests from peers waiting for the node's answer; beyond this a request is dropped
/// (its sender times out and retries in a later session).
pub const MAX_PENDING_RESPONSES: usize = 1024;
/// Peers that hold the key but are not members, connected at once; more are disconnected at
/// once, so strangers cannot use up the connections members need.
pub const MAX_PENDING_CONNECTIONS: usize = 8;
/// A connected peer that is not a member is disconnected after this long: long enough to ask
/// to join (or to be trusted by hand), not long enough to squat.
pub const PENDING_CONNECTION_MAX_SECS: u64 = 60;
/// Join requests one connection may make; a join needs one, a retry after a timeout two.
pub const MAX_JOIN_REQUESTS_PER_CONNECTION: u32 = 3;
/// A peer that became a member while connected carries only the join protocol on that
/// connection; the side that did not dial closes it after this (time for a join answer to go
/// out), and the dialer's next connection carries everything.
pub const LATE_MEMBER_GRACE_MS: u64 = 2_000;

/// Who may have the schedule: the site's members (from the document), the members that were
/// revoked (blocked outright), and, on a machine still joining, the inviter to dial and ask.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustList {
    pub members: HashSet<PeerId>,
    pub revoked: HashSet<PeerId>,
    pub joining: Option<PeerId>,
}

impl TrustList {
    pub fn is_member(&self, peer: &PeerId) -> bool {
        self.members.contains(peer) && !self.revoked.contains(peer)
    }
}

/// What the network needs to start.
#[derive(Clone, Debug)]
pub struct NetConfig {
    pub keypair: Keypair,
    pub site_key: [u8; 32],
    pub listen: Vec<Multiaddr>,
    /// Addresses to dial and keep dialing (`--peer`), with or without a `/p2p/ID` suffix.
    pub static_peers: Vec<Multiaddr>,
    /// Peers remembered from earlier runs, with the addresses they were reached at.
    pub remembered: Vec<(PeerId, Vec<Multiaddr>)>,
    pub mdns: bool,
    pub trust: TrustList,
}

/// What the node asks of the network.
#[derive(Debug)]
pub enum Command {
    Request {
        peer: PeerId,
        request: SyncRequest,
    },
    Respond {
        id: u64,
        response: SyncResponse,
    },
    /// Tell every connected member our new heads.
    Announce(Announcement),
    /// Ask the inviter to make us a member.
    Join {
        peer: PeerId,
        request: JoinRequest,
    },
    JoinRespond {
        id: u64,
        response: JoinResponse,
    },
    /// The membership changed (or is known for the first time).
    Trust(TrustList),
}

/// What the network reports to the node. Only members' sync traffic is ever reported.
#[derive(Debug)]
pub enum Event {
    Listening {
        address: Multiaddr,
    },
    /// A member connected.
    Connected {
        peer: PeerId,
        address: Multiaddr,
        /// Whether we dialed (the dialer starts the first sync session).
        dialer: bool,
    },
    /// A member's last connection closed, or it stopped being a member.
    Disconnected {
        peer: PeerId,
    },
    /// A peer that holds the site key but is not a member connected; it may only ask to join.
    Pending {
        peer: PeerId,
        address: Multiaddr,
    },
    Request {
        peer: PeerId,
        id: u64,
        request: SyncRequest,
    },
    Response {
        peer: PeerId,
        response: SyncResponse,
    },
    RequestFailed {
        peer: PeerId,
        reason: String,
    },
    Announcement {
        peer: PeerId,
        announcement: Announcement,
    },
    /// A peer closed our connections as soon as they opened, several times in a row: it does
    /// not take us as a member (or the link flaps).
    Refusing {
        peer: PeerId,
    },
    /// An address a member can be reached at, worth remembering for the next run.
    Learned {
        peer: PeerId,
        address: Multiaddr,
    },
    JoinRequest {
        peer: PeerId,
        id: u64,
        request: JoinRequest,
    },
    /// The answer to our join request, or why there is none.
    JoinAnswered {
        peer: PeerId,
        answer: Result<JoinResponse, String>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("cannot build the network stack: {0}")]
    Build(String),
    #[error("cannot listen on {address}: {reason}")]
    Listen { address: Multiaddr, reason: String },
}

/// The node's handle on the running network task.
pub struct Net {
    pub peer_id: PeerId,
    /// The site key's fingerprint: safe to log and show, unlike the key.
    pub fingerprint: String,
    commands: mpsc::Sender<Command>,
    pub events: mpsc::Receiver<Event>,
}

impl Net {
    /// Queues a command without waiting. The node never waits on the network (which may be
    /// waiting on the node to take an event); a full queue drops the command, which the
    /// sessions' timeouts and catch-up recover from.
    pub fn send(&self, command: Command) {
        if let Err(e) = self.commands.try_send(command) {
            tracing::warn!("network command dropped: {e}");
        }
    }
}

/// The site key's fingerprint, as logged and shown.
pub fn fingerprint(site_key: &[u8; 32]) -> String {
    PreSharedKey::new(*site_key).fingerprint().to_string()
}

/// Builds the swarm, starts listening and spawns the network task on the current runtime.
pub fn start(config: NetConfig) -> Result<Net, NetError> {
    let psk = PreSharedKey::new(config.site_key);
    let fingerprint = psk.fingerprint().to_string();
    let peer_id = config.keypair.public().to_peer_id();
    let mut swarm = behaviour::build(&config, psk)?;
    for address in &config.listen {
        swarm
            .listen_on(address.clone())
            .map_err(|e| NetError::Listen {
                address: address.clone(),
                reason: e.to_string(),
            })?;
    }
    let mut dialer = Dialer::new(peer_id);
    for address in &config.static_peers {
        dialer.add_static(address.clone());
    }
    for (peer, addresses) in &config.remembered {
        for address in addresses {
            dialer.add_known(*peer, address.clone());
        }
    }
    let (command_tx, command_rx) = mpsc::channel(COMMAND_QUEUE_LEN);
    let (event_tx, event_rx) = mpsc::channel(EVENT_QUEUE_LEN);
    let mut task = Task {
        swarm,
        dialer,
        events: event_tx,
        trust: TrustList::default(),
        peers: HashMap::new(),
        sync_channels: HashMap::new(),
        join_channels: HashMap::new(),
        joins_sent: HashMap::new(),
        next_response_id: 0,
        fingerprint: fingerprint.clone(),
        last_heads: Vec::new(),
    };
    task.apply_trust(config.trust);
    tokio::spawn(task.run(command_rx));
    Ok(Net {
        peer_id,
        fingerprint,
        commands: command_tx,
        events: event_rx,
    })
}

/// A peer with at least one open connection.
struct Connected {
    address: Multiaddr,
    since: Instant,
    /// Whether the node was told of it as a member (`Event::Connected`): it has a connection
    /// with every protocol.
    admitted: bool,
    /// Connections opened while it was not a member (they carry only the join protocol), with
    /// whether we dialed them.
    gated: Vec<(ConnectionId, bool)>,
    /// When to close the gated connections of a peer that has since become a member.
    close_gated_at: Option<Instant>,
    /// Its gated connections were closed because it became a member: redial it at once.
    reconnect: bool,
    bucket: Bucket,
    join_requests: u32,
    /// Refusals are logged once per connection, so a flood does not flood the log.
    refusal_logged: bool,
    /// Whether dropping its requests over the allowance was logged on this connection.
    rate_logged: bool,
}

struct Task {
    swarm: Swarm<Behaviour>,
    dialer: Dialer,
    events: mpsc::Sender<Event>,
    trust: TrustList,
    peers: HashMap<PeerId, Connected>,
    sync_channels: HashMap<u64, ResponseChannel<SyncResponse>>,
    join_channels: HashMap<u64, ResponseChannel<JoinResponse>>,
    joins_sent: HashMap<OutboundRequestId, PeerId>,
    next_response_id: u64,
    fingerprint: String,
    /// The heads the node last announced, sent again with the members' addresses whenever
    /// those are worth telling (a member connected, a new address was learned).
    last_heads: Vec<serde_bytes::ByteBuf>,
}

/// How often the redial loop looks for peers to dial (and strangers to let go).
const REDIAL_TICK_MS: u64 = 500;

impl Task {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut redial = tokio::time::interval(Duration::from_millis(REDIAL_TICK_MS));
        redial.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            let alive = tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.command(command).await,
                    // The node dropped its handle: it is shutting down.
                    None => false,
                },
                event = self.swarm.select_next_some() => self.swarm_event(event).await,
                _ = redial.tick() => {
                    self.dialer.dial_due(&mut self.swarm);
                    self.close_due();
                    true
                }
            };
            if !alive {
                break;
            }
        }
    }

    /// Passes an event to the node, waiting while its queue is full; false when the node has
    /// gone. (The future holds its own sender, not `&self`: the swarm is not `Sync`.)
    fn emit(&self, event: Event) -> impl std::future::Future<Output = bool> + Send + 'static {
        let events = self.events.clone();
        async move { events.send(event).await.is_ok() }
    }

    /// Sends our last heads and the members' addresses we know to `peers`.
    fn announce_to(&mut self, peers: &[PeerId]) {
        let sent_at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_millis()).ok());
        let announcement = Announcement {
            heads: self.last_heads.clone(),
            members: self.member_addresses(),
            sent_at_ms,
            revoked: self
                .trust
                .revoked
                .iter()
                .take(MAX_SHARED_REVOKED)
                .map(|peer| serde_bytes::ByteBuf::from(peer.to_bytes()))
                .collect(),
        };
        for peer in peers {
            self.swarm
                .behaviour_mut()
                .announce
                .inner()
                .send_request(peer, announcement.clone());
        }
    }

    /// Where we reach the members we know addresses of, connected ones first (their addresses
    /// are proven to work), bounded for the wire.
    fn member_addresses(&self) -> Vec<MemberAddresses> {
        let mut members: Vec<(bool, PeerId)> = self
            .trust
            .members
            .iter()
            .filter(|p| self.trust.is_member(p) && !self.dialer.addresses_of(p).is_empty())
            .map(|p| (!self.is_admitted(p), *p))
            .collect();
        members.sort();
        members
            .into_iter()
            .take(MAX_SHARED_MEMBERS)
            .map(|(_, peer)| {
                let addresses = self.dialer.addresses_of(&peer);
                let newest = addresses
                    .len()
                    .saturating_sub(MAX_SHARED_ADDRESSES_PER_MEMBER);
                MemberAddresses {
                    peer: serde_bytes::ByteBuf::from(peer.to_bytes()),
                    addresses: addresses[newest..]
                        .iter()
                        .map(|a| serde_bytes::ByteBuf::from(a.to_vec()))
                        .collect(),
                }
            })
            .collect()
    }

    /// Takes in the members' addresses a member told us of: each parsed, ours and revoked
    /// machines' skipped, and remembered (by the node too, for members), so that members can
    /// be dialed directly.
    async fn learn_members(&mut self, from: PeerId, members: &[MemberAddresses]) -> bool {
        let me = *self.swarm.local_peer_id();
        for member in members {
            let Ok(peer) = PeerId::from_bytes(&member.peer) else {
                tracing::debug!("{from} told of a member with a malformed peer id");
                continue;
            };
            if peer == me || self.trust.revoked.contains(&peer) {
                continue;
            }
            for bytes in &member.addresses {
                let Ok(address) = Multiaddr::try_from(bytes.to_vec()) else {
                    continue;
                };
                // Kept even when the membership list that names the peer has not reached us
                // yet: the dialer dials only members, so it waits there until then.
                if self.dialer.add_known(peer, address.clone()) {
                    tracing::debug!("{from} told us {peer} is at {address}");
                    if self.trust.is_member(&peer)
                        && !self.emit(Event::Learned { peer, address }).await
                    {
                        return false;
                    }
                }
            }
        }
        self.dialer.dial_due(&mut self.swarm);
        true
    }

    fn is_admitted(&self, peer: &PeerId) -> bool {
        self.peers.get(peer).is_some_and(|p| p.admitted)
    }

    fn next_id(&mut self) -> u64 {
        self.next_response_id += 1;
        self.next_response_id
    }

    async fn command(&mut self, command: Command) -> bool {
        match command {
            Command::Request { peer, request } => {
                if !self.is_admitted(&peer) {
                    // The peer left or stopped being a member since the engine decided.
                    return self
                        .emit(Event::RequestFailed {
                            peer,
                            reason: "not connected to it as a member".into(),
                        })
                        .await;
                }
                self.swarm
                    .behaviour_mut()
                    .sync
                    .inner()
                    .send_request(&peer, request);
            }
            Command::Respond { id, response } => {
                if let Some(channel) = self.sync_channels.remove(&id) {
                    // Fails only when the peer has gone, which its side reports.
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .sync
                        .inner()
                        .send_response(channel, response);
                }
            }
            Command::Announce(announcement) => {
                self.last_heads = announcement.heads;
                let members: Vec<PeerId> = self
                    .peers
                    .iter()
                    .filter(|(_, p)| p.admitted)
                    .map(|(id, _)| *id)
                    .collect();
                self.announce_to(&members);
            }
            Command::Join { peer, request } => {
                let id = self.swarm.behaviour_mut().join.send_request(&peer, request);
                self.joins_sent.insert(id, peer);
            }
            Command::JoinRespond { id, response } => {
                if let Some(channel) = self.join_channels.remove(&id) {
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .join
                        .send_response(channel, response);
                }
            }
            Command::Trust(list) => return self.trust_changed(list).await,
        }
        true
    }

    /// Blocks revoked members and unblocks reinstated ones; tells the dialer whom to dial.
    fn apply_trust(&mut self, list: TrustList) {
        let blocked = &mut self.swarm.behaviour_mut().blocked;
        for peer in list.revoked.difference(&self.trust.revoked) {
            tracing::info!("peer {peer} is revoked: its connections are closed and refused");
            blocked.block_peer(*peer);
        }
        for peer in self.trust.revoked.difference(&list.revoked) {
            blocked.unblock_peer(*peer);
        }
        let mut dial: HashSet<PeerId> = list
            .members
            .iter()
            .filter(|p| !list.revoked.contains(p))
            .copied()
            .collect();
        self.swarm.behaviour_mut().set_members(&dial);
        dial.extend(list.joining);
        self.dialer.set_dialable(dial);
        self.trust = list;
    }

    /// Applies a new trust list. A connected peer that is no longer a member is dropped; one
    /// that became a member is reconnected (its connection carries only the join protocol):
    /// at once when we dialed it (the dialer redials), after [`LATE_MEMBER_GRACE_MS`] when
    /// it dialed us.
    async fn trust_changed(&mut self, list: TrustList) -> bool {
        self.apply_trust(list);
        let now = Instant::now();
        let peers: Vec<PeerId> = self.peers.keys().copied().collect();
        for peer in peers {
            let member = self.trust.is_member(&peer);
            let Some(p) = self.peers.get_mut(&peer) else {
                continue;
            };
            if member && !p.admitted && p.close_gated_at.is_none() {
                let we_dialed = p.gated.iter().any(|(_, dialer)| *dialer);
                let grace_ms = if we_dialed { 0 } else { LATE_MEMBER_GRACE_MS };
                tracing::info!("peer {peer} is now a member; reconnecting to it");
                p.close_gated_at = Some(now + Duration::from_millis(grace_ms));
            } else if !member && p.admitted {
                p.admitted = false;
                let _ = self.swarm.disconnect_peer_id(peer);
                if !self.emit(Event::Disconnected { peer }).await {
                    return false;
                }
            }
        }
        self.close_due();
        true
    }

    /// Closes gated connections that are due: strangers' after [`PENDING_CONNECTION_MAX_SECS`],
    /// new members' after their grace.
    fn close_due(&mut self) {
        let now = Instant::now();
        let limit = Duration::from_secs(PENDING_CONNECTION_MAX_SECS);
        let mut due = Vec::new();
        for (peer, p) in &mut self.peers {
            let member_due = p.close_gated_at.is_some_and(|at| at <= now);
            let stranger_due = !p.admitted && p.since.elapsed() >= limit;
            if member_due || stranger_due {
                if stranger_due && !member_due {
                    tracing::info!("closing the connection of {peer}: not a member of this site");
                }
                p.reconnect = member_due;
                p.close_gated_at = None;
                due.extend(p.gated.iter().map(|(c, _)| *c));
            }
        }
        for connection in due {
            self.swarm.close_connection(connection);
        }
    }

    /// Logs (once per connection) that a peer that is not a member asked for something only
    /// members get.
    fn refuse(&mut self, peer: &PeerId, what: &str) {
        if let Some(p) = self.peers.get_mut(peer) {
            if !p.refusal_logged {
                p.refusal_logged = true;
                tracing::warn!(
                    "refused {what} from {peer}: it is not a member of this site (further refusals on this connection are not logged; to let it in run 'shiftmesh peers trust {peer}')"
                );
            }
        }
    }

    /// Whether the peer is within its request allowance; logs when it is not.
    fn within_rate(&mut self, peer: &PeerId) -> bool {
        let Some(p) = self.peers.get_mut(peer) else {
            return false;
        };
        if p.bucket.take(Instant::now()) {
            return true;
        }
        if !p.rate_logged {
            p.rate_logged = true;
            tracing::warn!(
                "dropping requests from {peer}: more than {REQUESTS_PER_PEER_PER_SEC} a second (further drops on this connection are not logged; its sessions are retried)"
            );
        }
        false
    }

    async fn swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) -> bool {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!("listening on {address}");
                return self.emit(Event::Listening { address }).await;
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint,
                connection_id,
                ..
            } => {
                self.dialer.connected(peer_id, connection_id, &endpoint);
                return self.connected(peer_id, connection_id, &endpoint).await;
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                cause,
                connection_id,
                ..
            } => {
                if let Some(p) = self.peers.get_mut(&peer_id) {
                    p.gated.retain(|(c, _)| *c != connection_id);
                }
                if num_established > 0 {
                    return true;
                }
                let refusing = self.dialer.disconnected(peer_id);
                if refusing && !self.emit(Event::Refusing { peer: peer_id }).await {
                    return false;
                }
                let why = cause.map_or("closed".to_owned(), |c| c.to_string());
                let was = self.peers.remove(&peer_id);
                if was.as_ref().is_some_and(|p| p.reconnect) {
                    // A new member: its next connection carries every protocol.
                    self.dialer.dial_due(&mut self.swarm);
                }
                if was.as_ref().is_some_and(|p| p.admitted) {
                    tracing::info!("peer disconnected: {peer_id} ({why})");
                    return self.emit(Event::Disconnected { peer: peer_id }).await;
                }
                tracing::debug!("a peer that is not a member disconnected: {peer_id} ({why})");
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id,
                error,
                connection_id,
            } => {
                self.dialer.failed(peer_id, connection_id);
                let target = peer_id.map_or("an address".to_owned(), |p| p.to_string());
                self.connection_failed(&format!("dialing {target}"), &error.to_string());
            }
            SwarmEvent::IncomingConnectionError {
                send_back_addr,
                error,
                ..
            } => {
                self.connection_failed(
                    &format!("a connection from {send_back_addr}"),
                    &error.to_string(),
                );
            }
            SwarmEvent::Behaviour(event) => return self.behaviour_event(event).await,
            _ => {}
        }
        true
    }

    /// A new connection. A member's carries every protocol and admits it (the node hears of
    /// it once); anyone else's carries only the join protocol.
    async fn connected(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        endpoint: &ConnectedPoint,
    ) -> bool {
        let address = endpoint.get_remote_address().clone();
        let member = self.trust.is_member(&peer);
        if !member && !self.peers.contains_key(&peer) {
            let strangers = self.peers.values().filter(|p| !p.admitted).count();
            if strangers >= MAX_PENDING_CONNECTIONS {
                tracing::warn!(
                    "closing the connection of {peer} at {address}: not a member, and {strangers} peers that are not members are connected already"
                );
                self.swarm.close_connection(connection);
                return true;
            }
        }
        let p = self.peers.entry(peer).or_insert_with(|| Connected {
            address: address.clone(),
            since: Instant::now(),
            admitted: false,
            gated: Vec::new(),
            close_gated_at: None,
            reconnect: false,
            bucket: Bucket::new(Instant::now()),
            join_requests: 0,
            refusal_logged: false,
            rate_logged: false,
        });
        if !member {
            p.gated.push((connection, endpoint.is_dialer()));
            if p.gated.len() > 1 {
                return true;
            }
            tracing::info!(
                "peer {peer} at {address} has the site key but is not a member of this site; it may only ask to join ('shiftmesh peers' lists it as pending)"
            );
            return self.emit(Event::Pending { peer, address }).await;
        }
        if p.admitted {
            return true;
        }
        p.admitted = true;
        p.address = address.clone();
        // Connections from before it was a member are of no more use.
        if !p.gated.is_empty() {
            p.close_gated_at = Some(Instant::now());
            self.close_due();
        }
        tracing::info!("peer connected: {peer} at {address}");
        let event = Event::Connected {
            peer,
            address,
            dialer: endpoint.is_dialer(),
        };
        if !self.emit(event).await {
            return false;
        }
        if let ConnectedPoint::Dialer { address, .. } = endpoint {
            let address = address.clone();
            return self.emit(Event::Learned { peer, address }).await;
        }
        true
    }

    /// Logs a failed connection, saying when the cause may be a different site key: pnet has
    /// no way to say so itself, so a wrong key shows only as a failed handshake or a timeout.
    /// Nobody answering at the address (its node stopped, its machine off) is no sign of a
    /// key: the dialer tries again with back-off, and `peers` shows the peer as offline, so
    /// that is logged only at debug level.
    fn connection_failed(&self, what: &str, error: &str) {
        let error = error.replace('\n', " ");
        let unreachable = ["Connection refused", "unreachable", "No route to host"]
            .iter()
            .any(|s| error.contains(s));
        let handshake = ["andshake", "imeout", "end of file", "reset", "negotiat"]
            .iter()
            .any(|s| error.contains(s));
        if unreachable {
            tracing::debug!("nothing answers when {what} (its node may be stopped): {error}");
        } else if handshake {
            tracing::warn!(
                "handshake failed with {what}: {error}; the site key may differ (ours has fingerprint {}; compare with 'shiftmesh status' on the other machine)",
                self.fingerprint
            );
        } else {
            tracing::info!("connection failed with {what}: {error}");
        }
    }

    async fn behaviour_event(&mut self, event: BehaviourEvent) -> bool {
        match event {
            BehaviourEvent::Sync(event) => return self.sync_event(event).await,
            BehaviourEvent::Announce(event) => return self.announce_event(event).await,
            BehaviourEvent::Join(event) => return self.join_event(event).await,
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                for (peer, address) in found {
                    tracing::debug!("mDNS found {peer} at {address}");
                    self.dialer.add_known(peer, address);
                }
                self.dialer.dial_due(&mut self.swarm);
            }
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                // What a peer says about its addresses is remembered only for members.
                if !self.is_admitted(&peer_id) {
                    return true;
                }
                let mut new = false;
                for address in info.listen_addrs {
                    if dialer::is_dialable(&address) {
                        new |= self.dialer.add_known(peer_id, address.clone());
                        let event = Event::Learned {
                            peer: peer_id,
                            address,
                        };
                        if !self.emit(event).await {
                            return false;
                        }
                    }
                }
                // Every other member learns where this one is, and this one where they are.
                let members: Vec<PeerId> = self
                    .peers
                    .iter()
                    .filter(|(id, p)| p.admitted && (new || **id == peer_id))
                    .map(|(id, _)| *id)
                    .collect();
                self.announce_to(&members);
            }
            _ => {}
        }
        true
    }

    async fn sync_event(
        &mut self,
        event: request_response::Event<SyncRequest, SyncResponse>,
    ) -> bool {
        use request_response::{Event as E, Message as M};
        let event = match event {
            E::Message {
                peer,
                message: M::Request {
                    request, channel, ..
                },
                ..
            } => {
                if !self.is_admitted(&peer) {
                    self.refuse(&peer, "a sync request");
                    return true;
                }
                if !self.within_rate(&peer) {
                    return true;
                }
                if self.sync_channels.len() >= MAX_PENDING_RESPONSES {
                    tracing::warn!("dropped a sync request from {peer}: too many waiting");
                    return true;
                }
                let id = self.next_id();
                self.sync_channels.insert(id, channel);
                Event::Request { peer, id, request }
            }
            E::Message {
                peer,
                message: M::Response { response, .. },
                ..
            } => {
                if !self.is_admitted(&peer) {
                    return true;
                }
                Event::Response { peer, response }
            }
            E::OutboundFailure { peer, error, .. } => Event::RequestFailed {
                peer,
                reason: error.to_string(),
            },
            E::InboundFailure { peer, error, .. } => {
                tracing::info!("a sync request from {peer} failed: {error}");
                return true;
            }
            E::ResponseSent { .. } => return true,
        };
        self.emit(event).await
    }

    async fn announce_event(
        &mut self,
        event: request_response::Event<Announcement, AnnouncementAck>,
    ) -> bool {
        use request_response::{Event as E, Message as M};
        let E::Message {
            peer,
            message: M::Request {
                request, channel, ..
            },
            ..
        } = event
        else {
            // Answers to our announcements carry nothing; a failed one is made good by the
            // next session.
            return true;
        };
        if !self.is_admitted(&peer) {
            self.refuse(&peer, "an announcement");
            return true;
        }
        if !self.within_rate(&peer) {
            return true;
        }
        let _ = self
            .swarm
            .behaviour_mut()
            .announce
            .inner()
            .send_response(channel, AnnouncementAck::default());
        if let Err(e) = request.heads().and_then(|_| request.members().map(|_| ())) {
            tracing::info!("ignored a malformed announcement from {peer}: {e}");
            return true;
        }
        if !self.learn_members(peer, &request.members).await {
            return false;
        }
        self.emit(Event::Announcement {
            peer,
            announcement: request,
        })
        .await
    }

    async fn join_event(
        &mut self,
        event: request_response::Event<JoinRequest, JoinResponse>,
    ) -> bool {
        use request_response::{Event as E, Message as M};
        match event {
            E::Message {
                peer,
                message: M::Request {
                    request, channel, ..
                },
                ..
            } => {
                let Some(p) = self.peers.get_mut(&peer) else {
                    return true;
                };
                p.join_requests += 1;
                if p.join_requests > MAX_JOIN_REQUESTS_PER_CONNECTION
                    || !p.bucket.take(Instant::now())
                {
                    tracing::warn!(
                        "dropped a join request from {peer}: too many on one connection"
                    );
                    return true;
                }
                if let Err(e) = request.check() {
                    tracing::warn!("refused a join request from {peer}: {e}");
                    let refused = JoinResponse::Refused {
                        reason: e.to_string(),
                    };
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .join
                        .send_response(channel, refused);
                    return true;
                }
                if self.join_channels.len() >= MAX_PENDING_RESPONSES {
                    return true;
                }
                let id = self.next_id();
                self.join_channels.insert(id, channel);
                self.emit(Event::JoinRequest { peer, id, request }).await
            }
            E::Message {
                peer,
                message:
                    M::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if self.joins_sent.remove(&request_id).is_none() {
                    return true;
                }
                self.emit(Event::JoinAnswered {
                    peer,
                    answer: Ok(response),
                })
                .await
            }
            E::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                self.joins_sent.remove(&request_id);
                self.emit(Event::JoinAnswered {
                    peer,
                    answer: Err(error.to_string()),
                })
                .await
            }
            E::InboundFailure { .. } | E::ResponseSent { .. } => true,
        }
    }
}
