//! Error log: ordered by time, queried by time range, trimmed by age and by
//! count, capped on append.

use std::time::Duration;

use aigw_repository::state::ErrorLogEntry;
use chrono::{TimeDelta, Utc};

use super::support::{Backend, Harness, backend_tests};

backend_tests!(
    range_returns_the_window_newest_first,
    trimming_by_age_and_by_count_drops_the_oldest,
    append_keeps_at_most_the_configured_number,
);

fn entry(message: &str, age: TimeDelta) -> ErrorLogEntry {
    ErrorLogEntry::new("oauth", "refresh_token", message)
        .with_context("status", 400)
        .at(Utc::now() - age)
}

fn messages(entries: &[ErrorLogEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.message.as_str()).collect()
}

async fn range_returns_the_window_newest_first(backend: Backend) {
    let Some(harness) = Harness::new(backend).await else {
        return;
    };
    let state = &harness.state;
    let entries = [
        entry("3h", TimeDelta::hours(3)),
        entry("2h", TimeDelta::hours(2)),
        entry("1h", TimeDelta::hours(1)),
        entry("1m", TimeDelta::minutes(1)),
        entry("now", TimeDelta::zero()),
    ];
    // Appended out of order: the log orders by time, not by arrival.
    for index in [2, 0, 4, 1, 3] {
        state.error_log_append(&entries[index]).await.unwrap();
    }
    assert_eq!(state.error_log_len().await.unwrap(), 5);

    let now = entries[4].created_at;
    let window = state
        .error_log_range(now - TimeDelta::minutes(150), now, 10)
        .await
        .unwrap();
    assert_eq!(messages(&window), ["now", "1m", "1h", "2h"]);
    assert_eq!(
        window[0], entries[4],
        "entries round-trip whole, context included"
    );

    let limited = state
        .error_log_range(now - TimeDelta::hours(4), now, 2)
        .await
        .unwrap();
    assert_eq!(messages(&limited), ["now", "1m"]);

    // Both bounds are inclusive.
    let exact = state
        .error_log_range(entries[1].created_at, entries[2].created_at, 10)
        .await
        .unwrap();
    assert_eq!(messages(&exact), ["1h", "2h"]);

    assert!(
        state
            .error_log_range(now, now - TimeDelta::hours(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    harness.finish().await;
}

async fn trimming_by_age_and_by_count_drops_the_oldest(backend: Backend) {
    let Some(harness) = Harness::new(backend).await else {
        return;
    };
    let state = &harness.state;
    for (message, age) in [
        ("3h", TimeDelta::hours(3)),
        ("2h", TimeDelta::hours(2)),
        ("1h", TimeDelta::hours(1)),
        ("1m", TimeDelta::minutes(1)),
        ("now", TimeDelta::zero()),
    ] {
        state.error_log_append(&entry(message, age)).await.unwrap();
    }

    assert_eq!(
        state
            .error_log_trim_older_than(Duration::from_secs(90 * 60))
            .await
            .unwrap(),
        2
    );
    let everything = |state: aigw_repository::state::SharedState| async move {
        let now = Utc::now();
        state
            .error_log_range(now - TimeDelta::days(1), now, 100)
            .await
            .unwrap()
    };
    assert_eq!(
        messages(&everything(state.clone()).await),
        ["now", "1m", "1h"]
    );

    assert_eq!(state.error_log_trim_to(1).await.unwrap(), 2);
    assert_eq!(messages(&everything(state.clone()).await), ["now"]);
    assert_eq!(state.error_log_trim_to(5).await.unwrap(), 0);
    assert_eq!(state.error_log_trim_to(0).await.unwrap(), 1);
    assert_eq!(state.error_log_len().await.unwrap(), 0);
    harness.finish().await;
}

async fn append_keeps_at_most_the_configured_number(backend: Backend) {
    let Some(harness) = Harness::with(backend, |c| c.error_log_max_entries = 3).await else {
        return;
    };
    let state = &harness.state;
    for minutes in (0..6).rev() {
        state
            .error_log_append(&entry(&format!("{minutes}m"), TimeDelta::minutes(minutes)))
            .await
            .unwrap();
    }
    assert_eq!(state.error_log_len().await.unwrap(), 3);
    let now = Utc::now();
    let kept = state
        .error_log_range(now - TimeDelta::hours(1), now, 10)
        .await
        .unwrap();
    assert_eq!(messages(&kept), ["0m", "1m", "2m"]);
    harness.finish().await;
}
