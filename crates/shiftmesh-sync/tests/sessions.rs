//! Replicas in one process, with the test delivering every message: sessions converge, stay
//! within their bounds, and a peer's garbage resets only that peer's session.

use std::collections::{BTreeSet, VecDeque};

use automerge::ChangeHash;
use shiftmesh_model::{Edit, Schedule, Staff};
use shiftmesh_sync::{
    Engine, Input, Limits, Outcome, Output, SavedStates, SessionError, SyncRequest, SyncResponse,
};

enum Message {
    Request(SyncRequest),
    Response(SyncResponse),
    Announce(Vec<ChangeHash>),
}

struct Replica {
    schedule: Schedule,
    engine: Engine<usize>,
    ended: Vec<(usize, Outcome)>,
    applied: usize,
    /// How many times the engine said to make something durable.
    persists: usize,
}

/// N replicas, a set of links between them, and the messages in flight.
struct Mesh {
    replicas: Vec<Replica>,
    links: BTreeSet<(usize, usize)>,
    queue: VecDeque<(usize, usize, Message)>,
    now: u64,
    edits: u64,
    /// The longest sync message any replica sent, in bytes.
    longest_message_bytes: usize,
}

impl Mesh {
    fn new(n: usize) -> Mesh {
        Mesh::with_limits(n, Limits::default())
    }

    fn with_limits(n: usize, limits: Limits) -> Mesh {
        Mesh {
            replicas: (0..n)
                .map(|_| Replica {
                    schedule: Schedule::new(),
                    engine: Engine::new(limits),
                    ended: Vec::new(),
                    applied: 0,
                    persists: 0,
                })
                .collect(),
            links: BTreeSet::new(),
            queue: VecDeque::new(),
            now: 1_000,
            edits: 0,
            longest_message_bytes: 0,
        }
    }

    /// Has every replica write as a machine of its own, signing its changes.
    fn signing(mut self) -> Mesh {
        for (at, replica) in self.replicas.iter_mut().enumerate() {
            let key = libp2p_identity::Keypair::ed25519_from_bytes([at as u8 + 1; 32]).unwrap();
            replica.schedule.sign_as(key, [at as u8; 8]);
        }
        self
    }

    /// The changes made by a machine that replica `at` holds no valid signature for.
    fn unsigned(&mut self, at: usize) -> Vec<ChangeHash> {
        let schedule = &mut self.replicas[at].schedule;
        let made: Vec<ChangeHash> = schedule
            .doc_mut()
            .get_changes_meta(&[])
            .iter()
            .filter(|meta| shiftmesh_model::machine_of(&meta.actor).is_some())
            .map(|meta| meta.hash)
            .collect();
        made.into_iter()
            .filter(|change| !schedule.is_signed(change))
            .collect()
    }

    fn linked(&self, a: usize, b: usize) -> bool {
        self.links.contains(&(a.min(b), a.max(b)))
    }

    fn input(&mut self, at: usize, input: Input<usize>) {
        let replica = &mut self.replicas[at];
        let outputs = replica
            .engine
            .handle(&mut replica.schedule, self.now, input);
        for output in outputs {
            match output {
                Output::SendRequest { peer, request } => {
                    self.longest_message_bytes =
                        self.longest_message_bytes.max(request.message.len());
                    self.queue.push_back((at, peer, Message::Request(request)))
                }
                Output::Respond { peer, response } => {
                    let len = response.message.as_ref().map_or(0, Vec::len);
                    self.longest_message_bytes = self.longest_message_bytes.max(len);
                    self.queue
                        .push_back((at, peer, Message::Response(response)))
                }
                Output::Announce { heads } => {
                    for peer in 0..self.replicas.len() {
                        if peer != at && self.linked(at, peer) {
                            self.queue
                                .push_back((at, peer, Message::Announce(heads.clone())));
                        }
                    }
                }
                Output::Applied { merged, .. } => {
                    self.replicas[at].applied += merged.new_changes;
                    self.replicas[at].persists += 1;
                }
                Output::SessionEnded { peer, outcome, .. } => {
                    self.replicas[at].ended.push((peer, outcome))
                }
                Output::SaveState { .. } | Output::ReloadDocument => {}
            }
        }
    }

    fn connect(&mut self, a: usize, b: usize) {
        self.links.insert((a.min(b), a.max(b)));
        let saved = SavedStates::default();
        // `a` dialed: it starts the first session.
        self.input(
            a,
            Input::Connected {
                peer: b,
                saved: saved.clone(),
                initiate: true,
            },
        );
        self.input(
            b,
            Input::Connected {
                peer: a,
                saved,
                initiate: false,
            },
        );
    }

    fn disconnect(&mut self, a: usize, b: usize) {
        self.links.remove(&(a.min(b), a.max(b)));
        self.queue
            .retain(|(from, to, _)| !((*from == a && *to == b) || (*from == b && *to == a)));
        self.input(a, Input::Disconnected { peer: b });
        self.input(b, Input::Disconnected { peer: a });
    }

    /// Delivers messages until none is left; returns how many were delivered.
    fn run(&mut self) -> usize {
        let mut delivered = 0;
        while self.deliver_one() {
            delivered += 1;
            assert!(delivered < 100_000, "the mesh never went quiet");
        }
        delivered
    }

    /// Delivers the oldest message in flight; false when there is none.
    fn deliver_one(&mut self) -> bool {
        let Some((from, to, message)) = self.queue.pop_front() else {
            return false;
        };
        {
            self.now += 1;
            let input = match message {
                Message::Request(request) => Input::Request {
                    peer: from,
                    request,
                },
                Message::Response(response) => Input::Response {
                    peer: from,
                    response,
                },
                Message::Announce(heads) => Input::Announcement { peer: from, heads },
            };
            self.input(to, input);
        }
        true
    }

    fn add_staff(&mut self, at: usize, id: &str, name: &str) {
        self.edits += 1;
        let edit = Edit {
            author: format!("tester@{at}"),
            now_ms: self.edits as i64,
        };
        let staff = Staff::new(id.parse().unwrap(), name.to_owned());
        self.replicas[at]
            .schedule
            .add(&edit, &staff, format!("add {id}"))
            .unwrap();
        self.input(at, Input::LocalChange);
    }

    fn heads(&mut self, at: usize) -> Vec<ChangeHash> {
        self.replicas[at].schedule.heads()
    }

    fn assert_converged(&mut self) {
        let first = self.heads(0);
        for at in 1..self.replicas.len() {
            assert_eq!(self.heads(at), first, "replica {at} differs from replica 0");
        }
        let staff = |r: &Replica| r.schedule.index().staff.keys().cloned().collect::<Vec<_>>();
        for r in &self.replicas[1..] {
            assert_eq!(staff(r), staff(&self.replicas[0]), "the views differ");
        }
    }

    fn failures(&self, at: usize) -> Vec<SessionError> {
        self.replicas[at]
            .ended
            .iter()
            .filter_map(|(_, o)| match o {
                Outcome::Failed(e) => Some(e.clone()),
                Outcome::Completed { .. } => None,
            })
            .collect()
    }

    fn max_rounds(&self) -> u32 {
        self.replicas
            .iter()
            .flat_map(|r| &r.ended)
            .filter_map(|(_, o)| match o {
                Outcome::Completed { rounds, .. } => Some(*rounds),
                Outcome::Failed(_) => None,
            })
            .max()
            .unwrap_or(0)
    }
}

/// A well-formed sync message that says nothing.
fn empty_message() -> Vec<u8> {
    automerge::sync::Message {
        heads: vec![],
        need: vec![],
        have: vec![],
        changes: automerge::sync::ChunkList::from(Vec::<Vec<u8>>::new()),
        flags: None,
        version: automerge::sync::MessageVersion::V1,
    }
    .encode()
}

#[test]
fn two_replicas_exchange_their_edits_on_connect() {
    let mut mesh = Mesh::new(2);
    mesh.add_staff(0, "ana", "Ana");
    mesh.add_staff(1, "ben", "Ben");
    mesh.connect(0, 1);
    mesh.run();
    mesh.assert_converged();
    assert_eq!(mesh.replicas[0].schedule.index().staff.len(), 2);
    assert!(mesh.failures(0).is_empty() && mesh.failures(1).is_empty());
    assert!(mesh.max_rounds() <= 10, "rounds {}", mesh.max_rounds());
}

#[test]
fn a_local_edit_is_pushed_to_connected_peers_and_relayed_by_announcement() {
    // A line: 0 - 1 - 2. Replica 2 hears of 0's edit only through 1.
    let mut mesh = Mesh::new(3);
    mesh.connect(0, 1);
    mesh.connect(1, 2);
    mesh.run();
    mesh.add_staff(0, "ana", "Ana");
    mesh.run();
    mesh.assert_converged();
    assert!(mesh.replicas[2]
        .schedule
        .index()
        .staff
        .contains_key(&"ana".parse().unwrap()));
    assert!(mesh.max_rounds() <= 10);
}

#[test]
fn five_replicas_with_concurrent_edits_converge() {
    let mut mesh = Mesh::new(5);
    for a in 0..5 {
        for b in a + 1..5 {
            mesh.connect(a, b);
        }
    }
    mesh.run();
    // Edits everywhere before any message moves, including two writes of the same entity.
    for at in 0..5 {
        mesh.add_staff(at, &format!("s{at}"), "Someone");
        mesh.add_staff(at, "shared", &format!("Name from {at}"));
    }
    mesh.run();
    mesh.assert_converged();
    assert_eq!(mesh.replicas[3].schedule.index().staff.len(), 6);
    assert!(mesh.max_rounds() <= 10, "rounds {}", mesh.max_rounds());
    for at in 0..5 {
        assert!(mesh.failures(at).is_empty(), "{:?}", mesh.failures(at));
    }
}

#[test]
fn a_replica_offline_catches_up_after_reconnecting() {
    let mut mesh = Mesh::new(3);
    mesh.connect(0, 1);
    mesh.connect(1, 2);
    mesh.run();
    mesh.disconnect(1, 2);
    mesh.add_staff(0, "ana", "Ana");
    mesh.add_staff(2, "ben", "Ben");
    mesh.run();
    assert_ne!(mesh.heads(0), mesh.heads(2));
    mesh.connect(1, 2);
    mesh.run();
    mesh.assert_converged();
}

#[test]
fn a_disconnect_mid_session_fails_only_that_session_and_reconnecting_converges() {
    let mut mesh = Mesh::new(2);
    mesh.add_staff(0, "ana", "Ana");
    mesh.connect(0, 1);
    // Deliver one message, then cut the link with the rest in flight.
    let (from, to, message) = mesh.queue.pop_front().unwrap();
    let Message::Request(request) = message else {
        panic!("the first message of a session is a request");
    };
    mesh.input(
        to,
        Input::Request {
            peer: from,
            request,
        },
    );
    mesh.disconnect(0, 1);
    let disconnected =
        |mesh: &Mesh, at: usize| mesh.failures(at).contains(&SessionError::Disconnected);
    assert!(disconnected(&mesh, 0) || disconnected(&mesh, 1));
    mesh.connect(0, 1);
    mesh.run();
    mesh.assert_converged();
}

#[test]
fn a_stuck_session_times_out_and_the_next_catch_up_converges() {
    let mut mesh = Mesh::new(2);
    mesh.add_staff(0, "ana", "Ana");
    mesh.connect(0, 1);
    // Lose everything in flight without either side noticing a disconnect.
    mesh.queue.clear();
    let limits = *mesh.replicas[0].engine.limits();
    mesh.now += limits.session_timeout_ms.max(limits.catch_up_interval_ms);
    mesh.input(0, Input::Tick);
    mesh.input(1, Input::Tick);
    assert!(mesh
        .failures(0)
        .iter()
        .any(|e| matches!(e, SessionError::TimedOut { .. })));
    mesh.run();
    mesh.assert_converged();
}

#[test]
fn a_dropped_request_is_retried_soon_not_at_the_next_catch_up() {
    let mut mesh = Mesh::new(2);
    mesh.connect(0, 1);
    mesh.run();
    mesh.add_staff(0, "ana", "Ana");
    // The peer drops our request (over its allowance, say): the transport reports it.
    mesh.queue.clear();
    mesh.input(
        0,
        Input::RequestFailed {
            peer: 1,
            reason: "dropped".into(),
        },
    );
    assert_eq!(mesh.failures(0).len(), 1);
    let limits = *mesh.replicas[0].engine.limits();
    assert!(limits.retry_min_ms < 1_000, "well under a second");
    // Not before half the first delay (the rest is jitter)...
    mesh.now += limits.retry_min_ms / 2 - 1;
    mesh.input(0, Input::Tick);
    assert!(mesh.queue.is_empty(), "retried before the delay");
    // ...and by the whole of it, without waiting for the catch-up interval.
    mesh.now += limits.retry_min_ms / 2 + 1;
    mesh.input(0, Input::Tick);
    assert!(!mesh.queue.is_empty(), "no retry after the delay");
    mesh.run();
    mesh.assert_converged();
}

/// A request lost on a link that stayed up (a partition that dropped it) once held the session
/// for the two minutes of the session timeout; now the answer is waited for a few seconds, and
/// a message from the peer starts the retry at once.
#[test]
fn a_lost_request_is_given_up_soon_and_any_word_from_the_peer_retries_at_once() {
    let mut mesh = Mesh::new(2);
    mesh.connect(0, 1);
    mesh.run();
    mesh.add_staff(0, "ana", "Ana");
    mesh.queue.clear();
    let limits = *mesh.replicas[0].engine.limits();
    assert!(limits.response_timeout_ms < limits.session_timeout_ms);
    mesh.now += limits.response_timeout_ms;
    mesh.input(0, Input::Tick);
    assert!(mesh
        .failures(0)
        .iter()
        .any(|e| matches!(e, SessionError::TimedOut { .. })));
    assert!(mesh.queue.is_empty(), "the retry waits its delay");
    // The peer speaks (its own edit's announcement): the link works, so ours starts now.
    mesh.add_staff(1, "bo", "Bo");
    assert!(mesh.deliver_one());
    assert!(
        mesh.queue.iter().any(|(from, to, m)| *from == 0
            && *to == 1
            && matches!(m, Message::Request(r) if r.start)),
        "no retry on the peer's word"
    );
    mesh.run();
    mesh.assert_converged();
}

/// A peer that holds us (it is learning the membership from other members first) answers
/// "not yet": our session ends without a retry, so no request loop runs while it holds us,
/// and the session it starts once it lets us through converges.
#[test]
fn an_answer_of_not_yet_ends_the_session_without_a_retry() {
    let mut mesh = Mesh::new(2);
    mesh.add_staff(0, "ana", "Ana");
    mesh.links.insert((0, 1));
    mesh.input(
        0,
        Input::Connected {
            peer: 1,
            saved: SavedStates::default(),
            initiate: true,
        },
    );
    let (from, to, message) = mesh.queue.pop_front().expect("a session starts");
    assert!((from, to) == (0, 1) && matches!(message, Message::Request(ref r) if r.start));
    mesh.queue.clear();
    mesh.input(
        0,
        Input::Response {
            peer: 1,
            response: SyncResponse::not_yet(),
        },
    );
    assert_eq!(mesh.failures(0), [SessionError::NotYet]);
    let limits = *mesh.replicas[0].engine.limits();
    for _ in 0..5 {
        mesh.now += limits.retry_max_ms;
        mesh.input(0, Input::Tick);
    }
    assert!(
        !mesh
            .queue
            .iter()
            .any(|(from, _, m)| *from == 0 && matches!(m, Message::Request(_))),
        "retried a peer that holds us"
    );
    // It lets us through and starts the session itself.
    mesh.input(
        1,
        Input::Connected {
            peer: 0,
            saved: SavedStates::default(),
            initiate: true,
        },
    );
    mesh.run();
    mesh.assert_converged();
}

/// A peer that fails every session is retried at most so often a minute; the catch-up
/// interval takes over beyond that.
#[test]
fn retries_of_a_failing_peer_are_bounded_per_minute() {
    let mut mesh = Mesh::new(2);
    mesh.connect(0, 1);
    mesh.run();
    let limits = *mesh.replicas[0].engine.limits();
    let mut started = 0;
    let minute_ends = mesh.now + 60_000;
    while mesh.now < minute_ends {
        mesh.now += 50;
        mesh.input(0, Input::Tick);
        while let Some((from, to, _)) = mesh.queue.pop_front() {
            if from == 0 && to == 1 {
                started += 1;
            }
            mesh.input(
                0,
                Input::RequestFailed {
                    peer: 1,
                    reason: "refused".into(),
                },
            );
        }
    }
    assert!(started > 5, "retried {started} times");
    assert!(
        started <= limits.max_retries_per_peer_per_minute as usize + 1,
        "{started} sessions started in a minute"
    );
}

#[test]
fn garbage_from_one_peer_resets_its_session_and_others_keep_syncing() {
    let mut mesh = Mesh::new(3);
    mesh.connect(0, 1);
    mesh.connect(0, 2);
    mesh.run();
    let replica = &mut mesh.replicas[0];
    let before = replica.schedule.heads();
    for garbage in [
        vec![],
        vec![0x42; 17],
        b"\x01\x02not an automerge sync message".to_vec(),
        // A valid message header followed by junk.
        {
            let mut m = empty_message();
            m.extend_from_slice(&[0xff; 40]);
            m
        },
    ] {
        let outputs = replica.engine.handle(
            &mut replica.schedule,
            5_000,
            Input::Request {
                peer: 1,
                request: SyncRequest {
                    start: true,
                    message: garbage,
                    signatures: Vec::new(),
                    want_signatures: Vec::new(),
                },
            },
        );
        let responds: Vec<_> = outputs
            .iter()
            .filter(|o| matches!(o, Output::Respond { .. }))
            .collect();
        assert_eq!(responds.len(), 1, "exactly one answer per request");
        assert!(outputs.iter().any(|o| matches!(
            o,
            Output::SessionEnded {
                peer: 1,
                outcome: Outcome::Failed(SessionError::Malformed(_) | SessionError::Refused(_)),
                ..
            }
        )));
    }
    assert_eq!(replica.schedule.heads(), before, "garbage changed nothing");
    // Replica 2 still syncs with replica 0, and so does replica 1 once it talks sense.
    mesh.add_staff(2, "ben", "Ben");
    mesh.run();
    mesh.add_staff(1, "cem", "Cem");
    mesh.run();
    mesh.assert_converged();
}

/// Each machine signs what it writes; the signatures travel with the changes, through a
/// replica that relays them, and every replica verifies every change's machine.
#[test]
fn signatures_travel_with_their_changes_and_are_relayed() {
    let mut mesh = Mesh::new(3).signing();
    mesh.add_staff(0, "ana", "Ana");
    mesh.add_staff(2, "ben", "Ben");
    mesh.connect(0, 1);
    mesh.connect(1, 2);
    mesh.run();
    mesh.add_staff(0, "cy", "Cy");
    mesh.run();
    mesh.assert_converged();
    for at in 0..3 {
        assert_eq!(mesh.unsigned(at), Vec::<ChangeHash>::new(), "replica {at}");
        assert_eq!(mesh.replicas[at].schedule.signed_count(), 3, "replica {at}");
    }
}

/// Changes that came another way than a sync (a backup merged by file) arrive without their
/// signatures; the next session asks the peer for them, and gets those it holds.
#[test]
fn signatures_of_changes_that_came_by_file_are_asked_for() {
    let mut mesh = Mesh::new(2).signing();
    mesh.add_staff(0, "ana", "Ana");
    mesh.add_staff(0, "ben", "Ben");
    let bytes = mesh.replicas[0].schedule.doc_mut().save();
    mesh.replicas[1].schedule.merge_bytes(&bytes).unwrap();
    assert_eq!(mesh.unsigned(1).len(), 2, "a file carries no signatures");
    // Replica 1 dials, so its session comes first.
    mesh.connect(1, 0);
    mesh.run();
    assert_eq!(mesh.unsigned(1), Vec::<ChangeHash>::new());
    // No change came with them, yet they are handed out to be made durable.
    assert_eq!(mesh.replicas[1].applied, 0);
    assert!(mesh.replicas[1].persists > 0);
}

/// A signature altered on the way, or made by another machine's key than the change's, is
/// refused: the change arrives, but unverified.
#[test]
fn a_signature_that_does_not_verify_leaves_its_change_unverified() {
    let mut mesh = Mesh::new(2).signing();
    mesh.add_staff(0, "ana", "Ana");
    mesh.add_staff(0, "ben", "Ben");
    mesh.connect(0, 1);
    let intruder = libp2p_identity::Keypair::ed25519_from_bytes([9; 32]).unwrap();
    let mut tampered = 0;
    loop {
        for (_, _, message) in mesh.queue.iter_mut() {
            let signatures = match message {
                Message::Request(r) => &mut r.signatures,
                Message::Response(r) => &mut r.signatures,
                Message::Announce(_) => continue,
            };
            for s in signatures.iter_mut() {
                if tampered % 2 == 0 {
                    s.signature[0] ^= 1;
                } else {
                    s.machine = intruder
                        .public()
                        .to_peer_id()
                        .to_string()
                        .into_bytes()
                        .into();
                    s.signature = intruder.sign(&s.change).unwrap().into();
                }
                tampered += 1;
            }
        }
        if !mesh.deliver_one() {
            break;
        }
    }
    assert!(tampered >= 2, "the changes travel with signatures");
    mesh.assert_converged();
    assert_eq!(mesh.unsigned(1).len(), 2, "neither signature was kept");
    assert!(mesh.unsigned(0).is_empty(), "the maker holds its own");
}

/// The default limits, with a lower bound on sync messages.
fn with_max_message_bytes(max_message_bytes: usize) -> Limits {
    Limits {
        max_message_bytes,
        ..Limits::default()
    }
}

/// A new member whose catch-up (the whole schedule) is several times the message limit: the
/// sender cuts it into messages within the limit, and the member ends with everything.
#[test]
fn a_catch_up_larger_than_the_message_limit_arrives_in_messages_within_it() {
    let limits = with_max_message_bytes(8 * 1024);
    let mut mesh = Mesh::with_limits(2, limits);
    // Names that do not compress, so the schedule is as large on the wire as it looks.
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    for i in 0..300 {
        let name: String = (0..200)
            .map(|_| {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                char::from(b'a' + (seed >> 59) as u8 % 26)
            })
            .collect();
        mesh.add_staff(0, &format!("s{i:04}"), &name);
    }
    let whole = mesh.replicas[0].schedule.doc_mut().save().len();
    assert!(
        whole > 3 * limits.max_message_bytes,
        "the schedule ({whole} bytes) must need several messages"
    );
    mesh.connect(0, 1);
    mesh.run();
    mesh.assert_converged();
    assert_eq!(mesh.replicas[1].schedule.index().staff.len(), 300);
    assert!(mesh.failures(0).is_empty() && mesh.failures(1).is_empty());
    assert!(
        mesh.longest_message_bytes <= limits.max_message_bytes,
        "a message of {} bytes went over the limit of {}",
        mesh.longest_message_bytes,
        limits.max_message_bytes
    );
}

/// One change larger than the limit cannot be cut: the sender says so by name instead of
/// sending what the peer would refuse.
#[test]
fn a_change_larger_than_the_message_limit_is_named_by_its_sender() {
    let limits = with_max_message_bytes(4 * 1024);
    let mut mesh = Mesh::with_limits(2, limits);
    mesh.add_staff(0, "ana", &"a very long name ".repeat(1_000));
    mesh.connect(0, 1);
    mesh.run();
    assert!(
        mesh.failures(0)
            .iter()
            .chain(&mesh.failures(1))
            .any(|e| matches!(e, SessionError::ChangeTooLarge { .. })),
        "failures: {:?} {:?}",
        mesh.failures(0),
        mesh.failures(1)
    );
    assert!(mesh.longest_message_bytes <= limits.max_message_bytes);
    assert!(!mesh
        .failures(1)
        .iter()
        .any(|e| matches!(e, SessionError::MessageTooLarge { .. })));
}

#[test]
fn an_oversized_message_is_refused_before_decoding() {
    let mut mesh = Mesh::new(2);
    mesh.connect(0, 1);
    mesh.run();
    let replica = &mut mesh.replicas[0];
    let max = replica.engine.limits().max_message_bytes;
    let outputs = replica.engine.handle(
        &mut replica.schedule,
        5_000,
        Input::Request {
            peer: 1,
            request: SyncRequest {
                start: true,
                message: vec![0; max + 1],
                signatures: Vec::new(),
                want_signatures: Vec::new(),
            },
        },
    );
    assert!(outputs.iter().any(|o| matches!(
        o,
        Output::SessionEnded {
            outcome: Outcome::Failed(SessionError::MessageTooLarge { .. }),
            ..
        }
    )));
    assert!(outputs.iter().any(|o| matches!(
        o,
        Output::Respond {
            response: SyncResponse { message: None, .. },
            ..
        }
    )));
}

#[test]
fn a_peer_that_never_stops_is_cut_off_at_the_round_limit() {
    let mut mesh = Mesh::new(2);
    mesh.connect(0, 1);
    mesh.run();
    let max = mesh.replicas[0].engine.limits().max_rounds_per_session;
    // Replica 1 keeps sending the same continuation; replica 0 must stop answering at the bound.
    let replica = &mut mesh.replicas[0];
    let message = empty_message();
    let mut cut_off = false;
    for round in 0..=max {
        let outputs = replica.engine.handle(
            &mut replica.schedule,
            5_000 + u64::from(round),
            Input::Request {
                peer: 1,
                request: SyncRequest {
                    start: round == 0,
                    message: message.clone(),
                    signatures: Vec::new(),
                    want_signatures: Vec::new(),
                },
            },
        );
        cut_off |= outputs.iter().any(|o| {
            matches!(
                o,
                Output::SessionEnded {
                    outcome: Outcome::Failed(SessionError::TooManyRounds { .. }),
                    ..
                }
            )
        });
    }
    assert!(cut_off);
}

#[test]
fn saved_states_let_a_later_session_send_only_what_is_new() {
    let mut mesh = Mesh::new(2);
    for i in 0..200 {
        mesh.add_staff(0, &format!("s{i}"), "Someone");
    }
    mesh.connect(0, 1);
    mesh.run();
    // Both sides restart: states come back from what they saved.
    let saved = |mesh: &mut Mesh, at: usize| {
        let replica = &mut mesh.replicas[at];
        let heads = replica.schedule.heads();
        let mut state = automerge::sync::State::new();
        state.shared_heads = heads;
        SavedStates {
            outbound: Some(state.encode()),
            inbound: Some(state.encode()),
        }
    };
    let (s0, s1) = (saved(&mut mesh, 0), saved(&mut mesh, 1));
    for r in &mut mesh.replicas {
        r.engine = Engine::new(Limits::default());
    }
    mesh.add_staff(0, "late", "Late");
    mesh.links.insert((0, 1));
    mesh.input(
        0,
        Input::Connected {
            peer: 1,
            saved: s0,
            initiate: true,
        },
    );
    mesh.input(
        1,
        Input::Connected {
            peer: 0,
            saved: s1,
            initiate: false,
        },
    );
    let bytes: usize = mesh
        .queue
        .iter()
        .map(|(_, _, m)| match m {
            Message::Request(r) => r.message.len(),
            _ => 0,
        })
        .sum();
    assert!(bytes < 2_000, "opening messages took {bytes} bytes");
    mesh.run();
    mesh.assert_converged();
}

#[test]
fn a_fresh_replica_keeps_the_whole_document_it_received_as_the_bytes_to_store() {
    let mut mesh = Mesh::new(2);
    for n in 0..5 {
        mesh.add_staff(0, &format!("s{n}"), "Someone");
    }
    assert!(mesh.replicas[1].schedule.is_fresh());
    mesh.connect(0, 1);
    mesh.run();
    mesh.assert_converged();
    let (bytes, heads) = mesh.replicas[1]
        .schedule
        .take_received_whole()
        .expect("a fresh replica is sent the whole document and keeps its bytes");
    assert_eq!(heads, mesh.heads(1));
    let mut stored = automerge::AutoCommit::load(&bytes).unwrap();
    assert_eq!(
        stored.get_heads(),
        heads,
        "the bytes load to the heads kept"
    );
    assert!(mesh.replicas[1].schedule.take_received_whole().is_none());
    // A replica that is not fresh applies what it is sent and keeps no bytes.
    mesh.add_staff(0, "late", "Late");
    mesh.run();
    mesh.assert_converged();
    assert!(mesh.replicas[1].schedule.take_received_whole().is_none());
}
