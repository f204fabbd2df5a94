//! Exports that read back and follow their standards: CSV round-trips free text of every
//! character class by one rule for line breaks, import errors name the right line whatever the
//! line endings, and iCalendar escapes text, names the site in its UIDs, carries the role and
//! note, and places shifts whose local times fall in a DST gap honestly.

mod common;

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ReadDoc, ROOT};
use common::Node;
use serde_json::Value;

/// Text of every printable and whitespace class a person may type: ASCII punctuation that CSV
/// and iCalendar treat specially, letters with diacritics, CJK, right-to-left script, an emoji
/// with a joiner, a combining mark, non-breaking and other Unicode spaces, the Unicode line and
/// paragraph separators, and leading and trailing spaces.
const ONE_LINE: &str =
    " \"Quoted\", semi;colon \\back\\slash 'single' Ünïcödé 東京 שלום 👩‍⚕️ e\u{301} a\u{a0}b\u{2003}c\u{2028}d\u{2029}e ";
/// The same, plus what only multi-line text holds: tabs and line breaks (CRLF typed on
/// another machine is stored as LF).
const MULTI_LINE: &str = " first line\tcolumn\nsecond, \"line\"\n\nfourth\u{a0}; end ";

fn entities(node: &Node) -> Value {
    let mut all = node.json(&["export", "--format", "json"]);
    // An import records who imported and when; the rest must be what was exported.
    for a in all["assignments"].as_array_mut().unwrap() {
        a.as_object_mut().unwrap().remove("created_at_ms");
        a.as_object_mut().unwrap().remove("created_by");
    }
    all
}

#[test]
fn free_text_of_every_class_exports_to_csv_and_imports_back_unchanged() {
    let a = Node::new("alice", "front-desk");
    a.ok(&["department", "add", "exhibits", "--name", ONE_LINE]);
    a.ok(&[
        "staff",
        "add",
        "sam",
        "--name",
        ONE_LINE,
        "--department",
        "exhibits",
    ]);
    a.ok(&[
        "shift",
        "add",
        "mon-am",
        "--date",
        "2026-11-23",
        "--start",
        "09:00",
        "--end",
        "13:00",
        "--label",
        ONE_LINE,
    ]);
    a.ok(&[
        "assign", "sam", "mon-am", "--role", ONE_LINE, "--note", MULTI_LINE,
    ]);
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
        "--reason",
        "dentist\r\nthen rest",
    ]);
    let dir = a.path("export");
    let out = a.run(&["export", "--format", "csv", "--out", &dir]);
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "nothing needed replacing: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let b = Node::new("bob", "back-office");
    let files: Vec<String> = [
        "departments",
        "staff",
        "shifts",
        "assignments",
        "availability",
    ]
    .iter()
    .map(|f| format!("{dir}/{f}.csv"))
    .collect();
    let mut args = vec!["import", "--format", "csv"];
    args.extend(files.iter().map(String::as_str));
    b.ok(&args);
    let (exported, imported) = (entities(&a), entities(&b));
    for collection in [
        "departments",
        "staff",
        "shifts",
        "assignments",
        "availability",
    ] {
        assert_eq!(imported[collection], exported[collection], "{collection}");
    }
    assert_eq!(exported["assignments"][0]["note"], MULTI_LINE);
    assert_eq!(exported["availability"][0]["reason"], "dentist\nthen rest");
}

#[test]
fn text_the_import_refuses_is_written_so_that_it_imports_and_the_export_says_so() {
    let a = Node::new("alice", "front-desk");
    a.ok(&["staff", "add", "sam", "--name", "Sam Park"]);
    a.ok(&[
        "shift",
        "add",
        "mon-am",
        "--date",
        "2026-11-23",
        "--start",
        "09:00",
        "--end",
        "13:00",
    ]);
    a.ok(&["assign", "sam", "mon-am"]);
    // Another program writes a name over two lines, a bell in a label, a CR in a note.
    let backup = a.path("before.automerge");
    a.ok(&["backup", &backup]);
    let mut doc = AutoCommit::load(&std::fs::read(&backup).unwrap())
        .unwrap()
        .with_actor(ActorId::random());
    let get = |doc: &AutoCommit, c: &str, k: &str| {
        let coll = doc.get(ROOT, c).unwrap().unwrap().1;
        doc.get(&coll, k).unwrap().unwrap().1
    };
    let sam = get(&doc, "staff", "sam");
    doc.put(&sam, "name", "Sam\nPark").unwrap();
    let shift = get(&doc, "shifts", "mon-am");
    doc.put(&shift, "label", "ring\u{7}bell").unwrap();
    let assignment = get(&doc, "assignments", "mon-am/sam");
    doc.put(&assignment, "note", "one\rtwo").unwrap();
    doc.commit();
    let edited = a.path("edited.automerge");
    std::fs::write(&edited, doc.save()).unwrap();
    a.ok(&["merge", &edited]);
    let dir = a.path("export");
    let out = a.run(&["export", "--format", "csv", "--out", &dir]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("3 value(s)"), "{stderr}");
    let b = Node::new("bob", "back-office");
    b.ok(&[
        "import",
        "--format",
        "csv",
        &format!("{dir}/staff.csv"),
        &format!("{dir}/shifts.csv"),
        &format!("{dir}/assignments.csv"),
    ]);
    assert_eq!(
        b.json(&["staff", "show", "sam"])["staff"]["name"],
        "Sam Park"
    );
    assert_eq!(
        b.json(&["shift", "show", "mon-am"])["shift"]["label"],
        "ring bell"
    );
    let note = &b.json(&["staff", "show", "sam"])["assignments"][0]["note"];
    assert_eq!(note, "one\ntwo");
}

#[test]
fn import_errors_name_the_right_line_with_lf_crlf_or_a_byte_order_mark() {
    let a = Node::new("alice", "front-desk");
    let header = "id,name,department,skills,max_hours_week";
    let rows = ["sam,Sam,,,", "bad id,Bob,,,"];
    for (name, ending, bom) in [
        ("lf.csv", "\n", ""),
        ("crlf.csv", "\r\n", ""),
        ("bom-crlf.csv", "\r\n", "\u{feff}"),
        ("bom-lf.csv", "\n", "\u{feff}"),
    ] {
        let path = a.path(name);
        let text = format!(
            "{bom}{header}{ending}{}{ending}{}{ending}",
            rows[0], rows[1]
        );
        std::fs::write(&path, text).unwrap();
        let error = a.fails(1, &["import", "--format", "csv", &path]);
        assert!(error.contains(&format!("{name}:3: ")), "{name}: {error}");
    }
    // A quoted value over two lines moves the next row down by one line.
    a.ok(&["staff", "add", "sam", "--name", "Sam Park"]);
    let path = a.path("multi.csv");
    std::fs::write(
        &path,
        "staff,from,to,kind,reason\r\nsam,2026-11-24T00:00,2026-11-25T00:00,leave,\"dentist\r\nthen rest\"\r\nsam,2026-11-26T00:00,2026-11-27T00:00,holiday,\r\n",
    )
    .unwrap();
    let error = a.fails(1, &["import", "--format", "csv", &path]);
    assert!(error.contains("multi.csv:4: "), "{error}");
}

/// The events of an iCalendar file, unfolded, each as its lines.
fn events(ics: &str) -> Vec<Vec<String>> {
    let unfolded = ics.replace("\r\n ", "");
    let mut events = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in unfolded.split("\r\n") {
        match line {
            "BEGIN:VEVENT" => current = Some(Vec::new()),
            "END:VEVENT" => events.extend(current.take()),
            _ => {
                if let Some(event) = current.as_mut() {
                    event.push(line.to_owned());
                }
            }
        }
    }
    events
}

fn property<'a>(event: &'a [String], name: &str) -> &'a str {
    event
        .iter()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("{name} in {event:?}"))
}

#[test]
fn icalendar_escapes_text_names_the_site_carries_role_and_note_and_places_dst_gaps() {
    let a = Node::new("alice", "front-desk");
    a.ok(&["staff", "add", "sarah", "--name", "Sarah Lee"]);
    a.ok(&[
        "shift",
        "add",
        "mon-am",
        "--date",
        "2026-11-23",
        "--start",
        "09:00",
        "--end",
        "13:00",
        "--label",
        "Tours, talks; and more",
    ]);
    // 02:00 does not exist in Berlin on 2026-03-29: the clocks go from 02:00 to 03:00.
    a.ok(&[
        "shift",
        "add",
        "dst",
        "--date",
        "2026-03-29",
        "--start",
        "02:00",
        "--end",
        "03:00",
    ]);
    a.ok(&[
        "assign",
        "sarah",
        "mon-am",
        "--role",
        "guide",
        "--note",
        "bring keys\nand a torch",
    ]);
    a.ok(&["assign", "sarah", "dst"]);
    // A carriage return written into the label by another program.
    let backup = a.path("before.automerge");
    a.ok(&["backup", &backup]);
    let mut doc = AutoCommit::load(&std::fs::read(&backup).unwrap())
        .unwrap()
        .with_actor(ActorId::random());
    let shifts = doc.get(ROOT, "shifts").unwrap().unwrap().1;
    let dst = doc.get(&shifts, "dst").unwrap().unwrap().1;
    doc.put(&dst, "label", "Night\rcheck").unwrap();
    doc.commit();
    let edited = a.path("edited.automerge");
    std::fs::write(&edited, doc.save()).unwrap();
    a.ok(&["merge", &edited]);

    let path = a.path("sarah.ics");
    a.ok(&[
        "export", "--format", "ics", "--staff", "sarah", "--out", &path,
    ]);
    let ics = std::fs::read_to_string(&path).unwrap();
    // No control character but the CRLF that ends each line.
    assert!(
        !ics.replace("\r\n", "")
            .chars()
            .any(|c| c.is_control() && c != '\t'),
        "{ics:?}"
    );
    let found = events(&ics);
    assert_eq!(found.len(), 2, "{ics}");
    let am = found
        .iter()
        .find(|e| property(e, "SUMMARY").contains("mon-am"))
        .unwrap();
    assert_eq!(
        property(am, "SUMMARY"),
        "Tours\\, talks\\; and more (mon-am)"
    );
    let description = property(am, "DESCRIPTION");
    assert!(description.contains("Role: guide"), "{description}");
    assert!(
        description.contains("Note: bring keys\\nand a torch"),
        "{description}"
    );
    let uid = property(am, "UID");
    assert!(uid.starts_with("mon-am/sarah@"), "{uid}");
    assert!(uid.ends_with(".shiftmesh"), "{uid}");
    let site = uid
        .trim_start_matches("mon-am/sarah@")
        .trim_end_matches(".shiftmesh");
    assert_eq!(site.len(), 16, "{uid}");
    // Another site's calendar never shares a UID with this one.
    let other = Node::new("bob", "elsewhere");
    other.ok(&["staff", "add", "sarah", "--name", "Sarah Lee"]);
    other.ok(&[
        "shift",
        "add",
        "mon-am",
        "--date",
        "2026-11-23",
        "--start",
        "09:00",
        "--end",
        "13:00",
    ]);
    other.ok(&["assign", "sarah", "mon-am"]);
    let other_path = other.path("other.ics");
    other.ok(&[
        "export",
        "--format",
        "ics",
        "--staff",
        "sarah",
        "--out",
        &other_path,
    ]);
    let other_events = events(&std::fs::read_to_string(&other_path).unwrap());
    assert_ne!(property(&other_events[0], "UID"), uid);

    let dst = found
        .iter()
        .find(|e| property(e, "SUMMARY").contains("(dst)"))
        .unwrap();
    // A lone carriage return is a line break, escaped as iCalendar writes one.
    assert_eq!(property(dst, "SUMMARY"), "Night\\ncheck (dst)");
    let (start, end) = (property(dst, "DTSTART"), property(dst, "DTEND"));
    assert!(end > start, "not a zero-length event: {start} – {end}");
    assert_eq!((start, end), ("20260329T010000Z", "20260329T020000Z"));
    assert!(
        property(dst, "DESCRIPTION").contains("does not exist on 2026-03-29"),
        "{dst:?}"
    );
}
