//! Writing to stdout: JSON or text, and a closed pipe (`| head`) ends the program quietly.

use std::io::Write;

use serde::Serialize;

fn write(bytes: &[u8]) -> std::io::Result<()> {
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
