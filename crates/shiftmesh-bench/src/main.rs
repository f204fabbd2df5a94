//! `shiftmesh-bench [--profile small|large|year] [--quick] [--runs N] [--seed N] [--edits N]
//! [--samod PATH]`: every figure of the product's "Numbers to reach" on a generated schedule,
//! each beside the same work done with raw Automerge in the same run, as ratios; how catch-up
//! and propagation grow with the schedule and the number of nodes, as a table and a plot; and
//! the catch-up done with samod where its binary is given. Prints the results and writes them
//! into `docs/BENCHMARKS.md` (a quick run into `target/bench/`).
//!
//! `shiftmesh-bench --screenshots DIR` takes the README's pictures of the page instead
//! (`scripts/screenshots.sh`).
//!
//! shiftmesh's figures are the real binary end to end: `shiftmesh` processes driven through the
//! CLI, nodes on 127.0.0.1. The raw figures are Automerge alone, in this process, on the same
//! document.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use shiftmesh_testdata::{Profile, LARGE, SMALL, YEAR};

mod cluster;
mod history;
mod local;
mod network;
mod page;
mod pictures;
mod plot;
mod raw;
mod report;
mod web;

use report::{median, ms, Report, Row, Target};

const USAGE: &str = "usage: scripts/bench.sh [--profile small|large|year] [--quick] [--runs N] [--seed N] [--edits N] [--sizes 2,5,10,20] [--samod PATH]";
/// Site sizes of the scaling table; the largest also carries the concurrent-edits figure.
const SITE_SIZES: [usize; 4] = [2, 5, 10, 20];
/// The product's concurrent-edits figure: this many edits spread over the largest site.
const CONCURRENT_EDITS: usize = 1000;
const PLOT_FILE: &str = "benchmarks-scaling.png";

/// What the command line asked for.
struct Options {
    profile: Profile,
    quick: bool,
    runs: usize,
    seed: u64,
    edits: usize,
    samod: Option<PathBuf>,
    sizes: Vec<usize>,
}

fn parse(args: &[String]) -> anyhow::Result<Options> {
    let mut profile = None;
    let mut quick = false;
    let mut runs = None;
    let mut seed = 0;
    let mut edits = None;
    let mut samod = None;
    let mut sizes = SITE_SIZES.to_vec();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .with_context(|| format!("{arg} needs a value; {USAGE}"))
        };
        match arg.as_str() {
            "--profile" => {
                let name = value()?;
                profile = Some(
                    Profile::by_name(name)
                        .with_context(|| format!("unknown profile {name}; {USAGE}"))?,
                );
            }
            "--quick" => quick = true,
            "--runs" => runs = Some(value()?.parse().context(USAGE)?),
            "--seed" => seed = value()?.parse().context(USAGE)?,
            "--edits" => edits = Some(value()?.parse().context(USAGE)?),
            "--samod" => samod = Some(PathBuf::from(value()?)),
            "--sizes" => {
                sizes = value()?
                    .split(',')
                    .map(|n| n.trim().parse::<usize>().ok().filter(|n| *n >= 2))
                    .collect::<Option<Vec<_>>>()
                    .with_context(|| {
                        format!("--sizes takes node counts of 2 or more, like 2,5,10,20; {USAGE}")
                    })?;
                sizes.sort();
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}; {USAGE}"),
        }
    }
    // A quick run is the whole table on the small schedule with fewer edits.
    Ok(Options {
        profile: profile.unwrap_or(if quick { SMALL } else { YEAR }),
        quick,
        runs: runs.unwrap_or(3).max(1),
        seed,
        edits: edits.unwrap_or(if quick { 100 } else { 200 }).max(1),
        samod,
        sizes,
    })
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Child modes: one measurement in a fresh process.
    match args.first().map(String::as_str) {
        Some("--child-open") => return local::child(|| local::open_store(Path::new(&args[1]))),
        Some("--child-raw-load") => return local::child(|| local::raw_load(Path::new(&args[1]))),
        Some("--child-history") => {
            let entity = args.get(2).map(String::as_str);
            return local::child(|| history::offline(Path::new(&args[1]), entity));
        }
        // Only the validation figures, on a data directory already imported: for working on
        // the validation pass without a whole run.
        Some("--validation") => {
            let data = args.get(1).context("--validation needs a data directory")?;
            return local::print_validation(Path::new(data));
        }
        _ => {}
    }
    let work = std::env::temp_dir().join(format!("shiftmesh-bench-{}", std::process::id()));
    let result = if args.first().map(String::as_str) == Some("--screenshots") {
        let out = args.get(1).context("--screenshots needs a directory")?;
        std::fs::create_dir_all(&work)?;
        pictures::take(&work, &sibling("shiftmesh")?, Path::new(out))
    } else {
        let options = parse(&args)?;
        std::fs::create_dir_all(&work)?;
        bench(&work, &args, &options)
    };
    match &result {
        Ok(()) => {
            let _ = std::fs::remove_dir_all(&work);
        }
        // The nodes' data directories and logs stay for a post-mortem.
        Err(_) => eprintln!(
            "the run's data directories and node logs are kept in {}",
            work.display()
        ),
    }
    result
}

fn bench(work: &Path, args: &[String], options: &Options) -> anyhow::Result<()> {
    let begun = Instant::now();
    let bin = sibling("shiftmesh")?;
    let profile = options.profile;
    // The smaller profiles ride along, for the scaling table.
    let profiles: Vec<Profile> = if options.quick {
        vec![profile]
    } else {
        [SMALL, LARGE, YEAR]
            .into_iter()
            .filter(|p| p.staff <= profile.staff)
            .collect()
    };
    let mut parameters = Vec::new();
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    let mut scaling = Vec::new();
    let mut document = Vec::new();
    // One concurrent-edits row per profile, after the others: how convergence grows with the
    // schedule is part of the answer.
    let mut convergence = Vec::new();
    for p in &profiles {
        let headline = p.name == profile.name;
        let roster = shiftmesh_testdata::generate(*p, options.seed);
        let csv = roster.write_csv(&work.join(format!("csv-{}", p.name)))?;
        let staff: Vec<String> = roster.staff.iter().map(|s| s.id.clone()).collect();
        let shifts: Vec<String> = roster.shifts.iter().map(|s| s.id.clone()).collect();
        parameters.push(format!(
            "{} (seed {}): {} staff, {} shifts, {} assignments, {} availability entries.",
            p.name.to_uppercase(),
            options.seed,
            roster.staff.len(),
            roster.shifts.len(),
            roster.assignments.len(),
            roster.availability.len()
        ));
        if headline {
            eprintln!("== {}: import, cold start, validation", p.name);
            let measured = local::measure(work, &bin, &csv, options.runs)?;
            rows.extend(measured.rows);
            notes.extend(measured.notes);
            eprintln!("== {}: history", p.name);
            rows.extend(history::measure(
                &bin,
                &measured.data,
                &staff[0],
                &shifts[0],
                options.runs,
            )?);
        }
        eprintln!("== {}: sites of {:?} nodes", p.name, options.sizes);
        let settings = network::Settings {
            bin: &bin,
            csv: &csv,
            staff: &staff,
            shifts: &shifts,
            runs: options.runs,
            edits: options.edits,
            sizes: &options.sizes,
            concurrent_edits: CONCURRENT_EDITS,
        };
        let site = network::site(work, p.name, &settings, headline)?;
        scaling.extend(site.points);
        rows.extend(site.headline.rows);
        notes.extend(site.headline.notes);
        convergence.extend(site.convergence);
        if headline {
            document = site.document;
        }
    }
    rows.extend(convergence);
    notes.push(match &options.samod {
        Some(samod) => samod_row(work, samod, &document, options.runs, &mut rows)?,
        None => "samod was not measured in this run: a quick run does not build it (scripts/bench.sh builds it for a full run).".into(),
    });

    parameters.push(format!(
        "Each process-level figure is the median of {} runs; {} edits one at a time on the founder at each site size, after untimed edits until every node's event stream reports one; sites of {:?} nodes on 127.0.0.1 with --no-mdns, each member joined with its own invite; {CONCURRENT_EDITS} concurrent edits on each profile's largest site.",
        options.runs,
        options.edits,
        options.sizes,
    ));
    parameters.push(format!(
        "Release build of commit {}; the whole run took {:.1} min.",
        git_commit(),
        begun.elapsed().as_secs_f64() / 60.0
    ));
    let out_dir = if options.quick {
        PathBuf::from("target/bench")
    } else {
        PathBuf::from("docs")
    };
    std::fs::create_dir_all(&out_dir)?;
    let plot = match plot::draw(&out_dir.join(PLOT_FILE), &scaling) {
        Ok(()) => Some(PLOT_FILE.to_owned()),
        Err(e) => {
            notes.push(format!("No plot in this run: {e:#}."));
            None
        }
    };
    let report = Report {
        date: jiff::Timestamp::now()
            .strftime("%Y-%m-%d %H:%M UTC")
            .to_string(),
        command: format!("scripts/bench.sh {}", args.join(" "))
            .trim()
            .to_owned(),
        machine: machine(),
        parameters,
        rows,
        scaling,
        notes,
        plot,
    };
    println!("{}", report.markdown());
    let doc = out_dir.join("BENCHMARKS.md");
    report.write_into(&doc)?;
    eprintln!(
        "results written into {} (plot {}) in {:.1} min",
        doc.display(),
        out_dir.join(PLOT_FILE).display(),
        begun.elapsed().as_secs_f64() / 60.0
    );
    Ok(())
}

/// The catch-up done by samod (`crates/shiftmesh-bench/samod`), beside raw in-process sync.
fn samod_row(
    work: &Path,
    samod: &Path,
    document: &[u8],
    runs: usize,
    rows: &mut Vec<Row>,
) -> anyhow::Result<String> {
    eprintln!("== samod: catch-up");
    let file = work.join("samod.automerge");
    std::fs::write(&file, document)?;
    let out = Command::new(samod)
        .arg(&file)
        .arg(runs.to_string())
        .output()
        .with_context(|| format!("running {}", samod.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            samod.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut times = Vec::new();
    let mut bytes = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut parts = line.split_whitespace();
        if let (Some(t), Some(b)) = (parts.next(), parts.next()) {
            times.push(Duration::from_micros(t.parse()?));
            bytes.push(b.parse::<u64>()?);
        }
    }
    let raw: Vec<Duration> = (0..runs)
        .map(|_| raw::catch_up(document).map(|(t, _)| t))
        .collect::<anyhow::Result<_>>()?;
    let time = median(&times);
    rows.push(Row::timed(
        "samod 0.16 (Rust automerge-repo): empty repo to identical heads over loopback TCP, in one process, vs in-process sync",
        time,
        Some(median(&raw)),
        Target::None,
    ));
    Ok(format!(
        "samod catch-up: {} median over {runs} runs, {} bytes on the wire (document {} B); it starts no process and opens no store, so compare it with the raw sync rather than with a node's process-start-to-heads time.",
        ms(time),
        median(&bytes),
        document.len()
    ))
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

pub fn run_ok(command: &mut Command) -> anyhow::Result<()> {
    let out = command.output()?;
    if !out.status.success() {
        bail!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// A `Field: value kB` line of a `/proc` file, 0 when absent.
pub fn proc_field(file: &str, field: &str) -> u64 {
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

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let memory_gib = proc_field("/proc/meminfo", "MemTotal:") as f64 / 1024.0 / 1024.0;
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_owned())
        .unwrap_or_default();
    format!("{cores} cores ({cpu}), {memory_gib:.0} GiB memory, Linux {kernel}")
}

fn git_commit() -> String {
    Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}
