use std::path::PathBuf;

use thiserror::Error;

/// What can go wrong with a data directory. Each message says what to do.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error(
        "{dir} is not a shiftmesh data directory; run 'shiftmesh init' (or 'shiftmesh node') first"
    )]
    NotInitialised { dir: PathBuf },
    #[error("another shiftmesh process is using the store in {dir} (a node is running there?); stop it, or run this command while it runs so it goes through the node")]
    Locked { dir: PathBuf },
    #[error("the store in {dir} is damaged ({reason}); {advice}")]
    Corrupt {
        dir: PathBuf,
        reason: String,
        advice: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the identity in {path} cannot be read ({reason}); move it aside and run 'shiftmesh init' to make a new one")]
    Identity { path: PathBuf, reason: String },
    #[error("the site key in {path} is not a 64-hex-digit swarm key; copy it again from a machine of the site, or join again with an invite ('shiftmesh init --join INVITE')")]
    SiteKey { path: PathBuf },
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
}
