//! The request log: every request the mock receives, in arrival order, with the
//! account key it carried and the peer it came from.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, Method, Version};
use parking_lot::Mutex;

use crate::counter::Counter;

/// Which fake endpoint a request hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST …/chat/completions`.
    OpenAiChat,
    /// `POST …/responses` (OpenAI Responses).
    OpenAiResponses,
    /// `POST …/backend-api/codex/responses` (the ChatGPT Codex backend: streams only).
    CodexResponses,
    /// `GET …/models` (OpenAI, Anthropic or Gemini list shape by request).
    Models,
    /// `POST …/v1/messages`.
    AnthropicMessages,
    /// `POST …/v1/messages/count_tokens`.
    AnthropicCountTokens,
    /// `POST …/models/{model}:generateContent`.
    GeminiGenerate,
    /// `POST …/models/{model}:streamGenerateContent`.
    GeminiStream,
    /// `POST …/models/{model}:countTokens`.
    GeminiCountTokens,
    /// `POST …/v1internal:generateContent`.
    AntigravityGenerate,
    /// `POST …/v1internal:streamGenerateContent`.
    AntigravityStream,
    /// `POST …/oauth/token` or `/token`.
    OAuthToken,
    /// `GET …/userinfo`.
    OAuthUserInfo,
    /// `GET …/oauth/authorize` (or `/authorize`, Google's `…/auth`): the consent page,
    /// approved at once with a redirect carrying a code.
    OAuthAuthorize,
    /// Anything else (answered 404).
    Unknown,
}

/// One request as the mock received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// Position in arrival order, from 0.
    pub seq: u64,
    /// The endpoint it was routed to.
    pub endpoint: Endpoint,
    /// HTTP method.
    pub method: Method,
    /// URI path.
    pub path: String,
    /// URI query, without `?`.
    pub query: Option<String>,
    /// HTTP version (HTTP/1.1 or HTTP/2 over cleartext).
    pub version: Version,
    /// Request headers.
    pub headers: HeaderMap,
    /// Request body.
    pub body: Bytes,
    /// The credential it carried (`Authorization: Bearer`, `x-api-key`,
    /// `x-goog-api-key`, `?key=`; for the token endpoint the refresh token or code).
    pub account_key: Option<String>,
    /// The TCP peer: the gateway's socket, or a proxy's outbound socket.
    pub peer: SocketAddr,
    /// When the request arrived (after its body was read).
    pub at: SystemTime,
}

impl RecordedRequest {
    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// A header value as text, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Debug, Default)]
struct Log {
    entries: Vec<RecordedRequest>,
    next_seq: u64,
    /// Requests per account key, kept even when the log is off so a load test can
    /// still check how requests spread over accounts.
    per_key: HashMap<String, usize>,
}

/// Appends requests to the log and counts them.
#[derive(Debug)]
pub(crate) struct Recorder {
    enabled: AtomicBool,
    /// Held only to push or copy, never across an await.
    log: Mutex<Log>,
    total: Counter,
}

impl Recorder {
    pub(crate) fn new(enabled: bool) -> Self {
        Self {
            enabled: AtomicBool::new(enabled),
            log: Mutex::new(Log::default()),
            total: Counter::default(),
        }
    }

    pub(crate) fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Release);
    }

    /// Counts a request and, when recording is on, builds and stores its record.
    pub(crate) fn record(&self, key: Option<&str>, build: impl FnOnce(u64) -> RecordedRequest) {
        let mut log = self.log.lock();
        if let Some(key) = key {
            match log.per_key.get_mut(key) {
                Some(n) => *n += 1,
                None => {
                    log.per_key.insert(key.to_owned(), 1);
                }
            }
        }
        if self.enabled.load(Ordering::Acquire) {
            // The sequence number is taken under the lock so the log stays in order.
            let seq = log.next_seq;
            log.next_seq += 1;
            log.entries.push(build(seq));
        }
        drop(log);
        // Counted after the push so a waiter woken by the count finds the entry.
        self.total.incr();
    }

    pub(crate) fn count_for(&self, key: &str) -> usize {
        self.log.lock().per_key.get(key).copied().unwrap_or(0)
    }

    pub(crate) fn snapshot(
        &self,
        filter: impl Fn(&RecordedRequest) -> bool,
    ) -> Vec<RecordedRequest> {
        self.log
            .lock()
            .entries
            .iter()
            .filter(|r| filter(r))
            .cloned()
            .collect()
    }

    pub(crate) fn clear(&self) {
        let mut log = self.log.lock();
        log.entries.clear();
        log.per_key.clear();
    }

    pub(crate) fn total(&self) -> &Counter {
        &self.total
    }
}
