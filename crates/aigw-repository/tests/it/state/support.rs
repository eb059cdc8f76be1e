//! Test harness: one store per test on a chosen backend, a unique Redis key
//! prefix per test (from `aigw-test-support`, like the skip-or-fail rule when
//! Redis is unreachable), and cleanup of that prefix.

use std::time::Duration;

use aigw_repository::state::{FallbackState, InProcessState, RedisState, SharedState, StateConfig};
use aigw_test_support::{reachable, redis_url, unique_prefix};
use fred::clients::Client;
use fred::interfaces::{ClientLike, LuaInterface};
use fred::types::Builder;
use fred::types::config::Config as FredConfig;

/// The stores every behaviour test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    InProcess,
    Redis,
    /// Redis behind the fallback wrapper, while Redis is healthy.
    Fallback,
}

/// A plain fred client on `url`, or `None` if Redis does not answer.
pub async fn raw_client(url: &str) -> Option<Client> {
    let config = FredConfig::from_url(url).expect("valid AIGW_TEST_REDIS_URL");
    let client = Builder::from_config(config).build().expect("fred client");
    reachable("redis", Duration::from_secs(2), client.init()).await?;
    Some(client)
}

/// Settings for behaviour tests: generous timeouts, because these tests
/// check semantics, not latency, on a busy machine.
pub fn behaviour_config(redis_url: Option<String>) -> StateConfig {
    StateConfig {
        redis_url,
        key_prefix: unique_prefix("aigw-test-"),
        command_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(5),
        ..StateConfig::default()
    }
}

/// One store for one test, plus what it needs to clean up.
pub struct Harness {
    pub state: SharedState,
    pub config: StateConfig,
    /// A plain client on the same Redis, for checks behind the store's back.
    pub raw: Option<Client>,
}

impl Harness {
    /// The store of `backend`, or `None` (after reporting) when it needs
    /// Redis and Redis is unreachable.
    pub async fn new(backend: Backend) -> Option<Self> {
        Self::with(backend, |_| {}).await
    }

    /// Like [`Harness::new`], with `adjust` applied to the configuration.
    pub async fn with(backend: Backend, adjust: impl FnOnce(&mut StateConfig)) -> Option<Self> {
        match backend {
            Backend::InProcess => {
                let mut config = behaviour_config(None);
                adjust(&mut config);
                Some(Self {
                    state: SharedState::InProcess(InProcessState::new(&config)),
                    config,
                    raw: None,
                })
            }
            Backend::Redis | Backend::Fallback => {
                let url = redis_url();
                let raw = raw_client(&url).await?;
                let mut config = behaviour_config(Some(url));
                adjust(&mut config);
                let state = if backend == Backend::Redis {
                    SharedState::Redis(
                        RedisState::connect(&config)
                            .await
                            .expect("connect to Redis"),
                    )
                } else {
                    let state = FallbackState::connect(&config)
                        .await
                        .expect("start the fallback store");
                    assert!(
                        !state.is_degraded(),
                        "Redis answered the raw client but not the store"
                    );
                    SharedState::Fallback(state)
                };
                Some(Self {
                    state,
                    config,
                    raw: Some(raw),
                })
            }
        }
    }

    /// A second store sharing this one's state (same prefix, own
    /// connections and instance id when in Redis).
    pub async fn peer(&self) -> SharedState {
        match &self.state {
            SharedState::InProcess(state) => SharedState::InProcess(state.clone()),
            SharedState::Redis(_) => SharedState::Redis(
                RedisState::connect(&self.config)
                    .await
                    .expect("connect peer"),
            ),
            SharedState::Fallback(_) => SharedState::Fallback(
                FallbackState::connect(&self.config)
                    .await
                    .expect("start peer"),
            ),
        }
    }

    /// The Redis key `name` under this test's prefix.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.config.key_prefix)
    }

    /// Checks that the fallback store really used Redis, and deletes this
    /// test's keys.
    pub async fn finish(self) {
        assert!(
            !self.state.is_degraded(),
            "the fallback store fell back during a behaviour test: {:?}",
            self.state.health()
        );
        if let Some(raw) = self.raw {
            delete_prefix(&raw, &self.config.key_prefix).await;
        }
    }
}

/// Deletes every key under `prefix` (SCAN, so Redis is never blocked long).
pub async fn delete_prefix(raw: &Client, prefix: &str) {
    const DELETE_BY_PREFIX: &str = r"
local cursor = '0'
local deleted = 0
repeat
  local reply = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)
  cursor = reply[1]
  for _, key in ipairs(reply[2]) do
    deleted = deleted + redis.call('DEL', key)
  end
until cursor == '0'
return deleted
";
    let _deleted: i64 = raw
        .eval(DELETE_BY_PREFIX, (), vec![format!("{prefix}*")])
        .await
        .expect("delete the test's keys");
}

/// Runs each named `async fn name(backend: Backend)` against every backend,
/// as `in_process::name`, `redis::name` and `fallback::name`.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        aigw_test_support::case_tests! {
            worker_threads = 4;
            in_process => aigw_test_support::Arg($crate::state::support::Backend::InProcess),
            redis => aigw_test_support::Arg($crate::state::support::Backend::Redis),
            fallback => aigw_test_support::Arg($crate::state::support::Backend::Fallback);
            tests [$($name),*]
        }
    };
}
pub(crate) use backend_tests;
