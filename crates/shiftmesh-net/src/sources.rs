//! A bound on incoming connections still in their handshake per source address. libp2p's
//! connection limits count them only in total: one host without the site key, reconnecting in
//! a loop, once filled all 16 places and kept every new join and reconnect out for as long as
//! it ran. With [`MAX_PENDING_INCOMING_PER_SOURCE`] per IP address it holds a few of them, and
//! a short handshake deadline (`FIRST_BYTES_TIMEOUT_SECS` in `behaviour.rs`) frees them soon.

use std::collections::HashMap;
use std::net::IpAddr;
use std::task::{Context, Poll};

use libp2p::core::transport::PortUse;
use libp2p::core::Endpoint;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{
    dummy, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId};

/// Incoming connections from one IP address that may be in their handshake at once.
pub const MAX_PENDING_INCOMING_PER_SOURCE: usize = 4;

#[derive(Debug, thiserror::Error)]
#[error("{source_ip} already has {MAX_PENDING_INCOMING_PER_SOURCE} connections in their handshake")]
struct TooManyFromSource {
    source_ip: IpAddr,
}

#[derive(Default)]
pub struct PendingPerSource {
    /// The source of each pending incoming connection, and how many each source has.
    pending: HashMap<ConnectionId, IpAddr>,
    per_source: HashMap<IpAddr, usize>,
}

fn ip_of(address: &Multiaddr) -> Option<IpAddr> {
    address.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}

impl PendingPerSource {
    fn done(&mut self, connection: ConnectionId) {
        let Some(ip) = self.pending.remove(&connection) else {
            return;
        };
        if let Some(count) = self.per_source.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                self.per_source.remove(&ip);
            }
        }
    }
}

impl NetworkBehaviour for PendingPerSource {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = std::convert::Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        connection: ConnectionId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        let Some(ip) = ip_of(remote) else {
            return Ok(());
        };
        let count = self.per_source.entry(ip).or_default();
        if *count >= MAX_PENDING_INCOMING_PER_SOURCE {
            return Err(ConnectionDenied::new(TooManyFromSource { source_ip: ip }));
        }
        *count += 1;
        self.pending.insert(connection, ip);
        Ok(())
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection: ConnectionId,
        _peer: PeerId,
        _local: &Multiaddr,
        _remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.done(connection);
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _connection: ConnectionId,
        _peer: PeerId,
        _address: &Multiaddr,
        _role: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        // A handshake that failed or timed out, or a connection another behaviour denied.
        match event {
            FromSwarm::ListenFailure(failure) => self.done(failure.connection_id),
            FromSwarm::ConnectionEstablished(e) => self.done(e.connection_id),
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _peer: PeerId,
        _connection: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_gets_a_few_places_and_others_still_get_theirs() {
        let mut limit = PendingPerSource::default();
        let local: Multiaddr = "/ip4/127.0.0.1/tcp/4780".parse().unwrap();
        let noisy: Multiaddr = "/ip4/10.0.0.9/tcp/50000".parse().unwrap();
        let other: Multiaddr = "/ip4/10.0.0.7/tcp/50001".parse().unwrap();
        let ids: Vec<ConnectionId> = (0..=MAX_PENDING_INCOMING_PER_SOURCE)
            .map(|_| ConnectionId::new_unchecked(rand_id()))
            .collect();
        for id in &ids[..MAX_PENDING_INCOMING_PER_SOURCE] {
            assert!(limit
                .handle_pending_inbound_connection(*id, &local, &noisy)
                .is_ok());
        }
        let last = ids[MAX_PENDING_INCOMING_PER_SOURCE];
        assert!(limit
            .handle_pending_inbound_connection(last, &local, &noisy)
            .is_err());
        assert!(limit
            .handle_pending_inbound_connection(last, &local, &other)
            .is_ok());
        // One handshake ends: the noisy source may try once more.
        limit.done(ids[0]);
        let again = ConnectionId::new_unchecked(rand_id());
        assert!(limit
            .handle_pending_inbound_connection(again, &local, &noisy)
            .is_ok());
    }

    fn rand_id() -> usize {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(1_000_000);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }
}
