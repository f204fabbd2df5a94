//! The session engine: two Automerge sync states per peer, one session at a time in each
//! direction, every session bounded in rounds, bytes and time.
//!
//! A session is a strict request/response ping-pong, which is the reliable in-order channel
//! the Automerge sync protocol assumes. The side that starts a session uses its *outbound*
//! state for that peer; the side that answers uses its *inbound* state. Both are reset at
//! session start to what survives `encode`/`decode` (the heads both sides share), so a lost
//! message or a dropped connection never leaves a state that believes something is in flight.

use std::collections::BTreeMap;

use automerge::sync::{self, SyncDoc};
use automerge::ChangeHash;
use shiftmesh_model::guard::guard_panics;
use shiftmesh_model::{Accepted, Merged, Schedule};

use crate::wire::{SyncRequest, SyncResponse, WireSignature, MAX_SIGNATURES_PER_MESSAGE};

/// Milliseconds on the caller's clock (the node passes wall-clock time since the Unix epoch).
pub type Millis = u64;

/// The bounds every session is held to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Requests a session may make before it is abandoned. A healthy session needs two or
    /// three; the bound catches a peer that keeps the exchange going forever.
    pub max_rounds_per_session: u32,
    /// The largest sync message accepted. A message carrying a whole YEAR schedule is about
    /// 6 MiB, so this leaves room to grow while refusing absurd payloads.
    pub max_message_bytes: usize,
    /// Sessions this node runs as the initiator at once; more wait their turn.
    pub max_sessions_in_flight: usize,
    /// A session with no progress for this long is abandoned and its state reset.
    pub session_timeout_ms: Millis,
    /// How often each connected peer gets a catch-up session even when nothing announced a
    /// change (announcements are best-effort).
    pub catch_up_interval_ms: Millis,
    /// How soon after a session of ours failed (a dropped request, a timeout, a bad message) it
    /// is tried again, rather than waiting for the next catch-up: the edits it carried should
    /// not wait for the interval. The wait doubles with each failure in a row up to
    /// `retry_max_ms`, less a random part of up to half of it so that peers do not retry in step.
    pub retry_min_ms: Millis,
    pub retry_max_ms: Millis,
    /// Retries of sessions with one peer within a minute; beyond, the catch-up takes over.
    pub max_retries_per_peer_per_minute: u32,
    /// How long a session of ours waits for the peer's answer to a request before it is
    /// given up and retried: a message lost while a link was down would otherwise hold the
    /// session until `session_timeout_ms`. It doubles with each failure in a row, so a slow
    /// link carrying a large first catch-up gets the time it needs on a later try.
    pub response_timeout_ms: Millis,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_rounds_per_session: 32,
            max_message_bytes: 64 * 1024 * 1024,
            max_sessions_in_flight: 16,
            session_timeout_ms: 120_000,
            catch_up_interval_ms: 45_000,
            retry_min_ms: 250,
            retry_max_ms: 8_000,
            max_retries_per_peer_per_minute: 30,
            response_timeout_ms: 4_000,
        }
    }
}

/// Which of a peer's two states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Sessions this node starts.
    Outbound,
    /// Sessions the peer starts.
    Inbound,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Outbound => "outbound",
            Role::Inbound => "inbound",
        }
    }
}

/// A peer's persisted sync states (each `sync::State::encode`), as the store kept them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SavedStates {
    pub outbound: Option<Vec<u8>>,
    pub inbound: Option<Vec<u8>>,
}

/// What happened, as the engine is told.
#[derive(Clone, Debug)]
pub enum Input<P> {
    /// A connection to the peer opened (the first, if there are several). One side starts
    /// the first session (`initiate`; the node lets the side that dialed do it): a session
    /// syncs both ways, and two at once would send a fresh node the whole schedule twice.
    Connected {
        peer: P,
        saved: SavedStates,
        initiate: bool,
    },
    /// The last connection to the peer closed.
    Disconnected { peer: P },
    /// The peer sent a step of a session it runs.
    Request { peer: P, request: SyncRequest },
    /// The peer answered a step of a session we run.
    Response { peer: P, response: SyncResponse },
    /// Our request to the peer failed in transport (timeout, closed stream, decode error).
    RequestFailed { peer: P, reason: String },
    /// The peer announced its heads.
    Announcement { peer: P, heads: Vec<ChangeHash> },
    /// This node committed a change of its own.
    LocalChange,
    /// Time passed: time out stuck sessions, start catch-up and queued sessions.
    Tick,
}

/// What the caller must do.
#[derive(Clone, Debug)]
pub enum Output<P> {
    SendRequest {
        peer: P,
        request: SyncRequest,
    },
    /// The answer to the request just handled; exactly one per [`Input::Request`].
    Respond {
        peer: P,
        response: SyncResponse,
    },
    /// Publish our heads (they changed).
    Announce {
        heads: Vec<ChangeHash>,
    },
    /// Changes from the peer were applied to the schedule and its view (or signatures arrived
    /// that prove changes already held, `merged.new_changes` 0): make them durable, then
    /// validate and report them.
    Applied {
        peer: P,
        merged: Merged,
        /// Our heads before the changes arrived.
        before: Vec<ChangeHash>,
    },
    /// Persist this state for the peer. Always emitted after the [`Output::Applied`] whose
    /// changes it covers, so persisting outputs in order never records heads that are not
    /// yet durable.
    SaveState {
        peer: P,
        role: Role,
        state: Vec<u8>,
    },
    SessionEnded {
        peer: P,
        role: Role,
        outcome: Outcome,
    },
    /// Automerge panicked on this peer's input: the in-memory document can no longer be
    /// trusted; reload it from the store.
    ReloadDocument,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Completed {
        rounds: u32,
        bytes_sent: usize,
        bytes_received: usize,
        new_changes: usize,
        started_at: Millis,
    },
    Failed(SessionError),
}

/// Why a session was abandoned. Every one resets that peer's state for the role; the other
/// peers are not affected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("the sync message is {len} bytes, more than the {max} allowed")]
    MessageTooLarge { len: usize, max: usize },
    #[error(
        "a change to send is {len} bytes, more than the {max} a sync message may carry; raise \
         the limit on every node to sync it"
    )]
    ChangeTooLarge { len: usize, max: usize },
    #[error("the sync message is malformed ({0})")]
    Malformed(String),
    #[error("the sync message was refused by Automerge ({0})")]
    Refused(String),
    #[error("Automerge panicked on the sync message; the document is reloaded from the store")]
    Panicked,
    #[error("the session went past {max} rounds")]
    TooManyRounds { max: u32 },
    #[error("the session made no progress for {after_ms} ms")]
    TimedOut { after_ms: Millis },
    #[error("the request failed in transport ({0})")]
    Transport(String),
    #[error("the peer disconnected")]
    Disconnected,
    #[error("a response arrived with no session running")]
    Unexpected,
    #[error("the peer learns the membership from other members first; it starts a session when it is ready")]
    NotYet,
}

/// How one peer stands, for `status` and `peers`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerReport<P> {
    pub peer: P,
    pub connected: bool,
    /// When the last session with it completed, in either direction.
    pub last_sync_ms: Option<Millis>,
    /// Changes of ours it lacks, as far as we know what it holds (the heads it announced or
    /// sent last, and those we shared): 0 when its heads are ours.
    pub behind: usize,
    /// Heads it announced that we lack (0: we have everything it told us of).
    pub ahead: usize,
}

#[derive(Debug)]
struct Session {
    rounds: u32,
    started_at: Millis,
    last_activity: Millis,
    bytes_sent: usize,
    bytes_received: usize,
    new_changes: usize,
}

impl Session {
    fn new(now: Millis) -> Session {
        Session {
            rounds: 0,
            started_at: now,
            last_activity: now,
            bytes_sent: 0,
            bytes_received: 0,
            new_changes: 0,
        }
    }
}

#[derive(Debug)]
struct Peer {
    connected: bool,
    outbound: sync::State,
    inbound: sync::State,
    outbound_session: Option<Session>,
    inbound_session: Option<Session>,
    /// Another outbound session is wanted once the running one ends (or a slot frees).
    pending: bool,
    /// Our sessions with the peer that failed in a row (0 once one completes).
    failures: u32,
    /// When our next session is due after a failure (None: no retry is waiting).
    retry_at: Option<Millis>,
    /// Retries started in the minute that began at `retry_minute_started`.
    retries_this_minute: u32,
    retry_minute_started: Millis,
    last_session_start: Option<Millis>,
    last_sync: Option<Millis>,
    /// The heads it last announced.
    announced: Vec<ChangeHash>,
    /// What was last handed out to persist, per role, to skip rewriting the same bytes.
    saved: BTreeMap<Role, Vec<u8>>,
    /// Changes sent whose signatures did not fit their message: the next messages carry them.
    owed_signatures: Vec<ChangeHash>,
}

impl Peer {
    fn new(saved: &SavedStates) -> Peer {
        let restore = |bytes: &Option<Vec<u8>>| {
            bytes
                .as_deref()
                .and_then(|b| sync::State::decode(b).ok())
                .unwrap_or_default()
        };
        let mut peer = Peer {
            connected: false,
            outbound: restore(&saved.outbound),
            inbound: restore(&saved.inbound),
            outbound_session: None,
            inbound_session: None,
            pending: false,
            failures: 0,
            retry_at: None,
            retries_this_minute: 0,
            retry_minute_started: 0,
            last_session_start: None,
            last_sync: None,
            announced: Vec::new(),
            saved: BTreeMap::new(),
            owed_signatures: Vec::new(),
        };
        for (role, bytes) in [
            (Role::Outbound, &saved.outbound),
            (Role::Inbound, &saved.inbound),
        ] {
            if let Some(bytes) = bytes {
                peer.saved.insert(role, bytes.clone());
            }
        }
        peer
    }

    /// Ends the session in `role`, if one runs.
    fn take_session(&mut self, role: Role) -> Option<Session> {
        match role {
            Role::Outbound => self.outbound_session.take(),
            Role::Inbound => self.inbound_session.take(),
        }
    }

    fn state(&mut self, role: Role) -> &mut sync::State {
        match role {
            Role::Outbound => &mut self.outbound,
            Role::Inbound => &mut self.inbound,
        }
    }
}

/// Applies a sync message to the schedule and refreshes its view; None when it brought
/// nothing new. Automerge runs guarded: a panic on a peer's input must not take the node down
/// (the caller reloads the document from the store).
fn receive_into(
    schedule: &mut Schedule,
    state: &mut sync::State,
    message: sync::Message,
) -> Result<Option<Merged>, SessionError> {
    let before = schedule.heads();
    let received = guard_panics(|| {
        schedule
            .doc_mut()
            .sync()
            .receive_sync_message(state, message)
    });
    match received {
        None => return Err(SessionError::Panicked),
        Some(Err(e)) => return Err(SessionError::Refused(e.to_string())),
        Some(Ok(())) => {}
    }
    if schedule.heads() == before {
        return Ok(None);
    }
    Ok(Some(schedule.absorb_since(&before)))
}

/// A fresh schedule (only the genesis) takes a whole document by loading it into an empty
/// one — Automerge's fast path, several times faster than applying it change by change to a
/// document that is not empty — and is replaced by it if it is a shiftmesh schedule. Any
/// other message, or a document that is not a schedule, goes the ordinary way.
fn receive_into_fresh(
    schedule: &mut Schedule,
    state: &mut sync::State,
    message: sync::Message,
) -> Result<Option<Merged>, SessionError> {
    let mut trial_state = state.clone();
    let trial_message = message.clone();
    // A message that is one document chunk holds the sender's whole document as `save()`
    // wrote it: once it has loaded, the same bytes can be stored.
    let whole = match message.changes.len() {
        1 => message
            .changes
            .iter()
            .find(|chunk| shiftmesh_model::guard::is_whole_document(chunk))
            .map(<[u8]>::to_vec),
        _ => None,
    };
    let received = guard_panics(|| {
        let mut empty = automerge::AutoCommit::new();
        let applied = empty
            .sync()
            .receive_sync_message(&mut trial_state, trial_message);
        applied.map(|()| empty)
    });
    if let Some(Ok(loaded)) = received {
        if let Ok(merged) = schedule.replace_fresh(loaded, whole) {
            *state = trial_state;
            return Ok(Some(merged));
        }
    }
    receive_into(schedule, state, message)
}

/// How long after its `failures`-th failure in a row a session with `peer` is tried again:
/// doubling from `retry_min_ms` to `retry_max_ms`, less up to half of it drawn from the peer
/// and the time (deterministic, so a simulation replays; different per peer, so peers that
/// failed together do not retry together).
fn retry_delay<P: std::hash::Hash>(
    limits: &Limits,
    failures: u32,
    peer: &P,
    now: Millis,
) -> Millis {
    use std::hash::{Hash, Hasher};
    let full = limits
        .retry_min_ms
        .saturating_mul(1 << failures.saturating_sub(1).min(16))
        .min(limits.retry_max_ms);
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (peer, failures, now).hash(&mut hasher);
    let jitter = hasher.finish() % (full / 2).max(1);
    full - jitter
}

/// How many of `heads` the schedule lacks. (A graph lookup: `get_change_by_hash` would
/// re-encode each change from the op set, which costs seconds on a large schedule.)
fn lacking(schedule: &mut Schedule, heads: &[ChangeHash]) -> usize {
    if heads.is_empty() {
        return 0;
    }
    shiftmesh_model::absent(schedule.doc(), heads).len()
}

/// Our next sync message for a peer, encoded, at most `max_bytes` long; None when there is
/// nothing to say. What the peer told us (its heads, its bloom filter of what it has) feeds
/// this, so Automerge runs guarded here too (a malformed bloom filter once divided by zero in
/// it).
fn generate(
    schedule: &mut Schedule,
    state: &mut sync::State,
    max_bytes: usize,
) -> Result<Option<Vec<u8>>, SessionError> {
    guard_panics(|| {
        let doc = schedule.doc_mut();
        let Some(message) = doc.sync().generate_sync_message(state) else {
            return Ok(None);
        };
        let encoded = message.encode();
        if encoded.len() <= max_bytes {
            return Ok(Some(encoded));
        }
        // Rare: the message is read back for its heads and summaries rather than copied on
        // every message in case it is too large.
        let mut message =
            sync::Message::decode(&encoded).map_err(|e| SessionError::Malformed(e.to_string()))?;
        message.changes = sync::ChunkList::empty();
        message.version = sync::MessageVersion::V1;
        within_limit(doc, state, message, max_bytes).map(Some)
    })
    .ok_or(SessionError::Panicked)?
}

/// An encoded sync message and the signatures of the changes it carries.
type Outgoing = (Vec<u8>, Vec<WireSignature>);

/// Our next message for a peer with the signatures of the changes it carries (see
/// [`generate`]); signatures that do not fit are owed, and carried by the next messages.
fn outgoing(
    schedule: &mut Schedule,
    peer: &mut Peer,
    role: Role,
    max_bytes: usize,
) -> Result<Option<Outgoing>, SessionError> {
    let state = peer.state(role);
    let sent_before = state.sent_hashes.clone();
    // Changes the peer asks for by hash are sent again even when Automerge notes them as sent
    // already (the peer lost them, in a crash): their signatures go with them again.
    let needed = state.their_need.clone().unwrap_or_default();
    let Some(message) = generate(schedule, state, max_bytes)? else {
        return Ok(None);
    };
    let mut sent: Vec<ChangeHash> = state
        .sent_hashes
        .difference(&sent_before)
        .copied()
        .chain(needed)
        .filter(|change| schedule.is_signed(change))
        .collect();
    sent.sort_unstable();
    sent.dedup();
    let owed = &mut peer.owed_signatures;
    owed.extend(sent);
    let carried: Vec<ChangeHash> = owed
        .drain(..owed.len().min(MAX_SIGNATURES_PER_MESSAGE))
        .collect();
    owed.truncate(MAX_OWED_SIGNATURES);
    let signatures = schedule
        .signatures_for(&carried)
        .into_iter()
        .map(WireSignature::from)
        .collect();
    Ok(Some((message, signatures)))
}

/// Takes the well-formed signatures of a message (see [`Schedule::accept_signatures`]).
fn accept(schedule: &mut Schedule, signatures: &[WireSignature]) -> Accepted {
    schedule.accept_signatures(signatures.iter().filter_map(WireSignature::parse).collect())
}

/// Signatures arrived that prove changes already held, with no change: they are made durable
/// like applied changes, and the members whose standing they changed are reported touched.
fn proven<P: Clone>(
    schedule: &mut Schedule,
    peer: &P,
    before: Vec<ChangeHash>,
    out: &mut Vec<Output<P>>,
) {
    let merged = schedule.absorb_since(&before);
    out.push(Output::Applied {
        peer: peer.clone(),
        merged,
        before,
    });
}

/// The most signatures owed to one peer (see [`Peer::owed_signatures`]): a whole schedule's
/// worth for a long-lived site; any beyond are sent again only with their changes.
const MAX_OWED_SIGNATURES: usize = 1 << 20;

/// A message Automerge made was over the limit (a whole schedule for a new member, or a long
/// absence): the changes the peer lacks are sent instead in causal order, as many as fit, and
/// the rest are marked unsent so that the next message of the session carries them. The peer
/// applies each part as it comes, so a catch-up of any size goes through in parts.
fn within_limit(
    doc: &mut automerge::AutoCommit,
    state: &mut sync::State,
    mut message: sync::Message,
    max_bytes: usize,
) -> Result<Vec<u8>, SessionError> {
    let their_heads: Vec<ChangeHash> = state
        .their_heads
        .iter()
        .flatten()
        .copied()
        .filter(|hash| doc.get_change_meta_by_hash(hash).is_some())
        .collect();
    let lacking = doc.get_changes(&their_heads);
    // The length of a chunk's length prefix is at most ten bytes.
    let mut room = max_bytes.saturating_sub(message.clone().encode().len());
    let mut chunks = Vec::new();
    for change in &lacking {
        let len = change.raw_bytes().len() + CHUNK_PREFIX_MAX_BYTES;
        if len > room {
            break;
        }
        room -= len;
        chunks.push(change.raw_bytes().to_vec());
    }
    if chunks.is_empty() {
        let len = lacking.first().map_or(0, |c| c.raw_bytes().len());
        return Err(SessionError::ChangeTooLarge {
            len,
            max: max_bytes,
        });
    }
    for change in &lacking[chunks.len()..] {
        state.sent_hashes.remove(&change.hash());
    }
    message.changes = sync::ChunkList::from(chunks);
    Ok(message.encode())
}

/// The most a change's length prefix takes in a sync message (a LEB128 of a `u64`).
const CHUNK_PREFIX_MAX_BYTES: usize = 10;

/// Resets a state to what survives persistence: the heads both sides share.
fn reset(state: &mut sync::State) {
    *state = sync::State::decode(&state.encode()).unwrap_or_default();
}

/// All the sync sessions of one node.
#[derive(Debug)]
pub struct Engine<P> {
    limits: Limits,
    peers: BTreeMap<P, Peer>,
    last_announced: Vec<ChangeHash>,
    /// The time of the input being handled.
    now: Millis,
}

impl<P: Ord + Clone + std::hash::Hash> Engine<P> {
    pub fn new(limits: Limits) -> Engine<P> {
        Engine {
            limits,
            peers: BTreeMap::new(),
            last_announced: Vec::new(),
            now: 0,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Handles one input and says what to do about it.
    pub fn handle(
        &mut self,
        schedule: &mut Schedule,
        now: Millis,
        input: Input<P>,
    ) -> Vec<Output<P>> {
        let mut out = Vec::new();
        self.now = now;
        // Anything a peer sends shows the link works: a retry waiting on it starts at once.
        let heard_from = match &input {
            Input::Request { peer, .. }
            | Input::Response { peer, .. }
            | Input::Announcement { peer, .. } => Some(peer.clone()),
            _ => None,
        };
        if let Some(p) = heard_from
            .as_ref()
            .and_then(|peer| self.peers.get_mut(peer))
        {
            if p.retry_at.is_some_and(|at| at > now) {
                p.retry_at = Some(now);
            }
        }
        self.handle_input(schedule, now, input, &mut out);
        if let Some(peer) = heard_from {
            let waiting = self
                .peers
                .get(&peer)
                .is_some_and(|p| p.retry_at.is_some() && p.outbound_session.is_none());
            if waiting {
                self.start(schedule, now, &peer, &mut out);
            }
        }
        out
    }

    fn handle_input(
        &mut self,
        schedule: &mut Schedule,
        now: Millis,
        input: Input<P>,
        out: &mut Vec<Output<P>>,
    ) {
        match input {
            Input::Connected {
                peer,
                saved,
                initiate,
            } => {
                let entry = self
                    .peers
                    .entry(peer.clone())
                    .or_insert_with(|| Peer::new(&saved));
                entry.connected = true;
                entry.failures = 0;
                entry.retry_at = None;
                reset(&mut entry.outbound);
                reset(&mut entry.inbound);
                if initiate {
                    self.start(schedule, now, &peer, out);
                } else {
                    // The catch-up interval counts from now, so the dialer's session comes first.
                    entry.last_session_start = Some(now);
                }
            }
            Input::Disconnected { peer } => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.connected = false;
                    p.pending = false;
                    for role in [Role::Outbound, Role::Inbound] {
                        self.fail(&peer, role, SessionError::Disconnected, out);
                    }
                }
                self.start_queued(schedule, now, out);
            }
            Input::Request { peer, request } => {
                self.respond(schedule, now, &peer, request, out);
            }
            Input::Response { peer, response } => {
                self.step(schedule, now, &peer, response, out);
                self.start_queued(schedule, now, out);
            }
            Input::RequestFailed { peer, reason } => {
                self.fail(&peer, Role::Outbound, SessionError::Transport(reason), out);
                self.start_queued(schedule, now, out);
            }
            Input::Announcement { peer, heads } => {
                let lacking = lacking(schedule, &heads) > 0;
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.announced = heads;
                    if lacking && p.connected {
                        self.start(schedule, now, &peer, out);
                    }
                }
            }
            Input::LocalChange => {
                self.announce(schedule, out);
                let connected: Vec<P> = self
                    .peers
                    .iter()
                    .filter(|(_, p)| p.connected)
                    .map(|(id, _)| id.clone())
                    .collect();
                for peer in connected {
                    self.start(schedule, now, &peer, out);
                }
            }
            Input::Tick => {
                let mut stuck = Vec::new();
                let mut due = Vec::new();
                for (id, p) in &self.peers {
                    // Ours waits for an answer; the peer's, for its next request.
                    let waits = [
                        (
                            Role::Outbound,
                            &p.outbound_session,
                            self.response_timeout(p),
                        ),
                        (
                            Role::Inbound,
                            &p.inbound_session,
                            self.limits.session_timeout_ms,
                        ),
                    ];
                    for (role, session, timeout) in waits {
                        if let Some(s) = session {
                            if now.saturating_sub(s.last_activity) >= timeout {
                                stuck.push((id.clone(), role, timeout));
                            }
                        }
                    }
                    let since = now.saturating_sub(p.last_session_start.unwrap_or(0));
                    let retry_due = p.retry_at.is_some_and(|at| now >= at);
                    if p.connected && (retry_due || since >= self.limits.catch_up_interval_ms) {
                        due.push(id.clone());
                    }
                }
                for (peer, role, timeout) in stuck {
                    self.fail(
                        &peer,
                        role,
                        SessionError::TimedOut { after_ms: timeout },
                        out,
                    );
                }
                for peer in due {
                    self.start(schedule, now, &peer, out);
                }
                self.start_queued(schedule, now, out);
            }
        }
    }

    /// How every peer known since start stands.
    pub fn report(&self, schedule: &mut Schedule) -> Vec<PeerReport<P>> {
        let total = schedule.change_count();
        self.peers
            .iter()
            .map(|(id, p)| {
                // Everything the peer is known to hold: the heads it announced, the heads it
                // last sent in a session, and those both sides last shared. A peer never loses
                // changes, so the union holds; only heads we hold ourselves can be counted from.
                let mut known: Vec<ChangeHash> = p
                    .announced
                    .iter()
                    .chain(p.outbound.their_heads.iter().flatten())
                    .chain(&p.outbound.shared_heads)
                    .copied()
                    .collect();
                known.sort();
                known.dedup();
                let unknown_to_us = shiftmesh_model::absent(schedule.doc(), &known);
                known.retain(|h| !unknown_to_us.contains(h));
                // Metadata only: `get_changes` would re-encode the changes from the op set,
                // which costs hundreds of milliseconds on a large schedule.
                let behind = if known.is_empty() {
                    total
                } else {
                    schedule.doc_mut().get_changes_meta(&known).len()
                };
                let ahead = lacking(schedule, &p.announced);
                PeerReport {
                    peer: id.clone(),
                    connected: p.connected,
                    last_sync_ms: p.last_sync,
                    behind,
                    ahead,
                }
            })
            .collect()
    }

    /// Forgets every session and resets every state, keeping connections: after the document
    /// was replaced or reloaded, what each state believed may no longer hold.
    pub fn reset_all(&mut self, schedule: &mut Schedule, now: Millis) -> Vec<Output<P>> {
        let mut out = Vec::new();
        let ids: Vec<P> = self.peers.keys().cloned().collect();
        for peer in &ids {
            if let Some(p) = self.peers.get_mut(peer) {
                p.outbound = sync::State::new();
                p.inbound = sync::State::new();
                p.outbound_session = None;
                p.inbound_session = None;
            }
        }
        self.last_announced.clear();
        self.announce(schedule, &mut out);
        for peer in &ids {
            if self.peers.get(peer).is_some_and(|p| p.connected) {
                self.start(schedule, now, peer, &mut out);
            }
        }
        out
    }

    /// How long a session of ours waits for an answer: longer after each failure in a row.
    fn response_timeout(&self, p: &Peer) -> Millis {
        let doubled = self
            .limits
            .response_timeout_ms
            .saturating_mul(1 << p.failures.min(16));
        doubled.min(self.limits.session_timeout_ms)
    }

    fn in_flight(&self) -> usize {
        self.peers
            .values()
            .filter(|p| p.outbound_session.is_some())
            .count()
    }

    /// Starts an outbound session with the peer, or queues one if a session is running or
    /// every slot is taken.
    fn start(&mut self, schedule: &mut Schedule, now: Millis, peer: &P, out: &mut Vec<Output<P>>) {
        let in_flight = self.in_flight();
        let Some(p) = self.peers.get_mut(peer) else {
            return;
        };
        if !p.connected {
            return;
        }
        if p.outbound_session.is_some() || in_flight >= self.limits.max_sessions_in_flight {
            p.pending = true;
            return;
        }
        if p.retry_at.take().is_some() {
            // Retries are bounded per minute, so a peer that fails every session costs at
            // most this many; beyond it the catch-up interval takes over.
            if now.saturating_sub(p.retry_minute_started) >= 60_000 {
                p.retry_minute_started = now;
                p.retries_this_minute = 0;
            }
            if p.retries_this_minute >= self.limits.max_retries_per_peer_per_minute {
                return;
            }
            p.retries_this_minute += 1;
        }
        p.pending = false;
        p.last_session_start = Some(now);
        reset(&mut p.outbound);
        // A reset state always has something to say (at least our heads); nothing to send
        // means nothing to do.
        // A state just reset holds nothing a peer said, so this cannot fail on peer input.
        if let Ok(Some((message, signatures))) =
            outgoing(schedule, p, Role::Outbound, self.limits.max_message_bytes)
        {
            let mut session = Session::new(now);
            session.rounds = 1;
            session.bytes_sent = message.len();
            p.outbound_session = Some(session);
            let want_signatures = schedule
                .wanted_signatures()
                .into_iter()
                .map(|hash| serde_bytes::ByteBuf::from(hash.0.to_vec()))
                .collect();
            out.push(Output::SendRequest {
                peer: peer.clone(),
                request: SyncRequest {
                    start: true,
                    message,
                    signatures,
                    want_signatures,
                },
            });
        }
    }

    fn start_queued(&mut self, schedule: &mut Schedule, now: Millis, out: &mut Vec<Output<P>>) {
        let queued: Vec<P> = self
            .peers
            .iter()
            .filter(|(_, p)| p.pending && p.connected && p.outbound_session.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        for peer in queued {
            if self.in_flight() >= self.limits.max_sessions_in_flight {
                break;
            }
            self.start(schedule, now, &peer, out);
        }
    }

    /// Checks, decodes and applies a peer's sync message with the state for `role`.
    fn receive(
        &mut self,
        schedule: &mut Schedule,
        peer: &P,
        role: Role,
        bytes: &[u8],
        signatures: &[WireSignature],
        out: &mut Vec<Output<P>>,
    ) -> Result<usize, SessionError> {
        let max = self.limits.max_message_bytes;
        if bytes.len() > max {
            return Err(SessionError::MessageTooLarge {
                len: bytes.len(),
                max,
            });
        }
        if signatures.len() > MAX_SIGNATURES_PER_MESSAGE {
            return Err(SessionError::Malformed(format!(
                "it carries {} signatures, more than the {MAX_SIGNATURES_PER_MESSAGE} allowed",
                signatures.len()
            )));
        }
        let message =
            sync::Message::decode(bytes).map_err(|e| SessionError::Malformed(e.to_string()))?;
        let Some(p) = self.peers.get_mut(peer) else {
            return Err(SessionError::Unexpected);
        };
        // Before the changes, so that the membership rule, which runs as they are applied,
        // counts the writes they prove; each is checked against its change once that is held.
        let accepted = accept(schedule, signatures);
        let before = schedule.heads();
        let state = p.state(role);
        let merged = if schedule.is_fresh() {
            receive_into_fresh(schedule, state, message)
        } else {
            receive_into(schedule, state, message)
        };
        let merged = match merged {
            Err(e) => {
                if e == SessionError::Panicked {
                    out.push(Output::ReloadDocument);
                }
                return Err(e);
            }
            Ok(None) => {
                if accepted.proving_held > 0 {
                    proven(schedule, peer, before, out);
                }
                return Ok(0);
            }
            Ok(Some(merged)) => merged,
        };
        let count = merged.new_changes;
        out.push(Output::Applied {
            peer: peer.clone(),
            merged,
            before,
        });
        self.announce(schedule, out);
        Ok(count)
    }

    /// Answers one request of a session the peer runs.
    fn respond(
        &mut self,
        schedule: &mut Schedule,
        now: Millis,
        peer: &P,
        request: SyncRequest,
        out: &mut Vec<Output<P>>,
    ) {
        let nothing = SyncResponse::nothing();
        let Some(p) = self.peers.get_mut(peer) else {
            // Requests come only over a connection, which registers the peer first.
            out.push(Output::Respond {
                peer: peer.clone(),
                response: nothing,
            });
            return;
        };
        if request.start {
            reset(&mut p.inbound);
        }
        let wanted = request.wanted();
        if request.start || p.inbound_session.is_none() {
            p.inbound_session = Some(Session::new(now));
        }
        if let Some(s) = p.inbound_session.as_mut() {
            s.rounds += 1;
            s.last_activity = now;
            s.bytes_received += request.message.len();
        }
        let rounds = p.inbound_session.as_ref().map_or(0, |s| s.rounds);
        if rounds > self.limits.max_rounds_per_session {
            let max = self.limits.max_rounds_per_session;
            self.fail(
                peer,
                Role::Inbound,
                SessionError::TooManyRounds { max },
                out,
            );
            out.push(Output::Respond {
                peer: peer.clone(),
                response: nothing,
            });
            return;
        }
        match self.receive(
            schedule,
            peer,
            Role::Inbound,
            &request.message,
            &request.signatures,
            out,
        ) {
            Err(error) => {
                self.fail(peer, Role::Inbound, error, out);
                out.push(Output::Respond {
                    peer: peer.clone(),
                    response: nothing,
                });
            }
            Ok(new_changes) => {
                let p = self.peers.get_mut(peer).expect("the peer was found above");
                let reply =
                    match outgoing(schedule, p, Role::Inbound, self.limits.max_message_bytes) {
                        Ok(reply) => reply,
                        Err(error) => {
                            self.fail(peer, Role::Inbound, error, out);
                            out.push(Output::Respond {
                                peer: peer.clone(),
                                response: SyncResponse::nothing(),
                            });
                            return;
                        }
                    };
                let session = p.inbound_session.as_mut().expect("a session was set above");
                session.new_changes += new_changes;
                session.bytes_sent += reply.as_ref().map_or(0, |(message, _)| message.len());
                let done = reply.is_none();
                let (message, mut signatures) = match reply {
                    Some((message, signatures)) => (Some(message), signatures),
                    None => (None, Vec::new()),
                };
                // The signatures the peer asked for come with the answer, within its bound.
                let room = MAX_SIGNATURES_PER_MESSAGE.saturating_sub(signatures.len());
                signatures.extend(
                    schedule
                        .signatures_for(&wanted)
                        .into_iter()
                        .take(room)
                        .map(WireSignature::from),
                );
                out.push(Output::Respond {
                    peer: peer.clone(),
                    response: SyncResponse {
                        message,
                        signatures,
                        not_yet: false,
                    },
                });
                // The initiator ends the session when it has nothing more to send; we cannot
                // know that here, so an answer of nothing is where our side is complete.
                if done {
                    self.complete(peer, Role::Inbound, now, out);
                }
            }
        }
    }

    /// Takes the responder's answer and sends the next request, or ends the session.
    fn step(
        &mut self,
        schedule: &mut Schedule,
        now: Millis,
        peer: &P,
        response: SyncResponse,
        out: &mut Vec<Output<P>>,
    ) {
        let Some(p) = self.peers.get_mut(peer) else {
            return;
        };
        let Some(session) = p.outbound_session.as_mut() else {
            out.push(Output::SessionEnded {
                peer: peer.clone(),
                role: Role::Outbound,
                outcome: Outcome::Failed(SessionError::Unexpected),
            });
            return;
        };
        session.last_activity = now;
        if response.not_yet {
            // No retry: the peer starts the session itself once it has let us through.
            p.outbound_session = None;
            reset(&mut p.outbound);
            out.push(Output::SessionEnded {
                peer: peer.clone(),
                role: Role::Outbound,
                outcome: Outcome::Failed(SessionError::NotYet),
            });
            return;
        }
        if response.message.is_none() && !response.signatures.is_empty() {
            // Only the signatures asked for: no changes come with them.
            let before = schedule.heads();
            let signatures = &response.signatures;
            if accept(
                schedule,
                &signatures[..signatures.len().min(MAX_SIGNATURES_PER_MESSAGE)],
            )
            .proving_held
                > 0
            {
                proven(schedule, peer, before, out);
            }
        }
        if let Some(bytes) = &response.message {
            session.bytes_received += bytes.len();
            match self.receive(
                schedule,
                peer,
                Role::Outbound,
                bytes,
                &response.signatures,
                out,
            ) {
                Ok(count) => {
                    if let Some(s) = self
                        .peers
                        .get_mut(peer)
                        .and_then(|p| p.outbound_session.as_mut())
                    {
                        s.new_changes += count;
                    }
                }
                Err(error) => {
                    self.fail(peer, Role::Outbound, error, out);
                    return;
                }
            }
        }
        let max = self.limits.max_rounds_per_session;
        let p = self.peers.get_mut(peer).expect("the peer was found above");
        let next = match outgoing(schedule, p, Role::Outbound, self.limits.max_message_bytes) {
            Ok(next) => next,
            Err(error) => {
                self.fail(peer, Role::Outbound, error, out);
                return;
            }
        };
        match next {
            None => self.complete(peer, Role::Outbound, now, out),
            Some((message, signatures)) => {
                let session = p.outbound_session.as_mut().expect("checked above");
                if session.rounds >= max {
                    self.fail(
                        peer,
                        Role::Outbound,
                        SessionError::TooManyRounds { max },
                        out,
                    );
                    return;
                }
                session.rounds += 1;
                session.bytes_sent += message.len();
                out.push(Output::SendRequest {
                    peer: peer.clone(),
                    request: SyncRequest {
                        start: false,
                        message,
                        signatures,
                        want_signatures: Vec::new(),
                    },
                });
            }
        }
    }

    fn complete(&mut self, peer: &P, role: Role, now: Millis, out: &mut Vec<Output<P>>) {
        let Some(p) = self.peers.get_mut(peer) else {
            return;
        };
        let Some(session) = p.take_session(role) else {
            return;
        };
        if role == Role::Outbound {
            p.failures = 0;
            p.retry_at = None;
        }
        p.last_sync = Some(now);
        let state = p.state(role).encode();
        if p.saved.get(&role) != Some(&state) {
            p.saved.insert(role, state.clone());
            out.push(Output::SaveState {
                peer: peer.clone(),
                role,
                state,
            });
        }
        out.push(Output::SessionEnded {
            peer: peer.clone(),
            role,
            outcome: Outcome::Completed {
                rounds: session.rounds,
                bytes_sent: session.bytes_sent,
                bytes_received: session.bytes_received,
                new_changes: session.new_changes,
                started_at: session.started_at,
            },
        });
    }

    /// Abandons the peer's session in `role` (if any) and resets that state.
    fn fail(&mut self, peer: &P, role: Role, error: SessionError, out: &mut Vec<Output<P>>) {
        let Some(p) = self.peers.get_mut(peer) else {
            return;
        };
        let had = p.take_session(role);
        reset(p.state(role));
        if role == Role::Outbound && !matches!(error, SessionError::Disconnected) {
            p.failures = p.failures.saturating_add(1);
            p.retry_at = Some(self.now + retry_delay(&self.limits, p.failures, peer, self.now));
        }
        if had.is_some() || !matches!(error, SessionError::Disconnected) {
            out.push(Output::SessionEnded {
                peer: peer.clone(),
                role,
                outcome: Outcome::Failed(error),
            });
        }
    }

    fn announce(&mut self, schedule: &mut Schedule, out: &mut Vec<Output<P>>) {
        let heads = schedule.heads();
        if heads != self.last_announced {
            self.last_announced = heads.clone();
            out.push(Output::Announce { heads });
        }
    }
}
