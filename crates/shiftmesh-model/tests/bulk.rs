//! Many new entities written as one change built directly (an import) hold the same schedule
//! as the same entities written one local put at a time, and merge as any change does.

use std::collections::BTreeSet;

use automerge::{AutoCommit, ReadDoc, ROOT};
use proptest::prelude::*;
use shiftmesh_model::time::{parse_date, parse_time};
use shiftmesh_model::{
    Assignment, Availability, AvailabilityKind, Batch, Collection, Edit, Id, LocalSpan, Schedule,
    Shift, Staff,
};

fn id(text: &str) -> Id {
    Id::parse(text).unwrap()
}

/// A schedule written as machine `n` signs its changes.
fn machine(n: u8) -> Schedule {
    let mut schedule = Schedule::new();
    let key = libp2p_identity::Keypair::ed25519_from_bytes([n; 32]).unwrap();
    schedule.sign_as(key, [n; 8]);
    schedule
}

/// A random batch: people with or without a name part, department and limit; shifts across a
/// week, some overnight; assignments of some of them; leave for some people.
fn batches() -> impl Strategy<Value = Batch> {
    let person = (any::<bool>(), 0u32..3, proptest::option::of(0u32..3000));
    let a_shift = (0u32..7, 0u32..24, 1u32..12, 1u32..4, any::<bool>());
    (
        proptest::collection::vec(person, 1..12),
        proptest::collection::vec(a_shift, 1..10),
        proptest::collection::vec((0usize..12, 0usize..10, -5i64..5), 0..20),
        proptest::collection::vec((0usize..12, 0u32..7), 0..5),
        "[a-z]{0,3}",
    )
        .prop_map(|(people, shifts, pairs, leave, prefix)| {
            let staff: Vec<Staff> = people
                .iter()
                .enumerate()
                .map(|(n, (named, dept, limit))| Staff {
                    department: (*dept > 0).then(|| id(&format!("d{dept}"))),
                    max_minutes_week: *limit,
                    skills: BTreeSet::from([format!("skill{dept}")]),
                    ..Staff::new(
                        id(&format!("{prefix}p{n}")),
                        if *named {
                            format!("Person {n}")
                        } else {
                            String::new()
                        },
                    )
                })
                .collect();
            let shifts: Vec<Shift> = shifts
                .iter()
                .enumerate()
                .map(|(n, (day, start, hours, capacity, labelled))| Shift {
                    id: id(&format!("{prefix}s{n}")),
                    department: None,
                    date: parse_date(&format!("2026-11-{:02}", 23 + day)).unwrap(),
                    start: parse_time(&format!("{start:02}:00")).unwrap(),
                    end: parse_time(&format!("{:02}:00", (start + hours) % 24)).unwrap(),
                    capacity: *capacity,
                    min_staff: 1,
                    skills: BTreeSet::new(),
                    label: if *labelled {
                        format!("Shift {n}")
                    } else {
                        String::new()
                    },
                })
                .collect();
            let mut assigned = BTreeSet::new();
            let assignments: Vec<Assignment> = pairs
                .iter()
                .filter(|(p, s, _)| *p < staff.len() && *s < shifts.len())
                .filter(|(p, s, _)| assigned.insert((*p, *s)))
                .map(|(p, s, at)| Assignment {
                    shift: shifts[*s].id.clone(),
                    staff: staff[*p].id.clone(),
                    role: String::new(),
                    note: format!("{at}"),
                    created_at_ms: 1_800_000_000_000 + at,
                    created_by: "ana@office".into(),
                    window: None,
                })
                .collect();
            let availability: Vec<Availability> = leave
                .iter()
                .filter(|(p, _)| *p < staff.len())
                .map(|(p, day)| {
                    let span = LocalSpan::new(
                        shiftmesh_model::time::parse_datetime(&format!(
                            "2026-11-{:02}T00:00",
                            23 + day
                        ))
                        .unwrap(),
                        shiftmesh_model::time::parse_datetime(&format!(
                            "2026-11-{:02}T23:00",
                            23 + day
                        ))
                        .unwrap(),
                    )
                    .unwrap();
                    let kind = AvailabilityKind::Leave;
                    let entry = Availability {
                        id: Availability::derive_id(&staff[*p].id, &span, kind),
                        staff: staff[*p].id.clone(),
                        span,
                        kind,
                        reason: String::new(),
                    };
                    (entry.id.clone(), entry)
                })
                .collect::<std::collections::BTreeMap<_, _>>()
                .into_values()
                .collect();
            Batch {
                departments: Vec::new(),
                staff,
                shifts,
                assignments,
                availability,
            }
        })
}

/// The same entities, one local write each.
fn one_by_one(schedule: &mut Schedule, edit: &Edit, batch: &Batch) {
    for e in &batch.staff {
        schedule.add(edit, e, "add".into()).unwrap();
    }
    for e in &batch.shifts {
        schedule.add(edit, e, "add".into()).unwrap();
    }
    for e in &batch.assignments {
        schedule.add(edit, e, "add".into()).unwrap();
    }
    for e in &batch.availability {
        schedule.add(edit, e, "add".into()).unwrap();
    }
}

fn loaded(schedule: &mut Schedule) -> Schedule {
    let bytes = schedule.doc_mut().save();
    Schedule::from_doc(AutoCommit::load(&bytes).unwrap()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn one_change_holds_what_one_put_at_a_time_holds(batch in batches(), wrote_before in any::<bool>()) {
        let edit = Edit { author: "ana@office".into(), now_ms: 1_800_000_000_000 };
        let mut bulk = machine(1);
        let mut single = machine(1);
        if wrote_before {
            // The same actor has written already: the import is not its first change.
            let zone = shiftmesh_model::SiteZone::parse("Europe/Berlin").unwrap();
            bulk.set_site(&edit, "Museum", &zone).unwrap();
            single.set_site(&edit, "Museum", &zone).unwrap();
        }
        let written = bulk.add_many(&edit, &batch, "import".into(), &mut |_| {}).unwrap();
        one_by_one(&mut single, &edit, &batch);

        prop_assert_eq!(bulk.doc().hydrate(&ROOT, None).unwrap(), single.doc().hydrate(&ROOT, None).unwrap());
        prop_assert_eq!(bulk.index(), single.index());
        prop_assert_eq!(written.dirty.len(), batch.len());
        let change = written.change.expect("one change was made");
        prop_assert!(bulk.is_signed(&change), "the change is signed by the machine");
        let meta = bulk.doc_mut().get_change_meta_by_hash(&change).unwrap();
        prop_assert_eq!(meta.message.as_deref(), Some("import"));
        prop_assert_eq!(meta.timestamp, 1_800_000_000);
        // The author as history reads it, whether or not the change carries it itself.
        prop_assert_eq!(meta.author.map(|a| a.as_bytes().to_vec()), Some(b"ana@office".to_vec()));
        // Saved and loaded, it reads the same, and the index built from it is the one kept.
        let mut back = loaded(&mut bulk);
        prop_assert_eq!(back.doc().hydrate(&ROOT, None).unwrap(), bulk.doc().hydrate(&ROOT, None).unwrap());
        prop_assert_eq!(back.index(), bulk.index());
        prop_assert_eq!(back.heads(), bulk.heads());
        // A local write after it takes the next counters and sequence number.
        let first = batch.staff[0].clone();
        bulk.update(&edit, &Staff { name: "Renamed".into(), ..first }, &["name"], "rename".into()).unwrap();
        let mut again = loaded(&mut bulk);
        prop_assert_eq!(again.index(), bulk.index());
        prop_assert_eq!(again.heads(), bulk.heads());
    }

    #[test]
    fn imports_on_two_machines_at_once_merge_into_one_schedule_with_every_entity(
        a_batch in batches(),
        b_batch in batches(),
    ) {
        let edit = Edit { author: "ana@office".into(), now_ms: 1_800_000_000_000 };
        let mut a = machine(1);
        let mut b = machine(2);
        a.add_many(&edit, &a_batch, "import a".into(), &mut |_| {}).unwrap();
        b.add_many(&edit, &b_batch, "import b".into(), &mut |_| {}).unwrap();
        let a_bytes = a.doc_mut().save();
        let b_bytes = b.doc_mut().save();
        a.merge_bytes(&b_bytes).unwrap();
        b.merge_bytes(&a_bytes).unwrap();
        prop_assert_eq!(a.heads(), b.heads());
        prop_assert_eq!(a.doc().hydrate(&ROOT, None).unwrap(), b.doc().hydrate(&ROOT, None).unwrap());
        prop_assert_eq!(a.index(), b.index());
        for batch in [&a_batch, &b_batch] {
            for e in &batch.staff {
                prop_assert!(a.exists(Collection::Staff, e.id.as_str()));
            }
            for e in &batch.shifts {
                prop_assert!(a.exists(Collection::Shifts, e.id.as_str()));
            }
            for e in &batch.assignments {
                prop_assert!(a.exists(Collection::Assignments, &shiftmesh_model::Entity::key(e)));
            }
            for e in &batch.availability {
                prop_assert!(a.exists(Collection::Availability, e.id.as_str()));
            }
        }
        let back = loaded(&mut a);
        prop_assert_eq!(back.index(), a.index());
    }
}

/// An entity that exists already (here softly removed) is brought back field by field, in the
/// same one change, and the rest are created with it.
#[test]
fn a_batch_that_brings_back_a_removed_entity_is_still_one_change() {
    let edit = Edit {
        author: "ana@office".into(),
        now_ms: 1_800_000_000_000,
    };
    let mut s = machine(1);
    let ana = Staff::new(id("ana"), "Ana".into());
    s.add(&edit, &ana, "add".into()).unwrap();
    s.remove(&edit, Collection::Staff, "ana", &[], "rm".into())
        .unwrap();
    let before = s.change_count();
    let batch = Batch {
        staff: vec![
            Staff::new(id("ana"), "Ana Again".into()),
            Staff::new(id("ben"), "Ben".into()),
        ],
        ..Batch::default()
    };
    s.add_many(&edit, &batch, "import".into(), &mut |_| {})
        .unwrap();
    assert_eq!(s.change_count(), before + 1);
    assert_eq!(s.index().staff[&id("ana")].name, "Ana Again");
    assert_eq!(s.index().staff[&id("ben")].name, "Ben");
    assert_eq!(loaded(&mut s).index(), s.index());
}

#[test]
fn an_empty_batch_makes_no_change() {
    let edit = Edit {
        author: "ana@office".into(),
        now_ms: 1_800_000_000_000,
    };
    let mut s = machine(1);
    let before = s.change_count();
    let written = s
        .add_many(&edit, &Batch::default(), "nothing".into(), &mut |_| {})
        .unwrap();
    assert!(written.change.is_none());
    assert!(written.dirty.is_empty());
    assert_eq!(s.change_count(), before);
}
