//! What every request runs against: the data directory, who is asking, and the schedule —
//! opened from the store by this process, or lent by the running node the request was sent to.

use std::collections::BTreeMap;
use std::path::PathBuf;

use shiftmesh_model::entity::check_author_part;
use shiftmesh_model::{Collection, Concurrent, ConcurrentValue, Edit, Schedule, View};
use shiftmesh_rules::Validator;
use shiftmesh_store::{Identity, Opened, Store};

use crate::caller::Caller;
use crate::session::{
    fresh_index, fresh_members, load_schedule, now_ms, write_index_snapshot, Session,
};
use crate::status::Status;
use crate::{AppError, Result};

/// What a request running inside a node may ask of the node beyond its session: what only
/// the running node knows (connections, pending machines).
pub trait NodeLink {
    /// The node's status, computed when asked for.
    fn status(&mut self, session: &mut Session) -> Status;
    /// Drops a pending machine from the node's list; whether it was there.
    fn forget_pending(&mut self, peer: &str) -> bool;
}

/// Told how far a long request (an import) has got: what it is doing, done, total.
pub type Progress<'p> = &'p mut dyn FnMut(&str, usize, usize);

pub struct Context<'a> {
    pub data_dir: PathBuf,
    pub caller: Caller,
    pub db: Db<'a>,
    /// Where a long request reports progress (the CLI draws a bar); None: nowhere.
    pub progress: Option<Progress<'a>>,
}

/// Where the schedule comes from.
pub enum Db<'a> {
    /// This process opens the store itself, when a request first needs it.
    Offline {
        data_dir: PathBuf,
        session: Option<Box<Session>>,
        /// The site key's fingerprint, as the network shows it (the front end computes it).
        fingerprint: fn(&[u8; 32]) -> String,
    },
    /// The request runs inside the node, on the session it holds.
    Live {
        session: &'a mut Session,
        /// The node's validation of that session's schedule, current as of this request.
        validation: &'a Validator,
        /// The running node itself.
        node: &'a mut dyn NodeLink,
    },
}

/// The schedule's view for requests that only read.
pub enum Reader<'a> {
    /// From the index snapshot, when one matches the store, so the document is loaded only
    /// when a read needs it.
    Snapshot(Box<Snapshot>),
    /// The running node's (with its validation of it) or this request's open session.
    Open(&'a mut Session, Option<&'a Validator>),
}

pub struct Snapshot {
    store: Store,
    view: View,
    identity: Identity,
    changes: usize,
}

impl<'a> Context<'a> {
    /// A context that opens the store itself (no node runs on the data directory).
    pub fn offline(
        data_dir: PathBuf,
        caller: Caller,
        fingerprint: fn(&[u8; 32]) -> String,
    ) -> Context<'a> {
        Context {
            db: Db::Offline {
                data_dir: data_dir.clone(),
                session: None,
                fingerprint,
            },
            data_dir,
            caller,
            progress: None,
        }
    }

    /// A context for a request the node runs on its own session.
    pub fn live(
        caller: Caller,
        session: &'a mut Session,
        validation: &'a Validator,
        node: &'a mut dyn NodeLink,
    ) -> Context<'a> {
        Context {
            data_dir: session.store.dir().to_owned(),
            caller,
            db: Db::Live {
                session,
                validation,
                node,
            },
            progress: None,
        }
    }

    /// Who is acting and when, for a change made now: `name@node`.
    pub fn edit(&mut self) -> Result<Edit> {
        let name = self.caller.name.clone();
        let session = self.db.open()?;
        let machine = &session.identity.config.node_name;
        // The author is shown in every history line on every machine: a name with a newline
        // or of 100 KB would forge or flood those lines.
        check_author_part("the user name (--as, SHIFTMESH_USER or the login)", &name)
            .and_then(|()| check_author_part("this machine's name (node.json)", machine))
            .and_then(|()| match &self.caller.account {
                Some(account) => check_author_part("the OS account", account),
                None => Ok(()),
            })
            .map_err(|e| AppError::Invalid(e.message))?;
        Ok(Edit {
            author: self.caller.author(machine),
            now_ms: now_ms(),
        })
    }

    /// Reports progress, if anyone listens.
    pub fn progress(&mut self, what: &str, done: usize, total: usize) {
        if let Some(report) = self.progress.as_mut() {
            report(what, done, total);
        }
    }
}

impl Db<'_> {
    /// The session, opening the store and loading the schedule on first use.
    pub fn open(&mut self) -> Result<&mut Session> {
        match self {
            Db::Live { session, .. } => Ok(session),
            Db::Offline {
                data_dir, session, ..
            } => {
                if session.is_none() {
                    *session = Some(Box::new(Session::open(data_dir)?));
                }
                Ok(session.as_mut().expect("opened above"))
            }
        }
    }

    /// The schedule for reading.
    pub fn read(&mut self) -> Result<Reader<'_>> {
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

    /// The newest `limit` changes the filter admits. Without a node or an open session, only
    /// the store is opened: the recorded history needs neither the document nor the index,
    /// unless it is behind.
    pub fn history(
        &mut self,
        limit: usize,
        filter: &shiftmesh_model::history::HistoryFilter,
    ) -> Result<Vec<shiftmesh_model::history::HistoryEntry>> {
        if let Db::Offline {
            data_dir,
            session: None,
            ..
        } = self
        {
            let Opened { mut store, .. } = Store::open(data_dir)?;
            let mut schedule = None;
            if !crate::history::is_current(&store, store.heads())? {
                let mut loaded = load_schedule(&mut store)?;
                crate::history::bring_up_to_date(&store, loaded.doc_mut(), None)?;
                schedule = Some(loaded);
            }
            let mut entries = crate::history::read(&store, limit, filter)?;
            // The members: from the index snapshot (only its members read: the whole index of
            // a large schedule takes most of a second to build), unless the document is loaded.
            let members = match (&schedule, fresh_members(&store)?) {
                (Some(loaded), _) => loaded.index().members.clone(),
                (None, Some(members)) => members,
                (None, None) => {
                    let loaded = schedule.insert(load_schedule(&mut store)?);
                    loaded.index().members.clone()
                }
            };
            let revoked = crate::history::revoked_machines(&entries, &members);
            let after = if revoked.is_empty() {
                Default::default()
            } else {
                let loaded = match &mut schedule {
                    Some(loaded) => loaded,
                    None => schedule.insert(load_schedule(&mut store)?),
                };
                crate::history::changes_after_revocation(loaded, &revoked)
            };
            crate::history::prove(&mut entries, &members, |h| store.is_signed(h), &after);
            return Ok(entries);
        }
        let session = self.open()?;
        crate::history::bring_up_to_date(&session.store, session.schedule.doc_mut(), None)?;
        let mut entries = crate::history::read(&session.store, limit, filter)?;
        let members = session.schedule.index().members.clone();
        let revoked = crate::history::revoked_machines(&entries, &members);
        let after = crate::history::changes_after_revocation(&mut session.schedule, &revoked);
        let schedule = &session.schedule;
        crate::history::prove(&mut entries, &members, |h| schedule.is_signed(h), &after);
        Ok(entries)
    }

    /// The running node's status, or None when this process opened the store itself.
    pub fn node_status(&mut self) -> Option<Status> {
        match self {
            Db::Live { session, node, .. } => Some(node.status(session)),
            Db::Offline { .. } => None,
        }
    }

    /// Drops a pending machine from the running node's list: whether it was there, or None
    /// when no node runs this request.
    pub fn forget_pending(&mut self, peer: &str) -> Option<bool> {
        match self {
            Db::Live { node, .. } => Some(node.forget_pending(peer)),
            Db::Offline { .. } => None,
        }
    }

    /// The running node's validation of its schedule, when the request runs inside a node.
    pub fn validation(&self) -> Option<&Validator> {
        match self {
            Db::Live { validation, .. } => Some(validation),
            Db::Offline { .. } => None,
        }
    }

    /// How the site key's fingerprint is computed when no node runs (a running node's status
    /// carries its own).
    pub fn fingerprinter(&self) -> fn(&[u8; 32]) -> String {
        match self {
            Db::Live { .. } => |_| String::new(),
            Db::Offline { fingerprint, .. } => *fingerprint,
        }
    }
}

impl Snapshot {
    fn open(data_dir: &std::path::Path) -> Result<Snapshot> {
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
    fn schedule(&mut self) -> Result<Schedule> {
        let doc = self.store.load_document()?;
        let mut schedule = Schedule::from_doc_and_index(doc, Some(self.view.index().clone()))?;
        crate::session::restore_signatures(&self.store, &mut schedule)?;
        Ok(schedule)
    }
}

impl Reader<'_> {
    /// Whether a valid signature of its machine binds `change`.
    pub fn is_signed(&self, change: &automerge::ChangeHash) -> bool {
        match self {
            Reader::Open(session, _) => session.schedule.is_signed(change),
            Reader::Snapshot(s) => s.store.is_signed(change),
        }
    }

    /// The running node's validation of the schedule, current as of this request.
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
    pub fn all_concurrent_values(&mut self) -> Result<Concurrent> {
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
    ) -> Result<BTreeMap<String, Vec<ConcurrentValue>>> {
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

    /// The whole schedule, for a read that needs the document itself.
    pub fn schedule(&mut self) -> Result<ScheduleRef<'_>> {
        match self {
            Reader::Snapshot(s) => Ok(ScheduleRef::Owned(Box::new(s.schedule()?))),
            Reader::Open(s, _) => Ok(ScheduleRef::Borrowed(&mut s.schedule)),
        }
    }
}

/// A schedule loaded for one read, or the open session's.
pub enum ScheduleRef<'a> {
    Owned(Box<Schedule>),
    Borrowed(&'a mut Schedule),
}

impl std::ops::Deref for ScheduleRef<'_> {
    type Target = Schedule;
    fn deref(&self) -> &Schedule {
        match self {
            ScheduleRef::Owned(s) => s,
            ScheduleRef::Borrowed(s) => s,
        }
    }
}

impl std::ops::DerefMut for ScheduleRef<'_> {
    fn deref_mut(&mut self) -> &mut Schedule {
        match self {
            ScheduleRef::Owned(s) => s,
            ScheduleRef::Borrowed(s) => s,
        }
    }
}
