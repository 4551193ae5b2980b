//! The one domain error. Each API dialect renders it in its own format; internal causes are
//! logged where they are rendered and never sent to clients.

use crate::domain::validation::{FieldErrors, Problem};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    /// The token lacks the scope the request needs.
    #[error("the token lacks the scope {0}")]
    MissingScope(crate::domain::scopes::Scope),
    #[error("unauthenticated")]
    Unauthenticated,
    #[error("invalid input: {0:?}")]
    Invalid(FieldErrors),
    /// The project a path names does not exist or is not visible (GitLab tells it apart
    /// from what the rest of the path names).
    #[error("no such project")]
    NoProject,
    /// Valid input, but the request cannot be carried out (Envoyer's 400).
    #[error("request failed: {0:?}")]
    Failed(Failure),
    #[error("rate limited")]
    RateLimited(RateLimit),
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

/// Why a valid request could not be carried out.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    DeploymentEnded(crate::domain::deployment::DeploymentStatus),
    /// Another request changed what this one would have replaced.
    ChangedMeanwhile,
    /// Saved, but not written to these servers (each `name (reason)`).
    NotWritten(Vec<String>),
}

/// What a client is told about its rate limit, on every answer and with a 429.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until a request is allowed again (0 when one is allowed now).
    pub retry_after_secs: u64,
    /// Unix time at which the limit is fully replenished.
    pub reset_at: u64,
}

impl Error {
    /// One field's problem.
    pub fn invalid(field: &str, problem: Problem) -> Self {
        let mut errors = FieldErrors::default();
        errors.add(field, problem);
        Error::Invalid(errors)
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        Error::Internal(anyhow::Error::new(err).context("database"))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
