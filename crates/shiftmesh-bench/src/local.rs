//! One machine's figures: CSV import, node cold start and its memory, store open, and
//! validation, each beside raw Automerge where it has an equivalent.

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

use crate::cluster::{cli, Node};
use crate::report::{median, ms, Row, Target};
use crate::run_ok;

/// What the local figures leave for the rest of the run.
pub struct Local {
    pub rows: Vec<Row>,
    /// The data directory of the last import, kept for the figures that follow.
    pub data: PathBuf,
    pub notes: Vec<String>,
}

/// The product's targets for these figures.
const IMPORT_TARGET_RATIO: f64 = 1.5;
const COLD_START_TARGET_RATIO: f64 = 1.3;
const NODE_MEMORY_TARGET_MIB: u64 = 256;
const FULL_VALIDATION_TARGET_MS: f64 = 50.0;
const INCREMENTAL_VALIDATION_TARGET_MS: f64 = 1.0;
/// Validation passes are cheap enough to take more samples than the process-level figures.
const VALIDATION_MIN_RUNS: usize = 9;

pub fn measure(work: &Path, bin: &Path, csv: &[PathBuf], runs: usize) -> anyhow::Result<Local> {
    // shiftmesh: the real binary, end to end, into a fresh data directory each run.
    let mut import = Vec::new();
    let mut data = PathBuf::new();
    for run in 0..runs {
        if run > 0 {
            let _ = std::fs::remove_dir_all(&data);
        }
        data = work.join(format!("import-{run}"));
        run_ok(cli(bin, &data).args(["init", "--time-zone", "Europe/Berlin"]))?;
        let started = Instant::now();
        run_ok(
            cli(bin, &data)
                .args(["import", "--format", "csv"])
                .args(csv),
        )?;
        import.push(started.elapsed());
    }

    // Raw Automerge: the same entities, the same fields, one batch_create_object per collection
    // into a new document, then save(). This is the floor the stack allows.
    let collections = raw_collections(&read_index(&data)?);
    let mut raw_import = Vec::new();
    let mut raw_bytes = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let mut doc = AutoCommit::new();
        for (name, value) in &collections {
            doc.batch_create_object(ROOT, *name, value, false)?;
        }
        doc.commit();
        raw_bytes = doc.save();
        raw_import.push(started.elapsed());
    }
    drop(collections);

    // Cold start: `shiftmesh node` on the imported store, from spawning it until it answers
    // `status`, and its peak memory then; against Automerge::load of the same document bytes in
    // a fresh process. The store's own open path is measured apart, to show where time goes.
    let snapshot = data.join(LAST_GOOD_FILE);
    let (mut start, mut start_rss) = (Vec::new(), 0);
    let (mut load, mut load_rss) = (Vec::new(), 0);
    let (mut open, mut open_doc) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let (node, time) = Node::start(bin, &data, &[])?;
        start.push(time);
        start_rss = start_rss.max(node.memory_kib("VmHWM:"));
        drop(node);
        let raw = measure_child(&["--child-raw-load", &snapshot.display().to_string()])?;
        load.push(raw.time);
        load_rss = load_rss.max(raw.peak_rss_kib);
        let ours = measure_child(&["--child-open", &data.display().to_string()])?;
        open.push(ours.time);
        open_doc.push(ours.document_load);
    }

    let (full, incremental, conflicts) = validation(&data, runs.max(VALIDATION_MIN_RUNS))?;
    let start_mib = start_rss / 1024;
    let rows = vec![
        Row::timed(
            "CSV import (the CLI as a process: parse, write, save, index) vs batch_create_object + save",
            median(&import),
            Some(median(&raw_import)),
            Target::Ratio(IMPORT_TARGET_RATIO),
        ),
        Row::timed(
            "node cold start (spawn to first answer) vs Automerge::load of the same bytes",
            median(&start),
            Some(median(&load)),
            Target::Ratio(COLD_START_TARGET_RATIO),
        ),
        Row {
            figure: "node resident memory after cold start (peak) vs the load's peak".into(),
            ours: format!("{start_mib} MiB"),
            raw: format!("{} MiB", load_rss / 1024),
            ratio: Some(start_rss as f64 / load_rss.max(1) as f64),
            target: Target::Mib(NODE_MEMORY_TARGET_MIB),
            value: start_mib as f64,
        },
        Row::timed(
            "store open in a fresh process (sled, identity, document, index snapshot)",
            median(&open),
            Some(median(&load)),
            Target::None,
        ),
        Row::timed(
            format!("full validation pass ({conflicts} conflicts)"),
            full,
            None,
            Target::Millis(FULL_VALIDATION_TARGET_MS),
        ),
        Row::timed(
            "incremental validation after one edit",
            incremental,
            None,
            Target::Millis(INCREMENTAL_VALIDATION_TARGET_MS),
        ),
    ];
    let open_doc = median(&open_doc);
    let notes = vec![
        format!(
            "Store open: {} loading the document, {} for sled, the identity and the index snapshot.",
            ms(open_doc),
            ms(median(&open).saturating_sub(open_doc))
        ),
        format!(
            "Document: {} bytes as shiftmesh saves it, {} bytes as raw Automerge saves the same entities in one batch per collection.",
            std::fs::metadata(&snapshot)?.len(),
            raw_bytes.len()
        ),
    ];
    Ok(Local { rows, data, notes })
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

/// `--validation DATA`: the full and incremental validation figures of one data directory.
pub fn print_validation(data: &Path) -> anyhow::Result<()> {
    let (full, incremental, conflicts) = validation(data, VALIDATION_MIN_RUNS)?;
    println!(
        "full validation pass ({conflicts} conflicts): {full:.1?}; incremental after one edit: {incremental:.3?}"
    );
    Ok(())
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
        .step_by(7)
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
    Ok((median(&full), median(&incremental), conflicts))
}

/// Child mode `--child-open DIR`: opens the store as a writing command does.
pub fn open_store(data: &Path) -> anyhow::Result<Duration> {
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

/// Child mode `--child-raw-load FILE`: Automerge::load of a saved document.
pub fn raw_load(file: &Path) -> anyhow::Result<Duration> {
    let bytes = std::fs::read(file)?;
    let started = Instant::now();
    let doc = AutoCommit::load(&bytes)?;
    let load = started.elapsed();
    std::hint::black_box(doc);
    Ok(load)
}

/// Runs `work` in this (child) process and prints its wall time and the part of it spent
/// loading the document, in microseconds, and the process's peak RSS in KiB.
pub fn child(work: impl FnOnce() -> anyhow::Result<Duration>) -> anyhow::Result<()> {
    let started = Instant::now();
    let load = work()?;
    println!(
        "{} {} {}",
        started.elapsed().as_micros(),
        crate::proc_field("/proc/self/status", "VmHWM:"),
        load.as_micros()
    );
    Ok(())
}

/// What a child process measured.
pub struct ChildFigures {
    pub time: Duration,
    pub peak_rss_kib: u64,
    pub document_load: Duration,
}

pub fn measure_child(args: &[&str]) -> anyhow::Result<ChildFigures> {
    let out = Command::new(std::env::current_exe()?).args(args).output()?;
    if !out.status.success() {
        bail!("{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text.split_whitespace();
    let mut next = |what: &str| -> anyhow::Result<u64> {
        Ok(parts
            .next()
            .with_context(|| format!("the child printed no {what}"))?
            .parse()?)
    };
    Ok(ChildFigures {
        time: Duration::from_micros(next("time")?),
        peak_rss_kib: next("peak memory")?,
        document_load: Duration::from_micros(next("load time")?),
    })
}
