//! What a manager does every week, through the real binary: relative days, copying and
//! repeating shifts, who is on duty, finding cover, undoing a change, and the plain reports of
//! what each write did. Each test is one observation from trying shiftmesh as a new user.

mod common;

use common::{converged, wait_until, Node};
use jiff::civil::Date;
use serde_json::Value;

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// Today as the command line counts relative days: on this machine's clock.
fn today() -> Date {
    jiff::Zoned::now().date()
}

fn monday(day: Date) -> Date {
    day.checked_sub(jiff::Span::new().days(i64::from(day.weekday().to_monday_zero_offset())))
        .unwrap()
}

fn shift(node: &Node, id: &str, date: &str, start: &str, end: &str, extra: &[&str]) {
    let mut args = vec![
        "shift", "add", id, "--date", date, "--start", start, "--end", end,
    ];
    args.extend_from_slice(extra);
    node.ok(&args);
}

fn clinic() -> Node {
    let node = Node::new("alice", "front-desk");
    node.ok(&["department", "add", "ward", "--name", "Ward"]);
    node.ok(&["department", "add", "clinic", "--name", "Clinic"]);
    for (id, name, skill, dept) in [
        ("ana", "Ana Ruiz", "nurse", "ward"),
        ("ben", "Ben Okafor", "nurse", "ward"),
        ("cho", "Cho Min", "nurse", "ward"),
        ("dev", "Dev Patel", "doctor", "clinic"),
    ] {
        node.ok(&[
            "staff",
            "add",
            id,
            "--name",
            name,
            "--skill",
            skill,
            "--department",
            dept,
            "--max-hours-week",
            "40",
        ]);
    }
    node
}

#[test]
fn relative_days_short_times_and_whole_day_leave_are_taken() {
    let node = clinic();
    shift(
        &node,
        "t1",
        "tomorrow",
        "9:00",
        "17:00",
        &["--department", "ward"],
    );
    let shown = node.json(&["shift", "show", "t1"]);
    let tomorrow = today().tomorrow().unwrap();
    assert_eq!(shown["shift"]["date"], tomorrow.to_string());
    assert_eq!(shown["shift"]["start"], "09:00");

    let week = node.json(&["schedule", "--week", "next"]);
    let next_monday = monday(today())
        .checked_add(jiff::Span::new().weeks(1))
        .unwrap();
    assert_eq!(week["from"], next_monday.to_string());
    let day = node.json(&["schedule", "--day", "today"]);
    assert_eq!(day["from"], today().to_string());
    let month = node.json(&["schedule", "--month", "next"]);
    let next_month = today()
        .first_of_month()
        .checked_add(jiff::Span::new().months(1))
        .unwrap();
    assert_eq!(month["from"], next_month.to_string());
    let back = node.json(&["shift", "list", "--from", "-1d", "--to", "+3d"]);
    assert_eq!(back.as_array().unwrap().len(), 1, "{back}");

    node.ok(&[
        "availability",
        "add",
        "ana",
        "--from",
        "2026-12-20",
        "--to",
        "2026-12-24",
        "--kind",
        "leave",
    ]);
    let leave = node.json(&["availability", "list", "--staff", "ana"]);
    assert_eq!(leave[0]["from"], "2026-12-20T00:00", "{leave}");
    assert_eq!(leave[0]["to"], "2026-12-25T00:00", "the last day is whole");

    let line = node.fails(2, &["schedule", "--week", "soon"]);
    assert!(
        line.contains("'soon' is not a week: give this, next, last"),
        "{line}"
    );
    let line = node.fails(
        2,
        &[
            "availability",
            "add",
            "ana",
            "--from",
            "today",
            "--to",
            "+1d",
            "--kind",
            "holiday",
        ],
    );
    assert!(
        line.contains("[possible values: unavailable, leave, undesired, desired]"),
        "{line}"
    );
    let line = node.fails(
        2,
        &[
            "shift",
            "list",
            "--from",
            "2026-12-20",
            "--to",
            "2026-12-10",
        ],
    );
    assert!(
        line.contains("ends (2026-12-10) before it starts"),
        "{line}"
    );
    node.fails(1, &["conflicts", "--staff", "nobody"]);
    node.fails(1, &["shift", "list", "--department", "nope"]);
}

#[test]
fn a_24_hour_shift_needs_asking_for_and_counts_are_never_negative() {
    let node = clinic();
    let line = node.fails(
        2,
        &[
            "shift",
            "add",
            "x",
            "--date",
            "2026-12-13",
            "--start",
            "09:00",
            "--end",
            "09:00",
        ],
    );
    assert!(
        line.contains("24 hours") && line.contains("--24h"),
        "{line}"
    );
    assert!(node.json(&["shift", "list"]).as_array().unwrap().is_empty());
    shift(&node, "x", "2026-12-13", "09:00", "09:00", &["--24h"]);
    let line = node.fails(
        2,
        &[
            "shift",
            "add",
            "y",
            "--date",
            "2026-12-13",
            "--start",
            "09:00",
            "--end",
            "17:00",
            "--capacity",
            "-1",
        ],
    );
    assert!(line.contains("'-1' is not a number of people"), "{line}");
    let line = node.fails(2, &["shift", "update", "x", "--min-staff", "-2"]);
    assert!(line.contains("'-2' is not a number of people"), "{line}");
}

#[test]
fn departments_are_renamed_rezoned_and_removed_once_empty() {
    let node = clinic();
    node.ok(&[
        "department",
        "update",
        "clinic",
        "--name",
        "Outpatients",
        "--time-zone",
        "Europe/Vienna",
    ]);
    let list = node.json(&["department", "list"]);
    let clinic = list
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == "clinic")
        .unwrap();
    assert_eq!(clinic["name"], "Outpatients");
    assert_eq!(clinic["time_zone"], "Europe/Vienna");
    node.ok(&["department", "update", "clinic", "--site-time-zone"]);
    let list = node.json(&["department", "list"]);
    assert!(list[0]["time_zone"].is_null(), "{list}");

    let line = node.fails(1, &["department", "remove", "clinic"]);
    assert!(line.contains("1 staff member(s)"), "{line}");
    node.ok(&["staff", "update", "dev", "--department", "ward"]);
    node.ok(&["department", "remove", "clinic"]);
    let list = node.json(&["department", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
}

#[test]
fn an_edit_that_brings_an_error_says_it_was_saved_with_it() {
    let node = clinic();
    shift(
        &node,
        "mon-early",
        "2026-12-14",
        "06:00",
        "14:00",
        &["--department", "ward"],
    );
    node.ok(&[
        "availability",
        "add",
        "ana",
        "--from",
        "2026-12-14",
        "--to",
        "2026-12-14",
        "--kind",
        "leave",
    ]);
    let out = node.run(&["assign", "ana", "mon-early"]);
    assert!(out.status.success());
    let said = text(&out.stdout);
    assert!(
        said.contains("SAVED WITH 1 ERROR(S)") && said.contains("staff-unavailable"),
        "{said}"
    );
    let checked = node.run(&["assign", "ben", "mon-early", "--check"]);
    assert!(text(&checked.stdout).contains("would assign"));
}

#[test]
fn copying_a_week_and_repeating_a_shift_can_run_again_without_duplicates() {
    let node = clinic();
    shift(
        &node,
        "2026-11-23-early",
        "2026-11-23",
        "06:00",
        "14:00",
        &["--department", "ward"],
    );
    shift(
        &node,
        "mon-late",
        "2026-11-23",
        "14:00",
        "22:00",
        &["--department", "ward"],
    );
    node.ok(&["assign", "ana", "2026-11-23-early"]);

    let copied = node.json(&[
        "shift",
        "copy",
        "--from",
        "2026-11-23",
        "--to",
        "2026-11-29",
        "--weeks",
        "1",
        "--with-assignments",
    ]);
    assert_eq!(copied["added"]["shifts"], 2, "{copied}");
    assert_eq!(copied["added"]["assignments"], 1, "{copied}");
    let next = node.json(&["shift", "show", "2026-11-30-early"]);
    assert_eq!(
        next["shift"]["assigned"],
        serde_json::json!(["ana"]),
        "{next}"
    );
    node.ok(&["shift", "show", "mon-late-2026-11-30"]);
    let again = node.json(&[
        "shift",
        "copy",
        "--from",
        "2026-11-23",
        "--to",
        "2026-11-29",
        "--onto",
        "2026-11-30",
    ]);
    assert_eq!(again["added"]["shifts"], 0, "{again}");
    assert_eq!(again["skipped"].as_array().unwrap().len(), 2);

    let repeated = node.json(&[
        "shift",
        "repeat",
        "mon-late",
        "--weekdays",
        "weekdays",
        "--until",
        "2026-12-04",
    ]);
    // Tuesday to Friday of the first week, and the second week but its Monday (copied above).
    assert_eq!(repeated["added"]["shifts"], 8, "{repeated}");
    assert_eq!(
        repeated["skipped"].as_array().unwrap().len(),
        1,
        "{repeated}"
    );
    let twice = node.json(&[
        "shift",
        "repeat",
        "mon-late",
        "--weekdays",
        "weekdays",
        "--until",
        "2026-12-04",
    ]);
    assert_eq!(twice["added"]["shifts"], 0, "{twice}");
    let fortnightly = node.json(&[
        "shift",
        "repeat",
        "mon-late",
        "--every-weeks",
        "2",
        "--from",
        "2026-12-05",
        "--until",
        "2026-12-31",
    ]);
    // Mondays two, four weeks on: 7 and 21 December.
    assert_eq!(fortnightly["added"]["shifts"], 2, "{fortnightly}");
    node.ok(&["shift", "show", "mon-late-2026-12-21"]);
}

#[test]
fn now_shows_who_is_on_duty_and_which_shifts_come_next() {
    let node = clinic();
    let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    let today = jiff::Timestamp::now().to_zoned(berlin).date();
    let tomorrow = today.tomorrow().unwrap().to_string();
    shift(
        &node,
        "all-day",
        &today.to_string(),
        "00:00",
        "00:00",
        &["--24h", "--department", "ward"],
    );
    shift(
        &node,
        "next-early",
        &tomorrow,
        "06:00",
        "14:00",
        &["--department", "ward"],
    );
    shift(
        &node,
        "next-clinic",
        &tomorrow,
        "06:00",
        "12:00",
        &["--department", "clinic"],
    );
    node.ok(&["assign", "ana", "all-day"]);
    let now = node.json(&["now"]);
    assert_eq!(now["now"][0]["id"], "all-day", "{now}");
    assert_eq!(now["names"]["ana"], "Ana Ruiz");
    let mut next: Vec<&str> = now["next"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    next.sort_unstable();
    assert_eq!(next, ["next-clinic", "next-early"]);
    let ward = node.json(&["now", "--department", "ward"]);
    assert_eq!(ward["next"].as_array().unwrap().len(), 1, "{ward}");
    let said = node.ok(&["now"]);
    assert!(
        said.contains("all-day") && said.contains("Ana Ruiz"),
        "{said}"
    );
}

#[test]
fn cover_ranks_who_could_take_a_shift_and_says_why_the_others_miss() {
    let node = clinic();
    node.ok(&["staff", "update", "cho", "--max-hours-week", "10"]);
    shift(
        &node,
        "mon-early",
        "2026-12-14",
        "06:00",
        "14:00",
        &["--skill", "nurse"],
    );
    shift(
        &node,
        "tue-early",
        "2026-12-15",
        "06:00",
        "14:00",
        &["--skill", "nurse", "--capacity", "3"],
    );
    node.ok(&["assign", "cho", "mon-early"]);
    node.ok(&["assign", "ana", "tue-early"]);
    let cover = node.json(&["cover", "tue-early"]);
    let candidates: Vec<&str> = cover["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["staff"].as_str().unwrap())
        .collect();
    assert_eq!(candidates, ["ben"], "{cover}");
    let miss = |who: &str| {
        cover["near_misses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["staff"] == who)
            .map(|m| m["reasons"].to_string())
            .unwrap_or_default()
    };
    assert!(
        miss("cho").contains("6 h over their maximum of 10 h"),
        "{cover}"
    );
    assert!(miss("dev").contains("lacks nurse"), "{cover}");
    assert!(miss("ana").is_empty(), "assigned already: not listed");
    let said = node.ok(&["cover", "tue-early"]);
    assert!(
        said.contains("Ben Okafor") && said.contains("near misses"),
        "{said}"
    );
    node.fails(1, &["cover", "no-such-shift"]);
}

fn conflict_ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn conflicts_filter_by_day_person_and_department_and_sum_up_by_day() {
    let node = clinic();
    shift(
        &node,
        "mon-a",
        "2026-12-14",
        "06:00",
        "14:00",
        &["--department", "ward"],
    );
    shift(
        &node,
        "mon-b",
        "2026-12-14",
        "08:00",
        "12:00",
        &["--department", "ward"],
    );
    shift(
        &node,
        "wed-a",
        "2026-12-16",
        "06:00",
        "14:00",
        &["--department", "clinic"],
    );
    shift(
        &node,
        "wed-b",
        "2026-12-16",
        "08:00",
        "12:00",
        &["--department", "clinic"],
    );
    node.ok(&["assign", "ana", "mon-a"]);
    node.ok(&["assign", "ana", "mon-b"]);
    node.ok(&["assign", "dev", "wed-a"]);
    node.ok(&["assign", "dev", "wed-b"]);
    let all = node.json(&["conflicts", "--kind", "double-booking"]);
    assert_eq!(conflict_ids(&all).len(), 2, "{all}");
    let ana = node.json(&["conflicts", "--staff", "ana"]);
    assert!(ana
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["staff"].as_array().unwrap().contains(&Value::from("ana"))));
    let late = node.json(&[
        "conflicts",
        "--kind",
        "double-booking",
        "--from",
        "2026-12-15",
    ]);
    assert_eq!(late[0]["staff"], serde_json::json!(["dev"]), "{late}");
    let ward = node.json(&[
        "conflicts",
        "--kind",
        "double-booking",
        "--department",
        "ward",
    ]);
    assert_eq!(ward[0]["staff"], serde_json::json!(["ana"]), "{ward}");
    let days = node.json(&["conflicts", "--summary", "--kind", "double-booking"]);
    assert_eq!(days[0]["date"], "2026-12-14", "{days}");
    assert_eq!(days[0]["kinds"]["double-booking"], 1);
    assert_eq!(days[1]["date"], "2026-12-16");
    let said = node.ok(&["conflicts", "--summary"]);
    assert!(
        said.contains("Mon 2026-12-14") && said.contains("total:"),
        "{said}"
    );
    // Warnings come in date order, not in the order of their ids.
    let warnings = node.json(&["conflicts", "--severity", "warning"]);
    let dates: Vec<&str> = warnings
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["date"].as_str())
        .collect();
    let mut sorted = dates.clone();
    sorted.sort();
    assert_eq!(dates, sorted);
}

fn write_csv(dir: &std::path::Path) -> (String, String) {
    let staff = dir.join("new-staff.csv");
    std::fs::write(
        &staff,
        "id,name,department,skills,max_hours_week\neve,Eve Stone,ward,nurse,30\nfin,Fin Hale,ward,nurse,30\n",
    )
    .unwrap();
    let shifts = dir.join("new-shifts.csv");
    std::fs::write(
        &shifts,
        "id,department,date,start,end,capacity,min_staff,skills,label\nsat-1,ward,2026-12-19,08:00,16:00,2,1,nurse,Saturday\n",
    )
    .unwrap();
    (staff.display().to_string(), shifts.display().to_string())
}

fn change_of(node: &Node, kind: &str) -> String {
    let history = node.json(&["history", "--kind", kind, "--limit", "1"]);
    history[0]["hash"].as_str().unwrap()[..12].to_owned()
}

#[test]
fn revert_undoes_an_import_and_refuses_what_a_later_change_rewrote() {
    let node = clinic();
    let (staff, shifts) = write_csv(node.dir.path());
    node.ok(&["import", "--format", "csv", &staff, &shifts]);
    node.ok(&["staff", "show", "eve"]);
    let import = change_of(&node, "import");
    let said = node.ok(&["revert", &import]);
    assert!(
        said.starts_with(&format!("revert {import}: import")),
        "{said}"
    );
    node.fails(1, &["staff", "show", "eve"]);
    node.fails(1, &["shift", "show", "sat-1"]);
    assert_eq!(node.json(&["staff", "list"]).as_array().unwrap().len(), 4);
    // The revert is a change like any other: in the history, and revertible.
    let revert = change_of(&node, "revert");
    node.ok(&["undo", &revert]);
    node.ok(&["staff", "show", "eve"]);

    node.ok(&["staff", "update", "ana", "--name", "Ana R."]);
    let rename = change_of(&node, "update staff ana");
    node.ok(&["staff", "update", "ana", "--max-hours-week", "30"]);
    node.ok(&["revert", &rename]);
    let ana = node.json(&["staff", "show", "ana"]);
    assert_eq!(ana["staff"]["name"], "Ana Ruiz");
    assert_eq!(
        ana["staff"]["max_minutes_week"], 1800,
        "the later edit stays"
    );
    node.ok(&["staff", "update", "ana", "--name", "Ana Q."]);
    let first = change_of(&node, "update staff ana");
    node.ok(&["staff", "update", "ana", "--name", "Ana P."]);
    let line = node.fails(1, &["revert", &first]);
    assert!(
        line.contains("a later change rewrote the field name"),
        "{line}"
    );
    assert_eq!(
        node.json(&["staff", "show", "ana"])["staff"]["name"],
        "Ana P."
    );

    // A revert that would leave something naming what it removes is refused.
    node.ok(&["staff", "add", "zoe", "--name", "Zoe Ng"]);
    let add_zoe = change_of(&node, "add staff zoe");
    shift(&node, "sun-1", "2026-12-20", "08:00", "16:00", &[]);
    node.ok(&["assign", "zoe", "sun-1"]);
    let line = node.fails(1, &["revert", &add_zoe]);
    assert!(
        line.contains("made since that name it (sun-1/zoe)"),
        "{line}"
    );
    node.ok(&["unassign", "zoe", "sun-1"]);
    let unassign = change_of(&node, "unassign");
    node.ok(&["shift", "remove", "sun-1"]);
    let line = node.fails(1, &["revert", &unassign]);
    assert!(line.contains("which is gone"), "{line}");
    node.ok(&["revert", &add_zoe]);
    node.fails(1, &["staff", "show", "zoe"]);

    let line = node.fails(2, &["revert", "xyz"]);
    assert!(line.contains("hex digits"), "{line}");
    node.fails(1, &["revert", "000000000000"]);
    let since = node.json(&["history", "--since", "today", "--author", "alice"]);
    assert!(!since.as_array().unwrap().is_empty());
    let none = node.json(&["history", "--until", "2020-01-01"]);
    assert!(none.as_array().unwrap().is_empty(), "{none}");
}

#[test]
fn invite_prints_the_invite_alone_so_a_join_can_take_it_directly() {
    let (a, _running) = common::founder();
    let out = a.run(&["invite"]);
    assert!(out.status.success());
    let invite = text(&out.stdout);
    assert_eq!(invite.trim().lines().count(), 1, "{invite}");
    assert!(invite.starts_with("shiftmesh-invite-1."), "{invite}");
    assert!(text(&out.stderr).contains("init --join"));
    Node::with_invite("bob", "node-b", invite.trim());
}

#[test]
fn peers_are_named_by_short_prefixes_and_by_name() {
    let (a, _ra) = common::founder();
    let (b, _rb) = common::join("bob", "node-b", &a);
    wait_until("b is a member and in sync", || converged(&[&a, &b]));
    let b_id = b.status()["peer_id"].as_str().unwrap().to_owned();
    let listed = a.ok(&["peers"]);
    let row = listed
        .lines()
        .find(|l| l.starts_with(&b_id[..12]))
        .unwrap_or_else(|| panic!("{listed}"));
    let shown = row.split_whitespace().next().unwrap();
    assert!(shown.len() < b_id.len(), "ids are shortened: {listed}");
    let line = a.fails(1, &["peers", "revoke", "12D3KooW"]);
    assert!(line.contains("at least 12"), "{line}");
    let line = a.fails(2, &["peers", "trust", &b_id[..16]]);
    assert!(
        line.contains("not a peer id"),
        "trust takes the whole id: {line}"
    );
    let revoked = a.json(&["peers", "revoke", &b_id[..16]]);
    assert_eq!(revoked["revoked"], b_id);
}

#[test]
fn long_names_do_not_push_a_listing_off_the_terminal() {
    let node = clinic();
    let long = "Maximiliane Alexandra von Hohenberg-Schwarzenfeld";
    node.ok(&["staff", "add", "max", "--name", long]);
    let list = node.ok(&["staff", "list"]);
    assert!(list.lines().all(|l| l.chars().count() <= 80), "{list}");
    assert!(list.contains('…'));
    assert_eq!(node.json(&["staff", "show", "max"])["staff"]["name"], long);
}

/// The clinic's month, start to end: two templates fill four weeks, the month is copied, cover
/// is found for a sick nurse, and an import is reverted and the revert reaches a second node.
#[test]
fn a_clinic_plans_a_month_finds_cover_and_reverts_an_import_on_two_nodes() {
    let a = clinic();
    for (id, name) in [("eli", "Eli Berg"), ("gus", "Gus Lind"), ("ida", "Ida Moe")] {
        a.ok(&[
            "staff",
            "add",
            id,
            "--name",
            name,
            "--skill",
            "nurse",
            "--department",
            "ward",
        ]);
    }
    a.ok(&[
        "staff",
        "add",
        "hal",
        "--name",
        "Hal Roe",
        "--skill",
        "doctor",
        "--department",
        "clinic",
    ]);
    assert_eq!(a.json(&["staff", "list"]).as_array().unwrap().len(), 8);
    // Two templates, repeated over four weeks.
    shift(
        &a,
        "ward-early-2027-01-04",
        "2027-01-04",
        "6:00",
        "14:00",
        &[
            "--department",
            "ward",
            "--skill",
            "nurse",
            "--capacity",
            "2",
            "--min-staff",
            "1",
        ],
    );
    shift(
        &a,
        "clinic-day-2027-01-04",
        "2027-01-04",
        "8:00",
        "16:00",
        &["--department", "clinic", "--skill", "doctor"],
    );
    for template in ["ward-early-2027-01-04", "clinic-day-2027-01-04"] {
        a.ok(&[
            "shift",
            "repeat",
            template,
            "--weekdays",
            "weekdays",
            "--until",
            "2027-01-31",
        ]);
    }
    let january = a.json(&[
        "shift",
        "list",
        "--from",
        "2027-01-01",
        "--to",
        "2027-01-31",
    ]);
    assert_eq!(
        january.as_array().unwrap().len(),
        40,
        "20 weekdays, two shifts each"
    );
    a.ok(&["assign", "ana", "ward-early-2027-01-05"]);
    // Next month: the four weeks copied four weeks on.
    let copied = a.json(&[
        "shift",
        "copy",
        "--from",
        "2027-01-04",
        "--to",
        "2027-01-31",
        "--weeks",
        "4",
        "--with-assignments",
    ]);
    assert_eq!(copied["added"]["shifts"], 40, "{copied}");
    a.ok(&["shift", "show", "ward-early-2027-02-02"]);
    // Ana is sick on 2 February: who could cover?
    a.ok(&[
        "availability",
        "add",
        "ana",
        "--from",
        "2027-02-02",
        "--to",
        "2027-02-02",
        "--kind",
        "leave",
    ]);
    let cover = a.json(&["cover", "ward-early-2027-02-02"]);
    let first = cover["candidates"][0]["staff"].as_str().unwrap().to_owned();
    assert_ne!(first, "ana");
    a.ok(&["assign", &first, "ward-early-2027-02-02"]);

    // A second machine joins; an import is made and reverted; both see it.
    let running_a = a.start(&[]);
    let (b, _running_b) = common::join("bob", "node-b", &a);
    wait_until("b has the schedule", || converged(&[&a, &b]));
    let (staff, shifts) = write_csv(a.dir.path());
    a.ok(&["import", "--format", "csv", &staff, &shifts]);
    wait_until("b has the import", || {
        b.run(&["staff", "show", "eve"]).status.success()
    });
    let import = change_of(&a, "import");
    a.ok(&["revert", &import]);
    wait_until("b has the revert", || {
        !b.run(&["staff", "show", "eve"]).status.success()
    });
    let history = b.json(&["history", "--limit", "5"]);
    let messages: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(messages[0].starts_with("revert "), "{messages:?}");
    assert!(
        messages.iter().any(|m| m.starts_with("import ")),
        "{messages:?}"
    );
    drop(running_a);
}

#[test]
fn the_schedule_names_people_shows_who_is_away_their_hours_and_a_month_as_a_calendar() {
    let node = clinic();
    shift(
        &node,
        "mon-early",
        "2026-12-14",
        "06:00",
        "14:00",
        &["--label", "Ward round"],
    );
    shift(&node, "tue-early", "2026-12-15", "06:00", "14:00", &[]);
    node.ok(&["assign", "ana", "mon-early"]);
    node.ok(&[
        "availability",
        "add",
        "ben",
        "--from",
        "2026-12-15",
        "--to",
        "2026-12-15",
        "--kind",
        "leave",
        "--reason",
        "flu",
    ]);
    let week = node.ok(&["schedule", "--week", "2026-12-14"]);
    assert!(week.contains("1/1/1  Ana Ruiz  · Ward round"), "{week}");
    assert!(week.contains("away: Ben Okafor (leave, flu)"), "{week}");
    assert!(
        week.contains("Ana Ruiz") && week.contains("8 h") && week.contains("of 40 h"),
        "{week}"
    );
    let month = node.ok(&["schedule", "--month", "2026-12"]);
    assert!(
        month.lines().count() < 25,
        "a calendar, not a list: {month}"
    );
    assert!(month.contains("Mon       Tue"), "{month}");
    assert!(
        month.contains("14 1/1") && month.contains("15 0/1!"),
        "{month}"
    );
    assert!(!month.contains("(no shifts)"), "{month}");
}

#[test]
fn every_edit_says_what_it_brought_and_resolve_says_what_it_did() {
    let node = clinic();
    shift(&node, "mon-a", "2026-12-14", "06:00", "14:00", &[]);
    shift(
        &node,
        "mon-b",
        "2026-12-14",
        "15:00",
        "20:00",
        &["--capacity", "2"],
    );
    node.ok(&["assign", "ana", "mon-a"]);
    node.ok(&["assign", "ana", "mon-b"]);
    // Leave over an assigned shift, and a shift moved onto another: both say so.
    let leave = node.ok(&[
        "availability",
        "add",
        "ana",
        "--from",
        "2026-12-14T12:00",
        "--to",
        "2026-12-14T13:00",
    ]);
    assert!(
        leave.contains("SAVED WITH 1 ERROR(S)") && leave.contains("staff-unavailable"),
        "{leave}"
    );
    let moved = node.ok(&["shift", "update", "mon-b", "--start", "13:00"]);
    assert!(moved.contains("double-booking"), "{moved}");
    // A resolution records and says what it did, and the edit that clears a conflict says so.
    let id = node.json(&["conflicts", "--kind", "double-booking"])[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resolved = node.ok(&["resolve", &id[..8], "keep-first"]);
    assert!(
        resolved.contains("remove assignment mon-b/ana"),
        "{resolved}"
    );
    let history = node.json(&["history", "--limit", "1"]);
    assert!(
        history[0]["message"]
            .as_str()
            .unwrap()
            .contains("remove assignment mon-b/ana"),
        "{history}"
    );
    let unavailable = node.json(&["conflicts", "--kind", "staff-unavailable"])[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cleared = node.ok(&["unassign", "ana", "mon-a"]);
    assert!(
        cleared.contains(&format!("it clears 1 conflict(s): {unavailable}")),
        "{cleared}"
    );
}

#[test]
fn pick_value_takes_a_shift_time_as_people_write_it() {
    let a = clinic();
    shift(&a, "wed", "2026-12-16", "08:00", "14:00", &[]);
    let b = Node::new("bob", "back-office");
    common::sync(&a, &b);
    a.ok(&["shift", "update", "wed", "--start", "9:00"]);
    b.ok(&["shift", "update", "wed", "--end", "16:00"]);
    common::sync(&a, &b);
    let conflict = a.json(&["conflicts", "--kind", "concurrent-edit"]);
    let id = conflict[0]["id"].as_str().unwrap().to_owned();
    let shown = a.ok(&["conflicts", "show", &id[..6]]);
    assert!(shown.contains("pick-value"), "{shown}");
    a.ok(&["resolve", &id, "pick-value", "--value", "08:00-16:00"]);
    let wed = a.json(&["shift", "show", "wed"]);
    assert_eq!(
        (wed["shift"]["start"].as_str(), wed["shift"]["end"].as_str()),
        (Some("08:00"), Some("16:00"))
    );
}

#[test]
fn everything_one_merge_brought_is_reverted_in_one_command() {
    let a = clinic();
    let b = Node::new("bob", "back-office");
    common::sync(&a, &b);
    b.ok(&["staff", "add", "eve", "--name", "Eve Stone"]);
    shift(&b, "sat-1", "2026-12-19", "08:00", "16:00", &[]);
    b.ok(&["assign", "eve", "sat-1"]);
    b.ok(&["staff", "update", "ana", "--name", "Ana R."]);
    let file = b.path("bob.automerge");
    b.ok(&["backup", &file]);
    let merged = a.ok(&["merge", &file]);
    assert!(merged.contains("revert --last-merge"), "{merged}");
    a.ok(&["staff", "show", "eve"]);
    let said = a.ok(&["revert", "--last-merge"]);
    assert!(said.starts_with("revert the merge of"), "{said}");
    a.fails(1, &["staff", "show", "eve"]);
    a.fails(1, &["shift", "show", "sat-1"]);
    assert_eq!(
        a.json(&["staff", "show", "ana"])["staff"]["name"],
        "Ana Ruiz"
    );
    // Merging the same file again brings nothing back: the revert is a change like any other.
    a.ok(&["merge", &file]);
    a.fails(1, &["staff", "show", "eve"]);
    let line = a.fails(1, &["revert", "--last-merge"]);
    assert!(line.contains("no merge to revert"), "{line}");
}

#[test]
fn conflicts_fit_the_terminal_and_stay_whole_for_scripts() {
    let node = clinic();
    shift(&node, "mon-a", "2026-12-14", "06:00", "14:00", &[]);
    shift(&node, "mon-b", "2026-12-14", "08:00", "12:00", &[]);
    node.ok(&["assign", "ana", "mon-a"]);
    node.ok(&["assign", "ana", "mon-b"]);
    let at = |columns: Option<&str>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_shiftmesh"));
        command
            .arg("--data-dir")
            .arg(node.data())
            .args(["conflicts", "--kind", "double-booking"])
            .env_remove("SHIFTMESH_DATA_DIR")
            .env_remove("COLUMNS");
        if let Some(columns) = columns {
            command.env("COLUMNS", columns);
        }
        text(&command.output().unwrap().stdout)
    };
    let narrow = at(Some("80"));
    assert!(narrow.lines().all(|l| l.chars().count() <= 80), "{narrow}");
    assert!(
        narrow.contains("double-booking") && narrow.contains("mon-b"),
        "{narrow}"
    );
    let piped = at(None);
    let line = piped
        .lines()
        .find(|l| l.contains("double-booking"))
        .unwrap();
    assert!(
        line.contains("mon-a") && line.contains("mon-b"),
        "one line each: {piped}"
    );
}

/// Reads a child's stdout line by line on a thread, so the test can wait with a deadline.
fn lines_of(stdout: std::process::ChildStdout) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    receive
}

#[test]
fn events_are_lines_for_a_person_at_a_terminal_and_json_for_scripts() {
    use std::process::{Command, Stdio};
    let node = clinic();
    let _running = node.start(&[]);
    let binary = env!("CARGO_BIN_EXE_shiftmesh");
    let data = node.data().display().to_string();
    // `script` (util-linux) gives the command a terminal, as a person sitting at one has.
    let mut at_terminal = Command::new("script")
        .args([
            "-q",
            "-e",
            "-c",
            &format!("{binary} --data-dir {data} events"),
            "/dev/null",
        ])
        .env_remove("SHIFTMESH_DATA_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut piped = Command::new(binary)
        .args(["--data-dir", &data, "events"])
        .env_remove("SHIFTMESH_DATA_DIR")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (readable, json) = (
        lines_of(at_terminal.stdout.take().unwrap()),
        lines_of(piped.stdout.take().unwrap()),
    );
    let (mut seen_readable, mut seen_json) = (None, None);
    // Both followers subscribe shortly after they start: edit until each has seen an event.
    for n in 0..20 {
        node.ok(&[
            "staff",
            "add",
            &format!("p{n}"),
            "--name",
            &format!("Person {n}"),
        ]);
        let wait = std::time::Duration::from_millis(500);
        while let Ok(line) = readable.recv_timeout(wait) {
            if !line.trim().is_empty() {
                seen_readable.get_or_insert(line);
            }
        }
        while let Ok(line) = json.recv_timeout(wait) {
            seen_json.get_or_insert(line);
        }
        if seen_readable.is_some() && seen_json.is_some() {
            break;
        }
    }
    let _ = (at_terminal.kill(), piped.kill());
    let _ = (at_terminal.wait(), piped.wait());
    let readable = seen_readable.expect("an event on the terminal");
    assert!(!readable.trim_start().starts_with('{'), "{readable}");
    assert!(readable.contains('='), "fields as name=value: {readable}");
    let json: Value = serde_json::from_str(&seen_json.expect("an event on the pipe")).unwrap();
    assert!(json["type"].is_string(), "{json}");
}

/// An import of a year's schedule took `history --limit 5` ten seconds and a gigabyte: its
/// field differences were worked out whole. A bulk change is one line with its size now, and an
/// entity's history still finds the import that created it.
#[test]
fn a_bulk_change_is_one_history_line_and_an_entity_still_finds_it() {
    let node = Node::new("alice", "front-desk");
    let mut csv = String::from("id,name,department,skills,max_hours_week\n");
    for n in 0..2_500 {
        csv.push_str(&format!("p{n:04},Person {n},,guide,40\n"));
    }
    let file = node.path("staff.csv");
    std::fs::write(&file, csv).unwrap();
    node.ok(&["import", "--format", "csv", &file]);
    node.ok(&["staff", "add", "late", "--name", "Late Comer"]);
    let shown = node.ok(&["history", "--limit", "2"]);
    let lines: Vec<&str> = shown.lines().collect();
    let import = lines
        .iter()
        .position(|l| l.contains("import 2500 staff"))
        .unwrap_or_else(|| panic!("{shown}"));
    assert!(
        lines[import + 1].contains("a bulk change of") && lines[import + 1].contains("operations"),
        "{shown}"
    );
    assert!(
        !shown.contains("staff/p0001/name"),
        "no field of a bulk change is listed: {shown}"
    );
    let json = node.json(&["history", "--limit", "2"]);
    let bulk = json
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["bulk_operations"].is_number())
        .expect("the import is marked as a bulk change");
    assert!(bulk["diff"].as_array().unwrap().is_empty());
    let ordinary = json
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["message"].as_str().unwrap().contains("late"))
        .unwrap();
    assert!(ordinary.get("bulk_operations").is_none(), "{ordinary}");
    // One person's history: the import that created them, not every change.
    let theirs = node.json(&["history", "--entity", "p0007"]);
    let messages: Vec<&str> = theirs
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(messages[0].starts_with("import"), "{messages:?}");
    let late = node.json(&["history", "--entity", "late"]);
    assert_eq!(late.as_array().unwrap().len(), 1);
}
