//! The transport and the protocols, with every limit set explicitly rather than trusting
//! libp2p's defaults (several of which are wrong for us: a 10 s idle timeout, a 1 MiB request
//! limit, a 10 s request timeout).

use std::time::Duration;

use libp2p::allow_block_list::{self, BlockedPeers};
use libp2p::connection_limits::{self, ConnectionLimits};
use libp2p::core::transport::Transport as _;
use libp2p::core::upgrade::Version;
use libp2p::pnet::{PnetConfig, PnetError, PreSharedKey};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{identify, mdns, noise, tcp, yamux, StreamProtocol, Swarm, SwarmBuilder};
use serde::{de::DeserializeOwned, Serialize};
use shiftmesh_sync::{
    Announcement, AnnouncementAck, JoinRequest, JoinResponse, SyncRequest, SyncResponse,
};

use crate::gate::MembersOnly;
use crate::sources::PendingPerSource;
use crate::{NetConfig, NetError};

/// The protocols' names; a new version gets a new name.
pub const SYNC_PROTOCOL: &str = "/shiftmesh/sync/1";
pub const ANNOUNCE_PROTOCOL: &str = "/shiftmesh/announce/1";
pub const JOIN_PROTOCOL: &str = "/shiftmesh/join/1";
/// The largest announcement, announcement answer, join request or join answer on the wire (an
/// announcement of 64 heads and 16 members' addresses is about 5 KiB).
pub const MAX_SMALL_MESSAGE_BYTES: u64 = 8 * 1024;
/// Announcements and joins are answered at once; a peer that does not answer within this is
/// treated as gone for that message.
pub const SMALL_REQUEST_TIMEOUT_SECS: u64 = 10;
/// The identify protocol's version string.
pub const IDENTIFY_PROTOCOL: &str = "/shiftmesh/1";
/// The largest sync request or response on the wire: the sync engine's own message bound
/// (64 MiB) and the most signatures one message carries (at most 3 MiB), and a little more, so
/// an oversized message reaches the engine and is refused there, by name.
pub const MAX_SYNC_WIRE_BYTES: u64 = 68 * 1024 * 1024;
/// A whole YEAR schedule on a slow machine takes seconds; the default 10 s is too tight.
pub const SYNC_REQUEST_TIMEOUT_SECS: u64 = 60;
/// Connections stay open this long with nothing on them. Sessions every 45 s keep live peers
/// busier than this; the redial loop covers the rest.
pub const IDLE_CONNECTION_TIMEOUT_SECS: u64 = 3600;
/// The transport upgrade (pnet, noise, yamux) must finish within this.
pub const UPGRADE_TIMEOUT_SECS: u64 = 20;
/// The pnet handshake (each side's first 24 bytes) must finish within this.
pub const FIRST_BYTES_TIMEOUT_SECS: u64 = 5;
pub const MAX_CONNECTIONS: u32 = 64;
pub const MAX_CONNECTIONS_PER_PEER: u32 = 2;
pub const MAX_PENDING_INCOMING: u32 = 16;
/// Inbound streams per connection and protocol at once; a session uses one at a time.
pub const MAX_CONCURRENT_STREAMS: usize = 8;

/// Every protocol we speak. Announcements and joins are small request-response exchanges
/// between two authenticated peers (no gossip, so nothing is ever forwarded on anyone's behalf).
/// Sync, announcements and identify exist only on connections with members ([`MembersOnly`]);
/// anyone else with the site key can speak the join protocol and nothing more.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Revoked members: their connections are closed and refused.
    pub blocked: allow_block_list::Behaviour<BlockedPeers>,
    pub limits: connection_limits::Behaviour,
    pub per_source: PendingPerSource,
    pub mdns: Toggle<mdns::tokio::Behaviour>,
    pub sync: MembersOnly<request_response::cbor::Behaviour<SyncRequest, SyncResponse>>,
    pub announce: MembersOnly<request_response::cbor::Behaviour<Announcement, AnnouncementAck>>,
    pub join: request_response::cbor::Behaviour<JoinRequest, JoinResponse>,
    pub identify: MembersOnly<identify::Behaviour>,
}

impl Behaviour {
    /// Who gets the members-only protocols on connections established from now on.
    pub fn set_members(&mut self, members: &std::collections::HashSet<libp2p::PeerId>) {
        self.sync.set_members(members.clone());
        self.announce.set_members(members.clone());
        self.identify.set_members(members.clone());
    }
}

/// A request-response protocol with explicit size limits, timeout and stream bound.
fn protocol<Req, Resp>(
    name: &'static str,
    max_bytes: u64,
    timeout_secs: u64,
) -> request_response::cbor::Behaviour<Req, Resp>
where
    Req: Send + Clone + Serialize + DeserializeOwned + 'static,
    Resp: Send + Clone + Serialize + DeserializeOwned + 'static,
{
    let codec = request_response::cbor::codec::Codec::<Req, Resp>::default()
        .set_request_size_maximum(max_bytes)
        .set_response_size_maximum(max_bytes);
    request_response::Behaviour::with_codec(
        codec,
        [(StreamProtocol::new(name), ProtocolSupport::Full)],
        request_response::Config::default()
            .with_request_timeout(Duration::from_secs(timeout_secs))
            .with_max_concurrent_streams(MAX_CONCURRENT_STREAMS),
    )
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub fn build(config: &NetConfig, psk: PreSharedKey) -> Result<Swarm<Behaviour>, NetError> {
    let mdns_enabled = config.mdns;
    let swarm = SwarmBuilder::with_existing_identity(config.keypair.clone())
        .with_tokio()
        .with_other_transport(|key| {
            // pnet must wrap the raw socket, before protocol negotiation and noise, so the
            // stack is built by hand here rather than with `with_tcp`.
            let noise = noise::Config::new(key)?;
            let tcp = tcp::tokio::Transport::new(tcp::Config::default().nodelay(true));
            Ok::<_, BoxError>(
                // pnet starts by reading the other side's nonce: a host that connects and
                // says nothing is let go after a few seconds, not the whole upgrade timeout.
                tcp.and_then(move |socket, _| async move {
                    tokio::time::timeout(
                        Duration::from_secs(FIRST_BYTES_TIMEOUT_SECS),
                        PnetConfig::new(psk).handshake(socket),
                    )
                    .await
                    .map_err(|_| PnetError::HandshakeError(std::io::ErrorKind::TimedOut.into()))?
                })
                .upgrade(Version::V1Lazy)
                .authenticate(noise)
                .multiplex(yamux::Config::default())
                .timeout(Duration::from_secs(UPGRADE_TIMEOUT_SECS)),
            )
        })
        .map_err(|e| NetError::Build(e.to_string()))?
        .with_behaviour(|key| {
            let mdns = if mdns_enabled {
                Some(mdns::tokio::Behaviour::new(
                    mdns::Config::default(),
                    key.public().to_peer_id(),
                )?)
            } else {
                None
            };
            Ok::<_, BoxError>(Behaviour {
                blocked: allow_block_list::Behaviour::default(),
                limits: connection_limits::Behaviour::new(
                    ConnectionLimits::default()
                        .with_max_established(Some(MAX_CONNECTIONS))
                        .with_max_established_per_peer(Some(MAX_CONNECTIONS_PER_PEER))
                        .with_max_pending_incoming(Some(MAX_PENDING_INCOMING)),
                ),
                per_source: PendingPerSource::default(),
                mdns: Toggle::from(mdns),
                sync: MembersOnly::new(protocol(
                    SYNC_PROTOCOL,
                    MAX_SYNC_WIRE_BYTES,
                    SYNC_REQUEST_TIMEOUT_SECS,
                )),
                announce: MembersOnly::new(protocol(
                    ANNOUNCE_PROTOCOL,
                    MAX_SMALL_MESSAGE_BYTES,
                    SMALL_REQUEST_TIMEOUT_SECS,
                )),
                join: protocol(
                    JOIN_PROTOCOL,
                    MAX_SMALL_MESSAGE_BYTES,
                    SMALL_REQUEST_TIMEOUT_SECS,
                ),
                identify: MembersOnly::new(identify::Behaviour::new(identify::Config::new(
                    IDENTIFY_PROTOCOL.to_owned(),
                    key.public(),
                ))),
            })
        })
        .map_err(|e| NetError::Build(e.to_string()))?
        .with_swarm_config(|c| {
            c.with_idle_connection_timeout(Duration::from_secs(IDLE_CONNECTION_TIMEOUT_SECS))
        })
        .build();
    Ok(swarm)
}
