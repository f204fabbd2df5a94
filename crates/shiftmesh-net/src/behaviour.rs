//! The transport and the protocols, with every limit set explicitly rather than trusting
//! libp2p's defaults (several of which are wrong for us: a 10 s idle timeout, a 1 MiB request
//! limit, a 10 s request timeout).

use std::time::Duration;

use libp2p::connection_limits::{self, ConnectionLimits};
use libp2p::core::transport::Transport as _;
use libp2p::core::upgrade::Version;
use libp2p::gossipsub::{self, MessageAuthenticity, ValidationMode};
use libp2p::pnet::{PnetConfig, PreSharedKey};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{identify, mdns, noise, tcp, yamux, StreamProtocol, Swarm, SwarmBuilder};
use shiftmesh_sync::{SyncRequest, SyncResponse};

use crate::{NetConfig, NetError, MAX_ANNOUNCEMENT_BYTES};

/// The sync protocol's name; a new version gets a new name.
pub const SYNC_PROTOCOL: &str = "/shiftmesh/sync/1";
/// The identify protocol's version string.
pub const IDENTIFY_PROTOCOL: &str = "/shiftmesh/1";
/// The largest sync request or response on the wire: a little above the sync engine's own
/// message bound, so an oversized message reaches the engine and is refused there, by name.
pub const MAX_SYNC_WIRE_BYTES: u64 = 65 * 1024 * 1024;
/// A whole YEAR schedule on a slow machine takes seconds; the default 10 s is too tight.
pub const SYNC_REQUEST_TIMEOUT_SECS: u64 = 60;
/// Connections stay open this long with nothing on them. Sessions every 45 s keep live peers
/// busier than this; the redial loop covers the rest.
pub const IDLE_CONNECTION_TIMEOUT_SECS: u64 = 3600;
/// The transport upgrade (pnet, noise, yamux) must finish within this.
pub const UPGRADE_TIMEOUT_SECS: u64 = 20;
pub const MAX_CONNECTIONS: u32 = 64;
pub const MAX_CONNECTIONS_PER_PEER: u32 = 2;
pub const MAX_PENDING_INCOMING: u32 = 16;
/// Inbound sync streams per connection at once; a session uses one at a time.
pub const MAX_CONCURRENT_SYNC_STREAMS: usize = 8;

#[derive(NetworkBehaviour)]
pub struct Behaviour {
    pub limits: connection_limits::Behaviour,
    pub mdns: Toggle<mdns::tokio::Behaviour>,
    pub gossipsub: gossipsub::Behaviour,
    pub sync: request_response::cbor::Behaviour<SyncRequest, SyncResponse>,
    pub identify: identify::Behaviour,
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
                tcp.and_then(move |socket, _| PnetConfig::new(psk).handshake(socket))
                    .upgrade(Version::V1Lazy)
                    .authenticate(noise)
                    .multiplex(yamux::Config::default())
                    .timeout(Duration::from_secs(UPGRADE_TIMEOUT_SECS)),
            )
        })
        .map_err(|e| NetError::Build(e.to_string()))?
        .with_behaviour(|key| {
            let gossip_config = gossipsub::ConfigBuilder::default()
                .heartbeat_interval(Duration::from_secs(1))
                .validation_mode(ValidationMode::Strict)
                .validate_messages()
                .max_transmit_size(MAX_ANNOUNCEMENT_BYTES)
                // A site has a handful of machines: a small mesh holds all of them.
                .mesh_outbound_min(1)
                .mesh_n_low(1)
                .mesh_n(4)
                .mesh_n_high(8)
                .build()
                .map_err(|e| format!("gossipsub config: {e}"))?;
            let gossipsub =
                gossipsub::Behaviour::new(MessageAuthenticity::Signed(key.clone()), gossip_config)
                    .map_err(|e| format!("gossipsub: {e}"))?;
            let codec =
                request_response::cbor::codec::Codec::<SyncRequest, SyncResponse>::default()
                    .set_request_size_maximum(MAX_SYNC_WIRE_BYTES)
                    .set_response_size_maximum(MAX_SYNC_WIRE_BYTES);
            let sync = request_response::Behaviour::with_codec(
                codec,
                [(StreamProtocol::new(SYNC_PROTOCOL), ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(Duration::from_secs(SYNC_REQUEST_TIMEOUT_SECS))
                    .with_max_concurrent_streams(MAX_CONCURRENT_SYNC_STREAMS),
            );
            let mdns = if mdns_enabled {
                Some(mdns::tokio::Behaviour::new(
                    mdns::Config::default(),
                    key.public().to_peer_id(),
                )?)
            } else {
                None
            };
            Ok::<_, BoxError>(Behaviour {
                limits: connection_limits::Behaviour::new(
                    ConnectionLimits::default()
                        .with_max_established(Some(MAX_CONNECTIONS))
                        .with_max_established_per_peer(Some(MAX_CONNECTIONS_PER_PEER))
                        .with_max_pending_incoming(Some(MAX_PENDING_INCOMING)),
                ),
                mdns: Toggle::from(mdns),
                gossipsub,
                sync,
                identify: identify::Behaviour::new(identify::Config::new(
                    IDENTIFY_PROTOCOL.to_owned(),
                    key.public(),
                )),
            })
        })
        .map_err(|e| NetError::Build(e.to_string()))?
        .with_swarm_config(|c| {
            c.with_idle_connection_timeout(Duration::from_secs(IDLE_CONNECTION_TIMEOUT_SECS))
        })
        .build();
    Ok(swarm)
}
