//! The store on a real disk: persistence, folding, locking, damage and the index snapshot.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{AutoCommit, ReadDoc, ROOT};
use shiftmesh_store::{NodeConfig, Store, StoreError, LAST_GOOD_FILE, LOG_FOLD_ENTRIES};

fn config() -> NodeConfig {
    NodeConfig {
        node_name: "test-node".into(),
    }
}

fn commit(doc: &mut AutoCommit, key: &str, value: i64) {
    doc.put(ROOT, key, value).unwrap();
    doc.commit_with(CommitOptions::default().with_message(key).with_time(1));
}

fn init(dir: &Path) -> (Store, AutoCommit) {
    let mut doc = AutoCommit::new();
    commit(&mut doc, "genesis", 0);
    let opened = Store::init(dir, config(), None, &mut doc).unwrap().unwrap();
    (opened.store, doc)
}

fn reopen(dir: &Path) -> AutoCommit {
    let mut opened = Store::open(dir).unwrap();
    opened.store.load_document().unwrap()
}

#[test]
fn persisted_changes_come_back_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, mut doc) = init(dir.path());
    commit(&mut doc, "a", 1);
    store.persist(&mut doc).unwrap();
    commit(&mut doc, "b", 2);
    store.persist(&mut doc).unwrap();
    assert_eq!(
        store.persist(&mut doc).unwrap(),
        0,
        "nothing new, nothing written"
    );
    let heads = doc.get_heads();
    drop(store);
    let mut back = reopen(dir.path());
    assert_eq!(back.get_heads(), heads);
    assert!(back.get(ROOT, "b").unwrap().is_some());
}

#[test]
fn the_log_folds_into_a_snapshot_and_still_loads() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, mut doc) = init(dir.path());
    for i in 0..(LOG_FOLD_ENTRIES as i64 + 5) {
        commit(&mut doc, &format!("k{i}"), i);
        store.persist(&mut doc).unwrap();
    }
    assert!(
        store.log_entries() < 10,
        "the log was folded: {}",
        store.log_entries()
    );
    let heads = doc.get_heads();
    drop(store);
    assert_eq!(reopen(dir.path()).get_heads(), heads);
}

#[test]
fn a_second_open_is_refused_while_the_store_is_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, _doc) = init(dir.path());
    match Store::open(dir.path()) {
        Err(StoreError::Locked { .. }) => {}
        other => panic!("expected Locked, got {other:?}"),
    }
}

#[test]
fn init_twice_changes_nothing_and_files_are_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let (store, _doc) = init(&data);
    drop(store);
    let mut doc = AutoCommit::new();
    assert!(Store::init(&data, config(), None, &mut doc)
        .unwrap()
        .is_none());
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("identity.key")), 0o600);
    assert_eq!(mode(&data.join(LAST_GOOD_FILE)), 0o600);
}

#[test]
fn a_damaged_store_is_reported_and_replace_sets_it_aside() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, mut doc) = init(dir.path());
    commit(&mut doc, "a", 1);
    store.persist(&mut doc).unwrap();
    drop(store);
    let db = dir.path().join("store/db");
    let file = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
    file.set_len(64).unwrap();
    drop(file);
    let damaged = Store::open(dir.path()).and_then(|mut o| o.store.load_document());
    let message = match damaged {
        Err(e @ StoreError::Corrupt { .. }) => e.to_string(),
        other => panic!("expected Corrupt, got {other:?}"),
    };
    assert!(message.contains("shiftmesh restore"), "{message}");

    // The copy beside the store holds every persisted change.
    let copy = std::fs::read(dir.path().join(LAST_GOOD_FILE)).unwrap();
    let mut restored = AutoCommit::load(&copy).unwrap();
    assert_eq!(restored.get_heads(), doc.get_heads());
    let aside = Store::replace(dir.path(), &mut restored).unwrap();
    assert!(aside.unwrap().exists(), "the damaged store is kept");
    assert_eq!(reopen(dir.path()).get_heads(), doc.get_heads());
}

#[test]
fn an_index_snapshot_is_served_only_for_the_heads_it_was_written_for() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, mut doc) = init(dir.path());
    store.write_index_snapshot(b"index-v1", 1).unwrap();
    assert_eq!(
        store.read_index_snapshot().unwrap(),
        Some((b"index-v1".to_vec(), 1))
    );
    commit(&mut doc, "a", 1);
    store.persist(&mut doc).unwrap();
    assert_eq!(
        store.read_index_snapshot().unwrap(),
        None,
        "stale after a write"
    );
}

#[test]
fn a_whole_document_received_is_stored_as_it_came_and_what_follows_goes_to_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _fresh) = init(dir.path());
    // Another machine's copy, sent whole: its bytes become the snapshot as they are.
    let mut theirs = AutoCommit::new();
    for i in 0..20 {
        commit(&mut theirs, &format!("k{i}"), i);
    }
    let bytes = theirs.save();
    let mut received = AutoCommit::load(&bytes).unwrap();
    store
        .write_snapshot_bytes(&bytes, received.get_heads())
        .unwrap();
    assert_eq!(
        store.persist(&mut received).unwrap(),
        0,
        "the snapshot already holds the document"
    );
    commit(&mut received, "after", 1);
    assert!(store.persist(&mut received).unwrap() > 0);
    assert_eq!(store.log_entries(), 1);
    let heads = received.get_heads();
    drop(store);
    assert_eq!(reopen(dir.path()).get_heads(), heads);
    assert!(
        std::fs::read(dir.path().join(LAST_GOOD_FILE))
            .unwrap()
            .starts_with(&bytes),
        "the copy beside the store begins with the same bytes (the change after them follows)"
    );
}
