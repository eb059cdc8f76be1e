//! The stats journal against real databases: batches the database cannot
//! take go to disk and come back exactly once, after an outage or a restart;
//! a torn record is skipped and counted; a full journal drops and counts.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aigw_domain::{Page, ProxyStatsFilter, RequestLogFilter};
use aigw_mock_upstream::Forwarder;
use aigw_repository::SqlRepository;
use aigw_services::stats::{Journal, JournalConfig, StatsConfig, StatsEvent, StatsRecorder};
use aigw_test_support::{PgDatabase, postgres_address, wait_until, with_postgres_database};
use chrono::Utc;

use super::support::{Fixture, WAIT, backend_tests, state, test_options};
use super::{config, expected_proxy_sums, workload};

async fn log_count(repo: &SqlRepository) -> i64 {
    repo.list_request_logs(&RequestLogFilter::default(), Page::new(1, 0))
        .await
        .unwrap()
        .total
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files
}

/// The request logs, proxy stats and account uses in `repo` are exactly
/// those of `events`, each counted once.
async fn assert_recorded_once(repo: &SqlRepository, fixture: &Fixture, events: &[StatsEvent]) {
    let mut stored = Vec::new();
    loop {
        let page = repo
            .list_request_logs(
                &RequestLogFilter::default(),
                Page::new(Page::MAX_LIMIT, stored.len() as i64),
            )
            .await
            .unwrap();
        if page.data.is_empty() {
            break;
        }
        stored.extend(page.data.iter().map(|l| (l.request_id.clone(), l.attempt)));
    }
    stored.sort();
    let mut expected: Vec<_> = events
        .iter()
        .map(|e| (e.request_id.to_string(), i32::try_from(e.attempt).unwrap()))
        .collect();
    expected.sort();
    assert!(
        stored == expected,
        "{} rows for {} events",
        stored.len(),
        expected.len()
    );
    let stats = repo
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
        assert_eq!(requests, expected_proxy_sums(events, proxy).0);
    }
    for &account in &fixture.accounts {
        let expected = events
            .iter()
            .filter(|e| e.account_id == Some(account))
            .count();
        let stored = repo.get_account(account).await.unwrap();
        assert_eq!(stored.usage_count, expected as i64);
    }
}

/// A journal whose every record is there twice (a segment replayed, then
/// replayed again after a crash before it was deleted) is written once.
async fn a_batch_replayed_twice_is_counted_once(repo: SqlRepository) {
    let fixture = Fixture::create(&repo, 3, 2).await;
    let events = workload(&fixture, 60, Utc::now());
    let dir = tempfile::tempdir().unwrap();
    {
        let mut journal = Journal::open(JournalConfig::new(dir.path())).unwrap();
        let (a, b) = events.split_at(events.len() / 2);
        assert!(journal.append_events(a).unwrap());
        assert!(journal.append_events(b).unwrap());
    }
    let files = segments(dir.path());
    assert_eq!(files.len(), 1);
    std::fs::copy(&files[0], dir.path().join("00000000000000000007.seg")).unwrap();

    let journal = Journal::open(JournalConfig::new(dir.path())).unwrap();
    let (recorder, handle) =
        StatsRecorder::start_with_journal(repo.clone(), state().await, config(), journal);
    wait_until(WAIT, "the journal replayed", || async {
        recorder.metrics().journal_replayed_batches == 4 && segments(dir.path()).is_empty()
    })
    .await;
    let report = handle.shutdown(Duration::from_secs(10)).await;
    assert_eq!(
        report.metrics.replays_skipped, 6,
        "three stages of two batches: {report:?}"
    );
    assert_eq!(report.metrics.journal_pending_bytes, 0);
    assert_eq!(report.metrics.journal_bytes, 0);
    assert_eq!(report.metrics.dropped(), 0);
    assert_recorded_once(&repo, &fixture, &events).await;
}

/// A record cut short by a crash in the middle of an append is detected by
/// its frame, skipped and counted; the records before it are written, and
/// nothing of it is.
async fn a_torn_record_is_skipped_and_counted(repo: SqlRepository) {
    let fixture = Fixture::create(&repo, 2, 2).await;
    let events = workload(&fixture, 40, Utc::now());
    let (kept, torn) = events.split_at(25);
    let dir = tempfile::tempdir().unwrap();
    {
        let mut journal = Journal::open(JournalConfig::new(dir.path())).unwrap();
        assert!(journal.append_events(kept).unwrap());
        assert!(journal.append_events(torn).unwrap());
    }
    let files = segments(dir.path());
    let len = std::fs::metadata(&files[0]).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&files[0])
        .unwrap()
        .set_len(len - 100)
        .unwrap();

    let journal = Journal::open(JournalConfig::new(dir.path())).unwrap();
    let (recorder, handle) =
        StatsRecorder::start_with_journal(repo.clone(), state().await, config(), journal);
    wait_until(WAIT, "the journal replayed", || async {
        let m = recorder.metrics();
        m.journal_replayed_batches == 1 && m.journal_corrupt_records == 1 && m.journal_bytes == 0
    })
    .await;
    let report = handle.shutdown(Duration::from_secs(10)).await;
    assert_eq!(report.metrics.flushed_rows, kept.len() as u64);
    assert!(segments(dir.path()).is_empty());
    assert_recorded_once(&repo, &fixture, kept).await;
}

/// Live batches are not held up behind a long replay: events recorded while
/// a large journal is being replayed are written before it is done.
async fn live_batches_are_written_while_the_journal_replays(repo: SqlRepository) {
    let fixture = Fixture::create(&repo, 2, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let backlog = workload(&fixture, 20_000, Utc::now());
    {
        let mut journal = Journal::open(JournalConfig::new(dir.path())).unwrap();
        for chunk in backlog.chunks(64) {
            assert!(journal.append_events(chunk).unwrap());
        }
    }
    let journal = Journal::open(JournalConfig::new(dir.path())).unwrap();
    let (recorder, handle) =
        StatsRecorder::start_with_journal(repo.clone(), state().await, config(), journal);
    let live: Vec<_> = workload(&fixture, 50, Utc::now())
        .into_iter()
        .map(|mut e| {
            e.request_id = format!("live-{}", e.request_id).into();
            e
        })
        .collect();
    for event in live.iter().cloned() {
        recorder.record(event);
    }
    let live_count = live.len() as u64;
    let mut pending_when_live_written = 0;
    wait_until(WAIT, "the live events written", || {
        let m = recorder.metrics();
        let live_written = m.flushed_rows - m.journal_replayed_events;
        pending_when_live_written = m.journal_pending_bytes;
        async move { live_written == live_count }
    })
    .await;
    assert!(
        pending_when_live_written > 0,
        "the live events waited for the whole journal"
    );
    wait_until(WAIT, "the journal replayed", || async {
        recorder.metrics().journal_pending_bytes == 0
    })
    .await;
    let report = handle.shutdown(Duration::from_secs(30)).await;
    assert_eq!(report.metrics.dropped(), 0);
    let all: Vec<_> = backlog.iter().chain(&live).cloned().collect();
    assert_recorded_once(&repo, &fixture, &all).await;
}

backend_tests!(
    a_batch_replayed_twice_is_counted_once,
    a_torn_record_is_skipped_and_counted,
    live_batches_are_written_while_the_journal_replays,
);

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

/// A backlog far too small for the outage: only the journal can keep the
/// events.
fn journaled_config() -> StatsConfig {
    StatsConfig {
        backlog_capacity: 10,
        ..config()
    }
}

/// A migrated database behind a forwarder, with a fixture in it and an
/// empty journal directory.
async fn journaled_outage(
    db: &PgDatabase,
) -> (
    SqlRepository,
    SqlRepository,
    Forwarder,
    Fixture,
    tempfile::TempDir,
) {
    let (direct, through, forwarder) = behind_forwarder(db).await;
    let fixture = Fixture::create(&direct, 3, 2).await;
    (
        direct,
        through,
        forwarder,
        fixture,
        tempfile::tempdir().unwrap(),
    )
}

/// Waits until `n` events are in the journal and the queue is empty.
async fn wait_journaled(recorder: &StatsRecorder, n: usize) {
    wait_until(WAIT, "every event journaled", || async {
        let m = recorder.metrics();
        m.journal_appended_events == n as u64 && m.queue_depth == 0
    })
    .await;
}

/// Waits until `n` events are replayed and the journal is empty.
async fn wait_replayed(recorder: &StatsRecorder, n: usize) {
    wait_until(WAIT, "the journal replayed", || async {
        let m = recorder.metrics();
        m.journal_pending_bytes == 0 && m.journal_replayed_events == n as u64
    })
    .await;
}

/// Events recorded while the database is cut go to the journal and are all
/// written, once each, after it returns, without waiting for traffic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_journaled_during_an_outage_are_written_once_after_it() {
    with_postgres_database(async |db: Arc<PgDatabase>| {
        let (direct, through, forwarder, fixture, dir) = journaled_outage(&db).await;
        let journal = Journal::open(JournalConfig::new(dir.path())).unwrap();
        let (recorder, handle) =
            StatsRecorder::start_with_journal(through, state().await, journaled_config(), journal);

        let before = workload(&fixture, 50, Utc::now());
        for event in before.iter().cloned() {
            recorder.record(event);
        }
        wait_until(WAIT, "the first batch written", || async {
            log_count(&direct).await == before.len() as i64 && recorder.metrics().flushes >= 1
        })
        .await;

        forwarder.cut();
        let during = workload(&fixture, 2_000, Utc::now() - chrono::TimeDelta::hours(1));
        let during: Vec<_> = during
            .into_iter()
            .map(|mut e| {
                e.request_id = format!("outage-{}", e.request_id).into();
                e
            })
            .collect();
        for event in during.iter().cloned() {
            recorder.record(event);
        }
        wait_journaled(&recorder, during.len()).await;
        let m = recorder.metrics();
        assert!(
            m.journal_pending_bytes > 0 && m.journal_oldest_unix_ms > 0,
            "{m:?}"
        );
        assert_eq!(m.dropped(), 0, "{m:?}");
        assert_eq!(log_count(&direct).await, before.len() as i64);

        let restored = std::time::Instant::now();
        forwarder.restore();
        let total = before.len() + during.len();
        wait_replayed(&recorder, during.len()).await;
        let drained_in = restored.elapsed();
        let report = handle.shutdown(Duration::from_secs(30)).await;
        assert!(report.drained);
        assert_eq!(report.metrics.dropped(), 0, "{report:?}");
        assert_eq!(report.metrics.flushed_rows, total as u64);
        assert_eq!(report.metrics.journal_oldest_unix_ms, 0);
        assert!(segments(dir.path()).is_empty());
        // The writer retries at most `retry_backoff_max` apart.
        assert!(drained_in < Duration::from_secs(20), "{drained_in:?}");
        let all: Vec<_> = before.iter().chain(&during).cloned().collect();
        assert_recorded_once(&direct, &fixture, &all).await;
    })
    .await;
}

/// A database that stops answering holds the writer's write until its
/// timeout. Meanwhile the queue's excess goes to the journal instead of
/// filling the queue: nothing is dropped, and after the database answers
/// again everything is written once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_stuck_on_a_silent_database_moves_the_queue_to_the_journal() {
    with_postgres_database(async |db: Arc<PgDatabase>| {
        let (direct, through, forwarder, fixture, dir) = journaled_outage(&db).await;
        let journal = Journal::open(JournalConfig::new(dir.path())).unwrap();
        // The queue holds a tenth of the events, and one write holds the
        // writer for two seconds, while the events arrive within about one.
        let config = StatsConfig {
            queue_capacity: 500,
            batch_size: 50,
            write_timeout: Duration::from_secs(2),
            ..journaled_config()
        };
        let (recorder, handle) =
            StatsRecorder::start_with_journal(through, state().await, config, journal);
        forwarder.stall();
        let events = workload(&fixture, 5_000, Utc::now());
        for chunk in events.chunks(100) {
            for event in chunk.iter().cloned() {
                recorder.record(event);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        wait_journaled(&recorder, events.len()).await;
        let m = recorder.metrics();
        assert_eq!(m.dropped(), 0, "{m:?}");
        assert!(m.journal_overflow_events > 0, "{m:?}");
        assert_eq!(log_count(&direct).await, 0);

        forwarder.restore();
        wait_replayed(&recorder, events.len()).await;
        let report = handle.shutdown(Duration::from_secs(10)).await;
        assert_eq!(report.metrics.dropped(), 0, "{report:?}");
        assert!(segments(dir.path()).is_empty());
        assert_recorded_once(&direct, &fixture, &events).await;
    })
    .await;
}

/// A writer stopped during an outage leaves its journal on disk; the next
/// writer on the same directory replays it: every event arrives once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_left_by_a_stopped_writer_is_replayed_by_the_next() {
    with_postgres_database(async |db: Arc<PgDatabase>| {
        let (direct, through, forwarder) = behind_forwarder(&db).await;
        let fixture = Fixture::create(&direct, 2, 2).await;
        let dir = tempfile::tempdir().unwrap();
        forwarder.cut();
        let journal = Journal::open(JournalConfig::new(dir.path())).unwrap();
        let (recorder, handle) = StatsRecorder::start_with_journal(
            through.clone(),
            state().await,
            journaled_config(),
            journal,
        );
        let events = workload(&fixture, 300, Utc::now());
        for event in events.iter().cloned() {
            recorder.record(event);
        }
        // Stopped while the database is away: what the deadline cuts off
        // goes to the journal, nothing is dropped.
        let report = handle.shutdown(Duration::from_millis(300)).await;
        assert_eq!(report.dropped, 0, "{report:?}");
        assert_eq!(report.metrics.dropped(), 0, "{report:?}");
        assert_eq!(report.metrics.journal_appended_events, events.len() as u64);
        assert_eq!(log_count(&direct).await, 0);
        assert!(!segments(dir.path()).is_empty());

        forwarder.restore();
        let journal = Journal::open(JournalConfig::new(dir.path())).unwrap();
        let (recorder, handle) =
            StatsRecorder::start_with_journal(through, state().await, config(), journal);
        wait_until(WAIT, "the journal replayed", || async {
            recorder.metrics().journal_replayed_events == events.len() as u64
        })
        .await;
        let report = handle.shutdown(Duration::from_secs(10)).await;
        assert_eq!(report.metrics.dropped(), 0, "{report:?}");
        assert!(segments(dir.path()).is_empty());
        assert_recorded_once(&direct, &fixture, &events).await;
    })
    .await;
}

/// A journal at its size limit refuses batches: their events are dropped
/// and counted, and everything it did take is written after the outage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_journal_drops_and_counts() {
    with_postgres_database(async |db: Arc<PgDatabase>| {
        let (direct, through, forwarder) = behind_forwarder(&db).await;
        let fixture = Fixture::create(&direct, 1, 1).await;
        let dir = tempfile::tempdir().unwrap();
        forwarder.cut();
        let journal = Journal::open(JournalConfig {
            max_bytes: 64 * 1024,
            ..JournalConfig::new(dir.path())
        })
        .unwrap();
        let (recorder, handle) =
            StatsRecorder::start_with_journal(through, state().await, journaled_config(), journal);
        let events = workload(&fixture, 1_000, Utc::now());
        for event in events.iter().cloned() {
            recorder.record(event);
        }
        wait_until(WAIT, "every event journaled or dropped", || async {
            let m = recorder.metrics();
            m.journal_appended_events + m.dropped_journal_full == events.len() as u64
        })
        .await;
        let m = recorder.metrics();
        assert!(m.dropped_journal_full > 0, "{m:?}");
        assert!(m.journal_appended_events > 0, "{m:?}");
        assert!(m.journal_bytes <= 64 * 1024, "{m:?}");

        forwarder.restore();
        wait_until(WAIT, "the journal replayed", || async {
            recorder.metrics().journal_pending_bytes == 0
        })
        .await;
        let report = handle.shutdown(Duration::from_secs(10)).await;
        assert_eq!(report.metrics.dropped(), m.dropped_journal_full);
        assert_eq!(
            log_count(&direct).await,
            (events.len() as u64 - m.dropped_journal_full) as i64
        );
    })
    .await;
}
