//! Proxy egresses: HTTP CONNECT (plain and TLS, with basic auth) and SOCKS5 (with and without
//! username/password, local and remote name resolution). No failure ever falls back to direct.

use std::time::Duration;

use aigw_services::client_pool::{
    ClientPool, Egress, ErrorSource, PoolConfig, ProxyFailure, TimeoutPhase, TransportErrorKind,
};

use super::support::{
    Target, assert_no_secret, closed_port, config, connect_proxy, get, pool, silent_listener,
    socks5_proxy, text, upstream,
};

fn egress(url: &str) -> Egress {
    Egress::for_proxy_url(Some(url)).unwrap()
}

#[tokio::test]
async fn http_connect_proxy_tunnels_with_basic_auth_and_keeps_the_tunnel_alive() {
    let upstream = upstream().await;
    let proxy = connect_proxy(Some(("alice", "s3cret-pw")), false).await;
    let egress = egress(&proxy.url("http", Some(("alice", "s3cret-pw"))));
    let pool = pool();

    for i in 0..3 {
        let response = pool
            .send(&egress, get(&upstream.url(&format!("/{i}"))))
            .await
            .unwrap();
        assert_eq!(text(response).await, format!("GET /{i} "));
    }

    assert_eq!(proxy.tunnels(), 1, "one tunnel, reused by keep-alive");
    assert_eq!(
        proxy.targets(),
        vec![Target::Address(upstream.addr.to_string())]
    );
    assert_eq!(upstream.accepted(), 1);
    assert_eq!(
        upstream.peers(),
        proxy.outbound(),
        "the upstream sees the proxy's connection"
    );
}

#[tokio::test]
async fn https_proxy_speaks_tls_to_the_proxy() {
    let upstream = upstream().await;
    let proxy = connect_proxy(Some(("bob", "tls-pw")), true).await;
    let egress = egress(&proxy.url("https", Some(("bob", "tls-pw"))));

    let response = pool()
        .send(&egress, get(&upstream.url("/x")))
        .await
        .unwrap();
    assert_eq!(text(response).await, "GET /x ");
    assert_eq!(proxy.tunnels(), 1);
    assert_eq!(upstream.peers(), proxy.outbound());
}

#[tokio::test]
async fn rejected_proxy_credentials_are_a_typed_error_and_never_go_direct() {
    let upstream = upstream().await;
    let proxy = connect_proxy(Some(("alice", "right-pw")), false).await;
    let pool = pool();

    for credentials in [Some(("alice", "wrong-pw-123")), None] {
        let egress = egress(&proxy.url("http", credentials));
        let error = pool
            .send(&egress, get(&upstream.url("/")))
            .await
            .unwrap_err();
        assert_eq!(
            error.kind(),
            TransportErrorKind::ProxyConnect(ProxyFailure::AuthRejected)
        );
        assert_eq!(error.error_source(), ErrorSource::Proxy);
        assert!(error.is_retryable_before_first_byte());
        assert_no_secret(&error, "wrong-pw-123");
    }
    assert_eq!(proxy.tunnels(), 0);
    assert_eq!(upstream.accepted(), 0, "no direct fallback");
}

#[tokio::test]
async fn proxy_that_cannot_reach_the_upstream_refuses_the_tunnel() {
    let target = closed_port().await;
    let proxy = connect_proxy(None, false).await;
    let error = pool()
        .send(
            &egress(&proxy.url("http", None)),
            get(&format!("http://{target}/")),
        )
        .await
        .unwrap_err();
    assert_eq!(
        error.kind(),
        TransportErrorKind::ProxyConnect(ProxyFailure::TunnelRefused)
    );
    assert_eq!(error.error_source(), ErrorSource::Proxy);
}

#[tokio::test]
async fn unreachable_proxy_is_a_proxy_error_and_never_goes_direct() {
    let upstream = upstream().await;
    let dead = closed_port().await;
    for scheme in ["http", "socks5h"] {
        let egress = egress(&format!("{scheme}://carol:hidden-pw-9@{dead}"));
        let error = pool()
            .send(&egress, get(&upstream.url("/")))
            .await
            .unwrap_err();
        assert_eq!(
            error.kind(),
            TransportErrorKind::ProxyConnect(ProxyFailure::Unreachable),
            "{scheme}"
        );
        assert_eq!(error.error_source(), ErrorSource::Proxy);
        assert!(error.is_retryable_before_first_byte());
        assert_no_secret(&error, "hidden-pw-9");
    }
    assert_eq!(upstream.accepted(), 0, "no direct fallback");
}

#[tokio::test]
async fn silent_proxy_hits_the_connect_deadline_blamed_on_the_proxy() {
    let upstream = upstream().await;
    let silent = silent_listener().await;
    let pool = ClientPool::new(PoolConfig {
        connect_timeout: Duration::from_millis(300),
        ..config()
    })
    .unwrap();
    for scheme in ["http", "socks5"] {
        let egress = egress(&format!("{scheme}://{silent}"));
        let error = pool
            .send(&egress, get(&upstream.url("/")))
            .await
            .unwrap_err();
        assert_eq!(
            error.kind(),
            TransportErrorKind::Timeout(TimeoutPhase::Connect),
            "{scheme}"
        );
        assert_eq!(error.error_source(), ErrorSource::Proxy);
    }
    assert_eq!(upstream.accepted(), 0);
}

#[tokio::test]
async fn socks5_without_credentials_tunnels_to_the_upstream() {
    let upstream = upstream().await;
    let proxy = socks5_proxy(None).await;
    let egress = egress(&proxy.url("socks5", None));
    let pool = pool();

    for _ in 0..2 {
        let response = pool.send(&egress, get(&upstream.url("/s"))).await.unwrap();
        assert_eq!(text(response).await, "GET /s ");
    }
    assert_eq!(proxy.tunnels(), 1);
    assert_eq!(
        proxy.targets(),
        vec![Target::Address(upstream.addr.to_string())]
    );
    assert_eq!(upstream.peers(), proxy.outbound());
}

#[tokio::test]
async fn socks5_with_credentials_authenticates_and_rejects_wrong_ones() {
    let upstream = upstream().await;
    let proxy = socks5_proxy(Some(("dave", "sock-pw"))).await;
    let pool = pool();

    let good = egress(&proxy.url("socks5", Some(("dave", "sock-pw"))));
    let response = pool.send(&good, get(&upstream.url("/ok"))).await.unwrap();
    assert_eq!(text(response).await, "GET /ok ");
    assert_eq!(proxy.tunnels(), 1);

    let bad = egress(&proxy.url("socks5", Some(("dave", "not-the-pw-77"))));
    let error = pool
        .send(&bad, get(&upstream.url("/no")))
        .await
        .unwrap_err();
    assert_eq!(
        error.kind(),
        TransportErrorKind::ProxyConnect(ProxyFailure::AuthRejected)
    );
    assert_eq!(error.error_source(), ErrorSource::Proxy);
    assert_no_secret(&error, "not-the-pw-77");

    // A proxy that requires credentials, reached without any.
    let anonymous = egress(&proxy.url("socks5", None));
    let error = pool
        .send(&anonymous, get(&upstream.url("/no")))
        .await
        .unwrap_err();
    assert!(matches!(error.kind(), TransportErrorKind::ProxyConnect(_)));
    assert_eq!(proxy.tunnels(), 1);
    assert_eq!(
        upstream.accepted(),
        1,
        "only the authenticated request arrived"
    );
}

#[tokio::test]
async fn socks5h_lets_the_proxy_resolve_the_host_name() {
    let upstream = upstream().await;
    let proxy = socks5_proxy(None).await;
    let port = upstream.addr.port();

    let response = pool()
        .send(
            &egress(&proxy.url("socks5h", None)),
            get(&format!("http://localhost:{port}/h")),
        )
        .await
        .unwrap();
    assert_eq!(text(response).await, "GET /h ");
    assert_eq!(
        proxy.targets(),
        vec![Target::Domain("localhost".into(), port)]
    );
}

#[tokio::test]
async fn socks5_resolves_the_host_name_on_the_gateway() {
    let proxy = socks5_proxy(None).await;
    let port = closed_port().await.port();

    // Whether the request succeeds depends on which loopback address `localhost` resolves to
    // first; what matters is that the proxy never saw the name.
    let _ = pool()
        .send(
            &egress(&proxy.url("socks5", None)),
            get(&format!("http://localhost:{port}/")),
        )
        .await;
    let targets = proxy.targets();
    assert_eq!(targets.len(), 1);
    let Target::Address(address) = &targets[0] else {
        panic!("socks5 sent a host name to the proxy: {targets:?}");
    };
    let address: std::net::SocketAddr = address.parse().unwrap();
    assert!(address.ip().is_loopback());
    assert_eq!(address.port(), port);
}
