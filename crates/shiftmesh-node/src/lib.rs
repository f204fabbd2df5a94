//! The running shiftmesh node: one task owns the schedule and its store; the network task
//! ([`shiftmesh_net`]) and the local control channel talk to it through bounded channels.
//! Every change, local or from a peer, is made durable, validated incrementally and reported
//! on the event stream; sync sessions are run by the sans-IO [`shiftmesh_sync`] engine.

pub mod control;
mod events;
pub mod membership;
mod node;
pub mod session;

use std::path::PathBuf;

pub use node::{
    run, Executor, NodeOptions, PeerStatus, Status, CONTROL_QUEUE_LEN, DEFAULT_LISTEN,
    EVENT_BUFFER_LEN,
};
pub use session::Session;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Store(#[from] shiftmesh_store::StoreError),
    #[error("the store in {dir} does not hold a schedule ({reason})")]
    NotASchedule { dir: PathBuf, reason: String },
    #[error(transparent)]
    Net(#[from] shiftmesh_net::NetError),
    #[error(
        "'{address}' is not a multiaddress ({reason}); write it like /ip4/192.168.1.20/tcp/4780"
    )]
    Address { address: String, reason: String },
    #[error("the control socket {path}: {source}")]
    Control {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
}
