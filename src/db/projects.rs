//! Projects. A project is read together with everything its summary shows (deployment state,
//! counts, linked folders, environment servers) in one query, derived from the other tables
//! rather than kept in step by hand.

use super::folders::LinkedFolder;
use super::health_checks::HealthCheck;
use super::servers::Server;
use super::{Db, args};
use crate::domain::ids::{ProjectId, ServerId, UserId};
use crate::domain::time::Timestamp;
use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Project {
    #[sqlx(try_from = "i64")]
    pub id: ProjectId,
    #[sqlx(try_from = "i64")]
    pub user_id: UserId,
    pub name: String,
    pub provider: String,
    pub repository: String,
    pub project_type: String,
    pub branch: String,
    pub push_to_deploy: bool,
    pub retain_deployments: i64,
    pub monitor: Option<String>,
    pub install_dependencies: bool,
    pub install_dev_dependencies: bool,
    pub quiet_composer: bool,
    pub token_sealed: String,
    pub deploy_key_public: Option<String>,
    pub step_timeout_seconds: i64,
    pub health_gate: bool,
    pub health_gate_seconds: i64,
    pub delta_releases: bool,
    pub has_environment: bool,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    #[sqlx(try_from = "i64")]
    pub updated_at: Timestamp,
    pub running_deployments: i64,
    pub pending_deployments: i64,
    pub deployment_started_at: Option<i64>,
    pub daily_deploys: i64,
    pub weekly_deploys: i64,
    pub has_missing_heartbeats: bool,
    pub last_deployment_id: Option<i64>,
    pub last_deployment_status: Option<String>,
    pub last_deployment_branch: Option<String>,
    pub last_deployment_hash: Option<String>,
    pub last_deployment_author: Option<String>,
    pub last_deployment_avatar: Option<String>,
    pub last_deployment_started_at: Option<i64>,
    pub last_deployment_finished_at: Option<i64>,
    #[sqlx(try_from = "String")]
    pub folders: Aggregated<LinkedFolder>,
    #[sqlx(try_from = "String")]
    pub environment_servers: Aggregated<ServerId>,
    /// The project's servers, in id order.
    #[sqlx(try_from = "String")]
    pub servers: Aggregated<Server>,
    pub has_monitoring_error: bool,
    /// The latest health check from each region, in region order.
    #[sqlx(try_from = "String")]
    pub health_checks: Aggregated<HealthCheck>,
}

/// A list that the project query gathers in SQL, so that one round trip reads a whole
/// project. It travels as JSON text and is decoded here, before it leaves this module.
#[derive(Debug, Clone, Default)]
pub struct Aggregated<T>(pub Vec<T>);

impl<T: serde::de::DeserializeOwned> TryFrom<String> for Aggregated<T> {
    type Error = serde_json::Error;

    fn try_from(text: String) -> std::result::Result<Self, Self::Error> {
        serde_json::from_str(&text).map(Aggregated)
    }
}

/// The columns that a caller sets on create and update.
#[derive(Debug, Clone)]
pub struct ProjectFields {
    pub name: String,
    pub provider: String,
    pub repository: String,
    pub project_type: String,
    pub branch: String,
    pub push_to_deploy: bool,
    pub retain_deployments: i64,
    pub monitor: Option<String>,
    pub install_dependencies: bool,
    pub install_dev_dependencies: bool,
    pub quiet_composer: bool,
    pub step_timeout_seconds: i64,
    pub health_gate: bool,
    pub health_gate_seconds: i64,
    pub delta_releases: bool,
}

/// Whom a query may show: the projects a user owns or has accepted an invitation to.
pub(super) const VISIBLE_TO_USER: &str = "(p.user_id = $1 OR EXISTS (SELECT 1 FROM collaborators c \
     WHERE c.project_id = p.id AND c.user_id = $1 AND c.status = 'accepted'))";

/// Rows of `table` belonging to the project as a JSON array of objects, one field per
/// column, in `order`.
fn rows_aggregate(postgres: bool, table: &str, fields: &[&str], order: &str) -> String {
    let pairs = fields
        .iter()
        .map(|field| format!("'{field}', s.{field}"))
        .collect::<Vec<_>>()
        .join(", ");
    if postgres {
        format!(
            "(SELECT COALESCE(json_agg(json_build_object({pairs}) ORDER BY s.{order})::text, \
             '[]') FROM {table} s WHERE s.project_id = p.id)"
        )
    } else {
        format!(
            "(SELECT json_group_array(json_object({pairs})) FROM \
             (SELECT * FROM {table} WHERE project_id = p.id ORDER BY {order}) s)"
        )
    }
}

fn select_projects(postgres: bool, filter: &str) -> String {
    let servers = rows_aggregate(postgres, "servers", super::servers::FIELDS, "id");
    let health_checks = rows_aggregate(
        postgres,
        "health_checks",
        super::health_checks::FIELDS,
        "region",
    );
    let (folders, environment_servers) = if postgres {
        (
            "(SELECT COALESCE(json_agg(json_build_object('from', f.from_path, 'to', f.to_path) \
             ORDER BY f.id)::text, '[]') FROM linked_folders f WHERE f.project_id = p.id)",
            "(SELECT COALESCE(json_agg(e.server_id ORDER BY e.server_id)::text, '[]') \
             FROM environment_servers e WHERE e.project_id = p.id)",
        )
    } else {
        (
            "(SELECT json_group_array(json_object('from', f.from_path, 'to', f.to_path)) \
             FROM (SELECT from_path, to_path FROM linked_folders \
             WHERE project_id = p.id ORDER BY id) f)",
            "(SELECT json_group_array(e.server_id) FROM (SELECT server_id FROM \
             environment_servers WHERE project_id = p.id ORDER BY server_id) e)",
        )
    };
    format!(
        "SELECT p.id, p.user_id, p.name, p.provider, p.repository, p.project_type, p.branch, \
           p.push_to_deploy, p.retain_deployments, p.monitor, p.install_dependencies, \
           p.install_dev_dependencies, p.quiet_composer, p.token_sealed, p.deploy_key_public, \
           p.step_timeout_seconds, p.health_gate, p.health_gate_seconds, p.delta_releases, \
           (p.environment_sealed IS NOT NULL) AS has_environment, p.created_at, p.updated_at, \
           (SELECT COUNT(*) FROM deployments d WHERE d.project_id = p.id AND d.status = 'running') \
             AS running_deployments, \
           (SELECT COUNT(*) FROM deployments d WHERE d.project_id = p.id AND d.status = 'pending') \
             AS pending_deployments, \
           (SELECT MAX(d.started_at) FROM deployments d WHERE d.project_id = p.id \
             AND d.status = 'running') AS deployment_started_at, \
           (SELECT COUNT(*) FROM deployments d WHERE d.project_id = p.id AND d.created_at >= $2 \
             AND d.kind <> 'stop') \
             AS daily_deploys, \
           (SELECT COUNT(*) FROM deployments d WHERE d.project_id = p.id AND d.created_at >= $3 \
             AND d.kind <> 'stop') \
             AS weekly_deploys, \
           EXISTS (SELECT 1 FROM heartbeats h WHERE h.project_id = p.id AND h.status = 'missing') \
             AS has_missing_heartbeats, \
           l.id AS last_deployment_id, l.status AS last_deployment_status, \
           l.commit_branch AS last_deployment_branch, l.commit_hash AS last_deployment_hash, \
           l.commit_author AS last_deployment_author, l.commit_avatar AS last_deployment_avatar, \
           l.started_at AS last_deployment_started_at, l.finished_at AS last_deployment_finished_at, \
           {folders} AS folders, {environment_servers} AS environment_servers, \
           {servers} AS servers, \
           EXISTS (SELECT 1 FROM health_checks h WHERE h.project_id = p.id \
             AND h.status = 'failing') AS has_monitoring_error, \
           {health_checks} AS health_checks \
         FROM projects p \
         LEFT JOIN deployments l ON l.id = (SELECT MAX(d.id) FROM deployments d \
           WHERE d.project_id = p.id AND d.status IN ('finished', 'error', 'cancelled') \
             AND d.kind <> 'stop') \
         WHERE {filter}"
    )
}

fn day_and_week_ago(now: Timestamp) -> (Timestamp, Timestamp) {
    (now.minus_seconds(86_400), now.minus_seconds(7 * 86_400))
}

/// Up to `limit` of the projects `user` may see, in id order, after the project `after`.
pub async fn list_visible(
    db: &mut impl Db,
    user: UserId,
    after: ProjectId,
    limit: i64,
    now: Timestamp,
) -> Result<Vec<Project>> {
    let filter = format!("{VISIBLE_TO_USER} AND p.id > $4");
    let sql = select_projects(db.is_postgres(), &filter) + " ORDER BY p.id LIMIT $5";
    let (day, week) = day_and_week_ago(now);
    db.fetch_all(&sql, args![user, day, week, after, limit])
        .await
}

/// One project, if `user` may see it.
pub async fn get_visible(
    db: &mut impl Db,
    id: ProjectId,
    user: UserId,
    now: Timestamp,
) -> Result<Option<Project>> {
    let filter = format!("{VISIBLE_TO_USER} AND p.id = $4");
    let sql = select_projects(db.is_postgres(), &filter);
    let (day, week) = day_and_week_ago(now);
    db.fetch_optional(&sql, args![user, day, week, id]).await
}

/// One project, whoever may see it (callers check access first).
pub async fn get(db: &mut impl Db, id: ProjectId, now: Timestamp) -> Result<Option<Project>> {
    let sql = select_projects(db.is_postgres(), "p.id = $1");
    let (day, week) = day_and_week_ago(now);
    db.fetch_optional(&sql, args![id, day, week]).await
}

/// How a user stands to a project: its owner, and the user's collaboration status, if any.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Membership {
    #[sqlx(try_from = "i64")]
    pub owner_id: UserId,
    pub collaboration: Option<String>,
}

pub async fn membership(
    db: &mut impl Db,
    project: ProjectId,
    user: UserId,
) -> Result<Option<Membership>> {
    db.fetch_optional(
        "SELECT p.user_id AS owner_id, (SELECT c.status FROM collaborators c \
           WHERE c.project_id = p.id AND c.user_id = $2) AS collaboration \
         FROM projects p WHERE p.id = $1",
        args![project, user],
    )
    .await
}

/// A project's own SSH key, for fetching its repository.
pub struct DeployKey<'a> {
    pub public: &'a str,
    pub sealed: &'a str,
}

pub async fn insert(
    db: &mut impl Db,
    owner: UserId,
    fields: &ProjectFields,
    token_sealed: &str,
    token_hash: &str,
    deploy_key: DeployKey<'_>,
    now: Timestamp,
) -> Result<ProjectId> {
    let (id,): (i64,) = db
        .fetch_one(
            "INSERT INTO projects (user_id, name, provider, repository, project_type, branch, \
               push_to_deploy, retain_deployments, monitor, install_dependencies, \
               install_dev_dependencies, quiet_composer, token_sealed, token_hash, \
               step_timeout_seconds, deploy_key_public, deploy_key_sealed, created_at, updated_at, \
               health_gate, health_gate_seconds, delta_releases) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
               $18, $18, $19, $20, $21) \
             RETURNING id",
            args![
                owner,
                &fields.name,
                &fields.provider,
                &fields.repository,
                &fields.project_type,
                &fields.branch,
                fields.push_to_deploy,
                fields.retain_deployments,
                fields.monitor.clone(),
                fields.install_dependencies,
                fields.install_dev_dependencies,
                fields.quiet_composer,
                token_sealed,
                token_hash,
                fields.step_timeout_seconds,
                deploy_key.public,
                deploy_key.sealed,
                now,
                fields.health_gate,
                fields.health_gate_seconds,
                fields.delta_releases
            ],
        )
        .await?;
    Ok(ProjectId(id))
}

pub async fn update(
    db: &mut impl Db,
    id: ProjectId,
    fields: &ProjectFields,
    now: Timestamp,
) -> Result<()> {
    db.execute(
        "UPDATE projects SET name = $2, provider = $3, repository = $4, project_type = $5, \
           branch = $6, push_to_deploy = $7, retain_deployments = $8, monitor = $9, \
           install_dependencies = $10, install_dev_dependencies = $11, quiet_composer = $12, \
           step_timeout_seconds = $13, updated_at = $14, health_gate = $15, \
           health_gate_seconds = $16, delta_releases = $17 \
         WHERE id = $1",
        args![
            id,
            &fields.name,
            &fields.provider,
            &fields.repository,
            &fields.project_type,
            &fields.branch,
            fields.push_to_deploy,
            fields.retain_deployments,
            fields.monitor.clone(),
            fields.install_dependencies,
            fields.install_dev_dependencies,
            fields.quiet_composer,
            fields.step_timeout_seconds,
            now,
            fields.health_gate,
            fields.health_gate_seconds,
            fields.delta_releases
        ],
    )
    .await?;
    Ok(())
}

/// The project's deploy key, sealed with the master key.
pub async fn deploy_key_sealed(db: &mut impl Db, id: ProjectId) -> Result<Option<String>> {
    let row: Option<(Option<String>,)> = db
        .fetch_optional(
            "SELECT deploy_key_sealed FROM projects WHERE id = $1",
            args![id],
        )
        .await?;
    Ok(row.and_then(|(key,)| key))
}

pub async fn touch(db: &mut impl Db, id: ProjectId, now: Timestamp) -> Result<()> {
    db.execute(
        "UPDATE projects SET updated_at = $2 WHERE id = $1",
        args![id, now],
    )
    .await?;
    Ok(())
}

pub async fn delete(db: &mut impl Db, id: ProjectId) -> Result<()> {
    db.execute("DELETE FROM projects WHERE id = $1", args![id])
        .await?;
    Ok(())
}

/// The environment contents sealed under the user's key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SealedEnvironment {
    pub environment_salt: Option<String>,
    pub environment_sealed: Option<String>,
}

pub async fn sealed_environment(db: &mut impl Db, id: ProjectId) -> Result<SealedEnvironment> {
    db.fetch_one(
        "SELECT environment_salt, environment_sealed FROM projects WHERE id = $1",
        args![id],
    )
    .await
}

/// Stores new sealed contents, but only if what is stored is still `expected` (`None`: nothing
/// was). `false` when another write came first.
pub async fn replace_sealed_environment(
    db: &mut impl Db,
    id: ProjectId,
    expected: Option<&str>,
    salt: &str,
    sealed: &str,
    now: Timestamp,
) -> Result<bool> {
    let changed = db
        .execute(
            "UPDATE projects SET environment_salt = $2, environment_sealed = $3, updated_at = $4 \
             WHERE id = $1 AND ((environment_sealed IS NULL AND CAST($5 AS TEXT) IS NULL) \
               OR environment_sealed = $5)",
            args![id, salt, sealed, now, expected],
        )
        .await?;
    Ok(changed == 1)
}

/// Stores new sealed contents, whatever was there (a key reset).
pub async fn set_sealed_environment(
    db: &mut impl Db,
    id: ProjectId,
    salt: &str,
    sealed: &str,
    now: Timestamp,
) -> Result<()> {
    db.execute(
        "UPDATE projects SET environment_salt = $2, environment_sealed = $3, updated_at = $4 \
         WHERE id = $1",
        args![id, salt, sealed, now],
    )
    .await?;
    Ok(())
}

/// The project `user` may see whose repository is `path` (`owner/name`).
pub async fn find_visible_by_repository(
    db: &mut impl Db,
    user: UserId,
    path: &str,
) -> Result<Option<ProjectId>> {
    let sql = format!(
        "SELECT p.id FROM projects p WHERE {VISIBLE_TO_USER} AND p.repository = $2 ORDER BY p.id LIMIT 1"
    );
    let row: Option<(i64,)> = db.fetch_optional(&sql, args![user, path]).await?;
    Ok(row.map(|(id,)| ProjectId(id)))
}

/// The project whose deploy token has this hash, and its owner.
pub async fn find_by_token_hash(
    db: &mut impl Db,
    token_hash: &str,
) -> Result<Option<(ProjectId, UserId)>> {
    let row: Option<(i64, i64)> = db
        .fetch_optional(
            "SELECT id, user_id FROM projects WHERE token_hash = $1",
            args![token_hash],
        )
        .await?;
    Ok(row.map(|(id, user)| (ProjectId(id), UserId(user))))
}

/// The project's web hook secret, sealed with the master key.
pub async fn webhook_secret_sealed(db: &mut impl Db, id: ProjectId) -> Result<Option<String>> {
    let row: Option<(Option<String>,)> = db
        .fetch_optional(
            "SELECT webhook_secret_sealed FROM projects WHERE id = $1",
            args![id],
        )
        .await?;
    Ok(row.and_then(|(secret,)| secret))
}

pub async fn set_webhook_secret(
    db: &mut impl Db,
    id: ProjectId,
    sealed: &str,
    now: Timestamp,
) -> Result<()> {
    db.execute(
        "UPDATE projects SET webhook_secret_sealed = $2, updated_at = $3 WHERE id = $1",
        args![id, sealed, now],
    )
    .await?;
    Ok(())
}

/// A project's name, for messages about it.
pub async fn name(db: &mut impl Db, id: ProjectId) -> Result<Option<String>> {
    let row: Option<(String,)> = db
        .fetch_optional("SELECT name FROM projects WHERE id = $1", args![id])
        .await?;
    Ok(row.map(|(name,)| name))
}

/// One project's sealed token, if there is a project: a secret sealed with the master key.
pub async fn any_sealed_token(db: &mut impl Db) -> Result<Option<String>> {
    let row: Option<(String,)> = db
        .fetch_optional(
            "SELECT token_sealed FROM projects ORDER BY id LIMIT 1",
            Vec::new(),
        )
        .await?;
    Ok(row.map(|(sealed,)| sealed))
}
