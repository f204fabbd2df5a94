//! The running shiftmesh node: one task owns the schedule and its store; the network task
//! ([`shiftmesh_net`]) and the local control channel talk to it through bounded channels.
//! Every change, local or from a peer, is made durable, validated incrementally and reported
//! on the event stream; sync sessions are run by the sans-IO [`shiftmesh_sync`] engine.

pub mod control;
mod events;
mod hold;
pub mod membership;
mod memory;
mod node;
mod ui;

use std::path::PathBuf;

pub use node::{
    default_ui_address, run, ControlMessage, NodeOptions, CONTROL_QUEUE_LEN, DEFAULT_LISTEN,
    DEFAULT_UI_PORT,
};
pub use shiftmesh_app::{PeerStatus, Session, Status};

/// The site key's fingerprint, as the network shows it (for a front end with no node).
pub fn fingerprint(site_key: &[u8; 32]) -> String {
    shiftmesh_net::fingerprint(site_key)
}

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    App(#[from] shiftmesh_app::AppError),
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
    #[error("{0}")]
    UiRefused(String),
    #[error("cannot listen for the page on {0}: {1}")]
    Ui(std::net::SocketAddr, std::io::Error),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
}
