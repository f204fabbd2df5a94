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
        self.run_with_env(args, &[])
    }

    /// Runs a command with environment variables set.
    pub fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_shiftmesh"))
            .arg("--data-dir")
            .arg(self.data())
            .args(args)
            .env_remove("SHIFTMESH_DATA_DIR")
            .env("SHIFTMESH_USER", self.user)
            .envs(env.iter().copied())
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

    /// Runs a command with `input` on its stdin.
    pub fn with_stdin(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_shiftmesh"))
            .arg("--data-dir")
            .arg(self.data())
            .args(args)
            .env_remove("SHIFTMESH_DATA_DIR")
            .env("SHIFTMESH_USER", self.user)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// Adds an account with a password, as the machine's owner does.
    pub fn account(&self, login: &str, role: &str, staff: Option<&str>, password: &str) {
        let mut args = vec!["account", "add", login, "--role", role, "--password-stdin"];
        if let Some(staff) = staff {
            args.extend(["--staff", staff]);
        }
        let out = self.with_stdin(&args, &format!("{password}\n"));
        assert!(
            out.status.success(),
            "account add: {}",
            String::from_utf8_lossy(&out.stderr)
        );
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

/// How long a network test waits for something to happen before it fails. Generous: these
/// machines are shared and debug builds are slow; a pass normally takes well under a second.
pub const WAIT_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);
const POLL_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// Polls `done` until it holds; fails the test with `what` after [`WAIT_LIMIT`].
pub fn wait_until(what: &str, done: impl FnMut() -> bool) {
    assert!(
        poll(done),
        "gave up after {WAIT_LIMIT:?} waiting until {what}"
    );
}

/// Polls `done` until it holds (true) or [`WAIT_LIMIT`] passes (false).
pub fn poll(mut done: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + WAIT_LIMIT;
    while !done() {
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL_EVERY);
    }
    true
}

/// The author a command run here records for `user` on `node`: the name it gives, and the OS
/// account running the tests when that is another (`alice via root@node-a`).
pub fn author(user: &str, node: &str) -> String {
    let account = shiftmesh_node::control::account_name(rustix::process::geteuid());
    if account == user {
        format!("{user}@{node}")
    } else {
        format!("{user} via {account}@{node}")
    }
}

/// A `shiftmesh node` process on a data directory, killed if the test ends without stopping it.
pub struct Running {
    child: std::process::Child,
    pub log: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    /// Stops the node with SIGTERM and checks it exits 0.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(
            exit.success(),
            "the node exited with {exit}: {}",
            self.log_text()
        );
    }

    /// Kills the node with SIGKILL: nothing is flushed on the way out.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The node's resident memory, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Node {
    /// A node that joins `founder`'s site with an invite from its running node.
    pub fn joining(user: &'static str, node_name: &str, founder: &Node) -> Node {
        let invite = founder.json(&["invite"])["invite"]
            .as_str()
            .unwrap()
            .to_owned();
        Node::with_invite(user, node_name, &invite)
    }

    /// A new machine initialised to join with `invite` (`init --join`).
    pub fn with_invite(user: &'static str, node_name: &str, invite: &str) -> Node {
        let node = Node {
            dir: tempfile::tempdir().unwrap(),
            user,
        };
        node.ok(&["init", "--join", invite, "--node-name", node_name]);
        node
    }

    /// Starts `shiftmesh node` on loopback with mDNS off, plus `extra` arguments, and waits
    /// until its control channel answers.
    pub fn start(&self, extra: &[&str]) -> Running {
        self.start_with_env(extra, &[])
    }

    /// Starts the node with environment variables set.
    pub fn start_with_env(&self, extra: &[&str], env: &[(&str, &str)]) -> Running {
        let log = self.dir.path().join(format!(
            "node-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let child = Command::new(env!("CARGO_BIN_EXE_shiftmesh"))
            .arg("--data-dir")
            .arg(self.data())
            .args(["node", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"])
            // Each test node serves its page on a port of its own (unless told otherwise).
            .args(
                if extra
                    .iter()
                    .any(|a| a.starts_with("--ui-listen") || *a == "--no-ui")
                {
                    &[][..]
                } else {
                    &["--ui-listen", "127.0.0.1:0"][..]
                },
            )
            .args(extra)
            .env_remove("SHIFTMESH_DATA_DIR")
            .env("RUST_LOG", "info")
            .env("SHIFTMESH_USER", self.user)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let running = Running { child, log };
        let up =
            poll(|| self.data().join("node.sock").exists() && self.status()["running"] == true);
        assert!(
            up,
            "the node did not answer on its control channel; its log:\n{}\nstatus: {:?}",
            running.log_text(),
            self.run(&["status"])
        );
        running
    }

    pub fn status(&self) -> Value {
        let out = self.run(&["--json", "status"]);
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// Where the running node serves its page and API (`http://127.0.0.1:PORT/`).
    pub fn ui(&self) -> String {
        self.status()["ui"].as_str().unwrap().to_owned()
    }

    /// The address the running node listens on.
    pub fn address(&self) -> String {
        self.status()["listen"][0].as_str().unwrap().to_owned()
    }

    pub fn heads(&self) -> Value {
        self.status()["heads"].clone()
    }
}

// A small site on loopback, for the tests that run several nodes.

/// The founder with a small schedule, and its running node.
pub fn founder() -> (Node, Running) {
    founder_with_env(&[])
}

pub fn founder_with_env(env: &[(&str, &str)]) -> (Node, Running) {
    let a = Node::new("alice", "node-a");
    for (id, name) in [
        ("sarah", "Sarah Lee"),
        ("sam", "Sam Park"),
        ("tom", "Tom Reed"),
    ] {
        a.ok(&["staff", "add", id, "--name", name, "--skill", "guide"]);
    }
    for (id, start, end) in [
        ("mon-am-exhibits", "09:00", "13:00"),
        ("mon-am-education", "09:00", "12:00"),
        ("mon-pm", "14:00", "18:00"),
    ] {
        a.ok(&[
            "shift",
            "add",
            id,
            "--date",
            "2026-11-23",
            "--start",
            start,
            "--end",
            end,
            "--capacity",
            "2",
            "--min-staff",
            "0",
        ]);
    }
    let running = a.start_with_env(&[], env);
    (a, running)
}

/// A new machine joined to the founder's site, its node running and dialing the founder.
pub fn join(user: &'static str, name: &str, a: &Node) -> (Node, Running) {
    let node = Node::joining(user, name, a);
    let running = node.start(&["--peer", &a.address()]);
    (node, running)
}

pub fn converged(nodes: &[&Node]) -> bool {
    let first = nodes[0].heads();
    !first.is_null() && nodes[1..].iter().all(|n| n.heads() == first)
}

pub fn conflicts(node: &Node) -> Vec<Value> {
    node.json(&["conflicts"]).as_array().unwrap().clone()
}

pub fn staff_count(node: &Node) -> usize {
    node.json(&["staff", "list"]).as_array().map_or(0, Vec::len)
}
