//! The README's pictures (`scripts/screenshots.sh`): a generated LARGE schedule on one node,
//! opened in headless Chromium as its owner; the week view, the conflicts panel, and the phone
//! layout, saved as PNG files.

use std::path::Path;

use anyhow::Context;
use shiftmesh_browser::Browser;

use crate::cluster::{Cluster, WAIT_LIMIT};
use crate::web::Client;

const DESKTOP: (u32, u32) = (1280, 1000);
const PHONE: (u32, u32) = (390, 844);
const DRAWN: &str = "return document.querySelector('#grid .shift') !== null && document.querySelectorAll('#conflict-list .conflict').length > 0";

/// Takes the pictures into `out`: `week.png`, `conflicts.png`, `phone.png`.
pub fn take(work: &Path, bin: &Path, out: &Path) -> anyhow::Result<()> {
    let roster = shiftmesh_testdata::generate(shiftmesh_testdata::LARGE, 0);
    let csv = roster.write_csv(&work.join("csv"))?;
    let site = Cluster::found(bin, &work.join("site"), &csv)?;
    let founder = Client::owner(&site.founder)?;
    // The week of the first shift the conflicts name: a week with something to show.
    let conflicts = founder.get("/api/conflicts")?;
    let shift = conflicts
        .as_array()
        .and_then(|list| list.iter().find_map(|c| c["shifts"][0].as_str()))
        .or_else(|| roster.shifts.first().map(|s| s.id.as_str()))
        .context("the generated schedule has no shift")?
        .to_owned();
    let date = founder.get(&format!("/api/shifts/{shift}"))?["shift"]["date"]
        .as_str()
        .context("a shift without a date")?
        .to_owned();
    std::fs::create_dir_all(out)?;
    let browser = Browser::start(DESKTOP.0, DESKTOP.1)?;
    let link = site.founder.login_link()?;
    browser.goto(&format!("{link}&next=%2F%3Fdate%3D{date}%26view%3Dweek"))?;
    browser.wait_for("the week is drawn", DRAWN, WAIT_LIMIT)?;
    save(&out.join("week.png"), browser.screenshot()?)?;
    save(
        &out.join("conflicts.png"),
        browser.element_screenshot("#conflicts")?,
    )?;
    browser.resize(PHONE.0, PHONE.1)?;
    browser.wait_for(
        "the phone layout",
        "return window.innerWidth <= 400",
        WAIT_LIMIT,
    )?;
    save(&out.join("phone.png"), browser.screenshot()?)?;
    Ok(())
}

fn save(path: &Path, png: Vec<u8>) -> anyhow::Result<()> {
    std::fs::write(path, png).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
