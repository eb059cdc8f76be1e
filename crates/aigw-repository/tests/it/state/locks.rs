//! Single-flight locks: exclusive, freed by expiry when the holder dies, and
//! never released by a guard that no longer owns them.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aigw_test_support::eventually;
use parking_lot::Mutex;
use tokio::task::JoinSet;

use super::support::{Backend, Harness, backend_tests};

backend_tests!(
    at_most_one_of_32_contenders_holds_the_lock,
    a_holder_that_never_releases_loses_the_lock_at_expiry,
    dropping_a_guard_releases_the_lock,
);

async fn at_most_one_of_32_contenders_holds_the_lock(backend: Backend) {
    const CONTENDERS: usize = 32;
    const ACQUISITIONS: usize = 200;
    let Some(harness) = Harness::new(backend).await else {
        return;
    };
    let state = Arc::new(harness.state.clone());
    let holders = Arc::new(AtomicUsize::new(0));
    let most_at_once = Arc::new(AtomicUsize::new(0));
    let acquisitions = Arc::new(AtomicUsize::new(0));
    let refusals = Arc::new(AtomicUsize::new(0));
    let winners = Arc::new(Mutex::new(HashSet::new()));
    let start = Arc::new(tokio::sync::Barrier::new(CONTENDERS));

    let mut tasks = JoinSet::new();
    for contender in 0..CONTENDERS {
        let (state, holders, most_at_once, acquisitions, refusals, winners, start) = (
            Arc::clone(&state),
            Arc::clone(&holders),
            Arc::clone(&most_at_once),
            Arc::clone(&acquisitions),
            Arc::clone(&refusals),
            Arc::clone(&winners),
            Arc::clone(&start),
        );
        tasks.spawn(async move {
            start.wait().await;
            while acquisitions.load(Ordering::SeqCst) < ACQUISITIONS {
                let Some(guard) = state
                    .try_lock("refresh:7", Duration::from_secs(30))
                    .await
                    .unwrap()
                else {
                    refusals.fetch_add(1, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    continue;
                };
                let now_holding = holders.fetch_add(1, Ordering::SeqCst) + 1;
                most_at_once.fetch_max(now_holding, Ordering::SeqCst);
                winners.lock().insert(contender);
                // Hold it until another contender has been refused (within a
                // bound), so contention happens however the scheduler orders
                // the tasks; an in-process lock never waits on its own.
                let seen = refusals.load(Ordering::SeqCst);
                for _ in 0..10_000 {
                    if refusals.load(Ordering::SeqCst) > seen {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
                holders.fetch_sub(1, Ordering::SeqCst);
                acquisitions.fetch_add(1, Ordering::SeqCst);
                assert!(
                    guard.release().await.unwrap(),
                    "the holder releases its own lock"
                );
                // Let the others try before trying again.
                tokio::task::yield_now().await;
            }
        });
    }
    tasks.join_all().await;

    assert_eq!(
        most_at_once.load(Ordering::SeqCst),
        1,
        "two contenders held the lock at once"
    );
    assert!(acquisitions.load(Ordering::SeqCst) >= ACQUISITIONS);
    assert!(
        refusals.load(Ordering::SeqCst) > 0,
        "the contenders never contended"
    );
    assert!(winners.lock().len() > 1, "only one contender ever won");
    harness.finish().await;
}

async fn a_holder_that_never_releases_loses_the_lock_at_expiry(backend: Backend) {
    const TTL: Duration = Duration::from_millis(300);
    let Some(harness) = Harness::new(backend).await else {
        return;
    };
    let state = &harness.state;

    let taken_at = Instant::now();
    let stale = state
        .try_lock("refresh:9", TTL)
        .await
        .unwrap()
        .expect("the lock is free");
    assert!(state.try_lock("refresh:9", TTL).await.unwrap().is_none() || taken_at.elapsed() >= TTL);

    // The holder "dies" (never releases); someone else gets the lock once
    // the TTL has run out.
    let successor = eventually(Duration::from_secs(5), "the lock to expire", || async {
        state
            .try_lock("refresh:9", Duration::from_secs(30))
            .await
            .unwrap()
    })
    .await;
    assert!(
        taken_at.elapsed() + Duration::from_millis(5) >= TTL,
        "the lock was free after {:?}, before its TTL of {TTL:?}",
        taken_at.elapsed()
    );

    // The stale guard cannot release the successor's lock.
    assert!(
        !stale.release().await.unwrap(),
        "a stale guard released someone else's lock"
    );
    assert!(
        state
            .try_lock("refresh:9", Duration::from_secs(30))
            .await
            .unwrap()
            .is_none(),
        "the successor's lock is still held"
    );
    assert!(successor.release().await.unwrap());
    assert!(state.try_lock("refresh:9", TTL).await.unwrap().is_some());
    harness.finish().await;
}

async fn dropping_a_guard_releases_the_lock(backend: Backend) {
    let Some(harness) = Harness::new(backend).await else {
        return;
    };
    let state = &harness.state;
    let guard = state
        .try_lock("refresh:3", Duration::from_secs(60))
        .await
        .unwrap()
        .expect("free");
    assert_eq!(guard.key(), "refresh:3");
    drop(guard);
    // Far sooner than the 60 s TTL.
    let again = eventually(
        Duration::from_secs(5),
        "the dropped guard's release",
        || async {
            state
                .try_lock("refresh:3", Duration::from_secs(60))
                .await
                .unwrap()
        },
    )
    .await;
    assert!(again.release().await.unwrap());
    harness.finish().await;
}
