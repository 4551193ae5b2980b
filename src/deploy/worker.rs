//! The worker: takes queued deployments (one running per project), keeps their leases, and
//! ends the deployments whose runner is gone: this node's own after a restart, and any whose
//! lease ran out.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

use super::scripts::{self, Layout};
use crate::app::App;
use crate::db;
use crate::domain::deployment::{DeploymentKind, Ending, ProcessStatus};
use crate::domain::ids::DeploymentId;
use crate::domain::time::Timestamp;
use crate::error::Result;

/// Runs until the process ends.
pub async fn run(app: Arc<App>) {
    recover(&app).await;
    let mut running: JoinSet<()> = JoinSet::new();
    let mut sweep = tokio::time::interval(orphan_check_every(app.engine.lease));
    loop {
        while running.len() < usize::from(app.config.max_deployments) {
            match db::deployments::claim_next(
                &mut &app.store,
                &app.engine.node,
                app.engine.lease,
                Timestamp::now(),
            )
            .await
            {
                Ok(Some(claimed)) => {
                    // Registered before the task starts, so that a sweep never takes a
                    // deployment just claimed here for an orphan.
                    let cancel = app.engine.register(claimed.id);
                    running.spawn(deploy(app.clone(), claimed, cancel));
                }
                Ok(None) => break,
                Err(err) => {
                    tracing::error!(error = %err, "claiming a deployment failed");
                    break;
                }
            }
        }
        tokio::select! {
            _ = app.engine.wake.notified() => {}
            Some(_) = running.join_next(), if !running.is_empty() => {}
            _ = sweep.tick() => recover(&app).await,
        }
    }
}

/// How often a node looks for deployments whose runner is gone (and for work queued through
/// other nodes): a tenth of the lease, so that a dead node's deployment is taken over at most
/// that long after its lease ran out.
fn orphan_check_every(lease: Duration) -> Duration {
    (lease / 10).clamp(Duration::from_millis(500), Duration::from_secs(10))
}

async fn deploy(app: Arc<App>, claimed: db::deployments::Claimed, cancel: watch::Receiver<bool>) {
    let db::deployments::Claimed { id, project, kind } = claimed;
    app.engine.hub.open(id);
    tracing::info!(deployment = %id, "deployment started");
    let started = std::time::Instant::now();
    app.metrics.deployment_started(kind);

    let keeper = keep_lease(app.clone(), id, true);

    // A panic in the run must not leave the deployment running, and its project's queue
    // stuck, forever.
    let run = std::panic::AssertUnwindSafe(super::run::run(&app, id, cancel));
    let ending = match futures_util::FutureExt::catch_unwind(run).await {
        Ok(Ok(ending)) => ending,
        Ok(Err(err)) => {
            tracing::error!(deployment = %id, error = %format!("{err:#}"), "deployment failed");
            Ending::error("Slipway could not run this deployment; its log has the details.")
        }
        Err(_) => {
            tracing::error!(deployment = %id, "deployment panicked");
            Ending::error("Slipway failed while running this deployment.")
        }
    };
    let recorded = record_end(&app, id, &ending).await;
    // The lease is kept until the end is recorded, so that no sweep takes the deployment
    // for an orphan meanwhile.
    drop(keeper);
    app.engine.unregister(id);
    // Followers hear the end only once it is recorded: whoever reads the record after `end`
    // must find it ended. Unrecorded, they go on following the record, which the sweep ends
    // once its lease runs out.
    if !recorded {
        app.metrics.deployment_ended(kind, None, started.elapsed());
        app.engine.hub.forget(id);
        app.engine.wake();
        return;
    }
    app.metrics
        .deployment_ended(kind, Some(ending.status), started.elapsed());
    app.engine.hub.close(id, ending.status.as_str());
    tracing::info!(deployment = %id, status = %ending.status, "deployment ended");
    app.engine.wake();
    let _ = app.engine.ended.send(super::Ended { id, project, kind });
}

/// Keeps this node's lease of a deployment until the handle is dropped (renewing it every
/// third of the lease) and, with `pass_cancel`, passes on a cancel asked for through another node. Should
/// another node have taken the deployment over (this one stalled past its lease), the
/// deployment is cancelled here rather than race it.
fn keep_lease(app: Arc<App>, id: DeploymentId, pass_cancel: bool) -> AbortOnDrop {
    AbortOnDrop(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut renewed = tokio::time::Instant::now();
        loop {
            tick.tick().await;
            if pass_cancel
                && db::deployments::cancel_requested(&mut &app.store, id)
                    .await
                    .unwrap_or(false)
            {
                app.engine.cancel(id);
            }
            if renewed.elapsed() >= app.engine.lease / 3 {
                renewed = tokio::time::Instant::now();
                let kept = db::deployments::renew_lease(
                    &mut &app.store,
                    id,
                    &app.engine.node,
                    app.engine.lease,
                )
                .await;
                if matches!(kept, Ok(false)) {
                    tracing::warn!(deployment = %id, "lost the lease; stopping");
                    app.engine.cancel(id);
                    return;
                }
            }
        }
    }))
}

/// A task that ends when its handle is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Records the end of a deployment, retrying while the database fails (for up to a third of
/// the lease); `false` when it was not recorded here.
async fn record_end(app: &App, id: DeploymentId, ending: &Ending) -> bool {
    let give_up = tokio::time::Instant::now() + app.engine.lease / 3;
    let mut pause = Duration::from_millis(100);
    loop {
        let now = Timestamp::now();
        let closed =
            db::deployments::close_open_processes(&mut &app.store, id, ProcessStatus::Skipped, now)
                .await;
        let ended = match closed {
            Ok(_) => end(app, id, ending).await,
            Err(err) => Err(err),
        };
        match ended {
            Ok(true) => return true,
            Ok(false) => {
                tracing::warn!(deployment = %id, "another node ended this deployment");
                return false;
            }
            Err(err) if tokio::time::Instant::now() + pause < give_up => {
                tracing::warn!(deployment = %id, error = %err, "recording the end of a deployment failed; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            Err(err) => {
                tracing::error!(deployment = %id, error = %err, "recording the end of a deployment failed");
                return false;
            }
        }
    }
}

/// Records the end of a deployment this node runs, together with the notification of it.
async fn end(app: &App, id: DeploymentId, ending: &Ending) -> Result<bool> {
    let now = Timestamp::now();
    let mut tx = app.store.begin().await?;
    if !db::deployments::finish(&mut tx, id, &app.engine.node, ending, now).await? {
        return Ok(false);
    }
    let stored = crate::notify::deployment_ended(&mut tx, &app.config.public_url(), id).await?;
    tx.commit().await?;
    if stored > 0 {
        app.notifier.wake();
    }
    Ok(true)
}

/// Ends the deployments whose runner is gone: this node's own from before a restart, and any
/// whose lease ran out. Their remote commands are stopped and unactivated releases removed.
async fn recover(app: &Arc<App>) {
    let orphans = match db::deployments::orphans(&mut &app.store, &app.engine.node).await {
        Ok(orphans) => orphans,
        Err(err) => {
            tracing::error!(error = %err, "looking for interrupted deployments failed");
            return;
        }
    };
    for deployment in orphans {
        // A deployment running here under this node's id is alive, not an orphan.
        if app
            .engine
            .cancels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&deployment.id)
        {
            continue;
        }
        // Claimed first, so that two nodes never clean up (and end) the same deployment.
        let claimed = db::deployments::claim_orphan(
            &mut &app.store,
            deployment.id,
            deployment.lease_owner.as_deref(),
            &app.engine.node,
            app.engine.lease,
        )
        .await;
        if !matches!(claimed, Ok(true)) {
            continue;
        }
        tracing::warn!(deployment = %deployment.id, "ending an interrupted deployment");
        // Held while the servers are cleaned up, which may outlast one lease.
        let _keeper = keep_lease(app.clone(), deployment.id, false);
        // Without knowing which release is live where, nothing is touched: the next sweep
        // tries again (this node holds the lease now).
        if let Err(err) = clean_up_interrupted(app, &deployment).await {
            tracing::error!(deployment = %deployment.id, error = %err, "cleaning up an interrupted deployment failed");
            continue;
        }
        let now = Timestamp::now();
        let _ = db::deployments::close_open_processes(
            &mut &app.store,
            deployment.id,
            ProcessStatus::Cancelled,
            now,
        )
        .await;
        let reason = match deployment.kind {
            DeploymentKind::Rollback => {
                "Slipway stopped while this rollback was running; it was ended with every \
                 server on the release recorded as live there."
            }
            DeploymentKind::Stop => {
                "Slipway stopped while the environment's on_stop script was running; the \
                 script was stopped and the environment is stopped."
            }
            DeploymentKind::Deploy => {
                "Slipway stopped while this deployment was running; it was ended with every \
                 server on the release recorded as live there, and an unactivated release \
                 removed."
            }
        };
        let ended = end(app, deployment.id, &Ending::error(reason)).await;
        if let Err(err) = ended {
            tracing::error!(deployment = %deployment.id, error = %err, "ending an interrupted deployment failed");
        }
    }
    app.engine.wake();
}

/// Stops an interrupted run's remote commands and leaves every server of its environment on
/// one release: the one recorded as live there (a switch that had not been recorded is undone),
/// and a deployment's unactivated release removed.
async fn clean_up_interrupted(app: &App, deployment: &db::deployments::Deployment) -> Result<()> {
    let servers: Vec<_> = db::servers::list(&mut &app.store, deployment.project_id)
        .await?
        .into_iter()
        .filter(|s| s.environment == deployment.environment)
        .collect();
    let processes = db::deployments::processes(&mut &app.store, deployment.id).await?;
    let ids: Vec<_> = servers.iter().map(|s| s.id).collect();
    let live = db::releases::live_on(&mut &app.store, &ids).await?;
    // Pidfiles are named after the node that ran the deployment.
    let owner = deployment
        .runner
        .as_deref()
        .or(deployment.lease_owner.as_deref())
        .unwrap_or(&app.engine.node);
    for server in servers {
        let mut script = String::new();
        for process in processes
            .iter()
            .filter(|p| p.server_id == Some(server.id.0) && p.status == ProcessStatus::Running)
        {
            script.push_str(&scripts::kill(&scripts::pidfile(
                owner,
                deployment.id.0,
                process.id,
            )));
        }
        if let (Some(time), true) = (&deployment.release_name, server.receives_code_deployments) {
            let layout = Layout {
                base: server.deployment_path.clone(),
                time: time.clone(),
            };
            let live_here = live
                .iter()
                .find(|(id, _)| *id == server.id)
                .map(|(_, name)| name.as_str());
            match deployment.kind {
                DeploymentKind::Deploy => {
                    script.push_str(&scripts::restore(&layout, live_here));
                    script.push_str(&scripts::remove_release(&layout));
                }
                DeploymentKind::Rollback if live_here.is_some() => {
                    script.push_str(&scripts::restore(&layout, live_here));
                }
                _ => {}
            }
        }
        if script.is_empty() {
            continue;
        }
        if let Err(err) = super::remote::run_once(app, &server, &script).await {
            tracing::warn!(deployment = %deployment.id, server = %server.id, error = %err, "cleaning up failed");
        }
    }
    // An interrupted teardown stops its environment, as a failed one does.
    if deployment.kind == DeploymentKind::Stop
        && let Some(environment) = db::environments::get_by_name(
            &mut &app.store,
            deployment.project_id,
            &deployment.environment,
        )
        .await?
    {
        db::environments::finish_stopping(&mut &app.store, environment.id, Timestamp::now())
            .await?;
    }
    // A deployment that did not finish leaves no rollback target, live or not.
    if deployment.kind == DeploymentKind::Deploy
        && let Some(release) = deployment.release()
    {
        let history =
            super::run::history(app, deployment.project_id, &deployment.environment).await?;
        let removed = !history.is_live(release);
        db::releases::fail(&mut &app.store, release, removed, Timestamp::now()).await?;
    }
    Ok(())
}
