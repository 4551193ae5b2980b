//! The numbers every node shares, read when metrics are scraped.

use super::{Db, args};
use crate::error::Result;

/// Deployments waiting to start, and notifications not yet delivered.
pub async fn totals(db: &mut impl Db) -> Result<(i64, i64)> {
    db.fetch_one(
        "SELECT (SELECT COUNT(*) FROM deployments WHERE status = 'pending'), \
                (SELECT COUNT(*) FROM outbox WHERE status = 'pending')",
        args![],
    )
    .await
}
