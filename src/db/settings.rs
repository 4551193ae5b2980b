//! Settings of the installation as a whole, shared by every node.

use super::{Db, args};
use crate::error::Result;

/// Stores `value` under `name` unless a value is there already; answers the stored value.
pub async fn get_or_insert(db: &mut impl Db, name: &str, value: &str) -> Result<String> {
    db.execute(
        "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        args![name, value],
    )
    .await?;
    let (stored,): (String,) = db
        .fetch_one("SELECT value FROM settings WHERE name = $1", args![name])
        .await?;
    Ok(stored)
}
