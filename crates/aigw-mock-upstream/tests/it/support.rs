//! Helpers shared by the integration tests: an HTTP client, request shortcuts and an
//! SSE splitter.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub const WAIT: Duration = Duration::from_secs(5);

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

pub fn h2c_client() -> HttpClient {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

/// A whole response.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub fn request(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Request<Full<Bytes>> {
    let mut builder = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let body = match body {
        Some(json) => {
            builder = builder.header("content-type", "application/json");
            Full::new(Bytes::from(json.to_string()))
        }
        None => Full::new(Bytes::new()),
    };
    builder.body(body).unwrap()
}

pub async fn send(client: &HttpClient, req: Request<Full<Bytes>>) -> Resp {
    let resp = client.request(req).await.expect("request failed");
    collect(resp).await
}

pub async fn collect(resp: http::Response<Incoming>) -> Resp {
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.expect("body failed").to_bytes();
    Resp {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

pub async fn post(client: &HttpClient, url: &str, headers: &[(&str, &str)], body: &Value) -> Resp {
    send(client, request(Method::POST, url, headers, Some(body))).await
}

pub async fn get(client: &HttpClient, url: &str, headers: &[(&str, &str)]) -> Resp {
    send(client, request(Method::GET, url, headers, None)).await
}

/// One SSE event: its `event:` name, if any, and its `data:`.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub name: Option<String>,
    pub data: String,
}

impl Event {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {}", self.data))
    }
}

pub fn sse(body: &[u8]) -> Vec<Event> {
    let text = std::str::from_utf8(body).expect("SSE body is not UTF-8");
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut name = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    name = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push_str(v);
                } else {
                    panic!("unexpected SSE line {line:?}");
                }
            }
            Event { name, data }
        })
        .collect()
}

/// A body read frame by frame, with when each frame arrived, ending in an error or not.
pub struct Frames {
    pub frames: Vec<(Instant, Bytes)>,
    pub error: Option<hyper::Error>,
}

impl Frames {
    pub fn bytes(&self) -> Vec<u8> {
        self.frames
            .iter()
            .flat_map(|(_, b)| b.iter().copied())
            .collect()
    }
}

pub async fn frames(resp: http::Response<Incoming>) -> Frames {
    let mut body = resp.into_body();
    let mut frames = Vec::new();
    loop {
        match body.frame().await {
            None => {
                return Frames {
                    frames,
                    error: None,
                };
            }
            Some(Err(e)) => {
                return Frames {
                    frames,
                    error: Some(e),
                };
            }
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    frames.push((Instant::now(), data));
                }
            }
        }
    }
}

pub const ANTHROPIC: (&str, &str) = ("anthropic-version", "2023-06-01");

pub fn chat(text: &str) -> Value {
    serde_json::json!({
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": text}
        ]
    })
}

pub fn chat_stream(text: &str) -> Value {
    let mut body = chat(text);
    body["stream"] = Value::Bool(true);
    body["stream_options"] = serde_json::json!({"include_usage": true});
    body
}

pub fn messages(text: &str, stream: bool) -> Value {
    serde_json::json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 256,
        "stream": stream,
        "messages": [{"role": "user", "content": text}]
    })
}

pub fn contents(text: &str) -> Value {
    serde_json::json!({"contents": [{"role": "user", "parts": [{"text": text}]}]})
}

pub fn envelope(text: &str) -> Value {
    serde_json::json!({
        "project": "mock-project",
        "requestId": "agent-123",
        "userAgent": "antigravity",
        "model": "gemini-2.5-pro",
        "request": contents(text)
    })
}
