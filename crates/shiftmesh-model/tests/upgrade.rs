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
