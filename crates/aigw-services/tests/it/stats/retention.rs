//! Retention as the runtime runs it: request logs and daily proxy stats
//! past their age disappear, in bounded steps, and newer ones stay.

use std::time::{Duration, Instant};

use aigw_domain::{ApiKeyId, Page, ProxyStatsFilter, RequestLogFilter};
use aigw_repository::SqlRepository;
use aigw_repository::sql::SeedLogs;
use aigw_services::retention::RetentionSettings;
use aigw_services::stats::{StatsEvent, StatsRecorder};
use aigw_services::{Runtime, RuntimeSettings};
use aigw_test_support::{Fixture as _, PostgresUrl, SqliteUrl, wait_until};
use chrono::{TimeDelta, Utc};

use super::support::{Fixture, WAIT, state, test_options};
use super::{config, workload};

const DAY: u64 = 24 * 3600;

/// Writes `events` through the stats pipeline and waits for them.
async fn record(repo: &SqlRepository, events: &[StatsEvent]) {
    let (recorder, handle) = StatsRecorder::start(repo.clone(), state().await, config());
    for event in events.iter().cloned() {
        recorder.record(event);
    }
    let report = handle.shutdown(Duration::from_secs(30)).await;
    assert_eq!(report.metrics.flushed_rows, events.len() as u64);
}

async fn request_ids(repo: &SqlRepository) -> Vec<String> {
    let mut ids = Vec::new();
    loop {
        let page = repo
            .list_request_logs(
                &RequestLogFilter::default(),
                Page::new(Page::MAX_LIMIT, ids.len() as i64),
            )
            .await
            .unwrap();
        if page.data.is_empty() {
            break;
        }
        ids.extend(page.data.into_iter().map(|l| l.request_id));
    }
    ids.sort();
    ids
}

fn pruned(runtime: &Runtime, data: &str) -> Option<u64> {
    let text = runtime.gateway().metrics().render(&[]);
    let prefix = format!("aigw_retention_pruned_rows_total{{data=\"{data}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.parse().ok())
}

async fn rows_past_their_retention_are_deleted(url: String) {
    let repo = SqlRepository::connect_with(&url, test_options())
        .await
        .unwrap();
    repo.migrate().await.unwrap();
    let fixture = Fixture::create(&repo, 2, 2).await;
    let now = Utc::now();
    let rename = |events: Vec<StatsEvent>, tag: &str| -> Vec<StatsEvent> {
        events
            .into_iter()
            .map(|mut e| {
                e.request_id = format!("{tag}-{}", e.request_id).into();
                e
            })
            .collect()
    };
    // Request logs: 40 days old (past 30), 10 days old and new. Proxy stats
    // of 40 days ago go too (past 20), those of 10 days ago stay.
    let old = rename(workload(&fixture, 45, now - TimeDelta::days(40)), "old");
    let recent = rename(workload(&fixture, 20, now - TimeDelta::days(10)), "recent");
    let fresh = rename(workload(&fixture, 20, now), "fresh");
    for events in [&old, &recent, &fresh] {
        record(&repo, events).await;
    }

    let runtime = Runtime::start(RuntimeSettings {
        database_url: url.clone(),
        sql: test_options(),
        retention: Some(RetentionSettings {
            request_logs: Some(Duration::from_secs(30 * DAY)),
            proxy_stats: Some(Duration::from_secs(20 * DAY)),
            error_logs: None,
            interval: Duration::from_secs(3600),
            // Several steps per pass.
            batch_rows: 7,
            batch_pause: Duration::from_millis(1),
        }),
        ..RuntimeSettings::default()
    })
    .await
    .unwrap();
    wait_until(WAIT, "old request logs pruned", || async {
        pruned(&runtime, "request_logs") == Some(old.len() as u64)
            && pruned(&runtime, "proxy_stats").is_some()
    })
    .await;

    let mut kept: Vec<String> = recent
        .iter()
        .chain(&fresh)
        .map(|e| e.request_id.to_string())
        .collect();
    kept.sort();
    assert_eq!(request_ids(&repo).await, kept);
    let stats = repo
        .list_proxy_stats(&ProxyStatsFilter::default(), Page::new(1000, 0))
        .await
        .unwrap();
    let cutoff = (now - TimeDelta::days(20)).date_naive();
    assert!(!stats.data.is_empty());
    assert!(
        stats.data.iter().all(|s| s.date >= cutoff),
        "{:?}",
        stats.data
    );
    let days: std::collections::BTreeSet<_> = stats.data.iter().map(|s| s.date).collect();
    assert!(days.contains(&(now - TimeDelta::days(10)).date_naive()));
    assert!(pruned(&runtime, "proxy_stats") > Some(0));
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_rows_past_their_retention_are_deleted() {
    SqliteUrl.run(rows_past_their_retention_are_deleted).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_rows_past_their_retention_are_deleted() {
    PostgresUrl.run(rows_past_their_retention_are_deleted).await;
}

/// Old rows seeded for the million-row prune.
const OLD_ROWS: i64 = 1_000_000;

/// Pruning a million old rows while live events keep arriving drops no
/// event: the deletes go in bounded steps, so the stats writer (on SQLite it
/// shares the one writer connection with them) is never held long enough
/// for its small queue to fill. The old rows are seeded by one statement.
async fn a_million_old_rows_are_pruned_while_traffic_flows(url: String) {
    let repo = SqlRepository::connect_with(&url, test_options())
        .await
        .unwrap();
    repo.migrate().await.unwrap();
    let fixture = Fixture::create(&repo, 2, 2).await;
    let seeding = Instant::now();
    let seeded = repo
        .seed_request_logs(&SeedLogs {
            count: OLD_ROWS,
            newest: Utc::now() - TimeDelta::days(31),
            prefix: "old-".to_owned(),
            api_key_id: ApiKeyId::new(),
            provider_id: fixture.provider.clone(),
            accounts: [fixture.accounts[0], fixture.accounts[1]],
        })
        .await
        .unwrap();
    assert_eq!(seeded as i64, OLD_ROWS);
    let seeding = seeding.elapsed();

    // A small queue, under a second of the offered ~2,800 events/s (50
    // requests every 20 ms, one in seven with a retry): a writer held up for
    // longer would overflow it.
    let (recorder, handle) = StatsRecorder::start(
        repo.clone(),
        state().await,
        aigw_services::stats::StatsConfig {
            queue_capacity: 2_000,
            batch_size: 1_000,
            flush_interval: Duration::from_millis(20),
            ..config()
        },
    );
    let pruning = Instant::now();
    let runtime = Runtime::start(RuntimeSettings {
        database_url: url.clone(),
        sql: test_options(),
        retention: Some(RetentionSettings {
            request_logs: Some(Duration::from_secs(30 * DAY)),
            proxy_stats: None,
            error_logs: None,
            // Shorter than the default pause: less room for the writer.
            batch_pause: Duration::from_millis(10),
            ..RetentionSettings::default()
        }),
        ..RuntimeSettings::default()
    })
    .await
    .unwrap();
    let mut live = Vec::new();
    while pruned(&runtime, "request_logs") != Some(OLD_ROWS as u64) {
        assert!(
            pruning.elapsed() < Duration::from_secs(240),
            "pruned {:?} of {OLD_ROWS}",
            pruned(&runtime, "request_logs")
        );
        for mut event in workload(&fixture, 50, Utc::now()) {
            event.request_id = format!("live-{}", live.len()).into();
            live.push(event.request_id.to_string());
            recorder.record(event);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pruning = pruning.elapsed();
    let report = handle.shutdown(Duration::from_secs(30)).await;
    runtime.shutdown().await;
    assert!(!live.is_empty());
    assert_eq!(report.metrics.dropped(), 0, "{report:?}");
    assert_eq!(report.metrics.flushed_rows, live.len() as u64);
    live.sort();
    assert_eq!(
        request_ids(&repo).await,
        live,
        "old rows left or live rows lost"
    );
    note(&format!(
        "{}: seeded {OLD_ROWS} rows in {seeding:?}, pruned them in {pruning:?} \
         ({:.0} rows/s) while {} live events were written",
        repo.backend(),
        OLD_ROWS as f64 / pruning.as_secs_f64(),
        live.len()
    ));
}

#[expect(
    clippy::print_stderr,
    reason = "the measured figures are the test's output"
)]
fn note(line: &str) {
    eprintln!("{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_million_old_rows_are_pruned_while_traffic_flows() {
    SqliteUrl
        .run(a_million_old_rows_are_pruned_while_traffic_flows)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_million_old_rows_are_pruned_while_traffic_flows() {
    PostgresUrl
        .run(a_million_old_rows_are_pruned_while_traffic_flows)
        .await;
}
