//! The page in headless Chromium on the headline site: the time from opening a week until its
//! shifts are drawn, and an edit on one node until a page open on another node shows it (a
//! MutationObserver in the page notes when the shift's coverage chip changes; the page's clock
//! and this process's are the same machine clock).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use serde_json::{json, Value};
use shiftmesh_browser::Browser;

use crate::cluster::{Cluster, WAIT_LIMIT};
use crate::report::{median, millis, ms, Row, Target};
use crate::web::{spread, Client};

const RENDERED_WEEK_TARGET_MS: f64 = 1000.0;
const EDIT_TO_PAGE_P50_TARGET_MS: f64 = 50.0;
const EDIT_TO_PAGE_P99_TARGET_MS: f64 = 150.0;
/// How many weeks are opened to time the first drawing (the median is shown).
const WEEKS_OPENED: usize = 7;
/// The browser window: a desktop screen.
const WINDOW: (u32, u32) = (1280, 900);

/// True once the page has drawn a week's shifts (a navigation starts a new document, so
/// nothing drawn before it counts).
const DRAWN: &str = "return document.querySelector('#grid .shift') !== null && !!window.shiftmesh && !!window.shiftmesh.state.schedule";

/// True once the page has loaded whatever week it shows (some weeks may have no shifts).
const DRAWN_OR_EMPTY: &str = "return !!window.shiftmesh && !!window.shiftmesh.state.schedule";

/// Notes, in `window.seen[shift]`, when a watched shift's chip first shows the capacity in
/// `window.watch[shift]` (milliseconds since the Unix epoch, sub-millisecond).
const OBSERVE: &str = "
window.watch = {}; window.seen = {};
new MutationObserver(() => {
  for (const [id, capacity] of Object.entries(window.watch)) {
    if (window.seen[id]) continue;
    const chip = document.querySelector('.shift[data-shift=\"' + id + '\"] .chip');
    if (chip && chip.textContent.endsWith('/' + capacity)) {
      window.seen[id] = performance.timeOrigin + performance.now();
    }
  }
}).observe(document.getElementById('grid'), {childList: true, subtree: true, characterData: true});
return true;";

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

fn date_of(founder: &Client, shift: &str) -> anyhow::Result<String> {
    founder.get(&format!("/api/shifts/{shift}"))?["shift"]["date"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("shift {shift} has no date"))
}

/// The rendered week (from the navigation's start, as the page's own clock has it, until its
/// first drawing ends) and the edit-to-page spread; rows for the table.
pub fn measure(cluster: &Cluster, shifts: &[String], edits: usize) -> anyhow::Result<Vec<Row>> {
    let viewer = cluster
        .members
        .first()
        .context("the page is measured on a site of two nodes or more")?;
    let founder = Client::owner(&cluster.founder)?;
    let browser = Browser::start(WINDOW.0, WINDOW.1)?;
    let ui = viewer.ui()?.trim_end_matches('/').to_owned();
    browser.goto(&format!("{}&next=%2F", viewer.login_link()?))?;
    browser.wait_for("the page signs in", DRAWN_OR_EMPTY, WAIT_LIMIT)?;
    // A rendered week: from asking for the page until the week's shifts are drawn.
    let step = (shifts.len() / WEEKS_OPENED).max(1);
    let mut opened = Vec::new();
    let mut date = String::new();
    for shift in shifts.iter().step_by(step).take(WEEKS_OPENED) {
        date = date_of(&founder, shift)?;
        browser.goto(&format!("{ui}/?date={date}&view=week"))?;
        browser.wait_for("the week is drawn", DRAWN, WAIT_LIMIT)?;
        // From asking for the page (the navigation's start) until the end of its first drawing.
        let drawn_at = browser.run("return window.shiftmesh.state.drawnAt", Vec::new())?;
        let drawn_at = drawn_at
            .as_f64()
            .context("the page noted no drawing time")?;
        opened.push(Duration::from_secs_f64(drawn_at / 1000.0));
    }
    let rendered = median(&opened);
    let mut rows = vec![Row {
        figure: format!(
            "a week opened in Chromium until its shifts are drawn (median of {} weeks)",
            opened.len()
        ),
        ours: ms(rendered),
        raw: "—".into(),
        ratio: None,
        target: Target::Millis(RENDERED_WEEK_TARGET_MS),
        value: millis(rendered),
    }];
    // Edits on the founder, watched on the viewer's page, on the shifts of the week shown.
    let shown = browser.run(
        "return window.shiftmesh.state.schedule.days.flatMap(d => d.shifts.map(s => s.id))",
        Vec::new(),
    )?;
    let watched: Vec<String> = shown
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if watched.is_empty() {
        bail!("the week of {date} shows no shifts to edit");
    }
    browser.run(OBSERVE, Vec::new())?;
    let mut spans = Vec::new();
    for k in 0..edits {
        let shift = &watched[k % watched.len()];
        let capacity = 700 + k;
        browser.run(
            "window.watch = {[arguments[0]]: arguments[1]}; window.seen = {}; return true;",
            vec![json!(shift), json!(capacity)],
        )?;
        let sent = now_ms();
        founder.patch(
            &format!("/api/shifts/{shift}"),
            json!({"capacity": capacity}),
        )?;
        let seen = browser.wait_for(
            "the edit is on the other node's page",
            &format!(
                "return window.seen[{}] || null",
                Value::from(shift.as_str())
            ),
            WAIT_LIMIT,
        )?;
        let at = seen.as_f64().context("the page noted no time")?;
        spans.push(Duration::from_secs_f64(((at - sent) / 1000.0).max(0.0)));
    }
    rows.extend(spread(
        &format!(
            "edit over HTTP on 1 of {} nodes until a page open on another node shows it, in Chromium ({} edits)",
            cluster.size(),
            spans.len()
        ),
        &spans,
        (EDIT_TO_PAGE_P50_TARGET_MS, EDIT_TO_PAGE_P99_TARGET_MS),
    ));
    Ok(rows)
}
