//! Other Automerge writers: what the reference JavaScript library writes when a script edits a
//! backup the ordinary way (strings as text objects, numbers as floats, whole collections
//! replaced, fields missing), built here with the `automerge` crate, then merged with the real
//! binary. Nothing that can be read is hidden; what cannot be read is reported as
//! `unreadable-field`, never blamed on another entity; every node with the same heads reports
//! the same conflicts as a fresh load.

mod common;

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ObjId, ObjType, ReadDoc, ScalarValue, ROOT};
use common::Node;
use serde_json::Value;

/// A node with a small schedule: sarah on mon-night, sam, and mon-am.
fn museum() -> Node {
    let a = Node::new("alice", "front-desk");
    a.ok(&[
        "staff",
        "add",
        "sarah",
        "--name",
        "Sarah Lee",
        "--skill",
        "guide",
    ]);
    a.ok(&["staff", "add", "sam", "--name", "Sam Park"]);
    for (id, start, end) in [
        ("mon-night", "22:00", "06:00"),
        ("mon-am", "09:00", "13:00"),
    ] {
        a.ok(&[
            "shift",
            "add",
            id,
            "--date",
            "2026-11-23",
            "--start",
            start,
            "--end",
            end,
            "--capacity",
            "2",
            "--min-staff",
            "1",
        ]);
    }
    a.ok(&["assign", "sarah", "mon-night"]);
    a
}

/// Loads `node`'s backup, lets `write` edit it as another Automerge program would (its own
/// actor, author `js@laptop`), and returns the file holding the result.
fn foreign_backup(node: &Node, name: &str, write: impl FnOnce(&mut AutoCommit)) -> String {
    let backup = node.path(&format!("{name}-before.automerge"));
    node.ok(&["backup", &backup]);
    let mut doc = AutoCommit::load(&std::fs::read(&backup).unwrap())
        .unwrap()
        .with_actor(ActorId::random());
    doc.set_author(Some(automerge::Author::from(b"js@laptop".to_vec())));
    write(&mut doc);
    doc.commit();
    let path = node.path(&format!("{name}.automerge"));
    std::fs::write(&path, doc.save()).unwrap();
    path
}

/// A map by its root key, the way a script reaches `doc.staff`.
fn at_root(doc: &AutoCommit, key: &str) -> ObjId {
    doc.get(ROOT, key).unwrap().unwrap().1
}

fn entity(doc: &AutoCommit, collection: &str, key: &str) -> ObjId {
    let coll = at_root(doc, collection);
    doc.get(&coll, key).unwrap().unwrap().1
}

/// `doc.x.y = "text"` as Automerge JS 3 writes a string: a text object.
fn put_text(doc: &mut AutoCommit, obj: &ObjId, key: &str, text: &str) {
    let t = doc.put_object(obj, key, ObjType::Text).unwrap();
    doc.splice_text(&t, 0, 0, text).unwrap();
}

fn of_kind<'a>(conflicts: &'a Value, kind: &str) -> Vec<&'a Value> {
    conflicts
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == kind)
        .collect()
}

/// Every node with these heads, loaded fresh, reports the same conflicts: the merging node's
/// kept index and validation equal a fresh load of the same document.
fn agrees_with_a_fresh_load(node: &Node) {
    let merged = node.json(&["conflicts"]);
    let copy = Node::new("carol", "fresh");
    let backup = node.path("for-fresh.automerge");
    node.ok(&["backup", &backup]);
    copy.ok(&["restore", &backup, "--yes"]);
    assert_eq!(copy.json(&["conflicts"]), merged, "a fresh load agrees");
    assert_eq!(
        copy.json(&["staff", "list"]),
        node.json(&["staff", "list"]),
        "a fresh load lists the same staff"
    );
}

#[test]
fn a_staff_member_added_by_automerge_js_with_a_text_name_is_shown() {
    let a = museum();
    let file = foreign_backup(&a, "js-staff", |doc| {
        let staff = at_root(doc, "staff");
        let jo = doc.put_object(&staff, "jo", ObjType::Map).unwrap();
        put_text(doc, &jo, "name", "Jo Kim");
        put_text(doc, &jo, "skills", "guide");
        doc.put(&jo, "active", true).unwrap();
        // A label edited from JavaScript is a text object too.
        let night = entity(doc, "shifts", "mon-night");
        put_text(doc, &night, "label", "Night watch");
    });
    a.ok(&["merge", &file]);
    let shown = a.ok(&["staff", "show", "jo"]);
    assert!(shown.contains("Jo Kim"), "{shown}");
    let jo = a.json(&["staff", "show", "jo"]);
    assert_eq!(jo["staff"]["name"], "Jo Kim");
    assert_eq!(jo["staff"]["skills"], serde_json::json!(["guide"]));
    let night = a.json(&["shift", "show", "mon-night"]);
    assert_eq!(night["shift"]["label"], "Night watch");
    let conflicts = a.json(&["conflicts"]);
    assert!(
        of_kind(&conflicts, "unreadable-field").is_empty(),
        "{conflicts:#}"
    );
    agrees_with_a_fresh_load(&a);
}

#[test]
fn fields_of_the_wrong_type_or_range_leave_the_entity_visible_and_are_reported() {
    let a = museum();
    let file = foreign_backup(&a, "js-types", |doc| {
        let night = entity(doc, "shifts", "mon-night");
        doc.put(&night, "time", 12345).unwrap();
        let am = entity(doc, "shifts", "mon-am");
        doc.put(&am, "capacity", 1.5).unwrap();
        doc.put(&am, "min_staff", -3).unwrap();
        let sam = entity(doc, "staff", "sam");
        doc.delete(&sam, "name").unwrap();
        let sarah = entity(doc, "staff", "sarah");
        doc.put(&sarah, "max_minutes_week", "garbage").unwrap();
    });
    a.ok(&["merge", &file]);
    let conflicts = a.json(&["conflicts"]);
    assert!(
        of_kind(&conflicts, "dangling-reference").is_empty(),
        "a damaged shift is no reason to call its assignment dangling: {conflicts:#}"
    );
    let unreadable = of_kind(&conflicts, "unreadable-field");
    let fields: Vec<(String, String)> = unreadable
        .iter()
        .map(|c| {
            (
                c["entity"].as_str().unwrap().to_owned(),
                c["field"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for expected in [
        ("shifts/mon-night", "time"),
        ("shifts/mon-am", "capacity"),
        ("shifts/mon-am", "min_staff"),
        ("staff/sam", "name"),
        ("staff/sarah", "max_minutes_week"),
    ] {
        assert!(
            fields.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{expected:?} reported: {fields:?}"
        );
    }
    let time = unreadable.iter().find(|c| c["field"] == "time").unwrap();
    assert_eq!(time["severity"], "error");
    assert_eq!(time["values"][0]["value"], 12345);
    assert_eq!(time["values"][0]["author"], "js@laptop");
    assert!(time["message"].as_str().unwrap().contains("12345"));
    // No option offered anywhere removes a valid assignment.
    for c in conflicts.as_array().unwrap() {
        for option in c["options"].as_array().unwrap() {
            let id = option["id"].as_str().unwrap();
            if c["assignments"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k == "mon-night/sarah")
            {
                assert!(
                    ![
                        "remove-assignment",
                        "mark-uncovered",
                        "keep-first",
                        "keep-second"
                    ]
                    .contains(&id),
                    "{c:#}"
                );
            }
        }
    }
    // Everything stays visible: the shift without a time is listed and marked.
    let listed = a.ok(&["shift", "list"]);
    assert!(listed.contains("mon-night"), "{listed}");
    assert!(listed.contains("damaged"), "{listed}");
    let staff = a.json(&["staff", "list"]);
    let ids: Vec<&str> = staff
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"sam") && ids.contains(&"sarah"), "{staff:#}");
    agrees_with_a_fresh_load(&a);

    // restore-value brings back the last readable time; the assignment was never touched.
    let id = time["id"].as_str().unwrap();
    a.ok(&["resolve", id, "restore-value"]);
    let night = a.json(&["shift", "show", "mon-night"]);
    assert_eq!(night["shift"]["start"], "22:00");
    assert_eq!(night["shift"]["end"], "06:00");
    assert_eq!(
        night["shift"]["assigned"],
        serde_json::json!(["sarah"]),
        "{night:#}"
    );
    // edit sets a new value, checked like any input.
    let capacity = unreadable
        .iter()
        .find(|c| c["field"] == "capacity")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = a.fails(1, &["resolve", &capacity, "edit", "--value", "0"]);
    assert!(refused.contains("capacity"), "{refused}");
    a.ok(&["resolve", &capacity, "edit", "--value", "3"]);
    assert_eq!(a.json(&["shift", "show", "mon-am"])["shift"]["capacity"], 3);
}

#[test]
fn a_whole_number_stored_as_a_float_is_read_as_that_number() {
    let a = museum();
    let file = foreign_backup(&a, "js-float", |doc| {
        let am = entity(doc, "shifts", "mon-am");
        doc.put(&am, "capacity", ScalarValue::F64(3.0)).unwrap();
    });
    a.ok(&["merge", &file]);
    assert_eq!(a.json(&["shift", "show", "mon-am"])["shift"]["capacity"], 3);
    assert!(of_kind(&a.json(&["conflicts"]), "unreadable-field").is_empty());
}

#[test]
fn a_replaced_collection_is_reported_and_read_the_same_by_every_node() {
    let a = museum();
    let file = foreign_backup(&a, "js-replace", |doc| {
        // doc.staff = {}; doc.staff.jo = {...}
        let rival = doc.put_object(ROOT, "staff", ObjType::Map).unwrap();
        let jo = doc.put_object(&rival, "jo", ObjType::Map).unwrap();
        doc.put(&jo, "name", "Jo Kim").unwrap();
    });
    a.ok(&["merge", &file]);
    // shiftmesh keeps its own staff.
    assert!(a.ok(&["staff", "show", "sarah"]).contains("Sarah Lee"));
    let conflicts = a.json(&["conflicts"]);
    let rival = of_kind(&conflicts, "rival-collection");
    assert_eq!(rival.len(), 1, "{conflicts:#}");
    assert!(rival[0]["message"].as_str().unwrap().contains("jo"));
    agrees_with_a_fresh_load(&a);
    // Adopting copies jo in and settles the warning.
    let id = rival[0]["id"].as_str().unwrap().to_owned();
    a.ok(&["resolve", &id, "adopt"]);
    assert!(a.ok(&["staff", "show", "jo"]).contains("Jo Kim"));
    assert!(of_kind(&a.json(&["conflicts"]), "rival-collection").is_empty());
}

#[test]
fn concurrent_site_settings_and_one_id_created_twice_are_reported_and_settled() {
    let a = museum();
    let b = Node::new("bob", "back-office");
    let backup = a.path("start.automerge");
    a.ok(&["backup", &backup]);
    b.ok(&["merge", &backup]);
    // Two writers rename the site at once (each from the same heads)...
    let renames: Vec<String> = [
        ("north", "City Museum (north)"),
        ("south", "City Museum (south)"),
    ]
    .into_iter()
    .map(|(name, value)| foreign_backup(&a, name, |doc| doc.put(ROOT, "site_name", value).unwrap()))
    .collect();
    for file in &renames {
        a.ok(&["merge", file]);
    }
    // ...and both machines create the same person, offline.
    a.ok(&["staff", "add", "jo", "--name", "Jo Kim"]);
    b.ok(&["staff", "add", "jo", "--name", "Jo Lee", "--skill", "guide"]);
    common::sync(&a, &b);
    let conflicts = a.json(&["conflicts"]);
    assert_eq!(conflicts, b.json(&["conflicts"]));
    let site = of_kind(&conflicts, "concurrent-edit")
        .into_iter()
        .find(|c| c["entity"] == "site")
        .unwrap_or_else(|| panic!("site name conflict: {conflicts:#}"))
        .clone();
    assert_eq!(site["field"], "site_name");
    let created = of_kind(&conflicts, "concurrent-create");
    assert_eq!(created.len(), 1, "{conflicts:#}");
    assert_eq!(created[0]["entity"], "staff/jo");
    assert_eq!(created[0]["values"].as_array().unwrap().len(), 2);
    let created_id = created[0]["id"].as_str().unwrap().to_owned();
    a.ok(&[
        "resolve",
        site["id"].as_str().unwrap(),
        "pick-value",
        "--value",
        "City Museum (north)",
    ]);
    // Keep bob's version (with the skill), by its author.
    a.ok(&[
        "resolve",
        &created_id,
        "keep-version",
        "--value",
        "bob@back-office",
    ]);
    common::sync(&a, &b);
    for node in [&a, &b] {
        let left = node.json(&["conflicts"]);
        assert!(of_kind(&left, "concurrent-create").is_empty(), "{left:#}");
        assert!(
            !of_kind(&left, "concurrent-edit")
                .iter()
                .any(|c| c["entity"] == "site"),
            "{left:#}"
        );
        let jo = node.json(&["staff", "show", "jo"]);
        assert_eq!(jo["staff"]["name"], "Jo Lee");
        assert_eq!(jo["staff"]["skills"], serde_json::json!(["guide"]));
        assert!(node.ok(&["status"]).contains("City Museum (north)"));
    }
}

/// The command line refuses a name of 100 KB or a label with a terminal escape; a peer or
/// another program could write them anyway. Text over the length limit reads as its fallback
/// and is reported, without reprinting it whole; a terminal escape stays readable but never
/// reaches the terminal.
#[test]
fn text_over_the_limits_from_another_writer_is_reported_and_escapes_never_printed() {
    let a = museum();
    let escape = "\u{1b}[2J\u{1b}[31mNight";
    let file = foreign_backup(&a, "js-long", |doc| {
        let sam = entity(doc, "staff", "sam");
        doc.put(&sam, "name", "S".repeat(100 * 1024)).unwrap();
        let night = entity(doc, "shifts", "mon-night");
        doc.put(&night, "label", escape).unwrap();
    });
    a.ok(&["merge", &file]);
    let sam = a.json(&["staff", "show", "sam"]);
    assert!(sam["staff"]["name"].as_str().unwrap().len() < 1024, "{sam}");
    let night = a.json(&["shift", "show", "mon-night"]);
    assert_eq!(night["shift"]["label"], escape, "readable, not hidden");
    let shown = a.ok(&["shift", "show", "mon-night"]);
    assert!(!shown.contains('\u{1b}'), "{shown:?}");
    assert!(shown.contains("\\u{1b}[2J"), "{shown:?}");
    let conflicts = a.json(&["conflicts"]);
    let unreadable = of_kind(&conflicts, "unreadable-field");
    let fields: Vec<&str> = unreadable
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name"]);
    let message = unreadable[0]["message"].as_str().unwrap();
    assert!(message.len() < 2048, "a message of {} bytes", message.len());
    agrees_with_a_fresh_load(&a);
}
