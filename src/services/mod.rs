//! Use cases: authorisation, validation and orchestration, shared by the API dialects and the
//! CLI. No HTTP types here.

pub mod access;
pub mod accounts;
pub mod collaborators;
pub mod deployments;
pub mod env_file;
pub mod environments;
pub mod health;
pub mod heartbeats;
pub mod hooks;
pub mod notifications;
pub mod projects;
pub mod push;
pub mod rate_limits;
pub mod records;
pub mod releases;
pub mod seen_tokens;
pub mod servers;
pub mod sessions;

/// Reads an id from a path segment; anything that is not a positive integer names nothing.
pub fn parse_id(segment: &str) -> crate::error::Result<i64> {
    segment
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(crate::error::Error::NotFound)
}

/// Refuses (422 on `field`) a web hook or monitor URL that points at a loopback or private
/// address the config does not allow.
pub(crate) async fn check_outbound_url(
    app: &crate::app::App,
    field: &str,
    url: Option<&str>,
) -> crate::error::Result<()> {
    match url {
        Some(url) => app.outbound.check_url(url).await.map_err(|why| {
            crate::error::Error::invalid(field, crate::domain::validation::Problem::Outbound(why))
        }),
        None => Ok(()),
    }
}
