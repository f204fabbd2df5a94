//! What every command needs: the data directory, who is acting, the time, and the open store.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context as _;
use shiftmesh_model::{Collection, Concurrent, ConcurrentValue, Edit, Index, Schedule, View};
use shiftmesh_store::{Identity, Opened, Store};

use crate::cli::Cli;

pub struct Context {
    pub data_dir: PathBuf,
    pub json: bool,
    user: Option<String>,
}

/// The schedule with its store open, for commands that change it. sled's lock is held until
/// this is dropped.
pub struct Session {
    pub store: Store,
    pub schedule: Schedule,
    pub identity: Identity,
    pub user: String,
}

/// The schedule's view for commands that only read. It comes from the index snapshot when one
/// matches the store, so the document is loaded only when a read needs it.
pub struct Reader {
    store: Store,
    pub view: View,
    pub identity: Identity,
    pub changes: usize,
}

impl Context {
    pub fn new(cli: &Cli) -> anyhow::Result<Context> {
        let data_dir = match &cli.data_dir {
            Some(dir) => dir.clone(),
            None => default_data_dir()?,
        };
        Ok(Context {
            data_dir,
            json: cli.json,
            user: cli.as_user.clone(),
        })
    }

    pub fn user(&self) -> String {
        self.user
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .or_else(|| std::env::var("LOGNAME").ok())
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "unknown".to_owned())
    }

    /// Opens the store and loads the schedule, for a command that changes it.
    pub fn open(&self) -> anyhow::Result<Session> {
        let Opened {
            mut store,
            identity,
        } = Store::open(&self.data_dir)?;
        // The document first: its load peaks at over twice what it then keeps, and the index
        // is best built after that peak has passed.
        let doc = store.load_document()?;
        let index = fresh_index(&store)?.map(|(index, _)| index);
        let schedule = Schedule::from_doc_and_index(doc, index).with_context(|| {
            format!(
                "the store in {} does not hold a schedule",
                self.data_dir.display()
            )
        })?;
        Ok(Session {
            store,
            schedule,
            identity,
            user: self.user(),
        })
    }

    /// Opens the store for a command that only reads.
    pub fn read(&self) -> anyhow::Result<Reader> {
        let Opened {
            mut store,
            identity,
        } = Store::open(&self.data_dir)?;
        if let Some((index, changes)) = fresh_index(&store)? {
            return Ok(Reader {
                store,
                view: View::new(index),
                identity,
                changes,
            });
        }
        let doc = store.load_document()?;
        let mut schedule = Schedule::from_doc(doc).with_context(|| {
            format!(
                "the store in {} does not hold a schedule",
                self.data_dir.display()
            )
        })?;
        let changes = write_index_snapshot(&mut store, &mut schedule)?;
        Ok(Reader {
            store,
            view: schedule.view().clone(),
            identity,
            changes,
        })
    }
}

/// The index snapshot on disk, if it was written for exactly the heads on disk.
fn fresh_index(store: &Store) -> anyhow::Result<Option<(Index, usize)>> {
    Ok(store
        .read_index_snapshot()?
        .and_then(|(bytes, changes)| Index::from_snapshot(&bytes).map(|index| (index, changes))))
}

/// Writes the index snapshot for the heads on disk; returns the number of changes.
fn write_index_snapshot(store: &mut Store, schedule: &mut Schedule) -> anyhow::Result<usize> {
    let changes = schedule.change_count();
    if let Some(bytes) = schedule.index().to_snapshot() {
        store.write_index_snapshot(&bytes, changes)?;
    }
    Ok(changes)
}

impl Reader {
    pub fn heads(&self) -> Vec<String> {
        self.store.heads().iter().map(|h| h.to_string()).collect()
    }

    /// The concurrent values of every conflicted entity; the document is loaded only if the
    /// index marks some entity as conflicted.
    pub fn all_concurrent_values(&mut self) -> anyhow::Result<Concurrent> {
        if self.view.index().conflicted.is_empty() {
            return Ok(Concurrent::new());
        }
        let doc = self.store.load_document()?;
        let mut schedule = Schedule::from_doc_and_index(doc, Some(self.view.index().clone()))?;
        Ok(schedule.all_concurrent_values()?)
    }

    /// The concurrent values of an entity's fields. Only an entity the index marks as
    /// conflicted has any, and only then is the document loaded.
    pub fn concurrent_values(
        &mut self,
        collection: Collection,
        key: &str,
    ) -> anyhow::Result<BTreeMap<String, Vec<ConcurrentValue>>> {
        if !self
            .view
            .index()
            .conflicted
            .contains(&(collection, key.to_owned()))
        {
            return Ok(BTreeMap::new());
        }
        let doc = self.store.load_document()?;
        let mut schedule = Schedule::from_doc_and_index(doc, Some(self.view.index().clone()))?;
        Ok(schedule.concurrent_values(collection, key)?)
    }
}

impl Session {
    /// Who is acting and when, for a change made now.
    pub fn edit(&self) -> Edit {
        Edit {
            author: format!("{}@{}", self.user, self.identity.config.node_name),
            now_ms: now_ms(),
        }
    }

    /// Makes the schedule's new changes durable (an edit is acknowledged only after this), then
    /// refreshes the index snapshot that later reads use.
    pub fn persist(&mut self) -> anyhow::Result<()> {
        self.store.persist(self.schedule.doc_mut())?;
        write_index_snapshot(&mut self.store, &mut self.schedule)?;
        Ok(())
    }
}

pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn default_data_dir() -> anyhow::Result<PathBuf> {
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(xdg).join("shiftmesh"));
    }
    let home = std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .context("neither XDG_DATA_HOME nor HOME is set; pass --data-dir DIR")?;
    Ok(PathBuf::from(home).join(".local/share/shiftmesh"))
}

/// The machine's host name, the default node name.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "node".to_owned())
}
