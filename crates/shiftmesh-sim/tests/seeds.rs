//! The convergence promises, checked over many seeded simulations (see the crate docs). The
//! number of seeds comes from `SHIFTMESH_SIM_SEEDS` (default 500 with faults); a failure
//! prints its seed and the command that replays it.

use shiftmesh_sim::{check_heal_bound, run, standard, summary, Report};

fn seeds(default: u64) -> u64 {
    std::env::var("SHIFTMESH_SIM_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn run_all(first: u64, count: u64, config: &shiftmesh_sim::Config) -> Vec<(u64, Report)> {
    (first..first + count)
        .map(|seed| {
            let report = run(seed, config).unwrap_or_else(|failure| panic!("{failure}"));
            (seed, report)
        })
        .collect()
}

#[test]
fn replicas_under_faults_converge_and_lose_nothing_and_agree_soon_after_the_heal() {
    let runs = run_all(0, seeds(500), &standard(true));
    if let Err(message) = check_heal_bound(&runs) {
        panic!("{message}");
    }
    let reports: Vec<Report> = runs.into_iter().map(|(_, r)| r).collect();
    eprintln!("with faults: {}", summary(&reports));
    assert!(reports.iter().map(|r| r.crashes).sum::<usize>() > 0);
    assert!(reports.iter().map(|r| r.messages_dropped).sum::<usize>() > 0);
}

#[test]
fn without_faults_no_session_needs_more_than_ten_rounds() {
    let reports: Vec<Report> = run_all(1_000_000, seeds(500) / 5, &standard(false))
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    eprintln!("without faults: {}", summary(&reports));
    assert!(reports
        .iter()
        .all(|r| r.max_rounds <= shiftmesh_sim::MAX_ROUNDS_WITHOUT_FAULTS));
}

/// Replays one seed: `SHIFTMESH_SIM_SEED=N`, with faults unless `SHIFTMESH_SIM_FAULTS=0`,
/// printing what it did.
#[test]
fn replay() {
    let seed = std::env::var("SHIFTMESH_SIM_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let faults = std::env::var("SHIFTMESH_SIM_FAULTS").map_or(true, |v| v != "0");
    let report = run(seed, &standard(faults)).unwrap_or_else(|failure| panic!("{failure}"));
    eprintln!("seed {seed}: {report:?}");
    assert!(report.edits_acknowledged > 0);
}
