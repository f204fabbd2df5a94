//! `shiftmesh-bench [--profile small|large|year] [--runs N] [--edits N] [--network-only]`:
//! import, store open and validation, then catch-up, acknowledgement and propagation on five
//! local nodes (`network.rs`), each measured beside the same work done with raw Automerge in
//! the same run where there is one, as ratios.
//!
//! shiftmesh's figures are the real binary end to end (`shiftmesh import` as a process) and the
//! store's open path in a fresh child process; the raw figures are Automerge alone on the same
//! entities with the same field layout. Each figure is the median of `--runs` runs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use automerge::transaction::Transactable;
use automerge::{hydrate, AutoCommit, ROOT};
use shiftmesh_model::doc::to_hydrate;
use shiftmesh_model::{Entity, Index, Schedule};
use shiftmesh_store::{Store, LAST_GOOD_FILE};

mod network;

const USAGE: &str = "usage: shiftmesh-bench [--profile small|large|year] [--runs N] [--seed N] [--edits N] [--network-only]";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Child modes: one measurement in a fresh process, printed as "millis peak_rss_kib".
    match args.first().map(String::as_str) {
        Some("--child-open") => return child(|| open_store(Path::new(&args[1]))),
        Some("--child-raw-load") => return child(|| raw_load(Path::new(&args[1]))),
        Some("--child-validate") => {
            let (full, incremental, conflicts) = validation(Path::new(&args[1]), 20)?;
            println!("full {full:?} incremental {incremental:?} conflicts {conflicts}");
            return Ok(());
        }
        _ => {}
    }
    let mut profile = shiftmesh_testdata::YEAR;
    let mut runs = 3usize;
    let mut seed = 0u64;
    let mut edits = 200usize;
    let mut network_only = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .with_context(|| format!("{arg} needs a value; {USAGE}"))
        };
        match arg.as_str() {
            "--profile" => {
                let name = value()?;
                profile = shiftmesh_testdata::Profile::by_name(name)
                    .with_context(|| format!("unknown profile {name}; {USAGE}"))?
            }
            "--runs" => runs = value()?.parse().context(USAGE)?,
            "--seed" => seed = value()?.parse().context(USAGE)?,
            "--edits" => edits = value()?.parse().context(USAGE)?,
            "--network-only" => network_only = true,
            other => bail!("unknown argument {other}; {USAGE}"),
        }
    }
    let runs = runs.max(1);
    let work = std::env::temp_dir().join(format!("shiftmesh-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let result = bench(&work, profile, seed, runs, edits, network_only);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn bench(
    work: &Path,
    profile: shiftmesh_testdata::Profile,
    seed: u64,
    runs: usize,
    edits: usize,
    network_only: bool,
) -> anyhow::Result<()> {
    let shiftmesh = sibling("shiftmesh")?;
    let roster = shiftmesh_testdata::generate(profile, seed);
    let csv = roster.write_csv(&work.join("csv"))?;
    println!(
        "profile {} seed {seed}: {} staff, {} shifts, {} assignments, {} availability entries; {runs} run(s) each, medians",
        profile.name,
        roster.staff.len(),
        roster.shifts.len(),
        roster.assignments.len(),
        roster.availability.len()
    );
    println!("machine: {} cores, {} MiB memory", cores(), memory_mib());
    let staff_ids: Vec<String> = roster.staff.iter().map(|s| s.id.to_string()).collect();
    if !network_only {
        local(work, &shiftmesh, &csv, runs)?;
    }
    network::network(work, &shiftmesh, &csv, &staff_ids, runs, edits)
}

/// Import, store open, memory and validation, each beside raw Automerge.
fn local(work: &Path, shiftmesh: &Path, csv: &[PathBuf], runs: usize) -> anyhow::Result<()> {
    // shiftmesh: the real binary, end to end, into a fresh data directory each run.
    let mut ours = Vec::new();
    let mut data = PathBuf::new();
    for run in 0..runs {
        data = work.join(format!("data-{run}"));
        run_ok(Command::new(shiftmesh).arg("--data-dir").arg(&data).args([
            "init",
            "--time-zone",
            "Europe/Berlin",
        ]))?;
        let started = Instant::now();
        run_ok(
            Command::new(shiftmesh)
                .arg("--data-dir")
                .arg(&data)
                .args(["import", "--format", "csv"])
                .args(csv),
        )?;
        ours.push(started.elapsed());
    }

    // Raw Automerge: the same entities, the same fields, one batch_create_object per collection
    // into a new document, then save(). This is the floor the stack allows.
    let index = read_index(&data)?;
    let collections = raw_collections(&index);
    let mut raw = Vec::new();
    let mut raw_bytes = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let mut doc = AutoCommit::new();
        for (name, value) in &collections {
            doc.batch_create_object(ROOT, *name, value, false)?;
        }
        doc.commit();
        raw_bytes = doc.save();
        raw.push(started.elapsed());
    }

    // Open: the store's open path (identity, sled, document, index from its snapshot) against
    // Automerge::load of the same document bytes, each in a fresh process.
    let snapshot = data.join(LAST_GOOD_FILE);
    let mut open = Vec::new();
    let mut load = Vec::new();
    for _ in 0..runs {
        open.push(measure_child(&[
            "--child-open",
            &data.display().to_string(),
        ])?);
        load.push(measure_child(&[
            "--child-raw-load",
            &snapshot.display().to_string(),
        ])?);
    }
    let open_time = median(open.iter().map(|m| m.0).collect());
    let load_time = median(load.iter().map(|m| m.0).collect());
    let open_doc = median(open.iter().map(|m| m.2).collect());
    let open_rss = open.iter().map(|m| m.1).max().unwrap_or(0);
    let load_rss = load.iter().map(|m| m.1).max().unwrap_or(0);

    let import_time = median(ours);
    let raw_time = median(raw);
    println!();
    println!("| figure | shiftmesh | raw Automerge | ratio | target | met |");
    println!("|---|---|---|---|---|---|");
    row(
        "CSV import (process, parse, write, save, index)",
        import_time,
        raw_time,
        1.5,
    );
    row(
        "store open (sled, document, index)",
        open_time,
        load_time,
        1.3,
    );
    println!(
        "| resident memory after open | {} MiB | {} MiB | {:.2} | ≤ 256 MiB | {} |",
        open_rss / 1024,
        load_rss / 1024,
        open_rss as f64 / load_rss.max(1) as f64,
        if open_rss / 1024 <= 256 { "yes" } else { "no" }
    );
    let (full, incremental, conflicts) = validation(&data, runs.max(5))?;
    println!(
        "| full validation pass ({conflicts} conflicts) | {:.1} ms | — | — | ≤ 50 ms | {} |",
        full.as_secs_f64() * 1e3,
        if full <= Duration::from_millis(50) {
            "yes"
        } else {
            "no"
        }
    );
    println!(
        "| incremental validation after one edit | {:.3} ms | — | — | ≤ 1 ms | {} |",
        incremental.as_secs_f64() * 1e3,
        if incremental <= Duration::from_millis(1) {
            "yes"
        } else {
            "no"
        }
    );
    println!();
    println!(
        "store open: {:.0} ms loading the document, {:.0} ms for sled, identity and the index",
        open_doc.as_secs_f64() * 1e3,
        (open_time.saturating_sub(open_doc)).as_secs_f64() * 1e3
    );
    println!(
        "document: {} bytes compressed (shiftmesh), {} bytes (raw, one batch per collection)",
        std::fs::metadata(&snapshot)?.len(),
        raw_bytes.len()
    );
    Ok(())
}

fn row(name: &str, ours: Duration, raw: Duration, target: f64) {
    let ratio = ours.as_secs_f64() / raw.as_secs_f64().max(1e-9);
    println!(
        "| {name} | {:.0} ms | {:.0} ms | {ratio:.2} | ≤ {target} × | {} |",
        ours.as_secs_f64() * 1e3,
        raw.as_secs_f64() * 1e3,
        if ratio <= target { "yes" } else { "no" }
    );
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

/// Another binary of this build (`target/release/NAME` beside this one).
fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::current_exe()?.with_file_name(name);
    if !path.exists() {
        bail!(
            "{} is missing; build it first (cargo build --release)",
            path.display()
        );
    }
    Ok(path)
}

fn run_ok(command: &mut Command) -> anyhow::Result<()> {
    let out = command.output()?;
    if !out.status.success() {
        bail!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn read_index(data: &Path) -> anyhow::Result<Index> {
    let mut opened = Store::open(data)?;
    let doc = opened.store.load_document()?;
    Ok(Schedule::from_doc(doc)?.index().clone())
}

fn collection<'a, E: Entity + 'a>(entities: impl Iterator<Item = &'a E>) -> hydrate::Value {
    let map: HashMap<String, hydrate::Value> = entities.map(|e| (e.key(), to_hydrate(e))).collect();
    hydrate::Value::Map(hydrate::Map::from(map))
}

fn raw_collections(index: &Index) -> Vec<(&'static str, hydrate::Value)> {
    vec![
        ("departments", collection(index.departments.values())),
        ("staff", collection(index.staff.values())),
        ("shifts", collection(index.shifts.values())),
        ("assignments", collection(index.assignments.values())),
        ("availability", collection(index.availability.values())),
    ]
}

/// The full validation pass, and the incremental pass after one edit (moving a shift, which
/// re-checks it and everyone assigned to it), each the median of `runs`.
fn validation(data: &Path, runs: usize) -> anyhow::Result<(Duration, Duration, usize)> {
    use shiftmesh_rules::{Input, Validator};
    let mut opened = Store::open(data)?;
    let doc = opened.store.load_document()?;
    let mut schedule = Schedule::from_doc(doc)?;
    let concurrent = schedule.all_concurrent_values()?;
    let mut full = Vec::new();
    let mut validator = Validator::default();
    for _ in 0..runs {
        // The previous pass is dropped before the clock starts.
        drop(std::mem::take(&mut validator));
        let started = Instant::now();
        validator = Validator::new(&Input::new(schedule.index(), schedule.zone(), &concurrent));
        full.push(started.elapsed());
    }
    let conflicts = validator.conflicts().len();
    let shifts: Vec<shiftmesh_model::Shift> = schedule
        .index()
        .shifts
        .values()
        .filter(|s| {
            schedule
                .index()
                .assignments_of_shift(&s.id)
                .next()
                .is_some()
        })
        .step_by(97)
        .take(runs)
        .cloned()
        .collect();
    let mut incremental = Vec::new();
    for (i, shift) in shifts.into_iter().enumerate() {
        let edit = shiftmesh_model::Edit {
            author: "bench@bench".into(),
            now_ms: 1_800_000_000_000 + i as i64,
        };
        let moved = shiftmesh_model::Shift {
            label: format!("moved {i}"),
            capacity: shift.capacity + 1,
            ..shift
        };
        let written = schedule.update(&edit, &moved, &["capacity", "label"], "bench".into())?;
        let started = Instant::now();
        validator.update(
            &Input::new(schedule.index(), schedule.zone(), &concurrent),
            &written.dirty,
        );
        incremental.push(started.elapsed());
    }
    Ok((median(full), median(incremental), conflicts))
}

/// Opens the store as a writing command does; returns the time spent loading the document.
fn open_store(data: &Path) -> anyhow::Result<Duration> {
    let mut opened = Store::open(data)?;
    let started = Instant::now();
    let doc = opened.store.load_document()?;
    let load = started.elapsed();
    let index = opened
        .store
        .read_index_snapshot()?
        .and_then(|(bytes, _)| Index::from_snapshot(&bytes));
    let schedule = Schedule::from_doc_and_index(doc, index)?;
    std::hint::black_box(schedule);
    Ok(load)
}

fn raw_load(file: &Path) -> anyhow::Result<Duration> {
    let bytes = std::fs::read(file)?;
    let started = Instant::now();
    let doc = AutoCommit::load(&bytes)?;
    let load = started.elapsed();
    std::hint::black_box(doc);
    Ok(load)
}

/// Runs `work` and prints its wall time and the part of it spent loading the document, in
/// microseconds, and this process's peak RSS in KiB.
fn child(work: impl FnOnce() -> anyhow::Result<Duration>) -> anyhow::Result<()> {
    let started = Instant::now();
    let load = work()?;
    println!(
        "{} {} {}",
        started.elapsed().as_micros(),
        peak_rss_kib(),
        load.as_micros()
    );
    Ok(())
}

/// A child's figures: wall time, peak RSS in KiB, time spent loading the document.
fn measure_child(args: &[&str]) -> anyhow::Result<(Duration, u64, Duration)> {
    let out = Command::new(std::env::current_exe()?).args(args).output()?;
    if !out.status.success() {
        bail!("{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text.split_whitespace();
    let micros: u64 = parts.next().context("no time")?.parse()?;
    let rss: u64 = parts.next().context("no rss")?.parse()?;
    let load: u64 = parts.next().context("no load time")?.parse()?;
    Ok((
        Duration::from_micros(micros),
        rss,
        Duration::from_micros(load),
    ))
}

fn proc_field(file: &str, field: &str) -> u64 {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn peak_rss_kib() -> u64 {
    proc_field("/proc/self/status", "VmHWM:")
}

fn memory_mib() -> u64 {
    proc_field("/proc/meminfo", "MemTotal:") / 1024
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
