//! Users and their API tokens.

use super::{Db, args};
use crate::domain::ids::{TokenId, UserId};
use crate::domain::time::Timestamp;
use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    #[sqlx(try_from = "i64")]
    pub id: UserId,
    pub name: String,
    pub email: String,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
}

const USER_COLUMNS: &str = "id, name, email, created_at";

pub async fn find_by_email(db: &mut impl Db, email: &str) -> Result<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE LOWER(email) = LOWER($1)");
    db.fetch_optional(&sql, args![email]).await
}

pub async fn get(db: &mut impl Db, id: UserId) -> Result<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    db.fetch_optional(&sql, args![id]).await
}

pub async fn insert(db: &mut impl Db, name: &str, email: &str, now: Timestamp) -> Result<User> {
    let sql = format!(
        "INSERT INTO users (name, email, created_at, updated_at) VALUES ($1, $2, $3, $3) \
         RETURNING {USER_COLUMNS}"
    );
    db.fetch_one(&sql, args![name, email, now]).await
}

pub async fn count(db: &mut impl Db) -> Result<i64> {
    let (count,): (i64,) = db.fetch_one("SELECT COUNT(*) FROM users", args![]).await?;
    Ok(count)
}

/// The owner and scopes of a token, found by the token's hash.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenGrant {
    #[sqlx(try_from = "i64")]
    pub token_id: TokenId,
    #[sqlx(try_from = "i64")]
    pub user_id: UserId,
    pub scopes: String,
}

pub async fn insert_token(
    db: &mut impl Db,
    user_id: UserId,
    name: &str,
    token_hash: &str,
    scopes: &str,
    now: Timestamp,
) -> Result<TokenId> {
    let (id,): (i64,) = db
        .fetch_one(
            "INSERT INTO api_tokens (user_id, name, token_hash, scopes, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            args![user_id, name, token_hash, scopes, now],
        )
        .await?;
    Ok(TokenId(id))
}

pub async fn find_token(db: &mut impl Db, token_hash: &str) -> Result<Option<TokenGrant>> {
    db.fetch_optional(
        "SELECT id AS token_id, user_id, scopes FROM api_tokens WHERE token_hash = $1",
        args![token_hash],
    )
    .await
}

/// The Argon2id hash of a user's password (PHC string), if one was set.
pub async fn password_hash(db: &mut impl Db, id: UserId) -> Result<Option<String>> {
    let row: Option<(Option<String>,)> = db
        .fetch_optional("SELECT password_hash FROM users WHERE id = $1", args![id])
        .await?;
    Ok(row.and_then(|(hash,)| hash))
}

pub async fn set_password_hash(
    db: &mut impl Db,
    id: UserId,
    hash: &str,
    now: Timestamp,
) -> Result<()> {
    db.execute(
        "UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1",
        args![id, hash, now],
    )
    .await?;
    Ok(())
}
