//! Criterion bench of the shared-state hot path: the round-robin counter and
//! the token cache, in process (nanoseconds) and in Redis (a round trip,
//! microseconds), next to a naive `Mutex<HashMap<String, u64>>` baseline.
//!
//! The Redis group uses `AIGW_TEST_REDIS_URL` (default
//! `redis://127.0.0.1:6379`) under the fixed prefix `aigw-bench:`, so that
//! repeated runs reuse the same few keys; it is skipped with a note when
//! Redis is unreachable.
//!
//! Figures (medians; 2 shared vCPUs under a load average of about 10, so
//! read the ratios rather than the absolute numbers):
//!
//! | bench | time |
//! |---|---|
//! | `state_in_process/incr` | 72 ns |
//! | `state_in_process/incr_naive_mutex_hashmap` | 101 ns (1.4x the store) |
//! | `state_in_process/incr_4_threads` (per op, wall) | 83 ns |
//! | `state_in_process/incr_naive_mutex_hashmap_4_threads` | 83-133 ns |
//! | `state_in_process/token_get_raw` | 162 ns |
//! | `state_in_process/token_get_decoded` (into `serde_json::Value`) | 866 ns |
//! | `state_redis/incr_round_trip` (local Redis 7) | 94 us |
//! | `state_redis/token_get_round_trip` | 88 us |
//!
//! A Redis round trip costs about 1,000 in-process increments: the reason
//! tokens are cached in process first and the steady state allows one
//! Redis round trip per request.

#![expect(
    clippy::disallowed_types,
    reason = "the naive baseline is a map under the standard library's lock"
)]

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use aigateway::repository::state::{InProcessState, RedisState, StateConfig};
use criterion::{Criterion, criterion_group, criterion_main};

const COUNTER: &str = "rr:openai:gpt-4o";
const TOKEN_KEY: &str = "auth:antigravity:7";
const THREADS: u64 = 4;

fn token() -> serde_json::Value {
    serde_json::json!({
        "access_token": "ya29.a0AfB_byC-bench-token-of-a-realistic-length-0123456789",
        "expires_at": "2030-01-01T00:00:00Z",
    })
}

/// What the store replaces: one global lock and an owned key per call.
fn naive_incr(map: &Mutex<HashMap<String, u64>>, key: &str) -> u64 {
    let mut map = map.lock().unwrap_or_else(PoisonError::into_inner);
    let counter = map.entry(key.to_owned()).or_insert(0);
    *counter += 1;
    *counter
}

/// Runs `iters` operations spread over `THREADS` threads hammering one key.
fn contended(iters: u64, op: impl Fn() + Sync) -> Duration {
    let per_thread = iters.div_ceil(THREADS);
    let started = Instant::now();
    thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                for _ in 0..per_thread {
                    op();
                }
            });
        }
    });
    // Wall time for all operations: the figure per operation is the inverse
    // of the group's throughput, comparable with the single-threaded one.
    started.elapsed()
}

fn in_process(c: &mut Criterion) {
    let state = InProcessState::new(&StateConfig::in_process());
    let naive = Mutex::new(HashMap::new());
    state
        .cache_set(TOKEN_KEY, &token(), Duration::from_secs(3600))
        .unwrap_or_else(|error| panic_free_abort(&error.to_string()));

    let mut group = c.benchmark_group("state_in_process");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    group.bench_function("incr", |b| b.iter(|| state.incr(black_box(COUNTER))));
    group.bench_function("incr_naive_mutex_hashmap", |b| {
        b.iter(|| naive_incr(&naive, black_box(COUNTER)))
    });
    group.bench_function("incr_4_threads", |b| {
        b.iter_custom(|iters| {
            contended(iters, || {
                black_box(state.incr(black_box(COUNTER)));
            })
        })
    });
    group.bench_function("incr_naive_mutex_hashmap_4_threads", |b| {
        b.iter_custom(|iters| {
            contended(iters, || {
                black_box(naive_incr(&naive, black_box(COUNTER)));
            })
        })
    });
    group.bench_function("token_get_raw", |b| {
        b.iter(|| state.cache_get_raw(black_box(TOKEN_KEY)))
    });
    group.bench_function("token_get_decoded", |b| {
        b.iter(|| state.cache_get::<serde_json::Value>(black_box(TOKEN_KEY)))
    });
    group.finish();
}

fn redis(c: &mut Criterion) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return skip(&format!("no tokio runtime: {error}")),
    };
    let url = aigw_test_support::redis_url();
    let config = StateConfig {
        key_prefix: "aigw-bench:".to_owned(),
        command_timeout: Duration::from_secs(1),
        pool_size: 1,
        ..StateConfig::redis(url)
    };
    let state = match runtime.block_on(RedisState::connect(&config)) {
        Ok(state) => state,
        Err(error) => return skip(&format!("Redis unreachable: {error}")),
    };
    if let Err(error) =
        runtime.block_on(state.cache_set(TOKEN_KEY, &token(), Duration::from_secs(3600)))
    {
        return skip(&format!("Redis refused a write: {error}"));
    }

    let mut group = c.benchmark_group("state_redis");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("incr_round_trip", |b| {
        b.iter(|| runtime.block_on(state.incr(black_box(COUNTER))))
    });
    group.bench_function("token_get_round_trip", |b| {
        b.iter(|| runtime.block_on(state.cache_get::<serde_json::Value>(black_box(TOKEN_KEY))))
    });
    group.finish();
}

#[expect(clippy::print_stderr, reason = "the skip note is the bench's output")]
fn skip(why: &str) {
    eprintln!("state_redis group skipped: {why}");
}

/// Setting up the in-process store cannot fail in practice; if it ever
/// does, say why and stop without measuring garbage.
#[expect(
    clippy::print_stderr,
    reason = "the failure note is the bench's output"
)]
fn panic_free_abort(why: &str) -> ! {
    eprintln!("state bench setup failed: {why}");
    std::process::exit(1)
}

criterion_group!(benches, in_process, redis);
criterion_main!(benches);
