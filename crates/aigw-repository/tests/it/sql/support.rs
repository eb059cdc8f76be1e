//! Test harness: a fresh, migrated database per test on each backend (a temp SQLite file,
//! or a PostgreSQL database created for the test and dropped after it), and the
//! skip-or-fail rule when PostgreSQL is unreachable.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use aigw_repository::{SqlOptions, SqlRepository};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::FutureExt;

pub fn postgres_url() -> String {
    std::env::var("AIGW_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Reports an unreachable service: a failure when services are required, otherwise a skip
/// note on stderr.
#[expect(clippy::print_stderr, reason = "the skip note is the test's output")]
pub fn unreachable(service: &str, why: &str) {
    if std::env::var("AIGW_TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
        panic!("{service} unreachable ({why}) and AIGW_TEST_REQUIRE_SERVICES=1");
    }
    eprintln!("skipped: {service} unreachable");
}

/// Options for tests: small pools (many tests run at once against one server) and a
/// generous acquire timeout (the machine is busy).
pub fn test_options() -> SqlOptions {
    SqlOptions {
        max_connections: 8,
        sqlite_readers: 2,
        acquire_timeout: Duration::from_secs(30),
        ..SqlOptions::default()
    }
}

/// Runs `body` on a fresh migrated SQLite file that is deleted afterwards.
pub async fn with_sqlite<F, Fut>(body: F)
where
    F: FnOnce(SqlRepository) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let repo = SqlRepository::connect_with(&url, test_options())
        .await
        .expect("open SQLite");
    repo.migrate().await.expect("migrate SQLite");
    body(repo).await;
    drop(dir);
}

/// A connection to the admin database, or `None` (after reporting) if PostgreSQL does not
/// answer.
async fn admin_connection() -> Option<AsyncPgConnection> {
    let url = postgres_url();
    match tokio::time::timeout(Duration::from_secs(5), AsyncPgConnection::establish(&url)).await {
        Ok(Ok(conn)) => Some(conn),
        Ok(Err(e)) => {
            unreachable("postgres", &e.to_string());
            None
        }
        Err(_) => {
            unreachable("postgres", "no answer within 5 s");
            None
        }
    }
}

/// The URL of database `name` on the test server.
pub fn database_url(name: &str) -> String {
    let mut url = url::Url::parse(&postgres_url()).expect("valid AIGW_TEST_DATABASE_URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// Runs `body` on a PostgreSQL database created for it (`aigw_test_<random>`), migrated,
/// and dropped afterwards even when `body` panics. Skips (or fails, see [`unreachable`])
/// when PostgreSQL is unreachable.
pub async fn with_postgres<F, Fut>(body: F)
where
    F: FnOnce(SqlRepository) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(mut admin) = admin_connection().await else {
        return;
    };
    let name = format!("aigw_test_{:016x}", rand::random::<u64>());
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create the test database");
    let outcome = AssertUnwindSafe(async {
        let repo = SqlRepository::connect_with(&database_url(&name), test_options())
            .await
            .expect("connect to the test database");
        repo.migrate().await.expect("migrate PostgreSQL");
        body(repo).await;
    })
    .catch_unwind()
    .await;
    diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .expect("drop the test database");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Runs `body` with the URL of a fresh, empty SQLite file (not migrated), deleted
/// afterwards: for tests that open several repositories on one database.
pub async fn with_sqlite_url<F, Fut>(body: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    body(url).await;
    drop(dir);
}

/// Runs `body` with the URL of a PostgreSQL database created for it (not migrated) and
/// dropped afterwards, like [`with_postgres`].
pub async fn with_postgres_url<F, Fut>(body: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(mut admin) = admin_connection().await else {
        return;
    };
    let name = format!("aigw_test_{:016x}", rand::random::<u64>());
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create the test database");
    let outcome = AssertUnwindSafe(body(database_url(&name)))
        .catch_unwind()
        .await;
    diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .expect("drop the test database");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

#[derive(diesel::QueryableByName)]
struct TextRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    v: String,
}

/// Runs raw SQL on the database at `url` (bypassing the repository) and returns the
/// text column `v` of each row: to look at what is really stored.
pub async fn raw_texts(url: &str, sql: &str) -> Vec<String> {
    use diesel::Connection as _;
    if let Some(path) = url.strip_prefix("sqlite://") {
        let mut conn = diesel::SqliteConnection::establish(path).expect("open SQLite");
        diesel::RunQueryDsl::load::<TextRow>(diesel::sql_query(sql), &mut conn)
            .expect("raw query")
            .into_iter()
            .map(|r| r.v)
            .collect()
    } else {
        let mut conn = AsyncPgConnection::establish(url).await.expect("connect");
        diesel::sql_query(sql)
            .load::<TextRow>(&mut conn)
            .await
            .expect("raw query")
            .into_iter()
            .map(|r| r.v)
            .collect()
    }
}

/// Runs a raw SQL statement on the database at `url`.
pub async fn raw_execute(url: &str, sql: &str) {
    use diesel::Connection as _;
    if let Some(path) = url.strip_prefix("sqlite://") {
        let mut conn = diesel::SqliteConnection::establish(path).expect("open SQLite");
        diesel::RunQueryDsl::execute(diesel::sql_query(sql), &mut conn).expect("raw statement");
    } else {
        let mut conn = AsyncPgConnection::establish(url).await.expect("connect");
        diesel::sql_query(sql)
            .execute(&mut conn)
            .await
            .expect("raw statement");
    }
}

/// Runs each named `async fn name(url: String)` on both backends, as `sqlite::name` and
/// `postgres::name`, with the URL of a fresh empty database.
macro_rules! backend_url_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::sql::support::with_sqlite_url(super::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::sql::support::with_postgres_url(super::$name).await;
                }
            )*
        }
    };
}

/// Runs each named `async fn name(repo: SqlRepository)` on both backends, as
/// `sqlite::name` and `postgres::name`.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::sql::support::with_sqlite(super::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::sql::support::with_postgres(super::$name).await;
                }
            )*
        }
    };
}
