//! Fault injection: the fallback store keeps serving, within the command
//! timeout, while Redis is cut off or was never there, and returns to Redis
//! by itself once it is back.

use std::time::{Duration, Instant};

use aigw_mock_upstream::Forwarder;
use aigw_repository::state::{
    ErrorLogEntry, FallbackState, Invalidation, LiveCounts, LiveScope, RedisState, SharedState,
    StateBackend, StateConfig,
};
use aigw_test_support::{eventually, redis_url, unique_prefix};
use chrono::{TimeDelta, Utc};
use fred::interfaces::{KeysInterface, SortedSetsInterface};

use super::pubsub::next;
use super::support::{delete_prefix, raw_client};

const COMMAND_TIMEOUT: Duration = Duration::from_millis(50);
/// Scheduling slack on a busy two-core machine, on top of the timeout.
const SLACK: Duration = Duration::from_millis(150);

fn fault_config(url: String) -> StateConfig {
    StateConfig {
        redis_url: Some(url),
        key_prefix: unique_prefix("aigw-test-"),
        pool_size: 2,
        command_timeout: COMMAND_TIMEOUT,
        connect_timeout: Duration::from_secs(2),
        reconnect_max_delay: Duration::from_millis(100),
        probe_interval: Duration::from_millis(50),
        ..StateConfig::default()
    }
}

/// Runs `op` and checks it answered within the timeout plus slack.
async fn quick<T>(what: &str, op: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let value = op.await;
    let took = started.elapsed();
    assert!(
        took <= COMMAND_TIMEOUT + SLACK,
        "{what} took {took:?} while Redis was unreachable"
    );
    value
}

/// Every kind of operation succeeds, quickly, on a store whose Redis is
/// unreachable.
async fn everything_works_without_redis(state: &SharedState) {
    let counter = quick("incr", state.incr("rr:p:m")).await.unwrap();
    assert!(counter >= 1);
    quick(
        "cache_set",
        state.cache_set("auth:p:1", &"token", Duration::from_secs(60)),
    )
    .await
    .unwrap();
    assert_eq!(
        quick("cache_get", state.cache_get::<String>("auth:p:1"))
            .await
            .unwrap()
            .as_deref(),
        Some("token")
    );
    let guard = quick(
        "try_lock",
        state.try_lock("refresh:1", Duration::from_secs(10)),
    )
    .await
    .unwrap()
    .expect("the local lock is free");
    assert!(
        quick(
            "try_lock again",
            state.try_lock("refresh:1", Duration::from_secs(10))
        )
        .await
        .unwrap()
        .is_none()
    );
    assert!(quick("release", guard.release()).await.unwrap());
    let counts = quick(
        "live_add",
        state.live_add(
            LiveScope::Account,
            "1",
            Utc::now().date_naive(),
            LiveCounts {
                requests: 1,
                failures: 1,
            },
        ),
    )
    .await
    .unwrap();
    assert!(counts.requests >= 1 && counts.failures >= 1);
    quick(
        "error_log_append",
        state.error_log_append(&ErrorLogEntry::new(
            "oauth",
            "refresh_token",
            "during the outage",
        )),
    )
    .await
    .unwrap();
    let now = Utc::now();
    let logged = quick(
        "error_log_range",
        state.error_log_range(now - TimeDelta::hours(1), now, 10),
    )
    .await
    .unwrap();
    assert!(logged.iter().any(|e| e.message == "during the outage"));

    let mut inbox = state.subscribe();
    quick("publish", state.publish(Invalidation::Snapshot))
        .await
        .unwrap();
    let local = next(&mut inbox).await;
    assert!(
        local.is_from(state.instance_id()),
        "a degraded instance still hears itself"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn operations_fall_back_while_redis_is_cut_and_return_when_it_is_back() {
    let url = redis_url();
    let Some(raw) = raw_client(&url).await else {
        return;
    };
    let forwarder = Forwarder::for_url(&url, 6379).await.unwrap();
    let config = fault_config(forwarder.url(&url));
    let prefix = config.key_prefix.clone();
    let counter_key = format!("{prefix}counter:rr:p:m");
    let state = SharedState::Fallback(FallbackState::connect(&config).await.unwrap());
    assert!(!state.is_degraded());

    // Healthy: served by Redis.
    assert_eq!(state.incr("rr:p:m").await.unwrap(), 1);
    assert_eq!(raw.get::<i64, _>(&counter_key).await.unwrap(), 1);

    forwarder.cut();
    everything_works_without_redis(&state).await;
    let health = state.health();
    assert_eq!(health.backend, StateBackend::Fallback);
    assert!(health.degraded, "{health:?}");
    assert_eq!(health.outages, 1);
    assert!(health.fallback_operations > 0);
    assert_eq!(
        raw.get::<i64, _>(&counter_key).await.unwrap(),
        1,
        "nothing reached Redis"
    );

    forwarder.restore();
    eventually(
        Duration::from_secs(10),
        "the store to return to Redis",
        || async {
            state.incr("rr:p:m").await.unwrap();
            (!state.is_degraded()).then_some(())
        },
    )
    .await;
    let in_redis = raw.get::<i64, _>(&counter_key).await.unwrap();
    assert!(
        in_redis >= 2,
        "the probe that ended the outage went to Redis"
    );
    assert_eq!(
        state.incr("rr:p:m").await.unwrap(),
        u64::try_from(in_redis).unwrap() + 1
    );
    assert_eq!(raw.get::<i64, _>(&counter_key).await.unwrap(), in_redis + 1);
    assert_eq!(state.health().outages, 1, "one outage, logged once");

    // A value cached only during the outage is not served after it.
    assert_eq!(state.cache_get::<String>("auth:p:1").await.unwrap(), None);
    // The error logged during the outage was moved to Redis.
    assert_eq!(state.error_log_len().await.unwrap(), 1);
    let in_zset: i64 = raw.zcard(format!("{prefix}error_logs")).await.unwrap();
    assert_eq!(in_zset, 1);
    assert!(!state.is_degraded());

    delete_prefix(&raw, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_url_on_a_closed_port_falls_back_from_the_start() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let config = StateConfig {
        connect_timeout: Duration::from_millis(200),
        ..fault_config(format!("redis://127.0.0.1:{closed}"))
    };
    let started = Instant::now();
    let state = SharedState::from_config(&config)
        .await
        .expect("an unreachable Redis is not fatal");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "startup waits at most the connect timeout"
    );
    assert!(state.is_degraded());
    assert_eq!(state.health().outages, 1);
    everything_works_without_redis(&state).await;
    assert!(state.is_degraded());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_subscription_resumes_after_redis_comes_back() {
    let url = redis_url();
    let Some(raw) = raw_client(&url).await else {
        return;
    };
    let forwarder = Forwarder::for_url(&url, 6379).await.unwrap();
    let config = fault_config(forwarder.url(&url));
    let subscriber = FallbackState::connect(&config).await.unwrap();
    let publisher = RedisState::connect(&StateConfig {
        redis_url: Some(url.clone()),
        command_timeout: Duration::from_secs(2),
        ..config.clone()
    })
    .await
    .unwrap();
    let mut inbox = subscriber.subscribe();

    forwarder.cut();
    eventually(
        Duration::from_secs(5),
        "the store to notice the cut",
        || async { (!subscriber.redis().is_connected()).then_some(()) },
    )
    .await;
    forwarder.restore();
    // After reconnecting, the subscriber resubscribes and tells its
    // listeners to rebuild (what was published meanwhile is lost).
    loop {
        let message = next(&mut inbox).await;
        if message.origin == aigw_repository::state::InstanceId::UNKNOWN {
            assert_eq!(message.event, Invalidation::Snapshot);
            break;
        }
    }

    publisher
        .publish(Invalidation::AccountCredentialsChanged { id: "7".into() })
        .await
        .unwrap();
    let message = next(&mut inbox).await;
    assert_eq!(
        message.event,
        Invalidation::AccountCredentialsChanged { id: "7".into() }
    );
    assert!(message.is_from(publisher.instance_id()));

    delete_prefix(&raw, &config.key_prefix).await;
}

#[tokio::test]
async fn without_a_redis_url_state_stays_in_process() {
    let state = SharedState::from_config(&StateConfig::in_process())
        .await
        .unwrap();
    assert_eq!(state.health().backend, StateBackend::InProcess);
    assert!(!state.is_degraded());
    assert_eq!(state.incr("k").await.unwrap(), 1);
}

#[tokio::test]
async fn a_malformed_configuration_is_an_error_not_a_fallback() {
    let bad_url = StateConfig::redis("not a url");
    assert!(SharedState::from_config(&bad_url).await.is_err());
    let bad_timeout = StateConfig {
        command_timeout: Duration::ZERO,
        ..StateConfig::redis("redis://127.0.0.1:6379")
    };
    let error = SharedState::from_config(&bad_timeout).await.unwrap_err();
    assert!(error.to_string().contains("command_timeout"), "{error}");
}
