//! The schedule's persistence: a snapshot (`save()`) plus an append-only log of `save_after()`
//! chunks, folded into a new snapshot in one transaction when it grows. Every append is flushed
//! before it returns, so a caller may acknowledge an edit as soon as `persist` succeeds.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use automerge::{AutoCommit, ChangeHash, LoadOptions, OnPartialLoad};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use crate::identity::{Identity, NodeConfig, SiteKey, IDENTITY_FILE};
use crate::{write_file_atomically, StoreError};

/// Fold the log into a snapshot once it holds this many entries...
pub const LOG_FOLD_ENTRIES: usize = 1000;
/// ...or this many bytes.
pub const LOG_FOLD_BYTES: usize = 8 * 1024 * 1024;
/// The environment variable that lowers [`LOG_FOLD_ENTRIES`], so the crash loop can kill a
/// node while it folds without writing a thousand changes first.
pub const LOG_FOLD_ENTRIES_ENV: &str = "SHIFTMESH_LOG_FOLD_ENTRIES";

fn fold_entries() -> usize {
    static ENTRIES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *ENTRIES.get_or_init(|| {
        std::env::var(LOG_FOLD_ENTRIES_ENV)
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|n| *n > 0)
            .unwrap_or(LOG_FOLD_ENTRIES)
    })
}
/// Changes carrying at least this many operations are written as a new snapshot directly.
pub const FOLD_AT_OPS: u64 = 100_000;
/// The file beside the store holding a copy of the schedule outside sled: the last snapshot plus
/// every chunk appended since. `restore` rebuilds a damaged store from it.
pub const LAST_GOOD_FILE: &str = "last-good.automerge";
/// sled's page cache. The document lives in memory anyway; the store only needs to stream it.
const SLED_CACHE_BYTES: u64 = 64 * 1024 * 1024;
/// sled's background flush interval. Every acknowledged write is flushed explicitly as well.
const SLED_FLUSH_EVERY_MS: u64 = 1000;

const STORE_DIR: &str = "store";
/// How long opening waits for a store lock to be released before reporting it held.
const LOCK_RELEASE_WAIT_MS: u64 = 500;
/// How often opening tries the lock again while it waits.
const LOCK_RETRY_MS: u64 = 20;
const SNAPSHOT_KEY: &[u8] = b"doc";
const HEADS_KEY: &[u8] = b"heads";
const LAST_BACKUP_KEY: &[u8] = b"last_backup";
/// The file beside the store holding the read index for the heads on disk; a cache that is
/// rebuilt from the document whenever it is missing, stale or unreadable.
pub const INDEX_FILE: &str = "index.snapshot";
const INDEX_MAGIC: &[u8] = b"shiftmesh-index\n";

/// An open store: sled holds its lock until this is dropped.
pub struct Store {
    dir: PathBuf,
    db: sled::Db,
    snapshot: sled::Tree,
    log: sled::Tree,
    pub(crate) meta: sled::Tree,
    pub(crate) peers: sled::Tree,
    pub(crate) sync_states: sled::Tree,
    pub(crate) invites: sled::Tree,
    pub(crate) history: sled::Tree,
    pub(crate) history_entities: sled::Tree,
    pub(crate) history_bulk: sled::Tree,
    pub(crate) signatures: sled::Tree,
    /// The heads covered by what is on disk (snapshot plus log).
    persisted_heads: Vec<ChangeHash>,
    log_entries: usize,
    log_bytes: usize,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("dir", &self.dir).finish()
    }
}

/// A store opened with the node's identity. The document is loaded separately
/// ([`Store::load_document`]), so reads served from the index snapshot never load it.
#[derive(Debug)]
pub struct Opened {
    pub store: Store,
    pub identity: Identity,
}

impl Store {
    /// Whether `dir` has been initialised.
    pub fn is_initialised(dir: &Path) -> bool {
        dir.join(IDENTITY_FILE).exists() && dir.join(STORE_DIR).exists()
    }

    /// Creates a data directory: identity, config and a store holding `doc` (the genesis).
    /// Returns None if it was already initialised (nothing is changed then).
    pub fn init(
        dir: &Path,
        config: NodeConfig,
        site_key: Option<SiteKey>,
        doc: &mut AutoCommit,
    ) -> Result<Option<Opened>, StoreError> {
        if Store::is_initialised(dir) {
            return Ok(None);
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| StoreError::Io {
                path: dir.to_owned(),
                source,
            })?;
        let identity = Identity::create(dir, config, site_key)?;
        let mut store = Store::open_db(dir)?;
        store.write_snapshot(doc)?;
        Ok(Some(Opened { store, identity }))
    }

    fn open_db(dir: &Path) -> Result<Store, StoreError> {
        keep_private(dir).map_err(|source| StoreError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let db = open_sled(dir)?;
        let tree = |name: &str| db.open_tree(name).map_err(|e| classify_open_error(dir, e));
        let snapshot = tree("snapshot")?;
        let log = tree("log")?;
        let meta = tree("meta")?;
        let peers = tree("peers")?;
        let sync_states = tree("sync")?;
        let invites = tree("invites")?;
        let history = tree("history")?;
        let history_entities = tree("history_entities")?;
        let history_bulk = tree("history_bulk")?;
        let signatures = tree("signatures")?;
        let persisted_heads = match meta.get(HEADS_KEY)? {
            Some(bytes) => decode_heads(&bytes)
                .ok_or_else(|| corrupt(dir, "its recorded heads are unreadable".into()))?,
            None => Vec::new(),
        };
        Ok(Store {
            dir: dir.to_owned(),
            db,
            snapshot,
            log,
            meta,
            peers,
            sync_states,
            invites,
            history,
            history_entities,
            history_bulk,
            signatures,
            persisted_heads,
            log_entries: 0,
            log_bytes: 0,
        })
    }

    /// Opens the store in `dir` (taking sled's lock) and reads the identity.
    pub fn open(dir: &Path) -> Result<Opened, StoreError> {
        // A directory owned by someone else (0700) reads as "not initialised" unless told apart.
        if let Err(source) = std::fs::read_dir(dir) {
            if source.kind() == std::io::ErrorKind::PermissionDenied {
                return Err(StoreError::Io {
                    path: dir.to_owned(),
                    source,
                });
            }
        }
        if !Store::is_initialised(dir) {
            return Err(StoreError::NotInitialised {
                dir: dir.to_owned(),
            });
        }
        let identity = Identity::load(dir)?;
        let store = Store::open_db(dir)?;
        Ok(Opened { store, identity })
    }

    /// The heads of what is on disk.
    pub fn heads(&self) -> &[ChangeHash] {
        &self.persisted_heads
    }

    /// The index snapshot, if one was written for exactly the heads on disk, with the number of
    /// changes it covers.
    pub fn read_index_snapshot(&self) -> Result<Option<(Vec<u8>, usize)>, StoreError> {
        let Ok(bytes) = std::fs::read(self.dir.join(INDEX_FILE)) else {
            return Ok(None);
        };
        // Layout: magic, heads count (u32), heads, changes (u64), payload.
        let heads = encode_heads(&self.persisted_heads);
        let header = INDEX_MAGIC.len() + 4;
        if bytes.len() < header || !bytes.starts_with(INDEX_MAGIC) {
            return Ok(None);
        }
        let count = u32::from_be_bytes(
            bytes[INDEX_MAGIC.len()..header]
                .try_into()
                .unwrap_or([0; 4]),
        );
        let heads_end = header + 32 * count as usize;
        if bytes.len() < heads_end + 8 || bytes[header..heads_end] != heads[..] {
            return Ok(None);
        }
        let changes =
            u64::from_be_bytes(bytes[heads_end..heads_end + 8].try_into().unwrap_or([0; 8]));
        Ok(Some((bytes[heads_end + 8..].to_vec(), changes as usize)))
    }

    /// Records an index snapshot for the heads on disk (call after [`Store::persist`]). It lives
    /// in a file beside the store, not in sled, which keeps every rewrite of a large value as a
    /// blob it frees only lazily.
    pub fn write_index_snapshot(
        &mut self,
        payload: &[u8],
        changes: usize,
    ) -> Result<(), StoreError> {
        let heads = encode_heads(&self.persisted_heads);
        let mut bytes = Vec::with_capacity(payload.len() + heads.len() + 32);
        bytes.extend_from_slice(INDEX_MAGIC);
        bytes.extend_from_slice(&(self.persisted_heads.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&heads);
        bytes.extend_from_slice(&(changes as u64).to_be_bytes());
        bytes.extend_from_slice(payload);
        write_file_atomically(&self.dir.join(INDEX_FILE), &bytes)
    }

    fn corrupt(&self, reason: impl Into<String>) -> StoreError {
        corrupt(&self.dir, reason.into())
    }

    /// Loads the document: the snapshot plus every log entry, checked against the heads
    /// recorded on disk.
    pub fn load_document(&mut self) -> Result<AutoCommit, StoreError> {
        let mut bytes = match self.snapshot.get(SNAPSHOT_KEY)? {
            Some(snapshot) => snapshot.to_vec(),
            None => return Err(self.corrupt("it holds no snapshot")),
        };
        self.log_entries = 0;
        self.log_bytes = 0;
        for entry in self.log.iter() {
            let (_, chunk) = entry?;
            self.log_entries += 1;
            self.log_bytes += chunk.len();
            bytes.extend_from_slice(&chunk);
        }
        let options = LoadOptions::new().on_partial_load(OnPartialLoad::Error);
        let mut doc = AutoCommit::load_with_options(&bytes, options)
            .map_err(|e| self.corrupt(format!("its document does not load: {e}")))?;
        let heads = doc.get_heads();
        // The heads recorded with the last append must all be present; if the store silently
        // dropped a tail of its log, this is where it shows.
        if let Some(recorded) = self.meta.get(HEADS_KEY)? {
            let recorded = decode_heads(&recorded)
                .ok_or_else(|| self.corrupt("its recorded heads are unreadable"))?;
            // A presence check only: get_change_by_hash would rebuild each change's bytes. The
            // missing hashes also name the deps of changes Automerge holds back until those
            // arrive; only the recorded heads themselves count here.
            let missing = doc.get_missing_deps(&recorded);
            if let Some(missing) = missing.iter().find(|h| recorded.contains(h)) {
                return Err(self.corrupt(format!("change {missing} recorded as saved is missing")));
            }
        }
        self.persisted_heads = heads;
        Ok(doc)
    }

    /// Makes every change of `doc` that is not yet on disk durable. Returns the bytes appended to
    /// the log (0 when it wrote a new snapshot instead).
    pub fn persist(&mut self, doc: &mut AutoCommit) -> Result<usize, StoreError> {
        let heads = doc.get_heads();
        if heads == self.persisted_heads {
            return Ok(0);
        }
        // A bulk write (an import) goes straight into a new snapshot: its change chunk would be
        // folded at once anyway, and computing it first costs as much as the snapshot.
        let new_ops: u64 = doc
            .get_changes_meta(&self.persisted_heads)
            .iter()
            .map(|m| m.max_op.saturating_sub(m.start_op) + 1)
            .sum();
        if new_ops >= FOLD_AT_OPS {
            self.write_snapshot(doc)?;
            return Ok(0);
        }
        let chunk = doc.save_after(&self.persisted_heads);
        let len = chunk.len();
        if self.log_entries + 1 >= fold_entries() || self.log_bytes + len >= LOG_FOLD_BYTES {
            self.write_snapshot(doc)?;
            return Ok(len);
        }
        let seq = self
            .log
            .last()?
            .and_then(|(k, _)| k.as_ref().try_into().ok().map(u64::from_be_bytes))
            .map_or(0, |last| last + 1);
        let encoded_heads = encode_heads(&heads);
        (&self.log, &self.meta)
            .transaction(|(log, meta)| {
                log.insert(&seq.to_be_bytes(), chunk.as_slice())?;
                meta.insert(HEADS_KEY, encoded_heads.as_slice())?;
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(transaction_error)?;
        self.db.flush()?;
        self.append_last_good(&chunk)?;
        self.persisted_heads = heads;
        self.log_entries += 1;
        self.log_bytes += len;
        Ok(len)
    }

    /// Appends a chunk to the last good file, which Automerge loads as `snapshot ++ chunks`, so
    /// the file holds every persisted change outside sled.
    fn append_last_good(&self, chunk: &[u8]) -> Result<(), StoreError> {
        use std::io::Write;
        let path = self.dir.join(LAST_GOOD_FILE);
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io)?;
        file.write_all(chunk).map_err(io)?;
        file.sync_data().map_err(io)
    }

    /// Replaces snapshot and log with one `save()` of `doc`, in one transaction, then refreshes
    /// the last good snapshot file.
    pub fn write_snapshot(&mut self, doc: &mut AutoCommit) -> Result<(), StoreError> {
        let bytes = doc.save();
        self.write_snapshot_bytes(&bytes, doc.get_heads())
    }

    /// Makes `bytes`, a whole document that loads to `heads`, the snapshot (as
    /// [`Store::write_snapshot`], without encoding a document again): for a document received
    /// whole from a peer and loaded from these very bytes.
    pub fn write_snapshot_bytes(
        &mut self,
        bytes: &[u8],
        heads: Vec<ChangeHash>,
    ) -> Result<(), StoreError> {
        let encoded_heads = encode_heads(&heads);
        // Transactions cannot iterate, so the keys to remove are collected first; only this
        // process writes the store, so the list cannot go stale.
        let log_keys: Vec<sled::IVec> = self.log.iter().keys().collect::<Result<_, _>>()?;
        (&self.snapshot, &self.log, &self.meta)
            .transaction(|(snapshot, log, meta)| {
                snapshot.insert(SNAPSHOT_KEY, bytes)?;
                for key in &log_keys {
                    log.remove(key)?;
                }
                meta.insert(HEADS_KEY, encoded_heads.as_slice())?;
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(transaction_error)?;
        self.db.flush()?;
        self.persisted_heads = heads;
        self.log_entries = 0;
        self.log_bytes = 0;
        write_file_atomically(&self.dir.join(LAST_GOOD_FILE), bytes)
    }

    /// Replaces the schedule in `dir` with `doc`. A store that cannot be opened because it is
    /// damaged is moved aside (to `store.damaged-N`) and a new one is made; nothing is deleted.
    pub fn replace(dir: &Path, doc: &mut AutoCommit) -> Result<Option<PathBuf>, StoreError> {
        let opened = Store::open(dir).and_then(|mut opened| {
            opened.store.load_document()?;
            Ok(opened)
        });
        match opened {
            Ok(mut opened) => {
                opened.store.write_snapshot(doc)?;
                Ok(None)
            }
            Err(StoreError::Corrupt { .. }) => {
                let aside = (0..)
                    .map(|n| dir.join(format!("{STORE_DIR}.damaged-{n}")))
                    .find(|p| !p.exists())
                    .unwrap_or_else(|| dir.join(format!("{STORE_DIR}.damaged")));
                std::fs::rename(dir.join(STORE_DIR), &aside).map_err(|source| StoreError::Io {
                    path: aside.clone(),
                    source,
                })?;
                // The last good file described the damaged store; it is replaced below.
                let _ = std::fs::remove_file(dir.join(LAST_GOOD_FILE));
                let mut store = Store::open_db(dir)?;
                store.write_snapshot(doc)?;
                Ok(Some(aside))
            }
            Err(e) => Err(e),
        }
    }

    /// Makes every write so far durable.
    pub(crate) fn flush(&mut self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// When the last scheduled backup was written (ms since the epoch) and the heads it held.
    pub fn last_backup(&self) -> Result<Option<(i64, Vec<ChangeHash>)>, StoreError> {
        Ok(self.meta.get(LAST_BACKUP_KEY)?.and_then(|bytes| {
            let at = i64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
            Some((at, decode_heads(&bytes[8..])?))
        }))
    }

    /// Records a scheduled backup just written.
    pub fn record_backup(&self, at_ms: i64, heads: &[ChangeHash]) -> Result<(), StoreError> {
        let mut bytes = at_ms.to_be_bytes().to_vec();
        bytes.extend_from_slice(&encode_heads(heads));
        self.meta.insert(LAST_BACKUP_KEY, bytes)?;
        Ok(())
    }

    /// How many entries the log holds (for status and tests).
    pub fn log_entries(&self) -> usize {
        self.log_entries
    }
}

fn corrupt(dir: &Path, reason: String) -> StoreError {
    let last_good = dir.join(LAST_GOOD_FILE);
    let advice = if last_good.exists() {
        format!(
            "run 'shiftmesh restore {} --yes' to rebuild it from the copy kept beside the store, which holds every saved change",
            last_good.display()
        )
    } else {
        "run 'shiftmesh restore BACKUP_FILE --yes' with a backup, or start the node to fetch the schedule from a peer".to_owned()
    };
    StoreError::Corrupt {
        dir: dir.to_owned(),
        reason,
        advice,
    }
}

/// Opens sled, waiting a moment for a lock this process still holds.
///
/// sled releases its file lock only when the last of its background threads lets go of the
/// database, which can be a few milliseconds after the handle was dropped; a store closed and
/// reopened in one process would otherwise be refused as locked. A lock held by another process
/// (a running node) is still reported, after `LOCK_RELEASE_WAIT_MS`.
fn open_sled(dir: &Path) -> Result<sled::Db, StoreError> {
    let started = std::time::Instant::now();
    loop {
        let opened = sled::Config::new()
            .path(dir.join(STORE_DIR))
            .cache_capacity(SLED_CACHE_BYTES)
            .flush_every_ms(Some(SLED_FLUSH_EVERY_MS))
            .mode(sled::Mode::LowSpace)
            .open()
            .map_err(|e| classify_open_error(dir, e));
        match opened {
            Err(StoreError::Locked { .. })
                if started.elapsed() < std::time::Duration::from_millis(LOCK_RELEASE_WAIT_MS) =>
            {
                std::thread::sleep(std::time::Duration::from_millis(LOCK_RETRY_MS));
            }
            other => return other,
        }
    }
}

fn classify_open_error(dir: &Path, error: sled::Error) -> StoreError {
    match &error {
        sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
            StoreError::Locked {
                dir: dir.to_owned(),
            }
        }
        sled::Error::Corruption { .. } => corrupt(dir, error.to_string()),
        sled::Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            corrupt(dir, error.to_string())
        }
        _ => StoreError::Sled(error),
    }
}

pub(crate) fn transaction_error(error: TransactionError<()>) -> StoreError {
    match error {
        TransactionError::Storage(e) => StoreError::Sled(e),
        // No transaction here aborts on purpose.
        TransactionError::Abort(()) => StoreError::Sled(sled::Error::Unsupported(
            "a store transaction aborted".into(),
        )),
    }
}

pub(crate) fn encode_heads(heads: &[ChangeHash]) -> Vec<u8> {
    heads.iter().flat_map(|h| h.0).collect()
}

pub(crate) fn decode_heads(bytes: &[u8]) -> Option<Vec<ChangeHash>> {
    if !bytes.len().is_multiple_of(32) {
        return None;
    }
    bytes
        .chunks(32)
        .map(|c| ChangeHash::try_from(c).ok())
        .collect()
}

/// Makes the data directory and everything in it the owner's alone (directories 0700, files
/// 0600), on every open: a directory made beforehand, a restore or an older release may have
/// left them readable by every local user, and sled creates its files with the process's
/// umask. Symlinks are left as they are and not followed.
pub fn keep_private(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut pending = vec![dir.to_owned()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path)?;
        let wanted = if meta.is_dir() {
            0o700
        } else if meta.is_file() {
            0o600
        } else {
            continue;
        };
        if meta.permissions().mode() & 0o777 != wanted {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(wanted))?;
        }
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path)? {
                pending.push(entry?.path());
            }
        }
    }
    Ok(())
}

/// Makes every file this process creates from now on its owner's alone (umask 077), so sled's
/// own files in the data directory are never readable by other local users, even between two
/// opens.
pub fn keep_new_files_private() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}
