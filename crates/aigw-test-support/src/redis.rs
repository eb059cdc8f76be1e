//! Redis for tests: a key prefix of the test's own on the test server, and the
//! skip-or-fail rule when the server does not answer.

use std::time::Duration;

use aigw_repository::state::{RedisState, StateConfig};

use crate::services::{reachable, redis_url, unreachable};

/// A key prefix no other test (or tenant) uses: `<label><random>:`.
pub fn unique_prefix(label: &str) -> String {
    format!("{label}{:016x}:", rand::random::<u64>())
}

/// Shared state on the test Redis under a [`unique_prefix`] of `label`, with
/// timeouts for a busy machine: these tests check behaviour, not latency.
pub fn redis_config(label: &str) -> StateConfig {
    StateConfig {
        redis_url: Some(redis_url()),
        key_prefix: unique_prefix(label),
        command_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(3),
        ..StateConfig::default()
    }
}

/// A Redis store on `config`, or `None` after reporting (see
/// [`unreachable`](crate::unreachable)) when Redis does not answer.
pub async fn redis_state(config: &StateConfig) -> Option<RedisState> {
    match RedisState::connect(config).await {
        Ok(state) => Some(state),
        Err(error) => {
            unreachable("redis", &error.to_string());
            None
        }
    }
}

/// Whether the test Redis accepts a TCP connection within 2 s; when it does
/// not, reports it (see [`unreachable`](crate::unreachable)) and says `false`.
pub async fn redis_available() -> bool {
    let url = url::Url::parse(&redis_url()).expect("valid AIGW_TEST_REDIS_URL");
    let address = format!(
        "{}:{}",
        url.host_str().unwrap_or("127.0.0.1"),
        url.port().unwrap_or(6379)
    );
    let connect = tokio::net::TcpStream::connect(address);
    reachable("redis", Duration::from_secs(2), connect)
        .await
        .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_test_gets_a_prefix_of_its_own() {
        let (a, b) = (unique_prefix("aigw-test-"), unique_prefix("aigw-test-"));
        assert!(a.starts_with("aigw-test-") && a.ends_with(':'), "{a}");
        assert_ne!(a, b);
    }
}
