//! Fresh SQL databases per test, on each backend: a temp SQLite file, deleted
//! afterwards, or a PostgreSQL database created for the test and dropped after
//! it even when the test panics. Either as a migrated repository or as the URL
//! of an empty database.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use aigw_repository::{SqlOptions, SqlRepository};
use futures_util::FutureExt;

use crate::cases::Fixture;
use crate::postgres::PgDatabase;

/// The name prefix of the PostgreSQL databases these fixtures create.
const DATABASE_PREFIX: &str = "aigw_test";

/// Options for tests: small pools (many tests run at once against one
/// server) and a generous acquire timeout (the machine is busy).
pub fn sql_options() -> SqlOptions {
    SqlOptions {
        max_connections: 8,
        sqlite_readers: 2,
        acquire_timeout: Duration::from_secs(30),
        ..SqlOptions::default()
    }
}

/// A fresh migrated SQLite file, opened with these options and deleted after
/// the test: runs `async fn(repo: SqlRepository)`.
#[derive(Debug, Clone)]
pub struct Sqlite(pub SqlOptions);

/// A fresh migrated PostgreSQL database, opened with these options and dropped
/// after the test: runs `async fn(repo: SqlRepository)`. Skips or fails (see
/// [`unreachable`](crate::unreachable)) when PostgreSQL does not answer.
#[derive(Debug, Clone)]
pub struct Postgres(pub SqlOptions);

/// The URL of a fresh, empty (not migrated) SQLite file, deleted after the
/// test: runs `async fn(url: String)`, for tests that open several
/// repositories on one database.
#[derive(Debug, Clone, Copy)]
pub struct SqliteUrl;

/// The URL of a fresh, empty (not migrated) PostgreSQL database, dropped after
/// the test like [`Postgres`]: runs `async fn(url: String)`.
#[derive(Debug, Clone, Copy)]
pub struct PostgresUrl;

async fn migrated(url: &str, options: SqlOptions) -> SqlRepository {
    let repo = SqlRepository::connect_with(url, options)
        .await
        .expect("open the test database");
    repo.migrate().await.expect("migrate the test database");
    repo
}

impl<F, Fut> Fixture<F> for SqliteUrl
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    async fn run(self, test: F) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        test(url).await;
        drop(dir);
    }
}

impl<F, Fut> Fixture<F> for Sqlite
where
    F: FnOnce(SqlRepository) -> Fut,
    Fut: Future<Output = ()>,
{
    async fn run(self, test: F) {
        SqliteUrl
            .run(async move |url: String| test(migrated(&url, self.0).await).await)
            .await;
    }
}

impl<F, Fut> Fixture<F> for PostgresUrl
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    async fn run(self, test: F) {
        with_postgres_database(async move |db: Arc<PgDatabase>| test(db.url()).await).await;
    }
}

impl<F, Fut> Fixture<F> for Postgres
where
    F: FnOnce(SqlRepository) -> Fut,
    Fut: Future<Output = ()>,
{
    async fn run(self, test: F) {
        PostgresUrl
            .run(async move |url: String| test(migrated(&url, self.0).await).await)
            .await;
    }
}

/// Runs `body` with a fresh PostgreSQL database, dropped afterwards even when
/// `body` panics. Skips or fails (see [`unreachable`](crate::unreachable))
/// when PostgreSQL does not answer.
pub async fn with_postgres_database<F, Fut>(body: F)
where
    F: FnOnce(Arc<PgDatabase>) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(db) = PgDatabase::create(DATABASE_PREFIX).await else {
        return;
    };
    let db = Arc::new(db);
    let outcome = AssertUnwindSafe(body(Arc::clone(&db))).catch_unwind().await;
    let Ok(db) = Arc::try_unwrap(db) else {
        panic!("the test kept its database handle");
    };
    db.remove().await.expect("drop the test database");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
