//! `shiftmesh service install|uninstall|status`: the node as a systemd service, so it starts
//! with the machine and restarts if it stops. A user unit by default (the node runs as the user
//! who installs it, on their data directory); run as root, a system unit that runs as its own
//! user on /var/lib/shiftmesh (the unit shipped in `packaging/shiftmesh.service`). Also the
//! shell completions and the man pages, generated from the command line's definition.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _};
use serde::Serialize;

use crate::cli::{Cli, ServiceCommand};

/// The system unit, as packaged; its ExecStart names `/usr/bin/shiftmesh`.
pub const SYSTEM_UNIT: &str = include_str!("../packaging/shiftmesh.service");
const UNIT_NAME: &str = "shiftmesh.service";
const SYSTEM_UNIT_DIR: &str = "/etc/systemd/system";
/// Where the Debian package puts the system unit.
const PACKAGED_UNIT: &str = "/lib/systemd/system/shiftmesh.service";
const SYSTEM_USER: &str = "shiftmesh";
const SYSTEM_DATA_DIR: &str = "/var/lib/shiftmesh";
const PACKAGED_BINARY: &str = "/usr/bin/shiftmesh";

/// Which systemd manager a unit belongs to.
enum Scope {
    /// The user's own manager (`systemctl --user`), with the data directory to run on.
    User {
        data_dir: PathBuf,
    },
    System,
}

impl Scope {
    fn of(cli: &Cli, user: bool) -> anyhow::Result<Scope> {
        if user || !rustix::process::geteuid().is_root() {
            Ok(Scope::User {
                data_dir: std::path::absolute(crate::data_dir(cli)?)?,
            })
        } else {
            Ok(Scope::System)
        }
    }

    fn unit_path(&self) -> anyhow::Result<PathBuf> {
        Ok(match self {
            Scope::System => Path::new(SYSTEM_UNIT_DIR).join(UNIT_NAME),
            Scope::User { .. } => user_config_dir()?.join("systemd/user").join(UNIT_NAME),
        })
    }

    fn systemctl(&self, args: &[&str]) -> std::io::Result<std::process::Output> {
        let mut command = Command::new("systemctl");
        if let Scope::User { .. } = self {
            command.arg("--user");
        }
        command.args(args).output()
    }
}

fn user_config_dir() -> anyhow::Result<PathBuf> {
    if let Some(xdg) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(xdg));
    }
    let home = std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .context("neither XDG_CONFIG_HOME nor HOME is set")?;
    Ok(PathBuf::from(home).join(".config"))
}

/// Directives of the system unit a user's manager cannot apply, running without privileges:
/// the unit's own user and state directory, the system's network target, and the sandboxing
/// that needs namespaces or privileges.
const SYSTEM_ONLY_KEYS: &[&str] = &[
    "After",
    "Wants",
    "User",
    "Group",
    "StateDirectory",
    "StateDirectoryMode",
    "ProtectSystem",
    "ProtectHome",
    "PrivateTmp",
    "PrivateDevices",
    "ProtectKernelTunables",
    "ProtectKernelModules",
    "ProtectControlGroups",
    "ProtectClock",
    "ProtectHostname",
    "RestrictNamespaces",
    "RestrictSUIDSGID",
    "MemoryDenyWriteExecute",
    "SystemCallArchitectures",
    "ReadWritePaths",
];

/// The unit a user's manager runs: the packaged unit, less what only a system manager can
/// apply, running this binary on the user's data directory.
fn user_unit(exe: &Path, data_dir: &Path) -> String {
    let mut unit = String::from(
        "# Written by 'shiftmesh service install' from the packaged unit; \
         'shiftmesh service uninstall' removes it.\n",
    );
    for line in SYSTEM_UNIT.lines().filter(|l| !l.starts_with('#')) {
        match line.split_once('=').map(|(key, _)| key) {
            Some(key) if SYSTEM_ONLY_KEYS.contains(&key) => continue,
            Some("ExecStart") => unit.push_str(&format!(
                "ExecStart=\"{}\" --data-dir \"{}\" node",
                exe.display(),
                data_dir.display()
            )),
            Some("WantedBy") => unit.push_str("WantedBy=default.target"),
            _ => unit.push_str(line),
        }
        unit.push('\n');
    }
    unit
}

fn system_unit(exe: &Path) -> String {
    SYSTEM_UNIT.replace(PACKAGED_BINARY, &exe.display().to_string())
}

/// Runs `systemctl` and says plainly what went wrong when it did.
fn systemctl(scope: &Scope, args: &[&str]) -> anyhow::Result<()> {
    let out = scope.systemctl(args).with_context(|| {
        "systemctl is not available here: shiftmesh runs as a service under systemd only \
         (elsewhere, start 'shiftmesh node' the way that system starts programs)"
    })?;
    if !out.status.success() {
        bail!(
            "systemctl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

pub fn run(cli: &Cli, command: &ServiceCommand) -> anyhow::Result<()> {
    match command {
        ServiceCommand::Install { user } => install(cli, *user),
        ServiceCommand::Uninstall { user } => uninstall(cli, *user),
        ServiceCommand::Status { user } => status(cli, *user),
    }
}

fn install(cli: &Cli, user: bool) -> anyhow::Result<()> {
    let scope = Scope::of(cli, user)?;
    let exe = std::env::current_exe().context("finding this program's path")?;
    let unit = match &scope {
        Scope::User { data_dir } => user_unit(&exe, data_dir),
        Scope::System => {
            if Path::new(PACKAGED_UNIT).exists() {
                bail!(
                    "the shiftmesh package installed the system service already ({PACKAGED_UNIT}); \
                     'systemctl status shiftmesh' shows it"
                );
            }
            // The unit hides /home and /root from the node (ProtectHome=yes).
            if exe.starts_with("/home") || exe.starts_with("/root") {
                bail!(
                    "the system service cannot run {} (the unit hides /home and /root): install \
                     the package, or copy the binary to /usr/local/bin and run it from there",
                    exe.display()
                );
            }
            ensure_system_user()?;
            system_unit(&exe)
        }
    };
    let path = scope.unit_path()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    shiftmesh_store::write_file_atomically(&path, unit.as_bytes())?;
    println!("wrote {}", path.display());
    let started = systemctl(&scope, &["daemon-reload"])
        .and_then(|()| systemctl(&scope, &["enable", "--now", UNIT_NAME]));
    if let Err(e) = started {
        bail!(
            "{e:#}; the unit is written ({}): once systemd runs, '{}systemctl{} enable --now shiftmesh' starts it",
            path.display(),
            if matches!(scope, Scope::System) { "sudo " } else { "" },
            if matches!(scope, Scope::System) { "" } else { " --user" },
        );
    }
    match &scope {
        Scope::User { data_dir } => println!(
            "the node runs as a user service on {} and starts when you log in; \
             'loginctl enable-linger' starts it at boot",
            data_dir.display()
        ),
        Scope::System => println!(
            "the node runs as a system service (user {SYSTEM_USER}, data in {SYSTEM_DATA_DIR}) \
             and starts at boot"
        ),
    }
    Ok(())
}

/// Creates the system user the system unit runs as, if it does not exist.
fn ensure_system_user() -> anyhow::Result<()> {
    let exists = Command::new("getent")
        .args(["passwd", SYSTEM_USER])
        .output()
        .is_ok_and(|o| o.status.success());
    if exists {
        return Ok(());
    }
    let out = Command::new("useradd")
        .args(["--system", "--user-group", "--home-dir", SYSTEM_DATA_DIR])
        .args([
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            SYSTEM_USER,
        ])
        .output()
        .context("useradd is not available to create the service's user")?;
    if !out.status.success() {
        bail!(
            "could not create the user {SYSTEM_USER}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn uninstall(cli: &Cli, user: bool) -> anyhow::Result<()> {
    let scope = Scope::of(cli, user)?;
    let path = scope.unit_path()?;
    if !path.exists() {
        if matches!(scope, Scope::System) && Path::new(PACKAGED_UNIT).exists() {
            bail!(
                "the shiftmesh package installed the system service: 'apt remove shiftmesh' \
                 removes it (the data stays)"
            );
        }
        println!(
            "no service is installed ({} does not exist)",
            path.display()
        );
        return Ok(());
    }
    // Stopping fails where systemd does not run; the unit file goes either way.
    let _ = systemctl(&scope, &["disable", "--now", UNIT_NAME]);
    std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    let _ = systemctl(&scope, &["daemon-reload"]);
    println!("removed {}; the data directory stays", path.display());
    Ok(())
}

#[derive(Serialize)]
struct ServiceState {
    unit: PathBuf,
    installed: bool,
    /// `systemctl is-enabled` and `is-active`, or why they could not be asked.
    enabled: String,
    active: String,
}

fn status(cli: &Cli, user: bool) -> anyhow::Result<()> {
    let scope = Scope::of(cli, user)?;
    let mut unit = scope.unit_path()?;
    if matches!(scope, Scope::System) && !unit.exists() && Path::new(PACKAGED_UNIT).exists() {
        unit = PathBuf::from(PACKAGED_UNIT);
    }
    let ask = |what: &str| match scope.systemctl(&[what, UNIT_NAME]) {
        Ok(out) if !String::from_utf8_lossy(&out.stdout).trim().is_empty() => {
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        }
        Ok(out) => format!("unknown ({})", String::from_utf8_lossy(&out.stderr).trim()),
        Err(_) => "unknown (systemctl is not available)".to_owned(),
    };
    let state = ServiceState {
        installed: unit.exists(),
        enabled: ask("is-enabled"),
        active: ask("is-active"),
        unit,
    };
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&state)?);
    } else if state.installed {
        println!(
            "unit     {}\nenabled  {}\nactive   {}",
            state.unit.display(),
            state.enabled,
            state.active
        );
    } else {
        println!(
            "not installed ({} does not exist); 'shiftmesh service install' installs it",
            state.unit.display()
        );
    }
    Ok(())
}

/// `shiftmesh completions SHELL`: the completion script on stdout.
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<()> {
    let mut command = crate::cli::command();
    // Written to memory first: clap_complete panics when its writer fails (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "shiftmesh", &mut script);
    crate::output::text(&String::from_utf8_lossy(&script))
}

/// `shiftmesh man DIR`: a man page for shiftmesh and one for each command (`shiftmesh-node.1`,
/// `shiftmesh-peers-trust.1`), written into DIR.
pub fn man_pages(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    clap_mangen::generate_to(crate::cli::command(), dir)
        .with_context(|| format!("writing man pages into {}", dir.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_unit_runs_this_binary_and_the_user_unit_its_data_directory() {
        let unit = system_unit(Path::new("/opt/shiftmesh/bin/shiftmesh"));
        assert!(unit
            .contains("ExecStart=/opt/shiftmesh/bin/shiftmesh --data-dir /var/lib/shiftmesh node"));
        assert!(unit.contains("Type=notify") && unit.contains("User=shiftmesh"));
        let unit = user_unit(Path::new("/usr/bin/shiftmesh"), Path::new("/home/ana/data"));
        assert!(
            unit.contains("ExecStart=\"/usr/bin/shiftmesh\" --data-dir \"/home/ana/data\" node")
        );
        assert!(unit.contains("WantedBy=default.target") && !unit.contains("User="));
    }
}
