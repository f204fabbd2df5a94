//! The `shiftmesh` command line as a library: the binary (`main.rs`) parses and dispatches;
//! everything it runs lives here, so the fuzz targets and the node reach the same code.
//! Exit codes: 0 success, 1 the operation failed, 2 usage error. Errors are one line on stderr.

pub mod cli;
pub mod commands;
mod conflicts;
pub mod context;
pub mod invite;
pub mod node;
mod output;
mod peers;
pub mod transfer;
mod views;

/// An error in what the user typed: reported with exit code 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

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
