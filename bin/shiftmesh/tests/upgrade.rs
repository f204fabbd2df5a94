//! Data made by earlier releases opens with this one: the data directory and the backup that
//! release 1 wrote (`tests/fixtures/release-1`, never regenerated) are upgraded in place by the
//! schema steps, keep their conflicts with the same ids, and sync with a machine that never ran
//! release 1.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::{wait_until, Node};
use serde_json::Value;

fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/release-1")
        .join(path)
}

/// Copies a directory tree, with the modes shiftmesh gives a data directory (git keeps none).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700)).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }
}

/// A node whose data directory is a copy of the one release 1 wrote.
fn release_1_node() -> Node {
    let node = Node {
        dir: tempfile::tempdir().unwrap(),
        user: "alice",
    };
    copy_tree(&fixture("site"), &node.data());
    node
}

fn ids(conflicts: &Value) -> Vec<String> {
    let mut ids: Vec<String> = conflicts
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

fn release_1_conflicts() -> Vec<String> {
    ids(&serde_json::from_slice(&std::fs::read(fixture("conflicts.json")).unwrap()).unwrap())
}

#[test]
fn a_release_1_data_directory_opens_upgrades_and_keeps_its_conflicts() {
    let node = release_1_node();
    // A read alone shows the schedule as release 1 did: every day and every shift with its
    // time, department and coverage (this release names people where release 1 gave ids, and
    // adds who is away and the hours worked).
    let week = node.ok(&["schedule", "--week", "2026-11-23"]);
    let release_1 = std::fs::read_to_string(fixture("schedule-week.txt")).unwrap();
    for line in release_1.lines().filter(|l| !l.trim().is_empty()) {
        let shift_part = match line.rfind('/') {
            // A shift line: everything up to the coverage (assigned/min/capacity).
            Some(slash) if line.starts_with("  ") && line.as_bytes()[2].is_ascii_digit() => {
                &line[..slash + line[slash..].find(' ').unwrap_or(line.len() - slash)]
            }
            _ => line,
        };
        assert!(
            week.lines().any(|l| l.starts_with(shift_part)),
            "release 1 showed {line:?}; now:\n{week}"
        );
    }
    assert_eq!(ids(&node.json(&["conflicts"])), release_1_conflicts());
    let status = node.json(&["status"]);
    assert_eq!(status["schema"], shiftmesh_model::SCHEMA_VERSION);
    assert!(status["schema_notice"].is_null());
    assert_eq!(status["site"], "City Museum");
    // The upgrade is durable: opening again applies nothing new.
    let changes = status["changes"].clone();
    assert_eq!(node.json(&["status"])["changes"], changes);
    // And the directory takes edits.
    node.ok(&["staff", "add", "jo", "--name", "Jo Kim"]);
    node.ok(&["assign", "jo", "tue-pm"]);
    assert!(node
        .ok(&["history", "--limit", "1"])
        .contains("assign jo to tue-pm"));
}

#[test]
fn a_release_1_backup_merges_into_and_restores_a_new_machine() {
    let backup = fixture("release-1.automerge").display().to_string();
    let merged = Node::new("bob", "back-office");
    merged.ok(&["merge", &backup]);
    let expected = release_1_conflicts();
    assert_eq!(ids(&merged.json(&["conflicts"])), expected);
    let restored = Node::new("carol", "laptop");
    restored.ok(&["restore", &backup, "--yes"]);
    assert_eq!(ids(&restored.json(&["conflicts"])), expected);
    assert_eq!(
        restored.json(&["status"])["schema"],
        shiftmesh_model::SCHEMA_VERSION
    );
}

#[test]
fn a_release_1_node_syncs_with_a_machine_that_joins_it() {
    let founder = release_1_node();
    let running = founder.start(&[]);
    let (laptop, laptop_node) = common::join("bob", "laptop", &founder);
    wait_until("the laptop has the release 1 schedule", || {
        common::converged(&[&founder, &laptop])
    });
    assert_eq!(ids(&laptop.json(&["conflicts"])), release_1_conflicts());
    laptop.ok(&["staff", "add", "jo", "--name", "Jo Kim"]);
    wait_until("the founder has the laptop's edit", || {
        common::staff_count(&founder) == 3
    });
    laptop_node.stop();
    running.stop();
}
