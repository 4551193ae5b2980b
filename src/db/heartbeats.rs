//! Heartbeats: scheduled jobs that check in by URL.

use super::{Db, args};
use crate::domain::ids::{HeartbeatId, ProjectId};
use crate::domain::time::Timestamp;
use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Heartbeat {
    #[sqlx(try_from = "i64")]
    pub id: HeartbeatId,
    #[sqlx(try_from = "i64")]
    pub project_id: ProjectId,
    pub name: String,
    pub token_sealed: String,
    pub interval_minutes: i64,
    pub status: String,
    pub last_checked_in_at: Option<i64>,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    #[sqlx(try_from = "i64")]
    pub updated_at: Timestamp,
}

const COLUMNS: &str = "id, project_id, name, token_sealed, interval_minutes, status, \
    last_checked_in_at, created_at, updated_at";

pub async fn list(db: &mut impl Db, project: ProjectId) -> Result<Vec<Heartbeat>> {
    let sql = format!("SELECT {COLUMNS} FROM heartbeats WHERE project_id = $1 ORDER BY id");
    db.fetch_all(&sql, args![project]).await
}

pub async fn get(
    db: &mut impl Db,
    project: ProjectId,
    id: HeartbeatId,
) -> Result<Option<Heartbeat>> {
    let sql = format!("SELECT {COLUMNS} FROM heartbeats WHERE project_id = $1 AND id = $2");
    db.fetch_optional(&sql, args![project, id]).await
}

/// A new heartbeat counts as checked in when it is created: its first interval starts then.
pub async fn insert(
    db: &mut impl Db,
    project: ProjectId,
    name: &str,
    interval_minutes: i64,
    token_sealed: &str,
    token_hash: &str,
    now: Timestamp,
) -> Result<HeartbeatId> {
    let (id,): (i64,) = db
        .fetch_one(
            "INSERT INTO heartbeats (project_id, name, token_sealed, token_hash, \
               interval_minutes, status, last_checked_in_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'healthy', $6, $6, $6) RETURNING id",
            args![
                project,
                name,
                token_sealed,
                token_hash,
                interval_minutes,
                now
            ],
        )
        .await?;
    Ok(HeartbeatId(id))
}

pub async fn delete(db: &mut impl Db, id: HeartbeatId) -> Result<()> {
    db.execute("DELETE FROM heartbeats WHERE id = $1", args![id])
        .await?;
    Ok(())
}

/// The heartbeat a check-in token belongs to.
pub async fn id_by_token(db: &mut impl Db, token_hash: &str) -> Result<Option<HeartbeatId>> {
    let row: Option<(i64,)> = db
        .fetch_optional(
            "SELECT id FROM heartbeats WHERE token_hash = $1",
            args![token_hash],
        )
        .await?;
    Ok(row.map(|(id,)| HeartbeatId(id)))
}

/// A heartbeat whose status just changed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Transition {
    #[sqlx(try_from = "i64")]
    pub id: HeartbeatId,
    #[sqlx(try_from = "i64")]
    pub project_id: ProjectId,
    pub name: String,
}

/// Check-ins gathered since the last flush: per heartbeat, the latest time and how many.
pub struct CheckIn {
    pub id: HeartbeatId,
    pub at: Timestamp,
    pub count: i64,
}

/// Records a batch of check-ins; answers the heartbeats that were missing and are healthy
/// again.
pub async fn record_check_ins(db: &mut impl Db, check_ins: &[CheckIn]) -> Result<Vec<Transition>> {
    let mut recovered = Vec::new();
    for chunk in check_ins.chunks(500) {
        let placeholders = (1..=chunk.len())
            .map(|n| format!("${n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "UPDATE heartbeats SET status = 'healthy' \
             WHERE status = 'missing' AND id IN ({placeholders}) \
             RETURNING id, project_id, name"
        );
        let ids = chunk.iter().map(|c| super::Arg::from(c.id)).collect();
        recovered.extend(db.fetch_all::<Transition>(&sql, ids).await?);
    }
    for check_in in check_ins {
        db.execute(
            "UPDATE heartbeats SET last_checked_in_at = $2, check_ins = check_ins + $3, \
               updated_at = $2 WHERE id = $1",
            args![check_in.id, check_in.at, check_in.count],
        )
        .await?;
    }
    Ok(recovered)
}

/// Marks missing the healthy heartbeats whose interval passed without a check-in; answers
/// the ones that changed.
pub async fn mark_missing(
    db: &mut impl Db,
    now: Timestamp,
    grace_seconds: i64,
) -> Result<Vec<Transition>> {
    db.fetch_all(
        "UPDATE heartbeats SET status = 'missing', updated_at = $1 \
         WHERE status = 'healthy' \
           AND COALESCE(last_checked_in_at, created_at) + interval_minutes * 60000000 < $2 \
         RETURNING id, project_id, name",
        args![now, now.minus_seconds(grace_seconds)],
    )
    .await
}
