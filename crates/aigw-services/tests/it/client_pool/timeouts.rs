//! Timeouts: connect (one deadline over TCP and TLS), first byte, idle read; and no total timeout.

use std::time::{Duration, Instant};

use aigw_services::client_pool::{
    ClientPool, Egress, ErrorSource, PoolConfig, TimeoutPhase, TransportErrorKind,
};
use http_body_util::BodyExt;

use super::support::{
    config, first_frame, get, silent_listener, stalling_server, text, trickling_server,
};

fn short_pool() -> ClientPool {
    ClientPool::new(PoolConfig {
        connect_timeout: Duration::from_millis(300),
        first_byte_timeout: Duration::from_millis(800),
        idle_read_timeout: Duration::from_millis(300),
        ..config()
    })
    .unwrap()
}

#[tokio::test]
async fn tls_handshake_that_never_completes_hits_the_connect_timeout() {
    let silent = silent_listener().await;
    let started = Instant::now();
    let error = short_pool()
        .send(&Egress::Direct, get(&format!("https://{silent}/")))
        .await
        .unwrap_err();
    assert_eq!(
        error.kind(),
        TransportErrorKind::Timeout(TimeoutPhase::Connect)
    );
    assert_eq!(error.error_source(), ErrorSource::Upstream);
    assert!(error.is_retryable_before_first_byte());
    assert!(
        started.elapsed() < Duration::from_millis(800),
        "the connect deadline fired first"
    );
}

#[tokio::test]
async fn upstream_that_never_answers_hits_the_first_byte_timeout() {
    let (addr, _closed) = stalling_server(b"").await;
    let started = Instant::now();
    let error = short_pool()
        .send(&Egress::Direct, get(&format!("http://{addr}/")))
        .await
        .unwrap_err();
    assert_eq!(
        error.kind(),
        TransportErrorKind::Timeout(TimeoutPhase::FirstByte)
    );
    assert_eq!(error.error_source(), ErrorSource::Upstream);
    assert!(error.is_retryable_before_first_byte());
    assert!(started.elapsed() >= Duration::from_millis(800));
}

#[tokio::test]
async fn stalled_body_hits_the_idle_timeout_after_the_first_frame() {
    let reply = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\ndata\r\n";
    let (addr, closed) = stalling_server(reply).await;
    let (mut body, first) = first_frame(&short_pool(), &format!("http://{addr}/")).await;
    assert_eq!(first, "data");

    let error = body.frame().await.unwrap().unwrap_err();
    assert_eq!(
        error.kind(),
        TransportErrorKind::Timeout(TimeoutPhase::Idle)
    );
    assert!(error.is_in_body());
    assert!(!error.is_retryable_before_first_byte());
    assert!(
        body.frame().await.is_none(),
        "the body ends after its error"
    );

    drop(body);
    tokio::time::timeout(Duration::from_secs(5), closed)
        .await
        .expect("the stalled upstream connection was not closed")
        .unwrap();
}

#[tokio::test]
async fn a_steady_stream_outlives_every_timeout() {
    // Fifteen chunks 100 ms apart: 1.5 s in all, longer than the first-byte and idle timeouts
    // together, yet no single gap reaches the idle timeout.
    let addr = trickling_server(15, Duration::from_millis(100)).await;
    let response = short_pool()
        .send(&Egress::Direct, get(&format!("http://{addr}/")))
        .await
        .unwrap();
    assert_eq!(text(response).await, "x".repeat(15));
}
