//! Round-robin counters: atomic, gapless, independent per key; and session
//! affinity's pin-or-claim step on top of them.

use std::sync::Arc;

use tokio::task::JoinSet;

use super::support::{Backend, Harness, backend_tests};

backend_tests!(
    concurrent_incr_yields_every_value_exactly_once,
    counters_are_independent_per_key,
    a_pin_is_read_with_its_ttl_renewed_and_a_miss_takes_and_claims_a_count,
    concurrent_first_turns_of_one_conversation_share_one_claim
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

async fn a_pin_is_read_with_its_ttl_renewed_and_a_miss_takes_and_claims_a_count(backend: Backend) {
    use std::time::Duration;

    use aigw_repository::state::PinOrCount;

    let Some(harness) = Harness::new(backend).await else {
        return;
    };
    let state = &harness.state;
    let ttl = Duration::from_millis(400);
    // No pin: the counter moves and its value is claimed under the pin key.
    assert_eq!(
        state
            .pin_or_claim("aff:p:c1", ttl, Some("rr:p:m"))
            .await
            .unwrap(),
        PinOrCount::Counted(1)
    );
    assert_eq!(
        state
            .pin_or_claim("aff:p:c1", ttl, Some("rr:p:m"))
            .await
            .unwrap(),
        PinOrCount::Pinned("1".into())
    );
    assert_eq!(
        state.incr("rr:p:m").await.unwrap(),
        2,
        "a hit takes no count"
    );
    // Without a counter the claim is 0.
    assert_eq!(
        state.pin_or_claim("aff:p:c2", ttl, None).await.unwrap(),
        PinOrCount::Counted(0)
    );
    // The caller's pin replaces the claim; every read renews its TTL.
    state.cache_set("aff:p:c1", "acct-7", ttl).await.unwrap();
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(
            state
                .pin_or_claim("aff:p:c1", ttl, Some("rr:p:m"))
                .await
                .unwrap(),
            PinOrCount::Pinned("\"acct-7\"".into()),
            "a pin read within its TTL is renewed"
        );
    }
    // Left alone past its TTL, it is gone and the next turn counts anew.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        state
            .pin_or_claim("aff:p:c1", ttl, Some("rr:p:m"))
            .await
            .unwrap(),
        PinOrCount::Counted(3)
    );
    if let Some(raw) = &harness.raw {
        use fred::interfaces::KeysInterface;
        let stored: String = raw.get(harness.key("cache:aff:p:c1")).await.unwrap();
        assert_eq!(stored, "3", "the claim lives in Redis as the pin's key");
    }
    harness.finish().await;
}

async fn concurrent_first_turns_of_one_conversation_share_one_claim(backend: Backend) {
    use std::time::Duration;

    use aigw_repository::state::PinOrCount;

    let Some(harness) = Harness::new(backend).await else {
        return;
    };
    let peer = harness.peer().await;
    let ttl = Duration::from_secs(60);
    let mut tasks = JoinSet::new();
    for i in 0..16 {
        let state = if i % 2 == 0 {
            harness.state.clone()
        } else {
            peer.clone()
        };
        tasks.spawn(async move { state.pin_or_claim("aff:p:c", ttl, Some("rr:p:m")).await });
    }
    let replies: Vec<PinOrCount> = tasks
        .join_all()
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let counted: Vec<_> = replies
        .iter()
        .filter(|r| matches!(r, PinOrCount::Counted(_)))
        .collect();
    assert_eq!(counted, [&PinOrCount::Counted(1)], "{replies:?}");
    assert_eq!(
        replies
            .iter()
            .filter(|r| **r == PinOrCount::Pinned("1".into()))
            .count(),
        15
    );
    harness.finish().await;
}
