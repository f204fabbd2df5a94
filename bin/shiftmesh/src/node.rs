//! The CLI's side of the node: `shiftmesh node` itself, sending commands to a running node,
//! following its events, and the executor that runs commands inside it.

use std::io::Write;

use anyhow::{anyhow, Context as _};
use shiftmesh_node::control::{Client, CommandReply, CommandRequest};
use shiftmesh_node::{Executor, NodeOptions, Session, Status};
use shiftmesh_rules::Validator;
use shiftmesh_store::Store;

use crate::cli::{Cli, Command, InitArgs};
use crate::context::{self, Context};
use crate::{commands, output};

/// The log filter when RUST_LOG is not set: our own crates at info, libp2p's quiet.
const DEFAULT_LOG_FILTER: &str = "warn,shiftmesh_net=info,shiftmesh_node=info";

/// `shiftmesh node`: initialises the data directory if needed, then runs until stopped.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let data_dir = context::data_dir(&cli)?;
    if !Store::is_initialised(&data_dir) {
        let mut ctx = Context::new(&cli)?;
        commands::run(Command::Init(InitArgs::default()), &mut ctx)?;
    }
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
    let options = NodeOptions {
        data_dir,
        listen: args.listen,
        peers: args.peer,
        mdns: !args.no_mdns,
    };
    shiftmesh_node::run(options, CliExecutor)?;
    Ok(())
}

/// Sends the command to the node running on the data directory, if one runs: prints its
/// answer and returns the exit code. None when no node runs (or for `init`, which never
/// needs one).
pub fn forward(cli: &Cli) -> Option<u8> {
    if matches!(cli.command, Command::Init(_)) {
        return None;
    }
    let data_dir = context::data_dir(cli).ok()?;
    let client = match Client::connect(&data_dir) {
        Ok(client) => client?,
        Err(e) => {
            eprintln!("error: {e}");
            return Some(1);
        }
    };
    let request = CommandRequest {
        args: std::env::args().skip(1).collect(),
        user: context::user(cli),
        cwd: std::env::current_dir().unwrap_or_default(),
    };
    match client.command(request) {
        Err(e) => {
            eprintln!("error: {e}");
            Some(1)
        }
        Ok(reply) => {
            let mut out = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth reporting.
            let _ = out
                .write_all(reply.stdout.as_bytes())
                .and_then(|()| out.flush());
            if let Some(error) = reply.error {
                eprintln!("error: {error}");
            }
            Some(reply.code)
        }
    }
}

/// `shiftmesh events`: prints the running node's events until interrupted.
pub fn follow_events(cli: &Cli) -> anyhow::Result<()> {
    let data_dir = context::data_dir(cli)?;
    let client = Client::connect(&data_dir)?.ok_or_else(|| {
        anyhow!(
            "no node is running on {}; start one with 'shiftmesh node'",
            data_dir.display()
        )
    })?;
    let mut out = std::io::stdout();
    let followed = client.events(|line| {
        writeln!(out, "{line}")?;
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

/// Runs commands inside the node, exactly as they run outside it.
pub struct CliExecutor;

impl Executor for CliExecutor {
    fn execute(
        &mut self,
        session: &mut Session,
        validation: &Validator,
        status: &mut dyn FnMut(&mut Session) -> Status,
        request: CommandRequest,
    ) -> CommandReply {
        let args = std::iter::once("shiftmesh".to_owned()).chain(request.args);
        let mut cli = match <Cli as clap::Parser>::try_parse_from(args) {
            Ok(cli) => cli,
            Err(e) => {
                return CommandReply {
                    stdout: String::new(),
                    error: Some(crate::usage_line(&e)),
                    code: 2,
                }
            }
        };
        cli.resolve_paths(&request.cwd);
        if matches!(cli.command, Command::Restore(_)) {
            return CommandReply {
                stdout: String::new(),
                error: Some("restore replaces the whole store, which the running node holds; stop the node (Ctrl-C), run the restore, then start the node again".into()),
                code: 1,
            };
        }
        let json = cli.json;
        let (stdout, result) = output::capture(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut ctx = Context::live(json, session, validation, status);
                commands::run(cli.command, &mut ctx)
            }))
        });
        let result = result.unwrap_or_else(|_| {
            Err(anyhow!(
                "the command failed inside the node (an internal error; see the node's log); nothing was saved"
            ))
        });
        let (code, error) = crate::outcome(result);
        CommandReply {
            stdout,
            error,
            code,
        }
    }
}
