//! The crash loop: a running node takes writes through the CLI (and now and then a large
//! merge) while it is killed with SIGKILL at random moments — during writes, during a merge,
//! during the folding of its change log into a snapshot. After every kill the store must open
//! cleanly and hold every edit that was acknowledged (the CLI exited 0). The cycle count comes
//! from `SHIFTMESH_CRASH_CYCLES` (default 20; `scripts/crash-loop.sh N` runs N), the seed from
//! `SHIFTMESH_CRASH_SEED` (printed, so a failure replays).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Node;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A small deterministic generator for the kill moments.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn staff_ids(node: &Node) -> std::collections::BTreeSet<String> {
    let out = node.run(&["--json", "staff", "list"]);
    assert!(
        out.status.success(),
        "the store did not open cleanly after a kill: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_node_killed_at_random_moments_keeps_every_acknowledged_edit() {
    let cycles = env_number("SHIFTMESH_CRASH_CYCLES", 20);
    let seed = env_number("SHIFTMESH_CRASH_SEED", 20261122) | 1;
    eprintln!("crash loop: {cycles} cycles, seed {seed} (SHIFTMESH_CRASH_SEED={seed} replays the kill moments)");
    let mut rng = XorShift(seed);
    let a = Node::new("alice", "node-a");
    // A large backup from another machine, merged during some cycles.
    let other = Node::new("bob", "node-b");
    for i in 0..300 {
        other.ok(&["staff", "add", &format!("merged-{i}"), "--name", "From B"]);
    }
    let backup = other.path("b.automerge");
    other.ok(&["backup", &backup]);

    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut merged = false;
    let (mut kills_during_writes, mut kills_during_merge) = (0, 0);
    for cycle in 0..cycles {
        // A short change log, so the node folds it into a snapshot every few writes and some
        // kills land in the middle of a fold.
        let running = a.start_with_env(&[], &[("SHIFTMESH_LOG_FOLD_ENTRIES", "8")]);
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (stop, acknowledged) = (stop.clone(), acknowledged.clone());
            let dir = a.dir.path().to_owned();
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let id = format!("c{cycle}-{i}");
                    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shiftmesh"))
                        .arg("--data-dir")
                        .arg(dir.join("data"))
                        .args(["staff", "add", &id, "--name", "Written"])
                        .env_remove("SHIFTMESH_DATA_DIR")
                        .env("SHIFTMESH_LOG_FOLD_ENTRIES", "8")
                        .output()
                        .unwrap();
                    if out.status.success() {
                        acknowledged.lock().unwrap().push(id);
                    }
                    i += 1;
                }
                i
            })
        };
        let merging = !merged && cycle % 4 == 2;
        let merge = merging.then(|| {
            let (dir, backup) = (a.dir.path().to_owned(), backup.clone());
            std::thread::spawn(move || {
                std::process::Command::new(env!("CARGO_BIN_EXE_shiftmesh"))
                    .arg("--data-dir")
                    .arg(dir.join("data"))
                    .args(["merge", &backup])
                    .env_remove("SHIFTMESH_DATA_DIR")
                    .output()
                    .unwrap()
                    .status
                    .success()
            })
        });
        std::thread::sleep(Duration::from_millis(20 + rng.below(400)));
        running.kill();
        stop.store(true, Ordering::Relaxed);
        let writes = writer.join().unwrap();
        if writes > 0 {
            kills_during_writes += 1;
        }
        if let Some(merge) = merge {
            kills_during_merge += 1;
            merged = merge.join().unwrap();
        }
        // The store opens cleanly and holds everything acknowledged.
        let ids = staff_ids(&a);
        let lost: Vec<String> = acknowledged
            .lock()
            .unwrap()
            .iter()
            .filter(|id| !ids.contains(*id))
            .cloned()
            .collect();
        assert!(
            lost.is_empty(),
            "cycle {cycle}: acknowledged and lost: {lost:?}"
        );
        if merged {
            assert!(
                ids.contains("merged-299"),
                "cycle {cycle}: an acknowledged merge was lost"
            );
        }
    }
    let total = acknowledged.lock().unwrap().len();
    eprintln!(
        "crash loop: {cycles} SIGKILLs ({kills_during_writes} during writes, {kills_during_merge} during a merge), {total} acknowledged edits, 0 lost; the store opened cleanly every time"
    );
    assert!(total > 0);
}
