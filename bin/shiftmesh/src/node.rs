//! The CLI's side of the node: `shiftmesh node` itself, following its events, asking it for the
//! owner's login link, and the progress bar of long work done without a node.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use shiftmesh_app::Setup;
use shiftmesh_node::control::{Client, ControlReply, ControlRequest};
use shiftmesh_node::NodeOptions;
use shiftmesh_store::Store;

use crate::cli::{Cli, Command};
use crate::{data_dir, output, user};

/// The log filter when RUST_LOG is not set: our own crates at info, libp2p's quiet.
const DEFAULT_LOG_FILTER: &str = "warn,shiftmesh_net=info,shiftmesh_node=info,shiftmesh_http=info";

/// `shiftmesh node`: initialises the data directory if needed, then runs until stopped.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let data_dir = data_dir(&cli)?;
    if !Store::is_initialised(&data_dir) {
        shiftmesh_app::init(
            &data_dir,
            Setup {
                user: user(&cli),
                ..Setup::default()
            },
        )?;
    }
    let owner = user(&cli);
    let Command::Node(args) = cli.command else {
        unreachable!("only called for the node command");
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config = shiftmesh_app::config::Config::load(&data_dir)?;
    let options = node_options(data_dir, args, config, owner)?;
    shiftmesh_node::run(options)?;
    Ok(())
}

/// The node's settings: each flag given on the command line, else the data directory's
/// config.toml, else the default.
fn node_options(
    data_dir: std::path::PathBuf,
    args: crate::cli::NodeArgs,
    config: shiftmesh_app::config::Config,
    owner: String,
) -> anyhow::Result<NodeOptions> {
    let file = data_dir.join(shiftmesh_app::config::CONFIG_FILE);
    let ui = if args.no_ui {
        None
    } else if let Some(address) = args.ui_listen {
        Some(address)
    } else {
        match config.ui_listen.as_deref() {
            None => Some(shiftmesh_node::default_ui_address()),
            Some("off") => None,
            Some(text) => Some(text.parse().map_err(|_| {
                anyhow!(
                    "{}: ui_listen is '{text}', not an address like 127.0.0.1:4781 (or \"off\")",
                    file.display()
                )
            })?),
        }
    };
    let backup = config.backup_policy(&data_dir)?;
    Ok(NodeOptions {
        listen: if args.listen.is_empty() {
            config.listen
        } else {
            args.listen
        },
        peers: if args.peer.is_empty() {
            config.peers
        } else {
            args.peer
        },
        mdns: !args.no_mdns && config.mdns.unwrap_or(true),
        ui,
        owner,
        backup,
        data_dir,
    })
}

fn running_node(cli: &Cli) -> anyhow::Result<Client> {
    let data_dir = data_dir(cli)?;
    Client::connect(&data_dir)?.ok_or_else(|| {
        anyhow!(
            "no node is running on {}; start one with 'shiftmesh node'",
            data_dir.display()
        )
    })
}

/// `shiftmesh events`: prints the running node's events until interrupted.
pub fn follow_events(cli: &Cli) -> anyhow::Result<()> {
    let client = running_node(cli)?;
    let mut out = std::io::stdout();
    // A person at a terminal reads lines; a script (or --json) gets the JSON objects as sent.
    let readable = !cli.json && out.is_terminal();
    let followed = client.events(|line| {
        if readable {
            writeln!(out, "{}", readable_event(line))?;
        } else {
            writeln!(out, "{line}")?;
        }
        out.flush()
    });
    match followed {
        Err(shiftmesh_node::control::ControlError::Io(_, e))
            if e.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            Ok(())
        }
        other => other.context("following events"),
    }
}

/// An event as one line for a person: its time of day, its type, then its other fields.
fn readable_event(line: &str) -> String {
    let Ok(serde_json::Value::Object(mut event)) = serde_json::from_str(line) else {
        return line.to_owned();
    };
    let kind = event
        .remove("type")
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "event".into());
    let time = event
        .remove("time")
        .and_then(|v| v.as_str()?.parse::<jiff::Timestamp>().ok())
        .map(|t| {
            t.to_zoned(jiff::tz::TimeZone::system())
                .strftime("%H:%M:%S")
                .to_string()
        })
        .unwrap_or_default();
    let fields: Vec<String> = event
        .iter()
        .map(|(name, value)| match value {
            serde_json::Value::String(text) => format!("{name}={text}"),
            other => format!("{name}={other}"),
        })
        .collect();
    format!("{time} {kind:<18} {}", fields.join(" "))
}

/// `shiftmesh ui`: a one-time link that opens the page signed in as this machine's owner.
pub fn ui_link(cli: &Cli) -> anyhow::Result<()> {
    let client = running_node(cli)?;
    match client.ask(&ControlRequest::LoginLink)? {
        ControlReply::Link { url, expires } => output::either(
            cli.json,
            &serde_json::json!({"url": url, "expires": expires}),
            || {
                format!("{url}\n\nOpen it in a browser on this machine; it signs you in once, until {expires}.")
            },
        ),
        ControlReply::Failed(failure) => Err(anyhow!(failure.message)),
        ControlReply::Done(_) => Err(anyhow!("the node answered with something else than a link")),
    }
}

/// A progress bar appears only once work has taken this long.
const PROGRESS_AFTER: Duration = Duration::from_secs(1);

/// A progress bar on stderr that shows itself only when work takes longer than a second and
/// stderr is a terminal.
pub struct Progress {
    bar: ProgressBar,
    started: Instant,
    shown: bool,
}

impl Progress {
    pub fn new() -> Progress {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} ({eta} left)")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        Progress {
            bar,
            started: Instant::now(),
            shown: false,
        }
    }

    pub fn set(&mut self, what: &str, done: usize, total: usize) {
        if !self.shown && self.started.elapsed() > PROGRESS_AFTER && std::io::stderr().is_terminal()
        {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.shown = true;
        }
        self.bar.set_length(total as u64);
        self.bar.set_message(what.to_owned());
        self.bar.set_position(done as u64);
    }

    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}
