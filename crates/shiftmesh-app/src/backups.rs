//! Backups the node writes by itself: one file per backup, named by the instant it was written
//! (`shiftmesh-20261203T063000Z.automerge`, which `restore` reads), only when the schedule
//! changed since the last one, and those older than the policy keeps removed (the newest
//! [`BACKUPS_KEPT_MIN`] are always kept). Files of any other name in the directory are never
//! touched.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{BackupPolicy, Config};
use crate::context::Context;
use crate::session::Session;
use crate::{AppError, BackupList, Reply, Result};

const FILE_PREFIX: &str = "shiftmesh-";
const FILE_SUFFIX: &str = ".automerge";
const FILE_TIME_FORMAT: &str = "%Y%m%dT%H%M%SZ";
/// The most backup files listed or considered for pruning in one directory.
pub const BACKUP_FILES_MAX: usize = 10_000;
/// The newest backups kept whatever their age: a clock that jumps forward must not make every
/// backup look old.
pub const BACKUPS_KEPT_MIN: usize = 3;

/// One scheduled backup on disk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackupFile {
    pub path: PathBuf,
    /// When it was written (RFC 3339, UTC), from its name.
    pub time: String,
    pub bytes: u64,
}

/// What one scheduled run did.
#[derive(Debug, Default, PartialEq)]
pub struct BackupRun {
    pub written: Option<PathBuf>,
    pub pruned: Vec<PathBuf>,
}

fn file_name(at: jiff::Timestamp) -> String {
    format!(
        "{FILE_PREFIX}{}{FILE_SUFFIX}",
        at.strftime(FILE_TIME_FORMAT)
    )
}

fn time_of(name: &str) -> Option<jiff::Timestamp> {
    let stamp = name.strip_prefix(FILE_PREFIX)?.strip_suffix(FILE_SUFFIX)?;
    // The name's instant is UTC (its trailing Z), read as a civil time in UTC.
    jiff::civil::DateTime::strptime(FILE_TIME_FORMAT, stamp)
        .and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::UTC))
        .map(|z| z.timestamp())
        .ok()
}

/// The scheduled backups in `dir`, newest first; a directory that does not exist has none.
pub fn list(dir: &Path) -> Result<Vec<BackupFile>> {
    Ok(dated(dir)?.into_iter().map(|(_, file)| file).collect())
}

/// The scheduled backups in `dir` with the instant each was written, newest first.
fn dated(dir: &Path) -> Result<Vec<(jiff::Timestamp, BackupFile)>> {
    let entries = match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        other => other.map_err(|source| AppError::File {
            path: dir.to_owned(),
            source,
        })?,
    };
    let mut found: Vec<(jiff::Timestamp, BackupFile)> = entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let at = time_of(entry.file_name().to_str()?)?;
            let meta = entry.metadata().ok().filter(|m| m.is_file())?;
            Some((
                at,
                BackupFile {
                    path: entry.path(),
                    time: at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
                    bytes: meta.len(),
                },
            ))
        })
        .take(BACKUP_FILES_MAX)
        .collect();
    found.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    Ok(found)
}

/// `backup list`: the scheduled backups of this data directory's settings.
pub fn list_configured(ctx: &mut Context) -> Result<Reply> {
    let config = Config::load(&ctx.data_dir)?;
    let Some(policy) = config.backup_policy(&ctx.data_dir)? else {
        return Ok(Reply::Backups(BackupList {
            dir: None,
            every: None,
            keep_days: None,
            backups: Vec::new(),
        }));
    };
    Ok(Reply::Backups(BackupList {
        backups: list(&policy.dir)?,
        dir: Some(policy.dir),
        every: Some(config.backup.every),
        keep_days: Some(policy.keep_days),
    }))
}

/// Whether a backup is due at `now_ms`: never written, or older than the policy's interval
/// and the schedule changed since.
pub fn due(
    policy: &BackupPolicy,
    last: Option<&(i64, Vec<automerge::ChangeHash>)>,
    heads: &[automerge::ChangeHash],
    now_ms: i64,
) -> bool {
    match last {
        None => true,
        Some((at_ms, last_heads)) => {
            now_ms.saturating_sub(*at_ms) >= policy.every.as_millis() as i64
                && last_heads.as_slice() != heads
        }
    }
}

/// Writes a backup if one is due, then removes those older than the policy keeps.
pub fn run_scheduled(
    session: &mut Session,
    policy: &BackupPolicy,
    now_ms: i64,
) -> Result<BackupRun> {
    let mut run = BackupRun::default();
    let heads = session.schedule.heads();
    let last = session.store.last_backup()?;
    if due(policy, last.as_ref(), &heads, now_ms) {
        let at = jiff::Timestamp::from_millisecond(now_ms)
            .map_err(|e| AppError::Refused(format!("the clock reads no instant ({e})")))?;
        // Only the directory itself is made: when its parent is missing (a USB stick not
        // mounted), the backup must not land on the disk beneath the mount point.
        if !policy.dir.is_dir() {
            std::fs::create_dir(&policy.dir).map_err(|source| AppError::File {
                path: policy.dir.clone(),
                source,
            })?;
        }
        let path = policy.dir.join(file_name(at));
        let bytes = session.schedule.doc_mut().save();
        crate::transfer::write_backup(&path, &bytes, &session.schedule)?;
        session.store.record_backup(now_ms, &heads)?;
        run.written = Some(path);
    }
    let keep_from = now_ms.saturating_sub(i64::from(policy.keep_days) * 86_400_000);
    for (written, old) in dated(&policy.dir)?.into_iter().skip(BACKUPS_KEPT_MIN) {
        if written.as_millisecond() < keep_from {
            std::fs::remove_file(&old.path).map_err(|source| AppError::File {
                path: old.path.clone(),
                source,
            })?;
            // Its signatures go with it (a backup of an older release has none).
            let beside = crate::transfer::signatures_beside(&old.path);
            if let Err(source) = std::fs::remove_file(&beside) {
                if source.kind() != std::io::ErrorKind::NotFound {
                    return Err(AppError::File {
                        path: beside,
                        source,
                    });
                }
            }
            run.pruned.push(old.path);
        }
    }
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_backup_is_due_once_per_interval_and_only_after_a_change() {
        let policy = BackupPolicy {
            every: Duration::from_secs(86_400),
            keep_days: 14,
            dir: PathBuf::new(),
        };
        let a = [automerge::ChangeHash([1; 32])];
        let b = [automerge::ChangeHash([2; 32])];
        let day_ms = 86_400_000;
        assert!(due(&policy, None, &a, 0));
        let last = (0, a.to_vec());
        assert!(!due(&policy, Some(&last), &b, day_ms - 1), "too soon");
        assert!(
            !due(&policy, Some(&last), &a, 3 * day_ms),
            "nothing changed"
        );
        assert!(due(&policy, Some(&last), &b, day_ms));
    }

    #[test]
    fn names_carry_the_instant_and_other_files_are_not_backups() {
        let at: jiff::Timestamp = "2026-12-03T06:30:00Z".parse().unwrap();
        assert_eq!(file_name(at), "shiftmesh-20261203T063000Z.automerge");
        assert_eq!(time_of(&file_name(at)), Some(at));
        assert_eq!(time_of("notes.txt"), None);
        assert_eq!(time_of("shiftmesh-yesterday.automerge"), None);
    }
}
