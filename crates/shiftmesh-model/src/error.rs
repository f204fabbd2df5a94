//! Errors of the schedule model.

use thiserror::Error;

/// A value given by a user (or a file) that is not acceptable: a malformed id, date, time or
/// zone, or a combination that cannot hold (minimum staff above capacity).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct InputError {
    pub message: String,
}

impl InputError {
    pub fn new(message: impl Into<String>) -> Self {
        InputError {
            message: message.into(),
        }
    }
}

/// What can go wrong when reading or changing the schedule.
#[derive(Debug, Error)]
pub enum ModelError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{kind} '{id}' does not exist")]
    NotFound { kind: &'static str, id: String },
    #[error("{kind} '{id}' already exists")]
    AlreadyExists { kind: &'static str, id: String },
    #[error("{0}")]
    Refused(String),
    #[error("the document holds a {kind} '{id}' that cannot be read: {reason}")]
    Malformed {
        kind: &'static str,
        id: String,
        reason: String,
    },
    /// The document's schema is newer than this version, and its note says this version
    /// must not make this change.
    #[error("{0}")]
    NewerSchema(String),
    #[error("not a shiftmesh schedule: {0}")]
    NotASchedule(String),
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
}

pub type Result<T, E = ModelError> = std::result::Result<T, E>;
