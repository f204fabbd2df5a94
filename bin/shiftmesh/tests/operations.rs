//! Running a node unattended: its settings file and the backups it writes by itself, with the
//! real binary and a real node process.

mod common;

use std::time::Duration;

use common::{wait_until, Node};
use serde_json::Value;

fn backups(node: &Node) -> Vec<Value> {
    node.json(&["backup", "list"])["backups"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// A day compressed into seconds (`every = "1s"`): the node writes a backup once, not again
/// while nothing changes, again after an edit, removes backups older than `keep_days` (never
/// a file of another name), and what it wrote restores.
#[test]
fn a_running_node_backs_up_once_per_interval_only_after_changes_and_prunes_old_ones() {
    let node = Node::new("ana", "office");
    node.ok(&["staff", "add", "kim", "--name", "Kim Ray"]);
    let dir = node.data().join("usb-stick");
    std::fs::create_dir_all(&dir).unwrap();
    // Backups from long ago, and a file that is none of the node's business.
    let old: Vec<_> = ["2019", "2020", "2021"]
        .iter()
        .map(|year| dir.join(format!("shiftmesh-{year}0101T000000Z.automerge")))
        .collect();
    for file in &old {
        node.ok(&["backup", file.to_str().unwrap()]);
    }
    std::fs::write(dir.join("notes.txt"), "keep me").unwrap();
    std::fs::write(
        node.data().join("config.toml"),
        format!(
            "[backup]\nevery = \"1s\"\nkeep_days = 2\ndir = \"{}\"\n",
            dir.display()
        ),
    )
    .unwrap();
    let new_ones = |node: &Node| {
        backups(node)
            .iter()
            .filter(|b| b["time"].as_str().unwrap() > "2022")
            .count()
    };

    let running = node.start(&[]);
    wait_until(
        "the first scheduled backup is written and the oldest removed",
        || new_ones(&node) == 1 && !old[0].exists(),
    );
    // The newest three are kept whatever their age.
    assert!(old[1].exists() && old[2].exists());
    // Three intervals with nothing changed write nothing.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(new_ones(&node), 1, "no change, no new backup");
    node.ok(&["staff", "add", "lee", "--name", "Lee Cho"]);
    wait_until(
        "a backup of the edit is written, and one more old one removed",
        || new_ones(&node) == 2 && !old[1].exists(),
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
        "keep me"
    );
    let list = node.json(&["backup", "list"]);
    assert_eq!(list["keep_days"], 2);
    assert_eq!(list["every"], "1s");
    let newest = list["backups"][0]["path"].as_str().unwrap().to_owned();
    running.stop();

    // The newest backup holds the edit: a schedule restored from it lists both people.
    node.ok(&["staff", "remove", "lee"]);
    node.ok(&["restore", &newest, "--yes"]);
    let staff = node.json(&["staff", "list"]);
    assert_eq!(staff.as_array().unwrap().len(), 2, "{staff}");
}

/// The settings file gives what flags would; a mistake in it stops the node at once with the
/// file, the line and what is wrong, and a flag overrides the file.
#[test]
fn the_settings_file_is_read_checked_and_overridden_by_flags() {
    let node = Node::new("ana", "office");
    let config = node.data().join("config.toml");
    std::fs::write(&config, "mdns = false\nui_listen = \"off\"\n").unwrap();
    let running = node.start(&["--ui-listen", "127.0.0.1:0"]);
    assert!(node.status()["ui"].as_str().is_some(), "the flag wins");
    running.stop();
    let running = node.start(&["--no-ui"]);
    assert_eq!(node.status()["ui"], Value::Null);
    running.stop();

    std::fs::write(&config, "mdns = false\nlisen = []\n").unwrap();
    let error = node.fails(1, &["node", "--no-mdns"]);
    assert!(error.contains("config.toml:2:"), "{error}");
    assert!(error.contains("unknown field `lisen`"), "{error}");
}

/// The checks that need attention, by name, from `doctor --json` (which exits 1 when any does).
fn doctor_warnings(node: &Node) -> Vec<String> {
    doctor_warnings_with_env(node, &[])
}

fn doctor_warnings_with_env(node: &Node, env: &[(&str, &str)]) -> Vec<String> {
    let out = node.run_with_env(&["--json", "doctor"], env);
    let findings: Value = serde_json::from_slice(&out.stdout).unwrap();
    let warnings: Vec<String> = findings
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["warning"] == true)
        .map(|f| {
            format!(
                "{}: {}",
                f["check"].as_str().unwrap(),
                f["what"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(out.status.success(), warnings.is_empty(), "{warnings:?}");
    warnings
}

fn with_backups_every(node: &Node, every: &str) {
    std::fs::write(
        node.data().join("config.toml"),
        format!("[backup]\nevery = \"{every}\"\n"),
    )
    .unwrap();
}

/// `doctor` is quiet on a healthy site of two machines, then finds each planted problem: a
/// file other users can read, a peer whose clock is two hours off, and (asked with its clock
/// two days on) a member silent for two days and a backup older than its schedule allows.
/// `status` shows the same warnings.
#[test]
fn doctor_is_quiet_on_a_healthy_machine_and_finds_each_planted_problem() {
    let (a, running_a) = common::founder();
    with_backups_every(&a, "2s");
    running_a.stop();
    let running_a = a.start(&[]);
    let (b, running_b) = common::join("bob", "node-b", &a);
    wait_until("both machines are connected", || {
        common::converged(&[&a, &b]) && a.status()["peers"][0]["connected"] == true
    });
    wait_until("the first scheduled backup is written", || {
        !a.json(&["backup", "list"])["backups"]
            .as_array()
            .unwrap()
            .is_empty()
    });
    assert_eq!(
        doctor_warnings(&a),
        Vec::<String>::new(),
        "a healthy machine"
    );

    // Someone opens the schedule to every user of the machine while the node runs.
    let node_json = a.data().join("node.json");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&node_json, std::fs::Permissions::from_mode(0o644)).unwrap();
    let warnings = doctor_warnings(&a);
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("permissions:") && w.contains("node.json")),
        "{warnings:?}"
    );
    let status = a.json(&["status"]);
    assert!(
        status["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["check"] == "permissions"),
        "status shows it too: {status}"
    );
    std::fs::set_permissions(&node_json, std::fs::Permissions::from_mode(0o600)).unwrap();

    // B's clock runs two hours fast: B's doctor sees A's clock two hours behind its own.
    running_b.stop();
    let running_b = b.start_with_env(
        &["--peer", &a.address()],
        &[("SHIFTMESH_CLOCK_SKEW_SECS", "7200")],
    );
    wait_until("B compared clocks with A", || {
        b.status()["peers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["clock_offset_ms"].as_i64().is_some())
    });
    let warnings = doctor_warnings(&b);
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("clock:") && w.contains("node-a") && w.contains("behind")),
        "{warnings:?}"
    );
    running_b.stop();
    running_a.stop();

    // Two days later, nothing heard from B, and edits since the last backup.
    a.ok(&["staff", "add", "zoe", "--name", "Zoe Hart"]);
    let two_days_later = [("SHIFTMESH_CLOCK_SKEW_SECS", "172800")];
    let warnings = doctor_warnings_with_env(&a, &two_days_later);
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("peers:") && w.contains("node-b") && w.contains("2 day")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("backups:") && w.contains("old")),
        "{warnings:?}"
    );
}

/// `service install --user` writes a user unit that runs this binary on this data directory;
/// where no systemd user manager runs (CI), it says so in one line and how to start it later;
/// `status` and `uninstall` find the unit. (Where a user manager runs, the real install is left
/// to a person: a test does not install services on a developer's machine.)
#[test]
fn service_install_writes_a_user_unit_that_status_and_uninstall_find() {
    let manager = std::process::Command::new("systemctl")
        .args(["--user", "is-system-running"])
        .output();
    if manager.is_ok_and(|o| !o.stdout.is_empty() && !o.stdout.starts_with(b"offline")) {
        eprintln!("a systemd user manager runs here; not installing a service on this machine");
        return;
    }
    let node = Node::new("ana", "office");
    let config = node.data().join("xdg-config");
    let env = [("XDG_CONFIG_HOME", config.to_str().unwrap())];
    let install = node.run_with_env(&["service", "install", "--user"], &env);
    let unit = config.join("systemd/user/shiftmesh.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(
        text.contains(&format!(
            "ExecStart=\"{}\" --data-dir \"{}\" node",
            env!("CARGO_BIN_EXE_shiftmesh"),
            node.data().display()
        )),
        "{text}"
    );
    assert!(text.contains("Type=notify"));
    assert_eq!(install.status.code(), Some(1), "{install:?}");
    let error = String::from_utf8_lossy(&install.stderr);
    assert_eq!(error.trim_end().lines().count(), 1, "{error}");
    assert!(error.contains("enable --now shiftmesh"), "{error}");
    let status = node.run_with_env(&["--json", "service", "status", "--user"], &env);
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["installed"], true);
    let out = node.run_with_env(&["service", "uninstall", "--user"], &env);
    assert!(out.status.success(), "{out:?}");
    assert!(!unit.exists());
    assert!(node.data().join("node.json").exists(), "the data stays");
}
