//! The HTTP CONNECT and SOCKS5 proxies: tunnels, counts, targets, auth, and telling a
//! proxied upstream connection from a direct one.

use aigw_mock_upstream::{MockProxy, MockUpstream, ProxyKind};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderValue, Method, Uri};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::proxy::{SocksV5, Tunnel};
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{WAIT, chat, collect, request};

fn via_connect(
    proxy: &MockProxy,
    auth: Option<(&str, &str)>,
) -> Client<Tunnel<HttpConnector>, Full<Bytes>> {
    let mut tunnel = Tunnel::new(
        proxy.url_without_auth().parse::<Uri>().unwrap(),
        HttpConnector::new(),
    );
    if let Some((user, pass)) = auth {
        let token = STANDARD.encode(format!("{user}:{pass}"));
        tunnel = tunnel.with_auth(HeaderValue::from_str(&format!("Basic {token}")).unwrap());
    }
    Client::builder(TokioExecutor::new()).build(tunnel)
}

fn via_socks(
    proxy: &MockProxy,
    auth: Option<(&str, &str)>,
) -> Client<SocksV5<HttpConnector>, Full<Bytes>> {
    // The inner connector dials the proxy itself, whose URL is not http://.
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    let mut socks = SocksV5::new(proxy.url_without_auth().parse::<Uri>().unwrap(), http);
    if let Some((user, pass)) = auth {
        socks = socks.with_auth(user.to_owned(), pass.to_owned());
    }
    Client::builder(TokioExecutor::new()).build(socks)
}

fn chat_request(mock: &MockUpstream) -> http::Request<Full<Bytes>> {
    request(
        Method::POST,
        &format!("{}/v1/chat/completions", mock.base_url()),
        &[("authorization", "Bearer sk-proxied")],
        Some(&chat("via proxy")),
    )
}

#[tokio::test]
async fn a_connect_tunnel_reaches_the_upstream_and_is_counted() {
    let mock = MockUpstream::start().await.unwrap();
    let proxy = MockProxy::start(None).await.unwrap();
    assert_eq!(proxy.kind(), ProxyKind::Http);
    let client = via_connect(&proxy, None);

    let resp = collect(client.request(chat_request(&mock)).await.unwrap()).await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.json()["choices"][0]["message"]["content"],
        "echo: via proxy"
    );
    // A second request reuses the pooled tunnel.
    collect(client.request(chat_request(&mock)).await.unwrap()).await;

    assert!(proxy.wait_tunnels(1, WAIT).await);
    assert_eq!(proxy.tunnels(), 1);
    assert_eq!(proxy.connections(), 1);
    assert_eq!(proxy.targets(), [mock.addr().to_string()]);
    let tunnel = &proxy.tunnel_log()[0];
    assert!(!tunnel.forwarded);
    // The upstream saw the proxy's outbound socket, not the client's.
    let recorded = mock.requests_for("sk-proxied");
    assert!(recorded.iter().all(|r| r.peer == tunnel.outbound));
    assert_ne!(recorded[0].peer, tunnel.client);
}

#[tokio::test]
async fn connect_with_auth_admits_right_credentials_and_answers_407_otherwise() {
    let mock = MockUpstream::start().await.unwrap();
    let proxy = MockProxy::start(Some(("user", "p@ss word"))).await.unwrap();
    assert!(
        proxy
            .url()
            .starts_with("http://user:p%40ss%20word@127.0.0.1:")
    );

    let ok = collect(
        via_connect(&proxy, Some(("user", "p@ss word")))
            .request(chat_request(&mock))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(ok.status, 200);

    assert!(
        via_connect(&proxy, Some(("user", "wrong")))
            .request(chat_request(&mock))
            .await
            .is_err()
    );
    assert!(
        via_connect(&proxy, None)
            .request(chat_request(&mock))
            .await
            .is_err()
    );
    assert_eq!(proxy.rejected(), 2);
    assert_eq!(proxy.tunnels(), 1);

    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    let connect = format!("CONNECT {0} HTTP/1.1\r\nhost: {0}\r\n\r\n", mock.addr());
    stream.write_all(connect.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await.unwrap();
    let reply = String::from_utf8(reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 407 "), "{reply}");
    assert!(
        reply
            .to_ascii_lowercase()
            .contains("proxy-authenticate: basic")
    );
}

#[tokio::test]
async fn absolute_form_requests_are_forwarded_without_proxy_credentials() {
    let mock = MockUpstream::start().await.unwrap();
    let proxy = MockProxy::start(Some(("u", "p"))).await.unwrap();
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    let request = format!(
        "GET http://{0}/v1/models HTTP/1.1\r\nhost: {0}\r\nauthorization: Bearer sk-fwd\r\n\
         proxy-authorization: Basic {1}\r\nconnection: close\r\n\r\n",
        mock.addr(),
        STANDARD.encode("u:p")
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await.unwrap();
    assert!(
        reply.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&reply)
    );

    let recorded = &mock.requests_for("sk-fwd")[0];
    assert!(recorded.headers.get("proxy-authorization").is_none());
    let tunnel = &proxy.tunnel_log()[0];
    assert!(tunnel.forwarded);
    assert_eq!(recorded.peer, tunnel.outbound);
}

#[tokio::test]
async fn targets_off_the_loopback_are_refused() {
    let proxy = MockProxy::start(None).await.unwrap();
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    stream
        .write_all(b"CONNECT 192.0.2.1:443 HTTP/1.1\r\nhost: 192.0.2.1:443\r\n\r\n")
        .await
        .unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await.unwrap();
    assert!(reply.starts_with(b"HTTP/1.1 403"));
    assert_eq!(proxy.tunnels(), 0);
}

#[tokio::test]
async fn a_socks5_tunnel_reaches_the_upstream_and_is_counted() {
    let mock = MockUpstream::start().await.unwrap();
    let proxy = MockProxy::start_socks5(None).await.unwrap();
    assert_eq!(proxy.kind(), ProxyKind::Socks5);
    assert!(proxy.url().starts_with("socks5://127.0.0.1:"));

    let resp = collect(
        via_socks(&proxy, None)
            .request(chat_request(&mock))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(proxy.tunnels(), 1);
    assert_eq!(proxy.connections(), 1);
    assert_eq!(proxy.targets(), [mock.addr().to_string()]);
    assert_eq!(
        mock.requests_for("sk-proxied")[0].peer,
        proxy.tunnel_log()[0].outbound
    );
}

#[tokio::test]
async fn socks5_username_password_auth() {
    let mock = MockUpstream::start().await.unwrap();
    let proxy = MockProxy::start_socks5(Some(("alice", "secret")))
        .await
        .unwrap();
    assert!(proxy.url().starts_with("socks5://alice:secret@127.0.0.1:"));

    let ok = collect(
        via_socks(&proxy, Some(("alice", "secret")))
            .request(chat_request(&mock))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(ok.status, 200);
    assert!(
        via_socks(&proxy, Some(("alice", "nope")))
            .request(chat_request(&mock))
            .await
            .is_err()
    );
    assert_eq!(proxy.rejected(), 1);

    // A client offering only "no authentication" gets "no acceptable methods".
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    stream.write_all(&[5, 1, 0]).await.unwrap();
    let mut reply = [0u8; 2];
    stream.read_exact(&mut reply).await.unwrap();
    assert_eq!(reply, [5, 0xFF]);
    assert_eq!(proxy.rejected(), 2);
    assert_eq!(proxy.tunnels(), 1);
}

#[tokio::test]
async fn socks5_domain_targets_resolve_to_loopback_only() {
    let mock = MockUpstream::start().await.unwrap();
    let proxy = MockProxy::start_socks5(None).await.unwrap();
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    stream.write_all(&[5, 1, 0]).await.unwrap();
    let mut choice = [0u8; 2];
    stream.read_exact(&mut choice).await.unwrap();
    assert_eq!(choice, [5, 0]);
    let host = b"localhost";
    let mut connect = vec![5, 1, 0, 3, host.len() as u8];
    connect.extend_from_slice(host);
    connect.extend_from_slice(&mock.addr().port().to_be_bytes());
    stream.write_all(&connect).await.unwrap();
    let mut reply = [0u8; 10];
    stream.read_exact(&mut reply).await.unwrap();
    assert_eq!(&reply[..2], &[5, 0], "connect must succeed");
    assert_eq!(
        proxy.targets(),
        [format!("localhost:{}", mock.addr().port())]
    );

    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    stream.write_all(&[5, 1, 0]).await.unwrap();
    stream.read_exact(&mut choice).await.unwrap();
    stream
        .write_all(&[5, 1, 0, 1, 192, 0, 2, 1, 1, 187])
        .await
        .unwrap();
    stream.read_exact(&mut reply).await.unwrap();
    assert_eq!(reply[1], 2, "not allowed by ruleset");
}
