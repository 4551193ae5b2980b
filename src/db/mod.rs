//! The Store: SQLite or PostgreSQL, chosen by the URL's scheme. One query body serves both
//! (SQLite accepts PostgreSQL's `$1` placeholders); the few places where SQL differs branch on
//! `Store::is_postgres`. SQL lives only in this module tree.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
// Query text is always assembled from constants in this module tree, never from input.
use sqlx::{AssertSqlSafe, FromRow, Postgres, Sqlite, Transaction};

use crate::error::Result;

pub mod collaborators;
pub mod deployments;
pub mod duties;
pub mod environments;
pub mod folders;
pub mod health_checks;
pub mod heartbeats;
pub mod hooks;
pub mod metrics;
pub mod notifications;
pub mod outbox;
pub mod projects;
pub mod releases;
pub mod servers;
pub mod sessions;
pub mod settings;
pub mod users;

/// A value bound to a `$n` placeholder.
#[derive(Debug, Clone)]
pub enum Arg {
    Int(Option<i64>),
    Text(Option<String>),
    Bool(Option<bool>),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Arg {
        Arg::Int(Some(v))
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Arg {
        Arg::Int(v)
    }
}
impl From<bool> for Arg {
    fn from(v: bool) -> Arg {
        Arg::Bool(Some(v))
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Arg {
        Arg::Text(Some(v.to_owned()))
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Arg {
        Arg::Text(Some(v))
    }
}
impl From<&String> for Arg {
    fn from(v: &String) -> Arg {
        Arg::Text(Some(v.clone()))
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Arg {
        Arg::Text(v)
    }
}
impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Arg {
        Arg::Text(v.map(str::to_owned))
    }
}
impl From<crate::domain::time::Timestamp> for Arg {
    fn from(v: crate::domain::time::Timestamp) -> Arg {
        Arg::Int(Some(v.micros()))
    }
}

macro_rules! id_args {
    ($($id:ident),*) => {$(
        impl From<crate::domain::ids::$id> for Arg {
            fn from(v: crate::domain::ids::$id) -> Arg {
                Arg::Int(Some(v.0))
            }
        }
    )*};
}
id_args!(
    UserId,
    TokenId,
    ProjectId,
    ServerId,
    HookId,
    DeploymentId,
    HeartbeatId,
    NotificationId,
    EnvironmentId,
    ReleaseId
);

macro_rules! word_args {
    ($($word:ident),*) => {$(
        impl From<crate::domain::deployment::$word> for Arg {
            fn from(v: crate::domain::deployment::$word) -> Arg {
                Arg::Text(Some(v.as_str().to_owned()))
            }
        }
    )*};
}
word_args!(
    DeploymentStatus,
    DeploymentKind,
    RefKind,
    ProcessStatus,
    ReleaseState
);

/// `args![a, b]` builds the argument list of a query.
macro_rules! args {
    ($($value:expr),* $(,)?) => { vec![$($crate::db::Arg::from($value)),*] };
}
pub(crate) use args;

/// The database's clock as an SQL expression (microseconds since the Unix epoch). Leases and
/// schedules that several nodes share are decided by it, never by a node's own clock.
pub(crate) fn clock(db: &impl Db) -> &'static str {
    if db.is_postgres() {
        "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)"
    } else {
        "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)"
    }
}

/// A duration in the microseconds timestamps are stored in.
pub(crate) fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// What the database's clock says now.
pub async fn now(db: &mut impl Db) -> Result<crate::domain::time::Timestamp> {
    let sql = format!("SELECT {}", clock(db));
    let (micros,): (i64,) = db.fetch_one(&sql, Vec::new()).await?;
    Ok(crate::domain::time::Timestamp(micros))
}

/// A row type that decodes from both backends (derive `sqlx::FromRow`).
pub trait Record:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}
impl<T> Record for T where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

macro_rules! bind_all {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                Arg::Int(v) => query.bind(v),
                Arg::Text(v) => query.bind(v),
                Arg::Bool(v) => query.bind(v),
            };
        }
        query
    }};
}

#[doc(hidden)]
pub enum Exec<'a> {
    SqlitePool(&'a SqlitePool),
    PgPool(&'a PgPool),
    SqliteTx(&'a mut Transaction<'static, Sqlite>),
    PgTx(&'a mut Transaction<'static, Postgres>),
}

impl Exec<'_> {
    async fn fetch_all<T: Record>(self, sql: &str, args: Vec<Arg>) -> Result<Vec<T>> {
        match self {
            Exec::SqlitePool(p) => Ok(bind_all!(
                sqlx::query_as::<Sqlite, T>(AssertSqlSafe(sql)),
                args
            )
            .fetch_all(p)
            .await?),
            Exec::PgPool(p) => Ok(bind_all!(
                sqlx::query_as::<Postgres, T>(AssertSqlSafe(sql)),
                args
            )
            .fetch_all(p)
            .await?),
            Exec::SqliteTx(t) => Ok(bind_all!(
                sqlx::query_as::<Sqlite, T>(AssertSqlSafe(sql)),
                args
            )
            .fetch_all(&mut **t)
            .await?),
            Exec::PgTx(t) => Ok(
                bind_all!(sqlx::query_as::<Postgres, T>(AssertSqlSafe(sql)), args)
                    .fetch_all(&mut **t)
                    .await?,
            ),
        }
    }

    async fn fetch_optional<T: Record>(self, sql: &str, args: Vec<Arg>) -> Result<Option<T>> {
        match self {
            Exec::SqlitePool(p) => Ok(bind_all!(
                sqlx::query_as::<Sqlite, T>(AssertSqlSafe(sql)),
                args
            )
            .fetch_optional(p)
            .await?),
            Exec::PgPool(p) => Ok(bind_all!(
                sqlx::query_as::<Postgres, T>(AssertSqlSafe(sql)),
                args
            )
            .fetch_optional(p)
            .await?),
            Exec::SqliteTx(t) => Ok(bind_all!(
                sqlx::query_as::<Sqlite, T>(AssertSqlSafe(sql)),
                args
            )
            .fetch_optional(&mut **t)
            .await?),
            Exec::PgTx(t) => Ok(
                bind_all!(sqlx::query_as::<Postgres, T>(AssertSqlSafe(sql)), args)
                    .fetch_optional(&mut **t)
                    .await?,
            ),
        }
    }

    async fn execute(self, sql: &str, args: Vec<Arg>) -> Result<u64> {
        match self {
            Exec::SqlitePool(p) => Ok(bind_all!(sqlx::query::<Sqlite>(AssertSqlSafe(sql)), args)
                .execute(p)
                .await?
                .rows_affected()),
            Exec::PgPool(p) => Ok(bind_all!(sqlx::query::<Postgres>(AssertSqlSafe(sql)), args)
                .execute(p)
                .await?
                .rows_affected()),
            Exec::SqliteTx(t) => Ok(bind_all!(sqlx::query::<Sqlite>(AssertSqlSafe(sql)), args)
                .execute(&mut **t)
                .await?
                .rows_affected()),
            Exec::PgTx(t) => Ok(bind_all!(sqlx::query::<Postgres>(AssertSqlSafe(sql)), args)
                .execute(&mut **t)
                .await?
                .rows_affected()),
        }
    }
}

/// Where a query runs: the pool, or an open transaction. Store functions take `&mut impl Db`
/// so that a service can group several of them in one transaction.
pub trait Db: Send {
    #[doc(hidden)]
    fn exec(&mut self) -> Exec<'_>;
    fn is_postgres(&self) -> bool;

    fn fetch_all<T: Record>(
        &mut self,
        sql: &str,
        args: Vec<Arg>,
    ) -> impl Future<Output = Result<Vec<T>>> + Send {
        self.exec().fetch_all(sql, args)
    }

    fn fetch_optional<T: Record>(
        &mut self,
        sql: &str,
        args: Vec<Arg>,
    ) -> impl Future<Output = Result<Option<T>>> + Send {
        self.exec().fetch_optional(sql, args)
    }

    fn fetch_one<T: Record>(
        &mut self,
        sql: &str,
        args: Vec<Arg>,
    ) -> impl Future<Output = Result<T>> + Send {
        async move {
            self.exec()
                .fetch_optional(sql, args)
                .await?
                .ok_or_else(|| anyhow::anyhow!("query returned no row").into())
        }
    }

    fn execute(&mut self, sql: &str, args: Vec<Arg>) -> impl Future<Output = Result<u64>> + Send {
        self.exec().execute(sql, args)
    }
}

#[derive(Clone)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Db for &Store {
    fn exec(&mut self) -> Exec<'_> {
        match self {
            Store::Sqlite(p) => Exec::SqlitePool(p),
            Store::Postgres(p) => Exec::PgPool(p),
        }
    }
    fn is_postgres(&self) -> bool {
        matches!(self, Store::Postgres(_))
    }
}

pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Db for Tx {
    fn exec(&mut self) -> Exec<'_> {
        match self {
            Tx::Sqlite(t) => Exec::SqliteTx(t),
            Tx::Postgres(t) => Exec::PgTx(t),
        }
    }
    fn is_postgres(&self) -> bool {
        matches!(self, Tx::Postgres(_))
    }
}

impl Tx {
    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Store {
    /// Connects to `postgres://…` or `sqlite://…` (the SQLite file is created when missing).
    pub async fn connect(url: &str) -> anyhow::Result<Store> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url).context("parsing the PostgreSQL URL")?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .context("connecting to PostgreSQL")?;
            Ok(Store::Postgres(pool))
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .context("parsing the SQLite URL")?
                .create_if_missing(true)
                .foreign_keys(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .min_connections(1)
                .connect_with(options)
                .await
                .context("opening the SQLite database")?;
            Ok(Store::Sqlite(pool))
        } else {
            anyhow::bail!("the database URL must start with sqlite: or postgres://")
        }
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Store::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await,
            Store::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await,
        }
        .context("running database migrations")
    }

    pub async fn begin(&self) -> Result<Tx> {
        Ok(match self {
            Store::Sqlite(pool) => Tx::Sqlite(pool.begin().await?),
            Store::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    pub async fn close(&self) {
        match self {
            Store::Sqlite(pool) => pool.close().await,
            Store::Postgres(pool) => pool.close().await,
        }
    }
}

/// Reads a boolean that SQLite's JSON functions write as 0 or 1 and PostgreSQL's as
/// true or false.
pub(crate) fn flexible_bool<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<bool, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Flexible {
        Bool(bool),
        Int(i64),
    }
    Ok(
        match <Flexible as serde::Deserialize>::deserialize(deserializer)? {
            Flexible::Bool(value) => value,
            Flexible::Int(value) => value != 0,
        },
    )
}
