//! Servers of a project, and which of them hold the project's `.env`.

use super::{Db, args};
use crate::domain::ids::{ProjectId, ServerId, UserId};
use crate::domain::time::Timestamp;
use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow, serde::Deserialize)]
pub struct Server {
    #[sqlx(try_from = "i64")]
    pub id: ServerId,
    #[sqlx(try_from = "i64")]
    pub project_id: ProjectId,
    #[sqlx(try_from = "i64")]
    pub user_id: UserId,
    pub name: String,
    pub connect_as: String,
    pub host: String,
    pub port: i64,
    pub php_version: String,
    #[serde(deserialize_with = "super::flexible_bool")]
    pub freebsd: bool,
    #[serde(deserialize_with = "super::flexible_bool")]
    pub receives_code_deployments: bool,
    #[serde(deserialize_with = "super::flexible_bool")]
    pub should_restart_fpm: bool,
    pub deployment_path: String,
    pub php_path: String,
    pub composer_path: String,
    pub public_key: String,
    pub connection_status: String,
    pub current_activity: Option<String>,
    pub host_key: Option<String>,
    pub connection_error: Option<String>,
    pub tools: Option<String>,
    pub environment: String,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    #[sqlx(try_from = "i64")]
    pub updated_at: Timestamp,
}

/// The columns a caller sets on create and update.
#[derive(Debug, Clone)]
pub struct ServerFields {
    pub name: String,
    pub connect_as: String,
    pub host: String,
    pub port: i64,
    pub php_version: String,
    pub freebsd: bool,
    pub receives_code_deployments: bool,
    pub should_restart_fpm: bool,
    pub deployment_path: String,
    pub php_path: String,
    pub composer_path: String,
    pub environment: String,
}

/// The columns of a server, in the order of `Server`'s fields.
pub(super) const FIELDS: &[&str] = &[
    "id",
    "project_id",
    "user_id",
    "name",
    "connect_as",
    "host",
    "port",
    "php_version",
    "freebsd",
    "receives_code_deployments",
    "should_restart_fpm",
    "deployment_path",
    "php_path",
    "composer_path",
    "public_key",
    "connection_status",
    "current_activity",
    "created_at",
    "updated_at",
    "host_key",
    "connection_error",
    "tools",
    "environment",
];

const COLUMNS: &str = "id, project_id, user_id, name, connect_as, host, port, php_version, \
    freebsd, receives_code_deployments, should_restart_fpm, deployment_path, php_path, \
    composer_path, public_key, connection_status, current_activity, created_at, updated_at, \
    host_key, connection_error, tools, environment";

pub async fn list(db: &mut impl Db, project: ProjectId) -> Result<Vec<Server>> {
    let sql = format!("SELECT {COLUMNS} FROM servers WHERE project_id = $1 ORDER BY id");
    db.fetch_all(&sql, args![project]).await
}

pub async fn get(db: &mut impl Db, project: ProjectId, id: ServerId) -> Result<Option<Server>> {
    let sql = format!("SELECT {COLUMNS} FROM servers WHERE project_id = $1 AND id = $2");
    db.fetch_optional(&sql, args![project, id]).await
}

/// Which of `ids` are not servers of `project`.
pub async fn missing_from_project(
    db: &mut impl Db,
    project: ProjectId,
    ids: &[ServerId],
) -> Result<Vec<ServerId>> {
    let known: Vec<(i64,)> = db
        .fetch_all(
            "SELECT id FROM servers WHERE project_id = $1",
            args![project],
        )
        .await?;
    Ok(ids
        .iter()
        .copied()
        .filter(|id| !known.iter().any(|(k,)| *k == id.0))
        .collect())
}

pub async fn insert(
    db: &mut impl Db,
    project: ProjectId,
    owner: UserId,
    fields: &ServerFields,
    public_key: &str,
    private_key_sealed: &str,
    now: Timestamp,
) -> Result<ServerId> {
    let (id,): (i64,) = db
        .fetch_one(
            "INSERT INTO servers (project_id, user_id, name, connect_as, host, port, php_version, \
               freebsd, receives_code_deployments, should_restart_fpm, deployment_path, php_path, \
               composer_path, public_key, private_key_sealed, connection_status, created_at, \
               updated_at, environment) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 'unknown', \
               $16, $16, $17) RETURNING id",
            args![
                project,
                owner,
                &fields.name,
                &fields.connect_as,
                &fields.host,
                fields.port,
                &fields.php_version,
                fields.freebsd,
                fields.receives_code_deployments,
                fields.should_restart_fpm,
                &fields.deployment_path,
                &fields.php_path,
                &fields.composer_path,
                public_key,
                private_key_sealed,
                now,
                &fields.environment
            ],
        )
        .await?;
    Ok(ServerId(id))
}

pub async fn update(
    db: &mut impl Db,
    id: ServerId,
    fields: &ServerFields,
    now: Timestamp,
) -> Result<()> {
    db.execute(
        "UPDATE servers SET name = $2, connect_as = $3, host = $4, port = $5, php_version = $6, \
           freebsd = $7, receives_code_deployments = $8, should_restart_fpm = $9, \
           deployment_path = $10, php_path = $11, composer_path = $12, updated_at = $13, \
           environment = $14, \
           source_commit = CASE WHEN host = $4 AND port = $5 AND deployment_path = $10 \
             THEN source_commit END \
         WHERE id = $1",
        args![
            id,
            &fields.name,
            &fields.connect_as,
            &fields.host,
            fields.port,
            &fields.php_version,
            fields.freebsd,
            fields.receives_code_deployments,
            fields.should_restart_fpm,
            &fields.deployment_path,
            &fields.php_path,
            &fields.composer_path,
            now,
            &fields.environment
        ],
    )
    .await?;
    Ok(())
}

pub async fn delete(db: &mut impl Db, id: ServerId) -> Result<()> {
    db.execute("DELETE FROM servers WHERE id = $1", args![id])
        .await?;
    Ok(())
}

/// The servers that hold the project's `.env`.
pub async fn list_environment_servers(db: &mut impl Db, project: ProjectId) -> Result<Vec<Server>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM servers WHERE id IN \
           (SELECT server_id FROM environment_servers WHERE project_id = $1) ORDER BY id"
    );
    db.fetch_all(&sql, args![project]).await
}

pub async fn set_environment_servers(
    db: &mut impl Db,
    project: ProjectId,
    servers: &[ServerId],
) -> Result<()> {
    db.execute(
        "DELETE FROM environment_servers WHERE project_id = $1",
        args![project],
    )
    .await?;
    for server in servers {
        db.execute(
            "INSERT INTO environment_servers (project_id, server_id) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
            args![project, *server],
        )
        .await?;
    }
    Ok(())
}

/// The commit each server's source copy holds, as recorded after its last clone.
pub async fn source_commits(
    db: &mut impl Db,
    project: ProjectId,
) -> Result<std::collections::HashMap<ServerId, String>> {
    let rows: Vec<(i64, String)> = db
        .fetch_all(
            "SELECT id, source_commit FROM servers \
             WHERE project_id = $1 AND source_commit IS NOT NULL",
            args![project],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, sha)| (ServerId(id), sha))
        .collect())
}

pub async fn set_source_commit(db: &mut impl Db, id: ServerId, sha: &str) -> Result<()> {
    db.execute(
        "UPDATE servers SET source_commit = $2 WHERE id = $1",
        args![id, sha],
    )
    .await?;
    Ok(())
}

/// The server's private key, sealed with the master key.
pub async fn private_key_sealed(db: &mut impl Db, id: ServerId) -> Result<String> {
    let (sealed,): (String,) = db
        .fetch_one(
            "SELECT private_key_sealed FROM servers WHERE id = $1",
            args![id],
        )
        .await?;
    Ok(sealed)
}

/// Pins the host key seen on a first successful connection (an existing pin is kept).
pub async fn pin_host_key(db: &mut impl Db, id: ServerId, host_key: &str) -> Result<()> {
    db.execute(
        "UPDATE servers SET host_key = $2 WHERE id = $1 AND host_key IS NULL",
        args![id, host_key],
    )
    .await?;
    Ok(())
}

/// Forgets the pinned host key: the next connection trusts and pins what it sees.
pub async fn reset_host_key(db: &mut impl Db, id: ServerId, now: Timestamp) -> Result<()> {
    db.execute(
        "UPDATE servers SET host_key = NULL, connection_status = 'unknown', \
           connection_error = NULL, updated_at = $2 WHERE id = $1",
        args![id, now],
    )
    .await?;
    Ok(())
}

/// Records the outcome of a connection check.
pub async fn set_connection(
    db: &mut impl Db,
    id: ServerId,
    status: &str,
    error: Option<&str>,
    tools: Option<&str>,
    now: Timestamp,
) -> Result<()> {
    db.execute(
        "UPDATE servers SET connection_status = $2, connection_error = $3, \
           tools = COALESCE($4, tools), updated_at = $5 WHERE id = $1",
        args![id, status, error, tools, now],
    )
    .await?;
    Ok(())
}
