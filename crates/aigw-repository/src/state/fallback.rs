//! The fallback store: Redis while it answers, the in-process store while it
//! does not, and back to Redis by itself. A request never fails because
//! Redis is down.
//!
//! While degraded, state is per instance: round-robin counters restart,
//! tokens are cached locally, locks only exclude within this process, and
//! invalidations reach only this process (the others resynchronise when
//! their Redis subscription reconnects).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::config::StateConfig;
use super::error::StateError;
use super::error_log::ErrorLogEntry;
use super::invalidation::{InstanceId, Invalidation, Subscription};
use super::live::{LiveCounts, LiveScope};
use super::memory::InProcessState;
use super::pin::PinOrCount;
use super::redis::RedisState;
use super::window::WindowCount;

/// Redis with an in-process fallback. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct FallbackState {
    inner: Arc<FallbackInner>,
}

struct FallbackInner {
    redis: RedisState,
    local: InProcessState,
    degraded: AtomicBool,
    /// Milliseconds since `epoch` when the outage began.
    degraded_since_ms: AtomicU64,
    outages: AtomicU64,
    fallback_operations: AtomicU64,
    /// While degraded, the first operation at or after this time (ms since
    /// `epoch`) tries Redis again; the others go straight to the fallback.
    next_probe_ms: AtomicU64,
    probe_interval_ms: u64,
    /// Set when Redis came back: error-log entries written meanwhile are
    /// moved to Redis by the next error-log operation.
    errors_to_migrate: AtomicBool,
    epoch: Instant,
}

impl FallbackState {
    /// Starts the Redis store and waits up to `config.connect_timeout` for
    /// it. An unreachable Redis is not an error: the store starts degraded
    /// and switches to Redis once it answers. A malformed configuration is.
    pub async fn connect(config: &StateConfig) -> Result<Self, StateError> {
        config.validate()?;
        let instance = InstanceId::random();
        let local = InProcessState::with_instance(config, instance);
        // Invalidations from Redis land on the in-process bus, so that one
        // subscription serves both modes.
        let redis = RedisState::start(config, instance, local.bus())?;
        let state = Self {
            inner: Arc::new(FallbackInner {
                redis,
                local,
                degraded: AtomicBool::new(false),
                degraded_since_ms: AtomicU64::new(0),
                outages: AtomicU64::new(0),
                fallback_operations: AtomicU64::new(0),
                next_probe_ms: AtomicU64::new(0),
                probe_interval_ms: u64::try_from(config.probe_interval.as_millis())
                    .unwrap_or(u64::MAX),
                errors_to_migrate: AtomicBool::new(false),
                epoch: Instant::now(),
            }),
        };
        if !state.inner.redis.wait_ready(config.connect_timeout).await {
            state.note_unavailable(&StateError::Unreachable(config.connect_timeout));
        }
        Ok(state)
    }

    /// This instance's id, the origin of its invalidations.
    pub fn instance_id(&self) -> InstanceId {
        self.inner.local.instance_id()
    }

    /// Whether operations are currently served by the in-process store.
    pub fn is_degraded(&self) -> bool {
        self.inner.degraded.load(Ordering::Acquire)
    }

    /// Number of outages seen since start.
    pub fn outages(&self) -> u64 {
        self.inner.outages.load(Ordering::Relaxed)
    }

    /// Number of operations served by the in-process store.
    pub fn fallback_operations(&self) -> u64 {
        self.inner.fallback_operations.load(Ordering::Relaxed)
    }

    /// The Redis store underneath.
    pub fn redis(&self) -> &RedisState {
        &self.inner.redis
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.inner.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether this operation should go to Redis: always while healthy;
    /// while degraded, one operation per probe interval, and only once fred
    /// has reconnected (so that probes cost no timeout while Redis is down).
    fn should_try_redis(&self) -> bool {
        if !self.is_degraded() {
            return true;
        }
        let now = self.now_ms();
        let next = self.inner.next_probe_ms.load(Ordering::Relaxed);
        now >= next
            && self.inner.redis.is_connected()
            && self
                .inner
                .next_probe_ms
                .compare_exchange(
                    next,
                    now.saturating_add(self.inner.probe_interval_ms),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    /// Marks Redis unreachable; logs once per outage.
    pub(crate) fn note_unavailable(&self, error: &StateError) {
        let now = self.now_ms();
        self.inner.next_probe_ms.store(
            now.saturating_add(self.inner.probe_interval_ms),
            Ordering::Relaxed,
        );
        if !self.inner.degraded.swap(true, Ordering::AcqRel) {
            self.inner.degraded_since_ms.store(now, Ordering::Relaxed);
            self.inner.outages.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                %error,
                "Redis unreachable: shared state is served from this process until it is back"
            );
        }
    }

    /// Marks Redis reachable; logs once per outage.
    fn note_available(&self) {
        // A plain load first: the healthy path must not write a shared cache
        // line on every operation.
        if self.inner.degraded.load(Ordering::Relaxed)
            && self.inner.degraded.swap(false, Ordering::AcqRel)
        {
            // Values cached during the outage may have been deleted in Redis
            // meanwhile; never serve them again.
            self.inner.local.cache_clear();
            self.inner.errors_to_migrate.store(true, Ordering::Release);
            let outage_ms = self
                .now_ms()
                .saturating_sub(self.inner.degraded_since_ms.load(Ordering::Relaxed));
            tracing::info!(
                outage_ms,
                "Redis reachable again: shared state is back in Redis"
            );
        }
    }

    /// Runs `on_redis` if Redis should serve, else (or if it turns out to be
    /// unavailable) `on_local`. `on_redis` is a future, so it costs nothing
    /// when it is not awaited.
    pub(super) async fn run<T>(
        &self,
        on_redis: impl Future<Output = Result<T, StateError>>,
        on_local: impl FnOnce(&InProcessState) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        if self.should_try_redis() {
            match on_redis.await {
                Ok(value) => {
                    self.note_available();
                    return Ok(value);
                }
                Err(error) if error.is_unavailable() => self.note_unavailable(&error),
                Err(error) => return Err(error),
            }
        }
        self.inner
            .fallback_operations
            .fetch_add(1, Ordering::Relaxed);
        on_local(&self.inner.local)
    }

    // --- counters -------------------------------------------------------

    /// Increments the counter `key` and returns its new value.
    pub async fn incr(&self, key: &str) -> Result<u64, StateError> {
        self.run(self.inner.redis.incr(key), |local| Ok(local.incr(key)))
            .await
    }

    /// A conversation's pin, else the next counter value, claimed.
    pub async fn pin_or_claim(
        &self,
        pin_key: &str,
        ttl: Duration,
        counter_key: Option<&str>,
    ) -> Result<PinOrCount, StateError> {
        self.run(
            self.inner.redis.pin_or_claim(pin_key, ttl, counter_key),
            |local| Ok(local.pin_or_claim(pin_key, ttl, counter_key)),
        )
        .await
    }

    // --- windowed attempt counters ---------------------------------------

    /// Counts one attempt against `key` in its window.
    pub async fn window_hit(&self, key: &str, window: Duration) -> Result<WindowCount, StateError> {
        self.run(self.inner.redis.window_hit(key, window), |local| {
            Ok(local.window_hit(key, window))
        })
        .await
    }

    /// Takes one attempt back from `key`.
    pub async fn window_forgive(&self, key: &str) -> Result<(), StateError> {
        self.run(self.inner.redis.window_forgive(key), |local| {
            local.window_forgive(key);
            Ok(())
        })
        .await
    }

    /// Forgets the attempts counted against `key`.
    pub async fn window_reset(&self, key: &str) -> Result<(), StateError> {
        self.run(self.inner.redis.window_reset(key), |local| {
            local.window_reset(key);
            Ok(())
        })
        .await
    }

    // --- token cache ----------------------------------------------------

    /// The cached value of `key`, decoded, if present.
    pub async fn cache_get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StateError> {
        self.run(self.inner.redis.cache_get(key), |local| {
            local.cache_get(key)
        })
        .await
    }

    /// Caches `value` as JSON under `key` for `ttl`.
    pub async fn cache_set<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<(), StateError> {
        let json = serde_json::to_string(value)?;
        self.run(
            self.inner.redis.cache_set_raw(key, json.clone(), ttl),
            |local| {
                local.cache_set_raw(key, Arc::from(json), ttl);
                Ok(())
            },
        )
        .await
    }

    /// Removes `key` and returns its value, decoded (see
    /// [`SharedState::cache_take`](super::SharedState::cache_take)).
    pub async fn cache_take<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StateError> {
        self.run(self.inner.redis.cache_take(key), |local| {
            local.cache_take(key)
        })
        .await
    }

    /// Removes `key` from the cache; whether it was there.
    pub async fn cache_delete(&self, key: &str) -> Result<bool, StateError> {
        self.run(self.inner.redis.cache_delete(key), |local| {
            Ok(local.cache_delete(key))
        })
        .await
    }

    // --- single-flight locks -------------------------------------------

    // --- live counters --------------------------------------------------

    /// Adds `added` to the counts of `scope`/`id` on `day`.
    pub async fn live_add(
        &self,
        scope: LiveScope,
        id: &str,
        day: NaiveDate,
        added: LiveCounts,
    ) -> Result<LiveCounts, StateError> {
        self.run(self.inner.redis.live_add(scope, id, day, added), |local| {
            Ok(local.live_add(scope, id, day, added))
        })
        .await
    }

    /// The counts of `scope`/`id` on `day`.
    pub async fn live_counts(
        &self,
        scope: LiveScope,
        id: &str,
        day: NaiveDate,
    ) -> Result<LiveCounts, StateError> {
        self.run(self.inner.redis.live_counts(scope, id, day), |local| {
            Ok(local.live_counts(scope, id, day))
        })
        .await
    }

    /// When the counters of `scope`/`id` on `day` expire, if they exist.
    pub async fn live_expires_at(
        &self,
        scope: LiveScope,
        id: &str,
        day: NaiveDate,
    ) -> Result<Option<DateTime<Utc>>, StateError> {
        self.run(self.inner.redis.live_expires_at(scope, id, day), |local| {
            Ok(local.live_expires_at(scope, id, day))
        })
        .await
    }

    // --- error log ------------------------------------------------------

    /// Moves the entries logged during an outage to Redis, once it is back.
    async fn migrate_errors(&self) {
        if self.is_degraded() || !self.inner.errors_to_migrate.swap(false, Ordering::AcqRel) {
            return;
        }
        let mut pending = self.inner.local.error_log_drain().into_iter();
        for entry in pending.by_ref() {
            if let Err(error) = self.inner.redis.error_log_append(&entry).await {
                // Put this entry and the rest back and try again later.
                self.inner.local.error_log_append(&entry);
                for rest in pending {
                    self.inner.local.error_log_append(&rest);
                }
                self.inner.errors_to_migrate.store(true, Ordering::Release);
                if error.is_unavailable() {
                    self.note_unavailable(&error);
                } else {
                    tracing::warn!(%error, "moving error-log entries to Redis failed");
                }
                return;
            }
        }
    }

    /// Appends an entry.
    pub async fn error_log_append(&self, entry: &ErrorLogEntry) -> Result<(), StateError> {
        self.migrate_errors().await;
        self.run(self.inner.redis.error_log_append(entry), |local| {
            local.error_log_append(entry);
            Ok(())
        })
        .await
    }

    /// Entries in `[from, to]`, newest first, at most `limit`.
    pub async fn error_log_range(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ErrorLogEntry>, StateError> {
        self.migrate_errors().await;
        self.run(self.inner.redis.error_log_range(from, to, limit), |local| {
            Ok(local.error_log_range(from, to, limit))
        })
        .await
    }

    /// Removes entries older than `age`; how many were removed.
    pub async fn error_log_trim_older_than(&self, age: Duration) -> Result<u64, StateError> {
        self.migrate_errors().await;
        self.run(self.inner.redis.error_log_trim_older_than(age), |local| {
            Ok(local.error_log_trim_older_than(age))
        })
        .await
    }

    /// Keeps only the newest `max_entries`; how many were removed.
    pub async fn error_log_trim_to(&self, max_entries: usize) -> Result<u64, StateError> {
        self.migrate_errors().await;
        self.run(self.inner.redis.error_log_trim_to(max_entries), |local| {
            Ok(local.error_log_trim_to(max_entries))
        })
        .await
    }

    /// Number of entries.
    pub async fn error_log_len(&self) -> Result<u64, StateError> {
        self.migrate_errors().await;
        self.run(self.inner.redis.error_log_len(), |local| {
            Ok(local.error_log_len())
        })
        .await
    }

    // --- invalidation ---------------------------------------------------

    /// Publishes `event` to every instance through Redis; while degraded,
    /// to this process only.
    pub async fn publish(&self, event: Invalidation) -> Result<(), StateError> {
        self.run(self.inner.redis.publish(event.clone()), |local| {
            local.publish(event);
            Ok(())
        })
        .await
    }

    /// Receives invalidations from Redis and, during an outage, from this
    /// process; one subscription covers both.
    pub fn subscribe(&self) -> Subscription {
        self.inner.local.subscribe()
    }
}

impl std::fmt::Debug for FallbackState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FallbackState")
            .field("redis", &self.inner.redis)
            .field("degraded", &self.is_degraded())
            .field("outages", &self.outages())
            .finish_non_exhaustive()
    }
}
