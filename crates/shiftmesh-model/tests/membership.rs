//! The membership rule: a revoked machine that has not heard of its revocation cannot admit
//! another machine or trust itself again, whatever order the changes reach a node in, and every
//! copy of the schedule judges the members alike.

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ReadDoc};
use libp2p_identity::Keypair;
use proptest::prelude::*;
use shiftmesh_model::{machine_actor, Collection, Edit, Schedule, Staff};

/// Peer ids of the machines of these tests (base58, as libp2p writes them), each that of the
/// key [`key`] gives it.
const A: &str = "12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5";
const B: &str = "12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq";
const C: &str = "12D3KooWRndVhVZPCiQwHBBBdg769GyrPUW13zxwqQyf9r3ANaba";
const E: &str = "12D3KooWHFd1gyNYFqxt7ke9FY2VoVVWY2XSPhvL9vg2pB6wQGfa";
const MACHINES: [&str; 4] = [A, B, C, E];

/// A machine's key: the secret of A is 32 bytes of 1, B's of 2, C's of 3, E's of 5.
fn key(machine: &str) -> Keypair {
    let seed = match machine {
        A => 1,
        B => 2,
        C => 3,
        E => 5,
        other => panic!("no key for {other}"),
    };
    Keypair::ed25519_from_bytes([seed; 32]).unwrap()
}

fn edit(author: &str, now_ms: i64) -> Edit {
    Edit {
        author: author.to_owned(),
        now_ms,
    }
}

/// A copy of `schedule` on `machine`, writing as it.
fn copy_on(schedule: &mut Schedule, machine: &str, nonce: u8) -> Schedule {
    let bytes = schedule.doc_mut().save();
    let mut copy = Schedule::from_doc(AutoCommit::load(&bytes).unwrap()).unwrap();
    copy.restore_signatures(schedule.signatures());
    copy.sign_as(key(machine), [nonce; 8]);
    copy
}

/// `to` takes every change of `from` it lacks, with their signatures, as a sync would.
fn sync(to: &mut Schedule, from: &mut Schedule) {
    to.accept_signatures(from.signatures());
    let bytes = from.doc_mut().save();
    to.merge_bytes(&bytes).unwrap();
}

/// Writes `revoked` into `peer`'s record with `actor`, straight into the document: what a
/// machine running a changed build could do. Nothing signs it.
fn write_unsigned(copy: &mut Schedule, actor: ActorId, peer: &str, revoked: bool) {
    let members = shiftmesh_model::schema::collection_object(Collection::Members).unwrap();
    let doc = copy.doc_mut();
    let members = doc.import_obj(members).unwrap();
    let record = match doc.get(&members, peer).unwrap() {
        Some((_, record)) => record,
        None => panic!("{peer} has a record"),
    };
    doc.set_actor(actor);
    doc.put(&record, "revoked", revoked).unwrap();
    doc.commit();
}

/// A site founded on A, with B and C admitted by A.
fn site() -> Schedule {
    let mut a = Schedule::new();
    a.sign_as(key(A), [1; 8]);
    for (n, (peer, name)) in [(A, "front desk"), (B, "office"), (C, "kiosk")]
        .into_iter()
        .enumerate()
    {
        a.trust_member(&edit("ana@a", n as i64), peer, name, "by invite")
            .unwrap();
    }
    a
}

/// Finding 2 of the trust review, on copies of the schedule: A revokes C while B is away; C,
/// not knowing, admits E and edits; B meets C first, then A.
#[test]
fn a_revoked_machine_that_has_not_heard_cannot_admit_another() {
    let mut a = site();
    let mut b = copy_on(&mut a, B, 2);
    let mut c = copy_on(&mut a, C, 3);
    a.revoke_member(&edit("ana@a", 10), C).unwrap();
    c.trust_member(&edit("cy@c", 11), E, "laptop", "by invite")
        .unwrap();
    c.add(
        &edit("cy@c", 12),
        &Staff::new("sam".parse().unwrap(), "Sam".into()),
        "add sam".into(),
    )
    .unwrap();

    sync(&mut b, &mut c);
    assert!(
        b.index().is_trusted(E),
        "B has not heard of the revocation: C's admission of E stands for now"
    );
    sync(&mut b, &mut a);
    sync(&mut a, &mut b);
    for (who, copy) in [("B", &b), ("A, after meeting B", &a)] {
        let members = &copy.index().members;
        assert!(!copy.index().is_trusted(C), "{who}: C is revoked");
        assert!(members[C].revoked, "{who}");
        assert!(
            !copy.index().is_trusted(E),
            "{who}: E's admission does not count"
        );
        assert!(members[E].void.is_some(), "{who}: {:?}", members[E]);
        assert!(
            copy.index().is_trusted(A) && copy.index().is_trusted(B),
            "{who}"
        );
    }

    // What C wrote after its revocation (E's admission, Sam) is listed, oldest first.
    let after = a.changes_after_revocation(C);
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(a.changes_after_revocation(B).is_empty());

    // C hears of it and trusts itself again: that write is C's, after its revocation.
    sync(&mut c, &mut a);
    assert!(!c.index().is_trusted(C));
    c.trust_member(&edit("cy@c", 13), C, "kiosk", "by hand")
        .unwrap();
    sync(&mut a, &mut c);
    assert!(
        !a.index().is_trusted(C),
        "a revoked machine cannot trust itself again"
    );

    // A member that knows may still admit E, as an explicit act of its own.
    a.trust_member(&edit("ana@a", 14), E, "laptop", "by hand")
        .unwrap();
    assert!(a.index().is_trusted(E));
    sync(&mut b, &mut a);
    assert!(b.index().is_trusted(E));
}

/// Admissions C made before its revocation, which the revocation saw, still count; the
/// revocation also wins over a trust of C written concurrently by another member.
#[test]
fn what_the_revocation_saw_counts_and_it_wins_over_a_concurrent_trust() {
    let mut a = site();
    let mut c = copy_on(&mut a, C, 3);
    c.trust_member(&edit("cy@c", 5), E, "laptop", "by invite")
        .unwrap();
    sync(&mut a, &mut c);
    let mut b = copy_on(&mut a, B, 2);
    a.revoke_member(&edit("ana@a", 10), C).unwrap();
    // B, concurrently, has C trusted again (it was revoked and restored on B's side).
    b.revoke_member(&edit("bo@b", 10), C).unwrap();
    b.trust_member(&edit("bo@b", 11), C, "kiosk", "by hand")
        .unwrap();
    sync(&mut a, &mut b);
    assert!(
        a.index().is_trusted(E),
        "E was admitted before the revocation saw it"
    );
    assert!(
        !a.index().is_trusted(C),
        "A's revocation, concurrent with B's trust, wins"
    );
}

/// A schedule of a release before machines were named: every write counts, as before.
#[test]
fn writes_of_unnamed_actors_count() {
    let mut a = Schedule::new();
    a.trust_member(&edit("ana@a", 1), B, "office", "by invite")
        .unwrap();
    a.revoke_member(&edit("ana@a", 2), B).unwrap();
    a.trust_member(&edit("ana@a", 3), B, "office", "by hand")
        .unwrap();
    assert!(a.index().is_trusted(B));
}

/// C, revoked, writes C's record as trusted again claiming to be A (it has no key of A's), or
/// with an anonymous actor as an older release would: neither write is signed by a member,
/// so neither counts, on C's copy or on A's.
#[test]
fn a_write_claimed_as_another_machines_does_not_count() {
    let mut a = site();
    let mut c = copy_on(&mut a, C, 3);
    a.revoke_member(&edit("ana@a", 10), C).unwrap();
    sync(&mut c, &mut a);
    for actor in [
        machine_actor(A, [7; 8]),
        ActorId::from(b"an older release".to_vec()),
    ] {
        write_unsigned(&mut c, actor, C, false);
        let mut judged_by_c = copy_on(&mut c, C, 4);
        assert!(!judged_by_c.index().is_trusted(C));
        sync(&mut a, &mut judged_by_c);
        assert!(
            !a.index().is_trusted(C),
            "an unsigned write does not trust C again"
        );
        assert!(a.index().members[C].revoked);
    }
    // The same write signed by A counts: it is A's.
    a.trust_member(&edit("ana@a", 20), C, "kiosk", "by hand")
        .unwrap();
    let mut b = copy_on(&mut a, B, 2);
    sync(&mut b, &mut a);
    assert!(b.index().is_trusted(C));
    let head = b.doc_mut().get_heads()[0];
    assert!(b.is_signed(&head));
}

#[derive(Clone, Debug)]
enum Step {
    Trust { by: usize, peer: usize },
    Revoke { by: usize, peer: usize },
    Sync { to: usize, from: usize },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..4usize, 0..4usize).prop_map(|(by, peer)| Step::Trust { by, peer }),
        (0..4usize, 0..4usize).prop_map(|(by, peer)| Step::Revoke { by, peer }),
        (0..4usize, 0..4usize).prop_map(|(to, from)| Step::Sync { to, from }),
    ]
}

proptest! {
    /// Random admissions, revocations and partial syncs among four machines: once every copy
    /// holds every change, all judge every member alike, and a copy reloaded from its bytes
    /// judges as the one kept up to date.
    #[test]
    fn every_copy_judges_the_members_alike(steps in prop::collection::vec(step(), 1..40)) {
        let mut first = site();
        let mut copies: Vec<Schedule> = (0..4)
            .map(|n| copy_on(&mut first, MACHINES[n], n as u8 + 1))
            .collect();
        for (t, step) in steps.iter().enumerate() {
            let now = 100 + t as i64;
            match *step {
                Step::Trust { by, peer } => {
                    // Refused when the copy already trusts it: that is fine.
                    let _ = copies[by].trust_member(&edit("x@x", now), MACHINES[peer], "m", "by hand");
                }
                Step::Revoke { by, peer } => {
                    let _ = copies[by].revoke_member(&edit("x@x", now), MACHINES[peer]);
                }
                Step::Sync { to, from } if to != from => {
                    let (to, from) = if to < from {
                        let (l, r) = copies.split_at_mut(from);
                        (&mut l[to], &mut r[0])
                    } else {
                        let (l, r) = copies.split_at_mut(to);
                        (&mut r[0], &mut l[from])
                    };
                    sync(to, from);
                }
                Step::Sync { .. } => {}
            }
        }
        for to in 0..4 {
            for from in 0..4 {
                if to != from {
                    let mut other = copy_on(&mut copies[from], MACHINES[from], 9);
                    sync(&mut copies[to], &mut other);
                }
            }
        }
        let judged = |s: &Schedule| {
            s.index()
                .members
                .values()
                .map(|m| (m.peer.clone(), m.revoked, m.void.is_some()))
                .collect::<Vec<_>>()
        };
        let expected = judged(&copies[0]);
        for copy in &mut copies {
            prop_assert_eq!(judged(copy), expected.clone());
            let reloaded = copy_on(copy, A, 7);
            prop_assert_eq!(judged(&reloaded), expected.clone());
        }
    }
}
