//! HTTP/1.1 upstreams on connections the request drives itself: reuse, bounds, stale and
//! closed idle connections, and a body read without a hop through another task.

use std::net::SocketAddr;
use std::time::Duration;

use aigw_services::client_pool::{ClientPool, Egress, PoolConfig};
use aigw_test_support::wait_until;
use futures_util::FutureExt as _;
use futures_util::future::join_all;
use http_body_util::BodyExt as _;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpListener;

use crate::inline_waker::wakes_during_poll;

use super::support::{Upstream, config, get, pool, read_head, text, upstream};

/// An echo upstream and a pool whose idle connections expire after 100 ms, after one request
/// left a connection idle in it.
async fn one_request_with_a_short_idle_timeout() -> (Upstream, ClientPool) {
    let upstream = upstream().await;
    let pool = ClientPool::new(PoolConfig {
        pool_idle_timeout: Duration::from_millis(100),
        ..config()
    })
    .unwrap();
    let response = pool
        .send(&Egress::Direct, get(&upstream.url("/a")))
        .await
        .unwrap();
    assert_eq!(text(response).await, "GET /a ");
    (upstream, pool)
}

#[tokio::test]
async fn a_connection_idle_past_the_idle_timeout_is_not_reused() {
    let (upstream, pool) = one_request_with_a_short_idle_timeout().await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    let response = pool
        .send(&Egress::Direct, get(&upstream.url("/b")))
        .await
        .unwrap();
    assert_eq!(text(response).await, "GET /b ");
    assert_eq!(upstream.accepted(), 2, "the stale connection was reused");
    wait_until(
        Duration::from_secs(5),
        "the stale connection to close",
        async || upstream.closed() == 1,
    )
    .await;
}

/// `n` requests to `upstream` at once, each answered; no connection is idle while they
/// run, so each one beyond the pool's idle connections opens a new one.
async fn burst(pool: &ClientPool, upstream: &Upstream, n: usize) {
    let accepted = upstream.accepted();
    let idle = accepted - upstream.closed();
    let bodies = join_all((0..n).map(|i| {
        let pool = pool.clone();
        let path = format!("/{i}");
        let url = upstream.url(&path);
        async move {
            let body = text(pool.send(&Egress::Direct, get(&url)).await.unwrap()).await;
            assert_eq!(body, format!("GET {path} "));
        }
    }))
    .await;
    assert_eq!(bodies.len(), n);
    assert_eq!(upstream.accepted(), accepted + n.saturating_sub(idle));
}

#[tokio::test]
async fn idle_connections_per_host_are_bounded() {
    let upstream = upstream().await;
    let pool = ClientPool::new(PoolConfig {
        max_idle_per_host: 2,
        ..config()
    })
    .unwrap();
    // Four at once: no connection is idle while they run, so four are opened.
    burst(&pool, &upstream, 4).await;
    wait_until(
        Duration::from_secs(5),
        "the connections beyond the bound to close",
        async || upstream.closed() == 2,
    )
    .await;
    // The two kept serve the next requests.
    for i in 0..4 {
        let response = pool
            .send(&Egress::Direct, get(&upstream.url(&format!("/again{i}"))))
            .await
            .unwrap();
        assert_eq!(text(response).await, format!("GET /again{i} "));
    }
    assert_eq!(upstream.accepted(), 4);
}

/// Answers each connection's first request with `body`, then closes the connection after
/// `linger`, as an upstream with a short keep-alive does.
async fn closing_server(body: &'static str, linger: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                if read_head(&mut stream).await.is_err() {
                    return;
                }
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
                tokio::time::sleep(linger).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn an_idle_connection_the_upstream_closed_is_replaced() {
    let addr = closing_server("hello", Duration::from_millis(20)).await;
    let pool = pool();
    let url = format!("http://{addr}/");
    for _ in 0..3 {
        let response = pool.send(&Egress::Direct, get(&url)).await.unwrap();
        assert_eq!(text(response).await, "hello");
        // Long enough for the upstream's close to arrive before the next request.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn pieces_that_arrived_together_are_read_without_waiting() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        read_head(&mut stream).await.unwrap();
        // Head, three pieces and the end in one write.
        let reply = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
            3\r\none\r\n3\r\ntwo\r\n5\r\nthree\r\n0\r\n\r\n";
        stream.write_all(reply).await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let pool = pool();
    let response = pool
        .send(&Egress::Direct, get(&format!("http://{addr}/")))
        .await
        .unwrap();
    let mut body = response.into_body();
    // The head arrived with the pieces, so they are in the connection's buffer: each one is
    // there on the first poll, with no other task to run in between.
    let mut pieces = Vec::new();
    for _ in 0..3 {
        let frame = body
            .frame()
            .now_or_never()
            .expect("a piece already received was not ready")
            .unwrap()
            .unwrap();
        pieces.push(frame.into_data().unwrap());
    }
    assert_eq!(pieces, ["one", "two", "three"]);
    assert!(
        body.frame()
            .now_or_never()
            .expect("the end was not ready")
            .is_none()
    );
}

#[tokio::test]
async fn the_sweep_closes_connections_idle_past_the_timeout() {
    let (upstream, pool) = one_request_with_a_short_idle_timeout().await;
    pool.close_idle_connections();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        upstream.closed(),
        0,
        "a connection within the timeout was closed"
    );
    // Past the timeout, nothing else touches the connection: only the sweep closes it.
    pool.close_idle_connections();
    wait_until(
        Duration::from_secs(5),
        "the sweep to close the stale connection",
        async || upstream.closed() == 1,
    )
    .await;
}

#[tokio::test]
async fn the_sweep_closes_a_bursts_surplus_connections_and_keeps_the_warm_ones() {
    let upstream = upstream().await;
    let pool = ClientPool::new(PoolConfig {
        warm_idle_per_host: 1,
        surplus_idle_timeout: Duration::from_millis(100),
        ..config()
    })
    .unwrap();
    // Three at once open three connections, all idle afterwards.
    burst(&pool, &upstream, 3).await;
    pool.close_idle_connections();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(upstream.closed(), 0, "a surplus connection closed too soon");
    pool.close_idle_connections();
    wait_until(
        Duration::from_secs(5),
        "the sweep to close the two surplus connections",
        async || upstream.closed() == 2,
    )
    .await;
    // The warm one, within the pool's idle timeout, serves the next request.
    burst(&pool, &upstream, 1).await;
    assert_eq!(upstream.accepted(), 3);
    assert_eq!(upstream.closed(), 2);
}

#[tokio::test]
async fn a_request_does_not_wake_its_own_task_while_it_runs() {
    let upstream = upstream().await;
    let pool = pool();
    // The first request opens the connection, the second reuses it.
    for path in ["/a", "/b"] {
        let (body, wakes) = wakes_during_poll(async {
            let response = pool
                .send(&Egress::Direct, get(&upstream.url(path)))
                .await
                .unwrap();
            text(response).await
        })
        .await;
        assert_eq!(body, format!("GET {path} "));
        assert_eq!(wakes, 0, "{path}: the request woke its own task");
    }
    assert_eq!(upstream.accepted(), 1);
}
