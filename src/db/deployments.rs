//! Deployment records and their processes (one per step × server).

use std::time::Duration;

use super::{Db, args, micros};
use crate::domain::deployment::{DeploymentKind, DeploymentStatus, Ending, ProcessStatus, RefKind};
use crate::domain::ids::{DeploymentId, ProjectId, ReleaseId};
use crate::domain::time::Timestamp;
use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Deployment {
    #[sqlx(try_from = "i64")]
    pub id: DeploymentId,
    #[sqlx(try_from = "i64")]
    pub project_id: ProjectId,
    pub user_id: Option<i64>,
    pub commit_branch: Option<String>,
    pub commit_hash: Option<String>,
    pub commit_author: Option<String>,
    pub commit_avatar: Option<String>,
    pub commit_message: Option<String>,
    #[sqlx(try_from = "String")]
    pub status: DeploymentStatus,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    #[sqlx(try_from = "i64")]
    pub updated_at: Timestamp,
    #[sqlx(try_from = "String")]
    pub requested_from: RefKind,
    pub requested_ref: Option<String>,
    pub release_name: Option<String>,
    pub error: Option<String>,
    pub cancel_requested: bool,
    /// The node holding its lease: the one running it, or the one that took it over.
    pub lease_owner: Option<String>,
    /// The node that ran it (its remote pidfiles are named after it), kept on a takeover.
    pub runner: Option<String>,
    /// The environment it deploys to.
    pub environment: String,
    #[sqlx(try_from = "String")]
    pub kind: DeploymentKind,
    /// The release it built, or the one a rollback activates.
    pub release_id: Option<i64>,
    /// The health gate failed and switched the servers back.
    pub rolled_back: bool,
}

impl Deployment {
    pub fn release(&self) -> Option<ReleaseId> {
        self.release_id.map(ReleaseId)
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Process {
    pub id: i64,
    #[sqlx(try_from = "i64")]
    pub deployment_id: DeploymentId,
    #[sqlx(try_from = "i64")]
    pub project_id: ProjectId,
    pub server_id: Option<i64>,
    pub server_name: Option<String>,
    pub sequence: i64,
    pub name: String,
    pub action_id: Option<i64>,
    pub hook_id: Option<i64>,
    #[sqlx(try_from = "String")]
    pub status: ProcessStatus,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    #[sqlx(try_from = "i64")]
    pub updated_at: Timestamp,
}

const COLUMNS: &str = "id, project_id, user_id, commit_branch, commit_hash, commit_author, \
    commit_avatar, commit_message, status, started_at, finished_at, created_at, updated_at, \
    requested_from, requested_ref, release_name, error, cancel_requested, lease_owner, runner, \
    environment, kind, release_id, rolled_back";

/// Newest first.
pub async fn list(db: &mut impl Db, project: ProjectId) -> Result<Vec<Deployment>> {
    let sql = format!("SELECT {COLUMNS} FROM deployments WHERE project_id = $1 ORDER BY id DESC");
    db.fetch_all(&sql, args![project]).await
}

pub async fn get(
    db: &mut impl Db,
    project: ProjectId,
    id: DeploymentId,
) -> Result<Option<Deployment>> {
    let sql = format!("SELECT {COLUMNS} FROM deployments WHERE project_id = $1 AND id = $2");
    db.fetch_optional(&sql, args![project, id]).await
}

pub async fn processes(db: &mut impl Db, deployment: DeploymentId) -> Result<Vec<Process>> {
    db.fetch_all(
        "SELECT id, deployment_id, project_id, server_id, server_name, sequence, name, action_id, \
           hook_id, status, started_at, finished_at, created_at, updated_at \
         FROM deployment_processes WHERE deployment_id = $1 ORDER BY sequence, id",
        args![deployment],
    )
    .await
}

/// What a deployment is asked to ship, before it runs.
#[derive(Debug, Clone, Default)]
pub struct NewDeployment {
    pub user_id: Option<i64>,
    pub commit_branch: Option<String>,
    pub commit_hash: Option<String>,
    pub commit_author: Option<String>,
    pub commit_avatar: Option<String>,
    pub commit_message: Option<String>,
    pub status: DeploymentStatus,
}

pub async fn insert(
    db: &mut impl Db,
    project: ProjectId,
    new: &NewDeployment,
    now: Timestamp,
) -> Result<DeploymentId> {
    let (id,): (i64,) = db
        .fetch_one(
            "INSERT INTO deployments (project_id, user_id, commit_branch, commit_hash, \
               commit_author, commit_avatar, commit_message, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
            args![
                project,
                new.user_id,
                new.commit_branch.clone(),
                new.commit_hash.clone(),
                new.commit_author.clone(),
                new.commit_avatar.clone(),
                new.commit_message.clone(),
                new.status,
                now
            ],
        )
        .await?;
    Ok(DeploymentId(id))
}

/// Records a deployment's progress: its status and, once known, when it started and ended.
pub async fn set_status(
    db: &mut impl Db,
    id: DeploymentId,
    status: DeploymentStatus,
    started_at: Option<Timestamp>,
    finished_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<()> {
    record_progress(
        db,
        "deployments",
        id.0,
        status.as_str(),
        started_at,
        finished_at,
        now,
    )
    .await
}

/// A status and, once known, start and end times, for a deployment or a process.
async fn record_progress(
    db: &mut impl Db,
    table: &'static str,
    id: i64,
    status: &str,
    started_at: Option<Timestamp>,
    finished_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<()> {
    let sql = format!(
        "UPDATE {table} SET status = $2, started_at = COALESCE($3, started_at), \
           finished_at = COALESCE($4, finished_at), updated_at = $5 WHERE id = $1"
    );
    db.execute(
        &sql,
        args![
            id,
            status,
            started_at.map(Timestamp::micros),
            finished_at.map(Timestamp::micros),
            now
        ],
    )
    .await?;
    Ok(())
}

/// One step of a deployment on one server (or a hook), before it runs.
#[derive(Debug, Clone)]
pub struct NewProcess {
    pub server_id: Option<i64>,
    pub server_name: Option<String>,
    pub sequence: i64,
    pub name: String,
    pub action_id: Option<i64>,
    pub hook_id: Option<i64>,
    pub status: ProcessStatus,
}

pub async fn insert_process(
    db: &mut impl Db,
    deployment: DeploymentId,
    project: ProjectId,
    new: &NewProcess,
    now: Timestamp,
) -> Result<i64> {
    let (id,): (i64,) = db
        .fetch_one(
            "INSERT INTO deployment_processes (deployment_id, project_id, server_id, server_name, \
               sequence, name, action_id, hook_id, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id",
            args![
                deployment,
                project,
                new.server_id,
                new.server_name.clone(),
                new.sequence,
                &new.name,
                new.action_id,
                new.hook_id,
                new.status,
                now
            ],
        )
        .await?;
    Ok(id)
}

/// Records a process's progress: its status and, once known, when it started and ended.
pub async fn set_process_status(
    db: &mut impl Db,
    process: i64,
    status: ProcessStatus,
    started_at: Option<Timestamp>,
    finished_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<()> {
    record_progress(
        db,
        "deployment_processes",
        process,
        status.as_str(),
        started_at,
        finished_at,
        now,
    )
    .await
}

/// Queues a deployment of `requested_ref`: a new pending deployment, or, when the project
/// already has one waiting, that one retargeted (a newer request replaces the pending one).
pub async fn enqueue(
    db: &mut impl Db,
    project: ProjectId,
    user: Option<i64>,
    environment: &str,
    requested_from: RefKind,
    requested_ref: &str,
    now: Timestamp,
) -> Result<DeploymentId> {
    let (id,): (i64,) = db
        .fetch_one(
            "INSERT INTO deployments (project_id, user_id, status, requested_from, requested_ref, \
               created_at, updated_at, environment) \
             VALUES ($1, $2, 'pending', $3, $4, $5, $5, $6) \
             ON CONFLICT (project_id) WHERE status = 'pending' AND kind = 'deploy' DO UPDATE SET \
               user_id = excluded.user_id, requested_from = excluded.requested_from, \
               requested_ref = excluded.requested_ref, environment = excluded.environment, \
               updated_at = excluded.updated_at \
             RETURNING id",
            args![
                project,
                user,
                requested_from,
                requested_ref,
                now,
                environment
            ],
        )
        .await?;
    Ok(DeploymentId(id))
}

/// A deployment this node just claimed: which one, of which project, doing what.
pub struct Claimed {
    pub id: DeploymentId,
    pub project: ProjectId,
    pub kind: DeploymentKind,
}

/// Marks the oldest pending deployment of an idle project as running on `node`, leased for
/// `lease` by the database's clock; rollbacks go first. Several nodes may ask at once: each
/// row goes to one of them.
pub async fn claim_next(
    db: &mut impl Db,
    node: &str,
    lease: Duration,
    now: Timestamp,
) -> Result<Option<Claimed>> {
    let lock = if db.is_postgres() {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let clock = super::clock(db);
    let sql = format!(
        "UPDATE deployments SET status = 'running', started_at = $3, lease_owner = $1, runner = $1, \
           lease_expires_at = {clock} + $2, updated_at = $3 \
         WHERE id = (SELECT d.id FROM deployments d WHERE d.status = 'pending' \
             AND NOT EXISTS (SELECT 1 FROM deployments r WHERE r.project_id = d.project_id \
               AND r.status = 'running') \
             ORDER BY CASE WHEN d.kind = 'rollback' THEN 0 ELSE 1 END, d.id LIMIT 1{lock}) \
           AND status = 'pending' \
         RETURNING id, project_id, kind"
    );
    let claimed: Result<Option<(i64, i64, String)>> = db
        .fetch_optional(&sql, args![node, micros(lease), now])
        .await;
    match claimed {
        Ok(None) => Ok(None),
        Ok(Some((id, project, kind))) => Ok(Some(Claimed {
            id: DeploymentId(id),
            project: ProjectId(project),
            kind: DeploymentKind::try_from(kind)
                .map_err(|err| crate::error::Error::Internal(anyhow::anyhow!(err)))?,
        })),
        // Another node started a deployment of that project in the meantime.
        Err(err) if is_unique_violation(&err) => Ok(None),
        Err(err) => Err(err),
    }
}

fn is_unique_violation(err: &crate::error::Error) -> bool {
    let crate::error::Error::Internal(cause) = err else {
        return false;
    };
    cause
        .chain()
        .filter_map(|e| e.downcast_ref::<sqlx::Error>())
        .any(|e| matches!(e, sqlx::Error::Database(db) if db.is_unique_violation()))
}

/// Keeps a running deployment's lease for another `lease` (by the database's clock); `false`
/// when this node no longer holds it.
pub async fn renew_lease(
    db: &mut impl Db,
    id: DeploymentId,
    node: &str,
    lease: Duration,
) -> Result<bool> {
    let sql = format!(
        "UPDATE deployments SET lease_expires_at = {} + $3 \
         WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
        super::clock(db)
    );
    let renewed = db.execute(&sql, args![id, node, micros(lease)]).await?;
    Ok(renewed == 1)
}

/// Running deployments whose runner is gone: those this node ran before it restarted, and any
/// whose lease ran out by the database's clock.
pub async fn orphans(db: &mut impl Db, node: &str) -> Result<Vec<Deployment>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM deployments WHERE status = 'running' \
           AND (lease_owner = $1 OR lease_expires_at < {} OR lease_expires_at IS NULL) ORDER BY id",
        super::clock(db)
    );
    db.fetch_all(&sql, args![node]).await
}

/// Records the commit a deployment ships and the name of its release directory.
pub async fn set_commit(
    db: &mut impl Db,
    id: DeploymentId,
    commit: &NewDeployment,
    release_name: &str,
    now: Timestamp,
) -> Result<()> {
    db.execute(
        "UPDATE deployments SET commit_branch = $2, commit_hash = $3, commit_author = $4, \
           commit_avatar = $5, commit_message = $6, release_name = $7, updated_at = $8 \
         WHERE id = $1",
        args![
            id,
            commit.commit_branch.clone(),
            commit.commit_hash.clone(),
            commit.commit_author.clone(),
            commit.commit_avatar.clone(),
            commit.commit_message.clone(),
            release_name,
            now
        ],
    )
    .await?;
    Ok(())
}

/// Ends a deployment that `node` runs with its final status and, for failures, the reason.
/// `false` when the node no longer holds it (another node took it over).
pub async fn finish(
    db: &mut impl Db,
    id: DeploymentId,
    node: &str,
    ending: &Ending,
    now: Timestamp,
) -> Result<bool> {
    let ended = db
        .execute(
            "UPDATE deployments SET status = $2, error = $3, finished_at = $4, updated_at = $4, \
               lease_expires_at = NULL, rolled_back = $6 \
             WHERE id = $1 AND status = 'running' AND lease_owner = $5",
            args![
                id,
                ending.status,
                ending.error.as_deref(),
                now,
                node,
                ending.rolled_back
            ],
        )
        .await?;
    Ok(ended == 1)
}

/// Takes over an orphaned running deployment for clean-up: only while it is still running
/// under `previous_owner` and its lease ran out (or `node` is that owner, after a restart), so
/// that two nodes never both act on it, and a stalled node that renewed in time keeps it.
pub async fn claim_orphan(
    db: &mut impl Db,
    id: DeploymentId,
    previous_owner: Option<&str>,
    node: &str,
    lease: Duration,
) -> Result<bool> {
    let sql = format!(
        "UPDATE deployments SET lease_owner = $3, lease_expires_at = {now} + $4 \
         WHERE id = $1 AND status = 'running' \
           AND (lease_owner = $2 OR (lease_owner IS NULL AND CAST($2 AS TEXT) IS NULL)) \
           AND (lease_owner = $3 OR lease_expires_at IS NULL OR lease_expires_at < {now})",
        now = super::clock(db)
    );
    let claimed = db
        .execute(&sql, args![id, previous_owner, node, micros(lease)])
        .await?;
    Ok(claimed == 1)
}

/// Asks for a deployment to stop: a pending one ends at once (`true`), a running one is
/// flagged for its runner (`false`).
pub async fn request_cancel(db: &mut impl Db, id: DeploymentId, now: Timestamp) -> Result<bool> {
    let ended = db
        .execute(
            "UPDATE deployments SET status = 'cancelled', finished_at = $2, updated_at = $2 \
             WHERE id = $1 AND status = 'pending'",
            args![id, now],
        )
        .await?;
    if ended == 1 {
        close_open_processes(db, id, ProcessStatus::Cancelled, now).await?;
        return Ok(true);
    }
    db.execute(
        "UPDATE deployments SET cancel_requested = TRUE, updated_at = $2 \
         WHERE id = $1 AND status = 'running'",
        args![id, now],
    )
    .await?;
    Ok(false)
}

pub async fn cancel_requested(db: &mut impl Db, id: DeploymentId) -> Result<bool> {
    let row: Option<(bool,)> = db
        .fetch_optional(
            "SELECT cancel_requested FROM deployments WHERE id = $1",
            args![id],
        )
        .await?;
    Ok(row.is_some_and(|(flag,)| flag))
}

/// The newest release directory name the project has used.
pub async fn last_release_name(db: &mut impl Db, project: ProjectId) -> Result<Option<String>> {
    let row: Option<(Option<String>,)> = db
        .fetch_optional(
            "SELECT MAX(release_name) FROM deployments WHERE project_id = $1",
            args![project],
        )
        .await?;
    Ok(row.and_then(|(name,)| name))
}

/// A process's end: status, time and what it printed.
pub async fn finish_process(
    db: &mut impl Db,
    process: i64,
    status: ProcessStatus,
    output: &str,
    now: Timestamp,
) -> Result<()> {
    db.execute(
        "UPDATE deployment_processes SET status = $2, output = $3, \
           finished_at = CASE WHEN started_at IS NULL THEN NULL ELSE $4 END, updated_at = $4 \
         WHERE id = $1",
        args![process, status, output, now],
    )
    .await?;
    Ok(())
}

/// What each process of a deployment printed, in order.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProcessOutput {
    pub id: i64,
    pub server_name: Option<String>,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub status: ProcessStatus,
    pub output: String,
}

pub async fn outputs(db: &mut impl Db, deployment: DeploymentId) -> Result<Vec<ProcessOutput>> {
    outputs_except(db, deployment, &[]).await
}

/// The same, with the output of the processes in `known` left out (empty), for a viewer that
/// has it already.
pub async fn outputs_except(
    db: &mut impl Db,
    deployment: DeploymentId,
    known: &[i64],
) -> Result<Vec<ProcessOutput>> {
    let output = if known.is_empty() {
        "output".to_owned()
    } else {
        let placeholders: Vec<String> = (0..known.len()).map(|i| format!("${}", i + 2)).collect();
        format!(
            "CASE WHEN id IN ({}) THEN '' ELSE output END",
            placeholders.join(", ")
        )
    };
    let sql = format!(
        "SELECT id, server_name, name, status, {output} AS output FROM deployment_processes \
         WHERE deployment_id = $1 ORDER BY sequence, id"
    );
    let mut args = args![deployment];
    args.extend(known.iter().map(|id| super::Arg::from(*id)));
    db.fetch_all(&sql, args).await
}

/// Marks every process that has not ended with `status` (`cancelled` or `skipped`).
pub async fn close_open_processes(
    db: &mut impl Db,
    deployment: DeploymentId,
    status: ProcessStatus,
    now: Timestamp,
) -> Result<()> {
    db.execute(
        "UPDATE deployment_processes SET status = $2, updated_at = $3, \
           finished_at = CASE WHEN started_at IS NULL THEN NULL ELSE $3 END \
         WHERE deployment_id = $1 AND status IN ('pending', 'running')",
        args![deployment, status, now],
    )
    .await?;
    Ok(())
}

pub async fn get_by_id(db: &mut impl Db, id: DeploymentId) -> Result<Option<Deployment>> {
    let sql = format!("SELECT {COLUMNS} FROM deployments WHERE id = $1");
    db.fetch_optional(&sql, args![id]).await
}

/// The newest finished deployment to `environment`, and its number within the project.
pub async fn last_successful(
    db: &mut impl Db,
    project: ProjectId,
    environment: &str,
) -> Result<Option<(Deployment, i64)>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM deployments WHERE project_id = $1 AND environment = $2 \
           AND status = 'finished' AND kind <> 'stop' ORDER BY id DESC LIMIT 1"
    );
    let Some(deployment) = db
        .fetch_optional::<Deployment>(&sql, args![project, environment])
        .await?
    else {
        return Ok(None);
    };
    let (number,): (i64,) = db
        .fetch_one(
            "SELECT COUNT(*) FROM deployments WHERE project_id = $1 AND id <= $2",
            args![project, deployment.id],
        )
        .await?;
    Ok(Some((deployment, number)))
}

/// Queues the teardown of a stopping environment (its on_stop script on its servers).
pub async fn enqueue_stop(
    db: &mut impl Db,
    project: ProjectId,
    user: Option<i64>,
    environment: &str,
    now: Timestamp,
) -> Result<DeploymentId> {
    let (id,): (i64,) = db
        .fetch_one(
            "INSERT INTO deployments (project_id, user_id, status, requested_from, created_at, \
               updated_at, environment, kind) VALUES ($1, $2, 'pending', 'branch', $3, $3, $4, \
               'stop') RETURNING id",
            args![project, user, now, environment],
        )
        .await?;
    Ok(DeploymentId(id))
}

/// What a rollback activates, recorded when it is asked for.
pub struct NewRollback<'a> {
    pub user_id: Option<i64>,
    pub environment: &'a str,
    pub release: ReleaseId,
    pub release_name: &'a str,
    pub commit_branch: Option<&'a str>,
    pub commit_hash: Option<&'a str>,
    pub commit_message: Option<&'a str>,
    pub commit_author: Option<&'a str>,
    pub commit_avatar: Option<&'a str>,
}

/// Queues a rollback: it waits for nothing but the deployment it stops (the worker takes
/// rollbacks first).
pub async fn insert_rollback(
    db: &mut impl Db,
    project: ProjectId,
    new: &NewRollback<'_>,
    now: Timestamp,
) -> Result<DeploymentId> {
    let (id,): (i64,) = db
        .fetch_one(
            "INSERT INTO deployments (project_id, user_id, status, kind, environment, release_id, \
               release_name, commit_branch, commit_hash, commit_message, commit_author, \
               commit_avatar, created_at, updated_at) \
             VALUES ($1, $2, 'pending', 'rollback', $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) \
             RETURNING id",
            args![
                project,
                new.user_id,
                new.environment,
                new.release,
                new.release_name,
                new.commit_branch,
                new.commit_hash,
                new.commit_message,
                new.commit_author,
                new.commit_avatar,
                now
            ],
        )
        .await?;
    Ok(DeploymentId(id))
}

/// Ends the waiting deployments and rollbacks of a project's environment (a rollback takes
/// their place); answers which.
pub async fn cancel_waiting(
    db: &mut impl Db,
    project: ProjectId,
    environment: &str,
    now: Timestamp,
) -> Result<Vec<DeploymentId>> {
    let rows: Vec<(i64,)> = db
        .fetch_all(
            "UPDATE deployments SET status = 'cancelled', finished_at = $3, updated_at = $3 \
             WHERE project_id = $1 AND environment = $2 AND status = 'pending' \
               AND kind <> 'stop' RETURNING id",
            args![project, environment, now],
        )
        .await?;
    let ids: Vec<DeploymentId> = rows.into_iter().map(|(id,)| DeploymentId(id)).collect();
    // A waiting rollback has its processes recorded already.
    for id in &ids {
        close_open_processes(db, *id, ProcessStatus::Cancelled, now).await?;
    }
    Ok(ids)
}

/// The project's running deployment, if any.
pub async fn running(db: &mut impl Db, project: ProjectId) -> Result<Option<Deployment>> {
    let sql =
        format!("SELECT {COLUMNS} FROM deployments WHERE project_id = $1 AND status = 'running'");
    db.fetch_optional(&sql, args![project]).await
}

/// Links a deployment to the release it builds.
pub async fn set_release(db: &mut impl Db, id: DeploymentId, release: ReleaseId) -> Result<()> {
    db.execute(
        "UPDATE deployments SET release_id = $2 WHERE id = $1",
        args![id, release],
    )
    .await?;
    Ok(())
}
