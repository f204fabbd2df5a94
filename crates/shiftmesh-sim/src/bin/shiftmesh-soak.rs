//! `shiftmesh-soak SEEDS [SECONDS] [FIRST_SEED]`: runs up to SEEDS simulations with faults
//! (stopping early after SECONDS of wall time, if given), half of them from FIRST_SEED with
//! faults and every tenth without, and prints the summary. Exit 1 on the first broken promise,
//! with the seed and the command that replays it, or when agreement after the faults stopped
//! has a p99 over the bound in any 1,000 seeds with faults (each slow seed's replay command is
//! printed); 2 on a usage error.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use shiftmesh_sim::{check_heal_bound, run, standard, summary, HEAL_WINDOW_SEEDS};

const USAGE: &str = "usage: shiftmesh-soak SEEDS [SECONDS] [FIRST_SEED]";
/// How often progress is printed.
const PROGRESS_EVERY_SEEDS: u64 = 10_000;

fn main() -> ExitCode {
    let args: Vec<u64> = match std::env::args().skip(1).map(|a| a.parse()).collect() {
        Ok(args) => args,
        Err(_) => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let Some(&seeds) = args.first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let deadline = args
        .get(1)
        .map(|s| Instant::now() + Duration::from_secs(*s));
    let first = args.get(2).copied().unwrap_or(0);
    let (mut with, mut without) = (Vec::new(), Vec::new());
    let started = Instant::now();
    for seed in first..first + seeds {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let faults = seed % 10 != 9;
        match run(seed, &standard(faults)) {
            Ok(report) if faults => {
                with.push((seed, report));
                // Each full window of seeds with faults keeps agreement after the heal quick.
                if with.len() % HEAL_WINDOW_SEEDS == 0 {
                    if let Err(message) = check_heal_bound(&with[with.len() - HEAL_WINDOW_SEEDS..])
                    {
                        eprintln!("{message}");
                        return ExitCode::from(1);
                    }
                }
            }
            Ok(report) => without.push(report),
            Err(failure) => {
                eprintln!("{failure}");
                return ExitCode::from(1);
            }
        }
        let done = (seed - first) + 1;
        if done % PROGRESS_EVERY_SEEDS == 0 {
            eprintln!("{done} seeds in {:.0?}", started.elapsed());
        }
    }
    let with: Vec<_> = with.into_iter().map(|(_, report)| report).collect();
    println!("with faults: {}", summary(&with));
    if !without.is_empty() {
        println!("without faults: {}", summary(&without));
    }
    println!(
        "{} seeds in {:.1?}, no broken promise",
        with.len() + without.len(),
        started.elapsed()
    );
    ExitCode::SUCCESS
}
