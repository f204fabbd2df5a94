//! A node's data directory driven through the real `shiftmesh` binary.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// One node's data directory, initialised, with commands run as `user`.
pub struct Node {
    pub dir: tempfile::TempDir,
    pub user: &'static str,
}

impl Node {
    pub fn new(user: &'static str, node_name: &str) -> Node {
        let node = Node {
            dir: tempfile::tempdir().unwrap(),
            user,
        };
        node.ok(&[
            "init",
            "--name",
            "City Museum",
            "--time-zone",
            "Europe/Berlin",
            "--node-name",
            node_name,
        ]);
        node
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_shiftmesh"))
            .arg("--data-dir")
            .arg(self.data())
            .args(args)
            .env_remove("SHIFTMESH_DATA_DIR")
            .env("SHIFTMESH_USER", self.user)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all)).unwrap()
    }

    /// Runs a command that must fail with `code` and one line on stderr; returns that line.
    pub fn fails(&self, code: i32, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {out:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr:?}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        stderr
    }
}

/// Brings two nodes together the way a network sync would: each merges the other's backup.
pub fn sync(a: &Node, b: &Node) {
    let from_a = a.path("sync-a.automerge");
    a.ok(&["backup", &from_a]);
    b.ok(&["merge", &from_a]);
    let from_b = b.path("sync-b.automerge");
    b.ok(&["backup", &from_b]);
    a.ok(&["merge", &from_b]);
}
