//! The real `shiftmesh` binary, run in temporary data directories, for every offline command.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::Node;
use serde_json::Value;

fn museum() -> Node {
    let node = Node::new("alice", "front-desk");
    node.ok(&["department", "add", "exhibits", "--name", "Exhibits"]);
    node.ok(&[
        "staff",
        "add",
        "sarah",
        "--name",
        "Sarah Lee",
        "--skill",
        "guide",
        "--department",
        "exhibits",
        "--max-hours-week",
        "38",
    ]);
    node.ok(&[
        "staff", "add", "sam", "--name", "Sam Park", "--skill", "guide",
    ]);
    node.ok(&[
        "shift",
        "add",
        "mon-am-exhibits",
        "--date",
        "2026-11-23",
        "--start",
        "09:00",
        "--end",
        "13:00",
        "--department",
        "exhibits",
        "--capacity",
        "2",
        "--skill",
        "guide",
    ]);
    node.ok(&[
        "shift",
        "add",
        "mon-night",
        "--date",
        "2026-11-23",
        "--start",
        "22:00",
        "--end",
        "06:00",
    ]);
    node
}

#[test]
fn init_twice_is_a_no_op_that_says_so() {
    let node = Node::new("alice", "front-desk");
    let again = node.ok(&["init"]);
    assert!(again.contains("already initialised"), "{again}");
    let status = node.json(&["status"]);
    assert_eq!(status["name"], "front-desk");
    assert_eq!(status["site"], "City Museum");
    assert_eq!(status["time_zone"], "Europe/Berlin");
    assert!(status["peer_id"].as_str().unwrap().starts_with("12D3KooW"));
    assert_eq!(
        status["changes"],
        3 + shiftmesh_model::schema::step_hashes().len(),
        "genesis, the schema steps, the site settings and the founding member"
    );
    assert_eq!(status["membership"], "member");
}

#[test]
fn staff_shift_and_department_commands_round_trip() {
    let node = museum();
    let staff = node.json(&["staff", "list"]);
    assert_eq!(staff.as_array().unwrap().len(), 2);
    let sarah = node.json(&["staff", "show", "sarah"]);
    assert_eq!(sarah["staff"]["max_minutes_week"], 38 * 60);
    assert_eq!(sarah["staff"]["department"], "exhibits");

    node.ok(&[
        "staff",
        "update",
        "sam",
        "--name",
        "Samuel Park",
        "--active",
        "false",
    ]);
    let sam = node.json(&["staff", "show", "sam"]);
    assert_eq!(sam["staff"]["name"], "Samuel Park");
    assert_eq!(sam["staff"]["active"], false);
    assert_eq!(
        sam["staff"]["skills"],
        serde_json::json!(["guide"]),
        "untouched fields stay"
    );
    let changes = node.json(&["status"])["changes"].clone();
    let same = node.ok(&["staff", "update", "sam", "--name", "Samuel Park"]);
    assert!(same.contains("nothing changed"), "{same}");
    assert_eq!(
        node.json(&["status"])["changes"],
        changes,
        "writing the values a field holds makes no change"
    );

    node.ok(&[
        "shift",
        "update",
        "mon-am-exhibits",
        "--capacity",
        "3",
        "--label",
        "Morning tour",
    ]);
    let shift = node.json(&["shift", "show", "mon-am-exhibits"]);
    assert_eq!(shift["shift"]["capacity"], 3);
    assert_eq!(shift["shift"]["start"], "09:00");
    let listed = node.json(&["shift", "list", "--department", "exhibits"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(node.json(&["department", "list"])[0]["id"], "exhibits");

    node.ok(&["staff", "remove", "sam"]);
    node.fails(1, &["staff", "show", "sam"]);
    node.ok(&["shift", "remove", "mon-night"]);
    assert_eq!(node.json(&["shift", "list"]).as_array().unwrap().len(), 1);
    // A removed id can be added again.
    node.ok(&["staff", "add", "sam", "--name", "Sam Again"]);
}

#[test]
fn assign_and_unassign_show_in_the_schedule_with_coverage() {
    let node = museum();
    let out = node.json(&["assign", "sarah", "mon-am-exhibits", "--role", "guide"]);
    assert_eq!(out["assignment"], "mon-am-exhibits/sarah");
    node.fails(1, &["assign", "sarah", "mon-am-exhibits"]);
    let week = node.json(&["schedule", "--week", "2026-11-25"]);
    assert_eq!(week["from"], "2026-11-23");
    assert_eq!(week["to"], "2026-11-29");
    let monday = &week["days"][0]["shifts"];
    assert_eq!(monday[0]["id"], "mon-am-exhibits");
    assert_eq!(monday[0]["coverage"], "1/1/2");
    assert_eq!(monday[0]["assigned"], serde_json::json!(["sarah"]));
    let text = node.ok(&["schedule", "--day", "2026-11-23", "--staff", "sarah"]);
    assert!(
        text.contains("Sarah Lee") && !text.contains("mon-night"),
        "{text}"
    );
    let month = node.json(&["schedule", "--month", "2026-11"]);
    assert_eq!(month["days"].as_array().unwrap().len(), 30);

    node.fails(1, &["staff", "remove", "sarah"]);
    node.ok(&["unassign", "sarah", "mon-am-exhibits"]);
    node.fails(1, &["unassign", "sarah", "mon-am-exhibits"]);
    node.ok(&["staff", "remove", "sarah"]);
}

#[test]
fn removing_with_force_takes_the_assignments_too() {
    let node = museum();
    node.ok(&["assign", "sarah", "mon-am-exhibits"]);
    let line = node.fails(1, &["shift", "remove", "mon-am-exhibits"]);
    assert!(line.contains("--force"), "{line}");
    node.ok(&["shift", "remove", "mon-am-exhibits", "--force"]);
    assert_eq!(
        node.json(&["staff", "show", "sarah"])["assignments"],
        serde_json::json!([])
    );
}

#[test]
fn unknown_staff_or_shift_fails_with_exit_1_and_names_it() {
    let node = museum();
    let line = node.fails(1, &["assign", "nobody", "mon-am-exhibits"]);
    assert!(line.contains("'nobody' does not exist"), "{line}");
    let line = node.fails(1, &["assign", "sarah", "no-shift"]);
    assert!(line.contains("'no-shift' does not exist"), "{line}");
    node.fails(
        1,
        &[
            "staff",
            "add",
            "x",
            "--name",
            "X",
            "--department",
            "nowhere",
        ],
    );
}

#[test]
fn an_end_before_the_start_is_an_overnight_shift() {
    let node = museum();
    let shift = node.json(&["shift", "show", "mon-night"]);
    assert_eq!(shift["shift"]["overnight"], true);
    let text = node.ok(&["shift", "show", "mon-night"]);
    assert!(text.contains("22:00–06:00 (+1 day)"), "{text}");
}

#[test]
fn malformed_dates_times_zones_and_ids_are_usage_errors() {
    let node = museum();
    node.fails(
        2,
        &[
            "shift",
            "add",
            "x",
            "--date",
            "2026-02-30",
            "--start",
            "09:00",
            "--end",
            "10:00",
        ],
    );
    node.fails(
        2,
        &[
            "shift",
            "add",
            "x",
            "--date",
            "2026-11-23",
            "--start",
            "25:00",
            "--end",
            "10:00",
        ],
    );
    node.fails(
        2,
        &[
            "department",
            "add",
            "d",
            "--name",
            "D",
            "--time-zone",
            "Mars/Olympus",
        ],
    );
    node.fails(2, &["staff", "add", "a/b", "--name", "Slash"]);
    node.fails(
        2,
        &[
            "shift",
            "add",
            "x",
            "--date",
            "2026-11-23",
            "--start",
            "09:00",
            "--end",
            "10:00",
            "--capacity",
            "1",
            "--min-staff",
            "2",
        ],
    );
    node.fails(
        2,
        &[
            "availability",
            "add",
            "sarah",
            "--from",
            "2026-11-24T10:00",
            "--to",
            "2026-11-24T09:00",
        ],
    );
    node.fails(2, &["no-such-command"]);
    let fresh = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_shiftmesh"))
        .args(["--data-dir"])
        .arg(fresh.path())
        .args(["init", "--time-zone", "Nowhere/Land"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !fresh.path().join("identity.key").exists(),
        "nothing written"
    );
}

#[test]
fn a_duplicate_id_fails_with_exit_1() {
    let node = museum();
    let line = node.fails(1, &["staff", "add", "sarah", "--name", "Other Sarah"]);
    assert!(line.contains("already exists"), "{line}");
    node.fails(
        1,
        &[
            "shift",
            "add",
            "mon-night",
            "--date",
            "2026-11-24",
            "--start",
            "22:00",
            "--end",
            "06:00",
        ],
    );
}

#[test]
fn availability_is_added_listed_and_removed() {
    let node = museum();
    let added = node.json(&[
        "availability",
        "add",
        "sam",
        "--from",
        "2026-11-24T00:00",
        "--to",
        "2026-11-25T00:00",
        "--kind",
        "leave",
        "--reason",
        "dentist",
    ]);
    let id = added["id"].as_str().unwrap().to_owned();
    assert_eq!(added["from"], "2026-11-24T00:00");
    let list = node.json(&["availability", "list", "--staff", "sam"]);
    assert_eq!(list[0]["kind"], "leave");
    node.fails(
        1,
        &[
            "availability",
            "add",
            "sam",
            "--from",
            "2026-11-24T00:00",
            "--to",
            "2026-11-25T00:00",
            "--kind",
            "leave",
        ],
    );
    node.ok(&["availability", "remove", &id]);
    assert_eq!(node.json(&["availability", "list"]), serde_json::json!([]));
}

/// A command run while another process holds the store (a node loading the schedule before it
/// answers, or another command) says why it waits, and runs once the store is free, instead of
/// failing at once.
#[test]
fn a_command_waits_while_another_process_holds_the_store_then_runs() {
    let node = museum();
    // This test process holds the store open, as a starting node does.
    let held = shiftmesh_store::Store::open(&node.data()).unwrap();
    std::thread::scope(|scope| {
        let command = scope.spawn(|| node.run(&["--json", "staff", "list"]));
        std::thread::sleep(std::time::Duration::from_millis(1_000));
        assert!(
            !command.is_finished(),
            "the command gave up while the store was held"
        );
        drop(held);
        let out = command.join().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(
            stderr.contains("another shiftmesh process is using the store"),
            "{stderr}"
        );
        let staff: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(staff, node.json(&["staff", "list"]));
        assert!(!staff.as_array().unwrap().is_empty());
    });
}

#[test]
fn a_truncated_store_is_reported_and_restore_brings_it_back() {
    let node = museum();
    node.ok(&["assign", "sarah", "mon-am-exhibits"]);
    let db = node.data().join("store/db");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .unwrap()
        .set_len(64)
        .unwrap();
    // The cached index must not hide the damage from a write.
    let line = node.fails(1, &["staff", "add", "tom", "--name", "Tom"]);
    assert!(
        line.contains("damaged") && line.contains("shiftmesh restore"),
        "{line}"
    );
    let copy = node
        .data()
        .join("last-good.automerge")
        .display()
        .to_string();
    node.fails(2, &["restore", &copy]);
    node.ok(&["restore", &copy, "--yes"]);
    let staff = node.json(&["staff", "list"]);
    assert_eq!(
        staff.as_array().unwrap().len(),
        2,
        "every saved edit is back"
    );
    assert_eq!(
        node.json(&["staff", "show", "sarah"])["assignments"][0]["shift"],
        "mon-am-exhibits"
    );
    node.ok(&["staff", "add", "tom", "--name", "Tom"]);
}

#[test]
fn backup_and_merge_bring_two_nodes_together_once() {
    let a = museum();
    let b = Node::new("bob", "back-office");
    // B starts from A's schedule, then both edit independently.
    let a_backup = a.path("a.automerge");
    a.ok(&["backup", &a_backup]);
    let merged = b.json(&["merge", &a_backup]);
    assert!(merged["new_changes"].as_u64().unwrap() > 0);
    a.ok(&["assign", "sarah", "mon-am-exhibits"]);
    b.ok(&["staff", "add", "tom", "--name", "Tom Reed"]);
    b.ok(&["assign", "sam", "mon-night"]);

    let b_backup = b.path("b.automerge");
    b.ok(&["backup", &b_backup]);
    assert!(
        a.json(&["merge", &b_backup])["new_changes"]
            .as_u64()
            .unwrap()
            >= 2
    );
    assert_eq!(
        a.json(&["merge", &b_backup])["new_changes"],
        0,
        "merging twice is a no-op"
    );
    let a_again = a.path("a2.automerge");
    a.ok(&["backup", &a_again]);
    b.ok(&["merge", &a_again]);

    assert_eq!(a.json(&["status"])["heads"], b.json(&["status"])["heads"]);
    let week = ["schedule", "--week", "2026-11-23"];
    assert_eq!(a.json(&week), b.json(&week));
    let history = a.json(&["history", "--limit", "100"]);
    let authors: std::collections::BTreeSet<String> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["author"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        authors.contains(&common::author("alice", "front-desk"))
            && authors.contains(&common::author("bob", "back-office")),
        "{authors:?}"
    );
}

#[test]
fn concurrent_values_of_one_field_survive_merge_and_other_edits() {
    let a = museum();
    let b = Node::new("bob", "back-office");
    let backup = a.path("a.automerge");
    a.ok(&["backup", &backup]);
    b.ok(&["merge", &backup]);
    a.ok(&["shift", "update", "mon-am-exhibits", "--capacity", "3"]);
    b.ok(&["shift", "update", "mon-am-exhibits", "--capacity", "4"]);
    let from_b = b.path("b.automerge");
    b.ok(&["backup", &from_b]);
    a.ok(&["merge", &from_b]);
    a.ok(&["shift", "update", "mon-am-exhibits", "--label", "Morning"]);
    let shown = a.json(&["shift", "show", "mon-am-exhibits"]);
    let values: Vec<&Value> = shown["concurrent"]["capacity"]
        .as_array()
        .expect("both capacities are still in the document")
        .iter()
        .map(|v| &v["value"])
        .collect();
    assert_eq!(values.len(), 2, "{shown}");
    assert!(values.contains(&&serde_json::json!(3)) && values.contains(&&serde_json::json!(4)));
}

#[test]
fn history_shows_who_when_where_and_field_level_changes() {
    let node = museum();
    node.ok(&["shift", "update", "mon-am-exhibits", "--capacity", "4"]);
    let history = node.json(&["history", "--entity", "mon-am-exhibits"]);
    let latest = &history[0];
    assert_eq!(latest["author"], common::author("alice", "front-desk"));
    assert_eq!(latest["node"], "front-desk");
    assert_eq!(latest["message"], "update shift mon-am-exhibits (capacity)");
    assert!(latest["time"].as_str().unwrap().starts_with("20"));
    let diff = &latest["diff"][0];
    assert_eq!(diff["path"], "shifts/mon-am-exhibits/capacity");
    assert_eq!(diff["before"], 2);
    assert_eq!(diff["after"], 4);
    assert_eq!(
        history.as_array().unwrap().len(),
        2,
        "created, then updated"
    );
    assert_eq!(
        node.json(&["history", "--limit", "1"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// The history is recorded in the store as changes are made; after a restore to an earlier
/// backup it lists only what the restored schedule holds, and it names the import that
/// created an entity.
#[test]
fn history_follows_a_restore_and_finds_the_import_that_made_an_entity() {
    let node = museum();
    let backup = node.path("before.automerge");
    node.ok(&["backup", &backup]);
    node.ok(&["shift", "update", "mon-am-exhibits", "--capacity", "5"]);
    let newest = |node: &Node| node.json(&["history", "--limit", "1"])[0]["message"].clone();
    assert_eq!(newest(&node), "update shift mon-am-exhibits (capacity)");
    node.ok(&["restore", &backup, "--yes"]);
    assert_ne!(
        newest(&node),
        "update shift mon-am-exhibits (capacity)",
        "a change the restored schedule does not hold is not listed"
    );
    // An import is one line, found by what it created.
    let dir = Path::new(&node.path("roster")).to_owned();
    generate_small(&dir);
    let mut import = vec!["import", "--format", "csv"];
    let files = csv_files(&dir);
    import.extend(files.iter().map(String::as_str));
    node.ok(&import);
    let shift = std::fs::read_to_string(dir.join("shifts.csv")).unwrap();
    let shift = shift.lines().nth(1).unwrap().split(',').next().unwrap();
    let lines = node.json(&["history", "--entity", shift]);
    assert_eq!(lines.as_array().unwrap().len(), 1, "{lines}");
    assert!(lines[0]["message"].as_str().unwrap().starts_with("import"));
}

fn generate_small(into: &Path) {
    shiftmesh_testdata::generate(shiftmesh_testdata::SMALL, 1)
        .write_csv(into)
        .unwrap();
}

fn csv_files(dir: &Path) -> Vec<String> {
    [
        "departments",
        "staff",
        "shifts",
        "assignments",
        "availability",
    ]
    .iter()
    .map(|n| dir.join(format!("{n}.csv")).display().to_string())
    .collect()
}

#[test]
fn a_csv_export_imports_back_unchanged() {
    let source = Node::new("alice", "front-desk");
    let csv = source.dir.path().join("generated");
    generate_small(&csv);
    let mut args = vec!["import", "--format", "csv"];
    let files = csv_files(&csv);
    args.extend(files.iter().map(String::as_str));
    let imported = source.json(&args);
    assert_eq!(imported["imported"]["staff"], 15);

    let out = source.path("export");
    source.ok(&["export", "--format", "csv", "--out", &out]);
    let copy = Node::new("bob", "back-office");
    let mut args = vec!["import", "--format", "csv"];
    let files = csv_files(Path::new(&out));
    args.extend(files.iter().map(String::as_str));
    copy.ok(&args);
    let strip = |mut v: Value| {
        for a in v["assignments"].as_array_mut().unwrap() {
            a.as_object_mut()
                .unwrap()
                .retain(|k, _| k != "created_at_ms" && k != "created_by");
        }
        v
    };
    assert_eq!(
        strip(source.json(&["export", "--format", "json"])),
        strip(copy.json(&["export", "--format", "json"]))
    );
}

#[test]
fn a_bad_csv_row_is_reported_with_file_and_line_and_nothing_is_written() {
    let node = museum();
    let staff = node.path("staff.csv");
    std::fs::write(
        &staff,
        "id,name,department,skills,max_hours_week\nann,Ann,,guide,38\nbob,Bob,,guide,lots\n",
    )
    .unwrap();
    let line = node.fails(1, &["import", "--format", "csv", &staff]);
    assert!(line.contains("staff.csv:3:"), "{line}");
    assert!(node.json(&["staff", "show", "sarah"]).is_object());
    node.fails(1, &["staff", "show", "ann"]);

    let extra = node.path("extra.csv");
    std::fs::write(&extra, "id,name,time_zone,colour\nd1,D,,red\n").unwrap();
    let line = node.fails(1, &["import", "--format", "csv", &extra]);
    assert!(
        line.contains("extra.csv:1:") && line.contains("colour"),
        "{line}"
    );

    let assignments = node.path("assignments.csv");
    std::fs::write(
        &assignments,
        "staff,shift,role,note\nsarah,mon-am-exhibits,,\nghost,mon-am-exhibits,,\n",
    )
    .unwrap();
    let line = node.fails(1, &["import", "--format", "csv", &assignments]);
    assert!(
        line.contains("assignments.csv:3:") && line.contains("ghost"),
        "{line}"
    );
    assert_eq!(
        node.json(&["staff", "show", "sarah"])["assignments"],
        serde_json::json!([])
    );
}

#[test]
fn ics_export_holds_one_event_per_shift_of_the_person() {
    let node = museum();
    node.ok(&["assign", "sarah", "mon-am-exhibits"]);
    let ics = node.ok(&["export", "--format", "ics", "--staff", "sarah"]);
    assert!(ics.starts_with("BEGIN:VCALENDAR\r\n"));
    assert_eq!(ics.matches("BEGIN:VEVENT").count(), 1);
    // 09:00 in Berlin in November is 08:00 UTC.
    assert!(ics.contains("DTSTART:20261123T080000Z"), "{ics}");
    assert!(ics.lines().all(|l| l.len() <= 76));
    let department = node.ok(&["export", "--format", "ics", "--department", "exhibits"]);
    assert_eq!(department.matches("BEGIN:VEVENT").count(), 1);
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    let node = museum();
    let mut child = Command::new(env!("CARGO_BIN_EXE_shiftmesh"))
        .arg("--data-dir")
        .arg(node.data())
        .args(["schedule", "--month", "2026-11"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn help_explains_with_examples() {
    let out = Command::new(env!("CARGO_BIN_EXE_shiftmesh"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("Examples:") && text.contains("shiftmesh assign sarah"),
        "{text}"
    );
}

#[test]
fn commands_on_an_uninitialised_directory_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_shiftmesh"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["staff", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("shiftmesh init"));
}
