//! The audit trail on the imported schedule: `history --limit 20` and `history --entity SHIFT`
//! through a running node (the CLI as a process, answered by the node), and the same offline
//! in a fresh process (no node: the application layer opens the store, as the CLI does), with
//! that process's peak memory.

use std::path::Path;
use std::time::{Duration, Instant};

use shiftmesh_app::{Caller, Context, Reply, Request};
use shiftmesh_model::history::HistoryFilter;

use crate::cluster::{cli, Node};
use crate::report::{median, Row, Target};
use crate::run_ok;

const THROUGH_NODE_TARGET_MS: f64 = 50.0;
const OFFLINE_TARGET_MS: f64 = 1000.0;
const OFFLINE_MEMORY_TARGET_MIB: u64 = 300;
/// Edits made through the node before measuring, so the newest lines are ordinary changes
/// with field differences rather than the import alone.
const EDITS_BEFORE: usize = 30;
/// Lines each history asks for.
const LIMIT: usize = 20;

pub fn measure(
    bin: &Path,
    data: &Path,
    staff: &str,
    shift: &str,
    runs: usize,
) -> anyhow::Result<Vec<Row>> {
    let (node, _) = Node::start(bin, data, &[])?;
    for edit in 0..EDITS_BEFORE {
        run_ok(cli(bin, data).args([
            "staff",
            "update",
            staff,
            "--name",
            &format!("History {edit}"),
        ]))?;
    }
    let limit = LIMIT.to_string();
    let timed = |args: &[&str]| -> anyhow::Result<Duration> {
        let started = Instant::now();
        run_ok(cli(bin, data).args(args))?;
        Ok(started.elapsed())
    };
    let mut newest = Vec::new();
    let mut entity = Vec::new();
    for _ in 0..runs {
        newest.push(timed(&["history", "--limit", &limit])?);
        entity.push(timed(&["history", "--limit", &limit, "--entity", shift])?);
    }
    drop(node);
    let data_arg = data.display().to_string();
    let (mut offline, mut offline_entity, mut peak_kib) = (Vec::new(), Vec::new(), 0);
    for _ in 0..runs {
        let figures = crate::local::measure_child(&["--child-history", &data_arg])?;
        offline.push(figures.time);
        peak_kib = peak_kib.max(figures.peak_rss_kib);
        let figures = crate::local::measure_child(&["--child-history", &data_arg, shift])?;
        offline_entity.push(figures.time);
        peak_kib = peak_kib.max(figures.peak_rss_kib);
    }
    let peak_mib = peak_kib / 1024;
    Ok(vec![
        Row::timed(
            format!("history --limit {LIMIT} through a running node (the CLI as a process)"),
            median(&newest),
            None,
            Target::Millis(THROUGH_NODE_TARGET_MS),
        ),
        Row::timed(
            format!("history --entity SHIFT --limit {LIMIT} through a running node"),
            median(&entity),
            None,
            Target::Millis(THROUGH_NODE_TARGET_MS),
        ),
        Row::timed(
            format!("history --limit {LIMIT} offline (a fresh process opens the store)"),
            median(&offline),
            None,
            Target::Millis(OFFLINE_TARGET_MS),
        ),
        Row::timed(
            format!("history --entity SHIFT --limit {LIMIT} offline"),
            median(&offline_entity),
            None,
            Target::Millis(OFFLINE_TARGET_MS),
        ),
        Row {
            figure: "history offline: the process's peak memory".into(),
            ours: format!("{peak_mib} MiB"),
            raw: "—".into(),
            ratio: None,
            target: Target::Mib(OFFLINE_MEMORY_TARGET_MIB),
            value: peak_mib as f64,
        },
    ])
}

/// Child mode `--child-history DATA [ENTITY]`: one offline history request.
pub fn offline(data: &Path, entity: Option<&str>) -> anyhow::Result<Duration> {
    let mut ctx = Context::offline(data.to_owned(), Caller::owner("bench"), |_| String::new());
    let filter = HistoryFilter {
        entity: entity.map(str::to_owned),
        ..HistoryFilter::default()
    };
    let reply = shiftmesh_app::execute(
        &mut ctx,
        Request::History {
            limit: LIMIT,
            filter,
        },
    )?;
    anyhow::ensure!(
        matches!(&reply, Reply::History(lines) if !lines.is_empty()),
        "the history was empty"
    );
    Ok(Duration::ZERO)
}
