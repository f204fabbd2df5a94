//! The schedule document and its index, driven through the public API with no I/O.

use std::collections::BTreeSet;

use automerge::AutoCommit;
use shiftmesh_model::time::{parse_date, parse_datetime, parse_time};
use shiftmesh_model::{
    genesis_hash, Assignment, Availability, AvailabilityKind, Batch, Collection, Edit, Id, Index,
    LocalSpan, ModelError, Schedule, Shift, SiteZone, Staff,
};

fn id(text: &str) -> Id {
    Id::parse(text).unwrap()
}

fn edit(author: &str, now_ms: i64) -> Edit {
    Edit {
        author: author.to_owned(),
        now_ms,
    }
}

fn staff(key: &str) -> Staff {
    Staff {
        skills: BTreeSet::from(["guide".to_owned()]),
        max_minutes_week: Some(38 * 60),
        ..Staff::new(id(key), format!("Person {key}"))
    }
}

fn shift(key: &str, date: &str, start: &str, end: &str) -> Shift {
    Shift {
        id: id(key),
        department: None,
        date: parse_date(date).unwrap(),
        start: parse_time(start).unwrap(),
        end: parse_time(end).unwrap(),
        capacity: 2,
        min_staff: 1,
        skills: BTreeSet::new(),
        label: String::new(),
    }
}

fn assignment(staff: &str, shift: &str, at: i64) -> Assignment {
    Assignment {
        shift: id(shift),
        staff: id(staff),
        role: String::new(),
        note: String::new(),
        created_at_ms: at,
        created_by: "alice@a".into(),
        window: None,
    }
}

/// A copy of `schedule` on another node: loaded from its saved bytes (a new actor).
fn fork(schedule: &mut Schedule) -> Schedule {
    let bytes = schedule.doc_mut().save();
    Schedule::from_doc(AutoCommit::load(&bytes).unwrap()).unwrap()
}

/// The index a full walk of the document builds, to compare with the one kept up to date.
fn rebuilt(schedule: &mut Schedule) -> Index {
    let bytes = schedule.doc_mut().save();
    Schedule::from_doc(AutoCommit::load(&bytes).unwrap())
        .unwrap()
        .index()
        .clone()
}

#[test]
fn every_node_builds_the_same_genesis_change() {
    let mut a = Schedule::new();
    let mut b = Schedule::new();
    // A new schedule is the genesis and every schema step, each the same change everywhere.
    let newest = shiftmesh_model::schema::step_hashes()
        .last()
        .map(|(_, h)| *h);
    assert_eq!(a.heads(), vec![newest.unwrap_or_else(genesis_hash)]);
    assert_eq!(a.heads(), b.heads());
    // Different actors for everything after genesis.
    assert_ne!(a.doc().get_actor(), b.doc().get_actor());
}

#[test]
fn a_document_without_the_genesis_is_refused() {
    let doc = AutoCommit::new();
    assert!(matches!(
        Schedule::from_doc(doc),
        Err(ModelError::NotASchedule(_))
    ));
}

#[test]
fn writes_record_author_time_and_message() {
    let mut s = Schedule::new();
    s.add(
        &edit("alice@front-desk", 1_700_000_000_000),
        &staff("sarah"),
        "add staff sarah".into(),
    )
    .unwrap();
    let meta = s.doc_mut().get_changes_meta(&[]);
    let last = meta.last().unwrap();
    assert_eq!(last.message.as_deref(), Some("add staff sarah"));
    assert_eq!(last.timestamp, 1_700_000_000);
    assert_eq!(
        last.author.as_ref().unwrap().as_bytes(),
        b"alice@front-desk"
    );
}

#[test]
fn the_kept_index_equals_a_full_rebuild_after_edits_removals_and_merges() {
    let e = edit("alice@a", 1_000);
    let mut a = Schedule::new();
    a.add(&e, &staff("sarah"), "m".into()).unwrap();
    a.add(&e, &staff("sam"), "m".into()).unwrap();
    a.add(
        &e,
        &shift("mon-am", "2026-11-23", "09:00", "13:00"),
        "m".into(),
    )
    .unwrap();
    a.add(
        &e,
        &shift("tue-pm", "2026-11-24", "14:00", "22:00"),
        "m".into(),
    )
    .unwrap();
    a.assign(&e, &assignment("sarah", "mon-am", 1)).unwrap();
    let span = LocalSpan::new(
        parse_datetime("2026-11-24T00:00").unwrap(),
        parse_datetime("2026-11-25T00:00").unwrap(),
    )
    .unwrap();
    let leave = Availability {
        id: Availability::derive_id(&id("sam"), &span, AvailabilityKind::Leave),
        staff: id("sam"),
        span,
        kind: AvailabilityKind::Leave,
        reason: "holiday".into(),
    };
    a.add(&e, &leave, "leave".into()).unwrap();
    let full = rebuilt(&mut a);
    assert_eq!(a.index(), &full);

    // Node B, offline: assigns sam to tue-pm while A removes tue-pm (soft) and sarah's shift moves.
    let mut b = fork(&mut a);
    b.assign(&edit("bob@b", 2_000), &assignment("sam", "tue-pm", 2))
        .unwrap();
    a.remove(&e, Collection::Shifts, "tue-pm", &[], "remove".into())
        .unwrap();
    let mut moved = a.index().shifts[&id("mon-am")].clone();
    moved.start = parse_time("10:00").unwrap();
    a.update(&e, &moved, &["time"], "move".into()).unwrap();
    assert!(a.index().is_removed(Collection::Shifts, "tue-pm"));
    let full = rebuilt(&mut a);
    assert_eq!(a.index(), &full);

    let bytes_b = b.doc_mut().save();
    let bytes_a = a.doc_mut().save();
    assert_eq!(a.merge_bytes(&bytes_b).unwrap().new_changes, 1);
    assert_eq!(b.merge_bytes(&bytes_a).unwrap().new_changes, 2);
    assert_eq!(
        a.merge_bytes(&bytes_b).unwrap().new_changes,
        0,
        "merging twice adds nothing"
    );
    assert_eq!(a.heads(), b.heads());
    let full = rebuilt(&mut a);
    assert_eq!(a.index(), &full);
    assert_eq!(a.index(), b.index());
    // The assignment to the removed shift is kept, not silently dropped.
    assert_eq!(a.index().assignments.len(), 2);
    assert!(!a.index().shifts.contains_key(&id("tue-pm")));
}

#[test]
fn concurrent_writes_to_one_field_are_all_kept_through_merges_and_other_edits() {
    let mut a = Schedule::new();
    a.add(
        &edit("alice@a", 1),
        &shift("s1", "2026-11-23", "09:00", "13:00"),
        "m".into(),
    )
    .unwrap();
    let mut b = fork(&mut a);
    let mut s = a.index().shifts[&id("s1")].clone();
    s.capacity = 3;
    a.update(&edit("alice@a", 2), &s, &["capacity"], "cap 3".into())
        .unwrap();
    s.capacity = 4;
    b.update(&edit("bob@b", 3), &s, &["capacity"], "cap 4".into())
        .unwrap();
    let bytes = b.doc_mut().save();
    a.merge_bytes(&bytes).unwrap();

    let values = |s: &mut Schedule| -> BTreeSet<String> {
        s.concurrent_values(Collection::Shifts, "s1").unwrap()["capacity"]
            .iter()
            .map(|v| v.value.to_string())
            .collect()
    };
    assert_eq!(values(&mut a), BTreeSet::from(["3".into(), "4".into()]));
    assert!(a
        .index()
        .conflicted
        .contains(&(Collection::Shifts, "s1".to_owned())));

    // Editing another field of the same shift leaves the conflict in place.
    let mut relabelled = a.index().shifts[&id("s1")].clone();
    relabelled.label = "Morning".into();
    a.update(&edit("alice@a", 4), &relabelled, &["label"], "label".into())
        .unwrap();
    assert_eq!(values(&mut a), BTreeSet::from(["3".into(), "4".into()]));

    // Setting the field itself settles it.
    let mut settled = a.index().shifts[&id("s1")].clone();
    settled.capacity = 4;
    a.update(&edit("alice@a", 5), &settled, &["capacity"], "cap".into())
        .unwrap();
    assert!(a
        .concurrent_values(Collection::Shifts, "s1")
        .unwrap()
        .is_empty());
}

#[test]
fn two_nodes_assigning_the_same_pair_converge_to_one_assignment() {
    let mut a = Schedule::new();
    a.add(&edit("x@a", 1), &staff("sarah"), "m".into()).unwrap();
    a.add(
        &edit("x@a", 1),
        &shift("s1", "2026-11-23", "09:00", "13:00"),
        "m".into(),
    )
    .unwrap();
    let mut b = fork(&mut a);
    a.assign(&edit("x@a", 2), &assignment("sarah", "s1", 2))
        .unwrap();
    b.assign(&edit("y@b", 3), &assignment("sarah", "s1", 3))
        .unwrap();
    let bytes = b.doc_mut().save();
    a.merge_bytes(&bytes).unwrap();
    assert_eq!(a.index().assignments.len(), 1);
}

#[test]
fn refused_writes_leave_nothing_behind() {
    let mut s = Schedule::new();
    let before = s.change_count();
    let missing = s.assign(&edit("x@a", 1), &assignment("nobody", "nothing", 1));
    assert!(matches!(missing, Err(ModelError::NotFound { .. })));
    s.add(&edit("x@a", 1), &staff("sarah"), "m".into()).unwrap();
    let dup = s.add(&edit("x@a", 1), &staff("sarah"), "m".into());
    assert!(matches!(dup, Err(ModelError::AlreadyExists { .. })));
    assert_eq!(s.change_count(), before + 1);
}

#[test]
fn an_index_snapshot_reads_back_equal_including_site_and_conflicts() {
    let mut a = Schedule::new();
    let e = edit("x@a", 1);
    a.set_site(&e, "Museum", &SiteZone::parse("Europe/Berlin").unwrap())
        .unwrap();
    let machine = libp2p_identity::Keypair::generate_ed25519()
        .public()
        .to_peer_id()
        .to_string();
    a.trust_member(&e, &machine, "desk", "by hand").unwrap();
    let batch = Batch {
        staff: (0..50).map(|i| staff(&format!("p{i}"))).collect(),
        shifts: (0..20)
            .map(|i| shift(&format!("s{i}"), "2026-11-23", "22:00", "06:00"))
            .collect(),
        assignments: (0..20)
            .map(|i| assignment(&format!("p{i}"), &format!("s{i}"), i))
            .collect(),
        ..Batch::default()
    };
    a.add_many(&e, &batch, "import".into(), &mut |_| {})
        .unwrap();
    a.remove(&e, Collection::Staff, "p49", &[], "rm".into())
        .unwrap();
    let bytes = a.index().to_snapshot().unwrap();
    let back = Index::from_snapshot(&bytes).unwrap();
    assert_eq!(&back, a.index());
    assert_eq!(back.members.len(), 1);
    assert_eq!(
        Index::members_from_snapshot(&bytes).unwrap(),
        back.members,
        "the members read alone are those of the whole snapshot"
    );
    assert_eq!(back.site.time_zone.as_deref(), Some("Europe/Berlin"));
    assert!(Index::from_snapshot(b"not a snapshot").is_none());
}

#[test]
fn the_index_answers_by_day_by_staff_and_by_shift() {
    let mut a = Schedule::new();
    let e = edit("x@a", 1);
    for key in ["ann", "bob"] {
        a.add(&e, &staff(key), "m".into()).unwrap();
    }
    a.add(
        &e,
        &shift("mon", "2026-11-23", "09:00", "13:00"),
        "m".into(),
    )
    .unwrap();
    a.add(
        &e,
        &shift("tue", "2026-11-24", "09:00", "13:00"),
        "m".into(),
    )
    .unwrap();
    a.assign(&e, &assignment("ann", "mon", 1)).unwrap();
    a.assign(&e, &assignment("bob", "mon", 2)).unwrap();
    a.assign(&e, &assignment("ann", "tue", 3)).unwrap();
    let index = a.index();
    let monday = parse_date("2026-11-23").unwrap();
    let days: Vec<&str> = index
        .shifts_between(monday, monday)
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(days, ["mon"]);
    let of_shift: Vec<&str> = index
        .assignments_of_shift(&id("mon"))
        .map(|a| a.staff.as_str())
        .collect();
    assert_eq!(of_shift, ["ann", "bob"]);
    let of_staff: Vec<&str> = index
        .assignments_of_staff(&id("ann"))
        .map(|a| a.shift.as_str())
        .collect();
    assert_eq!(of_staff, ["mon", "tue"]);
}

#[test]
fn membership_syncs_revocation_sticks_and_the_index_round_trips() {
    let peer_b = "12D3KooWQJj8YJvXkYV1vPzzVt8dF7oTeqrFrMZEyxFMfD4Fmdzd";
    let mut a = Schedule::new();
    a.trust_member(&edit("ana@a", 1), peer_b, "kiosk", "by invite")
        .unwrap();
    assert!(a.index().is_trusted(peer_b));
    assert!(matches!(
        a.trust_member(&edit("ana@a", 2), peer_b, "kiosk", "by hand"),
        Err(ModelError::AlreadyExists { .. })
    ));
    assert!(a
        .trust_member(&edit("ana@a", 2), "not a peer id!", "x", "by hand")
        .is_err());
    let mut b = fork(&mut a);
    a.revoke_member(&edit("ana@a", 3), peer_b).unwrap();
    assert!(a.index().is_revoked(peer_b) && !a.index().is_trusted(peer_b));
    let bytes = a.doc_mut().save();
    b.merge_bytes(&bytes).unwrap();
    assert!(b.index().is_revoked(peer_b), "the revocation syncs");
    let member = &b.index().members[peer_b];
    assert_eq!(
        (member.added_by.as_str(), member.revoked_by.as_str()),
        ("ana@a", "ana@a")
    );
    // The snapshot keeps what the document says; the members are judged again on load.
    let snapshot = b.index().to_snapshot().unwrap();
    let bytes = b.doc_mut().save();
    let reopened = Schedule::from_doc_and_index(
        AutoCommit::load(&bytes).unwrap(),
        Index::from_snapshot(&snapshot),
    )
    .unwrap();
    assert_eq!(reopened.index(), b.index());
    // Trusting it again is an explicit, recorded act.
    b.trust_member(&edit("bo@b", 4), peer_b, "kiosk", "by hand")
        .unwrap();
    assert!(b.index().is_trusted(peer_b));
}

#[test]
fn a_merge_reports_the_fields_it_wrote_and_entities_made_whole() {
    let mut a = Schedule::new();
    a.add(&edit("alice@a", 1), &staff("ann"), "add ann".into())
        .unwrap();
    let mut b = fork(&mut a);
    let before = b.heads();
    let renamed = Staff {
        name: "Ann Other".into(),
        ..staff("ann")
    };
    a.update(&edit("alice@a", 2), &renamed, &["name"], "rename".into())
        .unwrap();
    a.add(&edit("alice@a", 3), &staff("bob"), "add bob".into())
        .unwrap();
    let merged = b.merge_bytes(&a.doc_mut().save()).unwrap();
    assert_eq!(b.heads(), a.heads());
    let ann = (Collection::Staff, "ann".to_owned());
    let bob = (Collection::Staff, "bob".to_owned());
    assert!(merged.dirty.contains(&ann) && merged.dirty.contains(&bob));
    assert_eq!(
        merged.fields.get(&ann),
        Some(&BTreeSet::from(["name".to_owned()])),
        "a rename wrote one field"
    );
    assert!(
        !merged.fields.contains_key(&bob),
        "a new entity is touched as a whole"
    );
    assert_eq!(b.touched_since(&before).fields, merged.fields);
}

/// A change of more than `BULK_CHANGE_OPS` operations (an import) is recorded as one line with
/// its size, indexed by every entity it created (an assignment also by its shift and person),
/// and an ordinary change after it by the fields it wrote.
#[test]
fn a_bulk_change_is_one_line_indexed_by_what_it_created() {
    use shiftmesh_model::history::{changes_since, record, BULK_CHANGE_OPS};
    let mut s = Schedule::new();
    let batch = shiftmesh_model::Batch {
        staff: (0..2000).map(|n| staff(&format!("p{n:04}"))).collect(),
        shifts: vec![shift("mon", "2026-11-23", "09:00", "17:00")],
        assignments: vec![assignment("p0007", "mon", 1)],
        ..Default::default()
    };
    let before = s.heads();
    s.add_many(&edit("ana@office", 1), &batch, "import".into(), &mut |_| {})
        .unwrap();
    s.update(
        &edit("ana@office", 2),
        &Staff {
            name: "Renamed".into(),
            ..staff("p0001")
        },
        &["name"],
        "rename p0001".into(),
    )
    .unwrap();
    let doc = s.doc_mut();
    let recorded: Vec<_> = changes_since(doc, &before)
        .iter()
        .map(|meta| record(doc, meta))
        .collect();
    assert_eq!(recorded.len(), 2);
    let import = &recorded[0];
    assert!(import.entry.bulk_operations.unwrap() > BULK_CHANGE_OPS);
    assert!(import.entry.diff.is_empty());
    for id in ["p0000", "p1999", "mon", "mon/p0007"] {
        assert!(
            import.entities.binary_search(&id.to_owned()).is_ok(),
            "{id}"
        );
    }
    assert_eq!(import.entities.len(), 2000 + 1 + 1);
    let rename = &recorded[1];
    assert!(import.order < rename.order);
    assert_eq!(rename.entities, ["p0001"]);
    assert_eq!(rename.entry.diff[0].path, "staff/p0001/name");
    assert_eq!(rename.entry.diff[0].after, "Renamed");
}
