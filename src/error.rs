//! The one domain error. Each API dialect renders it in its own format; internal causes are
//! logged where they are rendered and never sent to clients.

use crate::domain::validation::FieldErrors;

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
    /// Valid input, but the request cannot be carried out (Envoyer's 400).
    #[error("request failed: {0}")]
    Failed(String),
    #[error("rate limited")]
    RateLimited(RateLimit),
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
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
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::default();
        errors.add(field, message);
        Error::Invalid(errors)
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        Error::Internal(anyhow::Error::new(err).context("database"))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
