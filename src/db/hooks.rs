//! Deployment hooks and the servers each runs on.

use super::{Db, args};
use crate::domain::ids::{HookId, ProjectId, ServerId, UserId};
use crate::domain::time::Timestamp;
use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Hook {
    #[sqlx(try_from = "i64")]
    pub id: HookId,
    #[sqlx(try_from = "i64")]
    pub project_id: ProjectId,
    #[sqlx(try_from = "i64")]
    pub user_id: UserId,
    pub action_id: i64,
    pub timing: String,
    pub name: String,
    pub run_as: String,
    pub script: String,
    pub sequence: i64,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    #[sqlx(try_from = "i64")]
    pub updated_at: Timestamp,
}

/// A hook with the servers it runs on.
#[derive(Debug, Clone)]
pub struct HookView {
    pub hook: Hook,
    pub servers: Vec<ServerId>,
}

/// The project's hooks in running order, with their servers.
pub async fn list_with_servers(db: &mut impl Db, project: ProjectId) -> Result<Vec<HookView>> {
    let hooks = list(db, project).await?;
    let links = server_links(db, project).await?;
    Ok(hooks
        .into_iter()
        .map(|hook| {
            let servers = links
                .iter()
                .filter(|(h, _)| *h == hook.id)
                .map(|(_, s)| *s)
                .collect();
            HookView { hook, servers }
        })
        .collect())
}

#[derive(Debug, Clone)]
pub struct HookFields {
    pub action_id: i64,
    pub timing: String,
    pub name: String,
    pub run_as: String,
    pub script: String,
}

const COLUMNS: &str = "id, project_id, user_id, action_id, timing, name, run_as, script, \
    sequence, created_at, updated_at";

/// A project's hooks in the order they run: by action, before ahead of after, then sequence.
pub async fn list(db: &mut impl Db, project: ProjectId) -> Result<Vec<Hook>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM hooks WHERE project_id = $1 \
         ORDER BY action_id, CASE timing WHEN 'before' THEN 0 ELSE 1 END, sequence, id"
    );
    db.fetch_all(&sql, args![project]).await
}

pub async fn get(db: &mut impl Db, project: ProjectId, id: HookId) -> Result<Option<Hook>> {
    let sql = format!("SELECT {COLUMNS} FROM hooks WHERE project_id = $1 AND id = $2");
    db.fetch_optional(&sql, args![project, id]).await
}

/// `(hook, server)` pairs for every hook of the project.
pub async fn server_links(db: &mut impl Db, project: ProjectId) -> Result<Vec<(HookId, ServerId)>> {
    let rows: Vec<(i64, i64)> = db
        .fetch_all(
            "SELECT hs.hook_id, hs.server_id FROM hook_servers hs \
             JOIN hooks h ON h.id = hs.hook_id WHERE h.project_id = $1 \
             ORDER BY hs.hook_id, hs.server_id",
            args![project],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|(h, s)| (HookId(h), ServerId(s)))
        .collect())
}

pub async fn insert(
    db: &mut impl Db,
    project: ProjectId,
    owner: UserId,
    fields: &HookFields,
    now: Timestamp,
) -> Result<HookId> {
    let (id,): (i64,) = db
        .fetch_one(
            "INSERT INTO hooks (project_id, user_id, action_id, timing, name, run_as, script, \
               sequence, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, \
               (SELECT COALESCE(MAX(sequence), 0) + 1 FROM hooks \
                 WHERE project_id = $1 AND action_id = $3 AND timing = $4), $8, $8) \
             RETURNING id",
            args![
                project,
                owner,
                fields.action_id,
                &fields.timing,
                &fields.name,
                &fields.run_as,
                &fields.script,
                now
            ],
        )
        .await?;
    Ok(HookId(id))
}

/// Updates a hook; moving it to another action or timing puts it last there.
pub async fn update(
    db: &mut impl Db,
    hook: &Hook,
    fields: &HookFields,
    now: Timestamp,
) -> Result<()> {
    let moved = hook.action_id != fields.action_id || hook.timing != fields.timing;
    db.execute(
        "UPDATE hooks SET action_id = $2, timing = $3, name = $4, run_as = $5, script = $6, \
           sequence = CASE WHEN $7 THEN (SELECT COALESCE(MAX(h.sequence), 0) + 1 FROM hooks h \
             WHERE h.project_id = $8 AND h.action_id = $2 AND h.timing = $3) ELSE sequence END, \
           updated_at = $9 \
         WHERE id = $1",
        args![
            hook.id,
            fields.action_id,
            &fields.timing,
            &fields.name,
            &fields.run_as,
            &fields.script,
            moved,
            hook.project_id,
            now
        ],
    )
    .await?;
    Ok(())
}

pub async fn set_servers(db: &mut impl Db, hook: HookId, servers: &[ServerId]) -> Result<()> {
    db.execute("DELETE FROM hook_servers WHERE hook_id = $1", args![hook])
        .await?;
    for server in servers {
        db.execute(
            "INSERT INTO hook_servers (hook_id, server_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            args![hook, *server],
        )
        .await?;
    }
    Ok(())
}

pub async fn delete(db: &mut impl Db, id: HookId) -> Result<()> {
    db.execute("DELETE FROM hooks WHERE id = $1", args![id])
        .await?;
    Ok(())
}
