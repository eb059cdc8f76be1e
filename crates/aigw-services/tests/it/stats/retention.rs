//! Retention as the runtime runs it: request logs and daily proxy stats
//! past their age disappear, in bounded steps, and newer ones stay.

use std::time::Duration;

use aigw_domain::{Page, ProxyStatsFilter, RequestLogFilter};
use aigw_repository::SqlRepository;
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

/// Pruning tens of thousands of rows while events keep arriving (on SQLite,
/// whose one writer connection both need) drops no event: the deletes go in
/// bounded steps, so the stats writer's queue never fills.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruning_while_traffic_flows_drops_no_event() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("retention.db").display());
    let repo = SqlRepository::connect_with(&url, test_options())
        .await
        .unwrap();
    repo.migrate().await.unwrap();
    let fixture = Fixture::create(&repo, 2, 2).await;
    let now = Utc::now();
    let old = workload(&fixture, 40_000, now - TimeDelta::days(40));
    let (recorder, handle) = StatsRecorder::start(
        repo.clone(),
        state().await,
        aigw_services::stats::StatsConfig {
            queue_capacity: old.len(),
            batch_size: 1_000,
            ..config()
        },
    );
    for event in old.iter().cloned() {
        recorder.record(event);
    }
    let report = handle.shutdown(Duration::from_secs(120)).await;
    assert_eq!(report.metrics.flushed_rows, old.len() as u64);

    // A small queue: a writer held up for long would overflow it.
    let (recorder, handle) = StatsRecorder::start(
        repo.clone(),
        state().await,
        aigw_services::stats::StatsConfig {
            queue_capacity: 2_000,
            ..config()
        },
    );
    let runtime = Runtime::start(RuntimeSettings {
        database_url: url.clone(),
        sql: test_options(),
        retention: Some(RetentionSettings {
            request_logs: Some(Duration::from_secs(30 * DAY)),
            proxy_stats: None,
            error_logs: None,
            batch_pause: Duration::from_millis(5),
            ..RetentionSettings::default()
        }),
        ..RuntimeSettings::default()
    })
    .await
    .unwrap();
    let mut live = 0;
    let mut i = 0;
    while pruned(&runtime, "request_logs") != Some(old.len() as u64) {
        let events = workload(&fixture, 50, Utc::now());
        for mut event in events {
            event.request_id = format!("live-{i}").into();
            i += 1;
            recorder.record(event);
            live += 1;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let report = handle.shutdown(Duration::from_secs(30)).await;
    runtime.shutdown().await;
    assert!(live > 0);
    assert_eq!(report.metrics.dropped(), 0, "{report:?}");
    assert_eq!(report.metrics.flushed_rows, live as u64);
    assert_eq!(request_ids(&repo).await.len(), live);
}
