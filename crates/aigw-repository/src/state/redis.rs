//! The Redis store (via `fred`): state shared by every gateway instance.
//! Every read-modify-write is one atomic command or one Lua script, and
//! every command is bounded by the configured timeout.

use std::sync::Arc;
use std::time::Duration;

use aigw_domain::mask_url_credentials;
use chrono::{DateTime, NaiveDate, Utc};
use fred::clients::{Pool, SubscriberClient, WithOptions};
use fred::error::Error as RedisError;
use fred::interfaces::{
    ClientLike, EventInterface, KeysInterface, LuaInterface, PubsubInterface, SortedSetsInterface,
};
use fred::types::config::{
    Config as FredConfig, ConnectionConfig, Options, PerformanceConfig, ReconnectPolicy, TcpConfig,
    UnresponsiveConfig,
};
use fred::types::sorted_sets::{ZRange, ZRangeBound, ZRangeKind};
use fred::types::{Builder, Expiration, FromValue, Key, SetOptions, Value};
use parking_lot::RwLock;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::AbortHandle;

use super::coalesce::Coalescer;
use super::config::StateConfig;
use super::error::StateError;
use super::error_log::ErrorLogEntry;
use super::invalidation::BUS_CAPACITY;
use super::invalidation::{InstanceId, Invalidation, InvalidationMessage, Subscription};
use super::keys::{KeyLayout, LiveField};
use super::live::expires_at;
use super::live::{LiveCounts, LiveScope};
use super::memory::cutoff_millis;
use super::pin::PinOrCount;
use super::window::WindowCount;

/// Compare-and-delete: only the holder of the token may release the lock.
const RELEASE_LOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// Both day counters, raised by the given increments, and their absolute
/// expiry in one atomic step, so that no counter can exist without its expiry
/// (INCRBY then EXPIRE as two calls leaves an immortal key when the second
/// one is lost).
const LIVE_ADD: &str = r"
local requests = redis.call('INCRBY', KEYS[1], ARGV[1])
local failures = redis.call('INCRBY', KEYS[2], ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
redis.call('PEXPIREAT', KEYS[2], ARGV[3])
return {requests, failures}
";

/// One attempt counted, and the window's expiry set by the attempt that
/// starts it, in one atomic step: INCR then PEXPIRE as two calls leaves a
/// counter that never expires (a user locked out for good) when the second
/// is lost. Returns the count and the milliseconds left in the window.
const WINDOW_HIT: &str = r"
local count = redis.call('INCR', KEYS[1])
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1])
end
return {count, left}
";

/// One attempt taken back; the key goes at zero, and keeps its expiry
/// otherwise (DECR does not touch it). A missing key stays missing.
const WINDOW_FORGIVE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('DECR', KEYS[1]) <= 0 then
    redis.call('DEL', KEYS[1])
  end
end
return 0
";

/// Session affinity in one round trip: a conversation's pin (its TTL
/// renewed), else the next value of the counter when one is named (0
/// otherwise), claimed under the pin's key so that a concurrent turn of the
/// same conversation reads it. KEYS[1] is the pin, KEYS[2] the counter
/// (absent: no counter); ARGV[1] the TTL in milliseconds. Returns
/// `{1, pin}` or `{0, count}`.
const PIN_OR_CLAIM: &str = r"
local pin = redis.call('GET', KEYS[1])
if pin then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  return {1, pin}
end
local count = 0
if KEYS[2] then
  count = redis.call('INCR', KEYS[2])
end
redis.call('SET', KEYS[1], tostring(count), 'PX', ARGV[1])
return {0, count}
";

/// Append and cap in one step, so that the log can never outgrow its cap.
const ERROR_LOG_APPEND: &str = r"
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
return redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[3]) + 1))
";

/// Releases queued by dropped lock guards; beyond this the locks expire.
const RELEASE_QUEUE: usize = 1024;

/// Shared state in Redis. Cheap to clone; clones share the connections.
/// Dropping the last clone stops its connections and background tasks.
#[derive(Clone)]
pub struct RedisState {
    inner: Arc<RedisInner>,
}

struct RedisInner {
    pool: Pool,
    /// The pool with fail-fast, single-attempt, bounded-time options: a
    /// command on a broken connection fails at once instead of waiting for
    /// a reconnect, so that the caller can fall back.
    cmd: WithOptions<Pool>,
    options: Options,
    keys: KeyLayout,
    channel: String,
    instance: InstanceId,
    bus: broadcast::Sender<InvalidationMessage>,
    subscribed: watch::Receiver<bool>,
    releases: mpsc::Sender<(String, String)>,
    scripts: Arc<Scripts>,
    /// Concurrent increments of one counter, claimed in one `INCRBY`.
    counters: Coalescer,
    tasks: Vec<AbortHandle>,
    live_grace: Duration,
    error_log_max_entries: usize,
    redacted_url: String,
}

impl Drop for RedisInner {
    fn drop(&mut self) {
        // fred's connection tasks hold their own handles and would keep
        // reconnecting forever; nobody can use them once this is gone.
        for task in &self.tasks {
            task.abort();
        }
    }
}

struct Scripts {
    release_lock: LuaScript,
    window_hit: LuaScript,
    window_forgive: LuaScript,
    live_add: LuaScript,
    error_log_append: LuaScript,
    pin_or_claim: LuaScript,
}

/// A Lua script run by `EVALSHA`, loaded on first use and again after the
/// server lost its script cache (restart, `SCRIPT FLUSH`).
struct LuaScript {
    source: &'static str,
    sha: RwLock<Option<String>>,
}

impl LuaScript {
    fn new(source: &'static str) -> Self {
        Self {
            source,
            sha: RwLock::new(None),
        }
    }

    async fn run<R: FromValue>(
        &self,
        cmd: &WithOptions<Pool>,
        keys: Vec<Key>,
        args: Vec<Value>,
    ) -> Result<R, RedisError> {
        let known = self.sha.read().clone();
        if let Some(sha) = known {
            match cmd.evalsha(sha, keys.clone(), args.clone()).await {
                Err(error) if error.details().starts_with("NOSCRIPT") => {}
                result => return result,
            }
        }
        let sha: String = cmd.script_load(self.source).await?;
        *self.sha.write() = Some(sha.clone());
        cmd.evalsha(sha, keys, args).await
    }
}

impl RedisState {
    /// Connects to `config.redis_url` and subscribes to invalidations.
    /// Fails with [`StateError::Unreachable`] if Redis does not answer within
    /// `config.connect_timeout`.
    pub async fn connect(config: &StateConfig) -> Result<Self, StateError> {
        let (bus, _) = broadcast::channel(BUS_CAPACITY);
        let state = Self::start(config, InstanceId::random(), bus)?;
        if state.wait_ready(config.connect_timeout).await {
            Ok(state)
        } else {
            Err(StateError::Unreachable(config.connect_timeout))
        }
    }

    /// Builds the clients and starts their connection tasks without waiting
    /// for Redis; invalidations from Redis are forwarded into `bus`.
    pub(crate) fn start(
        config: &StateConfig,
        instance: InstanceId,
        bus: broadcast::Sender<InvalidationMessage>,
    ) -> Result<Self, StateError> {
        config.validate()?;
        let url = config
            .redis_url
            .as_deref()
            .ok_or(StateError::InvalidConfig(
                "redis_url is required for the Redis store",
            ))?;
        let mut fred_config = FredConfig::from_url(url).map_err(StateError::InvalidRedisUrl)?;
        // Keep retrying when Redis is down at startup instead of giving up:
        // the fallback store serves meanwhile.
        fred_config.fail_fast = false;

        let perf = PerformanceConfig {
            default_command_timeout: config.command_timeout,
            ..PerformanceConfig::default()
        };
        // Close a connection whose replies stall, so that a silently dead
        // peer is detected and reconnected.
        let stall = config.connect_timeout.max(Duration::from_secs(1));
        let connection = ConnectionConfig {
            connection_timeout: config.connect_timeout,
            internal_command_timeout: config.connect_timeout,
            // One attempt: a command whose connection broke fails (and falls
            // back) instead of being replayed, which could double an INCR.
            max_command_attempts: 1,
            tcp: TcpConfig {
                nodelay: Some(true),
                ..TcpConfig::default()
            },
            unresponsive: UnresponsiveConfig {
                max_timeout: Some(stall),
                interval: stall / 4,
            },
            ..ConnectionConfig::default()
        };
        let max_delay = u32::try_from(config.reconnect_max_delay.as_millis()).unwrap_or(u32::MAX);
        let policy = ReconnectPolicy::new_exponential(0, max_delay.min(50), max_delay, 2);

        let mut builder = Builder::from_config(fred_config);
        builder
            .set_performance_config(perf)
            .set_connection_config(connection)
            .set_policy(policy);
        let pool = builder.build_pool(config.pool_size)?;
        let subscriber = builder.build_subscriber_client()?;

        let options = Options {
            fail_fast: true,
            max_attempts: Some(1),
            timeout: Some(config.command_timeout),
            ..Options::default()
        };

        let keys = KeyLayout::new(config.key_prefix.clone());
        let channel = keys.invalidation_channel();
        let scripts = Arc::new(Scripts {
            release_lock: LuaScript::new(RELEASE_LOCK),
            window_hit: LuaScript::new(WINDOW_HIT),
            window_forgive: LuaScript::new(WINDOW_FORGIVE),
            live_add: LuaScript::new(LIVE_ADD),
            error_log_append: LuaScript::new(ERROR_LOG_APPEND),
            pin_or_claim: LuaScript::new(PIN_OR_CLAIM),
        });

        let mut tasks: Vec<AbortHandle> = pool
            .connect_pool()
            .into_iter()
            .map(|task| task.abort_handle())
            .collect();
        // Listen before connecting, so that the first connection's event is
        // always seen and never mistaken for a reconnect.
        let events = SubscriberEvents {
            messages: subscriber.message_rx(),
            reconnects: subscriber.reconnect_rx(),
        };
        tasks.push(subscriber.connect().abort_handle());

        let (ready_tx, subscribed) = watch::channel(false);
        tasks.push(spawn_owned(keep_subscribed(
            subscriber,
            events,
            channel.clone(),
            bus.clone(),
            ready_tx,
            config.reconnect_max_delay,
        )));

        let cmd = pool.with_options(&options);
        let (releases, release_rx) = mpsc::channel(RELEASE_QUEUE);
        tasks.push(spawn_owned(release_dropped_locks(
            cmd.clone(),
            keys.clone(),
            Arc::clone(&scripts),
            release_rx,
        )));

        Ok(Self {
            inner: Arc::new(RedisInner {
                pool,
                cmd,
                options,
                keys,
                channel,
                instance,
                bus,
                subscribed,
                releases,
                scripts,
                counters: Coalescer::default(),
                tasks,
                live_grace: config.live_counter_grace,
                error_log_max_entries: config.error_log_max_entries,
                redacted_url: mask_url_credentials(url),
            }),
        })
    }

    /// Waits until every pooled connection is up and invalidations are
    /// subscribed; `false` if that took longer than `limit`.
    pub(crate) async fn wait_ready(&self, limit: Duration) -> bool {
        let mut subscribed = self.inner.subscribed.clone();
        let ready = async {
            loop {
                let connected = self.inner.pool.clients().iter().all(|c| c.is_connected());
                if connected && *subscribed.borrow_and_update() {
                    return;
                }
                // fred offers no race-free "all connected" signal: re-check
                // on every subscription change and every few milliseconds.
                tokio::select! {
                    changed = subscribed.changed() => {
                        if changed.is_err() {
                            std::future::pending::<()>().await;
                        }
                    }
                    () = tokio::time::sleep(Duration::from_millis(5)) => {}
                }
            }
        };
        tokio::time::timeout(limit, ready).await.is_ok()
    }

    /// Whether at least one pooled connection is up (no network round trip).
    pub fn is_connected(&self) -> bool {
        self.inner.pool.clients().iter().any(|c| c.is_connected())
    }

    /// The key layout under this store's prefix.
    pub fn keys(&self) -> &KeyLayout {
        &self.inner.keys
    }

    /// This instance's id, the origin of its invalidations.
    pub fn instance_id(&self) -> InstanceId {
        self.inner.instance
    }

    // --- counters -------------------------------------------------------

    /// Increments the counter `key` and returns its new value. Concurrent
    /// increments of one counter by this instance share one `INCRBY`, each
    /// with its own value (see `coalesce`).
    pub async fn incr(&self, key: &str) -> Result<u64, StateError> {
        self.inner
            .counters
            .next(key, |n| async move {
                let counter = self.inner.keys.counter(key);
                let value: i64 = self.inner.cmd.incr_by(counter, increment(n)).await?;
                u64::try_from(value).map_err(|_| StateError::UnexpectedReply("negative counter"))
            })
            .await
    }

    /// A conversation's pin (`GET`, and `PEXPIRE` to renew it), else `INCR`
    /// of the counter and the claim's `SET … PX`: one script call.
    pub async fn pin_or_claim(
        &self,
        pin_key: &str,
        ttl: Duration,
        counter_key: Option<&str>,
    ) -> Result<PinOrCount, StateError> {
        let mut keys = vec![Key::from(self.inner.keys.cache(pin_key))];
        if let Some(counter) = counter_key {
            keys.push(Key::from(self.inner.keys.counter(counter)));
        }
        let reply: Vec<Value> = self
            .inner
            .scripts
            .pin_or_claim
            .run(
                &self.inner.cmd,
                keys,
                vec![Value::Integer(millis_at_least_one(ttl))],
            )
            .await?;
        let unexpected = StateError::UnexpectedReply("pin-or-claim script");
        match reply.as_slice() {
            [Value::Integer(1), pin] => match pin.as_str() {
                Some(pin) => Ok(PinOrCount::Pinned(std::sync::Arc::from(&*pin))),
                None => Err(unexpected),
            },
            [Value::Integer(0), Value::Integer(count)] => {
                Ok(PinOrCount::Counted(non_negative(*count)?))
            }
            _ => Err(unexpected),
        }
    }

    // --- windowed attempt counters ---------------------------------------

    /// Counts one attempt against `key` (one script call: `INCR`, and
    /// `PEXPIRE` when it starts the window) and returns the count so far.
    pub async fn window_hit(&self, key: &str, window: Duration) -> Result<WindowCount, StateError> {
        let reply: Vec<i64> = self
            .inner
            .scripts
            .window_hit
            .run(
                &self.inner.cmd,
                vec![Key::from(self.inner.keys.window(key))],
                vec![Value::Integer(millis_at_least_one(window))],
            )
            .await?;
        match reply.as_slice() {
            [count, left] => Ok(WindowCount {
                count: non_negative(*count)?,
                resets_in: Duration::from_millis(non_negative(*left)?),
            }),
            _ => Err(StateError::UnexpectedReply("window counter script")),
        }
    }

    /// Takes one attempt back from `key` (one script call).
    pub async fn window_forgive(&self, key: &str) -> Result<(), StateError> {
        let _: i64 = self
            .inner
            .scripts
            .window_forgive
            .run(
                &self.inner.cmd,
                vec![Key::from(self.inner.keys.window(key))],
                vec![],
            )
            .await?;
        Ok(())
    }

    /// `DEL`: forgets the attempts counted against `key`.
    pub async fn window_reset(&self, key: &str) -> Result<(), StateError> {
        let _: i64 = self.inner.cmd.del(self.inner.keys.window(key)).await?;
        Ok(())
    }

    // --- token cache ----------------------------------------------------

    /// The cached JSON text of `key`, if present.
    pub async fn cache_get_raw(&self, key: &str) -> Result<Option<String>, StateError> {
        Ok(self.inner.cmd.get(self.inner.keys.cache(key)).await?)
    }

    /// The cached value of `key`, decoded, if present.
    pub async fn cache_get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StateError> {
        match self.cache_get_raw(key).await? {
            Some(json) => Ok(Some(serde_json::from_str(&json)?)),
            None => Ok(None),
        }
    }

    /// `SET … PX`: caches `value` as JSON under `key` for `ttl` (a zero TTL
    /// deletes).
    pub async fn cache_set<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<(), StateError> {
        let json = serde_json::to_string(value)?;
        self.cache_set_raw(key, json, ttl).await
    }

    pub(crate) async fn cache_set_raw(
        &self,
        key: &str,
        json: String,
        ttl: Duration,
    ) -> Result<(), StateError> {
        if ttl.is_zero() {
            self.cache_delete(key).await?;
            return Ok(());
        }
        let () = self
            .inner
            .cmd
            .set(
                self.inner.keys.cache(key),
                json,
                Some(Expiration::PX(millis_at_least_one(ttl))),
                None,
                false,
            )
            .await?;
        Ok(())
    }

    /// `GETDEL`: removes `key` and returns its value, decoded, in one atomic
    /// step, so that a one-time value is taken by at most one caller across
    /// every instance.
    pub async fn cache_take<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StateError> {
        let raw: Option<String> = self.inner.cmd.getdel(self.inner.keys.cache(key)).await?;
        match raw {
            Some(json) => Ok(Some(serde_json::from_str(&json)?)),
            None => Ok(None),
        }
    }

    /// Removes `key` from the cache; whether it was there.
    pub async fn cache_delete(&self, key: &str) -> Result<bool, StateError> {
        let removed: i64 = self.inner.cmd.del(self.inner.keys.cache(key)).await?;
        Ok(removed > 0)
    }

    // --- single-flight locks -------------------------------------------

    /// `SET NX PX` with a random token: takes the lock `key` for `ttl`
    /// unless someone else holds it; the token that releases it (see
    /// [`RedisState::try_lock`]).
    pub(super) async fn take_lock(
        &self,
        key: &str,
        ttl: Duration,
    ) -> Result<Option<String>, StateError> {
        let token = format!("{:032x}", rand::random::<u128>());
        let reply: Option<String> = self
            .inner
            .cmd
            .set(
                self.inner.keys.lock(key),
                token.as_str(),
                Some(Expiration::PX(millis_at_least_one(ttl))),
                Some(SetOptions::NX),
                false,
            )
            .await?;
        Ok(reply.map(|_| token))
    }

    pub(crate) async fn release_lock(&self, key: &str, token: &str) -> Result<bool, StateError> {
        release(
            &self.inner.cmd,
            &self.inner.keys,
            &self.inner.scripts,
            key,
            token,
        )
        .await
    }

    /// Queues the release of a dropped guard's lock. If the queue is full or
    /// the store is gone, the lock simply expires.
    pub(crate) fn release_in_background(&self, key: String, token: String) {
        if self.inner.releases.try_send((key, token)).is_err() {
            tracing::debug!("lock release queue full; the lock will expire by its TTL");
        }
    }

    // --- live counters --------------------------------------------------

    /// Adds `added` to the counts of `scope`/`id` on `day` and returns that
    /// day's counts: one script call (`INCRBY` both counters, then
    /// `PEXPIREAT` both), whatever the increments.
    pub async fn live_add(
        &self,
        scope: LiveScope,
        id: &str,
        day: NaiveDate,
        added: LiveCounts,
    ) -> Result<LiveCounts, StateError> {
        let keys = vec![
            Key::from(self.inner.keys.live(scope, id, day, LiveField::Requests)),
            Key::from(self.inner.keys.live(scope, id, day, LiveField::Failures)),
        ];
        let expiry = expires_at(day, self.inner.live_grace).timestamp_millis();
        let args = vec![
            Value::Integer(increment(added.requests)),
            Value::Integer(increment(added.failures)),
            Value::Integer(expiry),
        ];
        let counts: Vec<i64> = self
            .inner
            .scripts
            .live_add
            .run(&self.inner.cmd, keys, args)
            .await?;
        match counts.as_slice() {
            [requests, failures] => Ok(LiveCounts {
                requests: non_negative(*requests)?,
                failures: non_negative(*failures)?,
            }),
            _ => Err(StateError::UnexpectedReply("live counter script")),
        }
    }

    /// The counts of `scope`/`id` on `day` (zero once expired).
    pub async fn live_counts(
        &self,
        scope: LiveScope,
        id: &str,
        day: NaiveDate,
    ) -> Result<LiveCounts, StateError> {
        let keys = vec![
            self.inner.keys.live(scope, id, day, LiveField::Requests),
            self.inner.keys.live(scope, id, day, LiveField::Failures),
        ];
        let values: Vec<Option<i64>> = self.inner.cmd.mget(keys).await?;
        match values.as_slice() {
            [requests, failures] => Ok(LiveCounts {
                requests: non_negative(requests.unwrap_or(0))?,
                failures: non_negative(failures.unwrap_or(0))?,
            }),
            _ => Err(StateError::UnexpectedReply("MGET of live counters")),
        }
    }

    /// `PEXPIRETIME` of the counters of `scope`/`id` on `day`, if they exist.
    pub async fn live_expires_at(
        &self,
        scope: LiveScope,
        id: &str,
        day: NaiveDate,
    ) -> Result<Option<DateTime<Utc>>, StateError> {
        let key = self.inner.keys.live(scope, id, day, LiveField::Requests);
        let millis: i64 = self.inner.cmd.pexpire_time(key).await?;
        match millis {
            -2 => Ok(None),
            -1 => Err(StateError::UnexpectedReply("live counter without expiry")),
            millis => DateTime::from_timestamp_millis(millis)
                .map(Some)
                .ok_or(StateError::UnexpectedReply("expiry out of range")),
        }
    }

    // --- error log ------------------------------------------------------

    /// `ZADD` (score = unix ms), then trims to the configured maximum.
    pub async fn error_log_append(&self, entry: &ErrorLogEntry) -> Result<(), StateError> {
        let member = serde_json::to_string(entry)?;
        let max = i64::try_from(self.inner.error_log_max_entries).unwrap_or(i64::MAX);
        let args = vec![
            Value::Integer(entry.score()),
            Value::from(member),
            Value::Integer(max),
        ];
        let _trimmed: i64 = self
            .inner
            .scripts
            .error_log_append
            .run(
                &self.inner.cmd,
                vec![Key::from(self.inner.keys.error_log())],
                args,
            )
            .await?;
        Ok(())
    }

    /// Entries with `from <= created_at <= to` (millisecond precision),
    /// newest first, at most `limit`. Members that do not decode (written by
    /// something else) are skipped.
    pub async fn error_log_range(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ErrorLogEntry>, StateError> {
        if limit == 0 || from > to {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let members: Vec<String> = self
            .inner
            .cmd
            .zrevrangebyscore(
                self.inner.keys.error_log(),
                score_bound(to.timestamp_millis(), ZRangeKind::Inclusive),
                score_bound(from.timestamp_millis(), ZRangeKind::Inclusive),
                false,
                Some((0, limit)),
            )
            .await?;
        Ok(members
            .iter()
            .filter_map(|member| match serde_json::from_str(member) {
                Ok(entry) => Some(entry),
                Err(error) => {
                    tracing::warn!(%error, "skipping an undecodable error-log entry");
                    None
                }
            })
            .collect())
    }

    /// `ZREMRANGEBYSCORE -inf (now-age`: removes entries older than `age`.
    pub async fn error_log_trim_older_than(&self, age: Duration) -> Result<u64, StateError> {
        let removed: i64 = self
            .inner
            .cmd
            .zremrangebyscore(
                self.inner.keys.error_log(),
                "-inf",
                score_bound(cutoff_millis(age), ZRangeKind::Exclusive),
            )
            .await?;
        non_negative(removed)
    }

    /// `ZREMRANGEBYRANK`: keeps only the newest `max_entries`.
    pub async fn error_log_trim_to(&self, max_entries: usize) -> Result<u64, StateError> {
        let keep = i64::try_from(max_entries).unwrap_or(i64::MAX - 1);
        let removed: i64 = self
            .inner
            .cmd
            .zremrangebyrank(self.inner.keys.error_log(), 0, -(keep + 1))
            .await?;
        non_negative(removed)
    }

    /// `ZCARD`: number of entries.
    pub async fn error_log_len(&self) -> Result<u64, StateError> {
        let len: i64 = self.inner.cmd.zcard(self.inner.keys.error_log()).await?;
        non_negative(len)
    }

    // --- invalidation ---------------------------------------------------

    /// `PUBLISH`es `event` to every instance (this one included).
    pub async fn publish(&self, event: Invalidation) -> Result<(), StateError> {
        let message = InvalidationMessage {
            origin: self.inner.instance,
            event,
        };
        let payload = serde_json::to_string(&message)?;
        let _receivers: i64 = self
            .inner
            .pool
            .next_connected()
            .with_options(&self.inner.options)
            .publish(self.inner.channel.as_str(), payload)
            .await?;
        Ok(())
    }

    /// Receives the invalidations of every instance from now on, plus a
    /// [resync](InvalidationMessage::resync) after each reconnect (messages
    /// sent while disconnected are lost).
    pub fn subscribe(&self) -> Subscription {
        Subscription::new(self.inner.bus.subscribe())
    }
}

impl std::fmt::Debug for RedisState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisState")
            .field("url", &self.inner.redacted_url)
            .field("prefix", &self.inner.keys.prefix())
            .field("instance", &self.inner.instance)
            .finish_non_exhaustive()
    }
}

async fn release(
    cmd: &WithOptions<Pool>,
    keys: &KeyLayout,
    scripts: &Scripts,
    key: &str,
    token: &str,
) -> Result<bool, StateError> {
    let released: i64 = scripts
        .release_lock
        .run(
            cmd,
            vec![Key::from(keys.lock(key))],
            vec![Value::from(token)],
        )
        .await?;
    Ok(released == 1)
}

/// Releases the locks of dropped guards, one at a time, until the store is
/// dropped (which aborts this task).
async fn release_dropped_locks(
    cmd: WithOptions<Pool>,
    keys: KeyLayout,
    scripts: Arc<Scripts>,
    mut rx: mpsc::Receiver<(String, String)>,
) {
    while let Some((key, token)) = rx.recv().await {
        if let Err(error) = release(&cmd, &keys, &scripts, &key, &token).await {
            tracing::debug!(%error, "releasing a dropped lock failed; it will expire by its TTL");
        }
    }
}

struct SubscriberEvents {
    messages: broadcast::Receiver<fred::types::Message>,
    reconnects: broadcast::Receiver<fred::types::config::Server>,
}

/// Keeps the invalidation channel subscribed across reconnects and forwards
/// its messages into `bus`. After a reconnect (not the first connection) it
/// sends a resync, because whatever was published while disconnected is
/// gone.
async fn keep_subscribed(
    subscriber: SubscriberClient,
    mut events: SubscriberEvents,
    channel: String,
    bus: broadcast::Sender<InvalidationMessage>,
    ready: watch::Sender<bool>,
    retry: Duration,
) {
    let mut need_subscribe = true;
    let mut connected_before = false;
    let mut resync_after_subscribe = false;
    loop {
        if need_subscribe {
            match confirmed_subscribe(&subscriber, &channel).await {
                Ok(()) => {
                    need_subscribe = false;
                    ready.send_replace(true);
                    if resync_after_subscribe {
                        resync_after_subscribe = false;
                        let _ = bus.send(InvalidationMessage::resync());
                    }
                }
                Err(error) => {
                    tracing::debug!(%error, "subscribing to invalidations failed; retrying");
                }
            }
        }
        tokio::select! {
            message = events.messages.recv() => match message {
                Ok(message) if *message.channel == *channel => {
                    let forwarded = match message.value.as_str() {
                        Some(payload) => InvalidationMessage::decode(&payload),
                        None => InvalidationMessage::resync(),
                    };
                    let _ = bus.send(forwarded);
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let _ = bus.send(InvalidationMessage::resync());
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            connected = events.reconnects.recv() => match connected {
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    ready.send_replace(false);
                    resync_after_subscribe |= connected_before;
                    connected_before = true;
                    need_subscribe = true;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            () = tokio::time::sleep(retry), if need_subscribe => {}
        }
    }
}

/// `SUBSCRIBE`, then a `PING` on the same connection. fred reports a
/// `SUBSCRIBE` done once it is written; the `PING` reply proves Redis has
/// processed it, so that nothing published afterwards can be missed.
async fn confirmed_subscribe(
    subscriber: &SubscriberClient,
    channel: &str,
) -> Result<(), RedisError> {
    subscriber.subscribe(channel).await?;
    let _pong: Value = subscriber.ping(None).await?;
    Ok(())
}

#[expect(
    clippy::disallowed_methods,
    reason = "one subscription keeper and one lock releaser per store, owned by it and aborted when it is dropped"
)]
fn spawn_owned<F>(task: F) -> AbortHandle
where
    F: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(task).abort_handle()
}

fn millis_at_least_one(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis())
        .unwrap_or(i64::MAX)
        .max(1)
}

/// A count as a Redis increment (`INCRBY` takes a signed 64-bit integer).
/// Saturates: a count beyond `i64::MAX` cannot occur, and if it did, Redis
/// would refuse the overflowing `INCRBY` rather than wrap.
fn increment(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

fn non_negative(value: i64) -> Result<u64, StateError> {
    u64::try_from(value).map_err(|_| StateError::UnexpectedReply("negative count"))
}

fn score_bound(millis: i64, kind: ZRangeKind) -> ZRange {
    // Unix milliseconds stay far below 2^53, so the f64 score is exact.
    let score = millis as f64;
    ZRange {
        kind,
        range: ZRangeBound::Score(score),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_below_a_millisecond_round_up() {
        assert_eq!(millis_at_least_one(Duration::from_micros(10)), 1);
        assert_eq!(millis_at_least_one(Duration::from_millis(1500)), 1500);
    }
}
