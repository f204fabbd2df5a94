//! Random edit sequences on several replicas, merged in random orders, with writes by other
//! Automerge programs (text objects, values of the wrong type or range, missing fields,
//! replaced and deleted collections, root values, one id created on several replicas) and
//! resolutions picked from the open conflicts: after every step the incremental pass equals
//! the full pass, the kept index and conflicts equal a fresh load of the same document, no
//! offered option removes a valid assignment, and once everything is merged every replica
//! reports the same conflicts with the same ids. Reverts of recent changes are part of the
//! workload; a revert of a replica's newest change brings its schedule back to what it was
//! before that change.
//!
//! The seed is printed first; rerun a failure with `SHIFTMESH_PROPTEST_SEED=<seed>`, and the
//! number of cases with `PROPTEST_CASES` (default 256).

mod common;

use common::{id, World};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use shiftmesh_model::history;
use shiftmesh_model::{
    AvailabilityKind, Collection, Dirty, Edit, Schedule, Shift, TouchedFields, Written,
};
use shiftmesh_rules::{full_pass, open_and_acknowledged, Input, Kind, OptionId, Validator};
use shiftmesh_testdata::foreign::Foreign;

const STAFF: [&str; 4] = ["ann", "bob", "cy", "dee"];
const SHIFTS: [&str; 5] = ["s0", "s1", "s2", "s3", "s4"];
const REPLICAS: usize = 3;

#[derive(Clone, Debug)]
enum Step {
    Assign(usize, usize, usize),
    Unassign(usize, usize, usize),
    MoveShift(usize, usize, u8, u8),
    Capacity(usize, usize, u32),
    RemoveShift(usize, usize),
    RemoveStaff(usize, usize),
    Leave(usize, usize, u8),
    Skills(usize, usize, bool),
    /// Renames a person: a field no rule reads, so only its own concurrent values are checked.
    Rename(usize, usize, u8),
    /// Narrows an assignment to a window (as split-time does): hours from the shift's start.
    Window(usize, usize, usize, u8, u8),
    /// Adds a person with an id of a small set, so that replicas create the same id at once.
    AddStaff(usize, u8, u8),
    /// Another Automerge program writes into the replica's document (merged in, as a backup):
    /// the write `Foreign::random` draws from the seed.
    Foreign(usize, u64),
    /// A user picks an option of one of the open conflicts (by position, modulo their number).
    Resolve(usize, usize, usize),
    /// A user reverts the change `back` changes before the replica's newest (0: the newest).
    Revert(usize, usize),
    Merge(usize, usize),
}

fn step() -> impl Strategy<Value = Step> {
    let r = 0..REPLICAS;
    prop_oneof![
        4 => (r.clone(), 0..STAFF.len(), 0..SHIFTS.len()).prop_map(|(r, p, s)| Step::Assign(r, p, s)),
        1 => (r.clone(), 0..STAFF.len(), 0..SHIFTS.len()).prop_map(|(r, p, s)| Step::Unassign(r, p, s)),
        2 => (r.clone(), 0..SHIFTS.len(), 0u8..24, 1u8..12).prop_map(|(r, s, h, len)| Step::MoveShift(r, s, h, len)),
        2 => (r.clone(), 0..SHIFTS.len(), 1u32..4).prop_map(|(r, s, c)| Step::Capacity(r, s, c)),
        1 => (r.clone(), 0..SHIFTS.len()).prop_map(|(r, s)| Step::RemoveShift(r, s)),
        1 => (r.clone(), 0..STAFF.len()).prop_map(|(r, p)| Step::RemoveStaff(r, p)),
        1 => (r.clone(), 0..STAFF.len(), 0u8..3).prop_map(|(r, p, d)| Step::Leave(r, p, d)),
        1 => (r.clone(), 0..STAFF.len(), any::<bool>()).prop_map(|(r, p, b)| Step::Skills(r, p, b)),
        2 => (r.clone(), 0..STAFF.len(), 0u8..3).prop_map(|(r, p, n)| Step::Rename(r, p, n)),
        2 => (r.clone(), 0..STAFF.len(), 0..SHIFTS.len(), 0u8..8, 1u8..8)
            .prop_map(|(r, p, s, from, len)| Step::Window(r, p, s, from, len)),
        1 => (r.clone(), 0u8..2, 0u8..3).prop_map(|(r, p, n)| Step::AddStaff(r, p, n)),
        2 => (r.clone(), any::<u64>()).prop_map(|(r, seed)| Step::Foreign(r, seed)),
        2 => (r.clone(), 0usize..16, 0usize..4).prop_map(|(r, c, o)| Step::Resolve(r, c, o)),
        2 => (r.clone(), 0usize..3).prop_map(|(r, back)| Step::Revert(r, back)),
        3 => (r.clone(), r).prop_map(|(a, b)| Step::Merge(a, b)),
    ]
}

struct Replica {
    world: World,
    validator: Validator,
}

impl Replica {
    /// Makes one change on this replica and, if the model accepts it, checks the validator
    /// with what the change touched as a running node finds it (entities and fields).
    fn write(
        &mut self,
        change: impl FnOnce(&mut Schedule, &Edit) -> shiftmesh_model::Result<Written>,
    ) -> shiftmesh_model::Result<()> {
        let edit = self.world.tick();
        let before = self.world.schedule.heads();
        change(&mut self.world.schedule, &edit)?;
        let touched = self.world.schedule.touched_since(&before);
        self.check(&touched.dirty, &touched.fields);
        Ok(())
    }

    fn shift(&self, s: usize) -> Option<Shift> {
        self.world
            .schedule
            .index()
            .shifts
            .get(&id(SHIFTS[s]))
            .cloned()
    }

    fn staff(&self, p: usize) -> Option<shiftmesh_model::Staff> {
        self.world
            .schedule
            .index()
            .staff
            .get(&id(STAFF[p]))
            .cloned()
    }

    fn check(&mut self, dirty: &Dirty, fields: &TouchedFields) {
        let concurrent = self.world.schedule.all_concurrent_values().unwrap();
        let input = Input::new(
            self.world.schedule.index(),
            self.world.schedule.zone(),
            &concurrent,
        );
        let before = self.validator.conflicts();
        let acks = &self.world.schedule.index().acks;
        let brought = self.validator.brought_by(&input, dirty, acks);
        let delta = self.validator.update_touched(&input, dirty, fields);
        let incremental = self.validator.conflicts();
        let full = full_pass(&input);
        assert!(
            incremental == full,
            "incremental != full after touching {dirty:?}:\n{}",
            difference(&incremental, &full)
        );
        // What a command is told its change brought: the open conflicts that were not open.
        let (open_before, _) = open_and_acknowledged(before.clone(), acks);
        let (open_now, _) = open_and_acknowledged(full.clone(), acks);
        let expected: Vec<_> = open_now
            .into_iter()
            .filter(|c| !open_before.iter().any(|b| b.id == c.id))
            .collect();
        assert_eq!(brought, expected, "brought by touching {dirty:?}");
        // What the node reports as appeared and resolved is exactly the difference.
        let ids = |list: &[shiftmesh_rules::Conflict]| {
            list.iter().map(|c| c.id.clone()).collect::<Vec<_>>()
        };
        let appeared: Vec<_> = full
            .iter()
            .filter(|c| !before.iter().any(|b| b.id == c.id))
            .cloned()
            .collect();
        let resolved: Vec<_> = before
            .iter()
            .filter(|c| !full.iter().any(|f| f.id == c.id))
            .cloned()
            .collect();
        assert_eq!(
            ids(&delta.appeared),
            ids(&appeared),
            "appeared after touching {dirty:?}"
        );
        assert_eq!(
            ids(&delta.resolved),
            ids(&resolved),
            "resolved after touching {dirty:?}"
        );
        // A node loading the same document fresh sees the same index and conflicts.
        let bytes = self.world.schedule.doc_mut().save();
        let mut fresh = Schedule::from_doc(automerge::AutoCommit::load(&bytes).unwrap()).unwrap();
        assert_eq!(
            fresh.index(),
            self.world.schedule.index(),
            "the kept index equals a fresh load after touching {dirty:?}"
        );
        assert_eq!(
            common::conflicts(&mut fresh),
            full,
            "a fresh load's conflicts"
        );
        // No option anywhere removes a valid assignment because of another entity's damage:
        // an assignment is called dangling only when its shift or person is really gone.
        let index = self.world.schedule.index();
        for c in full.iter().filter(|c| c.kind == Kind::DanglingReference) {
            let key = shiftmesh_model::AssignmentKey::parse(&c.assignments[0]).unwrap();
            let present = |collection: Collection, key: &str, live: bool| {
                live || index.is_unreadable(collection, key)
            };
            assert!(
                !present(
                    Collection::Shifts,
                    key.shift.as_str(),
                    index.shifts.contains_key(&key.shift)
                ) || !present(
                    Collection::Staff,
                    key.staff.as_str(),
                    index.staff.contains_key(&key.staff)
                ),
                "{} is called dangling, but its shift and person are there: {}",
                key,
                c.message
            );
        }
    }
}

/// What differs between two conflict lists, one line per conflict.
fn difference(left: &[shiftmesh_rules::Conflict], right: &[shiftmesh_rules::Conflict]) -> String {
    let mut out = String::new();
    for c in left.iter().filter(|c| !right.contains(c)) {
        out.push_str(&format!(
            "  only incremental: {} {} {}\n",
            c.id, c.message, c.fingerprint
        ));
    }
    for c in right.iter().filter(|c| !left.contains(c)) {
        out.push_str(&format!(
            "  only full:        {} {} {}\n",
            c.id, c.message, c.fingerprint
        ));
    }
    out
}

fn base() -> World {
    let mut w = World::new("Europe/Berlin");
    for (i, p) in STAFF.iter().enumerate() {
        w.staff(p, if i % 2 == 0 { &["guide"] } else { &[] }, Some(16));
    }
    for (i, s) in SHIFTS.iter().enumerate() {
        // Days around the spring DST change, so some times fall in the gap.
        let date = format!("2026-03-{}", 28 + i % 3);
        w.shift(
            s,
            &date,
            ("08:00", "14:00"),
            (2, 1),
            if i % 2 == 0 { &["guide"] } else { &[] },
        );
    }
    w
}

fn apply(replicas: &mut [Replica], step: &Step) {
    match *step {
        Step::Merge(a, b) if a != b => {
            let bytes = replicas[b].world.schedule.doc_mut().save();
            let merged = replicas[a].world.schedule.merge_bytes(&bytes).unwrap();
            replicas[a].check(&merged.dirty, &merged.fields);
        }
        Step::Merge(..) => {}
        Step::Foreign(r, seed) => {
            let replica = &mut replicas[r];
            let mut doc = replica.world.schedule.doc_mut().fork();
            doc.set_author(Some(automerge::Author::from(b"js@laptop".to_vec())));
            let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
            Foreign::random(&mut rng, STAFF.len(), SHIFTS.len()).write(&mut doc, &STAFF, &SHIFTS);
            doc.commit();
            let bytes = doc.save();
            let merged = replica.world.schedule.merge_bytes(&bytes).unwrap();
            replica.check(&merged.dirty, &merged.fields);
        }
        Step::AddStaff(r, p, n) => {
            let person =
                shiftmesh_model::Staff::new(id(["nia", "ole"][p as usize]), format!("New {n}"));
            let _ = replicas[r].write(|schedule, e| schedule.add(e, &person, "a".into()));
        }
        Step::Resolve(r, c, o) => resolve(&mut replicas[r], c, o),
        Step::Revert(r, back) => revert(&mut replicas[r], back),
        // Writes the model may refuse (a pair already assigned, an entity already gone) are
        // part of the workload: a refused write changes nothing and is not checked.
        Step::Assign(r, p, s) => {
            let _ = replicas[r].write(|schedule, e| {
                let a = shiftmesh_model::Assignment {
                    shift: id(SHIFTS[s]),
                    staff: id(STAFF[p]),
                    role: String::new(),
                    note: String::new(),
                    created_at_ms: e.now_ms,
                    created_by: e.author.clone(),
                    window: None,
                };
                schedule.assign(e, &a)
            });
        }
        Step::Unassign(r, p, s) => {
            let key = format!("{}/{}", SHIFTS[s], STAFF[p]);
            let _ = replicas[r].write(|schedule, e| {
                schedule.remove(e, Collection::Assignments, &key, &[], "u".into())
            });
        }
        Step::MoveShift(r, s, hour, len) => {
            let Some(shift) = replicas[r].shift(s) else {
                return;
            };
            let start = jiff::civil::time(hour as i8, 30, 0, 0);
            let end = jiff::civil::time(((hour + len) % 24) as i8, 30, 0, 0);
            let moved = Shift {
                start,
                end,
                ..shift
            };
            replicas[r]
                .write(|schedule, e| schedule.update(e, &moved, &["time"], "m".into()))
                .unwrap();
        }
        Step::Capacity(r, s, capacity) => {
            let Some(shift) = replicas[r].shift(s) else {
                return;
            };
            let min_staff = shift.min_staff.min(capacity);
            let resized = Shift {
                capacity,
                min_staff,
                ..shift
            };
            replicas[r]
                .write(|schedule, e| {
                    schedule.update(e, &resized, &["capacity", "min_staff"], "c".into())
                })
                .unwrap();
        }
        Step::RemoveShift(r, s) => {
            let _ = replicas[r].write(|schedule, e| {
                schedule.remove(e, Collection::Shifts, SHIFTS[s], &[], "rs".into())
            });
        }
        Step::RemoveStaff(r, p) => {
            let _ = replicas[r].write(|schedule, e| {
                schedule.remove(e, Collection::Staff, STAFF[p], &[], "rp".into())
            });
        }
        Step::Leave(r, p, day) => {
            if replicas[r].staff(p).is_none() {
                return;
            }
            let from = format!("2026-03-{}T00:00", 28 + day);
            let to = format!("2026-03-{}T12:00", 28 + day);
            let span = shiftmesh_model::LocalSpan::decode(&format!("{from}/{to}")).unwrap();
            let entry = shiftmesh_model::Availability {
                id: shiftmesh_model::Availability::derive_id(
                    &id(STAFF[p]),
                    &span,
                    AvailabilityKind::Leave,
                ),
                staff: id(STAFF[p]),
                span,
                kind: AvailabilityKind::Leave,
                reason: String::new(),
            };
            let _ = replicas[r].write(|schedule, e| schedule.add(e, &entry, "l".into()));
        }
        Step::Window(r, p, s, from, len) => {
            let key = shiftmesh_model::AssignmentKey::new(id(SHIFTS[s]), id(STAFF[p]));
            let index = replicas[r].world.schedule.index();
            let (Some(_), Some(shift)) =
                (index.assignments.get(&key), index.shifts.get(&key.shift))
            else {
                return;
            };
            let start = shift.time().start_local();
            let hours = |h: u8| {
                start
                    .checked_add(jiff::Span::new().hours(i64::from(h)))
                    .unwrap()
            };
            let window = shiftmesh_model::LocalSpan::new(hours(from), hours(from + len)).unwrap();
            let op = shiftmesh_model::Op::SetField {
                collection: Collection::Assignments,
                key: key.to_string(),
                field: "window".into(),
                value: shiftmesh_model::FieldValue::Str(window.encode()),
            };
            replicas[r]
                .write(|schedule, e| schedule.apply(e, "w".into(), &[op]))
                .unwrap();
        }
        Step::Rename(r, p, n) => {
            let Some(staff) = replicas[r].staff(p) else {
                return;
            };
            let renamed = shiftmesh_model::Staff {
                name: format!("{} {n}", STAFF[p]),
                ..staff
            };
            let _ = replicas[r]
                .write(|schedule, e| schedule.update(e, &renamed, &["name"], "n".into()));
        }
        Step::Skills(r, p, guide) => {
            let Some(staff) = replicas[r].staff(p) else {
                return;
            };
            let skills = if guide {
                ["guide".to_owned()].into()
            } else {
                Default::default()
            };
            let changed = shiftmesh_model::Staff { skills, ..staff };
            replicas[r]
                .write(|schedule, e| schedule.update(e, &changed, &["skills"], "k".into()))
                .unwrap();
        }
    }
}

/// A user resolves the `c`-th open conflict with its `o`-th option (or acknowledges it),
/// giving a value where the option needs one, as a user reading the conflict would.
fn resolve(replica: &mut Replica, c: usize, o: usize) {
    let concurrent = replica.world.schedule.all_concurrent_values().unwrap();
    let index = replica.world.schedule.index().clone();
    let zone = replica.world.schedule.zone().clone();
    let input = Input::new(&index, &zone, &concurrent);
    let (open, _) = open_and_acknowledged(full_pass(&input), &index.acks);
    if open.is_empty() {
        return;
    }
    let conflict = &open[c % open.len()];
    let option = conflict.options[o % conflict.options.len()].id;
    let value = match option {
        OptionId::PickValue => conflict.values.first().map(|v| match &v.value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }),
        OptionId::IncreaseCapacity => Some("9".into()),
        OptionId::KeepVersion => Some("1".into()),
        OptionId::EditShift => Some("08:00-12:00".into()),
        OptionId::Edit => match conflict.field.as_deref() {
            Some("capacity") => Some("3".into()),
            Some("min_staff") => Some("1".into()),
            Some("time") => Some("2026-03-28T08:00/12:00".into()),
            Some("name") => Some("Named".into()),
            _ => None,
        },
        _ => None,
    };
    let staff = match option {
        OptionId::FindSubstitute => shiftmesh_rules::substitutes(conflict, &input)
            .ok()
            .and_then(|(_, candidates)| candidates.first().map(|c| c.staff.clone())),
        _ => None,
    };
    let request = shiftmesh_rules::Request {
        option: option.as_str().to_owned(),
        staff,
        value,
        note: None,
    };
    let edit = replica.world.tick();
    let Ok(plan) = shiftmesh_rules::plan(conflict, &request, &input, &edit) else {
        return;
    };
    let _ = replica.write(|schedule, e| schedule.apply(e, plan.message.clone(), &plan.ops));
}

/// The schedule's live entities: what a user sees of it.
type Live = (
    Vec<shiftmesh_model::Department>,
    Vec<shiftmesh_model::Staff>,
    Vec<Shift>,
    Vec<shiftmesh_model::Assignment>,
    Vec<shiftmesh_model::Availability>,
);

fn live(schedule: &Schedule) -> Live {
    let index = schedule.index();
    (
        index.departments.values().cloned().collect(),
        index.staff.values().cloned().collect(),
        index.shifts.values().cloned().collect(),
        index.assignments.values().cloned().collect(),
        index.availability.values().cloned().collect(),
    )
}

/// Reverts a recent change; a revert the model refuses changes nothing. Reverting the newest
/// change of a document whose history is one line there must give back the schedule as it was
/// before that change.
fn revert(replica: &mut Replica, back: usize) {
    let doc = replica.world.schedule.doc_mut();
    let metas: Vec<_> = doc
        .get_changes_meta(&[])
        .into_iter()
        .map(|m| (m.hash, m.deps.to_vec()))
        .collect();
    let Some((hash, deps)) = metas.iter().rev().nth(back).cloned() else {
        return;
    };
    let newest = back == 0 && doc.get_heads() == [hash];
    let expected = newest.then(|| {
        let before = doc.fork_at(&deps).unwrap();
        live(&Schedule::from_doc(before).unwrap())
    });
    let reverted = replica.write(|schedule, e| schedule.revert(e, hash).map(|(w, _)| w));
    if let (Ok(()), Some(expected)) = (reverted, expected) {
        assert_eq!(
            live(&replica.world.schedule),
            expected,
            "a revert of the newest change gives back the schedule before it"
        );
    }
}

/// Runs the steps on fresh replicas, then merges every replica with every other.
fn replay(steps: &[Step]) -> Vec<Replica> {
    let mut origin = base();
    let mut replicas: Vec<Replica> = (0..REPLICAS)
        .map(|i| {
            let mut world = origin.fork();
            world.clock += i as i64 * 7;
            let concurrent = world.schedule.all_concurrent_values().unwrap();
            let validator = Validator::new(&Input::new(
                world.schedule.index(),
                world.schedule.zone(),
                &concurrent,
            ));
            Replica { world, validator }
        })
        .collect();
    for step in steps {
        apply(&mut replicas, step);
    }
    // Bring everyone together: two rounds of all-pairs merges.
    for _ in 0..2 {
        for a in 0..REPLICAS {
            for b in 0..REPLICAS {
                apply(&mut replicas, &Step::Merge(a, b));
            }
        }
    }
    replicas
}

fn run(steps: &[Step]) {
    let mut replicas = replay(steps);
    let reference = common::conflicts(&mut replicas[0].world.schedule);
    let heads = replicas[0].world.schedule.heads();
    for replica in &mut replicas[1..] {
        assert_eq!(replica.world.schedule.heads(), heads, "identical heads");
        assert_eq!(
            common::conflicts(&mut replica.world.schedule),
            reference,
            "identical conflicts"
        );
    }
}

#[test]
fn incremental_equals_full_and_replicas_agree_after_random_edits_and_merges() {
    run_random_cases(256, run);
}

/// The history of every change, worked out from the change's own operations (as the store
/// records it), equals Automerge's diff of the whole document between the change's
/// dependencies and the change, on random edits with merges, concurrent values, reverts and
/// other programs' writes.
#[test]
fn history_from_each_changes_operations_equals_the_document_diff() {
    run_random_cases(64, |steps| {
        let mut replicas = replay(steps);
        let doc = replicas[0].world.schedule.doc_mut();
        let metas = history::changes_since(doc, &[]);
        for meta in &metas {
            let recorded = history::record(doc, meta);
            assert_eq!(
                recorded.entry,
                history::document_diff(doc, meta),
                "change {}",
                meta.hash
            );
        }
        let since: Vec<_> = metas.iter().take(metas.len() / 2).map(|m| m.hash).collect();
        let later = history::changes_since(doc, &since);
        assert!(later.iter().all(|m| !since.contains(&m.hash)));
    });
}

/// Runs `check` on random step sequences: the seed is printed first, and taken from
/// `SHIFTMESH_PROPTEST_SEED` when set; `PROPTEST_CASES` overrides `cases`.
fn run_random_cases(cases: u32, check: fn(&[Step])) {
    let seed: u64 = std::env::var("SHIFTMESH_PROPTEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
        });
    println!("proptest seed: {seed} (rerun with SHIFTMESH_PROPTEST_SEED={seed})");
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(cases),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let result = runner.run(&proptest::collection::vec(step(), 1..40), |steps| {
        check(&steps);
        Ok(())
    });
    if let Err(e) = result {
        panic!("seed {seed}: {e}");
    }
}

/// A window of overlap can run for weeks (a day shift and a night shift every day, each
/// reaching into the next): the incremental pass follows it as it grows, splits and joins.
#[test]
fn a_window_of_overlap_across_weeks_stays_equal_to_the_full_pass() {
    const DAYS: usize = 20;
    let mut world = World::new("UTC");
    world.staff("ann", &[], None);
    for day in 0..=DAYS {
        let date = jiff::civil::date(2026, 11, 2) + jiff::Span::new().days(day as i64);
        world.shift(
            &format!("d{day:02}"),
            &date.to_string(),
            ("06:00", "06:00"),
            (1, 0),
            &[],
        );
        world.shift(
            &format!("n{day:02}"),
            &date.to_string(),
            ("18:00", "18:00"),
            (1, 0),
            &[],
        );
    }
    let concurrent = world.schedule.all_concurrent_values().unwrap();
    let validator = Validator::new(&Input::new(
        world.schedule.index(),
        world.schedule.zone(),
        &concurrent,
    ));
    let mut replica = Replica { world, validator };
    let assign = |replica: &mut Replica, shift: &str| {
        let a = shiftmesh_model::Assignment {
            shift: id(shift),
            staff: id("ann"),
            role: String::new(),
            note: String::new(),
            created_at_ms: replica.world.clock,
            created_by: "alice@a".into(),
            window: None,
        };
        replica.write(|s, e| s.assign(e, &a)).unwrap();
    };
    // The chain grows from its end and from its start, across three weeks.
    for day in (DAYS / 2..DAYS).chain((0..DAYS / 2).rev()) {
        assign(&mut replica, &format!("d{day:02}"));
        assign(&mut replica, &format!("n{day:02}"));
    }
    let windows = |replica: &mut Replica| {
        common::conflicts(&mut replica.world.schedule)
            .into_iter()
            .filter(|c| c.kind == Kind::DoubleBooking)
            .map(|c| c.assignments.len())
            .collect::<Vec<_>>()
    };
    assert_eq!(windows(&mut replica), [2 * DAYS]);
    // A day more at its end, three weeks after the window starts.
    assign(&mut replica, &format!("d{DAYS:02}"));
    assign(&mut replica, &format!("n{DAYS:02}"));
    assert_eq!(windows(&mut replica), [2 * DAYS + 2]);
    // Taking out a day's two shifts splits it; a shift moved into the gap joins it again.
    for shift in ["d09", "n09"] {
        replica
            .write(|s, e| {
                s.remove(
                    e,
                    Collection::Assignments,
                    &format!("{shift}/ann"),
                    &[],
                    "x".into(),
                )
            })
            .unwrap();
    }
    assert_eq!(windows(&mut replica).len(), 2);
    let mut moved = replica.world.schedule.index().shifts[&id("d15")].clone();
    moved.date = jiff::civil::date(2026, 11, 11);
    replica
        .write(|s, e| s.update(e, &moved, &["time"], "m".into()))
        .unwrap();
    assert_eq!(
        windows(&mut replica).len(),
        3,
        "d15 joins the first window and its old day splits the second"
    );
}
