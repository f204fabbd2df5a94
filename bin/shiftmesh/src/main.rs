//! `shiftmesh`: parse the command line, then run the command — through the node when one
//! runs on the data directory (it holds the store), else against the store directly.
//! Exit codes: 0 success, 1 the operation failed, 2 usage error. Errors are one line on stderr.

mod cli;
mod commands;
mod conflicts;
mod context;
mod invite;
mod node;
mod output;
mod peers;
mod transfer;
mod views;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

/// An error in what the user typed: reported with exit code 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_failure(e),
    };
    let result = match cli.command {
        Command::Node(_) => node::run(cli),
        Command::Events => node::follow_events(&cli),
        _ => match node::forward(&cli) {
            Some(code) => return ExitCode::from(code),
            None => {
                context::Context::new(&cli).and_then(|mut ctx| commands::run(cli.command, &mut ctx))
            }
        },
    };
    let (code, error) = outcome(result);
    if let Some(error) = error {
        eprintln!("error: {error}");
    }
    ExitCode::from(code)
}

/// The exit code and the one-line error a command's result comes to.
pub fn outcome(result: anyhow::Result<()>) -> (u8, Option<String>) {
    match result {
        Ok(()) => (0, None),
        Err(e) if output::is_broken_pipe(&e) => (0, None),
        Err(e) => {
            let code = if is_usage(&e) { 2 } else { 1 };
            (code, Some(one_line(&format!("{e:#}"))))
        }
    }
}

fn is_usage(error: &anyhow::Error) -> bool {
    error.downcast_ref::<UsageError>().is_some()
        || matches!(
            error.downcast_ref::<shiftmesh_model::ModelError>(),
            Some(shiftmesh_model::ModelError::Input(_))
        )
}

/// Help and version go to stdout with exit 0; a parse error becomes one line and exit 2.
fn usage_failure(error: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // Printing help can only fail on a closed stdout, which is not worth reporting.
            let _ = error.print();
            if error.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        }
        _ => {
            eprintln!("error: {}", usage_line(&error));
            ExitCode::from(2)
        }
    }
}

/// A clap error as one line.
pub fn usage_line(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    let first = rendered
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ");
    format!("{first} (see 'shiftmesh --help')")
}

fn one_line(text: &str) -> String {
    text.split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}
