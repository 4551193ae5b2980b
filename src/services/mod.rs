//! Use cases: authorisation, validation and orchestration, shared by the API dialects and the
//! CLI. No HTTP types here.

pub mod access;
pub mod accounts;
pub mod collaborators;
pub mod deployments;
pub mod env_file;
pub mod environments;
pub mod heartbeats;
pub mod hooks;
pub mod notifications;
pub mod projects;
pub mod push;
pub mod servers;

/// Reads an id from a path segment; anything that is not a positive integer names nothing.
pub fn parse_id(segment: &str) -> crate::error::Result<i64> {
    segment
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(crate::error::Error::NotFound)
}
