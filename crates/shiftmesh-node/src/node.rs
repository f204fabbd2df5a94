//! The running node. One task owns the session (store and schedule); the network task and
//! the control channel's connections talk to it through bounded channels, so the schedule is
//! never shared and never locked.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use automerge::ChangeHash;
use serde::Serialize;
use shiftmesh_model::{Collection, Edit, Merged};
use shiftmesh_net::{Command, Event, Multiaddr, Net, NetConfig, NetError, PeerId};
use shiftmesh_rules::{Input as RulesInput, Validator};
use shiftmesh_sync::{
    Announcement, Engine, Input, JoinRequest, JoinResponse, Limits, Outcome, Output, SavedStates,
    SessionError, SyncResponse,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, oneshot};

use shiftmesh_http::Hub;

use crate::control::{
    socket_path, ControlReply, ControlRequest, Failure, MAX_CONTROL_REQUEST_BYTES,
};
use crate::events;
use crate::hold::{monotonic_ms, MembershipFirst};
use crate::membership::{self, PendingPeers};
use crate::ui;
use crate::NodeError;
use shiftmesh_app::session::{write_index_snapshot, Session};
use shiftmesh_app::{AppError, Caller, Context, NodeLink, PeerStatus, Reply, Request, Status};

/// Where a node listens when not told: every interface, on a fixed port so invites stay
/// valid across restarts. When it is taken, an ephemeral port is used instead.
pub const DEFAULT_LISTEN: &str = "/ip4/0.0.0.0/tcp/4780";
const FALLBACK_LISTEN: &str = "/ip4/0.0.0.0/tcp/0";
/// Commands from the control channel waiting for the document task.
pub const CONTROL_QUEUE_LEN: usize = 64;
/// A change touching more entities than this is reported as one summary event.
pub const MAX_ENTITY_EVENTS_PER_CHANGE: usize = 1000;
/// How often sessions are checked for timeouts and catch-up.
pub const TICK_MS: u64 = 1000;

#[derive(Clone, Debug, Default)]
pub struct NodeOptions {
    pub data_dir: PathBuf,
    pub listen: Vec<String>,
    pub peers: Vec<String>,
    pub mdns: bool,
    /// Where the page and the HTTP API listen; None: nowhere.
    pub ui: Option<std::net::SocketAddr>,
    /// The data directory's owner (the OS user running the node): the author of what the
    /// owner's login link does.
    pub owner: String,
    /// When and where the node writes backups by itself; None: it does not.
    pub backup: Option<shiftmesh_app::config::BackupPolicy>,
}

/// The largest clock offset from a peer taken as a clock at all (ten years, in ms).
pub const CLOCK_OFFSET_PLAUSIBLE_MAX_MS: u64 = 10 * 366 * 24 * 3600 * 1000;

/// How often, at most, the node records that a peer was heard from.
pub const PEER_SEEN_RECORD_EVERY_MS: i64 = 60_000;

/// How long after it starts the node first looks whether a backup is due (or the interval,
/// if shorter): a node starting with the machine serves first and saves a copy after.
pub const BACKUP_FIRST_CHECK_DELAY_SECS: u64 = 300;

/// The longest the node waits between looks at whether a scheduled backup is due.
pub const BACKUP_CHECK_MAX_SECS: u64 = 60;

/// Where the page and the HTTP API listen when not told: this machine only.
pub const DEFAULT_UI_PORT: u16 = 4781;

pub fn default_ui_address() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], DEFAULT_UI_PORT))
}

/// A request for the document task, from the control socket or the HTTP API: who asks, what,
/// and where the answer goes.
pub type ControlMessage = shiftmesh_http::Call;

/// Runs the node until SIGINT or SIGTERM; then flushes and returns.
pub fn run(options: NodeOptions) -> Result<(), NodeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(NodeError::Runtime)?;
    runtime.block_on(serve(options))
}

fn parse_addresses(list: &[String]) -> Result<Vec<Multiaddr>, NodeError> {
    list.iter()
        .map(|a| {
            a.parse()
                .map_err(|e: shiftmesh_net::AddressError| NodeError::Address {
                    address: a.clone(),
                    reason: e.to_string(),
                })
        })
        .collect()
}

fn start_net(options: &NodeOptions, session: &Session) -> Result<Net, NodeError> {
    let identity = &session.identity;
    let remembered = session
        .store
        .known_peers()?
        .into_iter()
        .filter_map(|(id, record)| {
            let peer: PeerId = id.parse().ok()?;
            let addresses = record
                .addresses
                .iter()
                .filter_map(|a| a.parse().ok())
                .collect();
            Some((peer, addresses))
        })
        .collect();
    let mut config = NetConfig {
        keypair: identity.keypair.clone(),
        site_key: identity.site_key.0,
        listen: parse_addresses(&options.listen)?,
        static_peers: parse_addresses(&options.peers)?,
        remembered,
        mdns: options.mdns,
        trust: membership::trust_list(session),
    };
    if !config.listen.is_empty() {
        return Ok(shiftmesh_net::start(config)?);
    }
    config.listen = parse_addresses(&[DEFAULT_LISTEN.to_owned()])?;
    match shiftmesh_net::start(config.clone()) {
        Err(NetError::Listen { address, reason }) => {
            tracing::warn!("cannot listen on {address} ({reason}); using an ephemeral port");
            config.listen = parse_addresses(&[FALLBACK_LISTEN.to_owned()])?;
            Ok(shiftmesh_net::start(config)?)
        }
        other => Ok(other?),
    }
}

/// The environment variable that lowers (or raises) the largest sync message accepted, in
/// bytes; tests use it to send an oversized message without sending 64 MiB.
pub const MAX_SYNC_MESSAGE_ENV: &str = "SHIFTMESH_MAX_SYNC_MESSAGE_BYTES";

fn limits() -> Limits {
    let mut limits = Limits::default();
    if let Some(max) = std::env::var(MAX_SYNC_MESSAGE_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
    {
        limits.max_message_bytes = max;
    }
    limits
}

/// How long a starting node waits for a one-off command that holds the store to finish.
pub const STORE_LOCK_WAIT_MS: u64 = 5_000;
const STORE_LOCK_RETRY_MS: u64 = 50;

/// Opens the session, waiting briefly while another process (a CLI command that started just
/// before the node) holds the store.
async fn open_session(data_dir: &std::path::Path) -> Result<Session, NodeError> {
    let mut waited = 0;
    loop {
        match Session::open(data_dir) {
            Err(AppError::Store(shiftmesh_store::StoreError::Locked { .. }))
                if waited < STORE_LOCK_WAIT_MS =>
            {
                tokio::time::sleep(Duration::from_millis(STORE_LOCK_RETRY_MS)).await;
                waited += STORE_LOCK_RETRY_MS;
            }
            other => return Ok(other?),
        }
    }
}

async fn serve(options: NodeOptions) -> Result<(), NodeError> {
    let mut session = open_session(&options.data_dir).await?;
    session.write_index_on_persist = false;
    session.record_history_on_persist = false;
    let validator = validate_all(&mut session);
    let (control_tx, control_rx) = mpsc::channel(CONTROL_QUEUE_LEN);
    // Event ids start at this run's start time, so an id from an earlier run never passes
    // for one of this run (a page resuming after a restart is told to fetch again).
    let hub = Hub::new(u64::try_from(shiftmesh_app::session::now_ms()).unwrap_or(0) * 1000);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let ui = match options.ui {
        Some(address) => Some(
            ui::start(ui::Setup {
                address,
                explicit: address != default_ui_address(),
                session: &session,
                calls: control_tx.clone(),
                hub: hub.clone(),
                stopping: stop_rx,
                owner: options.owner.clone(),
            })
            .await?,
        ),
        None => None,
    };
    let net = start_net(&options, &session)?;
    let members = others(&membership::trust_list(&session), net.peer_id);
    // Every announcement carries our heads from the first connection on: a node back from
    // being away learns from them what it must hold to know what we know.
    net.send(Command::Announce(Announcement::new(
        &session.schedule.heads(),
    )));
    let socket = socket_path(&options.data_dir);
    let listener = bind_control(&socket)?;
    let links = ui.as_ref().map(|ui| ui.links.clone());
    tokio::spawn(accept_control(listener, control_tx, hub.clone(), links));
    tracing::info!(
        "node {} ({}) started on {}; site key fingerprint {}; {} changes",
        session.identity.config.node_name,
        net.peer_id,
        options.data_dir.display(),
        net.fingerprint,
        session.schedule.change_count(),
    );
    let mut node = Node {
        session,
        engine: Engine::new(limits()),
        validator,
        net,
        events: hub,
        serving: Serving {
            listen: Vec::new(),
            ui: ui.as_ref().map(|ui| ui.links.base.clone()),
        },
        peers_seen: BTreeMap::new(),
        pending: PendingPeers::default(),
        joining: JoinState::Idle,
        next_backup_check_ms: options.backup.as_ref().map_or(0, |policy| {
            let delay = policy
                .every
                .min(Duration::from_secs(BACKUP_FIRST_CHECK_DELAY_SECS));
            shiftmesh_app::session::now_ms() + delay.as_millis() as i64
        }),
        backup: options.backup.clone(),
        history_left_at: None,
        first: MembershipFirst::new(monotonic_ms()),
        members,
        trim: crate::memory::Trim::new(monotonic_ms()),
    };
    // Under systemd (Type=notify) the unit counts as started only now, when requests are
    // answered; elsewhere this does nothing.
    if let Err(e) = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]) {
        tracing::warn!("could not tell systemd the node is ready: {e}");
    }
    let result = node.run(control_rx).await;
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    let _ = std::fs::remove_file(&socket);
    node.shutdown();
    // Open pages' event streams end, and the server stops taking requests.
    let _ = stop_tx.send(true);
    if let Some(ui) = ui {
        ui.stopped().await;
    }
    result
}

/// Binds the control socket, readable and writable only by the owner. A socket file left by
/// a node that was killed is removed first (sled's lock, taken above, proves no node runs).
fn bind_control(path: &std::path::Path) -> Result<UnixListener, NodeError> {
    let error = |source| NodeError::Control {
        path: path.to_owned(),
        source,
    };
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(error(e)),
    }
    let listener = UnixListener::bind(path).map_err(error)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(error)?;
    Ok(listener)
}

async fn accept_control(
    listener: UnixListener,
    control: mpsc::Sender<ControlMessage>,
    events: Hub,
    links: Option<ui::Links>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        // The socket's mode already keeps other users out; their credentials are checked too,
        // in case the mode was changed under us.
        let uid = match stream.peer_cred() {
            Ok(cred) if crate::control::may_talk_to(rustix::process::Uid::from_raw(cred.uid())) => {
                rustix::process::Uid::from_raw(cred.uid())
            }
            Ok(cred) => {
                tracing::warn!(
                    "refused a control connection from user id {}: only the data directory's owner may use its node",
                    cred.uid()
                );
                continue;
            }
            Err(e) => {
                tracing::debug!("control connection without credentials: {e}");
                continue;
            }
        };
        let control = control.clone();
        let events = events.clone();
        let links = links.clone();
        tokio::spawn(async move {
            // The person at the other end is this OS account, whatever name it gives (`--as`).
            // The lookup may ask a directory service, so it runs off the runtime's workers.
            let account = tokio::task::spawn_blocking(move || crate::control::account_name(uid))
                .await
                .unwrap_or_else(|_| format!("uid {}", uid.as_raw()));
            if let Err(e) = serve_client(stream, account, control, events, links).await {
                tracing::debug!("control client: {e}");
            }
        });
    }
}

async fn serve_client(
    stream: UnixStream,
    account: String,
    control: mpsc::Sender<ControlMessage>,
    events: Hub,
    links: Option<ui::Links>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    BufReader::new(read.take(MAX_CONTROL_REQUEST_BYTES as u64))
        .read_line(&mut line)
        .await?;
    let request: ControlRequest = match serde_json::from_str(&line) {
        Ok(r) => r,
        Err(e) => {
            let reply = ControlReply::Failed(Failure {
                message: format!(
                    "the node could not read the request ({e}); is the node a different version of shiftmesh? restart it"
                ),
                exit_code: 1,
            });
            return write_line(&mut write, &reply).await;
        }
    };
    match request {
        ControlRequest::Run {
            mut caller,
            request,
        } => {
            caller.account = Some(account);
            let (tx, rx) = oneshot::channel();
            if control.send((caller, *request, tx)).await.is_err() {
                return Ok(());
            }
            if let Ok(answer) = rx.await {
                let reply = match answer {
                    Ok(reply) => ControlReply::Done(Box::new(reply)),
                    Err(e) => ControlReply::Failed(Failure::from(&e)),
                };
                write_line(&mut write, &reply).await?;
            }
        }
        ControlRequest::LoginLink => {
            let reply = match links {
                Some(links) => {
                    let (url, expires) = links.new_link();
                    ControlReply::Link { url, expires }
                }
                None => ControlReply::Failed(Failure {
                    message: "this node serves no page (it was started with --no-ui)".into(),
                    exit_code: 1,
                }),
            };
            write_line(&mut write, &reply).await?;
        }
        ControlRequest::Events => {
            let mut live = events.follow(None).live;
            loop {
                let line = match live.recv().await {
                    Ok(event) => event.json.to_string(),
                    Err(broadcast::error::RecvError::Lagged(lost)) => events::lost(lost),
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                };
                write.write_all(line.as_bytes()).await?;
                write.write_all(b"\n").await?;
            }
        }
    }
    Ok(())
}

async fn write_line(
    write: &mut tokio::net::unix::OwnedWriteHalf,
    value: &impl Serialize,
) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    write.write_all(&bytes).await
}

/// This node and its peers as they stand: computed only when a command asks for it (`status`,
/// `peers`, `invite`), never on the path of an ordinary edit.
/// What a request running on the node's session may ask of the node itself.
struct Link<'n> {
    engine: &'n mut Engine<PeerId>,
    validator: &'n Validator,
    net: &'n Net,
    serving: &'n Serving,
    peers_seen: &'n BTreeMap<PeerId, PeerSeen>,
    pending: &'n mut PendingPeers,
    first: &'n MembershipFirst,
}

impl NodeLink for Link<'_> {
    fn status(&mut self, session: &mut Session) -> Status {
        status_of(self, session)
    }

    fn forget_pending(&mut self, peer: &str) -> bool {
        peer.parse::<PeerId>()
            .is_ok_and(|peer| self.pending.forget(&peer))
    }
}

fn status_of(link: &mut Link<'_>, session: &mut Session) -> Status {
    let reports = link.engine.report(&mut session.schedule);
    let offline = Status::offline(
        &session.identity,
        &session.store,
        session.schedule.index(),
        link.net.fingerprint.clone(),
    );
    let mut peers: BTreeMap<String, PeerStatus> = offline
        .peers
        .into_iter()
        .map(|p| (p.peer_id.clone(), p))
        .collect();
    for (peer, p) in link.pending.iter() {
        let id = peer.to_string();
        let entry = peers
            .entry(id.clone())
            .or_insert_with(|| PeerStatus::new(id));
        if entry.state == "unknown" {
            entry.state = "pending".into();
            entry.name = entry.name.take().or_else(|| p.name.clone());
        }
        if !entry.addresses.contains(&p.address) {
            entry.addresses.push(p.address.clone());
        }
    }
    for r in reports {
        let id = r.peer.to_string();
        let entry = peers
            .entry(id.clone())
            .or_insert_with(|| PeerStatus::new(id));
        entry.connected = r.connected;
        entry.last_sync = r.last_sync_ms.and_then(|ms| {
            jiff::Timestamp::from_millisecond(ms as i64)
                .ok()
                .map(|t| t.to_string())
        });
        entry.behind = Some(r.behind);
        entry.ahead = Some(r.ahead);
    }
    // Peers the engine has not met (held, or refusing us as soon as we connect) included.
    for (peer, seen) in link.peers_seen.iter() {
        let Some(entry) = peers.get_mut(&peer.to_string()) else {
            continue;
        };
        if let Some(address) = seen
            .address
            .as_ref()
            .filter(|a| !entry.addresses.contains(a))
        {
            entry.addresses.push(address.clone());
        }
        entry.clock_offset_ms = seen.clock_offset_ms;
        entry.refuses_us = seen.refuses_us;
    }
    for (peer, claimers) in link.first.held() {
        let id = peer.to_string();
        let entry = peers
            .entry(id.clone())
            .or_insert_with(|| PeerStatus::new(id));
        entry.connected = true;
        entry.held_until_synced_with = Some(claimers.iter().map(PeerId::to_string).collect());
    }
    let index = session.schedule.index();
    let open = link.validator.open_count(&index.acks);
    Status {
        running: true,
        peer_id: link.net.peer_id.to_string(),
        name: session.identity.config.node_name.clone(),
        site_key_fingerprint: link.net.fingerprint.clone(),
        listen: link.serving.listen.clone(),
        ui: link.serving.ui.clone(),
        open_conflicts: Some(open),
        membership: offline.membership,
        peers: peers.into_values().collect(),
    }
}

/// How long after a join request went unanswered (a timeout, a dropped connection) it is
/// sent again.
pub const JOIN_RETRY_MS: i64 = 5_000;

/// Where this machine's own join stands, while it runs.
#[derive(Debug, PartialEq, Eq)]
enum JoinState {
    Idle,
    /// A join request is on its way to the inviter.
    Asking,
    /// The last request went unanswered; ask the inviter again at this time (ms).
    RetryAt(i64, PeerId),
}

/// Engine inputs slower than this are logged at debug level.
const SLOW_INPUT: Duration = Duration::from_millis(50);

fn input_kind(input: &Input<PeerId>) -> &'static str {
    match input {
        Input::Connected { .. } => "a connection",
        Input::Disconnected { .. } => "a disconnection",
        Input::Request { .. } => "a request",
        Input::Response { .. } => "a response",
        Input::RequestFailed { .. } => "a failed request",
        Input::Announcement { .. } => "an announcement",
        Input::LocalChange => "a local change",
        Input::Tick => "a tick",
    }
}

fn validate_all(session: &mut Session) -> Validator {
    let concurrent = session.schedule.all_concurrent_values().unwrap_or_default();
    let schedule = &session.schedule;
    Validator::new(&RulesInput::new(
        schedule.index(),
        schedule.zone(),
        &concurrent,
    ))
}

/// The members of `list` but `me`.
fn others(list: &shiftmesh_net::TrustList, me: PeerId) -> BTreeSet<PeerId> {
    list.members.iter().copied().filter(|p| *p != me).collect()
}

fn now_ms() -> u64 {
    u64::try_from(shiftmesh_app::session::now_ms()).unwrap_or(0)
}

/// What the node last learned of a peer it was connected to.
#[derive(Debug, Default)]
struct PeerSeen {
    /// The address it was last connected at (None: heard of before any connection).
    address: Option<String>,
    /// Its clock minus ours when its last announcement arrived (ms; the network's delay on a
    /// LAN is far below what this is for).
    clock_offset_ms: Option<i64>,
    /// It closed our connections as soon as they opened, several times in a row, and has not
    /// sent us anything since.
    refuses_us: bool,
    /// When the store last recorded it as seen, on its current connection (None: not yet).
    seen_recorded_ms: Option<i64>,
}

/// Where this node can be reached: its network addresses and its page.
struct Serving {
    listen: Vec<String>,
    /// Where the page is served (its base URL), if it is.
    ui: Option<String>,
}

struct Node {
    session: Session,
    engine: Engine<PeerId>,
    validator: Validator,
    net: Net,
    events: Hub,
    serving: Serving,
    /// Where each peer was last connected, and how far its clock is from ours.
    peers_seen: BTreeMap<PeerId, PeerSeen>,
    /// Peers with the site key that are not members.
    pending: PendingPeers,
    joining: JoinState,
    backup: Option<shiftmesh_app::config::BackupPolicy>,
    /// The heads at which recording the history was left (deferred or failed), if it was.
    history_left_at: Option<Vec<automerge::ChangeHash>>,
    /// When to look again whether a scheduled backup is due (ms since the epoch).
    next_backup_check_ms: i64,
    /// Which connections wait until the membership is learned from other members.
    first: MembershipFirst,
    /// The members this node trusts, itself left out: the trust list the network enforces,
    /// kept with it (see [`Node::trust_changed`]) rather than worked out on every event.
    members: BTreeSet<PeerId>,
    /// When to give the memory large passes freed back to the system.
    trim: crate::memory::Trim,
}

impl Node {
    async fn run(&mut self, mut control: mpsc::Receiver<ControlMessage>) -> Result<(), NodeError> {
        use tokio::signal::unix::{signal, SignalKind};
        let signal_error = |e| NodeError::Runtime(e);
        let mut interrupt = signal(SignalKind::interrupt()).map_err(signal_error)?;
        let mut terminate = signal(SignalKind::terminate()).map_err(signal_error)?;
        let mut tick = tokio::time::interval(Duration::from_millis(TICK_MS));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                event = self.net.events.recv() => match event {
                    Some(event) => self.net_event(event),
                    None => {
                        tracing::error!("the network task stopped; shutting down");
                        return Ok(());
                    }
                },
                Some((caller, request, reply)) = control.recv() => {
                    // The client has its answer (the change is durable) before the change is
                    // validated and sent on.
                    let (answer, changed) = self.execute(caller, request);
                    let _ = reply.send(answer);
                    if let Some(before) = changed {
                        self.after_local_change(&before);
                    }
                }
                _ = tick.tick() => {
                    self.record_history();
                    self.scheduled_backup();
                    self.retry_join();
                    self.release_held();
                    self.input(Input::Tick, None);
                    if self.trim.due(monotonic_ms()) {
                        crate::memory::give_back();
                    }
                }
                _ = interrupt.recv() => break,
                _ = terminate.recv() => break,
            }
        }
        Ok(())
    }

    /// Records the history of new changes, off the paths people wait on. What it leaves (a
    /// bulk change, a long past) or fails on is not tried again until the schedule changes; a
    /// read of the history records it then.
    fn record_history(&mut self) {
        let heads = self.session.schedule.heads();
        if self.history_left_at.as_ref() == Some(&heads) {
            return;
        }
        let session = &mut self.session;
        let outcome = shiftmesh_model::guard::guard_panics(|| {
            session.record_history(shiftmesh_app::NODE_RECORD_LIMIT)
        });
        match outcome {
            Some(true) => self.history_left_at = None,
            Some(false) => self.history_left_at = Some(heads),
            None => {
                tracing::error!(
                    "recording the history failed inside Automerge (a bug); it is left until the schedule changes"
                );
                self.history_left_at = Some(heads);
            }
        }
    }

    /// A peer sent us something over a connection (a sync message, an announcement): it
    /// takes us, whatever it did before.
    fn talked_with(&mut self, peer: PeerId) {
        if let Some(seen) = self.peers_seen.get_mut(&peer) {
            seen.refuses_us = false;
        }
        self.heard_from(peer);
    }

    /// Records (in the store at most once a minute per peer) that a member was heard from, for
    /// `doctor`.
    fn heard_from(&mut self, peer: PeerId) {
        let now = shiftmesh_app::session::now_ms();
        let seen = self.peers_seen.entry(peer).or_default();
        if seen
            .seen_recorded_ms
            .is_some_and(|last| now.saturating_sub(last) < PEER_SEEN_RECORD_EVERY_MS)
        {
            return;
        }
        seen.seen_recorded_ms = Some(now);
        if let Err(e) = self.session.store.mark_seen(&peer.to_string(), now) {
            tracing::warn!("could not record when {peer} was seen: {e}");
        }
    }

    /// Writes a backup when one is due and prunes old ones (see `shiftmesh_app::backups`).
    fn scheduled_backup(&mut self) {
        let Some(policy) = &self.backup else {
            return;
        };
        let now = shiftmesh_app::session::now_ms();
        if now < self.next_backup_check_ms {
            return;
        }
        let check_every = policy.every.min(Duration::from_secs(BACKUP_CHECK_MAX_SECS));
        self.next_backup_check_ms = now + check_every.as_millis() as i64;
        match shiftmesh_app::backups::run_scheduled(&mut self.session, policy, now) {
            Ok(run) => {
                if let Some(path) = run.written {
                    tracing::info!("wrote the scheduled backup {}", path.display());
                }
                for path in run.pruned {
                    tracing::info!("removed the old backup {}", path.display());
                }
            }
            Err(e) => tracing::warn!(
                "could not write the scheduled backup into {}: {e}",
                policy.dir.display()
            ),
        }
    }

    fn shutdown(&mut self) {
        let s = &mut self.session;
        if let Err(e) = s.persist() {
            tracing::error!("could not flush the store on shutdown: {e}");
        }
        if let Err(e) = write_index_snapshot(&mut s.store, &mut s.schedule) {
            tracing::warn!("could not write the index snapshot: {e}");
        }
        tracing::info!("node stopped; every change is on disk");
    }

    fn emit(&self, event: serde_json::Value) {
        // No follower is not an error.
        self.events.send(event.to_string());
    }

    fn net_event(&mut self, event: Event) {
        match event {
            Event::Listening { address } => self.serving.listen.push(address.to_string()),
            Event::Connected {
                peer,
                address,
                dialer,
            } => {
                self.peers_seen.entry(peer).or_default().address = Some(address.to_string());
                self.pending.forget(&peer);
                self.heard_from(peer);
                self.emit(events::peer(
                    "peer-connected",
                    &peer.to_string(),
                    Some(&address.to_string()),
                ));
                if self
                    .first
                    .connected(peer, dialer, monotonic_ms(), &self.members)
                {
                    // The side that dialed starts the first session, so a fresh machine is
                    // not sent the schedule twice.
                    self.engine_connected(peer, dialer);
                } else {
                    tracing::debug!(
                        "holding {peer} until the members this node knows of have said whom they judge revoked"
                    );
                }
            }
            Event::Disconnected { peer } => {
                if let Some(seen) = self.peers_seen.get_mut(&peer) {
                    seen.seen_recorded_ms = None;
                }
                self.emit(events::peer("peer-disconnected", &peer.to_string(), None));
                self.first.disconnected(&peer);
                self.input(Input::Disconnected { peer }, None);
                self.release_held();
            }
            Event::Request { peer, id, request } => {
                self.talked_with(peer);
                if self.first.is_deferred(&peer) {
                    // Nothing is exchanged with a held peer; we start a session once it is
                    // let go.
                    self.first.turned_away(&peer);
                    self.net.send(Command::Respond {
                        id,
                        response: SyncResponse::not_yet(),
                    });
                } else {
                    self.input(Input::Request { peer, request }, Some(id))
                }
            }
            Event::Response { peer, response } => {
                self.talked_with(peer);
                if !self.first.is_deferred(&peer) {
                    self.input(Input::Response { peer, response }, None)
                }
            }
            Event::RequestFailed { peer, reason } => {
                self.input(Input::RequestFailed { peer, reason }, None)
            }
            Event::Announcement { peer, announcement } => {
                self.talked_with(peer);
                // A clock decades off is not a clock (or not an honest one): it is left out.
                let offset = announcement
                    .sent_at_ms
                    .map(|sent_at| sent_at.saturating_sub(shiftmesh_app::session::now_ms()))
                    .filter(|offset| offset.unsigned_abs() <= CLOCK_OFFSET_PLAUSIBLE_MAX_MS);
                if let Some(offset) = offset {
                    self.peers_seen.entry(peer).or_default().clock_offset_ms = Some(offset);
                }
                self.announced(peer, &announcement);
            }
            Event::Pending { peer, address } => {
                let now = shiftmesh_app::session::now_ms();
                self.pending.seen(peer, address.to_string(), now);
                self.ask_to_join(peer);
            }
            Event::JoinRequest { peer, id, request } => {
                let response = self.join_requested(peer, request);
                self.net.send(Command::JoinRespond { id, response });
            }
            Event::JoinAnswered { peer, answer } => self.join_answered(peer, answer),
            Event::Refusing { peer } => {
                self.peers_seen.entry(peer).or_default().refuses_us = true;
            }
            Event::Learned { peer, address } => {
                if let Err(e) = self
                    .session
                    .store
                    .remember_address(&peer.to_string(), &address.to_string())
                {
                    tracing::warn!("could not remember {peer}'s address: {e}");
                }
            }
        }
    }

    /// Takes in whom a member judges revoked (holding those until it was synced with) and
    /// its heads (a sync starts if it has what we lack).
    fn announced(&mut self, peer: PeerId, announcement: &Announcement) {
        let revoked: Vec<PeerId> = announcement
            .revoked
            .iter()
            .filter_map(|bytes| PeerId::from_bytes(bytes).ok())
            .collect();
        let heads = announcement.heads().ok();
        let doc = self.session.schedule.doc();
        let taken = self.first.announced(
            peer,
            heads.clone().unwrap_or_default(),
            revoked,
            monotonic_ms(),
            &self.members,
            |heads| shiftmesh_model::absent(doc, heads).is_empty(),
        );
        for held in taken {
            tracing::info!(
                "{peer} judges {held} revoked: no sync with {held} until this node has synced with {peer}"
            );
            self.input(Input::Disconnected { peer: held }, None);
        }
        if let Some(heads) = heads.filter(|_| !self.first.is_deferred(&peer)) {
            self.input(Input::Announcement { peer, heads }, None);
        }
        self.release_held();
    }

    /// Hands the sync engine the held connections that may go now (and are still members).
    fn release_held(&mut self) {
        for released in self.first.released(monotonic_ms(), &self.members) {
            if !self.members.contains(&released.peer) {
                continue;
            }
            self.engine_connected(released.peer, released.initiate);
            // What it announced while held: a session starts if it has what we lack.
            if let Some(heads) = released.heads.filter(|h| !h.is_empty()) {
                let peer = released.peer;
                self.input(Input::Announcement { peer, heads }, None);
            }
        }
    }

    fn engine_connected(&mut self, peer: PeerId, initiate: bool) {
        let saved = self.saved_states(&peer);
        self.input(
            Input::Connected {
                peer,
                saved,
                initiate,
            },
            None,
        );
    }

    /// The membership changed: the network enforces the new trust list, and the hold judges
    /// by the same members.
    fn trust_changed(&mut self) {
        let list = membership::trust_list(&self.session);
        self.members = others(&list, self.net.peer_id);
        self.net.send(Command::Trust(list));
    }

    fn saved_states(&self, peer: &PeerId) -> SavedStates {
        let id = peer.to_string();
        let read = |role: &str| self.session.store.sync_state(&id, role).ok().flatten();
        SavedStates {
            outbound: read("outbound"),
            inbound: read("inbound"),
        }
    }

    /// Feeds the sync engine and carries out what it says; `respond_to` is the network's id
    /// for the request being answered, if any.
    fn input(&mut self, input: Input<PeerId>, respond_to: Option<u64>) {
        let started = std::time::Instant::now();
        let kind = input_kind(&input);
        let outputs = self
            .engine
            .handle(&mut self.session.schedule, now_ms(), input);
        let took = started.elapsed();
        if took >= SLOW_INPUT {
            tracing::debug!("the sync engine took {took:?} for {kind}");
        }
        self.carry_out(outputs, respond_to);
    }

    fn carry_out(&mut self, outputs: Vec<Output<PeerId>>, respond_to: Option<u64>) {
        for output in outputs {
            match output {
                Output::SendRequest { peer, request } => {
                    self.net.send(Command::Request { peer, request })
                }
                Output::Respond { response, .. } => {
                    if let Some(id) = respond_to {
                        self.net.send(Command::Respond { id, response });
                    }
                }
                Output::Announce { heads } => {
                    self.net.send(Command::Announce(Announcement::new(&heads)))
                }
                Output::Applied {
                    peer,
                    merged,
                    before,
                } => {
                    let started = std::time::Instant::now();
                    if let Err(e) = self.session.persist() {
                        tracing::error!("could not persist changes from {peer}: {e}");
                    }
                    let persisted = started.elapsed();
                    self.changed(&before, &merged, &peer.to_string());
                    let doc = self.session.schedule.doc();
                    self.first
                        .caught_up(|heads| shiftmesh_model::absent(doc, heads).is_empty());
                    tracing::debug!(
                        "{} changes from {peer} ({} entities): persisted in {persisted:?}, validated in {:?}",
                        merged.new_changes,
                        merged.dirty.len(),
                        started.elapsed() - persisted
                    );
                }
                Output::SaveState { peer, role, state } => {
                    if let Err(e) =
                        self.session
                            .store
                            .save_sync_state(&peer.to_string(), role.as_str(), &state)
                    {
                        tracing::warn!("could not save the sync state for {peer}: {e}");
                    }
                }
                Output::SessionEnded {
                    peer,
                    role,
                    outcome,
                } => self.session_ended(peer, role, outcome),
                Output::ReloadDocument => {
                    if let Err(e) = self.session.reload() {
                        tracing::error!("could not reload the schedule from the store: {e}");
                    }
                    self.validator = validate_all(&mut self.session);
                    let outputs = self.engine.reset_all(&mut self.session.schedule, now_ms());
                    self.carry_out(outputs, None);
                }
            }
        }
    }

    fn session_ended(&mut self, peer: PeerId, role: shiftmesh_sync::Role, outcome: Outcome) {
        match outcome {
            Outcome::Completed {
                rounds,
                bytes_sent,
                bytes_received,
                new_changes,
                started_at,
            } => {
                let duration_ms = now_ms().saturating_sub(started_at);
                self.first.synced(peer);
                tracing::debug!(
                    "sync with {peer} ({}) done: {rounds} rounds, {bytes_sent} B out, {bytes_received} B in, {new_changes} new changes, {duration_ms} ms",
                    role.as_str()
                );
                self.emit(events::sync_completed(
                    &peer.to_string(),
                    role.as_str(),
                    rounds,
                    bytes_sent,
                    bytes_received,
                    new_changes,
                    duration_ms,
                ));
            }
            Outcome::Failed(SessionError::Disconnected) => {}
            Outcome::Failed(SessionError::NotYet) => {
                tracing::debug!(
                    "{peer} holds sessions with this node until it has learned the membership"
                );
            }
            Outcome::Failed(error) => {
                tracing::warn!(
                    "sync session with {peer} ({}) failed: {error}; the session was reset",
                    role.as_str()
                );
                self.emit(events::sync_failed(
                    &peer.to_string(),
                    role.as_str(),
                    &error.to_string(),
                ));
            }
        }
    }

    /// After changes (local or from a peer): validate what they touched and tell followers.
    fn changed(&mut self, before: &[ChangeHash], merged: &Merged, origin: &str) {
        self.trim.activity(monotonic_ms());
        let dirty = &merged.dirty;
        let concurrent = self
            .session
            .schedule
            .all_concurrent_values()
            .unwrap_or_default();
        let schedule = &self.session.schedule;
        let input = RulesInput::new(schedule.index(), schedule.zone(), &concurrent);
        let delta = self.validator.update_touched(&input, dirty, &merged.fields);
        if dirty.iter().any(|(c, _)| *c == Collection::Members) {
            self.trust_changed();
        }
        // Who made the changes, as their metadata records (several when a merge brings many),
        // and the machines their actors name, each by its name in the membership list and
        // marked when its signature does not prove it.
        let made: Vec<(String, Option<String>, bool)> = {
            let schedule = &mut self.session.schedule;
            let metas: Vec<(Option<String>, Option<String>, automerge::ChangeHash)> = schedule
                .doc_mut()
                .get_changes_meta(before)
                .iter()
                .map(|m| {
                    (
                        m.author
                            .as_ref()
                            .map(|a| String::from_utf8_lossy(a.as_bytes()).into_owned()),
                        shiftmesh_model::machine_of(&m.actor).map(str::to_owned),
                        m.hash,
                    )
                })
                .collect();
            metas
                .into_iter()
                .map(|(author, machine, hash)| {
                    (
                        author.unwrap_or_default(),
                        machine,
                        schedule.is_signed(&hash),
                    )
                })
                .collect()
        };
        let members = &self.session.schedule.index().members;
        let mut authors: Vec<&str> = made
            .iter()
            .map(|(author, ..)| author.as_str())
            .filter(|a| !a.is_empty())
            .collect();
        authors.sort_unstable();
        authors.dedup();
        let by = authors.join(", ");
        let mut machines: Vec<String> = made
            .iter()
            .map(|(author, machine, verified)| {
                let name = match machine {
                    Some(peer) => members.get(peer).map_or(peer.as_str(), |m| m.name.as_str()),
                    None => shiftmesh_model::history::split_author(author).1,
                };
                if *verified {
                    name.to_owned()
                } else {
                    format!("{name} (unverified)")
                }
            })
            .collect();
        machines.sort_unstable();
        machines.dedup();
        let made_on = machines.join(", ");
        // The machine that passed the changes on, by its name in the membership list.
        let relayed_by = match origin {
            "local" => "local".to_owned(),
            peer => self
                .session
                .schedule
                .index()
                .members
                .get(peer)
                .map_or_else(|| peer.to_owned(), |m| m.name.clone()),
        };
        let source = events::Source {
            origin,
            relayed_by: &relayed_by,
            by: &by,
            made_on: &made_on,
        };
        let schedule = &self.session.schedule;
        if dirty.len() > MAX_ENTITY_EVENTS_PER_CHANGE {
            self.emit(events::many_changed(dirty.len(), source));
        } else {
            for (collection, key) in dirty {
                let now = schedule.exists(*collection, key);
                let was = schedule.had_key_at(*collection, key, before);
                let change = match (was, now) {
                    (false, true) => events::EntityChange::Created,
                    (true, false) => events::EntityChange::Removed,
                    // Present before and after, or a write that left nothing visible.
                    _ => events::EntityChange::Updated,
                };
                if *collection == Collection::Acks && change != events::EntityChange::Created {
                    continue;
                }
                self.emit(events::entity(*collection, key, change, source));
            }
        }
        let mut appeared = delta.appeared;
        let schedule = &self.session.schedule;
        shiftmesh_app::prove_values(&mut appeared, &schedule.index().members, |h| {
            schedule.is_signed(h)
        });
        for c in &appeared {
            self.emit(events::conflict("conflict-appeared", c));
        }
        for c in &delta.resolved {
            self.emit(events::conflict("conflict-resolved", c));
        }
    }

    /// Runs a request against the session; returns the answer and, when the request changed
    /// the schedule, the heads from before (see [`Node::after_local_change`]). Afterwards what
    /// the node holds in memory is what is on disk: a request that wrote without persisting
    /// (`assign --check`, or one that failed half-way) has its writes dropped by reloading from
    /// the store.
    fn execute(
        &mut self,
        caller: Caller,
        request: Request,
    ) -> (Result<Reply, AppError>, Option<Vec<ChangeHash>>) {
        let started = std::time::Instant::now();
        let before = self.session.schedule.heads();
        let what = request.describe();
        let Node {
            session,
            engine,
            validator,
            net,
            serving,
            peers_seen,
            pending,
            first,
            ..
        } = self;
        let mut link = Link {
            engine,
            validator,
            net,
            serving,
            peers_seen,
            pending,
            first,
        };
        let reply = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut ctx = Context::live(caller, session, &*validator, &mut link);
            shiftmesh_app::execute(&mut ctx, request)
        }))
        .unwrap_or_else(|_| {
            tracing::error!("{what} failed inside the node (a bug); nothing of it was kept");
            Err(AppError::Refused(
                "the request failed inside the node (an internal error; see the node's log); nothing was saved".into(),
            ))
        });
        tracing::debug!("{what} ran in {:?}", started.elapsed());
        let after = self.session.schedule.heads();
        if after == before {
            return (reply, None);
        }
        if self.session.store.heads() != after.as_slice() {
            tracing::debug!("a command left unpersisted writes; reloading the schedule");
            if let Err(e) = self.session.reload() {
                tracing::error!("could not reload the schedule from the store: {e}");
            }
            if self.session.schedule.heads() == before {
                return (reply, None);
            }
        }
        (reply, Some(before))
    }

    /// After a command's changes are durable and acknowledged: validate them, tell followers,
    /// and push them to every connected peer.
    fn after_local_change(&mut self, before: &[ChangeHash]) {
        let started = std::time::Instant::now();
        let merged = self.session.schedule.touched_since(before);
        self.changed(before, &merged, "local");
        self.input(Input::LocalChange, None);
        tracing::debug!("local change validated and sent in {:?}", started.elapsed());
    }
}

/// Joining a site, on both sides: the new machine asks its inviter once connected; the
/// inviter checks the one-time secret and adds the new machine to the membership.
impl Node {
    /// Asks `peer` to make us a member, if it is the inviter we are joining through.
    fn ask_to_join(&mut self, peer: PeerId) {
        let Some(ticket) = membership::join_ticket(&self.session) else {
            return;
        };
        if ticket.accepted
            || ticket.refused.is_some()
            || ticket.inviter != peer.to_string()
            || self.joining == JoinState::Asking
        {
            return;
        }
        tracing::info!("asking {peer} to let this machine join the site");
        self.joining = JoinState::Asking;
        let request = JoinRequest {
            secret: ticket.secret,
            name: self.session.identity.config.node_name.clone(),
        };
        self.net.send(Command::Join { peer, request });
    }

    /// Asks the inviter again once an unanswered request's retry time has come.
    fn retry_join(&mut self) {
        if let JoinState::RetryAt(at, peer) = self.joining {
            if shiftmesh_app::session::now_ms() >= at {
                self.joining = JoinState::Idle;
                self.ask_to_join(peer);
            }
        }
    }

    fn join_answered(&mut self, peer: PeerId, answer: Result<JoinResponse, String>) {
        self.joining = JoinState::Idle;
        let Some(mut ticket) = membership::join_ticket(&self.session) else {
            return;
        };
        if ticket.inviter != peer.to_string() {
            return;
        }
        match answer {
            Ok(JoinResponse::Accepted) => {
                tracing::info!("{peer} accepted this machine into the site; fetching the schedule");
                ticket.accepted = true;
            }
            Ok(JoinResponse::Refused { reason }) => {
                tracing::error!(
                    "{peer} refused to let this machine join the site: {reason}. Ask a member for a new invite ('shiftmesh invite'), then remove {} and run 'shiftmesh init --join' with it",
                    self.session.store.dir().display()
                );
                ticket.refused = Some(reason);
            }
            Err(reason) => {
                tracing::warn!(
                    "could not ask {peer} to let this machine join ({reason}); asking again in {} s",
                    JOIN_RETRY_MS / 1000
                );
                self.joining =
                    JoinState::RetryAt(shiftmesh_app::session::now_ms() + JOIN_RETRY_MS, peer);
                return;
            }
        }
        if let Err(e) = self.session.store.set_join_ticket(&ticket) {
            tracing::error!("could not record the answer to the join request: {e}");
        }
        self.trust_changed();
    }

    /// Answers a join request: a member already is one; otherwise the secret must be one this
    /// machine handed out, unused and unexpired, and then the peer becomes a member, recorded
    /// in the document as added by whoever made the invite.
    fn join_requested(&mut self, peer: PeerId, request: JoinRequest) -> JoinResponse {
        let id = peer.to_string();
        self.pending.named(&peer, &request.name);
        let refuse = |reason: String| {
            tracing::warn!("refused the join request of {peer}: {reason}");
            JoinResponse::Refused { reason }
        };
        let index = self.session.schedule.index();
        if index.is_trusted(&id) {
            return JoinResponse::Accepted;
        }
        if index.is_revoked(&id) {
            return refuse("this machine was revoked from the site".into());
        }
        let now = shiftmesh_app::session::now_ms();
        let record = match self.session.store.redeem_invite(&request.secret, &id, now) {
            Ok(Ok(record)) => record,
            Ok(Err(refused)) => return refuse(refused.to_string()),
            Err(e) => return refuse(format!("the inviter could not read its invites ({e})")),
        };
        let name = match request.name.trim() {
            "" => "new machine".to_owned(),
            name => name.to_owned(),
        };
        let before = self.session.schedule.heads();
        let edit = Edit {
            author: record.created_by.clone(),
            now_ms: now,
        };
        let written = self
            .session
            .schedule
            .trust_member(&edit, &id, &name, "by invite");
        if let Err(e) = written
            .map_err(|e| e.to_string())
            .and_then(|_| self.session.persist().map_err(|e| e.to_string()))
        {
            let _ = self.session.reload();
            return refuse(format!("the inviter could not record the new member ({e})"));
        }
        tracing::info!(
            "{peer} ('{name}') joined the site with an invite made by {}",
            record.created_by
        );
        // Validates, tells followers, updates the trust list (before the answer goes out, on
        // the same queue) and announces.
        self.after_local_change(&before);
        JoinResponse::Accepted
    }
}
