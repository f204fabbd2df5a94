//! The only part of shiftmesh that touches libp2p.
//!
//! One task owns the [`Swarm`]: TCP, wrapped in the site's pre-shared key (pnet) before
//! anything else is said, then noise and yamux; no QUIC, which cannot carry pnet. Gossipsub
//! carries only signed heads announcements; request-response (CBOR) carries the sync
//! messages. The node talks to the task through bounded channels: [`Command`]s in,
//! [`Event`]s out. Peers are found by mDNS, by `--peer` addresses and by addresses
//! remembered from earlier runs, and the task redials every known peer with backoff, since
//! libp2p never reconnects on its own.

mod behaviour;
mod dialer;

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use libp2p::core::ConnectedPoint;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance};
use libp2p::pnet::PreSharedKey;
use libp2p::request_response::{self, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::{identify, mdns, Swarm};
use shiftmesh_sync::{Announcement, SyncRequest, SyncResponse};
use tokio::sync::mpsc;

pub use libp2p::identity::Keypair;
pub use libp2p::multiaddr::Error as AddressError;
pub use libp2p::{Multiaddr, PeerId};

use crate::behaviour::{Behaviour, BehaviourEvent};
use crate::dialer::Dialer;

/// The gossip topic for heads announcements; the version is part of the name so an
/// incompatible change uses a new topic.
pub const HEADS_TOPIC: &str = "shiftmesh/heads/1";
/// The largest announcement accepted or forwarded.
pub const MAX_ANNOUNCEMENT_BYTES: usize = 4 * 1024;
/// Commands the node may queue before `send` reports the network task as busy.
pub const COMMAND_QUEUE_LEN: usize = 1024;
/// Events the network task may queue before it waits for the node.
pub const EVENT_QUEUE_LEN: usize = 1024;
/// Requests from peers waiting for the node's answer; beyond this a request is dropped
/// (its sender times out and retries in a later session).
pub const MAX_PENDING_RESPONSES: usize = 1024;

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
}

/// What the node asks of the network.
#[derive(Debug)]
pub enum Command {
    Request { peer: PeerId, request: SyncRequest },
    Respond { id: u64, response: SyncResponse },
    Announce(Announcement),
}

/// What the network reports to the node.
#[derive(Debug)]
pub enum Event {
    Listening {
        address: Multiaddr,
    },
    Connected {
        peer: PeerId,
        address: Multiaddr,
        /// Whether we dialed (the dialer starts the first sync session).
        dialer: bool,
    },
    Disconnected {
        peer: PeerId,
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
    /// An address the peer can be reached at, worth remembering for the next run.
    Learned {
        peer: PeerId,
        address: Multiaddr,
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
    swarm
        .behaviour_mut()
        .gossipsub
        .subscribe(&IdentTopic::new(HEADS_TOPIC))
        .map_err(|e| NetError::Build(format!("gossip subscription: {e}")))?;
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
    let task = Task {
        swarm,
        dialer,
        events: event_tx,
        pending_responses: HashMap::new(),
        next_response_id: 0,
        fingerprint: fingerprint.clone(),
        topic: IdentTopic::new(HEADS_TOPIC),
    };
    tokio::spawn(task.run(command_rx));
    Ok(Net {
        peer_id,
        fingerprint,
        commands: command_tx,
        events: event_rx,
    })
}

struct Task {
    swarm: Swarm<Behaviour>,
    dialer: Dialer,
    events: mpsc::Sender<Event>,
    pending_responses: HashMap<u64, ResponseChannel<SyncResponse>>,
    next_response_id: u64,
    fingerprint: String,
    topic: IdentTopic,
}

/// How often the redial loop looks for peers to dial.
const REDIAL_TICK_MS: u64 = 500;

impl Task {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut redial = tokio::time::interval(Duration::from_millis(REDIAL_TICK_MS));
        redial.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.command(command),
                    // The node dropped its handle: it is shutting down.
                    None => break,
                },
                event = self.swarm.select_next_some() => {
                    if !self.swarm_event(event).await {
                        break;
                    }
                }
                _ = redial.tick() => self.dialer.dial_due(&mut self.swarm),
            }
        }
    }

    /// Passes an event to the node, waiting while its queue is full; false when the node has
    /// gone. (The future holds its own sender, not `&self`: the swarm is not `Sync`.)
    fn emit(&self, event: Event) -> impl std::future::Future<Output = bool> + Send + 'static {
        let events = self.events.clone();
        async move { events.send(event).await.is_ok() }
    }

    fn command(&mut self, command: Command) {
        let behaviour = self.swarm.behaviour_mut();
        match command {
            Command::Request { peer, request } => {
                behaviour.sync.send_request(&peer, request);
            }
            Command::Respond { id, response } => {
                if let Some(channel) = self.pending_responses.remove(&id) {
                    // Fails only when the peer has gone, which its side reports.
                    let _ = behaviour.sync.send_response(channel, response);
                }
            }
            Command::Announce(announcement) => {
                let mut bytes = Vec::new();
                ciborium::into_writer(&announcement, &mut bytes)
                    .expect("an announcement serialises");
                match behaviour.gossipsub.publish(self.topic.clone(), bytes) {
                    Ok(_) => {}
                    // No subscribed peer yet (or the same heads again): sessions on connect
                    // and the catch-up cover it.
                    Err(e) => tracing::debug!("announcement not published: {e}"),
                }
            }
        }
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
                num_established,
                connection_id,
                ..
            } => {
                let address = endpoint.get_remote_address().clone();
                self.dialer.connected(peer_id, connection_id, &endpoint);
                if num_established.get() == 1 {
                    tracing::info!("peer connected: {peer_id} at {address}");
                    if !self
                        .emit(Event::Connected {
                            peer: peer_id,
                            address: address.clone(),
                            dialer: endpoint.is_dialer(),
                        })
                        .await
                    {
                        return false;
                    }
                }
                if let ConnectedPoint::Dialer { address, .. } = endpoint {
                    return self
                        .emit(Event::Learned {
                            peer: peer_id,
                            address,
                        })
                        .await;
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                cause,
                ..
            } => {
                self.dialer.disconnected(peer_id);
                let why = cause.map_or("closed".to_owned(), |c| c.to_string());
                tracing::info!("peer disconnected: {peer_id} ({why})");
                return self.emit(Event::Disconnected { peer: peer_id }).await;
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

    /// Logs a failed connection, saying when the cause may be a different site key: pnet has
    /// no way to say so itself, so a wrong key shows only as a failed handshake or a timeout.
    fn connection_failed(&self, what: &str, error: &str) {
        let error = error.replace('\n', " ");
        let handshake = ["andshake", "imeout", "end of file", "reset", "negotiat"]
            .iter()
            .any(|s| error.contains(s));
        if handshake {
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
            BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                let decoded = (message.data.len() <= MAX_ANNOUNCEMENT_BYTES)
                    .then(|| ciborium::from_reader::<Announcement, _>(message.data.as_slice()).ok())
                    .flatten()
                    .filter(|a| a.heads().is_ok());
                let acceptance = if decoded.is_some() {
                    MessageAcceptance::Accept
                } else {
                    tracing::info!(
                        "rejected a malformed announcement from {propagation_source} ({} bytes)",
                        message.data.len()
                    );
                    MessageAcceptance::Reject
                };
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&message_id, &propagation_source, acceptance);
                if let Some(announcement) = decoded {
                    // Pull from the node that made the heads when we are connected to it,
                    // else from whoever passed the announcement on.
                    let source = message
                        .source
                        .filter(|s| self.swarm.is_connected(s))
                        .unwrap_or(propagation_source);
                    return self
                        .emit(Event::Announcement {
                            peer: source,
                            announcement,
                        })
                        .await;
                }
            }
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                for (peer, address) in found {
                    tracing::debug!("mDNS found {peer} at {address}");
                    self.dialer.add_known(peer, address);
                }
                self.dialer.dial_due(&mut self.swarm);
            }
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                for address in info.listen_addrs {
                    if dialer::is_dialable(&address) {
                        self.dialer.add_known(peer_id, address.clone());
                        if !self
                            .emit(Event::Learned {
                                peer: peer_id,
                                address,
                            })
                            .await
                        {
                            return false;
                        }
                    }
                }
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
                if self.pending_responses.len() >= MAX_PENDING_RESPONSES {
                    tracing::warn!("dropped a sync request from {peer}: too many waiting");
                    return true;
                }
                let id = self.next_response_id;
                self.next_response_id += 1;
                self.pending_responses.insert(id, channel);
                Event::Request { peer, id, request }
            }
            E::Message {
                peer,
                message: M::Response { response, .. },
                ..
            } => Event::Response { peer, response },
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
}
