//! What can go wrong with a request, typed so each front end can say it its own way: the CLI
//! as an exit code and one line, HTTP as a status and a JSON message.

use std::path::PathBuf;

use shiftmesh_model::ModelError;
use shiftmesh_rules::ResolveError;
use shiftmesh_store::StoreError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum AppError {
    /// What the caller sent cannot be right (a malformed value, a missing field).
    #[error("{0}")]
    Usage(String),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Data the caller handed over (a file, a request body) cannot be read: `FILE:LINE: why`.
    #[error("{0}")]
    Invalid(String),
    /// Something named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request is well formed but cannot be done as things stand (it would lose data, the
    /// schedule holds something in its way).
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The running node cannot take the request now (its queue is full, it is stopping).
    #[error("{0}")]
    Unavailable(String),
}

/// How an error should be answered: a category each front end maps to its own code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    Usage,
    Invalid,
    Forbidden,
    NotFound,
    Conflict,
    Unavailable,
    Internal,
}

impl AppError {
    pub fn category(&self) -> Category {
        match self {
            AppError::Usage(_) => Category::Usage,
            AppError::Invalid(_) => Category::Invalid,
            AppError::Forbidden(_) => Category::Forbidden,
            AppError::NotFound(_) => Category::NotFound,
            AppError::Refused(_) => Category::Conflict,
            AppError::Unavailable(_) => Category::Unavailable,
            AppError::Model(e) => match e {
                ModelError::Input(_) => Category::Usage,
                ModelError::NotFound { .. } => Category::NotFound,
                ModelError::AlreadyExists { .. }
                | ModelError::Refused(_)
                | ModelError::Malformed { .. }
                | ModelError::NewerSchema(_)
                | ModelError::NotASchedule(_) => Category::Conflict,
                ModelError::Automerge(_) => Category::Internal,
            },
            AppError::Resolve(e) => match e {
                ResolveError::OptionNotOffered { .. }
                | ResolveError::Missing { .. }
                | ResolveError::BadValue(_) => Category::Usage,
                ResolveError::NotEligible { .. }
                | ResolveError::ErrorsCannotBeAcknowledged(_)
                | ResolveError::Stale(_) => Category::Conflict,
            },
            AppError::Store(StoreError::Locked { .. }) => Category::Unavailable,
            AppError::Store(_) | AppError::File { .. } => Category::Internal,
        }
    }

    /// The CLI's exit code: 2 for a usage error, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self.category() {
            Category::Usage if !matches!(self, AppError::Resolve(_)) => 2,
            _ => 1,
        }
    }

    /// The HTTP status.
    pub fn http_status(&self) -> u16 {
        match self.category() {
            Category::Usage => 400,
            Category::Invalid => 422,
            Category::Forbidden => 403,
            Category::NotFound => 404,
            Category::Conflict => 409,
            Category::Unavailable => 503,
            Category::Internal => 500,
        }
    }

    pub fn file(path: &std::path::Path, source: std::io::Error) -> AppError {
        AppError::File {
            path: path.to_owned(),
            source,
        }
    }
}

pub type Result<T, E = AppError> = std::result::Result<T, E>;
