//! Nodes as separate processes syncing over libp2p on 127.0.0.1 (`--no-mdns --peer …`), driven
//! through the real binary. Nothing here sleeps to assert: every wait polls `--json` output
//! until it holds, with a generous limit.

mod common;

use common::{
    conflicts, converged, founder, founder_with_env, join, staff_count, wait_until, Node,
};
use serde_json::Value;

#[test]
fn three_nodes_converge_on_heads_schedule_and_conflicts() {
    let (a, _ra) = founder();
    let (b, _rb) = join("bob", "node-b", &a);
    let (c, _rc) = join("carol", "node-c", &a);
    wait_until("b and c have the founder's schedule", || {
        staff_count(&b) == 3 && staff_count(&c) == 3
    });
    // An edit on one appears on the others.
    b.ok(&["staff", "add", "ivy", "--name", "Ivy Chen"]);
    wait_until("ivy reaches a and c", || {
        a.run(&["staff", "show", "ivy"]).status.success()
            && c.run(&["staff", "show", "ivy"]).status.success()
    });
    // Edits on all three, two of which double-book sarah.
    a.ok(&["assign", "sarah", "mon-am-exhibits"]);
    c.ok(&["assign", "sarah", "mon-am-education"]);
    b.ok(&["assign", "tom", "mon-pm"]);
    wait_until("all three have identical heads", || {
        converged(&[&a, &b, &c])
    });
    let week = ["schedule", "--week", "2026-11-23"];
    assert_eq!(a.json(&week), b.json(&week));
    assert_eq!(a.json(&week), c.json(&week));
    let on_a = conflicts(&a);
    assert_eq!(on_a, conflicts(&b));
    assert_eq!(on_a, conflicts(&c));
    assert!(
        on_a.iter().any(|c| c["kind"] == "double-booking"),
        "{on_a:?}"
    );
    // Status shows the mesh: two connected peers, nobody behind.
    let status = a.status();
    let peers = status["peers"].as_array().unwrap();
    assert_eq!(
        peers.iter().filter(|p| p["connected"] == true).count(),
        2,
        "{status}"
    );
}

#[test]
fn a_node_offline_catches_up_and_story_1_passes_over_the_network() {
    let (a, _ra) = founder();
    let (b, rb) = join("bob", "node-b", &a);
    wait_until("b has the founder's schedule", || staff_count(&b) == 3);
    rb.stop();
    // Both edit while b's node is down: a through its node, b through the CLI alone.
    a.ok(&["assign", "sarah", "mon-am-exhibits"]);
    b.ok(&["assign", "sarah", "mon-am-education"]);
    assert_eq!(b.status()["running"], false);
    let _rb = b.start(&["--peer", &a.address()]);
    wait_until("a and b converge", || converged(&[&a, &b]));
    let on_a = conflicts(&a);
    assert_eq!(on_a, conflicts(&b), "the same conflicts with the same ids");
    let double: Vec<&Value> = on_a
        .iter()
        .filter(|c| c["kind"] == "double-booking")
        .collect();
    assert_eq!(double.len(), 1, "{on_a:?}");
    assert_eq!(
        double[0]["message"],
        "sarah is booked into mon-am-exhibits and mon-am-education, which overlap 09:00–12:00"
    );
    let id = double[0]["id"].as_str().unwrap().to_owned();
    b.ok(&["resolve", &id, "keep-first"]);
    wait_until("the resolution reaches a", || {
        !conflicts(&a).iter().any(|c| c["id"] == id.as_str())
    });
    let kept = a.json(&["staff", "show", "sarah"]);
    assert_eq!(kept["assignments"].as_array().unwrap().len(), 1);
    assert_eq!(kept["assignments"][0]["shift"], "mon-am-exhibits");
}

#[test]
fn a_killed_node_keeps_every_acknowledged_edit_and_catches_up() {
    let (a, _ra) = founder();
    let (b, rb) = join("bob", "node-b", &a);
    wait_until("b has the founder's schedule", || staff_count(&b) == 3);
    // Every edit that returned 0 was acknowledged, so it must survive a SIGKILL right after.
    let acknowledged: Vec<String> = (0..15).map(|i| format!("temp-{i}")).collect();
    for id in &acknowledged {
        b.ok(&["staff", "add", id, "--name", "Temp"]);
    }
    rb.kill();
    a.ok(&["staff", "add", "late", "--name", "Made while b was down"]);
    for id in &acknowledged {
        assert!(
            b.run(&["staff", "show", id]).status.success(),
            "{id} was acknowledged and is lost"
        );
    }
    let _rb = b.start(&["--peer", &a.address()]);
    wait_until("b catches up with a, and a has b's edits", || {
        converged(&[&a, &b])
    });
    assert!(b.run(&["staff", "show", "late"]).status.success());
    assert_eq!(staff_count(&a), 3 + 15 + 1);
}

#[test]
fn a_node_with_another_site_key_gets_no_schedule_data() {
    let (a, ra) = founder();
    let (b, _rb) = join("bob", "node-b", &a);
    wait_until("b has the founder's schedule", || staff_count(&b) == 3);
    // A machine initialised on its own: same software, its own site key.
    let stranger = Node::new("eve", "stranger");
    let rs = stranger.start(&["--peer", &a.address()]);
    wait_until("the stranger's log reports the failed handshake", || {
        let log = rs.log_text();
        log.contains("handshake failed") && log.contains("site key may differ")
    });
    a.ok(&[
        "staff",
        "add",
        "after",
        "--name",
        "Made after the stranger came",
    ]);
    wait_until("b gets the new edit", || {
        b.run(&["staff", "show", "after"]).status.success()
    });
    assert_eq!(
        staff_count(&stranger),
        0,
        "the stranger received schedule data"
    );
    let peers = stranger.status()["peers"].clone();
    assert!(
        peers
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["connected"] == false),
        "{peers}"
    );
    assert!(
        !ra.log_text()
            .contains(&stranger.status()["peer_id"].as_str().unwrap().to_string()),
        "the founder never connected to the stranger"
    );
}

/// The next event from a network task, failing the test if none comes.
async fn next(
    events: &mut tokio::sync::mpsc::Receiver<shiftmesh_net::Event>,
) -> shiftmesh_net::Event {
    tokio::time::timeout(common::WAIT_LIMIT, events.recv())
        .await
        .expect("the node went quiet")
        .expect("the network task stopped")
}

/// A peer with the site key that speaks the sync protocol badly: its garbage and oversized
/// messages reset its own session (the node logs why), and the node keeps serving others.
#[test]
fn garbage_over_a_real_connection_resets_only_that_peers_session() {
    use shiftmesh_net::{Command, Event, Keypair, NetConfig};
    use shiftmesh_sync::SyncRequest;

    // A lower message bound than the default 64 MiB, so the oversized message stays small.
    let max = 256 * 1024;
    let (a, ra) = founder_with_env(&[("SHIFTMESH_MAX_SYNC_MESSAGE_BYTES", &max.to_string())]);
    let (b, _rb) = join("bob", "node-b", &a);
    wait_until("b has the founder's schedule", || staff_count(&b) == 3);
    let site_key = shiftmesh_store::Identity::load(&a.data()).unwrap().site_key;
    // A member gone bad: trusted by hand, so its messages reach the sync engine.
    let keypair = Keypair::generate_ed25519();
    let rogue = keypair.public().to_peer_id();
    a.ok(&["peers", "trust", &rogue.to_string(), "--name", "rogue"]);
    let founder_id: shiftmesh_net::PeerId =
        a.status()["peer_id"].as_str().unwrap().parse().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let answers = runtime.block_on(async {
        let mut net = shiftmesh_net::start(NetConfig {
            keypair,
            site_key: site_key.0,
            listen: vec![],
            static_peers: vec![a.address().parse().unwrap()],
            remembered: vec![],
            mdns: false,
            trust: shiftmesh_net::TrustList {
                members: [founder_id].into(),
                ..Default::default()
            },
        })
        .unwrap();
        let founder = loop {
            if let Event::Connected { peer, .. } = next(&mut net.events).await {
                break peer;
            }
        };
        let mut answers = Vec::new();
        for message in [b"not a sync message".to_vec(), vec![0x42; max + 1]] {
            net.send(Command::Request {
                peer: founder,
                request: SyncRequest {
                    start: true,
                    message,
                    signatures: Vec::new(),
                    want_signatures: Vec::new(),
                },
            });
            loop {
                match next(&mut net.events).await {
                    Event::Response { response, .. } => {
                        answers.push(response.message);
                        break;
                    }
                    Event::RequestFailed { reason, .. } => panic!("the request failed: {reason}"),
                    // The node's own sessions with us: answer nothing.
                    Event::Request { id, .. } => net.send(Command::Respond {
                        id,
                        response: shiftmesh_sync::SyncResponse::nothing(),
                    }),
                    _ => {}
                }
            }
        }
        answers
    });
    assert_eq!(answers, vec![None, None], "garbage gets nothing back");
    wait_until("the founder logs both refusals", || {
        let log = ra.log_text();
        log.contains("the sync message is malformed") && log.contains("more than the")
    });
    assert!(!ra.log_text().contains("panicked"));
    // The founder still serves b.
    b.ok(&["staff", "add", "still", "--name", "Still syncing"]);
    wait_until("b's edit reaches a", || {
        a.run(&["staff", "show", "still"]).status.success()
    });
    assert_eq!(staff_count(&a), 4);
}

#[test]
fn commands_through_a_running_node_behave_as_without_one() {
    let (a, ra) = founder();
    // (Only the owner reaches the control channel: trust.rs.)
    // A check writes nothing, through the node as without it.
    let heads = a.heads();
    a.ok(&["assign", "sarah", "mon-am-exhibits"]);
    let after_assign = a.heads();
    assert_ne!(after_assign, heads);
    let check = a.run(&["--json", "assign", "sarah", "mon-am-education", "--check"]);
    assert_eq!(check.status.code(), Some(1), "{check:?}");
    assert_eq!(a.heads(), after_assign, "--check wrote something");
    // What it would cause comes from the node's own validation, brought up to date.
    let caused: Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(caused["conflicts"][0]["kind"], "double-booking", "{caused}");
    assert!(!conflicts(&a).iter().any(|c| c["kind"] == "double-booking"));
    // An assignment that does go through lists what it causes, and the node's conflict list
    // (and `conflicts show`) has it at once.
    a.ok(&["assign", "tom", "mon-am-exhibits"]);
    let done = a.json(&["assign", "tom", "mon-am-education"]);
    assert_eq!(done["conflicts"][0]["kind"], "double-booking", "{done}");
    let listed = conflicts(&a);
    for c in done["conflicts"].as_array().unwrap() {
        assert!(listed.contains(c), "{c} is listed");
        a.ok(&["conflicts", "show", c["id"].as_str().unwrap()]);
    }
    // Mistakes exit 2 and failures exit 1, each with one line.
    assert!(a.fails(1, &["staff", "show", "nobody"]).contains("nobody"));
    assert!(a
        .fails(1, &["restore", "x.automerge", "--yes"])
        .contains("stop the node"));
    // Relative paths are the client's, not the node's.
    let backup = a.path("through-node.automerge");
    a.ok(&["backup", &backup]);
    assert!(std::path::Path::new(&backup).exists());
    let through_node = a.heads();
    ra.stop();
    assert!(a.fails(1, &["events"]).contains("no node is running"));
    // Once stopped, the same commands work on the store directly.
    assert_eq!(a.heads(), through_node);
}

fn peer_entry(node: &Node, peer_id: &str) -> Value {
    node.json(&["peers"])
        .as_array()
        .and_then(|peers| peers.iter().find(|p| p["peer_id"] == peer_id).cloned())
        .unwrap_or(Value::Null)
}

fn peer_id_of(node: &Node) -> String {
    node.status()["peer_id"].as_str().unwrap().to_owned()
}

/// The site was a star around its first machine: members learned only the inviter's address,
/// so with it off (and no mDNS) the others never met. Members now tell each other where they
/// are, remember it, and keep syncing without the founder, also after a restart.
#[test]
fn members_meet_directly_and_keep_syncing_with_the_founder_off() {
    let (a, node_a) = founder();
    let (b, node_b) = join("bob", "back-office", &a);
    let (c, node_c) = join("carol", "laptop", &a);
    let (b_id, c_id) = (peer_id_of(&b), peer_id_of(&c));
    wait_until("the back office and the laptop connect directly", || {
        peer_entry(&b, &c_id)["connected"] == true && peer_entry(&c, &b_id)["connected"] == true
    });
    wait_until("all three agree", || converged(&[&a, &b, &c]));
    // Heads that agree are 0 behind and 0 ahead, whoever relayed what.
    wait_until("behind and ahead are 0 between agreeing machines", || {
        let entry = peer_entry(&b, &c_id);
        entry["behind"] == 0 && entry["ahead"] == 0
    });
    node_a.stop();
    b.ok(&["staff", "add", "nina", "--name", "Nina Ross"]);
    wait_until("the laptop has the back office's edit", || {
        c.run(&["staff", "show", "nina"]).status.success()
    });
    // An edit made on the founder while its node is off, merged on the back office from a
    // backup, reaches the laptop: its event names the machine that made it and, apart, the
    // one that passed it on.
    let mut follower = std::process::Command::new(env!("CARGO_BIN_EXE_shiftmesh"))
        .args(["--data-dir", &c.data().display().to_string(), "events"])
        .env_remove("SHIFTMESH_DATA_DIR")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines = {
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = follower.stdout.take().unwrap();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        rx
    };
    std::thread::sleep(std::time::Duration::from_millis(500));
    // The laptop and the founder also set one shift's capacity, each not knowing of the
    // other: the conflict that appears names each value's machine, proven by its signature.
    c.ok(&["shift", "update", "mon-pm", "--capacity", "4"]);
    a.ok(&["shift", "update", "mon-pm", "--capacity", "3"]);
    a.ok(&["staff", "add", "zed", "--name", "Zed Park"]);
    let backup = a.path("from-a.automerge");
    a.ok(&["backup", &backup]);
    b.ok(&["merge", &backup]);
    let (mut event, mut conflict) = (None, None);
    for line in std::iter::from_fn(|| lines.recv_timeout(std::time::Duration::from_secs(30)).ok()) {
        let e: Value = serde_json::from_str(&line).unwrap();
        if e["id"] == "zed" {
            event = Some(e);
        } else if e["type"] == "conflict-appeared" && e["conflict"]["kind"] == "concurrent-edit" {
            conflict = Some(e);
        }
        if event.is_some() && conflict.is_some() {
            break;
        }
    }
    let _ = (follower.kill(), follower.wait());
    let event = event.expect("the laptop's events report zed");
    assert_eq!(event["made_on"], "node-a", "{event}");
    assert_eq!(event["relayed_by"], "back-office", "{event}");
    let conflict = conflict.expect("the laptop's events report the concurrent capacities");
    let mut made_on: Vec<(String, bool)> = conflict["conflict"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["provenance"]["machine_name"]
                    .as_str()
                    .unwrap_or("-")
                    .to_owned(),
                v["provenance"]["verified"] == true,
            )
        })
        .collect();
    made_on.sort();
    assert_eq!(
        made_on,
        [("laptop".to_owned(), true), ("node-a".to_owned(), true)],
        "{conflict}"
    );
    // After a restart without any --peer, each finds the other at the address it remembered
    // (each listens where it did before, as a site machine on its fixed port does).
    let (b_at, c_at) = (b.address(), c.address());
    node_b.stop();
    node_c.stop();
    let _b = b.start(&["--listen", &b_at]);
    let _c = c.start(&["--listen", &c_at]);
    c.ok(&["staff", "add", "omar", "--name", "Omar Said"]);
    wait_until(
        "the back office has the laptop's edit, the founder still off",
        || b.run(&["staff", "show", "omar"]).status.success(),
    );
}
