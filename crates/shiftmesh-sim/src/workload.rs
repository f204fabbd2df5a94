//! The random workload: real operations on a small schedule where they collide often (five
//! people, six shifts on two days), including concurrent edits of the same field,
//! acknowledgements of warnings, and writes by other Automerge programs merged in (text
//! objects, wrong types, replaced and deleted collections, root values).

use jiff::civil::{Date, DateTime, Time};
use rand::rngs::StdRng;
use rand::Rng;
use shiftmesh_model::time::LocalSpan;
use shiftmesh_model::{
    Acknowledgement, Assignment, AssignmentKey, Availability, AvailabilityKind, Collection, Edit,
    Id, Schedule, Shift, SiteZone, Staff, Written,
};

use shiftmesh_testdata::foreign::Foreign;

use libp2p_identity::Keypair;

use crate::Replica;

const STAFF: [&str; 5] = ["ana", "bo", "cy", "dee", "eli"];
const SHIFTS: [&str; 6] = ["s0", "s1", "s2", "s3", "s4", "s5"];
/// The machines replicas write as (peer ids in libp2p's base58 form), one per replica; the
/// last is never a replica, only admitted and revoked. Each is the peer id of the key
/// [`machine_key`] gives it.
pub const MACHINES: [&str; 5] = [
    "12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5",
    "12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq",
    "12D3KooWRndVhVZPCiQwHBBBdg769GyrPUW13zxwqQyf9r3ANaba",
    "12D3KooWPT98FXMfDQYavZm66EeVjTqP9Nnehn1gyaydqV8L8BQw",
    "12D3KooWHFd1gyNYFqxt7ke9FY2VoVVWY2XSPhvL9vg2pB6wQGfa",
];

/// The key of one of [`MACHINES`]: the n-th's secret is 32 bytes of n + 1, so a run replays.
pub fn machine_key(machine: &str) -> Keypair {
    let n = MACHINES
        .iter()
        .position(|m| *m == machine)
        .expect("one of the simulation's machines");
    Keypair::ed25519_from_bytes([n as u8 + 1; 32]).expect("32 bytes are an ed25519 secret")
}

fn id(text: &str) -> Id {
    Id::parse(text).expect("the workload's ids are valid")
}

fn day(n: usize) -> Date {
    Date::new(2026, 11, 23 + (n % 2) as i8).expect("a valid date")
}

fn hour(h: i64) -> Time {
    Time::new(h as i8, 0, 0, 0).expect("a valid hour")
}

/// The schedule every replica starts from: the site, two people and two shifts.
/// The founding replica's schedule: the site, a little staff and shifts, and every machine
/// admitted by the founder's (the first machine's).
pub fn founding_schedule() -> Schedule {
    let mut schedule = Schedule::new();
    schedule.sign_as(
        machine_key(MACHINES[0]),
        [0; shiftmesh_model::ACTOR_NONCE_BYTES],
    );
    let edit = Edit {
        author: "founder@sim".into(),
        now_ms: 1,
    };
    let zone = SiteZone::parse("Europe/Berlin").expect("a known zone");
    schedule
        .set_site(&edit, "Sim", &zone)
        .expect("a fresh schedule takes its site");
    for p in &STAFF[..2] {
        schedule
            .add(&edit, &Staff::new(id(p), p.to_string()), format!("add {p}"))
            .expect("new staff");
    }
    for (i, s) in SHIFTS[..2].iter().enumerate() {
        schedule
            .add(&edit, &shift(s, i, 9, 4, 2), format!("add {s}"))
            .expect("new shift");
    }
    for machine in MACHINES {
        schedule
            .trust_member(&edit, machine, "machine", "founding the site")
            .expect("a new member");
    }
    schedule
}

fn shift(key: &str, d: usize, start: i64, len: i64, capacity: u32) -> Shift {
    Shift {
        id: id(key),
        department: None,
        date: day(d),
        start: hour(start),
        end: hour((start + len).min(23)),
        capacity,
        min_staff: 1,
        skills: Default::default(),
        label: String::new(),
    }
}

/// One random operation on the replica; None when the model refused it (an id that exists,
/// a person who does not), which is part of the workload too.
pub fn random_edit(rng: &mut StdRng, replica: &mut Replica, now: u64) -> Option<Written> {
    let schedule = &mut replica.schedule;
    let edit = Edit {
        author: format!("user{}@sim", rng.gen_range(0..3)),
        now_ms: now as i64,
    };
    let p = STAFF[rng.gen_range(0..STAFF.len())];
    let s = SHIFTS[rng.gen_range(0..SHIFTS.len())];
    let result = match rng.gen_range(0..14) {
        12 => {
            // Membership, concurrently on replicas that may not have heard of each other's.
            let machine = MACHINES[rng.gen_range(0..MACHINES.len())];
            schedule.trust_member(&edit, machine, "machine", "by hand")
        }
        13 => {
            let machine = MACHINES[rng.gen_range(0..MACHINES.len())];
            schedule.revoke_member(&edit, machine)
        }
        11 => {
            // Another Automerge program edits a copy (a backup), which is merged back.
            let mut doc = schedule.doc_mut().fork();
            doc.set_author(Some(automerge::Author::from(b"js@sim".to_vec())));
            Foreign::random(rng, STAFF.len(), SHIFTS.len()).write(&mut doc, &STAFF, &SHIFTS);
            doc.commit();
            let merged = schedule.merge_bytes(&doc.save());
            merged.map(|m| Written {
                change: (m.new_changes > 0).then(|| schedule.heads()[0]),
                dirty: m.dirty,
            })
        }
        0 => schedule.add(&edit, &Staff::new(id(p), p.to_string()), format!("add {p}")),
        1 => {
            let d = rng.gen_range(0..2);
            let start = rng.gen_range(6..18);
            let len = rng.gen_range(2..8);
            schedule.add(&edit, &shift(s, d, start, len, 2), format!("add {s}"))
        }
        2..=4 => {
            let assignment = Assignment {
                shift: id(s),
                staff: id(p),
                role: String::new(),
                note: String::new(),
                created_at_ms: now as i64,
                created_by: edit.author.clone(),
                window: None,
            };
            schedule.assign(&edit, &assignment)
        }
        5 => {
            let key = AssignmentKey::new(id(s), id(p)).to_string();
            schedule.remove(
                &edit,
                Collection::Assignments,
                &key,
                &[],
                format!("unassign {key}"),
            )
        }
        6 => {
            // The same field on several replicas at once: capacity.
            let mut existing = schedule.index().shifts.get(&id(s))?.clone();
            existing.capacity = rng.gen_range(1..4);
            schedule.update(&edit, &existing, &["capacity"], format!("capacity {s}"))
        }
        7 => {
            let mut existing = schedule.index().staff.get(&id(p))?.clone();
            existing.name = format!("{p} {}", rng.gen_range(0..100));
            schedule.update(&edit, &existing, &["name"], format!("rename {p}"))
        }
        8 => {
            let d = rng.gen_range(0..2);
            let from = DateTime::from_parts(day(d), hour(rng.gen_range(0..12)));
            let to = DateTime::from_parts(day(d), hour(rng.gen_range(12..23)));
            let span = LocalSpan::new(from, to).ok()?;
            let kind = AvailabilityKind::ALL[rng.gen_range(0..AvailabilityKind::ALL.len())];
            let entry = Availability {
                id: Availability::derive_id(&id(p), &span, kind),
                staff: id(p),
                span,
                kind,
                reason: String::new(),
            };
            schedule.add(&edit, &entry, format!("availability of {p}"))
        }
        9 => {
            let collection = if rng.gen_bool(0.5) {
                Collection::Staff
            } else {
                Collection::Shifts
            };
            let key = if collection == Collection::Staff {
                p
            } else {
                s
            };
            schedule.remove(&edit, collection, key, &[], format!("remove {key}"))
        }
        _ => {
            // Acknowledge a warning, as a user would after reading it.
            let warnings: Vec<_> = replica
                .validator
                .conflicts()
                .into_iter()
                .filter(|c| c.severity == shiftmesh_rules::Severity::Warning)
                .collect();
            let warning = warnings.get(rng.gen_range(0..warnings.len().max(1)))?;
            let ack = Acknowledgement {
                conflict: warning.id.clone(),
                fingerprint: warning.fingerprint.clone(),
                by: edit.author.clone(),
                at_ms: now as i64,
                note: String::new(),
            };
            let schedule = &mut replica.schedule;
            schedule.add(&edit, &ack, format!("ack {}", warning.id))
        }
    };
    result.ok().filter(|w| w.change.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_machine_is_the_peer_id_of_its_key() {
        for machine in MACHINES {
            assert_eq!(
                machine_key(machine).public().to_peer_id().to_string(),
                machine
            );
        }
    }
}
