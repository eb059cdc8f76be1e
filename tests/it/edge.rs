//! The HTTP edge against clients that misbehave or are slow: connections
//! that send nothing or trickle, bodies that stop, a client writing a body
//! too large before it reads, more connections than the cap, and shutdown
//! with such connections open. Raw sockets, so the test controls every byte.

use std::time::{Duration, Instant};

use aigateway::handlers::ServeOptions;
use aigw_mock_upstream::Fault;
use http::Method;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Deployment, TestGateway};

const CHAT: &str = "/v1/chat/completions";
const MESSAGES: &str = "/v1/messages";

async fn connect(gw: &TestGateway) -> TcpStream {
    TcpStream::connect(gw.addr).await.unwrap()
}

/// How long until the server closes `stream` (read gives EOF or an error),
/// or `None` if it is still open after `within`. Bytes read are dropped.
async fn closed_within<R: AsyncRead + Unpin>(stream: &mut R, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + within;
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// Everything the server sends until it closes (at most 10 s).
async fn read_to_close<R: AsyncRead + Unpin>(stream: &mut R) -> String {
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out)).await;
    assert!(
        read.is_ok(),
        "the server did not close: {}",
        String::from_utf8_lossy(&out)
    );
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads one response head and its `Content-Length` body.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("a response in time")
            .unwrap();
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&out));
        out.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&out).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if body.len() >= len {
                return text;
            }
        }
    }
}

fn status(response: &str) -> u16 {
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {response:?}"))
}

/// The value of a counter or gauge in `/metrics`.
async fn metric(gw: &TestGateway, name: &str) -> f64 {
    let resp = gw.request(Method::GET, "/metrics", &[], "").await;
    let text = resp.text();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

/// The credential header of `path`'s SDK.
fn auth_header(path: &str, key: &str) -> String {
    if path == MESSAGES {
        format!("x-api-key: {key}\r\n")
    } else {
        format!("authorization: Bearer {key}\r\n")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_trickling_connections_are_closed_by_the_header_and_keep_alive_timeouts() {
    let options = ServeOptions {
        header_timeout: Duration::from_millis(400),
        keep_alive_timeout: Duration::from_millis(1200),
        ..ServeOptions::default()
    };
    let gw = TestGateway::start_serving(Deployment::Embedded, options)
        .await
        .unwrap();

    // Connects and sends nothing.
    let mut silent = connect(&gw).await;
    // Sends half a request head and stops.
    let mut half = connect(&gw).await;
    half.write_all(b"GET /health HTTP/1.1\r\nhost: gw\r\n")
        .await
        .unwrap();
    // Sends a head one byte every 50 ms: never silent for long, but the
    // whole head would take 10 s.
    let (mut trickle, mut trickle_writer) = connect(&gw).await.into_split();
    let writer = tokio::spawn(async move {
        let head = format!(
            "GET /health HTTP/1.1\r\nx-slow: {}\r\n\r\n",
            "a".repeat(200)
        );
        for byte in head.bytes() {
            if trickle_writer.write_all(&[byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    for (name, stream) in [("silent", &mut silent), ("half head", &mut half)] {
        let after = closed_within(stream, Duration::from_secs(5)).await;
        assert!(after.is_some(), "{name}: still open after 5 s");
    }
    let after = closed_within(&mut trickle, Duration::from_secs(5)).await;
    assert!(after.is_some(), "trickled head: still open after 5 s");
    writer.abort();

    // A kept-alive connection gets the keep-alive timeout, not the header one.
    let mut kept = connect(&gw).await;
    kept.write_all(b"GET /health HTTP/1.1\r\nhost: gw\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(status(&read_response(&mut kept).await), 200);
    let after = closed_within(&mut kept, Duration::from_secs(5))
        .await
        .expect("the idle kept-alive connection is closed");
    assert!(
        after >= Duration::from_millis(900),
        "closed after {after:?}, before the keep-alive timeout"
    );

    assert!(metric(&gw, "aigw_http_header_timeouts_total").await >= 3.0);
    assert!(metric(&gw, "aigw_http_keep_alive_timeouts_total").await >= 1.0);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_or_trickles_gets_408_in_the_clients_format() {
    let options = ServeOptions {
        body_idle_timeout: Duration::from_millis(400),
        body_timeout: Duration::from_millis(1500),
        ..ServeOptions::default()
    };
    let gw = TestGateway::start_serving(Deployment::Embedded, options)
        .await
        .unwrap();
    let key = gw.issue_key().await;

    // Declares 1000 bytes, sends 20.
    for (path, shape) in [
        (CHAT, r#""type":"invalid_request_error""#),
        (MESSAGES, r#""type":"error""#),
        ("/api/v1/auth/login", r#""code":"request_timeout""#),
    ] {
        let mut stream = connect(&gw).await;
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: gw\r\n{}content-type: application/json\r\ncontent-length: 1000\r\n\r\n{{\"model\":\"gpt-4o\",",
            auth_header(path, &key)
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let started = Instant::now();
        let response = read_to_close(&mut stream).await;
        assert_eq!(status(&response), 408, "{path}: {response}");
        assert!(response.contains(shape), "{path}: {response}");
        assert!(
            response.to_ascii_lowercase().contains("connection: close"),
            "{path}: {response}"
        );
        assert!(started.elapsed() < Duration::from_secs(5), "{path}");
    }

    // A chunked body, one byte every 100 ms: never idle for long, but over
    // the total body timeout.
    let mut stream = connect(&gw).await;
    let head = format!(
        "POST {CHAT} HTTP/1.1\r\nhost: gw\r\n{}transfer-encoding: chunked\r\n\r\n",
        auth_header(CHAT, &key)
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (mut stream, mut writer) = stream.into_split();
    let trickle = tokio::spawn(async move {
        for _ in 0..100 {
            if writer.write_all(b"1\r\nx\r\n").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let response = read_to_close(&mut stream).await;
    trickle.abort();
    assert_eq!(status(&response), 408, "{response}");
    assert!(
        response.contains(r#""type":"invalid_request_error""#),
        "{response}"
    );

    assert!(metric(&gw, "aigw_http_body_timeouts_total").await >= 4.0);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_idle_and_half_read_connections_at_once() {
    // Long timeouts and grace: only the shutdown itself may close them.
    let options = ServeOptions {
        shutdown_grace: Duration::from_secs(30),
        ..ServeOptions::default()
    };
    let gw = TestGateway::start_serving(Deployment::Embedded, options)
        .await
        .unwrap();
    let key = gw.issue_key().await;
    let silent = connect(&gw).await;
    let mut half_head = connect(&gw).await;
    half_head
        .write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\n")
        .await
        .unwrap();
    let mut half_body = connect(&gw).await;
    let head = format!(
        "POST {CHAT} HTTP/1.1\r\nhost: gw\r\n{}content-length: 1000\r\n\r\n{{\"model\":",
        auth_header(CHAT, &key)
    );
    half_body.write_all(head.as_bytes()).await.unwrap();
    let mut kept = connect(&gw).await;
    kept.write_all(b"GET /health HTTP/1.1\r\nhost: gw\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(status(&read_response(&mut kept).await), 200);
    // Let the server see the half body before it is told to stop.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let started = Instant::now();
    gw.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "shutdown waited {:?} for connections not being served",
        started.elapsed()
    );
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_cap_idle_connections_make_room_for_new_clients() {
    let cap = 16;
    let options = ServeOptions {
        max_connections: cap,
        ..ServeOptions::default()
    };
    let gw = TestGateway::start_serving(Deployment::Embedded, options)
        .await
        .unwrap();
    let mut silent = Vec::new();
    for _ in 0..40 {
        silent.push(connect(&gw).await);
    }
    // A new client is served.
    let resp = tokio::time::timeout(
        Duration::from_secs(10),
        gw.request(Method::GET, "/health", &[], ""),
    )
    .await
    .expect("/health answered while 40 silent connections are held");
    assert_eq!(resp.status, 200);

    let mut closed = 0;
    for stream in &mut silent {
        if closed_within(stream, Duration::from_millis(100))
            .await
            .is_some()
        {
            closed += 1;
        }
    }
    assert!(
        closed >= 40 - cap,
        "only {closed} of 40 silent connections closed"
    );
    assert!(metric(&gw, "aigw_http_idle_connections_evicted_total").await >= (40 - cap) as f64);
    assert!(metric(&gw, "aigw_http_connections_open").await <= (cap + 1) as f64);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_cap_with_every_connection_busy_new_ones_are_refused() {
    let options = ServeOptions {
        max_connections: 2,
        ..ServeOptions::default()
    };
    let gw = TestGateway::start_serving(Deployment::Embedded, options)
        .await
        .unwrap();
    let key = gw.issue_key().await;
    gw.add_api_key_account("openai", "acct-a").await;
    gw.mock
        .set_fault("acct-a", Fault::Latency(Duration::from_millis(1500)));
    let body = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#;
    let mut busy = Vec::new();
    for _ in 0..2 {
        let mut stream = connect(&gw).await;
        let request = format!(
            "POST {CHAT} HTTP/1.1\r\nhost: gw\r\n{}content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            auth_header(CHAT, &key),
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        busy.push(stream);
    }
    assert!(gw.mock.wait_requests(2, Duration::from_secs(10)).await);

    let mut refused = connect(&gw).await;
    let _ = refused
        .write_all(b"GET /health HTTP/1.1\r\nhost: gw\r\n\r\n")
        .await;
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(1), refused.read_to_end(&mut out)).await;
    assert!(
        matches!(read, Ok(Ok(0) | Err(_))),
        "the connection over the cap was served: {}",
        String::from_utf8_lossy(&out)
    );

    // The busy ones were not cut.
    for stream in &mut busy {
        assert_eq!(status(&read_response(stream).await), 200);
    }
    drop(busy);
    // Room again once they close.
    let deadline = Instant::now() + Duration::from_secs(5);
    let refused = loop {
        let resp = tokio::time::timeout(Duration::from_secs(1), async {
            let mut stream = connect(&gw).await;
            stream
                .write_all(b"GET /metrics HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n\r\n")
                .await
                .ok()?;
            let mut out = Vec::new();
            stream.read_to_end(&mut out).await.ok()?;
            Some(String::from_utf8_lossy(&out).into_owned())
        })
        .await;
        if let Ok(Some(text)) = resp
            && text.starts_with("HTTP/1.1 200")
        {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "no room after the busy connections closed"
        );
    };
    assert!(
        refused
            .lines()
            .any(|l| l.starts_with("aigw_http_connections_refused_total ") && !l.ends_with(" 0")),
        "{refused}"
    );
    gw.stop().await;
}

/// A client that writes its whole body before it reads anything, as the
/// OpenAI and Anthropic Python SDKs do.
async fn write_then_read(gw: &TestGateway, path: &str, key: &str, chunked: bool) -> String {
    let size = 40 * 1024 * 1024;
    let mut stream = connect(gw).await;
    let framing = if chunked {
        "transfer-encoding: chunked\r\n".to_owned()
    } else {
        format!("content-length: {size}\r\n")
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: gw\r\n{}content-type: application/json\r\n{framing}\r\n",
        auth_header(path, key)
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b'x'; 1024 * 1024];
    for _ in 0..size / chunk.len() {
        let written = if chunked {
            stream
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await
                .and(stream.write_all(&chunk).await)
                .and(stream.write_all(b"\r\n").await)
        } else {
            stream.write_all(&chunk).await
        };
        written.unwrap_or_else(|e| panic!("{path}, chunked {chunked}: the body write failed: {e}"));
    }
    if chunked {
        stream.write_all(b"0\r\n\r\n").await.unwrap();
    }
    read_to_close(&mut stream).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_writing_a_too_large_body_before_reading_gets_the_413() {
    // The harness's body limit is 1 MiB.
    let gw = TestGateway::start(Deployment::Embedded).await.unwrap();
    let key = gw.issue_key().await;
    for (path, shape) in [
        (CHAT, r#""code":"request_too_large""#),
        (MESSAGES, r#""type":"request_too_large""#),
    ] {
        for chunked in [false, true] {
            let response = write_then_read(&gw, path, &key, chunked).await;
            assert_eq!(
                status(&response),
                413,
                "{path}, chunked {chunked}: {response}"
            );
            assert!(
                response.contains(shape),
                "{path}, chunked {chunked}: {response}"
            );
        }
    }
    assert!(metric(&gw, "aigw_http_lingering_closes_total").await >= 4.0);
    assert_eq!(gw.mock.total_requests(), 0);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_writing_a_large_body_it_is_refused_before_reads_the_refusal() {
    let gw = TestGateway::start(Deployment::Embedded).await.unwrap();
    let lingered = metric(&gw, "aigw_http_lingering_closes_total").await;
    for (path, code, shape) in [
        (CHAT, 401, r#""type":"authentication_error""#),
        (MESSAGES, 401, r#""type":"authentication_error""#),
        ("/v1/no-such-thing", 404, r#""type":"not_found_error""#),
        (
            "/v1beta/models/gemini-2.5-pro:nope",
            404,
            r#""status":"NOT_FOUND""#,
        ),
    ] {
        for chunked in [false, true] {
            let response = write_then_read(&gw, path, "ak_not_a_key", chunked).await;
            assert_eq!(
                status(&response),
                code,
                "{path}, chunked {chunked}: {response}"
            );
            assert!(
                response.contains(shape),
                "{path}, chunked {chunked}: {response}"
            );
        }
    }
    assert!(metric(&gw, "aigw_http_lingering_closes_total").await >= lingered + 8.0);
    assert_eq!(gw.mock.total_requests(), 0);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_queues_a_burst_of_connects() {
    let listener = aigateway::handlers::bind("127.0.0.1:0".parse().unwrap(), 1024).unwrap();
    let addr = listener.local_addr().unwrap();
    // Nothing accepts: every connect below is held in the kernel's queue.
    let mut held = Vec::new();
    for i in 0..300 {
        let connected = tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(addr))
            .await
            .unwrap_or_else(|_| panic!("connect {i} was not queued"))
            .unwrap();
        held.push(connected);
    }
    drop(listener);
}
