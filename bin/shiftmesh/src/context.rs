//! What every command needs: the data directory, who is acting, the time, and the open store.

use std::path::PathBuf;

use anyhow::Context as _;
use shiftmesh_model::{Edit, Schedule};
use shiftmesh_store::{Identity, Store};

use crate::cli::Cli;

pub struct Context {
    pub data_dir: PathBuf,
    pub json: bool,
    user: Option<String>,
}

/// The schedule with its store open: sled's lock is held until this is dropped.
pub struct Session {
    pub store: Store,
    pub schedule: Schedule,
    pub identity: Identity,
    pub user: String,
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

    /// Opens the store and loads the schedule.
    pub fn open(&self) -> anyhow::Result<Session> {
        let opened = Store::open(&self.data_dir)?;
        let schedule = Schedule::from_doc(opened.doc).with_context(|| {
            format!("the store in {} does not hold a schedule", self.data_dir.display())
        })?;
        Ok(Session {
            store: opened.store,
            schedule,
            identity: opened.identity,
            user: self.user(),
        })
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

    /// Makes the schedule's new changes durable: an edit is acknowledged only after this.
    pub fn persist(&mut self) -> anyhow::Result<()> {
        self.store.persist(self.schedule.doc_mut())?;
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
