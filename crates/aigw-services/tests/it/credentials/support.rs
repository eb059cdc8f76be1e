//! Harness of the credential tests: the pool options their fresh databases (from
//! `aigw-test-support`) are opened with, shared state in process or in Redis under a key
//! prefix of its own, the mock OAuth server, and OAuth accounts pointing at it.

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
use aigw_test_support::{redis_config, redis_state};
use chrono::{DateTime, Utc};

/// Pools big enough for two services hammering one database, and a generous acquire timeout
/// (the machine is busy).
pub fn sql_options() -> SqlOptions {
    SqlOptions {
        max_connections: 6,
        sqlite_readers: 2,
        acquire_timeout: Duration::from_secs(30),
        ..SqlOptions::default()
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
    let config = redis_config("aigw-creds-test-");
    let first = redis_state(&config).await?;
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
        aigw_test_support::backend_tests!(
            options = $crate::credentials::support::sql_options(),
            worker_threads = 4;
            $($name),*
        );
    };
}
pub(crate) use backend_tests;
