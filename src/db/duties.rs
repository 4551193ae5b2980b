//! Duties: periodic work shared by the nodes on one database, done by one of them per period.

use std::time::Duration;

use super::{Db, args, clock, micros};
use crate::error::Result;

/// Takes the duty `name` for this period if it has come due by the database's clock: `true`
/// for the one node that takes it, which makes it due again `period` later. Nodes that ask
/// meanwhile get `false`.
pub async fn take(db: &mut impl Db, name: &str, node: &str, period: Duration) -> Result<bool> {
    let sql = format!(
        "INSERT INTO duties (name, due_at, node) VALUES ($1, {now} + $3, $2) \
         ON CONFLICT (name) DO UPDATE SET due_at = excluded.due_at, node = excluded.node \
         WHERE duties.due_at <= {now}",
        now = clock(db)
    );
    let taken = db.execute(&sql, args![name, node, micros(period)]).await?;
    Ok(taken == 1)
}
