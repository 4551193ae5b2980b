//! Health checks: each node GETs every project's monitor URL (every minute, and after each
//! deployment) and records the result under its region. A project is failing while any
//! region's latest check failed; each change between healthy and failing notifies once.

use futures_util::StreamExt;

use crate::app::App;
use crate::db;
use crate::domain::ids::ProjectId;
use crate::domain::time::Timestamp;
use crate::error::Result;
use crate::notify::{self, Event, Message};
use crate::services::records::HealthCheck;

/// Monitors checked at the same time by one node.
const CONCURRENT_CHECKS: usize = 16;
/// A region's latest result counts for three check intervals, and at least this long.
const MIN_STALE_SECONDS: i64 = 300;

/// What a documented per-region status shows: the latest check by the region's own node or,
/// when no node has that label, the latest check from any region.
pub fn region_status<'a>(checks: &'a [HealthCheck], region: &str) -> Option<&'a str> {
    checks
        .iter()
        .find(|c| c.region == region)
        .or_else(|| checks.iter().max_by_key(|c| c.checked_at))
        .map(|c| c.status.as_str())
}

/// Checks every monitored project once.
pub async fn check_all(app: &App) -> Result<()> {
    let projects = db::health_checks::monitored(&mut &app.store).await?;
    futures_util::stream::iter(projects)
        .for_each_concurrent(CONCURRENT_CHECKS, |(project, url)| async move {
            if let Err(err) = check(app, project, &url).await {
                tracing::error!(project = %project, error = %err, "recording a health check failed");
            }
        })
        .await;
    Ok(())
}

/// Checks one project's monitor now, if it has one.
pub async fn check_project(app: &App, project: ProjectId) -> Result<()> {
    match db::health_checks::monitor(&mut &app.store, project).await? {
        Some(url) => check(app, project, &url).await,
        None => Ok(()),
    }
}

async fn check(app: &App, project: ProjectId, url: &str) -> Result<()> {
    let probe = app.outbound.probe(url).await;
    app.metrics
        .health_checked(&app.config.region, probe.healthy);
    let now = Timestamp::now();
    let result = db::health_checks::HealthCheck {
        region: app.config.region.clone(),
        status: if probe.healthy { "healthy" } else { "failing" }.to_owned(),
        http_status: probe.http_status.map(i64::from),
        response_ms: Some(probe.response_ms),
        error: probe.error,
        checked_at: now.micros(),
    };
    let mut tx = app.store.begin().await?;
    if !db::health_checks::record(&mut tx, project, url, &result).await? {
        return Ok(());
    }
    // A region whose node stopped checking (retired, or relabelled) no longer counts.
    let stale_seconds = (3 * app.config.health_check_interval as i64).max(MIN_STALE_SECONDS);
    db::health_checks::forget_older(&mut tx, project, now.minus_seconds(stale_seconds)).await?;
    let mut notified = 0;
    if let Some(failing) = db::health_checks::update_failing(&mut tx, project).await? {
        let message = Message {
            event: if failing {
                Event::HealthCheckFailing
            } else {
                Event::HealthCheckRecovered
            },
            project_id: project.0,
            project: db::projects::name(&mut tx, project)
                .await?
                .unwrap_or_default(),
            subject: Some(crate::net::without_credentials(url)),
            commit: None,
            author: None,
            status: result.status.clone(),
            detail: failing
                .then(|| result.error.clone())
                .flatten()
                .map(|error| format!("{} (region {})", error, result.region)),
            link: format!("{}/api/projects/{project}", app.config.public_url()),
        };
        notified = notify::enqueue(&mut tx, &message).await?;
    }
    tx.commit().await?;
    if notified > 0 {
        app.notifier.wake();
    }
    Ok(())
}
