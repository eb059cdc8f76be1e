//! Harness of the stats tests: the pool options their fresh databases (from
//! `aigw-test-support`) are opened with, the in-process shared state, rows to
//! refer to, and how long to wait for the writer.

use std::time::Duration;

use aigw_domain::{
    AccountId, AuthData, AuthKind, NewAccount, NewProvider, NewProxy, ProviderId, ProviderKind,
    ProxyId, Secret,
};
use aigw_repository::state::{SharedState, StateConfig};
use aigw_repository::{SqlOptions, SqlRepository};

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

/// Runs each named `async fn name(repo: SqlRepository)` on both backends,
/// as `sqlite::name` and `postgres::name`.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        aigw_test_support::backend_tests!(
            options = $crate::stats::support::test_options(),
            worker_threads = 2;
            $($name),*
        );
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

/// How long a test waits for the stats writer before it fails.
pub const WAIT: Duration = Duration::from_secs(30);
