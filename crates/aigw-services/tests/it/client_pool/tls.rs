//! TLS upstreams: HTTP/2 or HTTP/1.1 chosen by ALPN, and certificate failures typed as TLS.

use aigw_services::client_pool::{ClientPool, Egress, ErrorSource, PoolConfig, TransportErrorKind};
use http::Version;

use super::support::{config, connect_proxy, get, pool, text, tls_upstream};

#[tokio::test]
async fn alpn_selects_http2_and_one_connection_carries_all_requests() {
    let upstream = tls_upstream().await;
    let pool = pool();
    for i in 0..3 {
        let url = format!("https://localhost:{}/{i}", upstream.addr.port());
        let response = pool.send(&Egress::Direct, get(&url)).await.unwrap();
        assert_eq!(response.version(), Version::HTTP_2);
        assert_eq!(response.headers()["x-upstream-version"], "HTTP/2.0");
        assert_eq!(text(response).await, format!("GET /{i} "));
    }
    assert_eq!(upstream.accepted(), 1);
}

#[tokio::test]
async fn http1_is_used_when_http2_is_disabled() {
    let upstream = tls_upstream().await;
    let pool = ClientPool::new(PoolConfig {
        enable_http2: false,
        ..config()
    })
    .unwrap();
    let url = format!("https://127.0.0.1:{}/one", upstream.addr.port());
    let response = pool.send(&Egress::Direct, get(&url)).await.unwrap();
    assert_eq!(response.version(), Version::HTTP_11);
    assert_eq!(response.headers()["x-upstream-version"], "HTTP/1.1");
}

#[tokio::test]
async fn http2_by_alpn_works_through_a_connect_tunnel() {
    let upstream = tls_upstream().await;
    let proxy = connect_proxy(None, true).await;
    let egress = Egress::for_proxy_url(Some(&proxy.url("https", None))).unwrap();
    let url = format!("https://localhost:{}/tunnelled", upstream.addr.port());
    let response = pool().send(&egress, get(&url)).await.unwrap();
    // The proxy hop is TLS with http/1.1 only; the upstream's own ALPN decides the version.
    assert_eq!(response.version(), Version::HTTP_2);
    assert_eq!(text(response).await, "GET /tunnelled ");
    assert_eq!(proxy.tunnels(), 1);
}

#[tokio::test]
async fn untrusted_certificate_is_a_tls_error() {
    let upstream = tls_upstream().await;
    let pool = ClientPool::new(PoolConfig {
        extra_root_certificates: Vec::new(),
        ..config()
    })
    .unwrap();
    let url = format!("https://localhost:{}/", upstream.addr.port());
    let error = pool.send(&Egress::Direct, get(&url)).await.unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::Tls);
    assert_eq!(error.error_source(), ErrorSource::Upstream);
    assert!(error.is_retryable_before_first_byte());
}
