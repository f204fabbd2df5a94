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

/// Prints text made for a person: control characters other than line breaks and tabs (a
/// terminal escape another Automerge program stored in a label, say) are shown as `\u{…}`
/// rather than sent to the terminal, where they could clear it or forge lines.
pub fn human(text: &str) -> anyhow::Result<()> {
    if !text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return self::text(text);
    }
    let shown: String = text
        .chars()
        .map(|c| match c {
            '\n' | '\t' => c.to_string(),
            c if c.is_control() => c.escape_unicode().to_string(),
            c => c.to_string(),
        })
        .collect();
    self::text(&shown)
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
        self::human(&human())
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
