//! The page in a real browser (Debian's Chromium through ChromeDriver) against real nodes on
//! loopback: what a manager sees, an edit on one machine's page appearing on another's, two
//! pages booking the same person while their machines cannot reach each other, what a staff
//! account may do, and the phone layout. A failing test keeps a screenshot of every page it
//! had open (the path is printed).

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{founder, join, wait_until, Node, WAIT_LIMIT};
use serde_json::{json, Value};
use shiftmesh_browser::Browser;

/// The Monday the seeded shifts are on; pages are opened on its week.
const SEEDED_WEEK: &str = "2026-11-23";
const DESKTOP: (u32, u32) = (1280, 900);
const PHONE: (u32, u32) = (390, 844);

/// One browser window on one node's page; saves a screenshot if the test fails while it is open.
struct Page {
    browser: Browser,
    name: String,
}

impl Drop for Page {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("page-failures");
            let _ = std::fs::create_dir_all(&dir);
            let path = dir.join(format!("{}.png", self.name));
            match self.browser.save_screenshot(&path) {
                Ok(()) => eprintln!("screenshot of the failing page: {}", path.display()),
                Err(e) => eprintln!("no screenshot of {}: {e}", self.name),
            }
        }
    }
}

impl Page {
    fn start(name: &str, (width, height): (u32, u32)) -> Page {
        Page {
            browser: Browser::start(width, height).expect("a headless Chromium"),
            name: name.to_owned(),
        }
    }

    /// Opens `node`'s page through the owner's one-time link, on the seeded week.
    fn owner(name: &str, node: &Node, size: (u32, u32)) -> Page {
        let page = Page::start(name, size);
        let link = node.json(&["ui"])["url"].as_str().unwrap().to_owned();
        page.goto(&format!("{link}&next=%2F%3Fdate%3D{SEEDED_WEEK}"));
        page.wait(
            "the week's shifts are drawn",
            "return document.querySelector('#grid .shift') !== null",
        );
        page
    }

    fn goto(&self, url: &str) {
        self.browser.goto(url).unwrap();
    }

    fn run(&self, script: &str) -> Value {
        self.browser.run(script, Vec::new()).unwrap()
    }

    /// Waits until `script` returns something truthy (the DOM, with a deadline); returns it.
    fn wait(&self, what: &str, script: &str) -> Value {
        self.browser
            .wait_for(&format!("{what} (page {})", self.name), script, WAIT_LIMIT)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn click(&self, css: &str) {
        self.browser
            .click(css)
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Waits for the dialog and returns its text.
    fn dialog(&self, what: &str) -> String {
        let text = self.wait(
            what,
            "const d = document.getElementById('dialog'); return d.open && d.textContent.trim()",
        );
        text.as_str().unwrap().to_owned()
    }

    /// Confirms the open dialog and waits until it is closed (or shows what comes next: its
    /// buttons are made anew each time it opens).
    fn confirm(&self) {
        self.run(
            "document.querySelector('#dialog-actions button[value=ok]').dataset.confirmed = 'yes'",
        );
        self.click("#dialog-actions button[value=ok]");
        self.wait(
            "the dialog closes",
            "return !document.getElementById('dialog').open || !document.querySelector('#dialog-actions [data-confirmed]')",
        );
    }

    /// The people shown on a shift's card, by staff id.
    fn on_shift(&self, shift: &str) -> Value {
        self.run(&format!(
            "return [...document.querySelectorAll('.shift[data-shift=\"{shift}\"] .people-on [data-staff]')].map(p => p.dataset.staff)"
        ))
    }

    fn shows_on_shift(&self, what: &str, shift: &str, staff: &str) {
        self.wait(
            what,
            &format!("return document.querySelector('.shift[data-shift=\"{shift}\"] .people-on [data-staff=\"{staff}\"]') !== null"),
        );
    }

    /// Waits until the conflicts panel lists a conflict of `kind`; returns its id.
    fn conflict_of_kind(&self, what: &str, kind: &str) -> String {
        let id = self.wait(
            what,
            &format!("const c = [...document.querySelectorAll('#conflict-list .conflict')].find(c => c.querySelector('.kind').textContent === '{}'); return c ? c.dataset.conflict : null", kind.replace('-', " ")),
        );
        id.as_str().unwrap().to_owned()
    }
}

fn assign(node: &Node, staff: &str, shift: &str) {
    node.ok(&["assign", staff, shift]);
}

fn add_shift(node: &Node, id: &str, date: &str, times: (&str, &str), min: &str, capacity: &str) {
    node.ok(&[
        "shift",
        "add",
        id,
        "--date",
        date,
        "--start",
        times.0,
        "--end",
        times.1,
        "--min-staff",
        min,
        "--capacity",
        capacity,
    ]);
}

#[test]
fn the_owner_link_opens_the_week_with_names_and_coverage() {
    let (a, _running) = founder();
    add_shift(&a, "mon-eve", SEEDED_WEEK, ("18:00", "22:00"), "1", "2");
    add_shift(&a, "tue-am", "2026-11-24", ("09:00", "13:00"), "2", "3");
    add_shift(&a, "wed-night", "2026-11-25", ("22:00", "06:00"), "0", "1");
    assign(&a, "tom", "mon-pm");
    assign(&a, "sam", "tue-am");
    assign(&a, "sarah", "wed-night");
    assign(&a, "sam", "wed-night");

    let page = Page::owner("owner-week", &a, DESKTOP);
    let title = page.run("return document.getElementById('period-title').textContent");
    assert_eq!(title, json!("Week of Mon 23 Nov – Sun 29 Nov"));
    assert_eq!(
        page.run("return document.getElementById('site-name').textContent"),
        json!("City Museum")
    );
    assert_eq!(
        page.run("return document.getElementById('machine').textContent"),
        json!("node-a")
    );
    assert_eq!(
        page.run("return document.getElementById('mesh').textContent"),
        json!("the only machine of the site")
    );
    // Every seeded shift is drawn, with the names of the people on it.
    let shown = page.run(
        "return [...document.querySelectorAll('#grid .shift')].map(s => s.dataset.shift).sort()",
    );
    assert_eq!(
        shown,
        json!([
            "mon-am-education",
            "mon-am-exhibits",
            "mon-eve",
            "mon-pm",
            "tue-am",
            "wed-night"
        ])
    );
    let names = page.run(
        "return document.querySelector('.shift[data-shift=\"wed-night\"] .people-on').textContent",
    );
    assert!(
        names.as_str().unwrap().contains("Sarah Lee")
            && names.as_str().unwrap().contains("Sam Park"),
        "{names}"
    );
    assert_eq!(
        page.run(
            "return document.querySelector('.shift[data-shift=\"wed-night\"] .overnight') !== null"
        ),
        json!(true),
        "the overnight shift is marked"
    );
    // The chip: assigned / minimum / capacity, coloured by how covered the shift is.
    let chips = page.run(
        "return Object.fromEntries([...document.querySelectorAll('#grid .shift')].map(s => { const c = s.querySelector('.chip'); return [s.dataset.shift, c.textContent + ' ' + c.className]; }))",
    );
    assert_eq!(
        chips,
        json!({
            "mon-am-exhibits": "0/0/2 chip covered",
            "mon-am-education": "0/0/2 chip covered",
            "mon-pm": "1/0/2 chip covered",
            "mon-eve": "0/1/2 chip empty",
            "tue-am": "1/2/3 chip short",
            "wed-night": "2/0/1 chip over",
        })
    );
    let colours = page.run(
        "return ['covered', 'short', 'empty', 'over'].map(k => getComputedStyle(document.querySelector('.chip.' + k)).backgroundColor)",
    );
    let colours: Vec<&str> = colours
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_ne!(colours[0], colours[1], "covered and short differ");
    assert_ne!(colours[1], colours[2], "short and empty differ");
    assert_eq!(colours[2], colours[3], "empty and over are both red");
    // The capacity conflict is badged on the shift and listed in the panel.
    page.conflict_of_kind("the capacity conflict is listed", "capacity-exceeded");
    assert_eq!(
        page.run("return document.querySelector('.shift[data-shift=\"wed-night\"] .badge.error') !== null"),
        json!(true)
    );
    // What `doctor` would warn about shows in the header: nothing on a healthy machine, and a
    // file of the schedule opened to every user of the machine once the page looks again.
    assert_eq!(
        page.run("return document.getElementById('attention').hidden"),
        json!(true)
    );
    use std::os::unix::fs::PermissionsExt;
    let opened = std::fs::Permissions::from_mode(0o644);
    std::fs::set_permissions(a.data().join("node.json"), opened).unwrap();
    page.run("location.reload(); return true");
    let said = page.wait(
        "the header says something needs attention",
        "const a = document.getElementById('attention'); return !a.hidden && a.textContent + ' | ' + a.title",
    );
    let said = said.as_str().unwrap();
    assert!(
        said.starts_with("1 thing needs attention") && said.contains("chmod -R go-rwx"),
        "{said}"
    );
    // A tap (there is no hovering on a phone) lists it with what to do.
    page.click("#attention");
    let listed = page.dialog("the warnings are listed");
    assert!(listed.contains("What to do: chmod -R go-rwx"), "{listed}");
}

#[test]
fn a_drag_assign_warns_first_and_appears_on_the_other_machines_page() {
    let (a, _running_a) = founder();
    let (b, _running_b) = join("bob", "node-b", &a);
    wait_until("the two machines converge", || common::converged(&[&a, &b]));
    assign(&a, "sarah", "mon-am-exhibits");
    wait_until("the assignment reaches B", || common::converged(&[&a, &b]));

    let page_a = Page::owner("drag-a", &a, DESKTOP);
    let page_b = Page::owner("drag-b", &b, DESKTOP);
    page_a.wait(
        "A's page says the mesh is healthy",
        "return document.getElementById('mesh').textContent === '1 of 1 machines connected'",
    );
    assert_eq!(page_b.on_shift("mon-am-education"), json!([]));

    // Drag Sarah onto the education shift, which overlaps the one she has.
    page_a.run(
        "const dt = new DataTransfer();
         const person = document.querySelector('#people [data-staff=\"sarah\"]');
         const card = document.querySelector('.shift[data-shift=\"mon-am-education\"]');
         person.dispatchEvent(new DragEvent('dragstart', {bubbles: true, dataTransfer: dt}));
         card.dispatchEvent(new DragEvent('dragover', {bubbles: true, cancelable: true, dataTransfer: dt}));
         card.dispatchEvent(new DragEvent('drop', {bubbles: true, cancelable: true, dataTransfer: dt}));",
    );
    let warning = page_a.dialog("the check's result is shown before assigning");
    assert!(
        warning.contains("This would cause") && warning.contains("is booked into"),
        "{warning}"
    );
    assert!(warning.contains("Assign anyway"), "{warning}");
    // Nothing is written until the manager confirms.
    assert_eq!(b.json(&["conflicts"]), json!([]));
    assert!(page_a
        .on_shift("mon-am-education")
        .as_array()
        .unwrap()
        .is_empty());
    page_a.confirm();

    page_a.shows_on_shift("the assignment on A's page", "mon-am-education", "sarah");
    page_b.shows_on_shift(
        "the assignment on B's open page, without a reload",
        "mon-am-education",
        "sarah",
    );
    page_b.conflict_of_kind("B's page lists the double-booking", "double-booking");
    // B's page says briefly who changed what.
    page_b.wait(
        "B's page says what changed",
        "return [...document.querySelectorAll('#toasts .toast')].some(t => t.textContent.includes('assigned sarah to mon-am-education'))",
    );
    // Undone from B's page: the newest change, A's booking, is reverted on both machines.
    page_b.click("#recent");
    let recent = page_b.dialog("the recent changes are listed");
    assert!(
        recent.contains("assign sarah to mon-am-education"),
        "{recent}"
    );
    page_b.confirm();
    page_a.wait(
        "the undone booking leaves A's page",
        "return document.querySelector('.shift[data-shift=\"mon-am-education\"] .people-on [data-staff=\"sarah\"]') === null",
    );
    wait_until("the revert reaches A's history", || {
        a.json(&["history", "--limit", "1"])[0]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("revert "))
    });
}

/// A TCP port that either refuses every connection (cut) or passes them on to `to` (healed):
/// a machine whose old address is unreachable until the network heals.
struct Link {
    healed: Arc<AtomicBool>,
}

impl Link {
    fn cut(listener: TcpListener, to: String) -> Link {
        let healed = Arc::new(AtomicBool::new(false));
        let flag = healed.clone();
        std::thread::spawn(move || {
            for incoming in listener.incoming() {
                let Ok(inbound) = incoming else { continue };
                if !flag.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let Ok(outbound) = TcpStream::connect(&to) else {
                    continue;
                };
                pipe(inbound.try_clone().unwrap(), outbound.try_clone().unwrap());
                pipe(outbound, inbound);
            }
        });
        Link { healed }
    }

    fn heal(&self) {
        self.healed.store(true, Ordering::SeqCst);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buffer = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Both);
    });
}

fn tcp_port(multiaddr: &str) -> String {
    multiaddr.rsplit('/').next().unwrap().to_owned()
}

#[test]
fn pages_on_machines_apart_both_show_the_double_booking_and_one_resolves_it() {
    let (a, running_a) = founder();
    let (b, running_b) = join("bob", "node-b", &a);
    wait_until("the two machines converge", || common::converged(&[&a, &b]));
    // B remembers A at this address; once both restart elsewhere, neither reaches the other.
    let old_port = tcp_port(&a.address());
    running_a.stop();
    running_b.stop();
    let old = TcpListener::bind(format!("127.0.0.1:{old_port}")).unwrap();
    let _running_a = a.start(&[]);
    let _running_b = b.start(&[]);
    let link = Link::cut(old, format!("127.0.0.1:{}", tcp_port(&a.address())));

    let page_a = Page::owner("apart-a", &a, DESKTOP);
    let page_b = Page::owner("apart-b", &b, DESKTOP);
    for page in [&page_a, &page_b] {
        page.wait(
            "the page says edits will sync later",
            "return !document.getElementById('offline').hidden",
        );
    }
    // Each page books Sarah, on overlapping shifts, with the keyboard-usable picker.
    for (page, shift) in [(&page_a, "mon-am-exhibits"), (&page_b, "mon-am-education")] {
        page.click(&format!("button.assign[data-shift=\"{shift}\"]"));
        page.dialog("the picker opens");
        page.click("#dialog-body input[value=sarah]");
        page.confirm();
        let check = page.dialog("the check's result");
        assert!(check.contains("This causes no conflict"), "{check}");
        page.confirm();
        page.shows_on_shift("the booking on its own page", shift, "sarah");
    }
    assert_eq!(a.json(&["conflicts"]), json!([]));
    assert_eq!(b.json(&["conflicts"]), json!([]));

    // The network heals: B's redial of A's old address gets through.
    link.heal();
    let on_a = page_a.conflict_of_kind("A's page shows the double-booking", "double-booking");
    let on_b = page_b.conflict_of_kind("B's page shows the double-booking", "double-booking");
    assert_eq!(on_a, on_b, "the same conflict on both machines");
    page_a.shows_on_shift("B's booking on A's page", "mon-am-education", "sarah");
    page_b.wait(
        "B's page says the mesh is healthy again",
        "return document.getElementById('offline').hidden",
    );

    // Resolved on B's page: the first booking is kept, and the conflict leaves A's page too.
    page_b.click(&format!(
        ".conflict[data-conflict=\"{on_b}\"] button.option[data-option=\"keep-first\"]"
    ));
    page_b.wait(
        "B's panel no longer lists it",
        &format!("return document.querySelector('.conflict[data-conflict=\"{on_b}\"]') === null"),
    );
    page_a.wait(
        "A's panel no longer lists it",
        &format!("return document.querySelector('.conflict[data-conflict=\"{on_a}\"]') === null"),
    );
    let kept = [
        page_a.on_shift("mon-am-exhibits"),
        page_a.on_shift("mon-am-education"),
    ];
    assert_eq!(
        kept.iter()
            .filter(|s| s.as_array().unwrap().contains(&json!("sarah")))
            .count(),
        1,
        "Sarah keeps exactly one of the two: {kept:?}"
    );
}

/// A Monday far enough ahead that its shifts stay "upcoming" whenever the test runs.
const FUTURE_WEEK: &str = "2099-01-05";

#[test]
fn a_staff_account_sees_the_schedule_read_only_and_records_its_own_leave() {
    let (a, _running) = founder();
    add_shift(&a, "future-am", FUTURE_WEEK, ("09:00", "13:00"), "1", "2");
    assign(&a, "sarah", "future-am");
    a.account("sarah", "staff", Some("sarah"), "a long staff password");

    let page = Page::start("staff", DESKTOP);
    page.goto(&format!("{}?date={FUTURE_WEEK}", a.ui()));
    page.wait(
        "the sign-in form",
        "return !document.getElementById('sign-in').hidden",
    );
    page.browser.type_into("#login", "sarah").unwrap();
    page.browser
        .type_into("#password", "a long staff password")
        .unwrap();
    page.click("#sign-in-form button[type=submit]");
    page.wait(
        "her own shifts first",
        "return !document.getElementById('mine').hidden && document.getElementById('mine-shifts').textContent.includes('future-am')",
    );
    page.wait(
        "the schedule",
        "return document.querySelector('#grid .shift') !== null",
    );
    // No control to change anyone else's schedule.
    let controls = page.run(
        "return ['button.assign', 'button.unassign', 'button.option', '#people [draggable]'].map(s => document.querySelectorAll(s).length)
            .concat([...document.querySelectorAll('.manager-only')].filter(e => !e.hidden).length)",
    );
    assert_eq!(controls, json!([0, 0, 0, 0, 0]));

    // Her own leave, with the form's defaults (the day of the week shown).
    page.click("#add-my-leave");
    page.dialog("the leave form");
    page.confirm();
    page.wait(
        "her leave is listed",
        "return document.getElementById('mine-leave').textContent.includes('leave: 2099-01-05')",
    );
    page.wait(
        "her leave is drawn on her row",
        "return document.querySelector('tr[data-staff=\"sarah\"] .band.leave') !== null",
    );
    let leave = a.json(&["staff", "show", "sarah"])["availability"].clone();
    assert_eq!(leave.as_array().unwrap().len(), 1, "{leave}");
    page.wait(
        "her leave's conflict with her shift is badged on her row",
        "return document.querySelector('th[data-staff=\"sarah\"] .badge') !== null",
    );

    // A request forged in her page to assign someone else is refused, and nothing changes.
    page.run(
        "window.forged = null;
         fetch('/api/assignments', {method: 'POST', headers: {'content-type': 'application/json'},
             body: JSON.stringify({staff: 'tom', shift: 'mon-pm'})})
           .then(r => { window.forged = r.status; });",
    );
    let status = page.wait("the forged request's answer", "return window.forged");
    assert_eq!(status, json!(403));
    let tom = a.json(&["staff", "show", "tom"]);
    assert_eq!(tom["assignments"], json!([]), "{tom}");
}

#[test]
fn at_phone_width_the_page_does_not_scroll_sideways() {
    let (a, _running) = founder();
    assign(&a, "sarah", "mon-am-exhibits");
    let page = Page::owner("phone", &a, PHONE);
    for view in ["week", "day", "month"] {
        page.click(&format!("button.view[data-view={view}]"));
        page.wait(
            "the view is drawn",
            &format!("return document.querySelector('button.view[data-view={view}]').getAttribute('aria-pressed') === 'true' && document.querySelector('#grid').children.length > 0"),
        );
        let widths = page.run(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]",
        );
        let widths = widths.as_array().unwrap();
        assert!(
            widths[0].as_u64() <= widths[1].as_u64(),
            "the {view} view scrolls sideways: {widths:?}"
        );
    }
}
