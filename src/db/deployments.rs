//! Deployment records and their processes (one per step × server).

use super::{Db, args};
use crate::domain::ids::{DeploymentId, ProjectId};
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
    pub status: String,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    #[sqlx(try_from = "i64")]
    pub updated_at: Timestamp,
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
    pub status: String,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    #[sqlx(try_from = "i64")]
    pub updated_at: Timestamp,
}

const COLUMNS: &str = "id, project_id, user_id, commit_branch, commit_hash, commit_author, \
    commit_avatar, commit_message, status, started_at, finished_at, created_at, updated_at";

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
    pub status: String,
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
                &new.status,
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
    status: &str,
    started_at: Option<Timestamp>,
    finished_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<()> {
    db.execute(
        "UPDATE deployments SET status = $2, started_at = COALESCE($3, started_at), \
           finished_at = COALESCE($4, finished_at), updated_at = $5 WHERE id = $1",
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
    pub status: String,
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
                &new.status,
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
    status: &str,
    started_at: Option<Timestamp>,
    finished_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<()> {
    db.execute(
        "UPDATE deployment_processes SET status = $2, started_at = COALESCE($3, started_at), \
           finished_at = COALESCE($4, finished_at), updated_at = $5 WHERE id = $1",
        args![
            process,
            status,
            started_at.map(Timestamp::micros),
            finished_at.map(Timestamp::micros),
            now
        ],
    )
    .await?;
    Ok(())
}
