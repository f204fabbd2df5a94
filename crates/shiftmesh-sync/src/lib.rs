//! Sans-IO sync for shiftmesh: per-peer sessions over the Automerge sync protocol, heads
//! announcements, and the bounds that keep a peer from holding us up.
//!
//! Everything is driven through [`Engine::handle`]: the caller feeds in what happened (a peer
//! connected, a message arrived, the clock ticked) with the current time, and carries out the
//! [`Output`]s (send this, persist that). Nothing here touches a socket, a clock or a thread,
//! so tests run two or more replicas in one process and deliver the messages themselves.

mod engine;
mod wire;

pub use engine::{
    Engine, Input, Limits, Millis, Outcome, Output, PeerReport, Role, SavedStates, SessionError,
};
pub use wire::{
    Announcement, AnnouncementAck, JoinRequest, JoinResponse, MemberAddresses, SyncRequest,
    SyncResponse, WireError, WireSignature, MAX_ANNOUNCED_HEADS, MAX_JOIN_NAME_BYTES,
    MAX_JOIN_SECRET_BYTES, MAX_SHARED_ADDRESSES_PER_MEMBER, MAX_SHARED_MEMBERS, MAX_SHARED_REVOKED,
    MAX_SIGNATURES_PER_MESSAGE, MAX_SIGNATURE_MACHINE_BYTES,
};
