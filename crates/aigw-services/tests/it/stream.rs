//! The client's side of a streamed reply, over a real upstream connection.
// Test code: the workspace lets tests unwrap, and helpers count as tests only under cfg(test).
#![cfg(test)]
#![expect(
    clippy::disallowed_methods,
    reason = "the test upstream runs as its own task"
)]

use std::time::Duration;

use aigw_domain::Format;
use aigw_formats::stream::{StreamContext, StreamTranslator};
use aigw_services::client_pool::{ClientPool, Egress, PoolConfig};
use aigw_services::stream::ClientStream;
use bytes::Bytes;
use futures_util::FutureExt as _;
use http::Request;
use http_body_util::{BodyExt as _, Full};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpListener;

fn chunk(data: &str) -> String {
    let event = format!("data: {data}\n\n");
    format!("{:x}\r\n{event}\r\n", event.len())
}

/// The first event leaves alone even when the upstream sent the whole reply at once: the
/// server gets it, the stream then waits a turn (so the server writes it out), and only then
/// is the rest of the burst translated.
#[tokio::test]
async fn the_first_event_goes_out_before_the_rest_of_a_burst() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let events = [
        r#"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
        r#"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"one"},"finish_reason":null}]}"#,
        r#"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"two"},"finish_reason":null}]}"#,
        r#"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
        "[DONE]",
    ];
    let mut reply = String::from(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n",
    );
    for event in events {
        reply.push_str(&chunk(event));
    }
    reply.push_str("0\r\n\r\n");
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut head = [0u8; 1024];
        let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut head).await;
        stream.write_all(reply.as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
    });

    let pool = ClientPool::new(PoolConfig::default()).unwrap();
    let request = Request::post(format!("http://{addr}/v1/chat/completions"))
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    let response = pool.send(&Egress::Direct, request).await.unwrap();
    let ctx = StreamContext {
        request_id: "req".to_owned(),
        model: "m".to_owned(),
        created: 0,
        include_usage: false,
    };
    let translator = StreamTranslator::new(Format::OpenAiChat, Format::OpenAiChat, ctx).unwrap();
    let mut stream = ClientStream::new(response.into_body(), translator);
    stream.prime().await.unwrap();

    let first = stream.frame().now_or_never().unwrap().unwrap().unwrap();
    let first = String::from_utf8(first.into_data().unwrap().to_vec()).unwrap();
    assert!(first.contains(r#""content":"""#), "{first}");
    assert!(first.contains(r#""content":"one""#), "{first}");
    assert!(
        !first.contains("two"),
        "the burst went out with the first event: {first}"
    );

    // One turn without output, then the rest together.
    assert!(stream.frame().now_or_never().is_none());
    let rest = stream.frame().now_or_never().unwrap().unwrap().unwrap();
    let rest = String::from_utf8(rest.into_data().unwrap().to_vec()).unwrap();
    assert!(rest.contains(r#""content":"two""#), "{rest}");
    assert!(rest.ends_with("data: [DONE]\n\n"), "{rest}");
    assert!(stream.frame().now_or_never().unwrap().is_none());
}
