//! The measured scenarios: what a client sends through the gateway, and the
//! same-size request sent straight to the mock upstream as the baseline.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, header};
use serde::Serialize;

/// A request the workers send over and over.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub path: &'static str,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Measure the time to the first SSE event as well as the total.
    pub stream: bool,
}

/// The account key the bench registers at the gateway and sends to the mock directly.
pub const UPSTREAM_KEY: &str = "sk-bench";

/// The model every scenario asks for: it routes to the `openai` provider.
const MODEL: &str = "gpt-4o-mini";

const PROMPT: &str = "Say hello to the load bench in one short sentence.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// OpenAI client → OpenAI upstream, non-streaming.
    Passthrough,
    /// Anthropic client (`/v1/messages`) → OpenAI upstream, non-streaming.
    Translated,
    /// OpenAI client → OpenAI upstream with `"stream": true`.
    Stream,
    /// OpenAI Responses client (`/v1/responses`, `"stream": true`) → the `openai`
    /// provider, which serves the Responses API itself: the stream is forwarded,
    /// each typed event read on the way.
    ResponsesStream,
}

impl Scenario {
    pub const ALL: [Self; 4] = [
        Self::Passthrough,
        Self::Translated,
        Self::Stream,
        Self::ResponsesStream,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::Passthrough => "openai→openai",
            Self::Translated => "anthropic→openai",
            Self::Stream => "openai stream",
            Self::ResponsesStream => "responses stream",
        }
    }

    pub fn is_stream(self) -> bool {
        matches!(self, Self::Stream | Self::ResponsesStream)
    }

    /// The baseline: the OpenAI request the gateway would send upstream, straight
    /// to the mock with the account's key.
    pub fn direct(self, mock: SocketAddr) -> Target {
        let mut headers = base_headers(mock);
        headers.insert(header::AUTHORIZATION, bearer(UPSTREAM_KEY));
        let (path, body) = match self {
            Self::ResponsesStream => ("/v1/responses", responses_body()),
            _ => ("/v1/chat/completions", openai_body(self.is_stream())),
        };
        Target {
            addr: mock,
            path,
            headers,
            body,
            stream: self.is_stream(),
        }
    }

    /// The client request to the gateway, authenticated with the client key.
    pub fn through_gateway(self, gateway: SocketAddr, client_key: &str) -> Target {
        let mut headers = base_headers(gateway);
        match self {
            Self::Passthrough | Self::Stream => {
                headers.insert(header::AUTHORIZATION, bearer(client_key));
                Target {
                    addr: gateway,
                    path: "/v1/chat/completions",
                    headers,
                    body: openai_body(self.is_stream()),
                    stream: self.is_stream(),
                }
            }
            Self::Translated => {
                if let Ok(value) = HeaderValue::from_str(client_key) {
                    headers.insert("x-api-key", value);
                }
                headers.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
                Target {
                    addr: gateway,
                    path: "/v1/messages",
                    headers,
                    body: anthropic_body(),
                    stream: false,
                }
            }
            Self::ResponsesStream => {
                headers.insert(header::AUTHORIZATION, bearer(client_key));
                Target {
                    addr: gateway,
                    path: "/v1/responses",
                    headers,
                    body: responses_body(),
                    stream: true,
                }
            }
        }
    }
}

fn base_headers(addr: SocketAddr) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(host) = HeaderValue::from_str(&addr.to_string()) {
        headers.insert(header::HOST, host);
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers
}

fn bearer(key: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Bearer {key}"))
        .unwrap_or_else(|_| HeaderValue::from_static("Bearer invalid"))
}

fn openai_body(stream: bool) -> Bytes {
    let body = serde_json::json!({
        "model": MODEL,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": 64,
        "stream": stream,
    });
    Bytes::from(body.to_string())
}

/// A streamed Responses request as the OpenAI SDKs send it: `input` as text.
fn responses_body() -> Bytes {
    let body = serde_json::json!({
        "model": MODEL,
        "input": PROMPT,
        "max_output_tokens": 64,
        "stream": true,
    });
    Bytes::from(body.to_string())
}

fn anthropic_body() -> Bytes {
    let body = serde_json::json!({
        "model": MODEL,
        "max_tokens": 64,
        "messages": [{"role": "user", "content": PROMPT}],
    });
    Bytes::from(body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_translated_baseline_is_the_same_size_openai_request() {
        let mock: SocketAddr = "127.0.0.1:1000".parse().unwrap();
        let gateway: SocketAddr = "127.0.0.1:2000".parse().unwrap();
        let direct = Scenario::Translated.direct(mock);
        let through = Scenario::Translated.through_gateway(gateway, "ak_test");
        assert_eq!(direct.path, "/v1/chat/completions");
        assert_eq!(through.path, "/v1/messages");
        assert_eq!(through.headers["x-api-key"], "ak_test");
        let size = |b: &Bytes| b.len() as i64;
        assert!((size(&direct.body) - size(&through.body)).abs() < 32);
    }

    #[test]
    fn the_responses_stream_goes_to_responses_on_both_sides() {
        let mock: SocketAddr = "127.0.0.1:1000".parse().unwrap();
        let gateway: SocketAddr = "127.0.0.1:2000".parse().unwrap();
        let direct = Scenario::ResponsesStream.direct(mock);
        let through = Scenario::ResponsesStream.through_gateway(gateway, "ak_test");
        assert_eq!(direct.path, "/v1/responses");
        assert_eq!(through.path, "/v1/responses");
        assert_eq!(direct.body, through.body);
        assert_eq!(through.headers[header::AUTHORIZATION], "Bearer ak_test");
        assert!(direct.stream && through.stream);
    }

    #[test]
    fn only_the_stream_scenarios_stream() {
        let mock: SocketAddr = "127.0.0.1:1000".parse().unwrap();
        for scenario in Scenario::ALL {
            let target = scenario.direct(mock);
            let body: serde_json::Value = serde_json::from_slice(&target.body).unwrap();
            assert_eq!(body["stream"], scenario.is_stream());
            assert_eq!(target.stream, scenario.is_stream());
            assert_eq!(target.headers[header::AUTHORIZATION], "Bearer sk-bench");
        }
    }
}
