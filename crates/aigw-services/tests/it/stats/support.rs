//! Harness of the stats tests: a fresh migrated database per test (a temp
//! SQLite file, or a PostgreSQL database created for the test and dropped
//! after it), the skip-or-fail rule when PostgreSQL is unreachable, a TCP
//! forwarder that cuts PostgreSQL, rows to refer to, and polling with a
//! deadline.

use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use aigw_domain::{
    AccountId, AuthData, AuthKind, NewAccount, NewProvider, NewProxy, ProviderId, ProviderKind,
    ProxyId, Secret,
};
use aigw_repository::state::{SharedState, StateConfig};
use aigw_repository::{SqlOptions, SqlRepository};
use futures_util::FutureExt;
use tokio::task::{AbortHandle, JoinSet};

pub fn postgres_url() -> String {
    std::env::var("AIGW_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Reports an unreachable service: a failure when services are required,
/// otherwise a skip note on stderr.
#[expect(clippy::print_stderr, reason = "the skip note is the test's output")]
pub fn unreachable(service: &str, why: &str) {
    if std::env::var("AIGW_TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
        panic!("{service} unreachable ({why}) and AIGW_TEST_REQUIRE_SERVICES=1");
    }
    eprintln!("skipped: {service} unreachable");
}

/// Small pools (tests run at once against one server), a short acquire
/// timeout so that an outage is noticed quickly.
pub fn test_options() -> SqlOptions {
    SqlOptions {
        max_connections: 4,
        sqlite_readers: 2,
        acquire_timeout: Duration::from_secs(3),
        ..SqlOptions::default()
    }
}

/// The in-process shared state.
pub async fn state() -> SharedState {
    SharedState::from_config(&StateConfig::in_process())
        .await
        .unwrap()
}

/// Runs `body` on a fresh migrated SQLite file, deleted afterwards.
pub async fn with_sqlite<F, Fut>(body: F)
where
    F: FnOnce(SqlRepository) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("stats.db").display());
    let repo = SqlRepository::connect_with(&url, test_options())
        .await
        .unwrap();
    repo.migrate().await.unwrap();
    body(repo).await;
    drop(dir);
}

/// A PostgreSQL database created for one test and dropped with it.
pub struct TestDatabase {
    admin: tokio_postgres::Client,
    name: String,
    _connection: AbortHandle,
}

impl TestDatabase {
    /// Creates `aigw_stats_<random>`, or returns `None` (after reporting)
    /// when PostgreSQL does not answer.
    pub async fn create() -> Option<Self> {
        let url = postgres_url();
        let connect = tokio_postgres::connect(&url, tokio_postgres::NoTls);
        let (admin, connection) = match tokio::time::timeout(Duration::from_secs(5), connect).await
        {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => {
                unreachable("postgres", &e.to_string());
                return None;
            }
            Err(_) => {
                unreachable("postgres", "no answer within 5 s");
                return None;
            }
        };
        let mut tasks = JoinSet::new();
        let connection = tasks.spawn(async move {
            let _ = connection.await;
        });
        tasks.detach_all();
        let name = format!("aigw_stats_{:016x}", rand::random::<u64>());
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        Some(Self {
            admin,
            name,
            _connection: connection,
        })
    }

    /// The URL of this database through `address` (the server's own, or a
    /// forwarder's).
    pub fn url(&self, address: Option<SocketAddr>) -> String {
        let mut url = url::Url::parse(&postgres_url()).unwrap();
        url.set_path(&format!("/{}", self.name));
        if let Some(address) = address {
            url.set_host(Some("127.0.0.1")).unwrap();
            url.set_port(Some(address.port())).unwrap();
        }
        url.to_string()
    }

    /// The server's address, from the test URL.
    pub async fn server_address(&self) -> SocketAddr {
        let url = url::Url::parse(&postgres_url()).unwrap();
        let host = url.host_str().unwrap_or("127.0.0.1").to_owned();
        let port = url.port().unwrap_or(5432);
        tokio::net::lookup_host((host.as_str(), port))
            .await
            .unwrap()
            .next()
            .unwrap()
    }

    async fn drop_database(self) {
        self.admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await
            .unwrap();
    }
}

/// Runs `body` with a fresh PostgreSQL database, dropped afterwards even
/// when `body` panics. Skips (or fails, see [`unreachable`]) when
/// PostgreSQL is unreachable.
pub async fn with_postgres_database<F, Fut>(body: F)
where
    F: FnOnce(Arc<TestDatabase>) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let db = Arc::new(db);
    let outcome = AssertUnwindSafe(body(Arc::clone(&db))).catch_unwind().await;
    match Arc::try_unwrap(db) {
        Ok(db) => db.drop_database().await,
        Err(_) => panic!("the test kept its database handle"),
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Runs `body` on a fresh migrated PostgreSQL database.
pub async fn with_postgres<F, Fut>(body: F)
where
    F: FnOnce(SqlRepository) -> Fut,
    Fut: Future<Output = ()>,
{
    with_postgres_database(async |db| {
        let repo = SqlRepository::connect_with(&db.url(None), test_options())
            .await
            .unwrap();
        repo.migrate().await.unwrap();
        body(repo).await;
    })
    .await;
}

/// Runs each named `async fn name(repo: SqlRepository)` on both backends,
/// as `sqlite::name` and `postgres::name`.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::stats::support::with_sqlite(super::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::stats::support::with_postgres(super::$name).await;
                }
            )*
        }
    };
}
pub(crate) use backend_tests;

/// The rows stats events refer to: one provider, accounts and proxies.
pub struct Fixture {
    pub provider: ProviderId,
    pub accounts: Vec<AccountId>,
    pub proxies: Vec<ProxyId>,
}

impl Fixture {
    pub async fn create(repo: &SqlRepository, accounts: usize, proxies: usize) -> Self {
        let provider = ProviderId::new("stats-test").unwrap();
        repo.insert_provider(&NewProvider {
            id: provider.clone(),
            name: "stats test".to_owned(),
            kind: ProviderKind::Openai,
            base_url: "https://stats-test.example".to_owned(),
            fallback_base_urls: vec![],
            supported_auth_types: vec![AuthKind::ApiKey],
            models: vec![],
            is_active: true,
            is_builtin: false,
            config: serde_json::json!({}),
            native_responses: false,
            selection_strategy: Default::default(),
            session_affinity: false,
        })
        .await
        .unwrap();
        let mut account_ids = Vec::new();
        for i in 0..accounts {
            let account = repo
                .insert_account(&NewAccount::new(
                    provider.clone(),
                    format!("account-{i}"),
                    AuthData::ApiKey {
                        api_key: Secret::new(format!("sk-stats-{i}-0123456789abcdef")),
                    },
                ))
                .await
                .unwrap();
            account_ids.push(account.id);
        }
        let mut proxy_ids = Vec::new();
        for i in 0..proxies {
            let proxy = repo
                .insert_proxy(&NewProxy::new(format!("http://10.0.0.{i}:3128")))
                .await
                .unwrap();
            proxy_ids.push(proxy.id);
        }
        Self {
            provider,
            accounts: account_ids,
            proxies: proxy_ids,
        }
    }
}

/// Polls `check` every 10 ms until it holds; fails after 30 s naming `what`.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub use aigw_mock_upstream::Forwarder;
