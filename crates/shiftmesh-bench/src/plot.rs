//! The scaling plot: catch-up time and propagation p50 against the number of nodes, one line per
//! profile, times on a logarithmic axis, as a PNG.

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, Context};
use plotters::prelude::*;

use crate::report::{median, millis, percentile, ScalePoint};

/// Where the plot's text comes from: a TrueType font on this machine (`scripts/bench.sh`
/// installs DejaVu when it is missing).
const FONT_FILES: [&str; 2] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];
const WIDTH_PX: u32 = 1200;
const HEIGHT_PX: u32 = 520;
const COLOURS: [RGBColor; 3] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
];

fn register_font() -> anyhow::Result<()> {
    let file = FONT_FILES
        .iter()
        .find(|f| Path::new(f).exists())
        .context("no DejaVuSans.ttf found for the plot's text (install fonts-dejavu-core)")?;
    // plotters keeps fonts for the life of the process.
    let bytes: &'static [u8] = Box::leak(std::fs::read(file)?.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| anyhow!("{file} is not a font plotters can read"))
}

/// One panel: a figure (in ms) of each point against its node count, a line per profile.
fn panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    title: &str,
    points: &[ScalePoint],
    value: impl Fn(&ScalePoint) -> Duration,
) -> anyhow::Result<()> {
    let values: Vec<f64> = points.iter().map(|p| millis(value(p)).max(0.01)).collect();
    let low = values.iter().copied().fold(f64::INFINITY, f64::min) / 2.0;
    let high = values.iter().copied().fold(0.0, f64::max) * 2.0;
    let most_nodes = points.iter().map(|p| p.nodes).max().unwrap_or(20) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..most_nodes + 2.0, (low..high).log_scale())
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc("nodes")
        .y_desc("ms")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y}"))
        .label_style(("sans-serif", 15))
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    let mut profiles: Vec<&str> = points.iter().map(|p| p.profile).collect();
    profiles.dedup();
    for (i, profile) in profiles.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let line: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.profile == *profile)
            .map(|p| (p.nodes as f64, millis(value(p)).max(0.01)))
            .collect();
        chart
            .draw_series(LineSeries::new(line.clone(), colour.stroke_width(3)))
            .map_err(|e| anyhow!("{e}"))?
            .label(profile.to_uppercase())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(3)));
        chart
            .draw_series(
                line.into_iter()
                    .map(|xy| Circle::new(xy, 5, colour.filled())),
            )
            .map_err(|e| anyhow!("{e}"))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 15))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

/// Draws the two panels into `file`.
pub fn draw(file: &Path, points: &[ScalePoint]) -> anyhow::Result<()> {
    register_font()?;
    let root = BitMapBackend::new(file, (WIDTH_PX, HEIGHT_PX)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let (left, right) = root.split_horizontally(WIDTH_PX / 2);
    panel(&left, "fresh node catch-up (median)", points, |p| {
        median(&p.catch_up)
    })?;
    panel(
        &right,
        "edit propagation to every node (p50)",
        points,
        |p| percentile(&p.propagation, 0.5),
    )?;
    root.present()
        .with_context(|| format!("writing {}", file.display()))
}
