//! Documents written by earlier releases open with this one: the fixtures under
//! `tests/fixtures/` are upgraded in place by the deterministic schema steps, and two copies
//! upgraded apart agree.

use std::path::PathBuf;

use shiftmesh_model::schema::{genesis_hash, step_hashes, version_of};
use shiftmesh_model::{absent, Collection, Schedule, SCHEMA_VERSION};

fn fixture(path: &str) -> Vec<u8> {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(path);
    std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

#[test]
fn a_release_1_backup_opens_and_is_upgraded_to_this_schema() {
    let bytes = fixture("release-1/release-1.automerge");
    let doc = shiftmesh_model::load_untrusted(&bytes).unwrap();
    assert_eq!(version_of(&doc), 1, "release 1 wrote schema 1");
    assert!(
        absent(&doc, &[genesis_hash()]).is_empty(),
        "the genesis is unchanged"
    );
    let mut schedule = Schedule::from_doc(doc).unwrap();
    assert_eq!(schedule.upgraded(), step_hashes().len());
    assert_eq!(schedule.site().schema, SCHEMA_VERSION);
    assert_eq!(schedule.site().name.as_deref(), Some("City Museum"));
    let index = schedule.index();
    assert_eq!(index.staff.len(), 2, "sarah and sam (kim is removed)");
    assert!(index.is_removed(Collection::Staff, "kim"));
    assert_eq!(index.shifts.len(), 4);
    assert_eq!(index.assignments.len(), 3);
    assert_eq!(index.acks.len(), 1);
    assert_eq!(index.members.len(), 2);
    assert!(
        index.damaged.is_empty(),
        "nothing release 1 wrote is damaged"
    );
    // The capacity of tue-pm was written on two machines at once.
    assert!(index
        .conflicted
        .contains(&(Collection::Shifts, "tue-pm".into())));
    let heads = schedule.heads();
    for (_, step) in step_hashes() {
        assert!(absent(schedule.doc(), &[step]).is_empty());
    }
    // Upgrading a second copy apart makes the very same changes.
    let mut other = Schedule::from_doc(shiftmesh_model::load_untrusted(&bytes).unwrap()).unwrap();
    assert_eq!(other.heads(), heads);
}

#[test]
fn an_upgraded_copy_merges_with_one_that_was_not() {
    let bytes = fixture("release-1/release-1.automerge");
    let mut upgraded =
        Schedule::from_doc(shiftmesh_model::load_untrusted(&bytes).unwrap()).unwrap();
    let mut old = shiftmesh_model::load_untrusted(&bytes).unwrap();
    // The old copy gets the upgraded one's changes as a peer would send them.
    let new = old.get_changes_added(upgraded.doc_mut());
    old.apply_changes(new).unwrap();
    assert_eq!(version_of(&old), SCHEMA_VERSION);
    assert_eq!(old.get_heads(), upgraded.heads());
}

/// A document as a later release would leave it: schema 3, whose note says older nodes must
/// not write `staff` any more, with a collection and a field this version has never heard of.
fn from_a_later_release() -> Schedule {
    use automerge::transaction::Transactable;
    use automerge::{ObjType, ReadDoc, ROOT};
    let mut schedule = Schedule::new();
    let edit = shiftmesh_model::Edit {
        author: "alice@a".into(),
        now_ms: 1,
    };
    let sam = shiftmesh_model::Staff::new(shiftmesh_model::Id::parse("sam").unwrap(), "Sam".into());
    schedule.add(&edit, &sam, "add sam".into()).unwrap();
    let doc = schedule.doc_mut();
    doc.put(ROOT, "schema", 3).unwrap();
    doc.put(
        ROOT,
        "schema_step_3",
        r#"{"version":3,"about":"staff rotas","locks":["staff"]}"#,
    )
    .unwrap();
    let templates = doc.put_object(ROOT, "templates", ObjType::Map).unwrap();
    doc.put(&templates, "weekday", "a template").unwrap();
    let staff = doc.get(ROOT, "staff").unwrap().unwrap().1;
    let sam = doc.get(&staff, "sam").unwrap().unwrap().1;
    doc.put(&sam, "rota", "A").unwrap();
    doc.commit();
    let bytes = doc.save();
    Schedule::from_doc(shiftmesh_model::load_untrusted(&bytes).unwrap()).unwrap()
}

#[test]
fn a_newer_schema_is_read_and_what_its_note_forbids_is_refused_with_the_reason() {
    let mut schedule = from_a_later_release();
    assert_eq!(
        schedule.upgraded(),
        0,
        "nothing to apply to a newer document"
    );
    let site = schedule.site().clone();
    assert_eq!(site.schema, 3);
    assert_eq!(
        site.newer_notice().unwrap(),
        "this site uses schema 3; this shiftmesh understands 2: upgrade it to see and edit staff rotas"
    );
    let edit = shiftmesh_model::Edit {
        author: "bob@b".into(),
        now_ms: 2,
    };
    let jo = shiftmesh_model::Staff::new(shiftmesh_model::Id::parse("jo").unwrap(), "Jo".into());
    let before = schedule.heads();
    let refused = schedule.add(&edit, &jo, "add jo".into()).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "this site uses schema 3; this shiftmesh understands 2: upgrade it to edit staff rotas"
    );
    assert_eq!(schedule.heads(), before, "nothing was written");
    // What the note does not forbid goes on as before.
    let shift = shiftmesh_model::Shift {
        id: shiftmesh_model::Id::parse("mon").unwrap(),
        department: None,
        date: shiftmesh_model::time::parse_date("2026-11-23").unwrap(),
        start: shiftmesh_model::time::parse_time("09:00").unwrap(),
        end: shiftmesh_model::time::parse_time("13:00").unwrap(),
        capacity: 2,
        min_staff: 1,
        skills: Default::default(),
        label: String::new(),
    };
    schedule.add(&edit, &shift, "add mon".into()).unwrap();
}

#[test]
fn what_this_version_does_not_know_survives_its_edits() {
    use automerge::ReadDoc;
    let mut schedule = from_a_later_release();
    // This version's edits touch only the fields they name; here staff are locked, so edit a
    // shift and the site, and remove and restore nothing of the unknown.
    let edit = shiftmesh_model::Edit {
        author: "bob@b".into(),
        now_ms: 2,
    };
    let zone = shiftmesh_model::SiteZone::parse("Europe/Berlin").unwrap();
    schedule.set_site(&edit, "Museum", &zone).unwrap();
    let doc = schedule.doc();
    let templates = doc.get(automerge::ROOT, "templates").unwrap().unwrap().1;
    assert!(doc.get(&templates, "weekday").unwrap().is_some());
    let staff = doc.get(automerge::ROOT, "staff").unwrap().unwrap().1;
    let sam = doc.get(&staff, "sam").unwrap().unwrap().1;
    assert!(
        doc.get(&sam, "rota").unwrap().is_some(),
        "an unknown field is kept"
    );
    assert!(
        schedule.index().damaged.is_empty(),
        "unknown fields are not damage"
    );
    assert!(
        schedule.index().rivals.is_empty(),
        "a newer collection is no rival"
    );
}
