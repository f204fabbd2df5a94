//! The product's acceptance stories 1–5, each on separate data directories joined by `backup`
//! and `merge` (the network comes with the node), through the real binary.

mod common;

use common::{sync, Node};
use serde_json::Value;

/// Nodes that start from one shared schedule: staff, and shifts that need nobody (so only the
/// conflicts a story makes appear).
fn site(names: &[(&'static str, &'static str)]) -> Vec<Node> {
    let first = Node::new(names[0].0, names[0].1);
    for (id, name) in [
        ("sarah", "Sarah Lee"),
        ("sam", "Sam Park"),
        ("tom", "Tom Reed"),
        ("ivy", "Ivy Chen"),
    ] {
        first.ok(&["staff", "add", id, "--name", name, "--skill", "guide"]);
    }
    for (id, date, start, end, capacity) in [
        ("mon-am-exhibits", "2026-11-23", "09:00", "13:00", "2"),
        ("mon-am-education", "2026-11-23", "09:00", "12:00", "2"),
        ("tue-am", "2026-11-24", "09:00", "13:00", "1"),
        ("tue-pm", "2026-11-24", "14:00", "18:00", "2"),
        ("wed-desk", "2026-11-25", "09:00", "17:00", "2"),
    ] {
        first.ok(&[
            "shift",
            "add",
            id,
            "--date",
            date,
            "--start",
            start,
            "--end",
            end,
            "--capacity",
            capacity,
            "--min-staff",
            "0",
        ]);
    }
    let mut nodes = vec![first];
    for (user, name) in &names[1..] {
        let node = Node::new(user, name);
        sync(&nodes[0], &node);
        nodes.push(node);
    }
    nodes
}

fn conflicts(node: &Node) -> Vec<Value> {
    node.json(&["conflicts"]).as_array().unwrap().clone()
}

fn only(node: &Node, kind: &str) -> Value {
    let list = conflicts(node);
    let of_kind: Vec<&Value> = list.iter().filter(|c| c["kind"] == kind).collect();
    assert_eq!(of_kind.len(), 1, "exactly one {kind}: {list:?}");
    of_kind[0].clone()
}

#[test]
fn story_1_conflict_after_merge_is_resolved_on_one_node_and_gone_on_both() {
    let nodes = site(&[("alice", "node-a"), ("bob", "node-b")]);
    let (a, b) = (&nodes[0], &nodes[1]);
    a.ok(&["assign", "sarah", "mon-am-exhibits"]);
    b.ok(&["assign", "sarah", "mon-am-education"]);
    sync(a, b);
    let on_a = only(a, "double-booking");
    let on_b = only(b, "double-booking");
    assert_eq!(on_a["id"], on_b["id"], "the same id on both nodes");
    assert_eq!(conflicts(a), conflicts(b), "byte-identical lists");
    assert_eq!(
        on_a["message"],
        "sarah is booked into mon-am-exhibits and mon-am-education, which overlap 09:00–12:00"
    );
    assert_eq!(on_a["severity"], "error");
    let id = on_a["id"].as_str().unwrap();
    b.ok(&["resolve", id, "keep-first"]);
    sync(a, b);
    assert!(conflicts(a).is_empty() && conflicts(b).is_empty());
    let kept = a.json(&["staff", "show", "sarah"]);
    assert_eq!(kept["assignments"].as_array().unwrap().len(), 1);
    assert_eq!(
        kept["assignments"][0]["shift"], "mon-am-exhibits",
        "the assignment made first remains"
    );
}

#[test]
fn story_2_capacity_on_three_nodes_keeps_the_two_created_first() {
    let nodes = site(&[("alice", "node-a"), ("bob", "node-b"), ("carol", "node-c")]);
    nodes[0].ok(&["assign", "sarah", "wed-desk"]);
    nodes[1].ok(&["assign", "sam", "wed-desk"]);
    nodes[2].ok(&["assign", "tom", "wed-desk"]);
    sync(&nodes[0], &nodes[1]);
    sync(&nodes[1], &nodes[2]);
    sync(&nodes[0], &nodes[1]);
    let ids: Vec<Value> = nodes
        .iter()
        .map(|n| only(n, "capacity-exceeded")["id"].clone())
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]));
    nodes[2].ok(&["resolve", ids[0].as_str().unwrap(), "remove-excess"]);
    sync(&nodes[2], &nodes[1]);
    sync(&nodes[1], &nodes[0]);
    for node in &nodes {
        assert!(conflicts(node).is_empty());
        let shift = node.json(&["shift", "show", "wed-desk"]);
        assert_eq!(
            shift["shift"]["assigned"],
            serde_json::json!(["sam", "sarah"])
        );
    }
}

#[test]
fn story_3_leave_against_an_offline_assignment_offers_only_free_substitutes() {
    let nodes = site(&[("alice", "node-a"), ("bob", "node-b")]);
    let (a, b) = (&nodes[0], &nodes[1]);
    // tom is busy on Tuesday morning; ivy lacks nothing and is free.
    a.ok(&["assign", "tom", "tue-pm"]);
    a.ok(&[
        "shift",
        "add",
        "tue-meeting",
        "--date",
        "2026-11-24",
        "--start",
        "08:00",
        "--end",
        "12:00",
        "--min-staff",
        "0",
    ]);
    a.ok(&["assign", "tom", "tue-meeting"]);
    a.ok(&[
        "availability",
        "add",
        "sam",
        "--from",
        "2026-11-24T00:00",
        "--to",
        "2026-11-25T00:00",
        "--kind",
        "leave",
    ]);
    b.ok(&["assign", "sam", "tue-am"]);
    sync(a, b);
    let conflict = only(a, "staff-unavailable");
    assert_eq!(conflict["id"], only(b, "staff-unavailable")["id"]);
    let id = conflict["id"].as_str().unwrap();
    let shown = a.json(&["conflicts", "show", id]);
    let offered: Vec<&str> = shown["candidates"]["staff"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["staff"].as_str().unwrap())
        .collect();
    assert_eq!(
        offered,
        ["ivy", "sarah"],
        "free people only, tom is busy and sam is on leave"
    );
    let line = a.fails(1, &["resolve", id, "find-substitute", "--staff", "tom"]);
    assert!(line.contains("busy with tue-meeting"), "{line}");
    a.ok(&["resolve", id, "find-substitute", "--staff", "ivy"]);
    sync(a, b);
    assert!(conflicts(b)
        .iter()
        .all(|c| c["kind"] != "staff-unavailable"));
    assert_eq!(
        b.json(&["shift", "show", "tue-am"])["shift"]["assigned"],
        serde_json::json!(["ivy"])
    );
}

#[test]
fn story_4_delete_versus_assign_is_a_dangling_reference_on_both() {
    let nodes = site(&[("alice", "node-a"), ("bob", "node-b")]);
    let (a, b) = (&nodes[0], &nodes[1]);
    a.ok(&["shift", "remove", "tue-pm"]);
    b.ok(&["assign", "tom", "tue-pm"]);
    sync(a, b);
    let on_a = only(a, "dangling-reference");
    assert_eq!(on_a, only(b, "dangling-reference"));
    assert_eq!(
        on_a["assignments"],
        serde_json::json!(["tue-pm/tom"]),
        "nothing silently dropped"
    );
    let options: Vec<&str> = on_a["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(options, ["remove-assignment", "restore"]);
}

#[test]
fn story_5_same_field_two_values_shows_both_and_pick_value_settles_it() {
    let nodes = site(&[("alice", "node-a"), ("bob", "node-b")]);
    let (a, b) = (&nodes[0], &nodes[1]);
    a.ok(&["shift", "update", "wed-desk", "--capacity", "3"]);
    b.ok(&["shift", "update", "wed-desk", "--capacity", "4"]);
    sync(a, b);
    let capacity = |n: &Node| n.json(&["shift", "show", "wed-desk"])["shift"]["capacity"].clone();
    assert_eq!(capacity(a), capacity(b), "the same winner on both");
    let conflict = only(a, "concurrent-edit");
    assert_eq!(conflict, only(b, "concurrent-edit"));
    let written: Vec<(Value, Value)> = conflict["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["value"].clone(), v["author"].clone()))
        .collect();
    assert_eq!(
        written,
        [
            (3.into(), common::author("alice", "node-a").into()),
            (4.into(), common::author("bob", "node-b").into())
        ]
    );
    a.fails(
        1,
        &[
            "resolve",
            conflict["id"].as_str().unwrap(),
            "pick-value",
            "--value",
            "5",
        ],
    );
    a.ok(&[
        "resolve",
        conflict["id"].as_str().unwrap(),
        "pick-value",
        "--value",
        "4",
    ]);
    sync(a, b);
    assert!(conflicts(a).is_empty() && conflicts(b).is_empty());
    assert_eq!(capacity(b), 4);
}

#[test]
fn resolve_refuses_unknown_conflicts_and_options_and_writes_nothing() {
    let nodes = site(&[("alice", "node-a")]);
    let a = &nodes[0];
    a.ok(&["assign", "sarah", "mon-am-exhibits"]);
    a.ok(&["assign", "sarah", "mon-am-education"]);
    let id = only(a, "double-booking")["id"].as_str().unwrap().to_owned();
    let heads = a.json(&["status"])["heads"].clone();
    let line = a.fails(1, &["resolve", "c-0000000000000000", "keep-first"]);
    assert!(line.contains("there is no conflict"), "{line}");
    let line = a.fails(1, &["resolve", &id, "increase-capacity", "--value", "9"]);
    assert!(
        line.contains("not an option") && line.contains("keep-first"),
        "{line}"
    );
    let line = a.fails(1, &["ack", &id]);
    assert!(line.contains("cannot be acknowledged"), "{line}");
    let line = a.fails(1, &["resolve", &id, "find-substitute", "--staff", "sarah"]);
    assert!(line.contains("part of this conflict"), "{line}");
    assert_eq!(a.json(&["status"])["heads"], heads, "nothing written");
    assert_eq!(a.json(&["status"])["conflicts"], 1);
}

#[test]
fn assign_check_lists_what_would_follow_and_writes_nothing() {
    let nodes = site(&[("alice", "node-a")]);
    let a = &nodes[0];
    a.ok(&["assign", "sarah", "mon-am-exhibits"]);
    let heads = a.json(&["status"])["heads"].clone();
    let out = a.run(&["--json", "assign", "sarah", "mon-am-education", "--check"]);
    assert_eq!(out.status.code(), Some(1), "an error would follow");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["written"], false);
    assert_eq!(report["conflicts"][0]["kind"], "double-booking");
    assert_eq!(a.json(&["status"])["heads"], heads, "nothing written");
    let fine = a.json(&["assign", "sam", "mon-am-education", "--check"]);
    assert_eq!(fine["conflicts"], serde_json::json!([]));
    let real = a.json(&["assign", "sarah", "mon-am-education"]);
    assert_eq!(
        real["conflicts"][0]["kind"], "double-booking",
        "assign reports what it caused"
    );
}

#[test]
fn an_acknowledged_warning_comes_back_when_its_data_changes() {
    let nodes = site(&[("alice", "node-a")]);
    let a = &nodes[0];
    a.ok(&["shift", "update", "tue-am", "--min-staff", "1"]);
    let id = only(a, "understaffed")["id"].as_str().unwrap().to_owned();
    a.ok(&["ack", &id, "--note", "closed that morning"]);
    assert!(conflicts(a).is_empty());
    assert!(a.ok(&["conflicts"]).contains("1 acknowledged"));
    a.ok(&["shift", "update", "tue-am", "--start", "10:00"]);
    assert_eq!(
        only(a, "understaffed")["id"],
        id.as_str(),
        "the acknowledgement lapsed"
    );
}
