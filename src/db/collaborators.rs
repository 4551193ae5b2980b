//! Collaborators: other users invited to a project, and whether they accepted.

use super::{Db, args};
use crate::domain::ids::{ProjectId, UserId};
use crate::domain::time::Timestamp;
use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Collaborator {
    #[sqlx(try_from = "i64")]
    pub user_id: UserId,
    pub name: String,
    pub email: String,
    #[sqlx(try_from = "i64")]
    pub project_id: ProjectId,
    pub status: String,
}

const SELECT: &str = "SELECT u.id AS user_id, u.name, u.email, c.project_id, c.status \
    FROM collaborators c JOIN users u ON u.id = c.user_id";

pub async fn list(db: &mut impl Db, project: ProjectId) -> Result<Vec<Collaborator>> {
    let sql = format!("{SELECT} WHERE c.project_id = $1 ORDER BY c.created_at, u.id");
    db.fetch_all(&sql, args![project]).await
}

pub async fn get(
    db: &mut impl Db,
    project: ProjectId,
    user: UserId,
) -> Result<Option<Collaborator>> {
    let sql = format!("{SELECT} WHERE c.project_id = $1 AND c.user_id = $2");
    db.fetch_optional(&sql, args![project, user]).await
}

/// Invites a user; inviting again leaves the existing invitation as it is.
pub async fn invite(
    db: &mut impl Db,
    project: ProjectId,
    user: UserId,
    now: Timestamp,
) -> Result<()> {
    db.execute(
        "INSERT INTO collaborators (project_id, user_id, status, created_at, updated_at) \
         VALUES ($1, $2, 'invited', $3, $3) ON CONFLICT (project_id, user_id) DO NOTHING",
        args![project, user, now],
    )
    .await?;
    Ok(())
}

pub async fn accept(
    db: &mut impl Db,
    project: ProjectId,
    user: UserId,
    now: Timestamp,
) -> Result<()> {
    db.execute(
        "UPDATE collaborators SET status = 'accepted', updated_at = $3 \
         WHERE project_id = $1 AND user_id = $2",
        args![project, user, now],
    )
    .await?;
    Ok(())
}

/// Removes a collaborator; `false` when the user was not one.
pub async fn remove(db: &mut impl Db, project: ProjectId, user: UserId) -> Result<bool> {
    let removed = db
        .execute(
            "DELETE FROM collaborators WHERE project_id = $1 AND user_id = $2",
            args![project, user],
        )
        .await?;
    Ok(removed == 1)
}
