//! Configuration of the shared-state store: where Redis is, how long a
//! command may take, and how much the live counters and error log retain.

use std::fmt;
use std::time::Duration;

use super::error::StateError;
use aigw_domain::mask_url_credentials;

/// Settings of the shared-state store.
///
/// With `redis_url: None` (the embedded default) everything stays in process;
/// with a URL the state lives in Redis and falls back to the in-process store
/// while Redis is unreachable.
#[derive(Clone)]
pub struct StateConfig {
    /// `redis://[user:password@]host:port[/db]`; `None` keeps state in process.
    pub redis_url: Option<String>,
    /// Prepended to every Redis key and channel so that tenants (and tests)
    /// sharing one Redis never collide.
    pub key_prefix: String,
    /// Number of pooled Redis connections.
    pub pool_size: usize,
    /// Upper bound of one Redis command, so that a dead Redis fails fast.
    pub command_timeout: Duration,
    /// How long startup waits for Redis before carrying on without it.
    pub connect_timeout: Duration,
    /// Longest pause between two reconnect attempts.
    pub reconnect_max_delay: Duration,
    /// While Redis is down, how often one operation may try Redis again.
    pub probe_interval: Duration,
    /// How long the per-day live counters live after their UTC day ends.
    pub live_counter_grace: Duration,
    /// The error log keeps at most this many entries (the oldest go first).
    pub error_log_max_entries: usize,
    /// The in-process cache (tokens, session and response pins, login states)
    /// keeps at most this many entries; past it, those closest to expiry go
    /// first. Redis keeps its own, under its `maxmemory` policy.
    pub cache_max_entries: usize,
}

impl StateConfig {
    /// Default prefix of Redis keys and channels.
    pub const DEFAULT_KEY_PREFIX: &'static str = "aigw:";

    /// The in-process configuration with every default.
    pub fn in_process() -> Self {
        Self::default()
    }

    /// The Redis configuration with every other default.
    pub fn redis(url: impl Into<String>) -> Self {
        Self {
            redis_url: Some(url.into()),
            ..Self::default()
        }
    }

    /// Rejects settings that cannot work, naming the field.
    pub fn validate(&self) -> Result<(), StateError> {
        if self.pool_size == 0 {
            return Err(StateError::InvalidConfig("pool_size must be at least 1"));
        }
        if self.command_timeout.is_zero() {
            return Err(StateError::InvalidConfig(
                "command_timeout must be greater than zero",
            ));
        }
        if self.connect_timeout.is_zero() {
            return Err(StateError::InvalidConfig(
                "connect_timeout must be greater than zero",
            ));
        }
        if self.reconnect_max_delay.as_millis() == 0 {
            return Err(StateError::InvalidConfig(
                "reconnect_max_delay must be at least 1 ms",
            ));
        }
        if self.cache_max_entries == 0 {
            return Err(StateError::InvalidConfig(
                "cache_max_entries must be at least 1",
            ));
        }
        if self.error_log_max_entries == 0 {
            return Err(StateError::InvalidConfig(
                "error_log_max_entries must be at least 1",
            ));
        }
        if self.key_prefix.chars().any(|c| c.is_whitespace()) {
            return Err(StateError::InvalidConfig(
                "key_prefix must not contain whitespace",
            ));
        }
        Ok(())
    }
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            redis_url: None,
            key_prefix: Self::DEFAULT_KEY_PREFIX.to_owned(),
            pool_size: 4,
            command_timeout: Duration::from_millis(50),
            connect_timeout: Duration::from_secs(1),
            reconnect_max_delay: Duration::from_secs(2),
            probe_interval: Duration::from_millis(500),
            live_counter_grace: Duration::from_secs(24 * 60 * 60),
            error_log_max_entries: 10_000,
            cache_max_entries: 200_000,
        }
    }
}

impl fmt::Debug for StateConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateConfig")
            .field(
                "redis_url",
                &self.redis_url.as_deref().map(mask_url_credentials),
            )
            .field("key_prefix", &self.key_prefix)
            .field("pool_size", &self.pool_size)
            .field("command_timeout", &self.command_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("reconnect_max_delay", &self.reconnect_max_delay)
            .field("probe_interval", &self.probe_interval)
            .field("live_counter_grace", &self.live_counter_grace)
            .field("error_log_max_entries", &self.error_log_max_entries)
            .field("cache_max_entries", &self.cache_max_entries)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_redis_password() {
        let config = StateConfig::redis("redis://user:hunter2@cache.internal:6380/2");
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("cache.internal:6380"), "{printed}");
    }

    #[test]
    fn validate_names_the_bad_field() {
        let config = StateConfig {
            pool_size: 0,
            ..StateConfig::default()
        };
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("pool_size"), "{error}");
        let config = StateConfig {
            cache_max_entries: 0,
            ..StateConfig::default()
        };
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("cache_max_entries"), "{error}");
        assert!(StateConfig::default().validate().is_ok());
    }
}
