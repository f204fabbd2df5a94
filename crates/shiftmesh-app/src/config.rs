//! The node's settings file, `DATA/config.toml`: what the flags of `shiftmesh node` say, kept
//! in one place so that a service starts the same way every time. A flag given on the command
//! line wins over the file; a key the file does not name takes its default. Every key is
//! documented in docs/OPERATIONS.md.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{AppError, Result};

pub const CONFIG_FILE: &str = "config.toml";
/// A settings file is a few lines; anything larger is not one.
pub const CONFIG_FILE_MAX_BYTES: u64 = 64 * 1024;
/// Where scheduled backups go unless the file says otherwise (inside the data directory).
pub const DEFAULT_BACKUP_DIR: &str = "backups";
/// How often a backup is written unless the file says otherwise.
pub const DEFAULT_BACKUP_EVERY: &str = "24h";
/// How long a scheduled backup is kept unless the file says otherwise.
pub const DEFAULT_BACKUP_KEEP_DAYS: u32 = 14;
/// The longest a backup may be kept (ten years).
pub const BACKUP_KEEP_DAYS_MAX: u32 = 3650;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Multiaddresses to listen on for peers, like "/ip4/0.0.0.0/tcp/4780".
    pub listen: Vec<String>,
    /// Peers to dial and keep dialing, like "/ip4/192.168.1.20/tcp/4780".
    pub peers: Vec<String>,
    /// Whether to look for peers on the LAN with mDNS (default true).
    pub mdns: Option<bool>,
    /// Where the page and the HTTP API listen ("127.0.0.1:4781" by default), or "off".
    pub ui_listen: Option<String>,
    pub backup: BackupConfig,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupConfig {
    /// How often: a number and a unit (s, m, h, d), like "24h", or "off".
    pub every: String,
    /// How many days a scheduled backup is kept; the newest three are always kept.
    pub keep_days: u32,
    /// The directory, such as a USB stick's mount point (default DATA/backups).
    pub dir: Option<PathBuf>,
}

impl Default for BackupConfig {
    fn default() -> BackupConfig {
        BackupConfig {
            every: DEFAULT_BACKUP_EVERY.into(),
            keep_days: DEFAULT_BACKUP_KEEP_DAYS,
            dir: None,
        }
    }
}

/// When and where the node writes backups by itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupPolicy {
    pub every: Duration,
    pub keep_days: u32,
    pub dir: PathBuf,
}

impl Config {
    /// Reads `DATA/config.toml`; a missing file is every default.
    pub fn load(data_dir: &Path) -> Result<Config> {
        let path = data_dir.join(CONFIG_FILE);
        let file_error = |source| AppError::File {
            path: path.clone(),
            source,
        };
        let text = match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => return Err(file_error(e)),
            Ok(meta) if meta.len() > CONFIG_FILE_MAX_BYTES => {
                return Err(AppError::Invalid(format!(
                    "{}: {} bytes is not a settings file (at most {CONFIG_FILE_MAX_BYTES})",
                    path.display(),
                    meta.len()
                )))
            }
            Ok(_) => std::fs::read_to_string(&path).map_err(file_error)?,
        };
        let config: Config = toml::from_str(&text).map_err(|e| {
            // `FILE:LINE: what is wrong`, as for CSV files.
            let line = e.span().map_or(1, |span| {
                text[..span.start.min(text.len())].matches('\n').count() + 1
            });
            AppError::Invalid(format!("{}:{line}: {}", path.display(), e.message()))
        })?;
        // Checked now, so a mistake stops the node at start, not at the first backup.
        config
            .backup_policy(data_dir)
            .map_err(|e| AppError::Invalid(format!("{}: {e}", path.display())))?;
        Ok(config)
    }

    /// The backup schedule the file asks for (None: "off"), with its directory resolved
    /// against the data directory.
    pub fn backup_policy(&self, data_dir: &Path) -> Result<Option<BackupPolicy>> {
        let Some(every) = parse_every(&self.backup.every)? else {
            return Ok(None);
        };
        if !(1..=BACKUP_KEEP_DAYS_MAX).contains(&self.backup.keep_days) {
            return Err(AppError::Invalid(format!(
                "backup.keep_days is {}, not between 1 and {BACKUP_KEEP_DAYS_MAX}",
                self.backup.keep_days
            )));
        }
        let dir = match &self.backup.dir {
            Some(dir) => data_dir.join(dir),
            None => data_dir.join(DEFAULT_BACKUP_DIR),
        };
        Ok(Some(BackupPolicy {
            every,
            keep_days: self.backup.keep_days,
            dir,
        }))
    }
}

/// A duration as people write it: a whole number and a unit, s, m, h or d ("90s", "30m",
/// "24h", "7d"); None for anything else. Each caller bounds it as its setting needs.
pub fn parse_duration(text: &str) -> Option<Duration> {
    // The unit is the last character, which may be any character a user typed.
    let unit_at = text.char_indices().last().map_or(0, |(at, _)| at);
    let (number, unit) = text.split_at(unit_at);
    let n: u64 = number.parse().ok()?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(unit_secs).map(Duration::from_secs)
}

/// The longest interval between scheduled backups.
const BACKUP_EVERY_MAX_SECS: u64 = 366 * 86_400;

/// Reads `backup.every`: a duration of one second to a year, or "off".
pub fn parse_every(text: &str) -> Result<Option<Duration>> {
    if text == "off" {
        return Ok(None);
    }
    match parse_duration(text) {
        Some(every) if (1..=BACKUP_EVERY_MAX_SECS).contains(&every.as_secs()) => Ok(Some(every)),
        _ => Err(AppError::Invalid(format!(
            "backup.every is '{text}', not a duration like 24h, 30m or 7d (or \"off\")"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_every_default_and_a_written_one_is_read_key_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::load(dir.path()).unwrap();
        assert_eq!(config, Config::default());
        let policy = config.backup_policy(dir.path()).unwrap().unwrap();
        assert_eq!(policy.every, Duration::from_secs(86_400));
        assert_eq!(policy.dir, dir.path().join("backups"));
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "listen = [\"/ip4/0.0.0.0/tcp/4790\"]\nmdns = false\nui_listen = \"off\"\n\
             [backup]\nevery = \"6h\"\nkeep_days = 3\ndir = \"/media/usb\"\n",
        )
        .unwrap();
        let config = Config::load(dir.path()).unwrap();
        assert_eq!(config.listen, ["/ip4/0.0.0.0/tcp/4790"]);
        assert_eq!(config.mdns, Some(false));
        assert_eq!(config.ui_listen.as_deref(), Some("off"));
        let policy = config.backup_policy(dir.path()).unwrap().unwrap();
        assert_eq!(policy.every, Duration::from_secs(6 * 3600));
        assert_eq!(policy.keep_days, 3);
        assert_eq!(policy.dir, Path::new("/media/usb"));
    }

    #[test]
    fn mistakes_are_refused_with_the_file_and_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        for (text, expected) in [
            ("lisen = []\n", "unknown field"),
            ("[backup]\nevery = \"often\"\n", "not a duration"),
            ("[backup]\nevery = \"0h\"\n", "not a duration"),
            ("[backup]\nkeep_days = 0\n", "keep_days"),
            ("mdns = \"yes\"\n", "invalid type"),
        ] {
            std::fs::write(dir.path().join(CONFIG_FILE), text).unwrap();
            let error = Config::load(dir.path()).unwrap_err().to_string();
            assert!(error.contains("config.toml"), "{error}");
            assert!(error.contains(expected), "{text:?}: {error}");
        }
        assert_eq!(parse_every("off").unwrap(), None);
        assert_eq!(parse_every("90s").unwrap(), Some(Duration::from_secs(90)));
    }
}
