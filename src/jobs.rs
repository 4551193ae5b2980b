//! A node's background work: deployments, notification delivery, health checks, heartbeat
//! check-in writes and the periodic sweeps. All of it runs inside the one future [`run`]
//! returns, so dropping or aborting it stops everything.

use std::sync::Arc;
use std::time::Duration;

use crate::app::App;
use crate::domain::deployment::DeploymentKind;
use crate::domain::time::Timestamp;
use crate::services::{environments, health, heartbeats, sessions};

const SWEEP_EVERY: Duration = Duration::from_secs(10);

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

async fn check_monitors(app: Arc<App>) {
    let mut tick = tokio::time::interval(Duration::from_secs(app.config.health_check_interval));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(err) = health::check_all(&app).await {
            tracing::error!(error = %err, "health checks failed");
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
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    loop {
        tick.tick().await;
        if let Err(err) = environments::delete_scheduled(&app).await {
            tracing::error!(error = %err, "deleting scheduled environments failed");
        }
        if let Err(err) = heartbeats::mark_missing(&app, Timestamp::now()).await {
            tracing::error!(error = %err, "checking heartbeats failed");
        }
        app.sign_ins.forget_old();
        if let Err(err) = sessions::forget_idle(&app).await {
            tracing::error!(error = %err, "forgetting idle dashboard sessions failed");
        }
    }
}
