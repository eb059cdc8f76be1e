//! Recording: every request with its key, headers, body and peer, in order.

use aigw_mock_upstream::{Endpoint, MockUpstream};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{ANTHROPIC, WAIT, chat, client, contents, get, messages, post};

#[tokio::test]
async fn every_request_is_recorded_in_order_with_its_account_key() {
    let mock = MockUpstream::start().await.unwrap();
    let base = mock.base_url();
    post(
        &client(),
        &format!("{base}/v1/chat/completions?trace=1"),
        &[("authorization", "Bearer sk-o"), ("x-custom", "yes")],
        &chat("a"),
    )
    .await;
    post(
        &client(),
        &format!("{base}/v1/messages"),
        &[("x-api-key", "sk-a"), ANTHROPIC],
        &messages("b", false),
    )
    .await;
    post(
        &client(),
        &format!("{base}/v1beta/models/gemini-2.5-flash:generateContent"),
        &[("x-goog-api-key", "g-1")],
        &contents("c"),
    )
    .await;
    get(
        &client(),
        &format!("{base}/v1/models"),
        &[("authorization", "Bearer sk-o")],
    )
    .await;

    let all = mock.requests();
    assert_eq!(all.len(), 4);
    assert_eq!(all.iter().map(|r| r.seq).collect::<Vec<_>>(), [0, 1, 2, 3]);
    assert_eq!(
        all.iter().map(|r| r.endpoint).collect::<Vec<_>>(),
        [
            Endpoint::OpenAiChat,
            Endpoint::AnthropicMessages,
            Endpoint::GeminiGenerate,
            Endpoint::Models
        ]
    );
    let first = &all[0];
    assert_eq!(first.method, http::Method::POST);
    assert_eq!(first.path, "/v1/chat/completions");
    assert_eq!(first.query.as_deref(), Some("trace=1"));
    assert_eq!(first.header("x-custom"), Some("yes"));
    assert_eq!(first.json().unwrap()["messages"][1]["content"], "a");
    assert_eq!(first.account_key.as_deref(), Some("sk-o"));
    assert_eq!(all[1].account_key.as_deref(), Some("sk-a"));
    assert_eq!(all[2].account_key.as_deref(), Some("g-1"));
    assert!(all.windows(2).all(|w| w[0].at <= w[1].at));

    assert_eq!(mock.count_for("sk-o"), 2);
    assert_eq!(mock.requests_for("sk-a").len(), 1);
    assert_eq!(mock.requests_to(Endpoint::GeminiGenerate).len(), 1);
    assert_eq!(mock.last_request().unwrap().endpoint, Endpoint::Models);
    assert_eq!(mock.count_for("nobody"), 0);

    mock.clear();
    assert!(mock.requests().is_empty());
    assert_eq!(mock.count_for("sk-o"), 0);
    assert_eq!(mock.total_requests(), 4);
}

#[tokio::test]
async fn the_peer_address_is_the_clients_socket() {
    let mock = MockUpstream::start().await.unwrap();
    let mut stream = TcpStream::connect(mock.addr()).await.unwrap();
    let local = stream.local_addr().unwrap();
    let request = format!(
        "GET /v1/models HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer k\r\nconnection: close\r\n\r\n",
        mock.addr()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    assert!(response.starts_with(b"HTTP/1.1 200"));
    assert_eq!(mock.requests()[0].peer, local);
}

#[tokio::test]
async fn with_recording_off_requests_are_counted_not_kept() {
    let mock = MockUpstream::start().await.unwrap();
    mock.set_recording(false);
    let url = format!("{}/v1/chat/completions", mock.base_url());
    post(
        &client(),
        &url,
        &[("authorization", "Bearer k")],
        &chat("x"),
    )
    .await;
    post(
        &client(),
        &url,
        &[("authorization", "Bearer k")],
        &chat("x"),
    )
    .await;
    post(
        &client(),
        &url,
        &[("authorization", "Bearer k2")],
        &chat("x"),
    )
    .await;
    assert!(mock.requests().is_empty());
    assert_eq!(mock.count_for("k"), 2);
    assert_eq!(mock.count_for("k2"), 1);
    assert_eq!(mock.total_requests(), 3);
    assert!(mock.wait_requests(3, WAIT).await);
    mock.set_recording(true);
    post(
        &client(),
        &url,
        &[("authorization", "Bearer k")],
        &json!({"model": "m", "messages": []}),
    )
    .await;
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn pooled_requests_share_one_connection() {
    let mock = MockUpstream::start().await.unwrap();
    let client = client();
    let url = format!("{}/v1/chat/completions", mock.base_url());
    for _ in 0..3 {
        post(&client, &url, &[("authorization", "Bearer k")], &chat("x")).await;
    }
    assert_eq!(mock.connections(), 1);
    let peers: Vec<_> = mock.requests().iter().map(|r| r.peer).collect();
    assert!(peers.windows(2).all(|w| w[0] == w[1]));
}

#[tokio::test]
async fn shutdown_closes_the_listener() {
    let mock = MockUpstream::start().await.unwrap();
    let addr = mock.addr();
    mock.shutdown().await;
    let err = TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}
