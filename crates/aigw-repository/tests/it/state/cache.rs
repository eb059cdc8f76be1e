//! Token cache: JSON values with a TTL, typed on the way out.

use std::time::{Duration, Instant};

use aigw_repository::state::StateError;
use aigw_test_support::eventually;
use serde::{Deserialize, Serialize};

use super::support::{Backend, Harness, backend_tests};

backend_tests!(
    cached_values_round_trip_until_deleted,
    cached_values_vanish_after_their_ttl,
    zero_ttl_deletes,
    a_value_of_another_shape_is_a_codec_error,
    a_taken_value_is_gone_and_only_one_taker_gets_it,
);

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Token {
    access_token: String,
    expires_at: String,
}

fn token() -> Token {
    Token {
        access_token: "ya29.secret".into(),
        expires_at: "2030-01-01T00:00:00Z".into(),
    }
}

async fn cached_values_round_trip_until_deleted(backend: Backend) {
    let Some(harness) = Harness::new(backend).await else {
        return;
    };
    let state = &harness.state;
    assert_eq!(
        state
            .cache_get::<Token>("auth:antigravity:7")
            .await
            .unwrap(),
        None
    );

    state
        .cache_set("auth:antigravity:7", &token(), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        state
            .cache_get::<Token>("auth:antigravity:7")
            .await
            .unwrap(),
        Some(token())
    );

    assert!(state.cache_delete("auth:antigravity:7").await.unwrap());
    assert!(!state.cache_delete("auth:antigravity:7").await.unwrap());
    assert_eq!(
        state
            .cache_get::<Token>("auth:antigravity:7")
            .await
            .unwrap(),
        None
    );
    harness.finish().await;
}

async fn cached_values_vanish_after_their_ttl(backend: Backend) {
    const TTL: Duration = Duration::from_millis(400);
    let Some(harness) = Harness::new(backend).await else {
        return;
    };
    let state = &harness.state;

    let set_at = Instant::now();
    state
        .cache_set("auth:anthropic:1", &token(), TTL)
        .await
        .unwrap();
    let fresh = state.cache_get::<Token>("auth:anthropic:1").await.unwrap();
    if set_at.elapsed() < TTL {
        assert_eq!(
            fresh,
            Some(token()),
            "a value is served before its TTL runs out"
        );
    }
    if let Some(raw) = &harness.raw {
        use fred::interfaces::KeysInterface;
        let ttl_ms: i64 = raw
            .pttl(harness.key("cache:auth:anthropic:1"))
            .await
            .unwrap();
        assert!(
            ttl_ms > 0 && ttl_ms <= 400,
            "the Redis key carries the TTL, got {ttl_ms} ms"
        );
    }

    eventually(
        Duration::from_secs(5),
        "the cached value to expire",
        || async {
            state
                .cache_get::<Token>("auth:anthropic:1")
                .await
                .unwrap()
                .is_none()
                .then_some(())
        },
    )
    .await;
    // Redis measures the TTL from when it received the SET, which is after
    // `set_at`; allow for its millisecond clock.
    assert!(
        set_at.elapsed() + Duration::from_millis(5) >= TTL,
        "expired after {:?}, before its TTL of {TTL:?}",
        set_at.elapsed()
    );
    harness.finish().await;
}

async fn zero_ttl_deletes(backend: Backend) {
    let Some(harness) = Harness::new(backend).await else {
        return;
    };
    let state = &harness.state;
    state
        .cache_set("k", &token(), Duration::from_secs(60))
        .await
        .unwrap();
    state
        .cache_set("k", &token(), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(state.cache_get::<Token>("k").await.unwrap(), None);
    harness.finish().await;
}

async fn a_value_of_another_shape_is_a_codec_error(backend: Backend) {
    let Some(harness) = Harness::new(backend).await else {
        return;
    };
    let state = &harness.state;
    state
        .cache_set("k", &42_u32, Duration::from_secs(60))
        .await
        .unwrap();
    let error = state.cache_get::<Token>("k").await.unwrap_err();
    assert!(matches!(error, StateError::Codec(_)), "{error:?}");
    assert!(!error.is_unavailable());
    harness.finish().await;
}

async fn a_taken_value_is_gone_and_only_one_taker_gets_it(backend: Backend) {
    let Some(harness) = Harness::new(backend).await else {
        return;
    };
    let state = &harness.state;
    assert_eq!(state.cache_take::<Token>("once").await.unwrap(), None);
    state
        .cache_set("once", &token(), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        state.cache_take::<Token>("once").await.unwrap(),
        Some(token())
    );
    assert_eq!(state.cache_take::<Token>("once").await.unwrap(), None);
    assert_eq!(state.cache_get::<Token>("once").await.unwrap(), None);

    // Many concurrent takers of one value: exactly one wins.
    state
        .cache_set("race", &token(), Duration::from_secs(60))
        .await
        .unwrap();
    let mut takers = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let state = state.clone();
        takers.spawn(async move { state.cache_take::<Token>("race").await.unwrap() });
    }
    let mut won = 0;
    while let Some(taken) = takers.join_next().await {
        if taken.unwrap().is_some() {
            won += 1;
        }
    }
    assert_eq!(won, 1, "one taker gets the value");
    harness.finish().await;
}
