//! Duties: periodic work shared by the nodes on one database, done by one of them per period.

use std::time::Duration;

use super::{Db, args, clock, micros};
use crate::error::Result;

/// Takes the duty `name` for this period if it has come due by the database's clock: `true`
/// for the one node that takes it, which makes it due again one `period` after it was due (or
/// after now, when it was missed by more than that), so that asking late adds no drift. Nodes
/// that ask meanwhile get `false`.
pub async fn take(db: &mut impl Db, name: &str, node: &str, period: Duration) -> Result<bool> {
    let sql = format!(
        "INSERT INTO duties (name, due_at, node) VALUES ($1, {now} + $3, $2) \
         ON CONFLICT (name) DO UPDATE SET node = excluded.node, due_at = CASE \
           WHEN duties.due_at + $3 > {now} THEN duties.due_at + $3 ELSE {now} + $3 END \
         WHERE duties.due_at <= {now}",
        now = clock(db)
    );
    let taken = db.execute(&sql, args![name, node, micros(period)]).await?;
    Ok(taken == 1)
}
