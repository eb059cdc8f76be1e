//! PostgreSQL outages (a TCP forwarder in front of the server, cut and
//! restored): recording goes on, the writer keeps a bounded backlog, retries,
//! and writes every buffered row once the database is back.

use std::sync::Arc;
use std::time::Duration;

use aigw_domain::{Page, ProxyStatsFilter, RequestLogFilter};
use aigw_mock_upstream::Forwarder;
use aigw_repository::SqlRepository;
use aigw_services::stats::{StatsConfig, StatsRecorder};
use aigw_test_support::{PgDatabase, postgres_address, wait_until, with_postgres_database};
use chrono::Utc;

use super::support::{Fixture, WAIT, state, test_options};
use super::{config, expected_proxy_sums, workload};

/// A migrated database reached through a forwarder the test can cut.
async fn behind_forwarder(db: &PgDatabase) -> (SqlRepository, SqlRepository, Forwarder) {
    let direct = SqlRepository::connect_with(&db.url(), test_options())
        .await
        .unwrap();
    direct.migrate().await.unwrap();
    let forwarder = Forwarder::start(postgres_address().await).await.unwrap();
    let through = SqlRepository::connect_with(&db.url_through(forwarder.addr()), test_options())
        .await
        .unwrap();
    (direct, through, forwarder)
}

async fn log_count(repo: &SqlRepository) -> i64 {
    repo.list_request_logs(&RequestLogFilter::default(), Page::new(1, 0))
        .await
        .unwrap()
        .total
}

/// Events recorded while the database is cut are kept and written, all of
/// them and once each, after it returns; nothing is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_buffered_during_an_outage_are_written_after_it() {
    with_postgres_database(async |db: Arc<PgDatabase>| {
        let (direct, through, forwarder) = behind_forwarder(&db).await;
        let fixture = Fixture::create(&direct, 3, 2).await;
        let (recorder, handle) = StatsRecorder::start(through, state().await, config());

        // Some traffic while the database is up, so that the pool holds
        // connections the cut then breaks.
        let before = workload(&fixture, 50, Utc::now());
        for event in before.iter().cloned() {
            recorder.record(event);
        }
        // Wait for the whole batch (logs, proxy stats, account uses): a cut
        // while one of its commits is in flight leaves the writer unable to
        // tell whether it landed, which this test is not about.
        wait_until(WAIT, "the first batch written", || async {
            log_count(&direct).await == before.len() as i64 && recorder.metrics().flushes >= 1
        })
        .await;

        forwarder.cut();
        let failures = recorder.metrics().flush_failures;
        let during = workload(&fixture, 200, Utc::now());
        for event in during.iter().cloned() {
            recorder.record(event);
        }
        wait_until(WAIT, "writes failing", || async {
            recorder.metrics().flush_failures >= failures + 2
        })
        .await;
        assert_eq!(log_count(&direct).await, before.len() as i64);
        assert!(recorder.metrics().backlog_len > 0);

        forwarder.restore();
        let total = (before.len() + during.len()) as i64;
        wait_until(WAIT, "the backlog written", || async {
            log_count(&direct).await == total && recorder.metrics().backlog_len == 0
        })
        .await;
        let report = handle.shutdown(Duration::from_secs(30)).await;
        assert!(report.drained);
        assert_eq!(report.metrics.dropped(), 0, "{report:?}");
        assert_eq!(report.metrics.rejected_rows, 0, "{report:?}");
        assert_eq!(report.metrics.flushed_rows, total as u64);
        assert_eq!(log_count(&direct).await, total, "no row written twice");

        let all: Vec<_> = before.iter().chain(&during).cloned().collect();
        let stats = direct
            .list_proxy_stats(&ProxyStatsFilter::default(), Page::new(1000, 0))
            .await
            .unwrap();
        for &proxy in &fixture.proxies {
            let requests: i64 = stats
                .data
                .iter()
                .filter(|s| s.proxy_id == proxy)
                .map(|s| s.request_count)
                .sum();
            assert_eq!(requests, expected_proxy_sums(&all, proxy).0);
        }
        for &account in &fixture.accounts {
            let expected = all.iter().filter(|e| e.account_id == Some(account)).count();
            let stored = direct.get_account(account).await.unwrap();
            assert_eq!(stored.usage_count, expected as i64);
        }
    })
    .await;
}

/// With the database cut, a backlog over its capacity drops the oldest
/// events and counts them; the newest are written after the outage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backlog_overflow_drops_the_oldest_and_counts_them() {
    with_postgres_database(async |db: Arc<PgDatabase>| {
        let (direct, through, forwarder) = behind_forwarder(&db).await;
        let fixture = Fixture::create(&direct, 1, 1).await;
        forwarder.cut();
        let config = StatsConfig {
            batch_size: 5,
            backlog_capacity: 10,
            flush_interval: Duration::from_secs(3600),
            ..config()
        };
        let (recorder, handle) = StatsRecorder::start(through, state().await, config);
        let events = workload(&fixture, 20, Utc::now());
        let events = &events[..20];
        for event in events.iter().cloned() {
            recorder.record(event);
        }
        wait_until(WAIT, "ten events dropped, ten kept", || async {
            let m = recorder.metrics();
            m.dropped_backlog_full == 10 && m.backlog_len == 10 && m.queue_depth == 0
        })
        .await;

        forwarder.restore();
        let report = handle.shutdown(Duration::from_secs(30)).await;
        assert!(report.drained, "{report:?}");
        assert_eq!(report.metrics.dropped(), 10);
        let logs = direct
            .list_request_logs(&RequestLogFilter::default(), Page::new(1000, 0))
            .await
            .unwrap();
        let mut kept: Vec<_> = logs.data.iter().map(|l| l.request_id.clone()).collect();
        kept.sort();
        let mut newest: Vec<_> = events[10..]
            .iter()
            .map(|e| e.request_id.to_string())
            .collect();
        newest.sort();
        assert_eq!(kept, newest, "the oldest were dropped");
    })
    .await;
}

/// Shutdown during an outage keeps retrying; when the database returns
/// before the deadline, everything is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_the_database_until_its_deadline() {
    with_postgres_database(async |db: Arc<PgDatabase>| {
        let (direct, through, forwarder) = behind_forwarder(&db).await;
        let fixture = Fixture::create(&direct, 2, 2).await;
        forwarder.cut();
        let (recorder, handle) = StatsRecorder::start(through, state().await, config());
        let events = workload(&fixture, 40, Utc::now());
        for event in events.iter().cloned() {
            recorder.record(event);
        }
        let restore = async {
            wait_until(WAIT, "writes failing", || async {
                recorder.metrics().flush_failures >= 2
            })
            .await;
            forwarder.restore();
        };
        let (report, ()) = tokio::join!(handle.shutdown(Duration::from_secs(60)), restore);
        assert!(report.drained, "{report:?}");
        assert_eq!(report.dropped, 0);
        assert_eq!(report.written_rows, events.len() as u64);
        assert_eq!(log_count(&direct).await, events.len() as i64);
    })
    .await;
}

/// When the database stays away past the shutdown deadline, the writer
/// stops and counts every unwritten event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_past_its_deadline_counts_what_is_left() {
    with_postgres_database(async |db: Arc<PgDatabase>| {
        let (direct, through, forwarder) = behind_forwarder(&db).await;
        let fixture = Fixture::create(&direct, 1, 1).await;
        forwarder.cut();
        let (recorder, handle) = StatsRecorder::start(through, state().await, config());
        let events = workload(&fixture, 30, Utc::now());
        for event in events.iter().cloned() {
            recorder.record(event);
        }
        let report = handle.shutdown(Duration::from_millis(300)).await;
        assert!(!report.drained);
        assert_eq!(report.dropped, events.len() as u64);
        assert_eq!(report.metrics.dropped_shutdown, events.len() as u64);
        assert_eq!(report.written_rows, 0);
        assert_eq!(log_count(&direct).await, 0);
    })
    .await;
}
