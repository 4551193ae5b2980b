//! A node's background work: deployments, notification delivery, health checks, heartbeat
//! check-in writes and the periodic sweeps. All of it runs inside the one future [`run`]
//! returns, so dropping or aborting it stops everything.
//!
//! Periodic work that concerns the whole database (the sweeps, retention, a region's health
//! checks) is a duty: every node asks for it, and one of them per period does it
//! (`db::duties`), so adding nodes adds no repeated work.

use std::sync::Arc;
use std::time::Duration;

use crate::app::App;
use crate::db;
use crate::domain::deployment::DeploymentKind;
use crate::services::{environments, health, heartbeats, sessions};

/// How often scheduled environment deletions and missing heartbeats are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(10);
/// How often old dashboard sessions and delivered notifications are forgotten.
const RETENTION_EVERY: Duration = Duration::from_secs(60);

pub async fn run(app: Arc<App>) {
    tokio::join!(
        crate::deploy::worker::run(app.clone()),
        crate::notify::run(app.clone()),
        check_monitors(app.clone()),
        check_after_deployments(app.clone()),
        write_check_ins(app.clone()),
        sweep(app),
    );
}

/// Each region's monitors are checked once per interval, by one of the region's nodes.
async fn check_monitors(app: Arc<App>) {
    let every = Duration::from_secs(app.config.health_check_interval);
    let duty = format!("health-checks:{}", app.config.region);
    let mut tick = tokio::time::interval(asking_every(every));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if !taken(&app, &duty, every).await {
            continue;
        }
        if let Err(err) = health::check_all(&app).await {
            tracing::error!(error = %err, "health checks failed");
        }
    }
}

/// A node asks for a duty five times per period, so that the duty is done at most a fifth of
/// a period after it comes due, whichever nodes are still running.
fn asking_every(period: Duration) -> Duration {
    (period / 5).clamp(Duration::from_millis(200), Duration::from_secs(5))
}

/// Whether this node takes `duty` for the period that has come.
async fn taken(app: &App, duty: &str, every: Duration) -> bool {
    match db::duties::take(&mut &app.store, duty, &app.engine.node, every).await {
        Ok(taken) => taken,
        Err(err) => {
            tracing::error!(duty, error = %err, "asking for a periodic duty failed");
            false
        }
    }
}

/// The monitor is checked after every deployment, not only on the next interval; apart from
/// the deployment, so that a slow monitor does not hold its slot.
async fn check_after_deployments(app: Arc<App>) {
    let mut endings = app.engine.endings();
    loop {
        let ended = match endings.recv().await {
            Ok(ended) => ended,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        if ended.kind == DeploymentKind::Stop {
            continue;
        }
        let app = app.clone();
        tokio::spawn(async move {
            if let Err(err) = health::check_project(&app, ended.project).await {
                tracing::error!(deployment = %ended.id, error = %err, "the health check after a deployment failed");
            }
        });
    }
}

async fn write_check_ins(app: Arc<App>) {
    let mut tick = tokio::time::interval(heartbeats::FLUSH_EVERY);
    loop {
        tick.tick().await;
        if let Err(err) = heartbeats::flush(&app).await {
            tracing::error!(error = %err, "writing heartbeat check-ins failed");
        }
    }
}

async fn sweep(app: Arc<App>) {
    let mut tick = tokio::time::interval(asking_every(SWEEP_EVERY));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // This node's own memory of sign-in attempts.
        app.sign_ins.forget_old();
        if taken(&app, "review-apps", SWEEP_EVERY).await {
            sweep_step(&app, "deleting scheduled environments", async |app, now| {
                environments::delete_scheduled(app, now).await.map(drop)
            })
            .await;
        }
        if taken(&app, "heartbeats", SWEEP_EVERY).await {
            sweep_step(&app, "checking heartbeats", async |app, now| {
                heartbeats::mark_missing(app, now).await.map(drop)
            })
            .await;
        }
        if taken(&app, "retention", RETENTION_EVERY).await {
            sweep_step(
                &app,
                "forgetting idle sessions and delivered notifications",
                async |app, now| {
                    sessions::forget_idle(app, now).await?;
                    crate::notify::purge(app).await.map(drop)
                },
            )
            .await;
        }
    }
}

/// Runs one step of the sweep as of the database's clock (the one clock all nodes share),
/// logging what failed.
async fn sweep_step(
    app: &App,
    what: &str,
    step: impl AsyncFnOnce(&App, crate::domain::time::Timestamp) -> crate::error::Result<()>,
) {
    let done = match db::now(&mut &app.store).await {
        Ok(now) => step(app, now).await,
        Err(err) => Err(err),
    };
    if let Err(err) = done {
        tracing::error!(error = %err, "{what} failed");
    }
}
