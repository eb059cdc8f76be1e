//! Shared state between gateway instances: counters (with session-affinity pins), windowed attempt counters, token cache, locks, live counters, error log, invalidation.
//!
//! One API, three stores, chosen at startup and dispatched by `match`:
//!
//! - [`InProcessState`]: the embedded default, all in this process.
//! - [`RedisState`]: everything in Redis (via `fred`), shared by every
//!   instance; its errors reach the caller.
//! - [`FallbackState`]: the scale-out default. Redis while it answers, the
//!   in-process store while it does not, and back to Redis by itself. The
//!   outage is logged once when it starts and once when it ends, and
//!   [`SharedState::health`] reports it.
//!
//! Every Redis key starts with a configurable prefix (`aigw:` by default,
//! see [`KeyLayout`]); every Redis command is bounded by a short timeout.

mod coalesce;
mod config;
mod error;
mod error_log;
mod fallback;
mod invalidation;
mod keys;
mod live;
mod lock;
mod memory;
mod pin;
mod redis;
mod window;

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use config::StateConfig;
pub use error::StateError;
pub use error_log::ErrorLogEntry;
pub use fallback::FallbackState;
pub use invalidation::{InstanceId, Invalidation, InvalidationMessage, Subscription};
pub use keys::{KeyLayout, LiveField};
pub use live::{LiveCounts, LiveScope};
pub use lock::LockGuard;
pub use memory::InProcessState;
pub use pin::PinOrCount;
pub use redis::RedisState;
pub use window::WindowCount;

/// The shared-state store used by the services. Cheap to clone.
#[derive(Clone, Debug)]
pub enum SharedState {
    /// Everything in this process (embedded deployment).
    InProcess(InProcessState),
    /// Everything in Redis; Redis errors reach the caller.
    Redis(RedisState),
    /// Redis with the in-process store as fallback (scale-out deployment).
    Fallback(FallbackState),
}

/// Which store serves, and how the Redis connection fares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateHealth {
    /// The configured store.
    pub backend: StateBackend,
    /// `true` while Redis is unreachable and the in-process store serves.
    pub degraded: bool,
    /// Outages since start.
    pub outages: u64,
    /// Operations served by the in-process store because Redis was down.
    pub fallback_operations: u64,
}

/// The kind of store behind a [`SharedState`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateBackend {
    /// [`SharedState::InProcess`].
    InProcess,
    /// [`SharedState::Redis`].
    Redis,
    /// [`SharedState::Fallback`].
    Fallback,
}

impl StateBackend {
    /// The name used in metrics and `/health`.
    pub fn as_str(self) -> &'static str {
        match self {
            StateBackend::InProcess => "in_process",
            StateBackend::Redis => "redis",
            StateBackend::Fallback => "redis_with_fallback",
        }
    }
}

impl SharedState {
    /// The store the configuration asks for: in-process without a Redis URL,
    /// Redis with the in-process fallback with one. Fails only on a
    /// malformed configuration, never because Redis is down.
    pub async fn from_config(config: &StateConfig) -> Result<Self, StateError> {
        config.validate()?;
        match config.redis_url {
            None => Ok(SharedState::InProcess(InProcessState::new(config))),
            Some(_) => Ok(SharedState::Fallback(FallbackState::connect(config).await?)),
        }
    }

    /// This instance's id, the origin of its invalidations.
    pub fn instance_id(&self) -> InstanceId {
        match self {
            SharedState::InProcess(s) => s.instance_id(),
            SharedState::Redis(s) => s.instance_id(),
            SharedState::Fallback(s) => s.instance_id(),
        }
    }

    /// Which store serves and whether Redis is reachable (a gauge for
    /// `/metrics` and `/health`).
    pub fn health(&self) -> StateHealth {
        match self {
            SharedState::InProcess(_) => StateHealth {
                backend: StateBackend::InProcess,
                degraded: false,
                outages: 0,
                fallback_operations: 0,
            },
            SharedState::Redis(_) => StateHealth {
                backend: StateBackend::Redis,
                degraded: false,
                outages: 0,
                fallback_operations: 0,
            },
            SharedState::Fallback(s) => StateHealth {
                backend: StateBackend::Fallback,
                degraded: s.is_degraded(),
                outages: s.outages(),
                fallback_operations: s.fallback_operations(),
            },
        }
    }

    /// Whether the fallback store is serving from this process.
    pub fn is_degraded(&self) -> bool {
        match self {
            SharedState::Fallback(s) => s.is_degraded(),
            SharedState::InProcess(_) | SharedState::Redis(_) => false,
        }
    }

    // --- counters -------------------------------------------------------

    /// Atomically increments the counter `key` (no expiry) and returns the
    /// new value, 1 for the first call. Round-robin selection takes this
    /// modulo the number of candidates.
    pub async fn incr(&self, key: &str) -> Result<u64, StateError> {
        match self {
            SharedState::InProcess(s) => Ok(s.incr(key)),
            // Boxed, here and in `pin_or_claim`: a Redis call's future is
            // kilobytes, and unboxed it would size every caller's future,
            // in-process deployments' too, which copy it on every request.
            SharedState::Redis(s) => Box::pin(s.incr(key)).await,
            SharedState::Fallback(s) => Box::pin(s.incr(key)).await,
        }
    }

    /// Session affinity's one round trip: the value cached under `pin_key`
    /// (a conversation's account, or a claim), its TTL renewed to `ttl`; or,
    /// when there is none, the next value of the counter `counter_key` (as
    /// [`Self::incr`]; 0 when no counter is given), which is also stored
    /// under `pin_key` for `ttl` as a claim (its decimal text), so that a
    /// turn of the same conversation arriving before the caller's pin is
    /// written reads the same counter value. One atomic step (a Lua script
    /// on Redis). The caller writes the real pin with [`Self::cache_set`]
    /// once it has chosen the account.
    pub async fn pin_or_claim(
        &self,
        pin_key: &str,
        ttl: Duration,
        counter_key: Option<&str>,
    ) -> Result<PinOrCount, StateError> {
        match self {
            SharedState::InProcess(s) => Ok(s.pin_or_claim(pin_key, ttl, counter_key)),
            SharedState::Redis(s) => Box::pin(s.pin_or_claim(pin_key, ttl, counter_key)).await,
            SharedState::Fallback(s) => Box::pin(s.pin_or_claim(pin_key, ttl, counter_key)).await,
        }
    }

    // --- windowed attempt counters ---------------------------------------

    /// Counts one attempt against `key` and returns the count so far in the
    /// current window, which starts with the first attempt and lasts `window`
    /// (a fixed window: later attempts do not extend it). The increment and
    /// the expiry are one atomic step (a Lua script on Redis), so every
    /// instance counts against the same budget and no counter outlives its
    /// window. For rate limits such as sign-in attempts.
    pub async fn window_hit(&self, key: &str, window: Duration) -> Result<WindowCount, StateError> {
        match self {
            SharedState::InProcess(s) => Ok(s.window_hit(key, window)),
            SharedState::Redis(s) => s.window_hit(key, window).await,
            SharedState::Fallback(s) => s.window_hit(key, window).await,
        }
    }

    /// Takes one attempt back from `key` (an attempt that turned out not to
    /// count, such as a successful sign-in); never below zero, and the window
    /// keeps its end.
    pub async fn window_forgive(&self, key: &str) -> Result<(), StateError> {
        match self {
            SharedState::InProcess(s) => {
                s.window_forgive(key);
                Ok(())
            }
            SharedState::Redis(s) => s.window_forgive(key).await,
            SharedState::Fallback(s) => s.window_forgive(key).await,
        }
    }

    /// Forgets every attempt counted against `key`.
    pub async fn window_reset(&self, key: &str) -> Result<(), StateError> {
        match self {
            SharedState::InProcess(s) => {
                s.window_reset(key);
                Ok(())
            }
            SharedState::Redis(s) => s.window_reset(key).await,
            SharedState::Fallback(s) => s.window_reset(key).await,
        }
    }

    // --- token cache ----------------------------------------------------

    /// The value cached under `key`, if present and not expired.
    pub async fn cache_get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StateError> {
        match self {
            SharedState::InProcess(s) => s.cache_get(key),
            // Boxed like `incr`: the selection awaits these, and its future is
            // moved into a box on every request.
            SharedState::Redis(s) => Box::pin(s.cache_get(key)).await,
            SharedState::Fallback(s) => Box::pin(s.cache_get(key)).await,
        }
    }

    /// Caches `value` (as JSON) under `key` for `ttl`; a zero TTL deletes.
    pub async fn cache_set<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<(), StateError> {
        match self {
            SharedState::InProcess(s) => s.cache_set(key, value, ttl),
            SharedState::Redis(s) => Box::pin(s.cache_set(key, value, ttl)).await,
            SharedState::Fallback(s) => Box::pin(s.cache_set(key, value, ttl)).await,
        }
    }

    /// Removes `key` from the cache and returns its value if it was present
    /// and not expired, in one atomic step (`GETDEL` on Redis): of any number
    /// of callers on any instances, at most one gets a given value. For
    /// one-time values such as an OAuth authorisation `state`.
    pub async fn cache_take<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StateError> {
        match self {
            SharedState::InProcess(s) => s.cache_take(key),
            SharedState::Redis(s) => s.cache_take(key).await,
            SharedState::Fallback(s) => s.cache_take(key).await,
        }
    }

    /// Removes `key` from the cache; whether a value was there.
    pub async fn cache_delete(&self, key: &str) -> Result<bool, StateError> {
        match self {
            SharedState::InProcess(s) => Ok(s.cache_delete(key)),
            SharedState::Redis(s) => s.cache_delete(key).await,
            SharedState::Fallback(s) => s.cache_delete(key).await,
        }
    }

    // --- single-flight locks -------------------------------------------

    /// Takes the lock `key` for at most `ttl` unless someone holds it.
    /// `None` means someone else does (e.g. another instance is already
    /// refreshing this token: wait for the cache instead).
    pub async fn try_lock(
        &self,
        key: &str,
        ttl: Duration,
    ) -> Result<Option<LockGuard>, StateError> {
        match self {
            SharedState::InProcess(s) => Ok(s.try_lock(key, ttl)),
            SharedState::Redis(s) => s.try_lock(key, ttl).await,
            SharedState::Fallback(s) => s.try_lock(key, ttl).await,
        }
    }

    // --- live counters --------------------------------------------------

    /// Adds `added` (requests, and the failures among them) to the counts of
    /// `scope`/`id` on the UTC `day`, and returns that day's counts. The
    /// stats writer sums a batch's events per scope, id and day first, so a
    /// batch costs one call per distinct group, not one per event. The day's
    /// counters expire at the end of the day plus the configured grace, an
    /// absolute time set in the same atomic step.
    pub async fn live_add(
        &self,
        scope: LiveScope,
        id: &str,
        day: NaiveDate,
        added: LiveCounts,
    ) -> Result<LiveCounts, StateError> {
        match self {
            SharedState::InProcess(s) => Ok(s.live_add(scope, id, day, added)),
            SharedState::Redis(s) => s.live_add(scope, id, day, added).await,
            SharedState::Fallback(s) => s.live_add(scope, id, day, added).await,
        }
    }

    /// Requests and failures of `scope`/`id` on `day`.
    pub async fn live_counts(
        &self,
        scope: LiveScope,
        id: &str,
        day: NaiveDate,
    ) -> Result<LiveCounts, StateError> {
        match self {
            SharedState::InProcess(s) => Ok(s.live_counts(scope, id, day)),
            SharedState::Redis(s) => s.live_counts(scope, id, day).await,
            SharedState::Fallback(s) => s.live_counts(scope, id, day).await,
        }
    }

    /// When the counters of `scope`/`id` on `day` expire, if they exist.
    pub async fn live_expires_at(
        &self,
        scope: LiveScope,
        id: &str,
        day: NaiveDate,
    ) -> Result<Option<DateTime<Utc>>, StateError> {
        match self {
            SharedState::InProcess(s) => Ok(s.live_expires_at(scope, id, day)),
            SharedState::Redis(s) => s.live_expires_at(scope, id, day).await,
            SharedState::Fallback(s) => s.live_expires_at(scope, id, day).await,
        }
    }

    // --- error log ------------------------------------------------------

    /// Appends an entry; beyond the configured maximum the oldest go.
    pub async fn error_log_append(&self, entry: &ErrorLogEntry) -> Result<(), StateError> {
        match self {
            SharedState::InProcess(s) => {
                s.error_log_append(entry);
                Ok(())
            }
            SharedState::Redis(s) => s.error_log_append(entry).await,
            SharedState::Fallback(s) => s.error_log_append(entry).await,
        }
    }

    /// Entries with `from <= created_at <= to` (millisecond precision),
    /// newest first, at most `limit`.
    pub async fn error_log_range(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ErrorLogEntry>, StateError> {
        match self {
            SharedState::InProcess(s) => Ok(s.error_log_range(from, to, limit)),
            SharedState::Redis(s) => s.error_log_range(from, to, limit).await,
            SharedState::Fallback(s) => s.error_log_range(from, to, limit).await,
        }
    }

    /// Removes the entries older than `age`; how many were removed.
    pub async fn error_log_trim_older_than(&self, age: Duration) -> Result<u64, StateError> {
        match self {
            SharedState::InProcess(s) => Ok(s.error_log_trim_older_than(age)),
            SharedState::Redis(s) => s.error_log_trim_older_than(age).await,
            SharedState::Fallback(s) => s.error_log_trim_older_than(age).await,
        }
    }

    /// Keeps only the newest `max_entries`; how many were removed.
    pub async fn error_log_trim_to(&self, max_entries: usize) -> Result<u64, StateError> {
        match self {
            SharedState::InProcess(s) => Ok(s.error_log_trim_to(max_entries)),
            SharedState::Redis(s) => s.error_log_trim_to(max_entries).await,
            SharedState::Fallback(s) => s.error_log_trim_to(max_entries).await,
        }
    }

    /// Number of entries.
    pub async fn error_log_len(&self) -> Result<u64, StateError> {
        match self {
            SharedState::InProcess(s) => Ok(s.error_log_len()),
            SharedState::Redis(s) => s.error_log_len().await,
            SharedState::Fallback(s) => s.error_log_len().await,
        }
    }

    // --- invalidation ---------------------------------------------------

    /// Tells every instance (this one included) that `event` happened.
    pub async fn publish(&self, event: Invalidation) -> Result<(), StateError> {
        match self {
            SharedState::InProcess(s) => {
                s.publish(event);
                Ok(())
            }
            SharedState::Redis(s) => s.publish(event).await,
            SharedState::Fallback(s) => s.publish(event).await,
        }
    }

    /// Receives every invalidation published from now on. Messages carry
    /// their origin, so that an instance can skip its own echo with
    /// [`InvalidationMessage::is_from`].
    pub fn subscribe(&self) -> Subscription {
        match self {
            SharedState::InProcess(s) => s.subscribe(),
            SharedState::Redis(s) => s.subscribe(),
            SharedState::Fallback(s) => s.subscribe(),
        }
    }
}

impl From<InProcessState> for SharedState {
    fn from(state: InProcessState) -> Self {
        SharedState::InProcess(state)
    }
}

impl From<RedisState> for SharedState {
    fn from(state: RedisState) -> Self {
        SharedState::Redis(state)
    }
}

impl From<FallbackState> for SharedState {
    fn from(state: FallbackState) -> Self {
        SharedState::Fallback(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The calls the request path awaits box their Redis futures, which are
    /// kilobytes: inline, every caller's future would carry them, in-process
    /// deployments' too, and the selection's future is moved into a box on
    /// every request.
    #[test]
    fn the_request_paths_state_futures_stay_small() {
        const LIMIT: usize = 512;
        let state = SharedState::InProcess(InProcessState::new(&StateConfig::default()));
        let ttl = Duration::from_secs(1);
        let sizes = [
            ("incr", std::mem::size_of_val(&state.incr("k"))),
            (
                "cache_get",
                std::mem::size_of_val(&state.cache_get::<u64>("k")),
            ),
            (
                "cache_set",
                std::mem::size_of_val(&state.cache_set("k", &1_u64, ttl)),
            ),
            (
                "pin_or_claim",
                std::mem::size_of_val(&state.pin_or_claim("k", ttl, Some("c"))),
            ),
        ];
        for (call, size) in sizes {
            assert!(size <= LIMIT, "{call}: {size} bytes, over {LIMIT}");
        }
    }
}
