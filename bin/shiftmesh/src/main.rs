//! `shiftmesh`: parse the command line, then run it — through the node when one runs on the
//! data directory (it holds the store), else against the store directly.
//! Exit codes: 0 success, 1 the operation failed, 2 usage error. Errors are one line on stderr.

use std::process::ExitCode;

use shiftmesh::{outcome, usage_line};

fn main() -> ExitCode {
    // Automerge panics on some malformed input; those calls are guarded and refuse the input,
    // so their panics are not news to the user.
    shiftmesh_model::guard::quiet_guarded_panics();
    shiftmesh_store::keep_new_files_private();
    let cli = match shiftmesh::cli::parse() {
        Ok(cli) => cli,
        Err(e) => return usage_failure(e),
    };
    let (code, error) = outcome(shiftmesh::run(cli));
    if let Some(error) = error {
        eprintln!("error: {error}");
    }
    ExitCode::from(code)
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
