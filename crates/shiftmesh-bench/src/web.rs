//! The web paths, on the headline site of real nodes: the week view over HTTP; an edit over
//! HTTP on one node until the event is on every other node's Server-Sent Events stream; and the
//! memory 100 open event streams cost a node. Requests are made the way the page makes them,
//! signed in with the owner's link.

use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::cluster::{Cluster, Node, WAIT_LIMIT};
use crate::report::{millis, ms, percentile, Row, Target};

const WEEK_VIEW_P50_TARGET_MS: f64 = 20.0;
const WEEK_VIEW_P99_TARGET_MS: f64 = 50.0;
const EDIT_TO_STREAMS_P50_TARGET_MS: f64 = 15.0;
const EDIT_TO_STREAMS_P99_TARGET_MS: f64 = 50.0;
/// How many week views are timed.
const WEEK_VIEWS: usize = 200;
/// How many event streams are opened to weigh them.
const STREAMS_WEIGHED: usize = 100;

/// A client of one node's API, signed in as its owner.
pub(crate) struct Client {
    agent: ureq::Agent,
    base: String,
    cookie: String,
}

impl Client {
    pub(crate) fn owner(node: &Node) -> anyhow::Result<Client> {
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .timeout_global(Some(WAIT_LIMIT))
                .build(),
        );
        let response = agent.get(&node.login_link()?).call()?;
        let cookie = response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .context("the login link set no cookie")?
            .to_owned();
        Ok(Client {
            agent,
            base: node.ui()?.trim_end_matches('/').to_owned(),
            cookie,
        })
    }

    pub(crate) fn get(&self, path: &str) -> anyhow::Result<Value> {
        let mut response = self
            .agent
            .get(&format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .call()?;
        if response.status() != 200 {
            bail!("GET {path}: {}", response.status());
        }
        Ok(response.body_mut().read_json()?)
    }

    pub(crate) fn patch(&self, path: &str, body: Value) -> anyhow::Result<()> {
        let response = self
            .agent
            .patch(&format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send_json(body)?;
        if response.status() != 200 {
            bail!("PATCH {path}: {}", response.status());
        }
        Ok(())
    }

    /// Opens the event stream; each event's JSON goes to `tx` with when it arrived.
    fn follow(&self, tag: usize, tx: mpsc::Sender<(usize, Instant, Value)>) -> anyhow::Result<()> {
        let response = self
            .agent
            .get(&format!("{}/api/events", self.base))
            .header("cookie", &self.cookie)
            .call()?;
        if response.status() != 200 {
            bail!("GET /api/events: {}", response.status());
        }
        std::thread::spawn(move || {
            let reader = BufReader::new(response.into_body().into_reader());
            for line in reader.lines() {
                let Ok(line) = line else { return };
                if let Some(data) = line.strip_prefix("data: ") {
                    let value = serde_json::from_str(data).unwrap_or(Value::Null);
                    if tx.send((tag, Instant::now(), value)).is_err() {
                        return;
                    }
                }
            }
        });
        Ok(())
    }
}

/// The week views, the edits to every stream, and the streams' memory; rows for the table.
pub fn measure(cluster: &Cluster, shifts: &[String], edits: usize) -> anyhow::Result<Vec<Row>> {
    let founder = Client::owner(&cluster.founder)?;
    let mut rows = Vec::new();
    // The week view: weeks spread over the whole schedule.
    let dates: Vec<String> = shifts
        .iter()
        .step_by((shifts.len() / WEEK_VIEWS).max(1))
        .take(WEEK_VIEWS)
        .filter_map(|id| {
            founder
                .get(&format!("/api/shifts/{id}"))
                .ok()
                .and_then(|s| s["shift"]["date"].as_str().map(str::to_owned))
        })
        .collect();
    let mut views = Vec::new();
    for date in &dates {
        let started = Instant::now();
        let week = founder.get(&format!("/api/schedule?week={date}"))?;
        views.push(started.elapsed());
        if !week["days"].is_array() {
            bail!("the week view of {date} has no days");
        }
    }
    rows.extend(spread(
        &format!(
            "week view over HTTP (GET /api/schedule?week=…, {} weeks)",
            views.len()
        ),
        &views,
        (WEEK_VIEW_P50_TARGET_MS, WEEK_VIEW_P99_TARGET_MS),
    ));
    // An edit over HTTP on the founder until every other node's page stream has it.
    let (tx, rx) = mpsc::channel();
    let others: Vec<&Node> = cluster
        .nodes()
        .filter(|n| n.dir != cluster.founder.dir)
        .collect();
    for (tag, node) in others.iter().enumerate() {
        Client::owner(node)?.follow(tag, tx.clone())?;
    }
    let mut spans = Vec::new();
    for k in 0..edits {
        let shift = &shifts[k % shifts.len()];
        let capacity = 500 + k;
        let started = Instant::now();
        founder.patch(
            &format!("/api/shifts/{shift}"),
            json!({"capacity": capacity}),
        )?;
        let mut reached = vec![false; others.len()];
        let mut last = started;
        while reached.iter().any(|r| !r) {
            let (tag, at, event) = rx
                .recv_timeout(WAIT_LIMIT)
                .context("an edit did not reach every page stream")?;
            if event["type"] == "entity-updated" && event["id"] == shift.as_str() && at >= started {
                reached[tag] = true;
                last = last.max(at);
            }
        }
        spans.push(last - started);
    }
    rows.extend(spread(
        &format!(
            "edit over HTTP on 1 of {} nodes until the event is on every other node's page stream ({} edits)",
            others.len() + 1,
            spans.len()
        ),
        &spans,
        (EDIT_TO_STREAMS_P50_TARGET_MS, EDIT_TO_STREAMS_P99_TARGET_MS),
    ));
    // The memory of open event streams, on one node.
    let node = others.first().copied().unwrap_or(&cluster.founder);
    let client = Client::owner(node)?;
    let before = node.memory_kib("VmRSS:");
    let (tx, _rx) = mpsc::channel();
    for tag in 0..STREAMS_WEIGHED {
        client.follow(tag, tx.clone())?;
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = node.memory_kib("VmRSS:");
    rows.push(Row {
        figure: format!(
            "resident memory of a node: before / with {STREAMS_WEIGHED} open event streams"
        ),
        ours: format!("{} MiB / {} MiB", before / 1024, after / 1024),
        raw: "—".into(),
        ratio: None,
        target: Target::None,
        value: (after.saturating_sub(before)) as f64 / 1024.0,
    });
    Ok(rows)
}

/// Two rows for a spread of times: p50 against its target, then p99 / max against its own.
pub(crate) fn spread(
    figure: &str,
    times: &[Duration],
    (p50_target, p99_target): (f64, f64),
) -> Vec<Row> {
    let p50 = percentile(times, 0.5);
    let p99 = percentile(times, 0.99);
    vec![
        Row {
            figure: format!("{figure}, p50"),
            ours: ms(p50),
            raw: "—".into(),
            ratio: None,
            target: Target::Millis(p50_target),
            value: millis(p50),
        },
        Row {
            figure: "the same, p99 / max".into(),
            ours: format!("{} / {}", ms(p99), ms(percentile(times, 1.0))),
            raw: "—".into(),
            ratio: None,
            target: Target::Millis(p99_target),
            value: millis(p99),
        },
    ]
}
