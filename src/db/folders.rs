//! Linked folders: `release/{from}` is a link to `{deployment_path}/{to}`.

use super::{Db, args};
use crate::domain::ids::ProjectId;
use crate::error::Result;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Deserialize)]
pub struct LinkedFolder {
    #[serde(rename = "from")]
    pub from_path: String,
    #[serde(rename = "to")]
    pub to_path: String,
}

pub async fn list(db: &mut impl Db, project: ProjectId) -> Result<Vec<LinkedFolder>> {
    db.fetch_all(
        "SELECT from_path, to_path FROM linked_folders WHERE project_id = $1 ORDER BY id",
        args![project],
    )
    .await
}

/// Adds a folder; `false` when the project already links something at `from`.
pub async fn insert(db: &mut impl Db, project: ProjectId, folder: &LinkedFolder) -> Result<bool> {
    let added = db
        .execute(
            "INSERT INTO linked_folders (project_id, from_path, to_path) VALUES ($1, $2, $3) \
             ON CONFLICT (project_id, from_path) DO NOTHING",
            args![project, &folder.from_path, &folder.to_path],
        )
        .await?;
    Ok(added == 1)
}

/// Removes a folder; `false` when there was no such folder.
pub async fn delete(db: &mut impl Db, project: ProjectId, folder: &LinkedFolder) -> Result<bool> {
    let removed = db
        .execute(
            "DELETE FROM linked_folders WHERE project_id = $1 AND from_path = $2 AND to_path = $3",
            args![project, &folder.from_path, &folder.to_path],
        )
        .await?;
    Ok(removed == 1)
}
