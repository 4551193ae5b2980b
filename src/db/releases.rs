//! Releases: every release directory a deployment creates, its state, and on which servers it
//! is complete (`present`) and live.

use super::{Db, args};
use crate::domain::deployment::ReleaseState;
use crate::domain::ids::{DeploymentId, ProjectId, ReleaseId, ServerId};
use crate::domain::time::Timestamp;
use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Release {
    #[sqlx(try_from = "i64")]
    pub id: ReleaseId,
    #[sqlx(try_from = "i64")]
    pub project_id: ProjectId,
    pub environment: String,
    pub deployment_id: Option<i64>,
    /// The release directory's name, `YmdHis`.
    pub name: String,
    pub commit_hash: Option<String>,
    pub commit_branch: Option<String>,
    pub commit_message: Option<String>,
    #[sqlx(try_from = "String")]
    pub state: ReleaseState,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    pub activated_at: Option<i64>,
}

/// A release on one server.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Placement {
    #[sqlx(try_from = "i64")]
    pub release_id: ReleaseId,
    #[sqlx(try_from = "i64")]
    pub server_id: ServerId,
    pub present: bool,
    pub live: bool,
}

const COLUMNS: &str = "id, project_id, environment, deployment_id, name, commit_hash, \
    commit_branch, commit_message, state, created_at, activated_at";

/// What a deployment is about to build.
pub struct NewRelease<'a> {
    pub environment: &'a str,
    pub deployment: DeploymentId,
    pub name: &'a str,
    pub commit_hash: &'a str,
    pub commit_branch: &'a str,
    pub commit_message: &'a str,
}

/// Records a release being built on `servers` (not yet complete on any).
pub async fn insert(
    db: &mut impl Db,
    project: ProjectId,
    new: &NewRelease<'_>,
    servers: &[ServerId],
    now: Timestamp,
) -> Result<ReleaseId> {
    let (id,): (i64,) = db
        .fetch_one(
            "INSERT INTO releases (project_id, environment, deployment_id, name, commit_hash, \
               commit_branch, commit_message, state, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'building', $8, $8) RETURNING id",
            args![
                project,
                new.environment,
                new.deployment,
                new.name,
                new.commit_hash,
                new.commit_branch,
                new.commit_message,
                now
            ],
        )
        .await?;
    for server in servers {
        db.execute(
            "INSERT INTO release_servers (release_id, server_id) VALUES ($1, $2)",
            args![id, *server],
        )
        .await?;
    }
    Ok(ReleaseId(id))
}

/// Newest first.
pub async fn list(db: &mut impl Db, project: ProjectId, environment: &str) -> Result<Vec<Release>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM releases WHERE project_id = $1 AND environment = $2 \
         ORDER BY id DESC"
    );
    db.fetch_all(&sql, args![project, environment]).await
}

pub async fn get(db: &mut impl Db, project: ProjectId, id: ReleaseId) -> Result<Option<Release>> {
    let sql = format!("SELECT {COLUMNS} FROM releases WHERE project_id = $1 AND id = $2");
    db.fetch_optional(&sql, args![project, id]).await
}

/// Where each release of a project's environment is, by release.
pub async fn placements(
    db: &mut impl Db,
    project: ProjectId,
    environment: &str,
) -> Result<Vec<Placement>> {
    db.fetch_all(
        "SELECT rs.release_id, rs.server_id, rs.present, rs.live FROM release_servers rs \
         JOIN releases r ON r.id = rs.release_id \
         WHERE r.project_id = $1 AND r.environment = $2 ORDER BY rs.release_id, rs.server_id",
        args![project, environment],
    )
    .await
}

/// The release complete on every server it was built on: the barrier before activation.
pub async fn mark_complete(db: &mut impl Db, id: ReleaseId, now: Timestamp) -> Result<()> {
    db.execute(
        "UPDATE release_servers SET present = TRUE WHERE release_id = $1",
        args![id],
    )
    .await?;
    touch(db, id, now).await
}

/// Records that `current` points at the release on `servers`: it becomes the environment's
/// live release, and the one live before it is kept as ready (a failed one stays failed).
/// Callers run it in a transaction, so that the servers' records change together.
pub async fn activate(
    db: &mut impl Db,
    project: ProjectId,
    environment: &str,
    id: ReleaseId,
    servers: &[ServerId],
    now: Timestamp,
) -> Result<()> {
    place_live(db, id, servers).await?;
    db.execute(
        "UPDATE releases SET state = 'ready', updated_at = $4 \
         WHERE project_id = $1 AND environment = $2 AND state = 'live' AND id <> $3",
        args![project, environment, id, now],
    )
    .await?;
    db.execute(
        "UPDATE releases SET state = CASE WHEN state = 'failed' THEN 'failed' ELSE 'live' END, \
           activated_at = $2, updated_at = $2 WHERE id = $1",
        args![id, now],
    )
    .await?;
    Ok(())
}

/// Records that `current` points at the release on `servers`, and at another one on every
/// other server where the release is.
pub async fn place_live(db: &mut impl Db, id: ReleaseId, servers: &[ServerId]) -> Result<()> {
    db.execute(
        "UPDATE release_servers SET live = FALSE WHERE release_id = $1",
        args![id],
    )
    .await?;
    for server in servers {
        db.execute(
            "UPDATE release_servers SET live = (release_id = $1) WHERE server_id = $2",
            args![id, *server],
        )
        .await?;
    }
    Ok(())
}

/// Marks a release failed: it never becomes a rollback target. `removed`: its directory is
/// gone from every server.
pub async fn fail(db: &mut impl Db, id: ReleaseId, removed: bool, now: Timestamp) -> Result<()> {
    db.execute(
        "UPDATE releases SET state = 'failed', updated_at = $2 WHERE id = $1",
        args![id, now],
    )
    .await?;
    if removed {
        db.execute(
            "UPDATE release_servers SET present = FALSE, live = FALSE WHERE release_id = $1",
            args![id],
        )
        .await?;
    }
    Ok(())
}

/// Records that retention removed these releases from every server.
pub async fn purge(db: &mut impl Db, ids: &[ReleaseId], now: Timestamp) -> Result<()> {
    for id in ids {
        db.execute(
            "UPDATE releases SET state = CASE WHEN state = 'failed' THEN 'failed' \
               ELSE 'purged' END, updated_at = $2 WHERE id = $1",
            args![*id, now],
        )
        .await?;
        db.execute(
            "UPDATE release_servers SET present = FALSE, live = FALSE WHERE release_id = $1",
            args![*id],
        )
        .await?;
    }
    Ok(())
}

/// The release `current` points at on each of `servers`, as recorded.
pub async fn live_on(db: &mut impl Db, servers: &[ServerId]) -> Result<Vec<(ServerId, String)>> {
    let mut live = Vec::new();
    for server in servers {
        let row: Option<(String,)> = db
            .fetch_optional(
                "SELECT r.name FROM release_servers rs JOIN releases r ON r.id = rs.release_id \
                 WHERE rs.server_id = $1 AND rs.live ORDER BY r.activated_at DESC LIMIT 1",
                args![*server],
            )
            .await?;
        if let Some((name,)) = row {
            live.push((*server, name));
        }
    }
    Ok(live)
}

async fn touch(db: &mut impl Db, id: ReleaseId, now: Timestamp) -> Result<()> {
    db.execute(
        "UPDATE releases SET updated_at = $2 WHERE id = $1",
        args![id, now],
    )
    .await?;
    Ok(())
}
