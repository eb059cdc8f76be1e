//! Faults: latency, statuses in each wire's error shape, counted and queued rules,
//! resets, stream cuts, slow streams, in-stream error events, and disconnect detection.

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use aigw_mock_upstream::{Fault, MockUpstream};
use http::{Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{
    ANTHROPIC, WAIT, chat, chat_stream, client, contents, frames, messages, post, request, sse,
};

fn chat_url(mock: &MockUpstream) -> String {
    format!("{}/v1/chat/completions", mock.base_url())
}

#[tokio::test]
async fn latency_delays_the_answer_for_that_key_only() {
    let mock = MockUpstream::start().await.unwrap();
    mock.set_fault("sk-slow", Fault::Latency(Duration::from_millis(300)));
    let url = chat_url(&mock);

    let start = Instant::now();
    let resp = post(
        &client(),
        &url,
        &[("authorization", "Bearer sk-slow")],
        &chat("x"),
    )
    .await;
    assert_eq!(resp.status, 200);
    assert!(start.elapsed() >= Duration::from_millis(300));

    let start = Instant::now();
    post(
        &client(),
        &url,
        &[("authorization", "Bearer sk-fast")],
        &chat("x"),
    )
    .await;
    assert!(start.elapsed() < Duration::from_millis(300));
}

#[tokio::test]
async fn rate_limited_carries_retry_after_in_every_wire_shape() {
    let mock = MockUpstream::start().await.unwrap();
    mock.set_default_fault(Fault::rate_limited(17));
    let base = mock.base_url();

    let resp = post(
        &client(),
        &chat_url(&mock),
        &[("authorization", "Bearer k")],
        &chat("x"),
    )
    .await;
    assert_eq!(resp.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.header("retry-after"), Some("17"));
    assert_eq!(resp.json()["error"]["code"], "rate_limit_exceeded");

    let resp = post(
        &client(),
        &format!("{base}/v1/messages"),
        &[("x-api-key", "k"), ANTHROPIC],
        &messages("x", false),
    )
    .await;
    assert_eq!(resp.status, 429);
    assert_eq!(resp.header("retry-after"), Some("17"));
    assert_eq!(resp.json()["type"], "error");
    assert_eq!(resp.json()["error"]["type"], "rate_limit_error");

    let resp = post(
        &client(),
        &format!("{base}/v1beta/models/gemini-2.5-flash:generateContent"),
        &[("x-goog-api-key", "k")],
        &contents("x"),
    )
    .await;
    assert_eq!(resp.status, 429);
    assert_eq!(resp.json()["error"]["status"], "RESOURCE_EXHAUSTED");
}

#[tokio::test]
async fn status_helpers_map_to_provider_errors() {
    let mock = MockUpstream::start().await.unwrap();
    let base = mock.base_url();
    let anthropic = |key: &'static str| [("x-api-key", key), ANTHROPIC];
    let url = format!("{base}/v1/messages");
    let cases = [
        ("k529", Fault::overloaded_529(), 529, "overloaded_error"),
        ("k500", Fault::server_error(), 500, "api_error"),
        ("k401", Fault::unauthorized(), 401, "authentication_error"),
        ("k400", Fault::bad_request(), 400, "invalid_request_error"),
    ];
    for (key, fault, status, kind) in cases {
        mock.set_fault(key, fault);
        let resp = post(&client(), &url, &anthropic(key), &messages("x", false)).await;
        assert_eq!(resp.status.as_u16(), status, "{key}");
        assert_eq!(resp.json()["error"]["type"], kind, "{key}");
    }
}

#[tokio::test]
async fn a_verbatim_status_body_is_sent_as_is() {
    let mock = MockUpstream::start().await.unwrap();
    mock.set_fault(
        "k",
        Fault::status_with_body(StatusCode::BAD_GATEWAY, "upstream went away"),
    );
    let resp = post(
        &client(),
        &chat_url(&mock),
        &[("authorization", "Bearer k")],
        &chat("x"),
    )
    .await;
    assert_eq!(resp.status, 502);
    assert_eq!(resp.text(), "upstream went away");
}

#[tokio::test]
async fn counted_and_queued_rules_run_out_in_order() {
    let mock = MockUpstream::start().await.unwrap();
    mock.push_fault("k", Fault::rate_limited(1).once());
    mock.push_fault("k", Fault::server_error().times(2));
    let url = chat_url(&mock);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(
            post(
                &client(),
                &url,
                &[("authorization", "Bearer k")],
                &chat("x"),
            )
            .await
            .status
            .as_u16(),
        );
    }
    assert_eq!(statuses, [429, 500, 500, 200]);
}

#[tokio::test]
async fn a_key_rule_wins_over_the_default_and_faults_change_while_running() {
    let mock = MockUpstream::start().await.unwrap();
    mock.set_default_fault(Fault::unavailable());
    mock.set_fault("healthy", Fault::Latency(Duration::ZERO));
    let url = chat_url(&mock);
    let status = |key: &'static str| {
        let url = url.clone();
        async move {
            post(
                &client(),
                &url,
                &[("authorization", &format!("Bearer {key}"))],
                &chat("x"),
            )
            .await
            .status
        }
    };
    assert_eq!(status("other").await, 503);
    assert_eq!(status("healthy").await, 200);
    mock.clear_default_fault();
    assert_eq!(status("other").await, 200);
    mock.set_fault("other", Fault::forbidden());
    assert_eq!(status("other").await, 403);
    mock.clear_faults();
    assert_eq!(status("other").await, 200);
}

/// Sends a raw HTTP/1.1 request and returns the connection.
async fn raw_post(mock: &MockUpstream, key: &str) -> TcpStream {
    let mut stream = TcpStream::connect(mock.addr()).await.unwrap();
    let body = chat("x").to_string();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {key}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        mock.addr(),
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    stream
}

#[tokio::test]
async fn reset_closes_the_connection_with_an_rst_and_no_response() {
    let mock = MockUpstream::start().await.unwrap();
    mock.set_fault("k", Fault::Reset.once());

    let mut stream = raw_post(&mock, "k").await;
    let mut buf = Vec::new();
    let err = stream.read_to_end(&mut buf).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    assert!(
        buf.is_empty(),
        "no response bytes expected, got {:?}",
        String::from_utf8_lossy(&buf)
    );

    // The client library sees an error, not a response; the rule ran out after one use.
    mock.set_fault("k2", Fault::Reset.once());
    let result = client()
        .request(request(
            Method::POST,
            &chat_url(&mock),
            &[("authorization", "Bearer k2")],
            Some(&chat("x")),
        ))
        .await;
    assert!(result.is_err());
    let resp = post(
        &client(),
        &chat_url(&mock),
        &[("authorization", "Bearer k2")],
        &chat("x"),
    )
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(mock.disconnects(), 0, "a reset is not a client disconnect");
}

#[tokio::test]
async fn reset_over_h2c_drops_the_connection() {
    let mock = MockUpstream::start().await.unwrap();
    mock.set_fault("k", Fault::Reset);
    let client = crate::support::h2c_client();
    let result = client
        .request(request(
            Method::POST,
            &chat_url(&mock),
            &[("authorization", "Bearer k")],
            Some(&chat("x")),
        ))
        .await;
    assert!(result.is_err());
}

#[tokio::test]
async fn a_stream_cut_sends_n_events_then_drops_the_connection() {
    let mock = MockUpstream::start().await.unwrap();
    mock.set_fault("k", Fault::StreamCut { after_events: 2 });
    let resp = client()
        .request(request(
            Method::POST,
            &chat_url(&mock),
            &[("authorization", "Bearer k")],
            Some(&chat_stream("one two three four")),
        ))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let got = frames(resp).await;
    assert!(got.error.is_some(), "the body must end in an error");
    let events = sse(&got.bytes());
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.data != "[DONE]"));
    assert_eq!(mock.disconnects(), 0, "a cut is not a client disconnect");
}

#[tokio::test]
async fn a_cut_on_a_json_body_truncates_it() {
    let mock = MockUpstream::start().await.unwrap();
    mock.set_fault("k", Fault::StreamCut { after_events: 1 });
    let resp = client()
        .request(request(
            Method::POST,
            &chat_url(&mock),
            &[("authorization", "Bearer k")],
            Some(&chat("x")),
        ))
        .await
        .unwrap();
    let declared: usize = resp.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let got = frames(resp).await;
    assert!(got.error.is_some());
    assert!(got.bytes().len() < declared);
}

#[tokio::test]
async fn a_slow_stream_spaces_its_events() {
    let mock = MockUpstream::start().await.unwrap();
    let per_event = Duration::from_millis(50);
    mock.set_fault("k", Fault::SlowStream { per_event });
    let headers = [("x-api-key", "k"), ANTHROPIC];
    let resp = client()
        .request(request(
            Method::POST,
            &format!("{}/v1/messages", mock.base_url()),
            &headers,
            Some(&messages("a b", true)),
        ))
        .await
        .unwrap();
    let got = frames(resp).await;
    assert!(got.error.is_none());
    let events = sse(&got.bytes());
    assert_eq!(events.last().unwrap().name.as_deref(), Some("message_stop"));
    let first = got.frames.first().unwrap().0;
    let last = got.frames.last().unwrap().0;
    let expected = per_event * u32::try_from(events.len() - 1).unwrap();
    assert!(
        last - first >= expected,
        "{:?} between first and last event, expected at least {expected:?}",
        last - first
    );
}

#[tokio::test]
async fn an_error_event_ends_a_200_stream_in_the_wires_grammar() {
    let mock = MockUpstream::start().await.unwrap();
    mock.set_default_fault(Fault::StreamErrorEvent { after_events: 2 });
    let base = mock.base_url();

    let resp = post(
        &client(),
        &chat_url(&mock),
        &[("authorization", "Bearer k")],
        &chat_stream("a b c d"),
    )
    .await;
    assert_eq!(resp.status, 200);
    let events = sse(&resp.body);
    assert_eq!(events.len(), 3);
    assert_eq!(events[2].json()["error"]["type"], "server_error");

    let resp = post(
        &client(),
        &format!("{base}/v1/messages"),
        &[("x-api-key", "k"), ANTHROPIC],
        &messages("a b c", true),
    )
    .await;
    let events = sse(&resp.body);
    assert_eq!(events.len(), 3);
    assert_eq!(events[2].name.as_deref(), Some("error"));
    assert_eq!(events[2].json()["error"]["type"], "overloaded_error");

    let resp = post(
        &client(),
        &format!("{base}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"),
        &[("x-goog-api-key", "k")],
        &contents("a b c d"),
    )
    .await;
    let events = sse(&resp.body);
    assert_eq!(events.len(), 3);
    assert_eq!(events[2].json()["error"]["status"], "INTERNAL");

    // Without alt=sse the error is the last element of the JSON array.
    let resp = post(
        &client(),
        &format!("{base}/v1beta/models/gemini-2.5-flash:streamGenerateContent"),
        &[("x-goog-api-key", "k")],
        &contents("a b c d"),
    )
    .await;
    let elements = resp.json();
    let elements = elements.as_array().unwrap();
    assert_eq!(elements.len(), 3);
    assert_eq!(elements[2]["error"]["code"], 500);

    // A JSON answer is untouched by a stream-only fault.
    let resp = post(
        &client(),
        &chat_url(&mock),
        &[("authorization", "Bearer k")],
        &chat("x"),
    )
    .await;
    assert_eq!(resp.json()["choices"][0]["message"]["content"], "echo: x");
}

#[tokio::test]
async fn an_error_event_late_in_a_short_stream_replaces_its_terminator() {
    let mock = MockUpstream::start().await.unwrap();
    mock.set_fault("k", Fault::StreamErrorEvent { after_events: 100 });
    let resp = post(
        &client(),
        &chat_url(&mock),
        &[("authorization", "Bearer k")],
        &chat_stream("a"),
    )
    .await;
    let events = sse(&resp.body);
    let last = events.last().unwrap();
    assert_eq!(last.json()["error"]["type"], "server_error");
    assert!(events.iter().all(|e| e.data != "[DONE]"));
    assert!(events.len() > 2, "the content events come first");
}

#[tokio::test]
async fn a_client_leaving_mid_stream_is_counted_as_a_disconnect() {
    let mock = MockUpstream::start().await.unwrap();
    let url = chat_url(&mock);
    // A complete stream does not count.
    post(
        &client(),
        &url,
        &[("authorization", "Bearer k")],
        &chat_stream("a b"),
    )
    .await;
    assert_eq!(mock.disconnects(), 0);

    mock.set_fault(
        "k",
        Fault::SlowStream {
            per_event: Duration::from_millis(200),
        },
    );
    let resp = client()
        .request(request(
            Method::POST,
            &url,
            &[("authorization", "Bearer k")],
            Some(&chat_stream("a b c d e f")),
        ))
        .await
        .unwrap();
    let mut body = resp.into_body();
    use http_body_util::BodyExt;
    let first = body.frame().await.unwrap().unwrap();
    assert!(first.is_data());
    drop(body);
    assert!(
        mock.wait_disconnects(1, WAIT).await,
        "the mock did not notice the client leaving"
    );
}

#[tokio::test]
async fn a_client_leaving_during_latency_is_counted_as_a_disconnect() {
    let mock = MockUpstream::start().await.unwrap();
    mock.set_fault("k", Fault::Latency(Duration::from_secs(30)));
    let client = client();
    let pending = client.request(request(
        Method::POST,
        &chat_url(&mock),
        &[("authorization", "Bearer k")],
        Some(&chat("x")),
    ));
    tokio::select! {
        _ = pending => panic!("the answer should still be delayed"),
        received = mock.wait_requests(1, WAIT) => assert!(received),
    }
    // The request future (and its connection) is gone now.
    drop(client);
    assert!(mock.wait_disconnects(1, WAIT).await);
}

#[tokio::test]
async fn oauth_faults_are_separate_from_model_faults() {
    let mock = MockUpstream::start().await.unwrap();
    mock.set_default_fault(Fault::server_error());
    let token_url = format!("{}/oauth/token", mock.base_url());
    let form = json!({"grant_type": "refresh_token", "refresh_token": "rt-1"});
    let resp = post(&client(), &token_url, &[], &form).await;
    assert_eq!(
        resp.status, 200,
        "model defaults must not hit the token endpoint"
    );
    mock.set_oauth_fault(Fault::server_error().once());
    let resp = post(&client(), &token_url, &[], &form).await;
    assert_eq!(resp.status, 500);
    assert_eq!(resp.json()["error"], "server_error");
    assert_eq!(post(&client(), &token_url, &[], &form).await.status, 200);
}
