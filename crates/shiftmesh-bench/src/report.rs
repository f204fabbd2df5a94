//! The results of one run: printed as a table and written as the results section of
//! `docs/BENCHMARKS.md`, between two markers, so the hand-written text around it stays.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;

/// The line before the generated section of the benchmarks document.
pub const BEGIN_MARKER: &str =
    "<!-- results: written by scripts/bench.sh; the next full run replaces everything down to the end marker -->";
/// The line after it.
pub const END_MARKER: &str = "<!-- results end -->";

/// How a figure is judged against its target.
#[derive(Clone, Copy)]
pub enum Target {
    /// At most this ratio to raw Automerge.
    Ratio(f64),
    /// At most this many milliseconds.
    Millis(f64),
    /// At most this many MiB.
    Mib(u64),
    /// No target; measured for the reader.
    None,
}

/// One row of the results table.
pub struct Row {
    pub figure: String,
    pub ours: String,
    pub raw: String,
    /// shiftmesh ÷ raw Automerge, where there is a raw equivalent.
    pub ratio: Option<f64>,
    pub target: Target,
    /// The value judged against a `Millis` or `Mib` target.
    pub value: f64,
}

impl Row {
    /// A timed figure beside its raw-Automerge floor, judged by their ratio or by its own value.
    pub fn timed(
        figure: impl Into<String>,
        ours: Duration,
        raw: Option<Duration>,
        target: Target,
    ) -> Row {
        Row {
            figure: figure.into(),
            ours: ms(ours),
            raw: raw.map_or("—".into(), ms),
            ratio: raw.map(|r| ratio(ours, r)),
            target,
            value: millis(ours),
        }
    }

    pub fn met(&self) -> Option<bool> {
        match self.target {
            Target::Ratio(limit) => self.ratio.map(|r| r <= limit),
            Target::Millis(limit) => Some(self.value <= limit),
            Target::Mib(limit) => Some(self.value <= limit as f64),
            Target::None => None,
        }
    }

    fn target_text(&self) -> String {
        match self.target {
            Target::Ratio(limit) => format!("≤ {limit} ×"),
            Target::Millis(limit) => format!("≤ {limit} ms"),
            Target::Mib(limit) => format!("≤ {limit} MiB"),
            Target::None => "—".into(),
        }
    }

    /// By how much a missed target was missed, as a phrase.
    fn miss(&self) -> Option<String> {
        if self.met() != Some(false) {
            return None;
        }
        Some(match self.target {
            Target::Ratio(limit) => format!(
                "{:.2} × against ≤ {limit} × ({:.2} times the allowance)",
                self.ratio.unwrap_or(0.0),
                self.ratio.unwrap_or(0.0) / limit
            ),
            Target::Millis(limit) => format!(
                "{:.1} ms against ≤ {limit} ms ({:.2} times the allowance)",
                self.value,
                self.value / limit
            ),
            Target::Mib(limit) => format!("{:.0} MiB against ≤ {limit} MiB", self.value),
            Target::None => return None,
        })
    }
}

/// How catch-up and propagation grow with the schedule and the number of nodes.
pub struct ScalePoint {
    pub profile: &'static str,
    pub nodes: usize,
    /// Fresh-node catch-up times with `nodes - 1` running nodes.
    pub catch_up: Vec<Duration>,
    /// Raw in-process sync of the same document, same number of runs.
    pub raw_catch_up: Vec<Duration>,
    /// Edit on the founder until applied and validated on each other node.
    pub propagation: Vec<Duration>,
}

pub struct Report {
    pub date: String,
    pub command: String,
    pub machine: String,
    pub parameters: Vec<String>,
    pub rows: Vec<Row>,
    pub scaling: Vec<ScalePoint>,
    /// Sentences under the table: breakdowns and side-by-side figures.
    pub notes: Vec<String>,
    /// The plot's file name, beside the document.
    pub plot: Option<String>,
}

pub fn ms(d: Duration) -> String {
    let m = millis(d);
    if m >= 100.0 {
        format!("{m:.0} ms")
    } else if m >= 1.0 {
        format!("{m:.1} ms")
    } else {
        format!("{m:.3} ms")
    }
}

pub fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub fn ratio(ours: Duration, raw: Duration) -> f64 {
    ours.as_secs_f64() / raw.as_secs_f64().max(1e-9)
}

/// The value at fraction `p` of the sorted samples (nearest rank).
pub fn percentile<T: Ord + Copy + Default>(values: &[T], p: f64) -> T {
    let mut v = values.to_vec();
    v.sort();
    v.get(((v.len().saturating_sub(1)) as f64 * p).round() as usize)
        .copied()
        .unwrap_or_default()
}

pub fn median<T: Ord + Copy + Default>(values: &[T]) -> T {
    percentile(values, 0.5)
}

impl Report {
    /// The results as Markdown: what ran where, the table, the scaling table and the notes.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "## Latest results\n");
        let _ = writeln!(out, "`{}` on {}.\n", self.command, self.date);
        let _ = writeln!(out, "Machine: {}.\n", self.machine);
        for p in &self.parameters {
            let _ = writeln!(out, "- {p}");
        }
        let _ = writeln!(
            out,
            "\n| figure | shiftmesh | raw Automerge | ratio | target | met |\n|---|---|---|---|---|---|"
        );
        for r in &self.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                r.figure,
                r.ours,
                r.raw,
                r.ratio.map_or("—".into(), |x| format!("{x:.2}")),
                r.target_text(),
                match r.met() {
                    Some(true) => "yes",
                    Some(false) => "**no**",
                    None => "—",
                }
            );
        }
        let misses: Vec<String> = self
            .rows
            .iter()
            .filter_map(|r| r.miss().map(|m| format!("- {}: {m}.", r.figure)))
            .collect();
        if !misses.is_empty() {
            let _ = writeln!(out, "\nTargets missed in this run:\n");
            for m in misses {
                let _ = writeln!(out, "{m}");
            }
        }
        if !self.notes.is_empty() {
            let _ = writeln!(out);
            for n in &self.notes {
                let _ = writeln!(out, "- {n}");
            }
        }
        if !self.scaling.is_empty() {
            let _ = writeln!(
                out,
                "\n### How cost grows\n\nCatch-up: a fresh node joins a site of that many nodes \
                 (the others running) and starts; process start to the founder's heads, median. \
                 Propagation: an edit on the founder until each other node has applied and \
                 validated it, from the start of the editing CLI process.\n"
            );
            let _ = writeln!(
                out,
                "| profile | nodes | catch-up, median | raw sync, median | ratio | propagation p50 | p99 | max | samples |\n|---|---|---|---|---|---|---|---|---|"
            );
            for p in &self.scaling {
                let catch_up = median(&p.catch_up);
                let raw = median(&p.raw_catch_up);
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {:.2} | {} | {} | {} | {} |",
                    p.profile,
                    p.nodes,
                    ms(catch_up),
                    ms(raw),
                    ratio(catch_up, raw),
                    ms(percentile(&p.propagation, 0.5)),
                    ms(percentile(&p.propagation, 0.99)),
                    ms(percentile(&p.propagation, 1.0)),
                    p.propagation.len()
                );
            }
        }
        if let Some(plot) = &self.plot {
            let _ = writeln!(
                out,
                "\n![catch-up and propagation by profile and number of nodes]({plot})"
            );
        }
        out
    }

    /// Replaces the generated section of `doc` (or appends one) with these results.
    pub fn write_into(&self, doc: &Path) -> anyhow::Result<()> {
        let section = format!("{BEGIN_MARKER}\n{}{END_MARKER}\n", self.markdown());
        let text = std::fs::read_to_string(doc).unwrap_or_default();
        let updated = match (text.find(BEGIN_MARKER), text.find(END_MARKER)) {
            (Some(begin), Some(end)) if begin < end => format!(
                "{}{section}{}",
                &text[..begin],
                text[end + END_MARKER.len()..].trim_start_matches('\n')
            ),
            _ if text.is_empty() => format!("# Benchmarks\n\n{section}"),
            _ => format!("{}\n{section}", text.trim_end()),
        };
        std::fs::write(doc, updated).with_context(|| format!("writing {}", doc.display()))
    }
}
