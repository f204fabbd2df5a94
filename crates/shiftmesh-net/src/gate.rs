//! The membership gate at the protocol level. [`MembersOnly`] wraps a behaviour so that it
//! exists only on connections with members: on a connection with anyone else it installs a
//! handler that speaks no protocol, so a stranger's sync stream or announcement is refused
//! during protocol negotiation, before a byte of it is read, and the wrapped behaviour never
//! hears of the connection at all. A peer that becomes a member while connected gets the
//! protocols on its next connection (see the task in `lib.rs`).

use std::collections::HashSet;
use std::task::{Context, Poll};

use libp2p::core::transport::PortUse;
use libp2p::core::Endpoint;
use libp2p::swarm::derive_prelude::Either;
use libp2p::swarm::{
    dummy, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId};

pub struct MembersOnly<B> {
    inner: B,
    members: HashSet<PeerId>,
    /// Connections on which the wrapped behaviour is absent.
    closed: HashSet<ConnectionId>,
}

impl<B> MembersOnly<B> {
    pub fn new(inner: B) -> MembersOnly<B> {
        MembersOnly {
            inner,
            members: HashSet::new(),
            closed: HashSet::new(),
        }
    }

    /// Sets who gets the protocols on connections established from now on.
    pub fn set_members(&mut self, members: HashSet<PeerId>) {
        self.members = members;
    }

    pub fn inner(&mut self) -> &mut B {
        &mut self.inner
    }
}

impl<B: NetworkBehaviour> MembersOnly<B> {
    fn handler(
        &mut self,
        connection: ConnectionId,
        peer: PeerId,
        open: impl FnOnce(&mut B) -> Result<THandler<B>, ConnectionDenied>,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        if self.members.contains(&peer) {
            Ok(Either::Left(open(&mut self.inner)?))
        } else {
            self.closed.insert(connection);
            Ok(Either::Right(dummy::ConnectionHandler))
        }
    }
}

impl<B: NetworkBehaviour> NetworkBehaviour for MembersOnly<B> {
    type ConnectionHandler = Either<THandler<B>, dummy::ConnectionHandler>;
    type ToSwarm = B::ToSwarm;

    fn handle_pending_inbound_connection(
        &mut self,
        connection: ConnectionId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.inner
            .handle_pending_inbound_connection(connection, local, remote)
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection: ConnectionId,
        peer: PeerId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.handler(connection, peer, |inner| {
            inner.handle_established_inbound_connection(connection, peer, local, remote)
        })
    }

    fn handle_pending_outbound_connection(
        &mut self,
        connection: ConnectionId,
        peer: Option<PeerId>,
        addresses: &[Multiaddr],
        role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.inner
            .handle_pending_outbound_connection(connection, peer, addresses, role)
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection: ConnectionId,
        peer: PeerId,
        address: &Multiaddr,
        role: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.handler(connection, peer, |inner| {
            inner.handle_established_outbound_connection(connection, peer, address, role, port_use)
        })
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        // The wrapped behaviour never learns of a connection it has no handler on.
        let hidden = match &event {
            FromSwarm::ConnectionEstablished(e) => self.closed.contains(&e.connection_id),
            FromSwarm::AddressChange(e) => self.closed.contains(&e.connection_id),
            FromSwarm::ConnectionClosed(e) => self.closed.remove(&e.connection_id),
            _ => false,
        };
        if !hidden {
            self.inner.on_swarm_event(event);
        }
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {
            Either::Left(event) => self
                .inner
                .on_connection_handler_event(peer, connection, event),
            Either::Right(never) => match never {},
        }
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        self.inner.poll(cx).map(|event| event.map_in(Either::Left))
    }
}
