//! Events become rows exactly, on SQLite and PostgreSQL.

use std::collections::BTreeSet;
use std::time::Duration;

use aigw_domain::{Page, ProxyStatsFilter, RequestLogFilter};
use aigw_repository::SqlRepository;
use aigw_repository::state::LiveScope;
use aigw_services::stats::{StatsConfig, StatsEvent, StatsRecorder};
use aigw_test_support::wait_until;
use chrono::Utc;

use super::support::{Fixture, WAIT, backend_tests, state};
use super::{config, expected_proxy_sums, workload};

async fn log_count(repo: &SqlRepository) -> i64 {
    repo.list_request_logs(&RequestLogFilter::default(), Page::new(1, 0))
        .await
        .unwrap()
        .total
}

/// N requests (some with a failed first attempt), then shutdown: one row per
/// event, proxy-stats sums per proxy and day, account usage and the live
/// counters all match the events.
async fn every_event_becomes_rows_and_sums(repo: SqlRepository) {
    let fixture = Fixture::create(&repo, 3, 2).await;
    let state = state().await;
    let (recorder, handle) = StatsRecorder::start(repo.clone(), state.clone(), config());
    let now = Utc::now();
    let events = workload(&fixture, 300, now);
    let failed_attempts = events.iter().filter(|e| e.error.is_some()).count();
    assert_eq!(events.len(), 300 + failed_attempts);
    for event in &events {
        recorder.record(event.clone());
    }
    let report = handle.shutdown(Duration::from_secs(30)).await;
    assert!(report.drained, "{report:?}");
    assert_eq!(report.dropped, 0);
    assert_eq!(report.metrics.dropped(), 0);
    assert_eq!(report.metrics.enqueued, events.len() as u64);
    assert_eq!(report.metrics.flushed_rows, events.len() as u64);
    assert_eq!(report.metrics.queue_depth, 0);
    assert_eq!(report.metrics.backlog_len, 0);

    // request_logs: exactly one row per event, with its columns.
    let logs = repo
        .list_request_logs(&RequestLogFilter::default(), Page::new(1000, 0))
        .await
        .unwrap();
    assert_eq!(logs.total, events.len() as i64);
    let ids: BTreeSet<_> = logs.data.iter().map(|l| l.request_id.clone()).collect();
    assert_eq!(ids.len(), 300, "one distinct request id per request");
    let tokens: i64 = logs.data.iter().filter_map(|l| l.input_tokens).sum();
    assert_eq!(tokens, (0..300).sum::<i64>());
    let failed: Vec<_> = logs.data.iter().filter(|l| l.status_code == 429).collect();
    assert_eq!(failed.len(), failed_attempts);
    assert!(
        failed
            .iter()
            .all(|l| l.error_kind.as_deref() == Some("rate_limited")
                && l.attempt == 1
                && l.input_tokens.is_none())
    );
    let retried = logs
        .data
        .iter()
        .find(|l| l.request_id == "req-7" && l.attempt == 2)
        .unwrap();
    assert_eq!(
        retried.switched_from_account_id,
        Some(fixture.accounts[7 % 3])
    );
    assert_eq!(retried.account_id, Some(fixture.accounts[8 % 3]));
    assert_eq!(retried.status_code, 200);

    // proxy_stats: per proxy, summed over its days, and split by UTC day.
    let stats = repo
        .list_proxy_stats(&ProxyStatsFilter::default(), Page::new(1000, 0))
        .await
        .unwrap();
    for &proxy in &fixture.proxies {
        let rows: Vec<_> = stats.data.iter().filter(|s| s.proxy_id == proxy).collect();
        assert_eq!(rows.len(), 2, "today and two days ago");
        let sums = rows.iter().fold((0, 0, 0, 0), |acc, r| {
            (
                acc.0 + r.request_count,
                acc.1 + r.success_count,
                acc.2 + r.error_count,
                acc.3 + r.total_latency_ms,
            )
        });
        assert_eq!(sums, expected_proxy_sums(&events, proxy));
        assert!(
            rows.iter()
                .all(|r| r.provider_id.as_ref() == Some(&fixture.provider))
        );
    }
    let today = now.date_naive();
    let today_requests: i64 = stats
        .data
        .iter()
        .filter(|s| s.date == today)
        .map(|s| s.request_count)
        .sum();
    let expected_today = events
        .iter()
        .filter(|e| e.proxy_id.is_some() && e.at.date_naive() == today)
        .count();
    assert_eq!(today_requests, expected_today as i64);

    // accounts: one use per attempt, and a last-used time.
    for &account in &fixture.accounts {
        let expected = events
            .iter()
            .filter(|e| e.account_id == Some(account))
            .count();
        let stored = repo.get_account(account).await.unwrap();
        assert_eq!(stored.usage_count, expected as i64);
        assert!(stored.last_used_at.is_some());
    }

    // live counters: today's requests and failures per account.
    for &account in &fixture.accounts {
        let today_events: Vec<&StatsEvent> = events
            .iter()
            .filter(|e| e.account_id == Some(account) && e.at.date_naive() == today)
            .collect();
        let counts = state
            .live_counts(LiveScope::Account, &account.to_string(), today)
            .await
            .unwrap();
        assert_eq!(counts.requests, today_events.len() as u64);
        assert_eq!(
            counts.failures,
            today_events.iter().filter(|e| e.failed()).count() as u64
        );
    }
    let provider = state
        .live_counts(LiveScope::Provider, fixture.provider.as_str(), today)
        .await
        .unwrap();
    assert_eq!(
        provider.requests,
        events.iter().filter(|e| e.at.date_naive() == today).count() as u64
    );
}

/// A partial batch is written once `flush_interval` has passed, without a
/// shutdown.
async fn a_partial_batch_is_flushed_after_the_interval(repo: SqlRepository) {
    let fixture = Fixture::create(&repo, 1, 1).await;
    let config = StatsConfig {
        batch_size: 1_000,
        flush_interval: Duration::from_millis(50),
        ..config()
    };
    let (recorder, handle) = StatsRecorder::start(repo.clone(), state().await, config);
    for event in workload(&fixture, 5, Utc::now()).into_iter().take(5) {
        recorder.record(event);
    }
    wait_until(WAIT, "five rows written", || async {
        log_count(&repo).await == 5
    })
    .await;
    wait_until(WAIT, "the batch complete", || async {
        recorder.metrics().flushes == 1
    })
    .await;
    let report = handle.shutdown(Duration::from_secs(10)).await;
    assert_eq!(report.written_rows, 0, "nothing was left for the drain");
}

/// Once a whole flush interval passes without an event after a write, the
/// writer has the database hand back the cache its writes filled: once per
/// quiet spell, not again until something is written, and never while events
/// keep arriving.
async fn the_write_cache_is_released_when_the_queue_runs_dry(repo: SqlRepository) {
    let fixture = Fixture::create(&repo, 1, 1).await;
    let config = StatsConfig {
        batch_size: 1_000,
        flush_interval: Duration::from_millis(250),
        ..config()
    };
    let (recorder, handle) = StatsRecorder::start(repo.clone(), state().await, config);
    let releases = || recorder.metrics().memory_releases;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(releases(), 0, "nothing was written yet");

    // Events every 10 ms for 1.5 s: every interval finds some.
    let events = workload(&fixture, 150, Utc::now());
    for event in events.iter().cloned() {
        recorder.record(event);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(releases(), 0, "released while events kept arriving");
    wait_until(WAIT, "one release after the last write", || async {
        releases() == 1
    })
    .await;
    assert_eq!(log_count(&repo).await, events.len() as i64);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(releases(), 1, "released again with nothing written");

    // The next write works from a released cache, and the next quiet spell
    // releases again.
    let more = workload(&fixture, 5, Utc::now());
    let total = (events.len() + more.len()) as i64;
    for event in more {
        recorder.record(event);
    }
    wait_until(WAIT, "the new rows written", || async {
        log_count(&repo).await == total
    })
    .await;
    wait_until(WAIT, "a second release", || async { releases() == 2 }).await;
    assert!(handle.shutdown(Duration::from_secs(10)).await.drained);
}

/// A full batch is written at once, long before `flush_interval`.
async fn a_full_batch_is_flushed_without_waiting(repo: SqlRepository) {
    let fixture = Fixture::create(&repo, 2, 1).await;
    let config = StatsConfig {
        batch_size: 10,
        flush_interval: Duration::from_secs(3600),
        ..config()
    };
    let (recorder, handle) = StatsRecorder::start(repo.clone(), state().await, config);
    let events = workload(&fixture, 30, Utc::now());
    let full = events.len() / 10 * 10;
    for event in events.iter().cloned() {
        recorder.record(event);
    }
    wait_until(WAIT, "the full batches written", || async {
        log_count(&repo).await == full as i64
    })
    .await;
    let report = handle.shutdown(Duration::from_secs(10)).await;
    assert!(report.drained);
    assert_eq!(
        report.written_rows,
        (events.len() - full) as u64,
        "the partial batch"
    );
    assert_eq!(log_count(&repo).await, events.len() as i64);
}

/// A proxy or account deleted before the flush cannot be written to; those
/// updates are dropped and counted, and every request log is still written.
async fn writes_for_deleted_rows_are_rejected_and_counted(repo: SqlRepository) {
    let fixture = Fixture::create(&repo, 2, 2).await;
    repo.delete_proxy(fixture.proxies[1]).await.unwrap();
    repo.delete_account(fixture.accounts[1]).await.unwrap();
    let (recorder, handle) = StatsRecorder::start(repo.clone(), state().await, config());
    let events = workload(&fixture, 20, Utc::now());
    for event in events.iter().cloned() {
        recorder.record(event);
    }
    let report = handle.shutdown(Duration::from_secs(30)).await;
    assert!(report.drained, "{report:?}");
    assert_eq!(log_count(&repo).await, events.len() as i64);
    assert_eq!(report.metrics.rejected_rows, 0);
    assert!(report.metrics.rejected_updates >= 2, "{report:?}");
    let stats = repo
        .list_proxy_stats(&ProxyStatsFilter::default(), Page::new(1000, 0))
        .await
        .unwrap();
    let kept: i64 = stats.data.iter().map(|s| s.request_count).sum();
    assert_eq!(
        (kept, kept > 0),
        (expected_proxy_sums(&events, fixture.proxies[0]).0, true),
        "the live proxy's stats are all there"
    );
    let account = repo.get_account(fixture.accounts[0]).await.unwrap();
    assert_eq!(
        account.usage_count,
        events
            .iter()
            .filter(|e| e.account_id == Some(fixture.accounts[0]))
            .count() as i64
    );
}

backend_tests!(
    every_event_becomes_rows_and_sums,
    a_partial_batch_is_flushed_after_the_interval,
    a_full_batch_is_flushed_without_waiting,
    the_write_cache_is_released_when_the_queue_runs_dry,
    writes_for_deleted_rows_are_rejected_and_counted,
);
