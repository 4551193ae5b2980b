//! Dashboard sessions, kept by the SHA-256 of their cookie.

use super::{Db, args};
use crate::domain::ids::{TokenId, UserId};
use crate::domain::time::Timestamp;
use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Session {
    #[sqlx(try_from = "i64")]
    pub user_id: UserId,
    pub token_id: Option<i64>,
    pub scopes: String,
    #[sqlx(try_from = "i64")]
    pub last_seen_at: Timestamp,
}

pub async fn insert(
    db: &mut impl Db,
    id_hash: &str,
    user: UserId,
    token: Option<TokenId>,
    scopes: &str,
    now: Timestamp,
) -> Result<()> {
    db.execute(
        "INSERT INTO web_sessions (id_hash, user_id, token_id, scopes, created_at, last_seen_at) \
         VALUES ($1, $2, $3, $4, $5, $5)",
        args![id_hash, user, token.map(|t| t.0), scopes, now],
    )
    .await?;
    Ok(())
}

/// The session, if it was seen after `idle_since`.
pub async fn find(
    db: &mut impl Db,
    id_hash: &str,
    idle_since: Timestamp,
) -> Result<Option<Session>> {
    db.fetch_optional(
        "SELECT user_id, token_id, scopes, last_seen_at FROM web_sessions \
         WHERE id_hash = $1 AND last_seen_at > $2",
        args![id_hash, idle_since],
    )
    .await
}

pub async fn touch(db: &mut impl Db, id_hash: &str, now: Timestamp) -> Result<()> {
    db.execute(
        "UPDATE web_sessions SET last_seen_at = $2 WHERE id_hash = $1",
        args![id_hash, now],
    )
    .await?;
    Ok(())
}

pub async fn delete(db: &mut impl Db, id_hash: &str) -> Result<()> {
    db.execute(
        "DELETE FROM web_sessions WHERE id_hash = $1",
        args![id_hash],
    )
    .await?;
    Ok(())
}

/// Forgets sessions idle since before `idle_since`.
pub async fn delete_idle(db: &mut impl Db, idle_since: Timestamp) -> Result<u64> {
    db.execute(
        "DELETE FROM web_sessions WHERE last_seen_at <= $1",
        args![idle_since],
    )
    .await
}

pub async fn delete_for_user(db: &mut impl Db, user: UserId) -> Result<()> {
    db.execute("DELETE FROM web_sessions WHERE user_id = $1", args![user])
        .await?;
    Ok(())
}
