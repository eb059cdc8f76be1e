//! The pool itself: one client per egress, created once, bounded, and dropped on request.

use std::time::Duration;

use aigw_services::client_pool::{ClientPool, Egress, PoolConfig, PoolError};
use aigw_test_support::wait_until;
use futures_util::future::join_all;

use super::support::{closed_port, config, get, pool, text, upstream};

async fn dead_proxy_egress() -> Egress {
    let addr = closed_port().await;
    Egress::for_proxy_url(Some(&format!("http://{addr}"))).unwrap()
}

#[tokio::test]
async fn concurrent_first_use_creates_one_client() {
    let upstream = upstream().await;
    let pool = pool();
    let url = upstream.url("/c");
    let responses = join_all((0..8).map(|_| pool.send(&Egress::Direct, get(&url)))).await;
    for response in responses {
        assert_eq!(text(response.unwrap()).await, "GET /c ");
    }
    assert_eq!(pool.len(), 1);
    assert_eq!(pool.evictions(), 0);
}

#[tokio::test]
async fn pool_is_bounded_and_evicts_the_least_recently_used_egress() {
    let upstream = upstream().await;
    let pool = ClientPool::new(PoolConfig {
        max_clients: 2,
        ..config()
    })
    .unwrap();
    let (a, b, c) = (
        Egress::Direct,
        dead_proxy_egress().await,
        dead_proxy_egress().await,
    );

    // A client is created on first use, even when the call then fails.
    pool.send(&a, get(&upstream.url("/"))).await.unwrap();
    let _ = pool.send(&b, get(&upstream.url("/"))).await.unwrap_err();
    pool.send(&a, get(&upstream.url("/"))).await.unwrap();
    assert_eq!(pool.len(), 2);

    let _ = pool.send(&c, get(&upstream.url("/"))).await.unwrap_err();
    assert_eq!(pool.len(), 2);
    assert_eq!(pool.evictions(), 1);
    assert!(pool.contains(&a), "the recently used egress stays");
    assert!(!pool.contains(&b), "the least recently used egress goes");
    assert!(pool.contains(&c));
}

#[tokio::test]
async fn removing_an_egress_drops_its_client_and_closes_idle_connections() {
    let upstream = upstream().await;
    let pool = pool();
    let response = pool
        .send(&Egress::Direct, get(&upstream.url("/")))
        .await
        .unwrap();
    text(response).await;
    assert_eq!(upstream.accepted(), 1);
    assert_eq!(upstream.closed(), 0, "the connection idles in the pool");

    assert!(pool.remove(&Egress::Direct));
    assert!(!pool.remove(&Egress::Direct));
    assert!(pool.is_empty());
    wait_until(
        Duration::from_secs(5),
        "the idle connection of a removed egress to close",
        async || upstream.closed() == 1,
    )
    .await;

    // The egress works again with a fresh client.
    let response = pool
        .send(&Egress::Direct, get(&upstream.url("/again")))
        .await
        .unwrap();
    assert_eq!(text(response).await, "GET /again ");
    assert_eq!(upstream.accepted(), 2);
}

#[tokio::test]
async fn retain_keeps_only_the_egresses_still_wanted() {
    let pool = pool();
    let (kept, deleted) = (dead_proxy_egress().await, dead_proxy_egress().await);
    let _ = pool.send(&kept, get("http://127.0.0.1:9/")).await;
    let _ = pool.send(&deleted, get("http://127.0.0.1:9/")).await;
    assert_eq!(pool.len(), 2);

    pool.retain(|egress| *egress == kept);
    assert!(pool.contains(&kept));
    assert!(!pool.contains(&deleted));
    assert_eq!(pool.len(), 1);
}

#[test]
fn settings_are_validated() {
    let cases = [
        (
            PoolConfig {
                first_byte_timeout: Duration::from_secs(5),
                connect_timeout: Duration::from_secs(5),
                ..PoolConfig::default()
            },
            "first_byte_timeout",
        ),
        (
            PoolConfig {
                max_clients: 0,
                ..PoolConfig::default()
            },
            "max_clients",
        ),
        (
            PoolConfig {
                connect_timeout: Duration::ZERO,
                ..PoolConfig::default()
            },
            "connect_timeout",
        ),
    ];
    for (config, expected) in cases {
        match ClientPool::new(config) {
            Err(PoolError::InvalidConfig { field, .. }) => assert_eq!(field, expected),
            other => panic!("expected InvalidConfig for {expected}, got {other:?}"),
        }
    }
    assert!(ClientPool::new(PoolConfig::default()).is_ok());
}
