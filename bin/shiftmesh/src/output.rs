//! Writing to stdout: JSON or text, and a closed pipe (`| head`) ends the program quietly.
//! A command the node runs for a client writes into a buffer instead, sent back whole.

use std::cell::RefCell;
use std::io::Write;

use serde::Serialize;

thread_local! {
    /// Where output goes while a command runs inside the node.
    static CAPTURE: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
}

/// Runs `body` with its output collected; returns the output and what `body` returned.
pub fn capture<T>(body: impl FnOnce() -> T) -> (String, T) {
    CAPTURE.with(|c| *c.borrow_mut() = Some(Vec::new()));
    let result = body();
    let bytes = CAPTURE.with(|c| c.borrow_mut().take()).unwrap_or_default();
    (String::from_utf8_lossy(&bytes).into_owned(), result)
}

/// Whether output is being collected for a client (so no progress bar is drawn).
pub fn capturing() -> bool {
    CAPTURE.with(|c| c.borrow().is_some())
}

fn write(bytes: &[u8]) -> std::io::Result<()> {
    let captured = CAPTURE.with(|c| match c.borrow_mut().as_mut() {
        Some(buffer) => {
            buffer.extend_from_slice(bytes);
            true
        }
        None => false,
    });
    if captured {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}

/// Prints one JSON document.
pub fn json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value)?;
    bytes.push(b'\n');
    write(&bytes)?;
    Ok(())
}

/// Prints text as it is.
pub fn text(text: &str) -> anyhow::Result<()> {
    let mut bytes = text.as_bytes().to_vec();
    if !text.ends_with('\n') && !text.is_empty() {
        bytes.push(b'\n');
    }
    write(&bytes)?;
    Ok(())
}

/// Prints `value` as JSON with `--json`, else the text `human` makes.
pub fn either<T: Serialize + ?Sized>(
    as_json: bool,
    value: &T,
    human: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if as_json {
        json(value)
    } else {
        text(&human())
    }
}

pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || cause
                .downcast_ref::<serde_json::Error>()
                .is_some_and(|e| e.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
    })
}
