//! The HTTP API of real nodes over real HTTP: every endpoint, who may do what, the gates
//! (session, Host, origin, throttle), the live event stream with resume, and HTTP edits
//! authored by the account that made them.

mod common;

use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{wait_until, Node, Running, WAIT_LIMIT};
use serde_json::{json, Value};

/// A browser-less client of one node's API, signed in (or not).
struct Client {
    agent: ureq::Agent,
    base: String,
    cookie: Option<String>,
}

fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(60)))
            .build(),
    )
}

impl Client {
    fn anonymous(node: &Node) -> Client {
        Client {
            agent: agent(),
            base: node.ui().trim_end_matches('/').to_owned(),
            cookie: None,
        }
    }

    /// Signed in as the machine's owner, through the link `shiftmesh ui` prints.
    fn owner(node: &Node) -> Client {
        let link = node.json(&["ui"])["url"].as_str().unwrap().to_owned();
        let mut client = Client::anonymous(node);
        let response = client.agent.get(&link).call().unwrap();
        assert_eq!(
            response.status().as_u16(),
            303,
            "the link redirects to the page"
        );
        client.cookie = Some(cookie_of(&response));
        client
    }

    fn signed_in(node: &Node, login: &str, password: &str) -> Client {
        let mut client = Client::anonymous(node);
        let (status, body, cookie) = client.sign_in(login, password);
        assert_eq!(status, 200, "{body}");
        client.cookie = cookie;
        client
    }

    fn sign_in(&self, login: &str, password: &str) -> (u16, Value, Option<String>) {
        let mut response = self
            .agent
            .post(&format!("{}/api/login", self.base))
            .send_json(json!({"login": login, "password": password}))
            .unwrap();
        let status = response.status().as_u16();
        let cookie = (status == 200).then(|| cookie_of(&response));
        (status, response.body_mut().read_json().unwrap(), cookie)
    }

    fn request(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.raw(method, path, body, &[])
    }

    fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let mut builder = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(cookie) = &self.cookie {
            builder = builder.header("cookie", cookie.as_str());
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = match body {
            Some(body) => builder
                .header("content-type", "application/json")
                .body(body.to_string())
                .unwrap(),
            None => builder.body(String::new()).unwrap(),
        };
        let mut response = self.agent.run(request).unwrap();
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn get(&self, path: &str) -> Value {
        let (status, body) = self.request("GET", path, None);
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    fn post(&self, path: &str, body: Value) -> Value {
        let (status, answer) = self.request("POST", path, Some(body));
        assert_eq!(status, 200, "POST {path}: {answer}");
        answer
    }
}

fn cookie_of(response: &ureq::http::Response<ureq::Body>) -> String {
    response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned()
}

/// A node with staff, shifts and accounts, running, with its page.
fn clinic() -> (Node, Running) {
    let a = Node::new("owner", "front-desk");
    for (id, name) in [
        ("sarah", "Sarah Lee"),
        ("sam", "Sam Park"),
        ("tom", "Tom Reed"),
    ] {
        a.ok(&["staff", "add", id, "--name", name]);
    }
    for (id, start, end) in [("mon-am", "09:00", "13:00"), ("mon-mid", "11:00", "15:00")] {
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
            "0",
        ]);
    }
    a.account("alice", "manager", None, "alice-password");
    a.account("sam", "staff", Some("sam"), "sam-password");
    let running = a.start(&[]);
    (a, running)
}

#[test]
fn every_endpoint_answers_a_manager_and_edits_are_authored_by_the_account() {
    let (a, running) = clinic();
    let alice = Client::signed_in(&a, "alice", "alice-password");
    assert_eq!(alice.get("/api/me")["name"], "alice");
    assert_eq!(alice.get("/api/status")["running"], true);
    assert!(alice.get("/api/peers").is_array());
    alice.post(
        "/api/departments",
        json!({"id": "ward", "name": "Ward", "time_zone": null}),
    );
    assert_eq!(alice.get("/api/departments")[0]["id"], "ward");
    alice.post(
        "/api/staff",
        json!({"id": "kim", "name": "Kim Ode", "department": "ward", "skills": ["nurse"]}),
    );
    assert_eq!(alice.get("/api/staff/kim")["staff"]["name"], "Kim Ode");
    let (status, updated) = alice.request(
        "PATCH",
        "/api/staff/kim",
        Some(json!({"max_minutes_week": 1200})),
    );
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["max_minutes_week"], 1200);
    assert_eq!(alice.get("/api/staff").as_array().unwrap().len(), 4);
    alice.post(
        "/api/shifts",
        json!({"id": "tue", "date": "2026-11-24", "start": "08:00", "end": "16:00",
               "capacity": 1, "min_staff": 1}),
    );
    assert_eq!(alice.get("/api/shifts/tue")["shift"]["coverage"], "0/1/1");
    let (status, _) = alice.request("PATCH", "/api/shifts/tue", Some(json!({"label": "Early"})));
    assert_eq!(status, 200);
    assert_eq!(
        alice.get("/api/shifts?from=2026-11-24&to=2026-11-24")[0]["label"],
        "Early"
    );
    // A check first: what it would cause, nothing written.
    alice.post(
        "/api/assignments",
        json!({"staff": "sarah", "shift": "mon-am"}),
    );
    let check = alice.post(
        "/api/assignments",
        json!({"staff": "sarah", "shift": "mon-mid", "check": true}),
    );
    assert_eq!(check["written"], false);
    assert_eq!(check["conflicts"][0]["kind"], "double-booking");
    let made = alice.post(
        "/api/assignments",
        json!({"staff": "sarah", "shift": "mon-mid", "role": "lead"}),
    );
    assert_eq!(made["conflicts"][0]["kind"], "double-booking", "{made}");
    let conflicts = alice.get("/api/conflicts?kind=double-booking");
    let id = conflicts[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(conflicts[0]["date"], "2026-11-23");
    // A page asks for the days it shows: conflicts dated elsewhere are left out.
    let listed = |query: &str| -> Vec<Value> {
        alice
            .get(&format!("/api/conflicts?{query}"))
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].clone())
            .collect()
    };
    assert!(listed("from=2026-11-23&to=2026-11-29").contains(&json!(id)));
    assert!(!listed("from=2026-11-24&to=2026-11-29").contains(&json!(id)));
    assert!(!listed("from=2026-11-16&to=2026-11-22").contains(&json!(id)));
    let all = listed("");
    assert!(all.len() >= 2, "{all:?}");
    assert_eq!(listed("limit=1"), all[..1]);
    let shown = alice.get(&format!("/api/conflicts/{id}"));
    assert!(shown["candidates"]["staff"].is_array(), "{shown}");
    let week = alice.get("/api/schedule?week=2026-11-23");
    assert_eq!(week["days"][0]["shifts"][0]["coverage"], "1/0/2");
    assert!(week["people"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["id"] == "sarah" && p["minutes"] == 480));
    let resolved = alice.post(
        &format!("/api/conflicts/{id}/resolve"),
        json!({"option": "keep-first"}),
    );
    assert_eq!(resolved["resolved"], id);
    alice.post(
        "/api/availability",
        json!({"staff": "tom", "from": "2026-11-25T00:00", "to": "2026-11-26T00:00",
               "kind": "leave", "reason": "dentist"}),
    );
    let leave = alice.get("/api/availability?staff=tom");
    let leave_id = leave[0]["id"].as_str().unwrap().to_owned();
    let (status, _) = alice.request("DELETE", &format!("/api/availability/{leave_id}"), None);
    assert_eq!(status, 200);
    let (status, _) = alice.request("DELETE", "/api/assignments/mon-am/sarah", None);
    assert_eq!(status, 200);
    let (status, body) = alice.request("DELETE", "/api/shifts/tue", None);
    assert_eq!(status, 200, "{body}");
    let (status, body) = alice.request("DELETE", "/api/staff/kim", None);
    assert_eq!(status, 200, "{body}");
    let imported = alice.post(
        "/api/import",
        json!({"files": [{"name": "people.csv",
                          "text": "id,name,department,skills,max_hours_week\nnia,Nia Obi,,,\n"}]}),
    );
    assert_eq!(imported["imported"]["staff"], 1);
    let (status, body) = alice.request(
        "POST",
        "/api/import",
        Some(json!({"files": [{"name": "bad.csv", "text": "id,name\nbad id,Bob\n"}]})),
    );
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("bad.csv:"),
        "{body}"
    );
    let export = alice.get("/api/export?format=json");
    assert!(export["staff"].is_array());
    let history = alice.get("/api/history?limit=50");
    let authors: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["author"].as_str().unwrap())
        .collect();
    assert!(authors.contains(&"alice@front-desk"), "{authors:?}");
    // The history on the command line says the same: the account, never a name the client
    // chose.
    assert!(a
        .ok(&["history", "--limit", "30"])
        .contains("alice@front-desk on 'front-desk'  import"));
    let (status, body) = alice.request("GET", "/api/no-such-thing", None);
    assert_eq!(status, 404, "{body}");
    running.stop();
}

#[test]
fn the_weeks_work_is_in_the_api_copy_repeat_now_cover_summary_and_revert() {
    let (a, running) = clinic();
    let alice = Client::signed_in(&a, "alice", "alice-password");
    let (status, body) = alice.request(
        "POST",
        "/api/shifts/copy",
        Some(json!({"from": "2026-11-23", "to": "2026-11-29", "onto": "2026-11-30"})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["added"]["shifts"], 2, "{body}");
    let repeated = alice.post(
        "/api/shifts/repeat",
        json!({"shift": "mon-am", "until": "2026-11-27", "weekdays": [2, 3]}),
    );
    assert_eq!(repeated["added"]["shifts"], 2, "{repeated}");
    alice.get("/api/shifts/mon-am-2026-11-25");
    let cover = alice.get("/api/shifts/mon-am-2026-11-30/cover");
    assert_eq!(cover["candidates"].as_array().unwrap().len(), 3, "{cover}");
    let now = alice.get("/api/now");
    assert!(now["now"].is_array() && now["next"].is_array(), "{now}");
    alice.post(
        "/api/assignments",
        json!({"staff": "sarah", "shift": "mon-am"}),
    );
    alice.post(
        "/api/assignments",
        json!({"staff": "sarah", "shift": "mon-mid"}),
    );
    let days = alice.get("/api/conflicts?summary=true&staff=sarah");
    assert_eq!(days[0]["date"], "2026-11-23", "{days}");
    assert_eq!(days[0]["kinds"]["double-booking"], 1, "{days}");
    let (status, body) = alice.request(
        "PATCH",
        "/api/departments/none",
        Some(json!({"name": "Nothing"})),
    );
    assert_eq!(status, 404, "{body}");
    // The copy, undone over HTTP, found by its kind in the history.
    let copy = alice.get("/api/history?kind=copy&limit=1");
    let hash = copy[0]["hash"].as_str().unwrap();
    let reverted = alice.post(&format!("/api/history/{}/revert", &hash[..12]), json!({}));
    assert!(
        reverted["reverted"]
            .as_str()
            .unwrap()
            .starts_with(&hash[..12]),
        "{reverted}"
    );
    let (status, _) = alice.request("GET", "/api/shifts/mon-am-2026-11-30", None);
    assert_eq!(status, 404);
    // A staff account reads, and may not undo.
    let sam = Client::signed_in(&a, "sam", "sam-password");
    let (status, body) = sam.request(
        "POST",
        &format!("/api/history/{}/revert", &hash[..12]),
        None,
    );
    assert_eq!(status, 403, "{body}");
    running.stop();
}

#[test]
fn a_staff_account_reads_changes_its_own_leave_and_nothing_else() {
    let (a, running) = clinic();
    let sam = Client::signed_in(&a, "sam", "sam-password");
    assert!(sam.get("/api/schedule?week=2026-11-23")["days"].is_array());
    let own = sam.post(
        "/api/availability",
        json!({"staff": "sam", "from": "2026-11-30T00:00", "to": "2026-12-01T00:00",
               "kind": "leave"}),
    );
    let own_id = own["id"].as_str().unwrap().to_owned();
    for (method, path, body) in [
        (
            "POST",
            "/api/assignments",
            Some(json!({"staff": "sarah", "shift": "mon-am"})),
        ),
        (
            "POST",
            "/api/availability",
            Some(json!({"staff": "sarah", "from": "2026-11-30T00:00",
                        "to": "2026-12-01T00:00", "kind": "leave"})),
        ),
        ("PATCH", "/api/shifts/mon-am", Some(json!({"capacity": 9}))),
        ("DELETE", "/api/staff/tom", None),
        ("GET", "/api/backup", None),
    ] {
        let (status, answer) = sam.request(method, path, body);
        assert_eq!(status, 403, "{method} {path}: {answer}");
        assert!(answer["error"].is_string());
    }
    // Another person's leave cannot be removed either.
    let alice = Client::signed_in(&a, "alice", "alice-password");
    let theirs = alice.post(
        "/api/availability",
        json!({"staff": "tom", "from": "2026-11-30T00:00", "to": "2026-12-01T00:00",
               "kind": "leave"}),
    );
    let (status, _) = sam.request(
        "DELETE",
        &format!("/api/availability/{}", theirs["id"].as_str().unwrap()),
        None,
    );
    assert_eq!(status, 403);
    let (status, _) = sam.request("DELETE", &format!("/api/availability/{own_id}"), None);
    assert_eq!(status, 200);
    // A disabled account's session ends at once.
    a.ok(&["account", "disable", "sam"]);
    let (status, answer) = sam.request("GET", "/api/status", None);
    assert_eq!(status, 403, "{answer}");
    running.stop();
}

#[test]
fn the_gates_refuse_strangers_foreign_hosts_cross_origin_writes_and_guessing() {
    let (a, running) = clinic();
    let anonymous = Client::anonymous(&a);
    let (status, body) =
        anonymous.request("POST", "/api/staff", Some(json!({"id": "x", "name": "X"})));
    assert_eq!(status, 401, "{body}");
    let (status, _) = anonymous.request("GET", "/api/schedule", None);
    assert_eq!(status, 401);
    let owner = Client::owner(&a);
    assert_eq!(owner.get("/api/me")["access"]["access"], "owner");
    // A page on another site cannot write through the owner's session.
    let (status, body) = owner.raw(
        "POST",
        "/api/staff",
        Some(json!({"id": "x", "name": "X"})),
        &[
            ("origin", "http://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ],
    );
    assert_eq!(status, 403, "{body}");
    // Nor reach it through a name of its own that resolves here (DNS rebinding).
    let (status, body) = owner.raw("GET", "/api/status", None, &[("host", "evil.example")]);
    assert_eq!(status, 403, "{body}");
    // A same-origin write from the page passes.
    let origin = a.ui().trim_end_matches('/').to_owned();
    let (status, body) = owner.raw(
        "POST",
        "/api/staff",
        Some(json!({"id": "x", "name": "X"})),
        &[
            ("origin", origin.as_str()),
            ("sec-fetch-site", "same-origin"),
        ],
    );
    assert_eq!(status, 200, "{body}");
    // The owner's link works once.
    let link = a.json(&["ui"])["url"].as_str().unwrap().to_owned();
    let first = agent().get(&link).call().unwrap();
    assert_eq!(first.status().as_u16(), 303);
    let again = agent().get(&link).call().unwrap();
    assert_eq!(again.status().as_u16(), 403);
    // Guessing passwords is throttled.
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(anonymous.sign_in("alice", "wrong-password").0);
    }
    assert_eq!(&statuses[..5], &[403; 5], "{statuses:?}");
    assert_eq!(statuses[6], 429, "{statuses:?}");
    let (status, _, _) = anonymous.sign_in("alice", "alice-password");
    assert_eq!(status, 429, "even the right password waits out the window");
    // Every answer carries the security headers.
    let response = agent().get(&format!("{origin}/")).call().unwrap();
    let csp = response
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    running.stop();
}

/// An event stream, read on a thread: each event as (id, JSON), or a `resync`.
struct Stream {
    events: mpsc::Receiver<(Option<u64>, String, Value)>,
}

impl Stream {
    fn open(client: &Client, last_event_id: Option<u64>) -> Stream {
        let mut builder = ureq::http::Request::builder()
            .uri(format!("{}/api/events", client.base))
            .header("cookie", client.cookie.clone().unwrap());
        if let Some(id) = last_event_id {
            builder = builder.header("last-event-id", id.to_string());
        }
        let response = client.agent.run(builder.body(()).unwrap()).unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let reader = BufReader::new(response.into_body().into_reader());
            let (mut id, mut kind, mut data) = (None, String::from("message"), String::new());
            for line in reader.lines() {
                let Ok(line) = line else { return };
                if line.is_empty() {
                    if !data.is_empty() {
                        let value = serde_json::from_str(&data).unwrap_or(Value::Null);
                        if tx.send((id, kind.clone(), value)).is_err() {
                            return;
                        }
                    }
                    (id, kind, data) = (None, String::from("message"), String::new());
                } else if let Some(v) = line.strip_prefix("id: ") {
                    id = v.parse().ok();
                } else if let Some(v) = line.strip_prefix("event: ") {
                    kind = v.to_owned();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push_str(v);
                }
            }
        });
        Stream { events: rx }
    }

    /// The next event within the wait limit.
    fn next(&self) -> Option<(Option<u64>, String, Value)> {
        self.events.recv_timeout(WAIT_LIMIT).ok()
    }
}

#[test]
fn a_dropped_event_stream_resumes_with_every_event_exactly_once() {
    let (a, running) = clinic();
    let alice = Client::signed_in(&a, "alice", "alice-password");
    for i in 0..20 {
        alice.post(
            "/api/shifts",
            json!({"id": format!("s{i}"), "date": "2026-12-07", "start": "08:00",
                   "end": "09:00", "capacity": 20, "min_staff": 0}),
        );
    }
    let stream = Stream::open(&alice, None);
    let mut seen: Vec<(u64, Value)> = Vec::new();
    let writer = {
        let base = alice.base.clone();
        let cookie = alice.cookie.clone();
        std::thread::spawn(move || {
            let client = Client {
                agent: agent(),
                base,
                cookie,
            };
            // 200 edits: ten people onto twenty shifts.
            for s in 0..20 {
                for p in ["sarah", "sam", "tom"]
                    .iter()
                    .chain(["a", "b", "c", "d", "e", "f", "g"].iter())
                {
                    let staff = if p.len() == 1 {
                        format!("extra-{p}")
                    } else {
                        p.to_string()
                    };
                    if p.len() == 1 && s == 0 {
                        client.post("/api/staff", json!({"id": staff, "name": staff}));
                    }
                    client.post(
                        "/api/assignments",
                        json!({"staff": staff, "shift": format!("s{s}")}),
                    );
                }
            }
        })
    };
    // Read part of the burst, then drop the stream in the middle of it.
    while seen.len() < 40 {
        let (id, kind, value) = stream.next().expect("events during the burst");
        assert_eq!(kind, "message");
        seen.push((id.unwrap(), value));
    }
    drop(stream);
    let last = seen.last().unwrap().0;
    writer.join().unwrap();
    let resumed = Stream::open(&alice, Some(last));
    let deadline = Instant::now() + WAIT_LIMIT;
    let assigned = |events: &[(u64, Value)]| {
        events
            .iter()
            .filter(|(_, v)| v["type"] == "assignment-created")
            .count()
    };
    while assigned(&seen) < 200 && Instant::now() < deadline {
        let (id, kind, value) = resumed.next().expect("the missed events");
        assert_ne!(kind, "resync", "the buffer holds what was missed");
        seen.push((id.unwrap(), value));
    }
    let ids: Vec<u64> = seen.iter().map(|(id, _)| *id).collect();
    assert!(
        ids.windows(2).all(|w| w[1] == w[0] + 1),
        "every event once, in order, none missed: {ids:?}"
    );
    let mut keys: Vec<&str> = seen
        .iter()
        .filter(|(_, v)| v["type"] == "assignment-created")
        .map(|(_, v)| v["assignment"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), 200);
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 200, "no event twice");
    // A stream resuming from an id the node no longer knows is told to fetch again.
    let stale = Stream::open(&alice, Some(1));
    assert_eq!(stale.next().unwrap().1, "resync");
    running.stop();
}

#[test]
fn an_edit_over_http_on_one_node_arrives_on_another_nodes_stream() {
    let (a, running_a) = clinic();
    let (b, running_b) = common::join("bob", "back-office", &a);
    wait_until("b has the accounts", || {
        b.json(&["account", "list"])
            .as_array()
            .is_some_and(|l| l.len() == 2)
    });
    // The account synced: alice signs in on the other machine with the same password.
    let on_b = Client::signed_in(&b, "alice", "alice-password");
    let stream = Stream::open(&on_b, None);
    let on_a = Client::signed_in(&a, "alice", "alice-password");
    on_a.post(
        "/api/assignments",
        json!({"staff": "tom", "shift": "mon-am"}),
    );
    let deadline = Instant::now() + WAIT_LIMIT;
    loop {
        assert!(Instant::now() < deadline, "the edit reached b's stream");
        let (_, _, event) = stream.next().expect("an event on b");
        if event["type"] == "assignment-created" && event["assignment"] == "mon-am/tom" {
            break;
        }
    }
    running_b.stop();
    running_a.stop();
}

#[test]
fn the_page_listens_on_loopback_and_elsewhere_only_with_a_manager_password() {
    let a = Node::new("owner", "front-desk");
    let out = a.run(&[
        "node",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--no-mdns",
        "--ui-listen",
        "0.0.0.0:0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no manager account with a password")
            && stderr.contains("shiftmesh account add"),
        "{stderr}"
    );
    a.account("alice", "manager", None, "alice-password");
    let running = a.start(&["--ui-listen", "0.0.0.0:0"]);
    let ui = a.ui();
    assert!(ui.starts_with("http://127.0.0.1:"), "{ui}");
    Client::signed_in(&a, "alice", "alice-password");
    running.stop();
}
