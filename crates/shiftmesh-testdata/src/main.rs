//! `shiftmesh-gen --profile small|large|year [--seed N] --out DIR`: writes a generated schedule
//! as the five CSV files `shiftmesh import --format csv` reads.

use std::path::PathBuf;

use anyhow::{bail, Context};
use shiftmesh_testdata::{generate, Profile};

const USAGE: &str = "usage: shiftmesh-gen --profile small|large|year [--seed N] --out DIR";

fn main() -> anyhow::Result<()> {
    let mut profile = None;
    let mut seed = 0u64;
    let mut out = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .with_context(|| format!("{arg} needs a value; {USAGE}"))
        };
        match arg.as_str() {
            "--profile" => {
                let name = value()?;
                profile = Some(
                    Profile::by_name(&name)
                        .with_context(|| format!("unknown profile '{name}'; {USAGE}"))?,
                );
            }
            "--seed" => {
                seed = value()?
                    .parse()
                    .with_context(|| format!("--seed takes a number; {USAGE}"))?
            }
            "--out" => out = Some(PathBuf::from(value()?)),
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument '{other}'; {USAGE}"),
        }
    }
    let (Some(profile), Some(out)) = (profile, out) else {
        bail!("{USAGE}")
    };
    let roster = generate(profile, seed);
    let files = roster.write_csv(&out)?;
    println!(
        "profile {} seed {seed}: {} staff, {} shifts, {} assignments, {} availability entries, {:.1} h per person-week",
        profile.name,
        roster.staff.len(),
        roster.shifts.len(),
        roster.assignments.len(),
        roster.availability.len(),
        roster.mean_hours_per_week()
    );
    for f in files {
        println!("  {}", f.display());
    }
    Ok(())
}
