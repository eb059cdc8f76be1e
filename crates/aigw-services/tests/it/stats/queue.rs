//! The queue: recording never blocks, a full queue drops and counts, a
//! stopped writer refuses and counts.

use std::time::Duration;

use aigw_domain::{Page, RequestLogFilter};
use aigw_repository::SqlRepository;
use aigw_services::stats::{StatsConfig, StatsRecorder};
use aigw_test_support::{Fixture as _, Sqlite, wait_until};
use chrono::Utc;

use super::support::{Fixture, WAIT, state, test_options};
use super::{config, workload};

/// On a single-threaded runtime the writer cannot run while the test does
/// not yield, so the queue fills: `record` must return at once (it cannot
/// wait for the writer, or this test would hang), drop the excess and count
/// it. The queued events are still written on shutdown.
#[tokio::test(flavor = "current_thread")]
async fn a_full_queue_drops_and_counts_without_blocking() {
    Sqlite(test_options())
        .run(async |repo: SqlRepository| {
            let fixture = Fixture::create(&repo, 1, 1).await;
            let config = StatsConfig {
                queue_capacity: 8,
                ..config()
            };
            let (recorder, handle) = StatsRecorder::start(repo.clone(), state().await, config);
            let events = workload(&fixture, 100, Utc::now());
            let total = events.len() as u64;
            for event in events {
                recorder.record(event);
            }
            let metrics = recorder.metrics();
            assert_eq!(metrics.enqueued, 8);
            assert_eq!(metrics.dropped_queue_full, total - 8);
            assert_eq!(metrics.queue_depth, 8);

            let report = handle.shutdown(Duration::from_secs(10)).await;
            assert!(report.drained);
            assert_eq!(report.written_rows, 8);
            assert_eq!(report.metrics.dropped(), total - 8);
            let logs = repo
                .list_request_logs(&RequestLogFilter::default(), Page::new(1, 0))
                .await
                .unwrap();
            assert_eq!(logs.total, 8);
        })
        .await;
}

/// After shutdown, recording is refused and counted, never an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_after_shutdown_are_counted_as_dropped() {
    Sqlite(test_options())
        .run(async |repo: SqlRepository| {
            let fixture = Fixture::create(&repo, 1, 1).await;
            let (recorder, handle) = StatsRecorder::start(repo.clone(), state().await, config());
            let mut events = workload(&fixture, 3, Utc::now()).into_iter();
            recorder.record(events.next().unwrap());
            let report = handle.shutdown(Duration::from_secs(10)).await;
            assert_eq!(report.written_rows, 1);
            recorder.record(events.next().unwrap());
            recorder.record(events.next().unwrap());
            let metrics = recorder.metrics();
            assert_eq!(metrics.dropped_closed, 2);
            assert_eq!(metrics.enqueued, 1);
            assert_eq!(metrics.flushed_rows, 1);
        })
        .await;
}

/// When the handle is dropped, the writer keeps going; once every recorder
/// is dropped too, it drains what was queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_every_recorder_and_the_handle_still_drains() {
    Sqlite(test_options())
        .run(async |repo: SqlRepository| {
            let fixture = Fixture::create(&repo, 1, 1).await;
            let config = StatsConfig {
                flush_interval: Duration::from_secs(3600),
                ..config()
            };
            let (recorder, handle) = StatsRecorder::start(repo.clone(), state().await, config);
            drop(handle);
            let events = workload(&fixture, 10, Utc::now());
            let n = events.len() as i64;
            for event in events {
                recorder.record(event);
            }
            drop(recorder);
            wait_until(WAIT, "the queued events written", || async {
                repo.list_request_logs(&RequestLogFilter::default(), Page::new(1, 0))
                    .await
                    .unwrap()
                    .total
                    == n
            })
            .await;
        })
        .await;
}
