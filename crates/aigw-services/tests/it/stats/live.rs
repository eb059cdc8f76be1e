//! Live counters: a batch's events are summed per scope, id and UTC day, and
//! each sum is one update of the shared state, in process and in Redis.

use std::time::Duration;

use aigw_domain::{ProviderId, ProxyId};
use aigw_repository::SqlRepository;
use aigw_repository::state::{LiveCounts, LiveScope, SharedState, StateConfig};
use aigw_services::stats::{StatsConfig, StatsEvent, StatsFailure, StatsRecorder};
use aigw_test_support::{Fixture as _, Sqlite, redis_state, redis_url, unique_prefix};
use chrono::{DateTime, Utc};

use super::config;
use super::support::{Fixture, state, test_options};

/// `n` events of one account, through one proxy, of one provider, at `at`;
/// every tenth failed.
fn one_account(fixture: &Fixture, n: usize, at: DateTime<Utc>) -> Vec<StatsEvent> {
    (0..n)
        .map(|i| {
            let mut e = StatsEvent::new(at, format!("req-{i}"));
            e.provider_id = Some(fixture.provider.clone());
            e.account_id = Some(fixture.accounts[0]);
            e.proxy_id = Some(fixture.proxies[0]);
            e.status = 200;
            if i % 10 == 0 {
                e.status = 503;
                e.error = Some(StatsFailure::new("upstream_5xx", "unavailable"));
            }
            e
        })
        .collect()
}

/// Writes `events` as one batch (the batch holds them all and the flush
/// interval is far away, so only the shutdown drain writes) and returns the
/// live-counter updates it made.
async fn one_batch(repo: &SqlRepository, state: &SharedState, events: &[StatsEvent]) -> u64 {
    let config = StatsConfig {
        batch_size: 10_000,
        flush_interval: Duration::from_secs(3600),
        ..config()
    };
    let (recorder, handle) = StatsRecorder::start(repo.clone(), state.clone(), config);
    for event in events {
        recorder.record(event.clone());
    }
    let report = handle.shutdown(Duration::from_secs(30)).await;
    assert!(report.drained, "{report:?}");
    assert_eq!(report.metrics.flushes, 1, "one batch: {report:?}");
    assert_eq!(report.metrics.live_failures, 0);
    report.metrics.live_updates
}

/// What the live counters of the fixture's account, proxy and provider hold
/// on `at`'s day.
async fn counts(state: &SharedState, fixture: &Fixture, at: DateTime<Utc>) -> [LiveCounts; 3] {
    let day = at.date_naive();
    let proxy: ProxyId = fixture.proxies[0];
    let provider: &ProviderId = &fixture.provider;
    [
        state
            .live_counts(LiveScope::Account, &fixture.accounts[0].to_string(), day)
            .await
            .unwrap(),
        state
            .live_counts(LiveScope::Proxy, &proxy.to_string(), day)
            .await
            .unwrap(),
        state
            .live_counts(LiveScope::Provider, provider.as_str(), day)
            .await
            .unwrap(),
    ]
}

/// A batch of 500 events for one account, proxy and provider makes three
/// updates (one per scope), each with the batch's sums.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_one_account_makes_one_update_per_scope() {
    Sqlite(test_options())
        .run(async |repo: SqlRepository| {
            let fixture = Fixture::create(&repo, 1, 1).await;
            let state = state().await;
            let now = Utc::now();
            let events = one_account(&fixture, 500, now);
            assert_eq!(one_batch(&repo, &state, &events).await, 3);
            let expected = LiveCounts {
                requests: 500,
                failures: 50,
            };
            assert_eq!(counts(&state, &fixture, now).await, [expected; 3]);
        })
        .await;
}

/// In Redis the sums of two batches add up to the right totals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_gets_the_batch_totals() {
    let config = StateConfig {
        key_prefix: unique_prefix("aigw-test-"),
        // The keys are left to expire: at the end of their day, plus this.
        live_counter_grace: Duration::from_secs(1),
        connect_timeout: Duration::from_secs(2),
        ..StateConfig::redis(redis_url())
    };
    let Some(redis) = redis_state(&config).await else {
        return;
    };
    let state = SharedState::Redis(redis);
    Sqlite(test_options())
        .run(async |repo: SqlRepository| {
            let fixture = Fixture::create(&repo, 1, 1).await;
            let now = Utc::now();
            let events = one_account(&fixture, 300, now);
            assert_eq!(one_batch(&repo, &state, &events).await, 3);
            assert_eq!(one_batch(&repo, &state, &events[..100]).await, 3);
            let expected = LiveCounts {
                requests: 400,
                failures: 40,
            };
            assert_eq!(counts(&state, &fixture, now).await, [expected; 3]);
        })
        .await;
}
