//! Free text as every front end takes it: one line (names, labels, roles) or several (notes,
//! reasons), by the rules the CSV import and export share.

use shiftmesh_model::entity::{check_multiline_text, check_text, normalize_line_breaks};

use crate::{AppError, Result};

/// One line of text, empty when not given.
pub fn checked_text(what: &str, text: Option<String>) -> Result<String> {
    let text = text.unwrap_or_default();
    check_text(what, &text).map_err(|e| AppError::Usage(e.message))?;
    Ok(text)
}

/// Text that may run over several lines (a note, a reason), empty when not given.
pub fn checked_lines(what: &str, text: Option<String>) -> Result<String> {
    let text = normalize_line_breaks(&text.unwrap_or_default());
    check_multiline_text(what, &text).map_err(|e| AppError::Usage(e.message))?;
    Ok(text)
}
