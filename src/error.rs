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
    /// Rules the request broke, named rather than worded: each dialect says them its way.
    #[error("broke {0:?}")]
    Broke(Vec<Rule>),
    /// The project a path names does not exist or is not visible (GitLab tells it apart
    /// from what the rest of the path names).
    #[error("no such project")]
    NoProject,
    /// Valid input, but the request cannot be carried out (Envoyer's 400).
    #[error("request failed: {0}")]
    Failed(String),
    #[error("rate limited")]
    RateLimited(RateLimit),
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

/// A rule a request broke, with the field it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// The two fields may not be sent together.
    Exclusive(&'static str, &'static str),
    /// The field is made by the server and may not be sent.
    ReadOnly(&'static str),
    /// Not one of the field's words.
    NotOneOf(&'static str),
    /// A number outside the field's range.
    OutOfRange(&'static str),
    /// Fewer characters than the field needs.
    TooShort(&'static str, usize),
    /// More characters than the field takes.
    TooLong(&'static str, usize),
    /// A URL with a scheme other than http or https.
    Scheme(&'static str),
    /// Characters an environment name may not have, or a `/` at either end.
    EnvironmentName(&'static str),
    /// Another one already has this value.
    Taken(&'static str),
    /// A date outside the window the operation allows.
    DateWindow(&'static str),
    /// Stopping an environment that is already stopped, without `force`.
    AlreadyStopped,
}

impl Rule {
    /// The field the rule concerns, if one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Rule::Exclusive(field, _)
            | Rule::ReadOnly(field)
            | Rule::NotOneOf(field)
            | Rule::OutOfRange(field)
            | Rule::TooShort(field, _)
            | Rule::TooLong(field, _)
            | Rule::Scheme(field)
            | Rule::EnvironmentName(field)
            | Rule::Taken(field)
            | Rule::DateWindow(field) => Some(field),
            Rule::AlreadyStopped => None,
        }
    }
}

/// Plain words, for people (the dashboard and logs); the API dialects word rules their own
/// way.
impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rule::Exclusive(a, b) => write!(f, "Send {a} or {b}, not both."),
            Rule::ReadOnly(field) => write!(f, "The {field} is made by Slipway and cannot be set."),
            Rule::NotOneOf(field) => write!(f, "The {field} is not one of the allowed values."),
            Rule::OutOfRange(field) => write!(f, "The {field} is out of range."),
            Rule::TooShort(field, min) => {
                write!(f, "The {field} needs at least {min} characters.")
            }
            Rule::TooLong(field, max) => {
                write!(f, "The {field} may have at most {max} characters.")
            }
            Rule::Scheme(field) => write!(f, "The {field} must be an http or https URL."),
            Rule::EnvironmentName(field) => write!(
                f,
                "The {field} may contain only letters, digits, spaces and -_/${{}}. and may \
                 not start or end with /."
            ),
            Rule::Taken(field) => write!(f, "The {field} is already taken."),
            Rule::DateWindow(field) => write!(f, "The {field} date is outside the allowed window."),
            Rule::AlreadyStopped => f.write_str("The environment is already stopped."),
        }
    }
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
    pub fn broke(rule: Rule) -> Self {
        Error::Broke(vec![rule])
    }

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
