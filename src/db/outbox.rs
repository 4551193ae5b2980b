//! The outbox: one row per message and channel, stored before anything is sent, so that a
//! restart loses none. Rows are leased while a node delivers them.

use std::time::Duration;

use super::{Db, args, clock, micros};
use crate::domain::ids::{NotificationId, ProjectId};
use crate::domain::time::Timestamp;
use crate::error::Result;

/// A message due for delivery, with its channel.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Due {
    pub id: i64,
    #[sqlx(try_from = "i64")]
    pub notification_id: NotificationId,
    pub message: String,
    pub attempts: i64,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    pub notification_type: String,
    pub address_sealed: String,
    pub active: bool,
}

/// Stores `message` for each active channel of the project; answers how many. The outbox keeps
/// the database's time: every node schedules and leases its messages by that one clock.
pub async fn enqueue(
    db: &mut impl Db,
    project: ProjectId,
    event: &str,
    message: &str,
) -> Result<u64> {
    let sql = format!(
        "INSERT INTO outbox (notification_id, event, message, status, next_attempt_at, \
           created_at, updated_at) \
         SELECT id, $2, $3, 'pending', {now}, {now}, {now} FROM notifications \
         WHERE project_id = $1 AND active",
        now = clock(db)
    );
    db.execute(&sql, args![project, event, message]).await
}

/// Leases the oldest message that is due and not leased by a live node, for `lease`.
pub async fn claim_next(db: &mut impl Db, node: &str, lease: Duration) -> Result<Option<Due>> {
    let lock = if db.is_postgres() {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let now = clock(db);
    let free = format!("(lease_expires_at IS NULL OR lease_expires_at < {now})");
    let sql = format!(
        "UPDATE outbox SET lease_owner = $1, lease_expires_at = {now} + $2 \
         WHERE id = (SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= {now} \
             AND {free} ORDER BY next_attempt_at, id LIMIT 1{lock}) \
           AND status = 'pending' AND {free} \
         RETURNING id"
    );
    let Some((id,)): Option<(i64,)> = db.fetch_optional(&sql, args![node, micros(lease)]).await?
    else {
        return Ok(None);
    };
    db.fetch_optional(
        "SELECT o.id, o.notification_id, o.message, o.attempts, o.created_at, \
           n.notification_type, n.address_sealed, n.active \
         FROM outbox o JOIN notifications n ON n.id = o.notification_id WHERE o.id = $1",
        args![id],
    )
    .await
}

/// How long until the next message may be claimed, if any is waiting: until it falls due, or
/// until the lease of the node delivering it runs out.
pub async fn next_due(db: &mut impl Db) -> Result<Option<Duration>> {
    let sql = format!(
        "SELECT MIN(CASE WHEN lease_expires_at >= {now} THEN lease_expires_at \
           ELSE next_attempt_at END) - {now} FROM outbox WHERE status = 'pending'",
        now = clock(db)
    );
    let (wait,): (Option<i64>,) = db.fetch_one(&sql, Vec::new()).await?;
    Ok(wait.map(|micros| Duration::from_micros(micros.max(0) as u64)))
}

/// Records a successful delivery (by the node holding the lease); the channel's last error is
/// cleared.
pub async fn delivered(db: &mut impl Db, due: &Due, node: &str, now: Timestamp) -> Result<()> {
    db.execute(
        "UPDATE outbox SET status = 'delivered', attempts = attempts + 1, lease_owner = NULL, \
           lease_expires_at = NULL, updated_at = $2 WHERE id = $1 AND lease_owner = $3",
        args![due.id, now, node],
    )
    .await?;
    db.execute(
        "UPDATE notifications SET last_error = NULL, last_error_at = NULL WHERE id = $1",
        args![due.notification_id],
    )
    .await?;
    Ok(())
}

/// Records a failed attempt: retried at `retry_at`, or given up on when that is `None`. The
/// channel shows the error.
pub async fn failed(
    db: &mut impl Db,
    due: &Due,
    node: &str,
    error: &str,
    retry_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<()> {
    let (status, next) = match retry_at {
        Some(at) => ("pending", at),
        None => ("failed", now),
    };
    db.execute(
        "UPDATE outbox SET status = $2, attempts = attempts + 1, next_attempt_at = $3, \
           last_error = $4, lease_owner = NULL, lease_expires_at = NULL, updated_at = $5 \
         WHERE id = $1 AND lease_owner = $6",
        args![due.id, status, next, error, now, node],
    )
    .await?;
    db.execute(
        "UPDATE notifications SET last_error = $2, last_error_at = $3 WHERE id = $1",
        args![due.notification_id, error, now],
    )
    .await?;
    Ok(())
}

/// A message for a channel switched off after it was stored is not sent.
pub async fn skipped(db: &mut impl Db, due: &Due, now: Timestamp) -> Result<()> {
    db.execute(
        "UPDATE outbox SET status = 'skipped', lease_owner = NULL, lease_expires_at = NULL, \
           updated_at = $2 WHERE id = $1",
        args![due.id, now],
    )
    .await?;
    Ok(())
}

/// After a restart, this node's leases belong to deliveries that no longer run.
pub async fn release_leases(db: &mut impl Db, node: &str) -> Result<()> {
    db.execute(
        "UPDATE outbox SET lease_owner = NULL, lease_expires_at = NULL \
         WHERE lease_owner = $1 AND status = 'pending'",
        args![node],
    )
    .await?;
    Ok(())
}

/// Forgets delivered, failed and skipped messages last touched longer than `kept` ago.
pub async fn purge(db: &mut impl Db, kept: Duration) -> Result<u64> {
    let sql = format!(
        "DELETE FROM outbox WHERE status <> 'pending' AND updated_at < {} - $1",
        clock(db)
    );
    db.execute(&sql, args![micros(kept)]).await
}
