//! The latest health check of each project's monitor from each region, and the project's
//! failing flag that transitions are decided on.

use super::{Db, args};
use crate::domain::ids::ProjectId;
use crate::domain::time::Timestamp;
use crate::error::Result;

#[derive(Debug, Clone, serde::Deserialize, sqlx::FromRow)]
pub struct HealthCheck {
    pub region: String,
    pub status: String,
    pub http_status: Option<i64>,
    pub response_ms: Option<i64>,
    pub error: Option<String>,
    pub checked_at: i64,
}

/// The columns the project query aggregates, in this struct's field order.
pub(super) const FIELDS: &[&str] = &[
    "region",
    "status",
    "http_status",
    "response_ms",
    "error",
    "checked_at",
];

/// The projects that have a monitor URL.
pub async fn monitored(db: &mut impl Db) -> Result<Vec<(ProjectId, String)>> {
    let rows: Vec<(i64, String)> = db
        .fetch_all(
            "SELECT id, monitor FROM projects WHERE monitor IS NOT NULL AND monitor <> '' \
             ORDER BY id",
            args![],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, url)| (ProjectId(id), url))
        .collect())
}

/// The monitor URL of one project.
pub async fn monitor(db: &mut impl Db, project: ProjectId) -> Result<Option<String>> {
    let row: Option<(Option<String>,)> = db
        .fetch_optional("SELECT monitor FROM projects WHERE id = $1", args![project])
        .await?;
    Ok(row.and_then(|(url,)| url).filter(|url| !url.is_empty()))
}

/// Replaces this region's latest result, unless the project's monitor is no longer `url`
/// (changed while the check ran); answers whether it was recorded.
pub async fn record(
    db: &mut impl Db,
    project: ProjectId,
    url: &str,
    check: &HealthCheck,
) -> Result<bool> {
    let recorded = db
        .execute(
            "INSERT INTO health_checks (project_id, region, status, http_status, response_ms, \
               error, checked_at) \
             SELECT id, $2, $3, $4, $5, $6, $7 FROM projects WHERE id = $1 AND monitor = $8 \
             ON CONFLICT (project_id, region) DO UPDATE SET status = excluded.status, \
               http_status = excluded.http_status, response_ms = excluded.response_ms, \
               error = excluded.error, checked_at = excluded.checked_at",
            args![
                project,
                &check.region,
                &check.status,
                check.http_status,
                check.response_ms,
                check.error.as_deref(),
                Timestamp(check.checked_at),
                url
            ],
        )
        .await?;
    Ok(recorded == 1)
}

/// Sets whether the project's monitor is failing (any region's latest check failed);
/// answers the new state when it changed, `None` when it already was so.
pub async fn update_failing(db: &mut impl Db, project: ProjectId) -> Result<Option<bool>> {
    let row: Option<(bool,)> = db
        .fetch_optional(
            "UPDATE projects SET monitor_failing = NOT monitor_failing \
             WHERE id = $1 AND monitor_failing <> EXISTS (SELECT 1 FROM health_checks h \
               WHERE h.project_id = $1 AND h.status = 'failing') \
             RETURNING monitor_failing",
            args![project],
        )
        .await?;
    Ok(row.map(|(failing,)| failing))
}

/// Forgets a project's results checked before `before`.
pub async fn forget_older(db: &mut impl Db, project: ProjectId, before: Timestamp) -> Result<()> {
    db.execute(
        "DELETE FROM health_checks WHERE project_id = $1 AND checked_at < $2",
        args![project, before],
    )
    .await?;
    Ok(())
}

/// Forgets a project's results, as when its monitor URL changes.
pub async fn clear(db: &mut impl Db, project: ProjectId) -> Result<()> {
    db.execute(
        "DELETE FROM health_checks WHERE project_id = $1",
        args![project],
    )
    .await?;
    db.execute(
        "UPDATE projects SET monitor_failing = FALSE WHERE id = $1",
        args![project],
    )
    .await?;
    Ok(())
}
