//! Real `shiftmesh node` processes on 127.0.0.1 forming one site, driven through the CLI as a
//! user would: a founder holding the imported schedule, and members that each joined with their
//! own invite.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;

use crate::run_ok;

/// How long any wait in this benchmark may take before it is reported as a failure.
pub const WAIT_LIMIT: Duration = Duration::from_secs(600);
/// How often a waiting benchmark asks the nodes again.
const POLL_INTERVAL_MS: u64 = 5;
/// How long a stopped node may take to flush and exit before it is killed.
const STOP_LIMIT: Duration = Duration::from_secs(30);

/// A line of a node's event stream: which follower read it, when, and what it said.
pub type Event = (usize, Instant, Value);

/// A CLI command against one data directory.
pub fn cli(bin: &Path, dir: &Path) -> Command {
    let mut c = Command::new(bin);
    // Everything is done as one named user (CI machines may set no USER).
    c.arg("--data-dir")
        .arg(dir)
        .env_remove("SHIFTMESH_DATA_DIR")
        .env("SHIFTMESH_USER", "manager");
    c
}

/// Runs a CLI command with `--json` and parses its answer.
pub fn json(bin: &Path, dir: &Path, args: &[&str]) -> anyhow::Result<Value> {
    let out = cli(bin, dir).arg("--json").args(args).output()?;
    if !out.status.success() {
        bail!("{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// Polls `done` until it holds, failing after [`WAIT_LIMIT`].
pub fn wait(what: &str, mut done: impl FnMut() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + WAIT_LIMIT;
    while !done() {
        if Instant::now() > deadline {
            bail!("gave up waiting until {what}");
        }
        std::thread::sleep(Duration::from_millis(POLL_INTERVAL_MS));
    }
    Ok(())
}

/// A running node; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Node {
    pub dir: PathBuf,
    bin: PathBuf,
    child: Child,
}

impl Node {
    /// Starts a node and returns it with the time from spawning it until it answered `status`.
    pub fn start(bin: &Path, dir: &Path, peers: &[String]) -> anyhow::Result<(Node, Duration)> {
        // A scheduled backup saves the whole document, once a day; it is left out of figures
        // of edits and syncs measured over minutes.
        let config = dir.join("config.toml");
        if !config.exists() {
            std::fs::write(&config, "[backup]\nevery = \"off\"\n")?;
        }
        let mut command = cli(bin, dir);
        command
            .args(["node", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"])
            .args(["--ui-listen", "127.0.0.1:0"])
            .env(
                "RUST_LOG",
                std::env::var("SHIFTMESH_BENCH_LOG").unwrap_or("warn".into()),
            )
            .stdout(Stdio::null())
            // Warnings go beside the data directory, for a failed run's post-mortem.
            .stderr(std::fs::File::create(dir.with_extension("log"))?);
        for p in peers {
            command.args(["--peer", p]);
        }
        let started = Instant::now();
        let node = Node {
            dir: dir.to_owned(),
            bin: bin.to_owned(),
            child: command.spawn()?,
        };
        // Asked only once the node listens on its socket: a command run before that would
        // open the store itself (the whole schedule, about a second on YEAR) and hold the node
        // back, which measured the poll rather than the node.
        let socket = shiftmesh_node::control::socket_path(dir);
        wait("a node answers", || {
            socket.exists() && node.status().is_ok_and(|s| s["running"] == true)
        })?;
        Ok((node, started.elapsed()))
    }

    pub fn status(&self) -> anyhow::Result<Value> {
        json(&self.bin, &self.dir, &["status"])
    }

    pub fn heads(&self) -> Value {
        self.status()
            .map(|s| s["heads"].clone())
            .unwrap_or(Value::Null)
    }

    /// Where the node serves its page and API (`http://127.0.0.1:PORT/`).
    pub fn ui(&self) -> anyhow::Result<String> {
        Ok(self.status()?["ui"]
            .as_str()
            .context("status has no page address")?
            .to_owned())
    }

    /// A one-time link that signs this machine's owner in to its page.
    pub fn login_link(&self) -> anyhow::Result<String> {
        Ok(json(&self.bin, &self.dir, &["ui"])?["url"]
            .as_str()
            .context("ui gave no link")?
            .to_owned())
    }

    pub fn peer_id(&self) -> anyhow::Result<String> {
        Ok(self.status()?["peer_id"]
            .as_str()
            .context("status has no peer id")?
            .to_owned())
    }

    /// The sorted ids of the node's conflicts.
    pub fn conflict_ids(&self) -> anyhow::Result<Vec<String>> {
        let list = json(&self.bin, &self.dir, &["conflicts"])?;
        let mut ids: Vec<String> = list
            .as_array()
            .context("conflicts --json is a list")?
            .iter()
            .filter_map(|c| c["id"].as_str().map(str::to_owned))
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// A field of the node process's `/proc/PID/status` in KiB (`VmRSS:` now, `VmHWM:` peak).
    pub fn memory_kib(&self, field: &str) -> u64 {
        crate::proc_field(&format!("/proc/{}/status", self.child.id()), field)
    }

    /// Follows the node's event stream in a thread, sending each line tagged with `tag`.
    pub fn follow(&self, tag: usize, tx: mpsc::Sender<Event>) -> anyhow::Result<Follower> {
        let mut child = cli(&self.bin, &self.dir)
            .arg("events")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().context("events stdout")?;
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str(&line) {
                    if tx.send((tag, Instant::now(), v)).is_err() {
                        break;
                    }
                }
            }
        });
        Ok(Follower(child))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // SIGTERM lets the node flush and exit as a user's Ctrl-C would.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + STOP_LIMIT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(POLL_INTERVAL_MS));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An `events` process, stopped when dropped.
pub struct Follower(Child);

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One site: the founder with the imported schedule and the members running beside it.
pub struct Cluster {
    bin: PathBuf,
    work: PathBuf,
    pub founder: Node,
    pub founder_dir: PathBuf,
    /// The founder's listening address, which every member is given with `--peer`.
    pub address: String,
    pub members: Vec<Node>,
    /// The document as the founder held it after the import (a `backup`).
    pub document: Vec<u8>,
    joined: usize,
}

impl Cluster {
    /// Initialises a founder in `work`, imports the CSV files and starts its node.
    pub fn found(bin: &Path, work: &Path, csv: &[PathBuf]) -> anyhow::Result<Cluster> {
        std::fs::create_dir_all(work)?;
        let founder_dir = work.join("founder");
        run_ok(cli(bin, &founder_dir).args([
            "init",
            "--name",
            "Bench",
            "--time-zone",
            "Europe/Berlin",
        ]))?;
        run_ok(
            cli(bin, &founder_dir)
                .args(["import", "--format", "csv"])
                .args(csv),
        )?;
        let backup = work.join("founder.automerge");
        run_ok(cli(bin, &founder_dir).arg("backup").arg(&backup))?;
        let document = std::fs::read(&backup)?;
        let (founder, _) = Node::start(bin, &founder_dir, &[])?;
        let address = founder.status()?["listen"][0]
            .as_str()
            .context("the founder has no listen address")?
            .to_owned();
        Ok(Cluster {
            bin: bin.to_owned(),
            work: work.to_owned(),
            founder,
            founder_dir,
            address,
            members: Vec::new(),
            document,
            joined: 0,
        })
    }

    /// Every running node, founder first.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        std::iter::once(&self.founder).chain(&self.members)
    }

    pub fn size(&self) -> usize {
        1 + self.members.len()
    }

    /// A new data directory that joined the site with its own invite (a secret is good once).
    fn join(&mut self) -> anyhow::Result<PathBuf> {
        let invite = json(&self.bin, &self.founder_dir, &["invite"])?["invite"]
            .as_str()
            .context("invite --json has no invite")?
            .to_owned();
        self.joined += 1;
        let name = format!("member-{}", self.joined);
        let dir = self.work.join(&name);
        run_ok(cli(&self.bin, &dir).args(["init", "--join", &invite, "--node-name", &name]))?;
        Ok(dir)
    }

    /// Joins and starts a fresh node and waits until its heads equal the founder's (which
    /// include the change that made it a member); returns it with that time, measured from
    /// spawning its process.
    pub fn catch_up(&mut self) -> anyhow::Result<(Node, Duration)> {
        let dir = self.join()?;
        let started = Instant::now();
        let (node, _) = Node::start(&self.bin, &dir, std::slice::from_ref(&self.address))?;
        wait("a fresh node catches up", || {
            let heads = node.heads();
            !heads.is_null() && heads == self.founder.heads()
        })?;
        Ok((node, started.elapsed()))
    }

    /// Adds caught-up members until the site has `size` running nodes.
    pub fn grow_to(&mut self, size: usize) -> anyhow::Result<()> {
        while self.size() < size {
            let (node, _) = self.catch_up()?;
            self.members.push(node);
        }
        wait("every node has the founder's heads", || {
            let target = self.founder.heads();
            self.members.iter().all(|n| n.heads() == target)
        })
    }

    /// Revokes a member that was stopped for good, as a site would: a member that is off but
    /// not revoked makes a node that was alone wait for its word (the membership grace,
    /// docs/SECURITY.md) before it syncs with anyone.
    pub fn revoke(&self, peer: &str) -> anyhow::Result<()> {
        run_ok(cli(&self.bin, &self.founder_dir).args(["peers", "revoke", peer]))
    }

    /// Stops a node that is not part of the running site and removes its data directory.
    pub fn discard(node: Node) {
        let dir = node.dir.clone();
        drop(node);
        let _ = std::fs::remove_dir_all(dir);
    }
}
