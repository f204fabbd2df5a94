//! Network figures: real `shiftmesh node` processes on 127.0.0.1, driven through the CLI, beside
//! raw Automerge syncing the same document in one process.
//!
//! - catch-up: a fresh node joins and starts; the time until its heads equal the founder's
//!   (process start, sled, transfer, apply, index), and the bytes its sessions moved;
//! - CLI edit to durable acknowledgement through a running node: the whole CLI process;
//! - propagation: an edit made on one of five nodes, until each other node has applied and
//!   validated it (its event stream reports the entity), measured from the edit's start.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use automerge::sync::{self, SyncDoc};
use automerge::AutoCommit;
use serde_json::Value;

use crate::{median, run_ok};

/// How long any wait in this benchmark may take before it is reported as a failure.
const WAIT_LIMIT: Duration = Duration::from_secs(600);
const POLL: Duration = Duration::from_millis(5);

struct Node {
    dir: PathBuf,
    child: Option<Child>,
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn cli(bin: &Path, dir: &Path) -> Command {
    let mut c = Command::new(bin);
    c.arg("--data-dir")
        .arg(dir)
        .env_remove("SHIFTMESH_DATA_DIR");
    c
}

fn json(bin: &Path, dir: &Path, args: &[&str]) -> anyhow::Result<Value> {
    let out = cli(bin, dir).arg("--json").args(args).output()?;
    if !out.status.success() {
        bail!("{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn wait(what: &str, mut done: impl FnMut() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + WAIT_LIMIT;
    while !done() {
        if Instant::now() > deadline {
            bail!("gave up waiting until {what}");
        }
        std::thread::sleep(POLL);
    }
    Ok(())
}

impl Node {
    fn start(bin: &Path, dir: &Path, peers: &[String]) -> anyhow::Result<Node> {
        let mut command = cli(bin, dir);
        command
            .args(["node", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for p in peers {
            command.args(["--peer", p]);
        }
        let node = Node {
            dir: dir.to_owned(),
            child: Some(command.spawn()?),
        };
        wait("a node answers", || {
            node.status().is_ok_and(|s| s["running"] == true)
        })?;
        Ok(node)
    }

    fn status(&self) -> anyhow::Result<Value> {
        let bin = std::env::current_exe()?.with_file_name("shiftmesh");
        json(&bin, &self.dir, &["status"])
    }

    fn heads(&self) -> Value {
        self.status()
            .map(|s| s["heads"].clone())
            .unwrap_or(Value::Null)
    }

    fn rss_mib(&self) -> u64 {
        let pid = self.child.as_ref().map_or(0, Child::id);
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse::<u64>().ok())
            })
            .unwrap_or(0)
            / 1024
    }
}

/// Follows a node's event stream in a thread; lines arrive with the instant they were read.
fn follow(
    bin: &Path,
    dir: &Path,
    tag: usize,
    tx: mpsc::Sender<(usize, Instant, Value)>,
) -> anyhow::Result<Child> {
    let mut child = cli(bin, dir)
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
    Ok(child)
}

fn percentile(values: &[Duration], p: f64) -> Duration {
    let mut v = values.to_vec();
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// Raw Automerge: the document into an empty one with the sync protocol, in one process.
fn raw_sync(bytes: &[u8]) -> anyhow::Result<(Duration, usize)> {
    let mut full = AutoCommit::load(bytes)?;
    let mut empty = AutoCommit::new();
    let (mut s_full, mut s_empty) = (sync::State::new(), sync::State::new());
    let started = Instant::now();
    let mut moved = 0;
    loop {
        let mut progressed = false;
        if let Some(m) = empty.sync().generate_sync_message(&mut s_empty) {
            let wire = m.encode();
            moved += wire.len();
            full.sync()
                .receive_sync_message(&mut s_full, sync::Message::decode(&wire)?)?;
            progressed = true;
        }
        if let Some(m) = full.sync().generate_sync_message(&mut s_full) {
            let wire = m.encode();
            moved += wire.len();
            empty
                .sync()
                .receive_sync_message(&mut s_empty, sync::Message::decode(&wire)?)?;
            progressed = true;
        }
        if !progressed {
            break;
        }
    }
    Ok((started.elapsed(), moved))
}

pub fn network(
    work: &Path,
    bin: &Path,
    csv: &[PathBuf],
    staff_ids: &[String],
    runs: usize,
    edits: usize,
) -> anyhow::Result<()> {
    let founder_dir = work.join("net-a");
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
    let backup = work.join("net-a.automerge");
    run_ok(cli(bin, &founder_dir).arg("backup").arg(&backup))?;
    let doc_bytes = std::fs::read(&backup)?;
    let founder = Node::start(bin, &founder_dir, &[])?;
    let address = founder.status()?["listen"][0]
        .as_str()
        .context("listen address")?
        .to_owned();
    // Each machine joins with its own invite: a join secret is good once.
    let join = |name: &str| -> anyhow::Result<PathBuf> {
        let invite = json(bin, &founder_dir, &["invite"])?["invite"]
            .as_str()
            .context("invite")?
            .to_owned();
        let dir = work.join(name);
        run_ok(cli(bin, &dir).args(["init", "--join", &invite, "--node-name", name]))?;
        Ok(dir)
    };

    // Catch-up of a fresh node, against raw in-process sync of the same document.
    let (tx, rx) = mpsc::channel();
    let mut founder_events = follow(bin, &founder_dir, 0, tx)?;
    let mut catch_up = Vec::new();
    let mut catch_up_bytes = Vec::new();
    let mut raw = Vec::new();
    let mut raw_bytes = 0;
    for run in 0..runs {
        let dir = join(&format!("fresh-{run}"))?;
        let started = Instant::now();
        let node = Node::start(bin, &dir, std::slice::from_ref(&address))?;
        // The founder's heads include the change that made the fresh node a member.
        wait("the fresh node catches up", || {
            let heads = node.heads();
            !heads.is_null() && heads == founder.heads()
        })?;
        catch_up.push(started.elapsed());
        let peer = node.status()?["peer_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        drop(node);
        // The founder reports each session it took part in with the fresh node.
        let mut bytes = 0;
        while let Ok((_, _, event)) = rx.recv_timeout(Duration::from_millis(500)) {
            if event["type"] == "sync-completed" && event["peer_id"] == peer.as_str() {
                bytes += event["bytes_sent"].as_u64().unwrap_or(0)
                    + event["bytes_received"].as_u64().unwrap_or(0);
            }
        }
        catch_up_bytes.push(bytes);
        let (time, moved) = raw_sync(&doc_bytes)?;
        raw.push(time);
        raw_bytes = moved;
    }
    let _ = founder_events.kill();
    let _ = founder_events.wait();

    // Five nodes: the founder and four that joined.
    let mut others = Vec::new();
    for i in 0..4 {
        let dir = join(&format!("peer-{i}"))?;
        others.push(Node::start(bin, &dir, std::slice::from_ref(&address))?);
    }
    wait("five nodes converge", || {
        let target = founder.heads();
        others.iter().all(|n| n.heads() == target)
    })?;
    let idle_rss = founder.rss_mib();
    let (tx, rx) = mpsc::channel();
    let mut followers = Vec::new();
    for (i, n) in others.iter().enumerate() {
        followers.push(follow(bin, &n.dir, i, tx.clone())?);
    }
    let mut ack = Vec::new();
    let mut propagation = Vec::new();
    let mut after_ack = Vec::new();
    let mut worst = Duration::ZERO;
    // The first edits warm the followers' subscriptions and are not counted.
    let warm_up = 3;
    for i in 0..edits + warm_up {
        let id = &staff_ids[i % staff_ids.len()];
        let started = Instant::now();
        run_ok(cli(bin, &founder_dir).args([
            "staff",
            "update",
            id,
            "--name",
            &format!("Edit {i}"),
        ]))?;
        let acked = started.elapsed();
        let mut seen = vec![None; others.len()];
        let deadline = Instant::now() + Duration::from_secs(30);
        while seen.iter().any(Option::is_none) {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok((node, at, event)) = rx.recv_timeout(left) else {
                bail!("edit {i} did not reach every node within 30 s");
            };
            if event["type"] == "entity-updated" && event["id"] == id.as_str() {
                seen[node].get_or_insert(at.duration_since(started));
            }
        }
        if i >= warm_up {
            ack.push(acked);
            for s in seen.into_iter().flatten() {
                worst = worst.max(s);
                propagation.push(s);
                after_ack.push(s.saturating_sub(acked));
            }
        }
    }
    let busy_rss = founder.rss_mib();
    for mut f in followers {
        let _ = f.kill();
        let _ = f.wait();
    }

    let catch_up_time = median(catch_up);
    let raw_time = median(raw);
    let bytes = {
        let mut b = catch_up_bytes.clone();
        b.sort();
        b[b.len() / 2]
    };
    println!();
    println!("network ({runs} catch-up runs, {edits} edits on 1 of 5 nodes, loopback):");
    println!("| figure | shiftmesh | raw Automerge | ratio | target | met |");
    println!("|---|---|---|---|---|---|");
    let ratio = catch_up_time.as_secs_f64() / raw_time.as_secs_f64();
    println!(
        "| fresh node catch-up, time (process start to identical heads) | {} | {} (in-process sync) | {ratio:.2} | ≤ 1.3 × | {} |",
        ms(catch_up_time),
        ms(raw_time),
        if ratio <= 1.3 { "yes" } else { "no" }
    );
    let byte_ratio = bytes as f64 / doc_bytes.len() as f64;
    println!(
        "| fresh node catch-up, bytes of sync messages | {bytes} B | {raw_bytes} B (in-process sync); document {} B | {byte_ratio:.2} of the document | ≤ 1.1 × | {} |",
        doc_bytes.len(),
        if byte_ratio <= 1.1 { "yes" } else { "no" }
    );
    let p50 = percentile(&ack, 0.5);
    println!(
        "| CLI edit to durable acknowledgement through a running node (whole CLI process), p50 / p99 | {} / {} | — | — | p50 ≤ 10 ms | {} |",
        ms(p50),
        ms(percentile(&ack, 0.99)),
        if p50 <= Duration::from_millis(10) { "yes" } else { "no" }
    );
    let (p50, p99) = (
        percentile(&propagation, 0.5),
        percentile(&propagation, 0.99),
    );
    println!(
        "| edit on 1 of 5 nodes applied and validated on each other, from the edit's start, p50 / p99 / max | {} / {} / {} | — | — | ≤ 10 ms / ≤ 50 ms | {} |",
        ms(p50),
        ms(p99),
        ms(worst),
        if p50 <= Duration::from_millis(10) && p99 <= Duration::from_millis(50) {
            "yes"
        } else {
            "no"
        }
    );
    println!(
        "| the same, from the acknowledgement (network, apply, persist, validate), p50 / p99 | {} / {} | — | — | — | — |",
        ms(percentile(&after_ack, 0.5)),
        ms(percentile(&after_ack, 0.99))
    );
    println!(
        "| resident memory of the founder's node: idle / after the edits | {idle_rss} MiB / {busy_rss} MiB | — | — | — | — |"
    );
    println!(
        "catch-up bytes per run: {catch_up_bytes:?}; propagation samples: {}",
        propagation.len()
    );
    Ok(())
}
