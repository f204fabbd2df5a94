//! A deterministic simulation of several shiftmesh replicas: the real model, rules and sans-IO
//! sync engine, an in-memory store that keeps only what was persisted (a crash loses the
//! rest), and a simulated network with controllable time that drops, duplicates, delays and
//! reorders messages, partitions and heals, disconnects peers and crashes replicas. A random
//! workload of real operations runs on top; then the faults stop, every replica restarts and
//! reconnects, time runs until the network is quiet, and the oracles are checked.
//!
//! Everything is drawn from one seed, so a failure replays exactly:
//! `SHIFTMESH_SIM_SEED=N SHIFTMESH_SIM_FAULTS=1 cargo test -p shiftmesh-sim --release replay -- --nocapture`.

mod workload;

use std::collections::BTreeSet;
use std::fmt;

use automerge::{AutoCommit, ChangeHash};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shiftmesh_model::{ChangeSignature, Dirty, Schedule};
use shiftmesh_rules::{full_pass, Conflict, Input as RulesInput, Validator};
use shiftmesh_sync::{
    Engine, Input, Limits, Outcome, Output, SavedStates, SyncRequest, SyncResponse,
};

/// How often each replica's engine is ticked (sessions time out, catch-up runs).
pub const TICK_MS: u64 = 1_000;
/// Simulated time allowed for the network to go quiet once the faults stop: several
/// catch-up intervals and session timeouts.
pub const QUIESCE_LIMIT_MS: u64 = 600_000;
/// Without faults, no session may need more rounds than this.
pub const MAX_ROUNDS_WITHOUT_FAULTS: u32 = 10;

/// Faults, each as a chance per thousand (per message sent, or per step).
#[derive(Clone, Debug)]
pub struct Faults {
    pub drop_per_mille: u32,
    pub duplicate_per_mille: u32,
    /// Each message is delayed by up to this, which also reorders messages.
    pub max_delay_ms: u64,
    /// Chance per step of a fault event: a partition or heal, a crash or restart, a
    /// disconnection or reconnection.
    pub event_per_mille: u32,
}

impl Faults {
    pub fn typical() -> Faults {
        Faults {
            drop_per_mille: 50,
            duplicate_per_mille: 20,
            max_delay_ms: 2_000,
            event_per_mille: 60,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub replicas: usize,
    pub steps: usize,
    pub faults: Option<Faults>,
}

/// What one run did, for the report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    pub edits_acknowledged: usize,
    pub messages_sent: usize,
    pub messages_dropped: usize,
    pub messages_duplicated: usize,
    pub crashes: usize,
    pub partitions: usize,
    pub disconnections: usize,
    pub sessions_completed: usize,
    pub sessions_failed: usize,
    pub max_rounds: u32,
    /// Simulated time from the end of the faults until every replica agreed.
    pub quiesce_ms: u64,
    /// Machines every replica judged revoked at the end, and those whose admission no
    /// replica counted (void).
    pub members_revoked: usize,
    pub members_void: usize,
}

/// A broken promise, with the seed that shows it.
#[derive(Debug)]
pub struct Failure {
    pub seed: u64,
    pub faults: bool,
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {}: {}\nreplay: {}",
            self.seed,
            self.message,
            replay_command(self.seed, self.faults)
        )
    }
}

/// The command that runs one seed again, printing what it did.
pub fn replay_command(seed: u64, faults: bool) -> String {
    format!(
        "SHIFTMESH_SIM_SEED={seed} SHIFTMESH_SIM_FAULTS={} cargo test -p shiftmesh-sim --release replay -- --nocapture",
        u8::from(faults)
    )
}

/// The bound on agreement after the faults stop, in simulated time: the 99th percentile over
/// any [`HEAL_WINDOW_SEEDS`] seeds with faults. A node that waited for its periodic catch-up
/// after a lost message took 45 s; retries and timeouts bring it to seconds.
pub const HEAL_P99_MAX_MS: u64 = 5_000;
pub const HEAL_WINDOW_SEEDS: usize = 1_000;

/// The value at quantile `q` (0 to 1) of `values`, or 0 when there are none.
pub fn quantile(values: &[u64], q: f64) -> u64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted
        .get(((sorted.len().max(1) - 1) as f64 * q) as usize)
        .copied()
        .unwrap_or(0)
}

/// Checks the heal bound over seeds with faults (`(seed, report)`): an error naming the
/// window's p99 and the replay command of each seed over the bound.
pub fn check_heal_bound(window: &[(u64, Report)]) -> Result<(), String> {
    let times: Vec<u64> = window.iter().map(|(_, r)| r.quiesce_ms).collect();
    let p99 = quantile(&times, 0.99);
    if p99 <= HEAL_P99_MAX_MS {
        return Ok(());
    }
    let mut message = format!(
        "agreement after the faults stopped had p99 {p99} ms over {} seeds (the bound is {HEAL_P99_MAX_MS} ms); the slow ones:",
        window.len()
    );
    for (seed, report) in window
        .iter()
        .filter(|(_, r)| r.quiesce_ms > HEAL_P99_MAX_MS)
    {
        message.push_str(&format!(
            "\n  seed {seed}: {} ms; replay: {}",
            report.quiesce_ms,
            replay_command(*seed, true)
        ));
    }
    Err(message)
}

enum Message {
    Request(SyncRequest),
    Response(SyncResponse),
    Announce(Vec<ChangeHash>),
}

struct InFlight {
    deliver_at: u64,
    order: u64,
    from: usize,
    to: usize,
    message: Message,
}

pub(crate) struct Replica {
    pub(crate) schedule: Schedule,
    /// The machine it writes as, and how many times it restarted (each process draws a new
    /// actor).
    machine: &'static str,
    restarts: u8,
    engine: Engine<usize>,
    validator: Validator,
    /// The store: the document as last persisted, and the signatures of its changes.
    durable: Vec<u8>,
    durable_signatures: Vec<ChangeSignature>,
    /// The change each acknowledged edit made.
    acknowledged: Vec<ChangeHash>,
    up: bool,
}

impl Replica {
    fn new(machine: &'static str, schedule: Schedule, signatures: &[ChangeSignature]) -> Replica {
        let mut schedule = schedule;
        schedule.restore_signatures(signatures.iter().cloned());
        schedule.sign_as(
            workload::machine_key(machine),
            [1; shiftmesh_model::ACTOR_NONCE_BYTES],
        );
        let durable = schedule.doc_mut().save();
        let validator = validate_all(&mut schedule);
        Replica {
            machine,
            restarts: 0,
            schedule,
            engine: Engine::new(Limits::default()),
            validator,
            durable,
            durable_signatures: signatures.to_vec(),
            acknowledged: Vec::new(),
            up: true,
        }
    }

    fn persist(&mut self) {
        self.durable_signatures
            .extend(self.schedule.take_unsaved_signatures());
        self.durable = self.schedule.doc_mut().save();
    }

    /// Loses everything not persisted and starts again from the store.
    fn restart(&mut self) -> Result<(), String> {
        let doc =
            AutoCommit::load(&self.durable).map_err(|e| format!("the store does not load: {e}"))?;
        self.schedule =
            Schedule::from_doc(doc).map_err(|e| format!("the store is not a schedule: {e}"))?;
        self.restarts = self.restarts.wrapping_add(1);
        self.schedule
            .restore_signatures(self.durable_signatures.iter().cloned());
        self.schedule.sign_as(
            workload::machine_key(self.machine),
            [self.restarts.wrapping_add(1); shiftmesh_model::ACTOR_NONCE_BYTES],
        );
        self.engine = Engine::new(Limits::default());
        self.validator = validate_all(&mut self.schedule);
        self.up = true;
        Ok(())
    }

    fn validate(&mut self, dirty: &Dirty) {
        let concurrent = self.schedule.all_concurrent_values().unwrap_or_default();
        let input = RulesInput::new(self.schedule.index(), self.schedule.zone(), &concurrent);
        self.validator.update(&input, dirty);
    }

    fn full_pass(&mut self) -> Vec<Conflict> {
        let concurrent = self.schedule.all_concurrent_values().unwrap_or_default();
        full_pass(&RulesInput::new(
            self.schedule.index(),
            self.schedule.zone(),
            &concurrent,
        ))
    }
}

fn validate_all(schedule: &mut Schedule) -> Validator {
    let concurrent = schedule.all_concurrent_values().unwrap_or_default();
    Validator::new(&RulesInput::new(
        schedule.index(),
        schedule.zone(),
        &concurrent,
    ))
}

struct Sim {
    seed: u64,
    rng: StdRng,
    now: u64,
    replicas: Vec<Replica>,
    links: BTreeSet<(usize, usize)>,
    in_flight: Vec<InFlight>,
    next_order: u64,
    faults: Option<Faults>,
    /// Whether this run had faults at all (the ten-round promise holds only without).
    faulty: bool,
    report: Report,
    next_tick: u64,
}

fn pair(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}

impl Sim {
    fn fail(&self, message: String) -> Failure {
        Failure {
            seed: self.seed,
            faults: self.faulty,
            message,
        }
    }

    fn input(&mut self, at: usize, input: Input<usize>) -> Result<(), Failure> {
        let replica = &mut self.replicas[at];
        let outputs = replica
            .engine
            .handle(&mut replica.schedule, self.now, input);
        self.carry_out(at, outputs)
    }

    fn carry_out(&mut self, at: usize, outputs: Vec<Output<usize>>) -> Result<(), Failure> {
        for output in outputs {
            match output {
                Output::SendRequest { peer, request } => {
                    self.send(at, peer, Message::Request(request))?
                }
                Output::Respond { peer, response } => {
                    self.send(at, peer, Message::Response(response))?
                }
                Output::Announce { heads } => {
                    let peers: Vec<usize> = (0..self.replicas.len())
                        .filter(|p| *p != at && self.links.contains(&pair(at, *p)))
                        .collect();
                    for peer in peers {
                        self.send(at, peer, Message::Announce(heads.clone()))?;
                    }
                }
                Output::Applied { merged, .. } => {
                    // As the node does: durable first, then validated.
                    let replica = &mut self.replicas[at];
                    replica.persist();
                    replica.validate(&merged.dirty);
                }
                Output::SaveState { .. } => {}
                Output::SessionEnded { outcome, .. } => match outcome {
                    Outcome::Completed { rounds, .. } => {
                        self.report.sessions_completed += 1;
                        self.report.max_rounds = self.report.max_rounds.max(rounds);
                        if !self.faulty && rounds > MAX_ROUNDS_WITHOUT_FAULTS {
                            return Err(self.fail(format!(
                                "a session without faults took {rounds} rounds (at most {MAX_ROUNDS_WITHOUT_FAULTS})"
                            )));
                        }
                    }
                    Outcome::Failed(_) => self.report.sessions_failed += 1,
                },
                Output::ReloadDocument => {
                    let replica = &mut self.replicas[at];
                    if let Err(e) = replica.restart() {
                        return Err(self.fail(format!("replica {at} reloading: {e}")));
                    }
                    let replica = &mut self.replicas[at];
                    let outputs = replica.engine.reset_all(&mut replica.schedule, self.now);
                    self.carry_out(at, outputs)?;
                }
            }
        }
        Ok(())
    }

    /// Puts a message on the wire, through the faults; a request to a peer we are not
    /// connected to fails at once, as libp2p reports it.
    fn send(&mut self, from: usize, to: usize, message: Message) -> Result<(), Failure> {
        if !self.links.contains(&pair(from, to)) {
            if matches!(message, Message::Request(_)) {
                let reason = "not connected".to_owned();
                return self.input(from, Input::RequestFailed { peer: to, reason });
            }
            return Ok(());
        }
        self.report.messages_sent += 1;
        let mut copies = 1;
        // Without faults a message arrives at once: a LAN round trip is far shorter than the
        // time between two people's edits.
        let mut delay = 0;
        if let Some(f) = &self.faults {
            if self.rng.gen_range(0..1000) < f.drop_per_mille {
                self.report.messages_dropped += 1;
                return Ok(());
            }
            if self.rng.gen_range(0..1000) < f.duplicate_per_mille {
                self.report.messages_duplicated += 1;
                copies = 2;
            }
            delay = self.rng.gen_range(1..=f.max_delay_ms.max(1));
        }
        for copy in 0..copies {
            let message = match (&message, copy) {
                (_, 0) => clone_message(&message),
                (m, _) => clone_message(m),
            };
            self.next_order += 1;
            self.in_flight.push(InFlight {
                deliver_at: self.now + delay + copy,
                order: self.next_order,
                from,
                to,
                message,
            });
        }
        Ok(())
    }

    /// Delivers every message due by now, oldest first; messages on a link that went down are
    /// lost.
    fn deliver_due(&mut self) -> Result<(), Failure> {
        loop {
            let due = self
                .in_flight
                .iter()
                .enumerate()
                .filter(|(_, m)| m.deliver_at <= self.now)
                .min_by_key(|(_, m)| (m.deliver_at, m.order))
                .map(|(i, _)| i);
            let Some(i) = due else {
                return Ok(());
            };
            let m = self.in_flight.swap_remove(i);
            if !self.links.contains(&pair(m.from, m.to)) {
                continue;
            }
            let input = match m.message {
                Message::Request(request) => Input::Request {
                    peer: m.from,
                    request,
                },
                Message::Response(response) => Input::Response {
                    peer: m.from,
                    response,
                },
                Message::Announce(heads) => Input::Announcement {
                    peer: m.from,
                    heads,
                },
            };
            self.input(m.to, input)?;
        }
    }

    fn connect(&mut self, a: usize, b: usize) -> Result<(), Failure> {
        if a == b || !self.replicas[a].up || !self.replicas[b].up || !self.links.insert(pair(a, b))
        {
            return Ok(());
        }
        // The lower index dials, and so starts the first session.
        let (dialer, other) = pair(a, b);
        for (at, peer, initiate) in [(dialer, other, true), (other, dialer, false)] {
            let saved = SavedStates::default();
            self.input(
                at,
                Input::Connected {
                    peer,
                    saved,
                    initiate,
                },
            )?;
        }
        Ok(())
    }

    fn disconnect(&mut self, a: usize, b: usize) -> Result<(), Failure> {
        if !self.links.remove(&pair(a, b)) {
            return Ok(());
        }
        for (at, peer) in [(a, b), (b, a)] {
            if self.replicas[at].up {
                self.input(at, Input::Disconnected { peer })?;
            }
        }
        Ok(())
    }

    fn crash(&mut self, at: usize) -> Result<(), Failure> {
        for peer in 0..self.replicas.len() {
            self.disconnect(at, peer)?;
        }
        self.replicas[at].up = false;
        self.report.crashes += 1;
        Ok(())
    }

    fn restart(&mut self, at: usize) -> Result<(), Failure> {
        if let Err(e) = self.replicas[at].restart() {
            return Err(self.fail(format!("replica {at} restarting: {e}")));
        }
        for peer in 0..self.replicas.len() {
            self.connect(at, peer)?;
        }
        Ok(())
    }

    fn tick(&mut self) -> Result<(), Failure> {
        while self.next_tick <= self.now {
            self.next_tick += TICK_MS;
            for at in 0..self.replicas.len() {
                if self.replicas[at].up {
                    self.input(at, Input::Tick)?;
                }
            }
        }
        Ok(())
    }

    fn fault_event(&mut self) -> Result<(), Failure> {
        let n = self.replicas.len();
        match self.rng.gen_range(0..6) {
            0 => {
                // A partition: a random subset loses every link to the rest.
                let side: Vec<bool> = (0..n).map(|_| self.rng.gen_bool(0.5)).collect();
                self.report.partitions += 1;
                for a in 0..n {
                    for b in a + 1..n {
                        if side[a] != side[b] {
                            self.disconnect(a, b)?;
                        }
                    }
                }
            }
            1 => self.heal()?,
            2 => {
                let at = self.rng.gen_range(0..n);
                if self.replicas[at].up && self.replicas.iter().filter(|r| r.up).count() > 1 {
                    self.crash(at)?;
                }
            }
            3 => {
                let at = self.rng.gen_range(0..n);
                if !self.replicas[at].up {
                    self.restart(at)?;
                }
            }
            4 => {
                let (a, b) = (self.rng.gen_range(0..n), self.rng.gen_range(0..n));
                if self.links.contains(&pair(a, b)) {
                    self.report.disconnections += 1;
                    self.disconnect(a, b)?;
                }
            }
            _ => {
                let (a, b) = (self.rng.gen_range(0..n), self.rng.gen_range(0..n));
                self.connect(a, b)?;
            }
        }
        Ok(())
    }

    fn heal(&mut self) -> Result<(), Failure> {
        let n = self.replicas.len();
        for a in 0..n {
            for b in a + 1..n {
                self.connect(a, b)?;
            }
        }
        Ok(())
    }

    fn edit(&mut self) -> Result<(), Failure> {
        let up: Vec<usize> = (0..self.replicas.len())
            .filter(|i| self.replicas[*i].up)
            .collect();
        if up.is_empty() {
            return Ok(());
        }
        let at = up[self.rng.gen_range(0..up.len())];
        let Some(written) = workload::random_edit(&mut self.rng, &mut self.replicas[at], self.now)
        else {
            return Ok(());
        };
        // Acknowledged only once durable.
        let replica = &mut self.replicas[at];
        replica.persist();
        replica.acknowledged.extend(replica.schedule.heads());
        replica.validate(&written.dirty);
        self.report.edits_acknowledged += 1;
        self.input(at, Input::LocalChange)
    }

    fn agreed(&mut self) -> bool {
        let heads: Vec<Vec<ChangeHash>> = self
            .replicas
            .iter_mut()
            .map(|r| r.schedule.heads())
            .collect();
        self.in_flight.is_empty() && heads.windows(2).all(|w| w[0] == w[1])
    }

    /// Stops the faults, brings every replica up and connects them all, then runs time until
    /// every replica has the same heads and nothing is in flight.
    fn quiesce(&mut self) -> Result<(), Failure> {
        self.faults = None;
        for at in 0..self.replicas.len() {
            if !self.replicas[at].up {
                self.restart(at)?;
            }
        }
        self.heal()?;
        let started = self.now;
        self.run_until_agreed(started)?;
        self.report.quiesce_ms = self.now - started;
        // One catch-up round more: every replica starts a session, whose first request asks
        // for the signatures of changes it holds without them (a signature can be lost with a
        // crash while its change comes again from another replica).
        self.now += Limits::default().catch_up_interval_ms;
        let round = self.now;
        self.tick()?;
        self.run_until_agreed(round)
    }

    /// Runs time until every replica has the same heads and nothing is in flight.
    fn run_until_agreed(&mut self, started: u64) -> Result<(), Failure> {
        while !self.agreed() {
            if self.now - started > QUIESCE_LIMIT_MS {
                return Err(self.fail(format!(
                    "the replicas did not agree within {QUIESCE_LIMIT_MS} ms of simulated time after the faults stopped"
                )));
            }
            self.now += 50;
            self.deliver_due()?;
            self.tick()?;
        }
        Ok(())
    }

    /// The promises, checked once every replica agrees.
    fn check(&mut self) -> Result<(), Failure> {
        let all_acknowledged: Vec<ChangeHash> = self
            .replicas
            .iter()
            .flat_map(|r| r.acknowledged.iter().copied())
            .collect();
        let first_index = self.replicas[0].schedule.index().clone();
        let first_conflicts = self.replicas[0].full_pass();
        for at in 0..self.replicas.len() {
            let replica = &mut self.replicas[at];
            let missing = shiftmesh_model::absent(replica.schedule.doc(), &all_acknowledged);
            if !missing.is_empty() {
                return Err(self.fail(format!(
                    "replica {at} lacks {} acknowledged change(s)",
                    missing.len()
                )));
            }
            let replica = &mut self.replicas[at];
            // Every replica signs what it writes and the signatures travel with the changes,
            // so after quiescence every change a machine made is proven on every replica.
            let unsigned: Vec<ChangeHash> = replica
                .schedule
                .unsigned_changes()
                .iter()
                .copied()
                .collect();
            if let Some(first) = unsigned.first() {
                let made = replica
                    .schedule
                    .doc_mut()
                    .get_change_meta_by_hash(first)
                    .map(|m| format!("{:?} by {}", m.message, m.actor))
                    .unwrap_or_default();
                let signed_on: Vec<usize> = (0..self.replicas.len())
                    .filter(|r| self.replicas[*r].schedule.is_signed(first))
                    .collect();
                return Err(self.fail(format!(
                    "replica {at} holds {} change(s) without their machine's signature, the \
                     first {first} ({made}), signed on replicas {signed_on:?}",
                    unsigned.len()
                )));
            }
            let replica = &mut self.replicas[at];
            if replica.schedule.index().members != first_index.members {
                let members = format!("{:?}", replica.schedule.index().members);
                return Err(self.fail(format!(
                    "replica {at} judges the members otherwise than replica 0: {members} vs {:?}",
                    first_index.members
                )));
            }
            if replica.schedule.index() != &first_index {
                return Err(self.fail(format!(
                    "replica {at} reads a different schedule than replica 0"
                )));
            }
            let replica = &mut self.replicas[at];
            let full = replica.full_pass();
            let incremental = replica.validator.conflicts();
            if incremental != full {
                return Err(self.fail(format!(
                    "replica {at}: incremental validation has {} conflicts, the full pass {}",
                    incremental.len(),
                    full.len()
                )));
            }
            if full != first_conflicts {
                return Err(self.fail(format!(
                    "replica {at} reports other conflicts than replica 0 ({} vs {})",
                    full.len(),
                    first_conflicts.len()
                )));
            }
            // What is persisted is what is held: a restart changes nothing.
            let mut reloaded = Schedule::from_doc(
                AutoCommit::load(&replica.durable).expect("the store holds a document"),
            )
            .expect("the store holds a schedule");
            reloaded.restore_signatures(replica.durable_signatures.iter().cloned());
            if reloaded.heads() != replica.schedule.heads() {
                return Err(self.fail(format!(
                    "replica {at}: its store lags what it holds after quiescence"
                )));
            }
            // A node loading the same document fresh reads and reports the same.
            if reloaded.index() != replica.schedule.index() {
                let members = format!(
                    "members {:?} there, {:?} kept",
                    reloaded.index().members,
                    replica.schedule.index().members
                );
                return Err(self.fail(format!(
                    "replica {at}: its kept index differs from a fresh load of its document \
                     ({members})"
                )));
            }
            let concurrent = reloaded.all_concurrent_values().unwrap_or_default();
            let fresh = full_pass(&RulesInput::new(
                reloaded.index(),
                reloaded.zone(),
                &concurrent,
            ));
            if fresh != full {
                return Err(self.fail(format!(
                    "replica {at}: a fresh load reports {} conflicts, the replica {}",
                    fresh.len(),
                    full.len()
                )));
            }
        }
        Ok(())
    }
}

fn clone_message(message: &Message) -> Message {
    match message {
        Message::Request(r) => Message::Request(r.clone()),
        Message::Response(r) => Message::Response(r.clone()),
        Message::Announce(h) => Message::Announce(h.clone()),
    }
}

/// The configuration the tests, the soak and the replay use: four replicas, 150 steps.
pub fn standard(faults: bool) -> Config {
    Config {
        replicas: 4,
        steps: 150,
        faults: faults.then(Faults::typical),
    }
}

/// Runs one seeded simulation and checks every oracle.
pub fn run(seed: u64, config: &Config) -> Result<Report, Failure> {
    let mut rng = StdRng::seed_from_u64(seed);
    let founder = workload::founding_schedule();
    let mut replicas = Vec::new();
    let (mut saved, signatures) = {
        let mut f = founder;
        (f.doc_mut().save(), f.take_unsaved_signatures())
    };
    for at in 0..config.replicas {
        let doc = AutoCommit::load(&saved).expect("the founder's schedule loads");
        replicas.push(Replica::new(
            workload::MACHINES[at % (workload::MACHINES.len() - 1)],
            Schedule::from_doc(doc).expect("the founder's document is a schedule"),
            &signatures,
        ));
    }
    saved.clear();
    let start = rng.gen_range(0..1_000_000u64) + 1_000;
    let mut sim = Sim {
        seed,
        rng,
        now: start,
        replicas,
        links: BTreeSet::new(),
        in_flight: Vec::new(),
        next_order: 0,
        faults: config.faults.clone(),
        faulty: config.faults.is_some(),
        report: Report::default(),
        next_tick: start,
    };
    sim.heal()?;
    for _ in 0..config.steps {
        sim.now += sim.rng.gen_range(1..=300);
        let roll = sim.rng.gen_range(0..1000);
        let fault_chance = sim.faults.as_ref().map_or(0, |f| f.event_per_mille);
        if roll < fault_chance {
            sim.fault_event()?;
        } else if roll % 3 == 0 {
            sim.edit()?;
        }
        sim.deliver_due()?;
        sim.tick()?;
    }
    sim.quiesce()?;
    sim.check()?;
    let members = &sim.replicas[0].schedule.index().members;
    sim.report.members_revoked = members
        .values()
        .filter(|m| m.revoked && m.void.is_none())
        .count();
    sim.report.members_void = members.values().filter(|m| m.void.is_some()).count();
    Ok(sim.report)
}

/// One line summing up many runs, as the tests, the soak and docs/RELIABILITY.md show it.
pub fn summary(reports: &[Report]) -> String {
    let sum = |f: fn(&Report) -> usize| reports.iter().map(f).sum::<usize>();
    if reports.is_empty() {
        return "0 seeds".to_owned();
    }
    let quiesce: Vec<u64> = reports.iter().map(|r| r.quiesce_ms).collect();
    let at = |q: f64| quantile(&quiesce, q);
    format!(
        "{} seeds: {} acknowledged edits, 0 lost; {} messages ({} dropped, {} duplicated); {} crashes, {} partitions, {} disconnections; {} sessions completed, {} failed, at most {} rounds; agreement after the faults stopped p50 {} ms, p99 {} ms (simulated); machines judged alike by every replica: {} revoked, {} void",
        reports.len(),
        sum(|r| r.edits_acknowledged),
        sum(|r| r.messages_sent),
        sum(|r| r.messages_dropped),
        sum(|r| r.messages_duplicated),
        sum(|r| r.crashes),
        sum(|r| r.partitions),
        sum(|r| r.disconnections),
        sum(|r| r.sessions_completed),
        sum(|r| r.sessions_failed),
        reports.iter().map(|r| r.max_rounds).max().unwrap_or(0),
        at(0.5),
        at(0.99),
        sum(|r| r.members_revoked),
        sum(|r| r.members_void),
    )
}
