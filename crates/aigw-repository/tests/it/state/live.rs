//! Live counters: per scope, id and UTC day, with an absolute expiry set in
//! the same atomic step as the increment.

use std::time::Duration;

use aigw_repository::state::{LiveCounts, LiveScope};
use chrono::{DateTime, TimeDelta, Utc};

use super::support::{Backend, Harness, backend_tests};

backend_tests!(
    requests_and_failures_are_counted_per_scope_id_and_day,
    increments_of_many_requests_add_up,
    day_counters_carry_an_absolute_expiry,
);

/// One request, failed or not.
fn one(failed: bool) -> LiveCounts {
    LiveCounts {
        requests: 1,
        failures: u64::from(failed),
    }
}

async fn requests_and_failures_are_counted_per_scope_id_and_day(backend: Backend) {
    let Some(harness) = Harness::new(backend).await else {
        return;
    };
    let state = &harness.state;
    let now = Utc::now();
    let today = now.date_naive();
    let yesterday = now - TimeDelta::days(1);

    let first = state
        .live_add(LiveScope::Proxy, "12", now.date_naive(), one(false))
        .await
        .unwrap();
    assert_eq!(
        first,
        LiveCounts {
            requests: 1,
            failures: 0
        }
    );
    state
        .live_add(LiveScope::Proxy, "12", now.date_naive(), one(true))
        .await
        .unwrap();
    let third = state
        .live_add(LiveScope::Proxy, "12", now.date_naive(), one(false))
        .await
        .unwrap();
    assert_eq!(
        third,
        LiveCounts {
            requests: 3,
            failures: 1
        }
    );

    state
        .live_add(LiveScope::Account, "12", now.date_naive(), one(true))
        .await
        .unwrap();
    state
        .live_add(LiveScope::Proxy, "13", now.date_naive(), one(false))
        .await
        .unwrap();
    state
        .live_add(LiveScope::Proxy, "12", yesterday.date_naive(), one(true))
        .await
        .unwrap();

    let counts = |scope, id: &'static str, at: DateTime<Utc>| {
        let state = state.clone();
        async move { state.live_counts(scope, id, at.date_naive()).await.unwrap() }
    };
    assert_eq!(
        counts(LiveScope::Proxy, "12", now).await,
        LiveCounts {
            requests: 3,
            failures: 1
        }
    );
    assert_eq!(
        counts(LiveScope::Account, "12", now).await,
        LiveCounts {
            requests: 1,
            failures: 1
        }
    );
    assert_eq!(
        counts(LiveScope::Proxy, "13", now).await,
        LiveCounts {
            requests: 1,
            failures: 0
        }
    );
    assert_eq!(
        counts(LiveScope::Proxy, "12", yesterday).await,
        LiveCounts {
            requests: 1,
            failures: 1
        }
    );
    assert_eq!(
        counts(LiveScope::Provider, "12", now).await,
        LiveCounts::default()
    );
    assert_eq!(
        state
            .live_counts(LiveScope::Proxy, "12", today)
            .await
            .unwrap(),
        LiveCounts {
            requests: 3,
            failures: 1
        }
    );
    harness.finish().await;
}

/// A batch's sums arrive as one increment of many requests: they add to
/// what is there, and the reply is the day's total.
async fn increments_of_many_requests_add_up(backend: Backend) {
    let Some(harness) = Harness::new(backend).await else {
        return;
    };
    let state = &harness.state;
    let day = Utc::now().date_naive();
    let first = state
        .live_add(
            LiveScope::Account,
            "a",
            day,
            LiveCounts {
                requests: 1000,
                failures: 50,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        first,
        LiveCounts {
            requests: 1000,
            failures: 50
        }
    );
    let second = state
        .live_add(
            LiveScope::Account,
            "a",
            day,
            LiveCounts {
                requests: 24,
                failures: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        second,
        LiveCounts {
            requests: 1024,
            failures: 50
        }
    );
    assert_eq!(
        state
            .live_counts(LiveScope::Account, "a", day)
            .await
            .unwrap(),
        second
    );
    assert_eq!(
        state
            .live_counts(LiveScope::Account, "b", day)
            .await
            .unwrap(),
        LiveCounts::default()
    );
    harness.finish().await;
}

async fn day_counters_carry_an_absolute_expiry(backend: Backend) {
    const GRACE: Duration = Duration::from_secs(6 * 3600);
    let Some(harness) = Harness::with(backend, |c| c.live_counter_grace = GRACE).await else {
        return;
    };
    let state = &harness.state;
    let now = Utc::now();
    let day = now.date_naive();
    let expected = (day + TimeDelta::days(1))
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        + TimeDelta::from_std(GRACE).unwrap();

    assert_eq!(
        state
            .live_expires_at(LiveScope::Provider, "openai", day)
            .await
            .unwrap(),
        None
    );
    state
        .live_add(LiveScope::Provider, "openai", now.date_naive(), one(true))
        .await
        .unwrap();
    assert_eq!(
        state
            .live_expires_at(LiveScope::Provider, "openai", day)
            .await
            .unwrap(),
        Some(expected),
        "expiry is the end of the UTC day plus the grace"
    );

    // Recording again later does not move the expiry (no sliding window).
    state
        .live_add(
            LiveScope::Provider,
            "openai",
            Utc::now().date_naive(),
            one(false),
        )
        .await
        .unwrap();
    assert_eq!(
        state
            .live_expires_at(LiveScope::Provider, "openai", day)
            .await
            .unwrap(),
        Some(expected)
    );

    if let Some(raw) = &harness.raw {
        use fred::interfaces::KeysInterface;
        let stamp = day.format("%Y%m%d");
        for field in ["requests", "failures"] {
            let key = harness.key(&format!("live:provider:openai:{stamp}:{field}"));
            let expiry_ms: i64 = raw.pexpire_time(&key).await.unwrap();
            assert_eq!(
                expiry_ms,
                expected.timestamp_millis(),
                "{key} carries the absolute expiry"
            );
        }
    }
    harness.finish().await;
}
