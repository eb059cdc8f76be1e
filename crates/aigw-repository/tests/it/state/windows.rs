//! Windowed attempt counters: atomic across callers, one expiry per window, forgiving.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use super::support::{Backend, Harness, backend_tests};

backend_tests!(
    concurrent_hits_count_every_attempt_once,
    a_window_expires_and_starts_again,
    forgiving_and_resetting_take_attempts_back
);

async fn concurrent_hits_count_every_attempt_once(backend: Backend) {
    const TASKS: u64 = 16;
    const PER_TASK: u64 = 25;
    let Some(harness) = Harness::new(backend).await else {
        return;
    };
    let state = Arc::new(harness.state.clone());
    let mut tasks = JoinSet::new();
    for _ in 0..TASKS {
        let state = Arc::clone(&state);
        tasks.spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..PER_TASK {
                let hit = state
                    .window_hit("login:user:u", Duration::from_secs(60))
                    .await
                    .unwrap();
                assert!(hit.resets_in <= Duration::from_secs(60));
                assert!(hit.resets_in > Duration::from_secs(50), "{hit:?}");
                seen.push(hit.count);
            }
            seen
        });
    }
    let mut all: Vec<u64> = tasks.join_all().await.into_iter().flatten().collect();
    all.sort_unstable();
    assert_eq!(all, (1..=TASKS * PER_TASK).collect::<Vec<_>>());

    if let Some(raw) = &harness.raw {
        use fred::interfaces::KeysInterface;
        let ttl: i64 = raw.pttl(harness.key("window:login:user:u")).await.unwrap();
        assert!(
            ttl > 0 && ttl <= 60_000,
            "the counter expires with its window: {ttl}"
        );
    }
    harness.finish().await;
}

async fn a_window_expires_and_starts_again(backend: Backend) {
    let Some(harness) = Harness::new(backend).await else {
        return;
    };
    let state = &harness.state;
    let window = Duration::from_millis(300);
    assert_eq!(state.window_hit("k", window).await.unwrap().count, 1);
    let second = state.window_hit("k", window).await.unwrap();
    assert_eq!(second.count, 2);
    assert!(second.resets_in <= window, "{second:?}");
    assert_eq!(
        state.window_hit("other", window).await.unwrap().count,
        1,
        "keys are independent"
    );
    // Past the window's end (polled, with a deadline) the count starts again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let hit = state.window_hit("k", window).await.unwrap();
        if hit.count == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the window never ended: {hit:?}"
        );
    }
    harness.finish().await;
}

async fn forgiving_and_resetting_take_attempts_back(backend: Backend) {
    let Some(harness) = Harness::new(backend).await else {
        return;
    };
    let state = &harness.state;
    let window = Duration::from_secs(60);
    for _ in 0..3 {
        state.window_hit("addr", window).await.unwrap();
    }
    state.window_forgive("addr").await.unwrap();
    assert_eq!(state.window_hit("addr", window).await.unwrap().count, 3);
    state.window_reset("addr").await.unwrap();
    assert_eq!(state.window_hit("addr", window).await.unwrap().count, 1);
    // Forgiving never goes below zero, nor creates a counter.
    state.window_forgive("addr").await.unwrap();
    state.window_forgive("addr").await.unwrap();
    state.window_forgive("never").await.unwrap();
    assert_eq!(state.window_hit("addr", window).await.unwrap().count, 1);
    assert_eq!(state.window_hit("never", window).await.unwrap().count, 1);
    harness.finish().await;
}
