//! Round-robin counters: atomic, gapless, independent per key.

use std::sync::Arc;

use tokio::task::JoinSet;

use super::support::{Backend, Harness, backend_tests};

backend_tests!(
    concurrent_incr_yields_every_value_exactly_once,
    counters_are_independent_per_key
);

async fn concurrent_incr_yields_every_value_exactly_once(backend: Backend) {
    const TASKS: u64 = 64;
    const PER_TASK: u64 = 1_000;
    let Some(harness) = Harness::new(backend).await else {
        return;
    };
    let state = Arc::new(harness.state.clone());
    let start = Arc::new(tokio::sync::Barrier::new(TASKS as usize));

    let mut tasks = JoinSet::new();
    for _ in 0..TASKS {
        let state = Arc::clone(&state);
        let start = Arc::clone(&start);
        tasks.spawn(async move {
            start.wait().await;
            let mut seen = Vec::with_capacity(PER_TASK as usize);
            for _ in 0..PER_TASK {
                seen.push(state.incr("rr:openai:gpt-4o").await.unwrap());
            }
            seen
        });
    }
    let mut all: Vec<u64> = tasks.join_all().await.into_iter().flatten().collect();
    all.sort_unstable();
    let expected: Vec<u64> = (1..=TASKS * PER_TASK).collect();
    assert!(
        all == expected,
        "values are not exactly 1..={}: duplicates or gaps",
        TASKS * PER_TASK
    );

    if let Some(raw) = &harness.raw {
        use fred::interfaces::KeysInterface;
        let stored: u64 = raw
            .get(harness.key("counter:rr:openai:gpt-4o"))
            .await
            .unwrap();
        assert_eq!(
            stored,
            TASKS * PER_TASK,
            "the counter lives in Redis under the documented key"
        );
    }
    harness.finish().await;
}

async fn counters_are_independent_per_key(backend: Backend) {
    let Some(harness) = Harness::new(backend).await else {
        return;
    };
    let state = &harness.state;
    assert_eq!(state.incr("a").await.unwrap(), 1);
    assert_eq!(state.incr("a").await.unwrap(), 2);
    assert_eq!(state.incr("b").await.unwrap(), 1);
    assert_eq!(state.incr("a").await.unwrap(), 3);
    harness.finish().await;
}
