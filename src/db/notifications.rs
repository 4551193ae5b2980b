//! Notification channels of a project. The address (an e-mail address or a web hook URL that
//! works as a credential) is sealed with the master key.

use super::{Db, args};
use crate::domain::ids::{NotificationId, ProjectId};
use crate::domain::time::Timestamp;
use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Notification {
    #[sqlx(try_from = "i64")]
    pub id: NotificationId,
    #[sqlx(try_from = "i64")]
    pub project_id: ProjectId,
    pub name: String,
    pub notification_type: String,
    pub address_sealed: String,
    pub active: bool,
    /// Why the latest delivery failed; cleared by the next successful one.
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    #[sqlx(try_from = "i64")]
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NotificationFields {
    pub name: String,
    pub notification_type: String,
    pub address_sealed: String,
    pub active: bool,
}

const COLUMNS: &str = "id, project_id, name, notification_type, address_sealed, active, \
    last_error, last_error_at, created_at, updated_at";

pub async fn list(db: &mut impl Db, project: ProjectId) -> Result<Vec<Notification>> {
    let sql = format!("SELECT {COLUMNS} FROM notifications WHERE project_id = $1 ORDER BY id");
    db.fetch_all(&sql, args![project]).await
}

pub async fn get(
    db: &mut impl Db,
    project: ProjectId,
    id: NotificationId,
) -> Result<Option<Notification>> {
    let sql = format!("SELECT {COLUMNS} FROM notifications WHERE project_id = $1 AND id = $2");
    db.fetch_optional(&sql, args![project, id]).await
}

pub async fn insert(
    db: &mut impl Db,
    project: ProjectId,
    fields: &NotificationFields,
    now: Timestamp,
) -> Result<NotificationId> {
    let (id,): (i64,) = db
        .fetch_one(
            "INSERT INTO notifications (project_id, name, notification_type, address_sealed, \
               active, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
            args![
                project,
                &fields.name,
                &fields.notification_type,
                &fields.address_sealed,
                fields.active,
                now
            ],
        )
        .await?;
    Ok(NotificationId(id))
}

pub async fn update(
    db: &mut impl Db,
    id: NotificationId,
    fields: &NotificationFields,
    now: Timestamp,
) -> Result<()> {
    db.execute(
        "UPDATE notifications SET name = $2, notification_type = $3, address_sealed = $4, \
           active = $5, updated_at = $6 WHERE id = $1",
        args![
            id,
            &fields.name,
            &fields.notification_type,
            &fields.address_sealed,
            fields.active,
            now
        ],
    )
    .await?;
    Ok(())
}

pub async fn delete(db: &mut impl Db, id: NotificationId) -> Result<()> {
    db.execute("DELETE FROM notifications WHERE id = $1", args![id])
        .await?;
    Ok(())
}
