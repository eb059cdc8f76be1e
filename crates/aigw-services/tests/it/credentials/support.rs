//! Harness of the credential tests: a fresh migrated database per test (a temp SQLite file,
//! or a PostgreSQL database created for the test and dropped after it), shared state in
//! process or in Redis under a key prefix of its own, the skip-or-fail rule for unreachable
//! services, the mock OAuth server, and OAuth accounts pointing at it.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use aigw_domain::{
    Account, AuthData, AuthKind, NewAccount, NewProvider, OAuthCredentials, ProviderId,
    ProviderKind, Secret,
};
use aigw_mock_upstream::MockUpstream;
use aigw_repository::state::{InProcessState, RedisState, SharedState, StateConfig};
use aigw_repository::{SqlOptions, SqlRepository};
use aigw_services::client_pool::{ClientPool, PoolConfig};
use aigw_services::credentials::{CredentialService, CredentialSettings};
use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use tokio::task::JoinSet;

pub fn postgres_url() -> String {
    std::env::var("AIGW_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

pub fn redis_url() -> String {
    std::env::var("AIGW_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
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

/// Pools big enough for two services hammering one database, and a generous acquire timeout
/// (the machine is busy).
fn sql_options() -> SqlOptions {
    SqlOptions {
        max_connections: 6,
        sqlite_readers: 2,
        acquire_timeout: Duration::from_secs(30),
        ..SqlOptions::default()
    }
}

/// Runs `body` on a fresh migrated SQLite file, deleted afterwards.
pub async fn with_sqlite<F, Fut>(body: F)
where
    F: FnOnce(SqlRepository) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("credentials.db").display());
    let repo = SqlRepository::connect_with(&url, sql_options())
        .await
        .unwrap();
    repo.migrate().await.unwrap();
    body(repo).await;
    drop(dir);
}

/// Runs `body` on a PostgreSQL database created for it and dropped afterwards, even when
/// `body` panics. Skips (or fails, see [`unreachable`]) when PostgreSQL is unreachable.
pub async fn with_postgres<F, Fut>(body: F)
where
    F: FnOnce(SqlRepository) -> Fut,
    Fut: Future<Output = ()>,
{
    let admin_url = postgres_url();
    let connect = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls);
    let (admin, connection) = match tokio::time::timeout(Duration::from_secs(5), connect).await {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => return unreachable("postgres", &e.to_string()),
        Err(_) => return unreachable("postgres", "no answer within 5 s"),
    };
    let mut driver = JoinSet::new();
    driver.spawn(async move {
        let _ = connection.await;
    });
    let name = format!("aigw_creds_{:016x}", rand::random::<u64>());
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let outcome = AssertUnwindSafe(async {
        let mut url = url::Url::parse(&postgres_url()).unwrap();
        url.set_path(&format!("/{name}"));
        let repo = SqlRepository::connect_with(url.as_str(), sql_options())
            .await
            .unwrap();
        repo.migrate().await.unwrap();
        body(repo).await;
    })
    .catch_unwind()
    .await;
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Two handles on one in-process store: two "instances" sharing state.
pub fn in_process_pair() -> (SharedState, SharedState) {
    let state = InProcessState::new(&StateConfig::in_process());
    (
        SharedState::InProcess(state.clone()),
        SharedState::InProcess(state),
    )
}

/// Two Redis clients with one key prefix of their own (two instances sharing one Redis), or
/// `None` (after reporting) when Redis is unreachable.
pub async fn redis_pair() -> Option<(SharedState, SharedState)> {
    let config = StateConfig {
        redis_url: Some(redis_url()),
        key_prefix: format!("aigw-creds-test-{:016x}:", rand::random::<u64>()),
        command_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(3),
        ..StateConfig::default()
    };
    let first = match RedisState::connect(&config).await {
        Ok(state) => state,
        Err(e) => {
            unreachable("redis", &e.to_string());
            return None;
        }
    };
    let second = RedisState::connect(&config).await.unwrap();
    Some((SharedState::Redis(first), SharedState::Redis(second)))
}

/// Settings for tests: the defaults, with a short peer poll deadline so that a broken test
/// fails in seconds rather than hanging.
pub fn settings() -> CredentialSettings {
    CredentialSettings {
        refresh_timeout: Duration::from_secs(10),
        peer_wait: Duration::from_secs(20),
        ..CredentialSettings::default()
    }
}

pub fn pool() -> ClientPool {
    ClientPool::new(PoolConfig::default()).unwrap()
}

pub fn service(repo: &SqlRepository, state: SharedState) -> CredentialService {
    CredentialService::new(repo.clone(), state, pool(), settings())
}

/// Creates a provider `id` of `kind`.
pub async fn provider(repo: &SqlRepository, id: &str, kind: ProviderKind) -> ProviderId {
    let id = ProviderId::new(id).unwrap();
    repo.insert_provider(&NewProvider {
        id: id.clone(),
        name: format!("{id} test"),
        kind,
        base_url: "https://upstream.example".to_owned(),
        fallback_base_urls: vec![],
        supported_auth_types: vec![AuthKind::Oauth],
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
    id
}

/// A refresh token no other test uses (the mock counts calls per refresh token).
pub fn refresh_token() -> String {
    format!("1//test-rt-{:016x}", rand::random::<u64>())
}

/// Whole seconds from now, as the database stores them exactly.
pub fn in_secs(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(Utc::now().timestamp() + secs, 0).unwrap()
}

/// The OAuth grant of a test account: `access_token` expiring in `expires_in` seconds,
/// refreshed at the mock's token endpoint with the account's own client id.
pub fn grant(
    mock: &MockUpstream,
    access_token: &str,
    refresh_token: &str,
    expires_in: i64,
) -> OAuthCredentials {
    OAuthCredentials {
        access_token: Some(Secret::new(access_token)),
        refresh_token: Some(Secret::new(refresh_token)),
        expires_at: Some(in_secs(expires_in)),
        token_url: Some(format!("{}/oauth/token", mock.base_url())),
        client_id: Some("test-client-id".to_owned()),
        client_secret: Some(Secret::new("test-client-secret")),
        project_id: Some("test-project".to_owned()),
        ..OAuthCredentials::default()
    }
}

pub async fn account(
    repo: &SqlRepository,
    provider: &ProviderId,
    grant: OAuthCredentials,
) -> Account {
    repo.insert_account(&NewAccount::new(
        provider.clone(),
        "oauth-account",
        AuthData::Oauth(Box::new(grant)),
    ))
    .await
    .unwrap()
}

/// The account's stored OAuth grant, read back from the database.
pub async fn stored(repo: &SqlRepository, account: &Account) -> (Account, OAuthCredentials) {
    let reloaded = repo.get_account(account.id).await.unwrap();
    let AuthData::Oauth(grant) = &reloaded.auth_data else {
        panic!("the account is no longer OAuth");
    };
    let grant = (**grant).clone();
    (reloaded, grant)
}

/// A mock upstream whose token endpoint takes `latency` to answer, so that concurrent callers
/// really overlap with a refresh in flight.
pub async fn slow_mock(latency: Duration) -> Arc<MockUpstream> {
    let mock = MockUpstream::start().await.unwrap();
    mock.set_oauth_fault(aigw_mock_upstream::Fault::Latency(latency));
    Arc::new(mock)
}

/// Runs each named `async fn name(repo: SqlRepository)` on both SQL backends, as
/// `sqlite::name` and `postgres::name`.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    $crate::credentials::support::with_sqlite(super::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    $crate::credentials::support::with_postgres(super::$name).await;
                }
            )*
        }
    };
}
pub(crate) use backend_tests;
