//! The in-process store: the embedded default, and the fallback while Redis
//! is unreachable. Same semantics as the Redis store, within one process.
//!
//! Every lock here is a `parking_lot` lock held for a map lookup or update
//! only, never across an `.await` (no method of this store is async).

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::broadcast;

use super::config::StateConfig;
use super::error::StateError;
use super::error_log::ErrorLogEntry;
use super::invalidation::BUS_CAPACITY;
use super::invalidation::{InstanceId, Invalidation, InvalidationMessage, Subscription};
use super::live::expires_at;
use super::live::{LiveCounts, LiveScope};
use super::pin::PinOrCount;
use super::window::WindowCount;

/// Shared state kept in this process. Cheap to clone; clones share the state.
#[derive(Clone)]
pub struct InProcessState {
    inner: Arc<Inner>,
}

struct Inner {
    instance: InstanceId,
    /// Read-mostly: a counter is created once per key and then only bumped
    /// through the read lock (the value is atomic), so `incr` on a known key
    /// takes no exclusive lock at all.
    /// Hashed with foldhash: `incr` runs on every request, and the keys are the
    /// gateway's own (one per known model and provider), not a client's choice.
    counters: RwLock<foldhash::HashMap<Box<str>, AtomicU64>>,
    cache: RwLock<Cache>,
    windows: Mutex<Windows>,
    locks: Mutex<Locks>,
    /// Per (scope, day), the counters of each id; expiry depends on the day
    /// only, so whole days are dropped at once.
    live: Mutex<HashMap<(LiveScope, NaiveDate), LiveDay>>,
    /// Ordered by (unix ms, id) like the Redis sorted set.
    errors: Mutex<BTreeMap<(i64, String), ErrorLogEntry>>,
    bus: broadcast::Sender<InvalidationMessage>,
    next_lock_token: AtomicU64,
    live_grace: Duration,
    error_log_max_entries: usize,
}

struct CacheEntry {
    json: Arc<str>,
    /// `None`: the TTL is too long to represent, i.e. never.
    expires_at: Option<Instant>,
}

/// Expired entries are dropped lazily by reads, and in bulk when the map has
/// doubled since the last sweep, which keeps the sweep cost amortised O(1).
/// Past `max_entries` live entries, a tenth of them, those closest to expiry,
/// go at once, so that the cost of finding them is amortised too.
struct Cache {
    entries: HashMap<Box<str>, CacheEntry>,
    sweep_at_len: usize,
    max_entries: usize,
}

impl Cache {
    fn new(max_entries: usize) -> Self {
        let mut cache = Self {
            entries: HashMap::new(),
            sweep_at_len: 0,
            max_entries: max_entries.max(1),
        };
        cache.rearm();
        cache
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.rearm();
    }

    /// The next sweep comes when the map has doubled, or once it is past
    /// `max_entries`, whichever is first.
    fn rearm(&mut self) {
        self.sweep_at_len = (self.entries.len() * 2)
            .max(MIN_SWEEP_LEN)
            .min(self.max_entries.saturating_add(1));
    }

    /// Drops expired entries, then, if still over `max_entries`, the live ones
    /// closest to expiry until a tenth of the room is free again.
    fn sweep(&mut self, now: Instant) {
        self.entries
            .retain(|_, entry| is_live(entry.expires_at, now));
        if self.entries.len() > self.max_entries {
            let keep = self.max_entries - self.max_entries / 10;
            let evict = self.entries.len() - keep;
            // Never-expiring entries (`None`) sort last: they go only if
            // nothing else is left to evict.
            let order = |entry: &CacheEntry| (entry.expires_at.is_none(), entry.expires_at);
            let mut expiries: Vec<_> = self.entries.values().map(order).collect();
            let (_, &mut cut, _) = expiries.select_nth_unstable(evict - 1);
            let mut left = evict;
            self.entries.retain(|_, entry| {
                if left > 0 && order(entry) <= cut {
                    left -= 1;
                    false
                } else {
                    true
                }
            });
        }
        self.rearm();
    }
}

/// Attempt counters by key; expired windows are dropped lazily, and in bulk
/// when the map has doubled since the last sweep (like [`Cache`]).
struct Windows {
    counts: HashMap<Box<str>, WindowEntry>,
    sweep_at_len: usize,
}

struct WindowEntry {
    count: u64,
    ends_at: Instant,
}

struct HeldLock {
    token: u64,
    expires_at: Option<Instant>,
}

struct Locks {
    held: HashMap<Box<str>, HeldLock>,
    sweep_at_len: usize,
}

struct LiveDay {
    expires_at: DateTime<Utc>,
    by_id: HashMap<Box<str>, LiveCounts>,
}

const MIN_SWEEP_LEN: usize = 1024;

fn is_live(expires_at: Option<Instant>, now: Instant) -> bool {
    expires_at.is_none_or(|at| at > now)
}

impl InProcessState {
    /// An empty store with a fresh instance id.
    pub fn new(config: &StateConfig) -> Self {
        Self::with_instance(config, InstanceId::random())
    }

    pub(crate) fn with_instance(config: &StateConfig, instance: InstanceId) -> Self {
        let (bus, _) = broadcast::channel(BUS_CAPACITY);
        Self {
            inner: Arc::new(Inner {
                instance,
                counters: RwLock::new(HashMap::default()),
                cache: RwLock::new(Cache::new(config.cache_max_entries)),
                windows: Mutex::new(Windows {
                    counts: HashMap::new(),
                    sweep_at_len: MIN_SWEEP_LEN,
                }),
                locks: Mutex::new(Locks {
                    held: HashMap::new(),
                    sweep_at_len: MIN_SWEEP_LEN,
                }),
                live: Mutex::new(HashMap::new()),
                errors: Mutex::new(BTreeMap::new()),
                bus,
                next_lock_token: AtomicU64::new(1),
                live_grace: config.live_counter_grace,
                error_log_max_entries: config.error_log_max_entries,
            }),
        }
    }

    /// This instance's id, the origin of its invalidations.
    pub fn instance_id(&self) -> InstanceId {
        self.inner.instance
    }

    pub(crate) fn bus(&self) -> broadcast::Sender<InvalidationMessage> {
        self.inner.bus.clone()
    }

    // --- counters -------------------------------------------------------

    /// Increments the counter `key` and returns its new value (1 first).
    pub fn incr(&self, key: &str) -> u64 {
        {
            let counters = self.inner.counters.read();
            if let Some(counter) = counters.get(key) {
                return counter.fetch_add(1, Ordering::Relaxed) + 1;
            }
        }
        let mut counters = self.inner.counters.write();
        let counter = counters
            .entry(Box::from(key))
            .or_insert_with(|| AtomicU64::new(0));
        counter.fetch_add(1, Ordering::Relaxed) + 1
    }

    // --- windowed attempt counters ---------------------------------------

    /// Counts one attempt against `key` in its window (started by the first
    /// attempt, `window` long) and returns the count so far.
    pub fn window_hit(&self, key: &str, window: Duration) -> WindowCount {
        let window = window.max(Duration::from_millis(1));
        let mut windows = self.inner.windows.lock();
        // Read under the lock: a moment taken before it could precede the start
        // of a window another caller opened meanwhile.
        let now = Instant::now();
        let fresh = || WindowEntry {
            count: 0,
            ends_at: now.checked_add(window).unwrap_or(now),
        };
        let entry = match windows.counts.get_mut(key) {
            Some(entry) => {
                if entry.ends_at <= now {
                    *entry = fresh();
                }
                entry
            }
            None => windows.counts.entry(Box::from(key)).or_insert_with(fresh),
        };
        entry.count = entry.count.saturating_add(1);
        let counted = WindowCount {
            count: entry.count,
            resets_in: entry.ends_at.saturating_duration_since(now),
        };
        if windows.counts.len() >= windows.sweep_at_len {
            windows.counts.retain(|_, entry| entry.ends_at > now);
            windows.sweep_at_len = (windows.counts.len() * 2).max(MIN_SWEEP_LEN);
        }
        counted
    }

    /// Takes one attempt back from `key`, never below zero.
    pub fn window_forgive(&self, key: &str) {
        let mut windows = self.inner.windows.lock();
        if let Some(entry) = windows.counts.get_mut(key) {
            entry.count = entry.count.saturating_sub(1);
            if entry.count == 0 {
                windows.counts.remove(key);
            }
        }
    }

    /// Forgets the attempts counted against `key`.
    pub fn window_reset(&self, key: &str) {
        self.inner.windows.lock().counts.remove(key);
    }

    /// The live value of `pin_key` with its expiry pushed to `ttl` from now,
    /// else the next value of `counter_key` (0 without one), claimed under
    /// `pin_key`. The read lock serves a pin that still has more than half
    /// its TTL; the write lock renews it otherwise, so a busy conversation
    /// does not take it on every turn.
    pub fn pin_or_claim(
        &self,
        pin_key: &str,
        ttl: Duration,
        counter_key: Option<&str>,
    ) -> PinOrCount {
        let now = Instant::now();
        let renew_below = now.checked_add(ttl / 2);
        let found = {
            let cache = self.inner.cache.read();
            cache
                .entries
                .get(pin_key)
                .filter(|e| is_live(e.expires_at, now))
                .map(|e| (Arc::clone(&e.json), e.expires_at < renew_below))
        };
        if let Some((json, renew)) = found {
            if renew {
                let mut cache = self.inner.cache.write();
                if let Some(entry) = cache.entries.get_mut(pin_key) {
                    entry.expires_at = now.checked_add(ttl);
                }
            }
            return PinOrCount::Pinned(json);
        }
        let count = counter_key.map_or(0, |key| self.incr(key));
        // Another turn may have claimed it meanwhile: the first claim stays.
        let mut cache = self.inner.cache.write();
        match cache.entries.get(pin_key) {
            Some(e) if is_live(e.expires_at, now) => PinOrCount::Pinned(Arc::clone(&e.json)),
            _ => {
                let entry = CacheEntry {
                    json: Arc::from(count.to_string()),
                    expires_at: now.checked_add(ttl),
                };
                cache.entries.insert(Box::from(pin_key), entry);
                PinOrCount::Counted(count)
            }
        }
    }

    // --- token cache ----------------------------------------------------

    /// The cached JSON text of `key`, if present and not expired.
    pub fn cache_get_raw(&self, key: &str) -> Option<Arc<str>> {
        let cache = self.inner.cache.read();
        let entry = cache.entries.get(key)?;
        is_live(entry.expires_at, Instant::now()).then(|| Arc::clone(&entry.json))
    }

    /// The cached value of `key`, decoded, if present and not expired.
    pub fn cache_get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StateError> {
        match self.cache_get_raw(key) {
            Some(json) => Ok(Some(serde_json::from_str(&json)?)),
            None => Ok(None),
        }
    }

    /// Caches `value` as JSON under `key` for `ttl` (a zero TTL deletes).
    pub fn cache_set<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<(), StateError> {
        let json = serde_json::to_string(value)?;
        self.cache_set_raw(key, Arc::from(json), ttl);
        Ok(())
    }

    pub(crate) fn cache_set_raw(&self, key: &str, json: Arc<str>, ttl: Duration) {
        if ttl.is_zero() {
            self.cache_delete(key);
            return;
        }
        let now = Instant::now();
        let entry = CacheEntry {
            json,
            expires_at: now.checked_add(ttl),
        };
        let mut cache = self.inner.cache.write();
        cache.entries.insert(Box::from(key), entry);
        if cache.entries.len() >= cache.sweep_at_len {
            cache.sweep(now);
        }
    }

    /// Removes `key` from the cache and returns its live value, decoded: of two
    /// callers taking the same key, at most one gets it (a one-time value such as
    /// an OAuth `state`).
    pub fn cache_take<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StateError> {
        let removed = self.inner.cache.write().entries.remove(key);
        match removed.filter(|entry| is_live(entry.expires_at, Instant::now())) {
            Some(entry) => Ok(Some(serde_json::from_str(&entry.json)?)),
            None => Ok(None),
        }
    }

    /// Removes `key` from the cache; whether a live value was there.
    pub fn cache_delete(&self, key: &str) -> bool {
        let removed = self.inner.cache.write().entries.remove(key);
        removed.is_some_and(|entry| is_live(entry.expires_at, Instant::now()))
    }

    /// Empties the token cache. The fallback store does this when Redis
    /// comes back, so that no value cached during the outage outlives a
    /// deletion made meanwhile by another instance.
    pub(crate) fn cache_clear(&self) {
        self.inner.cache.write().clear();
    }

    // --- single-flight locks -------------------------------------------

    /// Takes the lock `key` for `ttl` unless someone else holds it; the
    /// token that releases it (see [`InProcessState::try_lock`]).
    pub(super) fn take_lock(&self, key: &str, ttl: Duration) -> Option<u64> {
        let now = Instant::now();
        let ttl = ttl.max(Duration::from_millis(1));
        let mut locks = self.inner.locks.lock();
        if let Some(held) = locks.held.get(key)
            && is_live(held.expires_at, now)
        {
            return None;
        }
        let token = self.inner.next_lock_token.fetch_add(1, Ordering::Relaxed);
        locks.held.insert(
            Box::from(key),
            HeldLock {
                token,
                expires_at: now.checked_add(ttl),
            },
        );
        if locks.held.len() >= locks.sweep_at_len {
            locks.held.retain(|_, held| is_live(held.expires_at, now));
            locks.sweep_at_len = (locks.held.len() * 2).max(MIN_SWEEP_LEN);
        }
        drop(locks);
        Some(token)
    }

    /// Compare-and-delete: releases `key` only if `token` still holds it.
    pub(crate) fn release_lock(&self, key: &str, token: u64) -> bool {
        let mut locks = self.inner.locks.lock();
        match locks.held.get(key) {
            Some(held) if held.token == token => {
                let live = is_live(held.expires_at, Instant::now());
                locks.held.remove(key);
                live
            }
            _ => false,
        }
    }

    // --- live counters --------------------------------------------------

    /// Adds `added` (requests and failures) to the counts of `scope`/`id` on
    /// `day`, and returns that day's counts.
    pub fn live_add(
        &self,
        scope: LiveScope,
        id: &str,
        day: NaiveDate,
        added: LiveCounts,
    ) -> LiveCounts {
        let now = Utc::now();
        let mut live = self.inner.live.lock();
        if live
            .get(&(scope, day))
            .is_none_or(|bucket| bucket.expires_at <= now)
        {
            // A day not seen yet (or expired): drop every expired day first.
            live.retain(|_, bucket| bucket.expires_at > now);
        }
        let bucket = live.entry((scope, day)).or_insert_with(|| LiveDay {
            expires_at: expires_at(day, self.inner.live_grace),
            by_id: HashMap::new(),
        });
        let counts = match bucket.by_id.get_mut(id) {
            Some(counts) => counts,
            None => bucket.by_id.entry(Box::from(id)).or_default(),
        };
        counts.requests = counts.requests.saturating_add(added.requests);
        counts.failures = counts.failures.saturating_add(added.failures);
        *counts
    }

    /// The counts of `scope`/`id` on `day` (zero once expired).
    pub fn live_counts(&self, scope: LiveScope, id: &str, day: NaiveDate) -> LiveCounts {
        let live = self.inner.live.lock();
        live.get(&(scope, day))
            .filter(|bucket| bucket.expires_at > Utc::now())
            .and_then(|bucket| bucket.by_id.get(id).copied())
            .unwrap_or_default()
    }

    /// When the counters of `scope`/`id` on `day` expire, if they exist.
    pub fn live_expires_at(
        &self,
        scope: LiveScope,
        id: &str,
        day: NaiveDate,
    ) -> Option<DateTime<Utc>> {
        let live = self.inner.live.lock();
        live.get(&(scope, day))
            .filter(|bucket| bucket.expires_at > Utc::now() && bucket.by_id.contains_key(id))
            .map(|bucket| bucket.expires_at)
    }

    // --- error log ------------------------------------------------------

    /// Appends an entry, dropping the oldest beyond the configured maximum.
    pub fn error_log_append(&self, entry: &ErrorLogEntry) {
        let mut errors = self.inner.errors.lock();
        errors.insert((entry.score(), entry.id.clone()), entry.clone());
        while errors.len() > self.inner.error_log_max_entries {
            errors.pop_first();
        }
    }

    /// Entries with `from <= created_at <= to` (millisecond precision),
    /// newest first, at most `limit`.
    pub fn error_log_range(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Vec<ErrorLogEntry> {
        let (from, to) = (from.timestamp_millis(), to.timestamp_millis());
        if from > to {
            return Vec::new();
        }
        let errors = self.inner.errors.lock();
        let upper = match to.checked_add(1) {
            Some(next) => Bound::Excluded((next, String::new())),
            None => Bound::Unbounded,
        };
        errors
            .range((Bound::Included((from, String::new())), upper))
            .rev()
            .take(limit)
            .map(|(_, entry)| entry.clone())
            .collect()
    }

    /// Removes entries older than `age`; how many were removed.
    pub fn error_log_trim_older_than(&self, age: Duration) -> u64 {
        let cutoff = cutoff_millis(age);
        let mut errors = self.inner.errors.lock();
        let kept = errors.split_off(&(cutoff, String::new()));
        let removed = errors.len();
        *errors = kept;
        removed as u64
    }

    /// Keeps only the newest `max_entries`; how many were removed.
    pub fn error_log_trim_to(&self, max_entries: usize) -> u64 {
        let mut errors = self.inner.errors.lock();
        let mut removed = 0;
        while errors.len() > max_entries {
            errors.pop_first();
            removed += 1;
        }
        removed
    }

    /// Number of entries.
    pub fn error_log_len(&self) -> u64 {
        self.inner.errors.lock().len() as u64
    }

    /// Takes every entry out (oldest first), for the fallback store to move
    /// them to Redis once it is back.
    pub(crate) fn error_log_drain(&self) -> Vec<ErrorLogEntry> {
        std::mem::take(&mut *self.inner.errors.lock())
            .into_values()
            .collect()
    }

    // --- invalidation ---------------------------------------------------

    /// Sends `event` to every subscriber of this store.
    pub fn publish(&self, event: Invalidation) {
        let message = InvalidationMessage {
            origin: self.inner.instance,
            event,
        };
        // No subscriber is not an error: nobody needs to rebuild anything.
        let _ = self.inner.bus.send(message);
    }

    /// Receives every invalidation published from now on.
    pub fn subscribe(&self) -> Subscription {
        Subscription::new(self.inner.bus.subscribe())
    }
}

/// Unix milliseconds of `now - age` (saturating).
pub(crate) fn cutoff_millis(age: Duration) -> i64 {
    let age = i64::try_from(age.as_millis()).unwrap_or(i64::MAX);
    Utc::now().timestamp_millis().saturating_sub(age)
}

impl std::fmt::Debug for InProcessState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessState")
            .field("instance", &self.inner.instance)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_cache_entries_are_swept_when_the_map_grows() {
        let state = InProcessState::new(&StateConfig::default());
        for i in 0..MIN_SWEEP_LEN - 1 {
            state.cache_set_raw(&format!("old{i}"), Arc::from("1"), Duration::from_nanos(1));
        }
        // Every entry above has expired by now (1 ns TTL); the next insert
        // reaches the sweep threshold.
        state.cache_set_raw("fresh", Arc::from("2"), Duration::from_secs(60));
        let cache = state.inner.cache.read();
        assert_eq!(cache.entries.len(), 1);
        assert!(cache.entries.contains_key("fresh"));
    }

    /// Past `cache_max_entries` live entries, those closest to expiry go
    /// (a tenth of the room at once); one that never expires stays, and the
    /// cache never holds more than the limit after an insert.
    #[test]
    fn the_cache_keeps_at_most_its_limit_dropping_the_soonest_to_expire() {
        let config = StateConfig {
            cache_max_entries: 100,
            ..StateConfig::default()
        };
        let state = InProcessState::new(&config);
        state.cache_set_raw("forever", Arc::from("0"), Duration::MAX);
        for i in 0..1_000_u64 {
            // Later keys expire later.
            let ttl = Duration::from_secs(3_600 + i);
            state.cache_set_raw(&format!("k{i}"), Arc::from("1"), ttl);
            assert!(state.inner.cache.read().entries.len() <= 100, "at {i}");
        }
        assert!(state.cache_get_raw("forever").is_some());
        assert!(state.cache_get_raw("k999").is_some(), "the newest stays");
        assert!(
            state.cache_get_raw("k0").is_none(),
            "the soonest to expire went"
        );
        let cache = state.inner.cache.read();
        let kept: Vec<u64> = cache
            .entries
            .keys()
            .filter_map(|k| k.strip_prefix('k')?.parse().ok())
            .collect();
        let oldest_kept = kept.iter().min().copied().unwrap_or_default();
        assert_eq!(
            kept.len() as u64,
            1_000 - oldest_kept,
            "every key from the oldest kept on is there: {kept:?}"
        );
        assert!(
            kept.len() >= 89,
            "at most a tenth and one went: {}",
            kept.len()
        );
    }
}
