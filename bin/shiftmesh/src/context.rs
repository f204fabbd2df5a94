//! What every command needs: the data directory, who is acting, and the schedule — opened
//! from the store by this process, or lent by the running node the command was sent to.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context as _;
use shiftmesh_model::{Collection, Concurrent, ConcurrentValue, Schedule, View};
use shiftmesh_node::session::{fresh_index, load_schedule, write_index_snapshot};
use shiftmesh_node::{Session, Status};
use shiftmesh_rules::Validator;
use shiftmesh_store::{Identity, Opened, Store};

use crate::cli::Cli;

pub struct Context<'a> {
    pub data_dir: PathBuf,
    pub json: bool,
    pub db: Db<'a>,
}

/// Where the schedule comes from.
pub enum Db<'a> {
    /// This process opens the store itself, when a command first needs it.
    Offline {
        data_dir: PathBuf,
        user: String,
        session: Option<Box<Session>>,
    },
    /// The command runs inside the node, on the session it holds.
    Live {
        session: &'a mut Session,
        /// The node's validation of that session's schedule, current as of this command.
        validation: &'a Validator,
        /// The running node's status, computed when asked for.
        status: &'a mut dyn FnMut(&mut Session) -> Status,
    },
}

/// The schedule's view for commands that only read.
pub enum Reader<'a> {
    /// From the index snapshot, when one matches the store, so the document is loaded only
    /// when a read needs it.
    Snapshot(Box<Snapshot>),
    /// The running node's (with its validation of it) or this command's open session.
    Open(&'a mut Session, Option<&'a Validator>),
}

pub struct Snapshot {
    store: Store,
    view: View,
    identity: Identity,
    changes: usize,
}

impl Context<'static> {
    pub fn new(cli: &Cli) -> anyhow::Result<Context<'static>> {
        let data_dir = data_dir(cli)?;
        Ok(Context {
            db: Db::Offline {
                data_dir: data_dir.clone(),
                user: user(cli),
                session: None,
            },
            data_dir,
            json: cli.json,
        })
    }
}

impl<'a> Context<'a> {
    /// A context for a command the node runs on its own session.
    pub fn live(
        json: bool,
        session: &'a mut Session,
        validation: &'a Validator,
        status: &'a mut dyn FnMut(&mut Session) -> Status,
    ) -> Context<'a> {
        Context {
            data_dir: session.store.dir().to_owned(),
            json,
            db: Db::Live {
                session,
                validation,
                status,
            },
        }
    }
}

pub fn data_dir(cli: &Cli) -> anyhow::Result<PathBuf> {
    match &cli.data_dir {
        Some(dir) => Ok(dir.clone()),
        None => default_data_dir(),
    }
}

/// Who is acting: `--as`, else SHIFTMESH_USER (read by clap), else the OS user.
pub fn user(cli: &Cli) -> String {
    cli.as_user
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

impl Db<'_> {
    /// The session, opening the store and loading the schedule on first use.
    pub fn open(&mut self) -> anyhow::Result<&mut Session> {
        match self {
            Db::Live { session, .. } => Ok(session),
            Db::Offline {
                data_dir,
                user,
                session,
            } => {
                if session.is_none() {
                    *session = Some(Box::new(Session::open(data_dir, user.clone())?));
                }
                Ok(session.as_mut().expect("opened above"))
            }
        }
    }

    /// The schedule for reading.
    pub fn read(&mut self) -> anyhow::Result<Reader<'_>> {
        match self {
            Db::Live {
                session,
                validation,
                ..
            } => Ok(Reader::Open(session, Some(*validation))),
            Db::Offline {
                session: Some(session),
                ..
            } => Ok(Reader::Open(session, None)),
            Db::Offline { data_dir, .. } => {
                Ok(Reader::Snapshot(Box::new(Snapshot::open(data_dir)?)))
            }
        }
    }

    /// Who is acting.
    pub fn user(&self) -> String {
        match self {
            Db::Offline { user, .. } => user.clone(),
            Db::Live { session, .. } => session.user.clone(),
        }
    }

    /// The running node's status, or None when this process opened the store itself.
    pub fn node_status(&mut self) -> Option<Status> {
        match self {
            Db::Live {
                session, status, ..
            } => Some(status(session)),
            Db::Offline { .. } => None,
        }
    }
}

impl Snapshot {
    fn open(data_dir: &std::path::Path) -> anyhow::Result<Snapshot> {
        let Opened {
            mut store,
            identity,
        } = Store::open(data_dir)?;
        if let Some((index, changes)) = fresh_index(&store)? {
            return Ok(Snapshot {
                store,
                view: View::new(index),
                identity,
                changes,
            });
        }
        let mut schedule = load_schedule(&mut store)?;
        let changes = write_index_snapshot(&mut store, &mut schedule)?;
        Ok(Snapshot {
            store,
            view: schedule.view().clone(),
            identity,
            changes,
        })
    }

    /// The schedule itself, loaded for a read that needs more than the index.
    fn schedule(&mut self) -> anyhow::Result<Schedule> {
        let doc = self.store.load_document()?;
        Ok(Schedule::from_doc_and_index(
            doc,
            Some(self.view.index().clone()),
        )?)
    }
}

impl Reader<'_> {
    /// The running node's validation of the schedule, current as of this command.
    pub fn validation(&self) -> Option<&Validator> {
        match self {
            Reader::Open(_, validation) => *validation,
            Reader::Snapshot(_) => None,
        }
    }

    pub fn view(&self) -> &View {
        match self {
            Reader::Snapshot(s) => &s.view,
            Reader::Open(s, _) => s.schedule.view(),
        }
    }

    pub fn identity(&self) -> &Identity {
        match self {
            Reader::Snapshot(s) => &s.identity,
            Reader::Open(s, _) => &s.identity,
        }
    }

    pub fn store(&self) -> &Store {
        match self {
            Reader::Snapshot(s) => &s.store,
            Reader::Open(s, _) => &s.store,
        }
    }

    /// How many changes the schedule holds.
    pub fn changes(&self) -> usize {
        match self {
            Reader::Snapshot(s) => s.changes,
            Reader::Open(s, _) => s.schedule.change_count(),
        }
    }

    pub fn heads(&mut self) -> Vec<String> {
        let heads = match self {
            Reader::Snapshot(s) => s.store.heads().to_vec(),
            Reader::Open(s, _) => s.schedule.heads(),
        };
        heads.iter().map(|h| h.to_string()).collect()
    }

    /// The concurrent values of every conflicted entity; the document is loaded only if the
    /// index marks some entity as conflicted.
    pub fn all_concurrent_values(&mut self) -> anyhow::Result<Concurrent> {
        if self.view().index().conflicted.is_empty() {
            return Ok(Concurrent::new());
        }
        match self {
            Reader::Snapshot(s) => Ok(s.schedule()?.all_concurrent_values()?),
            Reader::Open(s, _) => Ok(s.schedule.all_concurrent_values()?),
        }
    }

    /// The concurrent values of an entity's fields. Only an entity the index marks as
    /// conflicted has any, and only then is the document loaded.
    pub fn concurrent_values(
        &mut self,
        collection: Collection,
        key: &str,
    ) -> anyhow::Result<BTreeMap<String, Vec<ConcurrentValue>>> {
        if !self
            .view()
            .index()
            .conflicted
            .contains(&(collection, key.to_owned()))
        {
            return Ok(BTreeMap::new());
        }
        match self {
            Reader::Snapshot(s) => Ok(s.schedule()?.concurrent_values(collection, key)?),
            Reader::Open(s, _) => Ok(s.schedule.concurrent_values(collection, key)?),
        }
    }
}

pub use shiftmesh_node::session::now_ms;

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
