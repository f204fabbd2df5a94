//! The only part of shiftmesh that touches sled: the schedule's change log and snapshots, the
//! node's identity, and the last good copy of the schedule kept beside the store.
//!
//! Data directory layout:
//!
//! ```text
//! DATA/                     0700
//!   identity.key            0600  the node's ed25519 keypair (libp2p protobuf encoding)
//!   node.json               0600  the node's name
//!   site.key                0600  the site's pre-shared key (go-ipfs swarm.key format)
//!   store/                        sled: trees "snapshot" (save()), "log" (save_after() chunks),
//!                                 "meta" (heads, a pending join), "peers" (addresses learned),
//!                                 "sync" (per-peer states), "invites" (digests of join secrets),
//!                                 "history", "history_entities", "history_bulk" (the history
//!                                 as recorded, see history.rs), "signatures" (change
//!                                 hash → its machine's signature, see signatures.rs)
//!   node.sock               0600  the running node's control channel (only while it runs)
//!   last-good.automerge     0600  a copy of the schedule outside sled (the last snapshot plus
//!                                 every change persisted since), for `restore`
//!   index.snapshot          0600  the read index for the heads on disk (a cache)
//! ```

mod error;
mod history;
mod identity;
mod merges;
mod peers;
mod signatures;
mod store;
mod trust;

pub use error::StoreError;
pub use history::HistoryRow;
pub use identity::{Identity, NodeConfig, SiteKey, IDENTITY_FILE};
pub use merges::MergeRecord;
pub use peers::{PeerRecord, MAX_ADDRESSES_PER_PEER, MAX_REMEMBERED_PEERS};
pub use signatures::StoredSignature;
pub use store::{
    keep_new_files_private, keep_private, Opened, Store, LAST_GOOD_FILE, LOG_FOLD_BYTES,
    LOG_FOLD_ENTRIES,
};
pub use trust::{
    new_join_secret, InviteRecord, InviteRefused, JoinTicket, JOIN_SECRET_BYTES, MAX_INVITES,
    SPENT_INVITE_KEEP_MS,
};

/// Writes `bytes` to `path` so that a crash leaves either the old file or the new one whole:
/// write a temporary file readable only by the owner, sync it, then rename it into place.
///
/// The temporary file has a random name beside `path` and is created with `O_EXCL` (tempfile's
/// default), so a file or symlink planted under a predictable name is neither followed nor
/// deleted; the rename replaces `path` itself, never what a symlink there points to.
pub fn write_file_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<(), StoreError> {
    use std::io::Write;
    let io = |source| StoreError::Io {
        path: path.to_owned(),
        source,
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let mut file = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .tempfile_in(parent)
        .map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.as_file().sync_all().map_err(io)?;
    file.persist(path).map_err(|e| io(e.error))?;
    if let Ok(dir) = std::fs::File::open(parent) {
        // Syncing the directory makes the rename itself durable.
        let _ = dir.sync_all();
    }
    Ok(())
}
