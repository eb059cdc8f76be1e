//! Direct egress: requests, keep-alive reuse, connect failures, cancellation by drop.

use std::time::Duration;

use aigw_services::client_pool::{Egress, ErrorSource, TransportErrorKind};
use http::StatusCode;

use super::support::{
    chunked_server, closed_port, first_frame, get, pool, post, stalling_server, text, upstream,
};

#[tokio::test]
async fn direct_get_and_post_reach_the_upstream() {
    let upstream = upstream().await;
    let pool = pool();

    let response = pool
        .send(&Egress::Direct, get(&upstream.url("/v1/models")))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(text(response).await, "GET /v1/models ");

    let response = pool
        .send(
            &Egress::Direct,
            post(&upstream.url("/v1/chat/completions"), "{\"a\":1}"),
        )
        .await
        .unwrap();
    assert_eq!(text(response).await, "POST /v1/chat/completions {\"a\":1}");
    assert_eq!(pool.len(), 1);
}

#[tokio::test]
async fn sequential_requests_reuse_one_keep_alive_connection() {
    let upstream = upstream().await;
    let pool = pool();
    for i in 0..5 {
        let response = pool
            .send(&Egress::Direct, get(&upstream.url(&format!("/{i}"))))
            .await
            .unwrap();
        assert_eq!(text(response).await, format!("GET /{i} "));
    }
    assert_eq!(
        upstream.accepted(),
        1,
        "keep-alive should reuse the first connection"
    );
    assert_eq!(pool.len(), 1);
}

#[tokio::test]
async fn refused_connection_is_a_retryable_upstream_connect_error() {
    let addr = closed_port().await;
    let error = pool()
        .send(&Egress::Direct, get(&format!("http://{addr}/")))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::Connect);
    assert_eq!(error.error_source(), ErrorSource::Upstream);
    assert!(error.is_retryable_before_first_byte());
    assert!(!error.is_in_body());
}

#[tokio::test]
async fn relative_uri_is_rejected_before_any_client_is_built() {
    let pool = pool();
    let error = pool
        .send(&Egress::Direct, get("/v1/models"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::InvalidRequest);
    assert_eq!(error.error_source(), ErrorSource::Internal);
    assert!(!error.is_retryable_before_first_byte());
    assert!(pool.is_empty());

    let error = pool
        .send(&Egress::Direct, get("ftp://127.0.0.1/x"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::InvalidRequest);
}

#[tokio::test]
async fn dropping_the_body_closes_the_upstream_connection() {
    let reply = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n";
    let (addr, closed) = stalling_server(reply).await;
    let (body, first) = first_frame(&pool(), &format!("http://{addr}/stream")).await;
    assert_eq!(first, "first");

    // The client went away: the executor drops the body, and the upstream must see it.
    drop(body);
    tokio::time::timeout(Duration::from_secs(5), closed)
        .await
        .expect("upstream connection still open after the body was dropped")
        .unwrap();
}

#[tokio::test]
async fn a_body_dropped_with_its_rest_already_arrived_keeps_its_connection() {
    // A stream's reader stops at the end marker; the chunked encoding's last chunk came in
    // the same packet. The next request reuses the connection instead of opening another.
    let (addr, accepted) = chunked_server("data: [DONE]\n\n").await;
    let pool = pool();
    for _ in 0..3 {
        let (body, first) = first_frame(&pool, &format!("http://{addr}/stream")).await;
        assert_eq!(first, "data: [");
        drop(body);
    }
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
}
