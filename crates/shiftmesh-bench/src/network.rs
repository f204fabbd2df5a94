//! Network figures on one site of real nodes (see `cluster.rs`), beside raw Automerge syncing
//! the same document in one process (`raw.rs`):
//!
//! - catch-up: a fresh node joins a site of N nodes and starts; the time until its heads equal
//!   the founder's, and (with the founder alone) the bytes its sessions moved;
//! - CLI edit to durable acknowledgement through a running node: the whole CLI process;
//! - propagation: an edit on the founder until each other node has applied and validated it
//!   (its event stream reports the entity), from the edit's start;
//! - concurrent edits: every node editing at once, until all hold identical heads and
//!   identical conflict lists.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::Value;

use crate::cluster::{cli, Cluster, Event, Node};
use crate::raw;
use crate::report::{median, millis, ms, percentile, ratio, Row, ScalePoint, Target};

/// The product's targets for these figures.
const CATCH_UP_TARGET_RATIO: f64 = 1.3;
const CATCH_UP_BYTES_TARGET_RATIO: f64 = 1.1;
const ACK_P50_TARGET_MS: f64 = 10.0;
const PROPAGATION_P50_TARGET_MS: f64 = 10.0;
const PROPAGATION_P99_TARGET_MS: f64 = 50.0;
const CONVERGENCE_TARGET_MS: f64 = 5000.0;
/// The site size at which the headline propagation and acknowledgement figures are taken.
pub const HEADLINE_NODES: usize = 5;
/// How long one edit may take to reach every node before the run fails.
const PROPAGATION_LIMIT: Duration = Duration::from_secs(30);
/// Untimed edits that make sure every follower's subscription is live: how many may be tried,
/// and how long each may take to reach every follower.
const WARM_UP_ATTEMPTS: usize = 20;
const WARM_UP_WAIT: Duration = Duration::from_secs(5);
/// Numbers every propagation edit of the run. A rename to the name a staff member already has
/// changes nothing (Automerge skips the write, so no change and no event follows): each edit
/// must write a value never written before, across every site size and profile.
static EDIT_SERIAL: AtomicUsize = AtomicUsize::new(0);
/// The capacities propagation edits give shifts start here, above any generated capacity.
const PROPAGATION_CAPACITY_BASE: usize = 100;
/// After a catch-up, the founder's event stream is read until it is quiet this long, to count
/// every session's bytes.
const QUIET_AFTER_CATCH_UP: Duration = Duration::from_millis(500);

/// What one run of a site measures.
pub struct Settings<'a> {
    pub bin: &'a Path,
    pub csv: &'a [PathBuf],
    pub staff: &'a [String],
    pub shifts: &'a [String],
    /// Catch-up samples at each site size.
    pub runs: usize,
    /// Edits on the founder at each site size.
    pub edits: usize,
    /// Site sizes, ascending.
    pub sizes: &'a [usize],
    /// The edits the nodes make at once on the largest site; 0 skips that figure.
    pub concurrent_edits: usize,
}

/// The headline figures: rows for the table and sentences under it.
pub struct Headline {
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
}

/// What one site measured.
pub struct Site {
    pub points: Vec<ScalePoint>,
    /// The table's rows (only for the headline profile) and notes.
    pub headline: Headline,
    /// The concurrent-edits figure on the largest site (every profile, when asked for).
    pub convergence: Option<Row>,
    /// The founder's document after the import, as a backup holds it.
    pub document: Vec<u8>,
}

/// Grows one site through `settings.sizes`, measuring catch-up and propagation at each size;
/// with `headline`, also the figures of the results table.
pub fn site(
    work: &Path,
    profile: &'static str,
    settings: &Settings,
    headline: bool,
) -> anyhow::Result<Site> {
    let mut cluster = Cluster::found(settings.bin, &work.join(profile), settings.csv)?;
    let mut points = Vec::new();
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    // Counted only with the founder alone, whose sessions are then all the fresh node's.
    let mut bytes = Vec::new();
    for &size in settings.sizes {
        cluster.grow_to(size - 1)?;
        let mut point = ScalePoint {
            profile,
            nodes: size,
            catch_up: Vec::new(),
            raw_catch_up: Vec::new(),
            propagation: Vec::new(),
        };
        let mut raw_bytes = 0;
        for _ in 0..settings.runs {
            // With the founder alone, its sessions are all the fresh node's sessions.
            let founder_events = (size == 2).then(mpsc::channel::<Event>);
            let follower = match &founder_events {
                Some((tx, _)) => Some(cluster.founder.follow(0, tx.clone())?),
                None => None,
            };
            let (node, time) = cluster.catch_up()?;
            let peer = node.peer_id()?;
            Cluster::discard(node);
            cluster.revoke(&peer)?;
            point.catch_up.push(time);
            if let Some((_, rx)) = founder_events {
                bytes.push(session_bytes(&rx, &peer));
            }
            drop(follower);
            let (raw_time, moved) = raw::catch_up(&cluster.document)?;
            point.raw_catch_up.push(raw_time);
            raw_bytes = moved;
        }
        cluster.grow_to(size)?;
        let edits = match propagation(&cluster, settings) {
            Ok(edits) => edits,
            Err(e) => {
                // Reported with the results rather than losing the run: a stall is a finding.
                eprintln!("  {profile}, {size} nodes: {e:#}");
                notes.push(format!(
                    "**{profile}, {size} nodes: propagation failed: {e:#}**; this profile's larger sites were not measured."
                ));
                break;
            }
        };
        point.propagation = edits.propagation.clone();
        eprintln!(
            "  {profile}, {size} nodes: catch-up {} (raw {}), propagation p50 {} p99 {}",
            ms(median(&point.catch_up)),
            ms(median(&point.raw_catch_up)),
            ms(percentile(&point.propagation, 0.5)),
            ms(percentile(&point.propagation, 0.99)),
        );
        if headline && size == 2 {
            rows.push(Row::timed(
                "fresh node catch-up (process start to identical heads) vs in-process sync",
                median(&point.catch_up),
                Some(median(&point.raw_catch_up)),
                Target::Ratio(CATCH_UP_TARGET_RATIO),
            ));
            notes.push(format!(
                "Catch-up bytes per run with the founder alone: {bytes:?}."
            ));
            let ours = median(&bytes);
            let document = cluster.document.len();
            rows.push(Row {
                figure: "fresh node catch-up, bytes of sync messages vs the compressed document"
                    .into(),
                ours: format!("{ours} B"),
                raw: format!("{document} B (in-process sync moved {raw_bytes} B)"),
                ratio: Some(ours as f64 / document.max(1) as f64),
                target: Target::Ratio(CATCH_UP_BYTES_TARGET_RATIO),
                value: ours as f64,
            });
        }
        if headline && size == HEADLINE_NODES {
            let raw_ack = raw::acknowledge(
                &cluster.document,
                settings.staff,
                settings.edits,
                &work.join("raw-ack.log"),
            )?;
            rows.push(spread_row(
                "CLI edit to durable acknowledgement through a running node (whole CLI process) vs edit + commit + append + fsync, p50 / p99",
                &edits.ack,
                &raw_ack,
                Target::Millis(ACK_P50_TARGET_MS),
            ));
            let raw_propagation =
                raw::propagate(&cluster.document, settings.staff, size, settings.edits)?;
            rows.push(spread_row(
                &format!("edit on 1 of {size} nodes applied and validated on every other, p50 / p99 ({} samples) vs in-process sync to {} copies", point.propagation.len(), size - 1),
                &point.propagation,
                &raw_propagation,
                Target::Millis(PROPAGATION_P50_TARGET_MS),
            ));
            let p99 = percentile(&point.propagation, 0.99);
            rows.push(Row {
                figure: "the same, p99 / max".into(),
                ours: format!("{} / {}", ms(p99), ms(percentile(&point.propagation, 1.0))),
                raw: format!(
                    "{} / {}",
                    ms(percentile(&raw_propagation, 0.99)),
                    ms(percentile(&raw_propagation, 1.0))
                ),
                ratio: Some(ratio(p99, percentile(&raw_propagation, 0.99))),
                target: Target::Millis(PROPAGATION_P99_TARGET_MS),
                value: millis(p99),
            });
            notes.push(format!(
                "From the acknowledgement to the last node (network, apply, persist, validate): p50 {}, p99 {}.",
                ms(percentile(&edits.after_ack, 0.5)),
                ms(percentile(&edits.after_ack, 0.99))
            ));
            eprintln!("  {profile}, {size} nodes: the web paths");
            rows.extend(crate::web::measure(
                &cluster,
                settings.shifts,
                settings.edits,
            )?);
            eprintln!("  {profile}, {size} nodes: the page in Chromium");
            rows.extend(crate::page::measure(
                &cluster,
                settings.shifts,
                settings.edits,
            )?);
        }
        points.push(point);
    }
    let mut convergence = None;
    if settings.concurrent_edits > 0 {
        let nodes = cluster.size();
        let idle_kib = cluster.founder.memory_kib("VmRSS:");
        let result = concurrent(&cluster, settings)?;
        let loaded_kib = cluster.founder.memory_kib("VmHWM:");
        let raw_time = raw::converge(
            &cluster.document,
            settings.staff,
            nodes,
            settings.concurrent_edits,
        )?;
        eprintln!(
            "  {profile}, {nodes} nodes, {} concurrent edits: identical {} after the last acknowledgement (raw {})",
            settings.concurrent_edits,
            ms(result.after_last_ack),
            ms(raw_time)
        );
        convergence = Some(Row::timed(
            format!(
                "{}, {nodes} nodes, {} concurrent edits: from the last acknowledgement to identical heads and conflict lists on all, vs in-process sync of {nodes} copies",
                profile.to_uppercase(),
                settings.concurrent_edits
            ),
            result.after_last_ack,
            Some(raw_time),
            Target::Millis(CONVERGENCE_TARGET_MS),
        ));
        if headline {
            rows.push(Row {
                figure: format!("resident memory of the founder's node: idle with {nodes} nodes / peak under {} concurrent edits", settings.concurrent_edits),
                ours: format!("{} MiB / {} MiB", idle_kib / 1024, loaded_kib / 1024),
                raw: "—".into(),
                ratio: None,
                target: Target::None,
                value: (loaded_kib / 1024) as f64,
            });
        }
        notes.push(format!(
            "Concurrent edits on {}: {} CLI edits on {nodes} nodes at once ({} refused by the schedule's own checks and not counted as edits), made over {}; all nodes identical {} after the first edit began, with {} conflicts each.",
            profile.to_uppercase(),
            settings.concurrent_edits,
            result.refused,
            ms(result.editing),
            ms(result.span),
            result.conflicts
        ));
    }
    Ok(Site {
        points,
        headline: Headline { rows, notes },
        convergence,
        document: std::mem::take(&mut cluster.document),
    })
}

/// A row of a p50 / p99 figure beside its raw floor, judged by the p50.
fn spread_row(figure: &str, ours: &[Duration], raw: &[Duration], target: Target) -> Row {
    let p50 = percentile(ours, 0.5);
    Row {
        figure: figure.into(),
        ours: format!("{} / {}", ms(p50), ms(percentile(ours, 0.99))),
        raw: format!(
            "{} / {}",
            ms(percentile(raw, 0.5)),
            ms(percentile(raw, 0.99))
        ),
        ratio: Some(ratio(p50, percentile(raw, 0.5))),
        target,
        value: millis(p50),
    }
}

/// The bytes of every session the founder reported with `peer`, read until its stream is quiet.
fn session_bytes(rx: &mpsc::Receiver<Event>, peer: &str) -> u64 {
    let mut bytes = 0;
    while let Ok((_, _, event)) = rx.recv_timeout(QUIET_AFTER_CATCH_UP) {
        if event["type"] == "sync-completed" && event["peer_id"] == peer {
            bytes += event["bytes_sent"].as_u64().unwrap_or(0)
                + event["bytes_received"].as_u64().unwrap_or(0);
        }
    }
    bytes
}

struct Propagation {
    /// Each edit's time to each other node, from the start of the editing CLI process.
    propagation: Vec<Duration>,
    /// Each edit's CLI process time.
    ack: Vec<Duration>,
    /// Each edit's time to each other node after its acknowledgement.
    after_ack: Vec<Duration>,
}

/// One propagation edit: every other one renames a person (a field no rule reads, so each
/// receiver re-checks only that person's own values), the others set a shift's capacity (which
/// re-checks the shift and its assignees' weeks). Returns the command's arguments and the id
/// whose `entity-updated` event shows the edit arrived.
fn propagation_edit(serial: usize, staff: &[String], shifts: &[String]) -> (Vec<String>, String) {
    let half = serial / 2;
    if serial.is_multiple_of(2) {
        let id = staff[half % staff.len()].clone();
        let args = ["staff", "update", &id, "--name", &format!("Edit {serial}")];
        (args.map(String::from).to_vec(), id)
    } else {
        // A capacity this shift has not had in this run (generated ones are below it).
        let id = shifts[half % shifts.len()].clone();
        let capacity = PROPAGATION_CAPACITY_BASE + half / shifts.len();
        let args = ["shift", "update", &id, "--capacity", &capacity.to_string()];
        (args.map(String::from).to_vec(), id)
    }
}

/// Edits on the founder, one at a time, each until every other node reports it.
fn propagation(cluster: &Cluster, settings: &Settings) -> anyhow::Result<Propagation> {
    let (tx, rx) = mpsc::channel();
    let followers = cluster
        .members
        .iter()
        .enumerate()
        .map(|(i, n)| n.follow(i, tx.clone()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let edit = |limit: Duration| -> anyhow::Result<Option<(Duration, Vec<Duration>)>> {
        let serial = EDIT_SERIAL.fetch_add(1, Ordering::Relaxed);
        let (args, id) = propagation_edit(serial, settings.staff, settings.shifts);
        let started = Instant::now();
        crate::run_ok(cli(settings.bin, &cluster.founder_dir).args(&args))?;
        let acked = started.elapsed();
        let mut seen = vec![None; followers.len()];
        let deadline = Instant::now() + limit;
        while seen.iter().any(Option::is_none) {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok((node, at, event)) = rx.recv_timeout(left) else {
                return Ok(None);
            };
            if event["type"] == "entity-updated" && event["id"] == id.as_str() {
                seen[node].get_or_insert(at.duration_since(started));
            }
        }
        Ok(Some((acked, seen.into_iter().flatten().collect())))
    };
    // A follower subscribes once its node's loop takes the connection, which on a node still
    // busy with a catch-up can be after an edit was reported: edit until one edit reaches every
    // follower, so that every subscription is live before anything is timed.
    let mut live = false;
    for _ in 0..WARM_UP_ATTEMPTS {
        if edit(WARM_UP_WAIT)?.is_some() {
            live = true;
            break;
        }
    }
    if !live {
        bail!("no edit reached every node's event stream in {WARM_UP_ATTEMPTS} tries");
    }
    let mut result = Propagation {
        propagation: Vec::new(),
        ack: Vec::new(),
        after_ack: Vec::new(),
    };
    for i in 0..settings.edits {
        let Some((acked, seen)) = edit(PROPAGATION_LIMIT)? else {
            bail!(
                "edit {i} did not reach every node within {} s",
                PROPAGATION_LIMIT.as_secs()
            );
        };
        result.ack.push(acked);
        for s in seen {
            result.propagation.push(s);
            result.after_ack.push(s.saturating_sub(acked));
        }
    }
    Ok(result)
}

struct Concurrent {
    /// From the first edit's start until every node agreed.
    span: Duration,
    /// From the last acknowledgement until every node agreed.
    after_last_ack: Duration,
    /// From the first edit's start to the last acknowledgement.
    editing: Duration,
    /// Edits the CLI refused (an assignment the schedule already holds, say).
    refused: usize,
    conflicts: usize,
}

/// Every node edits at once through its own CLI (assignments, which make conflicts, and
/// renames), then the site is watched until all nodes hold identical heads and conflict lists.
fn concurrent(cluster: &Cluster, settings: &Settings) -> anyhow::Result<Concurrent> {
    let nodes: Vec<&Node> = cluster.nodes().collect();
    let count = nodes.len();
    let started = Instant::now();
    let outcomes: Vec<(Instant, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = nodes
            .iter()
            .enumerate()
            .map(|(k, node)| {
                let dir = node.dir.clone();
                scope.spawn(move || {
                    let mut refused = 0;
                    let mut i = k;
                    while i < settings.concurrent_edits {
                        let staff = &settings.staff[(i * 7919 + k) % settings.staff.len()];
                        let mut command = cli(settings.bin, &dir);
                        if i % 4 == 0 {
                            let shift = &settings.shifts[(i * 104_729) % settings.shifts.len()];
                            command.args(["assign", staff, shift]);
                        } else {
                            command.args(["staff", "update", staff, "--name"]);
                            command.arg(format!("Concurrent {i}"));
                        }
                        let ok = command.output().is_ok_and(|o| o.status.success());
                        refused += usize::from(!ok);
                        i += count;
                    }
                    (Instant::now(), refused)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or((Instant::now(), usize::MAX)))
            .collect()
    });
    if outcomes.iter().any(|(_, r)| *r == usize::MAX) {
        bail!("an editing thread failed");
    }
    let last_ack = outcomes.iter().map(|(at, _)| *at).max().unwrap_or(started);
    let refused = outcomes.iter().map(|(_, r)| r).sum();
    let mut agreed = None;
    crate::cluster::wait("every node holds the same heads and conflicts", || {
        let statuses: Vec<Value> = nodes.iter().filter_map(|n| n.status().ok()).collect();
        let same = statuses.len() == count
            && statuses.iter().all(|s| {
                s["heads"] == statuses[0]["heads"] && s["conflicts"] == statuses[0]["conflicts"]
            });
        if !same {
            return false;
        }
        let at = Instant::now();
        // The full lists are compared once the cheap check holds.
        let lists: Vec<Vec<String>> = nodes.iter().filter_map(|n| n.conflict_ids().ok()).collect();
        if lists.len() == count && lists.iter().all(|l| *l == lists[0]) {
            agreed = Some((at, lists[0].len()));
            return true;
        }
        false
    })?;
    let (at, conflicts) = agreed.unwrap_or((Instant::now(), 0));
    Ok(Concurrent {
        span: at.duration_since(started),
        after_last_ack: at.saturating_duration_since(last_ack),
        editing: last_ack.duration_since(started),
        refused,
        conflicts,
    })
}
