//! Deployment environments of a project.

use super::{Db, args};
use crate::domain::ids::{EnvironmentId, ProjectId};
use crate::domain::time::Timestamp;
use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Environment {
    #[sqlx(try_from = "i64")]
    pub id: EnvironmentId,
    #[sqlx(try_from = "i64")]
    pub project_id: ProjectId,
    pub name: String,
    pub slug: String,
    pub external_url: Option<String>,
    pub tier: String,
    pub state: String,
    pub description: Option<String>,
    pub auto_stop_at: Option<i64>,
    pub auto_stop_setting: String,
    pub on_stop: Option<String>,
    pub delete_at: Option<i64>,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    #[sqlx(try_from = "i64")]
    pub updated_at: Timestamp,
}

const COLUMNS: &str = "id, project_id, name, slug, external_url, tier, state, description, \
    auto_stop_at, auto_stop_setting, on_stop, delete_at, created_at, updated_at";

/// Which environments a list shows.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub name: Option<String>,
    /// Case-insensitive prefix of the name.
    pub search: Option<String>,
    pub state: Option<String>,
}

fn filter_sql(filter: &Filter) -> (String, Vec<super::Arg>) {
    let mut sql = String::from("project_id = $1");
    let mut args = Vec::new();
    if let Some(name) = &filter.name {
        args.push(super::Arg::from(name.clone()));
        sql.push_str(&format!(" AND name = ${}", args.len() + 1));
    }
    if let Some(search) = &filter.search {
        let escaped = search
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        args.push(super::Arg::from(format!("{escaped}%")));
        sql.push_str(&format!(
            " AND LOWER(name) LIKE ${} ESCAPE '\\'",
            args.len() + 1
        ));
    }
    if let Some(state) = &filter.state {
        args.push(super::Arg::from(state.clone()));
        sql.push_str(&format!(" AND state = ${}", args.len() + 1));
    }
    (sql, args)
}

/// One page of a project's environments, by id, and how many there are in all.
pub async fn list(
    db: &mut impl Db,
    project: ProjectId,
    filter: &Filter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Environment>, i64)> {
    let (condition, extra) = filter_sql(filter);
    let mut count_args = vec![super::Arg::from(project)];
    count_args.extend(extra.iter().cloned());
    let (total,): (i64,) = db
        .fetch_one(
            &format!("SELECT COUNT(*) FROM environments WHERE {condition}"),
            count_args.clone(),
        )
        .await?;
    let n = count_args.len();
    let mut page_args = count_args;
    page_args.push(super::Arg::from(limit));
    page_args.push(super::Arg::from(offset));
    let sql = format!(
        "SELECT {COLUMNS} FROM environments WHERE {condition} ORDER BY id LIMIT ${} OFFSET ${}",
        n + 1,
        n + 2
    );
    Ok((db.fetch_all(&sql, page_args).await?, total))
}

pub async fn get(
    db: &mut impl Db,
    project: ProjectId,
    id: EnvironmentId,
) -> Result<Option<Environment>> {
    let sql = format!("SELECT {COLUMNS} FROM environments WHERE project_id = $1 AND id = $2");
    db.fetch_optional(&sql, args![project, id]).await
}

pub async fn get_by_name(
    db: &mut impl Db,
    project: ProjectId,
    name: &str,
) -> Result<Option<Environment>> {
    let sql = format!("SELECT {COLUMNS} FROM environments WHERE project_id = $1 AND name = $2");
    db.fetch_optional(&sql, args![project, name]).await
}

/// The columns a caller sets.
#[derive(Debug, Clone)]
pub struct EnvironmentFields {
    pub external_url: Option<String>,
    pub tier: String,
    pub description: Option<String>,
    pub auto_stop_setting: String,
    pub on_stop: Option<String>,
}

/// Creates an environment; `None` when the project already has one with that name.
pub async fn insert(
    db: &mut impl Db,
    project: ProjectId,
    name: &str,
    slug: &str,
    fields: &EnvironmentFields,
    now: Timestamp,
) -> Result<Option<EnvironmentId>> {
    let row: Option<(i64,)> = db
        .fetch_optional(
            "INSERT INTO environments (project_id, name, slug, external_url, tier, state, \
               description, auto_stop_setting, on_stop, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'available', $6, $7, $8, $9, $9) \
             ON CONFLICT (project_id, name) DO NOTHING RETURNING id",
            args![
                project,
                name,
                slug,
                fields.external_url.clone(),
                &fields.tier,
                fields.description.clone(),
                &fields.auto_stop_setting,
                fields.on_stop.clone(),
                now
            ],
        )
        .await?;
    Ok(row.map(|(id,)| EnvironmentId(id)))
}

pub async fn update(
    db: &mut impl Db,
    id: EnvironmentId,
    fields: &EnvironmentFields,
    now: Timestamp,
) -> Result<()> {
    db.execute(
        "UPDATE environments SET external_url = $2, tier = $3, description = $4, \
           auto_stop_setting = $5, on_stop = $6, updated_at = $7 WHERE id = $1",
        args![
            id,
            fields.external_url.clone(),
            &fields.tier,
            fields.description.clone(),
            &fields.auto_stop_setting,
            fields.on_stop.clone(),
            now
        ],
    )
    .await?;
    Ok(())
}

/// Stops an environment (clearing `auto_stop_at`); `false` when it was already stopped and
/// `force` was not given, so nothing changed.
pub async fn stop(
    db: &mut impl Db,
    id: EnvironmentId,
    force: bool,
    now: Timestamp,
) -> Result<bool> {
    let changed = db
        .execute(
            "UPDATE environments SET state = 'stopped', auto_stop_at = NULL, updated_at = $3 \
             WHERE id = $1 AND (state <> 'stopped' OR $2)",
            args![id, force, now],
        )
        .await?;
    Ok(changed == 1)
}

/// Marks an available environment as stopping while its on_stop script runs; `false` when
/// it was not available (already stopping or stopped).
pub async fn start_stopping(db: &mut impl Db, id: EnvironmentId, now: Timestamp) -> Result<bool> {
    let changed = db
        .execute(
            "UPDATE environments SET state = 'stopping', updated_at = $2 \
             WHERE id = $1 AND state = 'available'",
            args![id, now],
        )
        .await?;
    Ok(changed == 1)
}

/// Ends a teardown: stops the environment only if it is still stopping (a deployment since
/// made it available again).
pub async fn finish_stopping(db: &mut impl Db, id: EnvironmentId, now: Timestamp) -> Result<()> {
    db.execute(
        "UPDATE environments SET state = 'stopped', auto_stop_at = NULL, updated_at = $2 \
         WHERE id = $1 AND state = 'stopping'",
        args![id, now],
    )
    .await?;
    Ok(())
}

/// A deployment to a stopped environment makes it available again (and cancels a scheduled
/// deletion).
pub async fn make_available(db: &mut impl Db, id: EnvironmentId, now: Timestamp) -> Result<()> {
    db.execute(
        "UPDATE environments SET state = 'available', delete_at = NULL, updated_at = $2 \
         WHERE id = $1 AND (state <> 'available' OR delete_at IS NOT NULL)",
        args![id, now],
    )
    .await?;
    Ok(())
}

pub async fn delete(db: &mut impl Db, id: EnvironmentId) -> Result<()> {
    db.execute("DELETE FROM environments WHERE id = $1", args![id])
        .await?;
    Ok(())
}

/// Stopped review apps (first `/` segment exactly `review`) created before `before` and not
/// already scheduled, oldest first.
pub async fn stopped_review_apps(
    db: &mut impl Db,
    project: ProjectId,
    before: Timestamp,
    limit: i64,
) -> Result<Vec<Environment>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM environments WHERE project_id = $1 AND state = 'stopped' \
           AND substr(name, 1, 7) = 'review/' AND created_at < $2 AND delete_at IS NULL \
         ORDER BY created_at, id LIMIT $3"
    );
    db.fetch_all(&sql, args![project, before, limit]).await
}

/// Schedules environments for deletion at `at`.
pub async fn schedule_deletion(
    db: &mut impl Db,
    ids: &[EnvironmentId],
    at: Timestamp,
) -> Result<()> {
    for id in ids {
        db.execute(
            "UPDATE environments SET delete_at = $2 WHERE id = $1 AND delete_at IS NULL",
            args![*id, at],
        )
        .await?;
    }
    Ok(())
}

/// Deletes the environments whose scheduled time has come; answers how many.
pub async fn delete_scheduled(db: &mut impl Db, now: Timestamp) -> Result<u64> {
    db.execute(
        "DELETE FROM environments WHERE delete_at IS NOT NULL AND delete_at <= $1 \
           AND state = 'stopped'",
        args![now],
    )
    .await
}

/// The available environments not deployed to, nor changed, since `before`.
pub async fn stale(
    db: &mut impl Db,
    project: ProjectId,
    before: Timestamp,
) -> Result<Vec<EnvironmentId>> {
    let rows: Vec<(i64,)> = db
        .fetch_all(
            "SELECT id FROM environments WHERE project_id = $1 AND state = 'available' \
               AND updated_at < $2 \
               AND NOT EXISTS (SELECT 1 FROM deployments d WHERE d.project_id = environments.project_id \
                 AND d.environment = environments.name AND d.created_at >= $2) \
             ORDER BY id",
            args![project, before],
        )
        .await?;
    Ok(rows.into_iter().map(|(id,)| EnvironmentId(id)).collect())
}
