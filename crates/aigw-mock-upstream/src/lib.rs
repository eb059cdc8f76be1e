//! Fake upstreams for tests and load benches: OpenAI Chat and Responses, the ChatGPT
//! Codex backend, Anthropic Messages, Gemini and Antigravity `v1internal` endpoints
//! plus an OAuth token server, on one
//! `127.0.0.1:0` listener, speaking the real wire formats (SSE included), recording
//! every request, and injecting latency and faults per account key. Also fake HTTP
//! CONNECT and SOCKS5 proxies that count their tunnels.
//!
//! This crate stands in for the outside world, so it depends on no other aigw crate.
//!
//! # Endpoints
//!
//! Routing matches on the path suffix, so any base path works (GLM's
//! `/api/paas/v4/chat/completions` as well as `/v1/chat/completions`).
//!
//! | request | answer |
//! |---|---|
//! | `POST …/chat/completions` | OpenAI `chat.completion`, or `chat.completion.chunk` SSE ending in `data: [DONE]` with `"stream": true` (a usage chunk with `stream_options.include_usage`) |
//! | `POST …/responses` | OpenAI `response`, or the typed SSE sequence `response.created` … `response.completed` with `"stream": true`; a `previous_response_id` works only for the account key that produced it (else 400 `previous_response_not_found`) |
//! | `POST …/backend-api/codex/responses` | the same stream (the ChatGPT Codex backend); 400 `{"detail":…}` unless `stream` is true, `store` false and `chatgpt-account-id` is sent; [`Fault::usage_limit`] plays its plan usage limit |
//! | `POST …/messages` | Anthropic `message`, or the SSE sequence `message_start` … `message_stop`; requires `anthropic-version`, `model`, `max_tokens`, `messages` |
//! | `POST …/messages/count_tokens` | `{"input_tokens": n}` |
//! | `POST …/models/{model}:generateContent` | Gemini `GenerateContentResponse` |
//! | `POST …/models/{model}:streamGenerateContent` | SSE with `?alt=sse`, else one JSON array |
//! | `POST …/models/{model}:countTokens` | `{"totalTokens": n}` |
//! | `POST …/v1internal:generateContent` / `:streamGenerateContent` | the Gemini bodies wrapped in `{"response": …, "traceId": …}`; the model comes from the envelope |
//! | `GET …/models` | the model list in OpenAI shape, Anthropic shape with `anthropic-version`, Gemini shape under `/v1beta` or with `x-goog-api-key` |
//! | `POST …/oauth/token` or `/token` | see [`OAuthMock`] |
//! | `GET …/userinfo` | Google's userinfo shape |
//!
//! The account key of a request is its `x-api-key`, `x-goog-api-key`,
//! `Authorization: Bearer` or `?key=` credential (for the token endpoint: the refresh
//! token or the code). Model endpoints answer 401 without one, and 400 in the
//! provider's own error shape for a body the real API would reject.
//!
//! By default the reply is `echo: <text of the last user turn>`; a [`Reply`] set per
//! key (or as the default) scripts text, thinking, tool calls, usage and the finish
//! reason instead, rendered in whichever format the request used. A [`Fault`] set per
//! key (or as the default) makes the mock misbehave, for the next N requests or
//! until cleared.
//!
//! Load benches should turn recording off ([`MockUpstream::set_recording`], or run the
//! binary without `--record`): the log otherwise grows with every request.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use aigw_mock_upstream::{Fault, MockUpstream, Reply};
//!
//! let mock = MockUpstream::start().await?;
//! mock.set_fault("sk-bad", Fault::rate_limited(30));
//! mock.set_reply("sk-good", Reply::text("hello"));
//! // point the gateway's provider base URL at mock.base_url() …
//! assert_eq!(mock.count_for("sk-good"), 0);
//! # Ok(())
//! # }
//! ```

mod body;
mod counter;
mod error;
mod fault;
mod forwarder;
mod ids;
mod oauth;
mod proxy;
mod record;
mod reply;
mod server;
mod wire;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use error::Error;
pub use fault::{Fault, FaultRule};
pub use forwarder::Forwarder;
pub use oauth::{DEFAULT_CHATGPT_ACCOUNT, OAuthMock};
pub use proxy::{MockProxy, ProxyKind, Tunnel};
pub use record::{Endpoint, RecordedRequest};
pub use reply::{Finish, Reply, ToolCall, Usage};

use fault::Scope;
use server::Shared;

/// A running fake upstream. Stops (closing every connection) when dropped.
///
/// Every method takes `&self`: faults, replies and models can change while
/// requests are in flight.
#[derive(Debug)]
pub struct MockUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl MockUpstream {
    /// Starts on `127.0.0.1:0`, recording requests.
    pub async fn start() -> io::Result<Self> {
        let listener = TcpListener::bind((IpAddr::from([127, 0, 0, 1]), 0)).await?;
        Self::serve(listener, true)
    }

    /// Serves on an already bound listener; `record` turns the request log on or
    /// off (counts, per key and in total, are kept either way).
    pub fn serve(listener: TcpListener, record: bool) -> io::Result<Self> {
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(record));
        #[expect(
            clippy::disallowed_methods,
            reason = "the accept loop is one owned task, aborted when the handle drops"
        )]
        let task = tokio::spawn(server::run(listener, shared.clone()));
        Ok(Self { addr, shared, task })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting and closes every connection; returns once the listener is closed.
    pub async fn shutdown(mut self) {
        self.task.abort();
        // The abort is only certain once the task has been dropped, listener included.
        let _cancelled = (&mut self.task).await;
    }

    // --- faults -------------------------------------------------------------

    /// Replaces the fault rules of this account key with one rule.
    pub fn set_fault(&self, key: &str, rule: impl Into<FaultRule>) {
        self.shared
            .faults
            .set(Some(key), Scope::Models, rule.into());
    }

    /// Queues a rule after this key's existing ones (e.g. `429` once, then `500` once).
    pub fn push_fault(&self, key: &str, rule: impl Into<FaultRule>) {
        self.shared
            .faults
            .push(Some(key), Scope::Models, rule.into());
    }

    /// Replaces the default rules for model endpoints: they apply to any key
    /// without a rule of its own.
    pub fn set_default_fault(&self, rule: impl Into<FaultRule>) {
        self.shared.faults.set(None, Scope::Models, rule.into());
    }

    /// Queues a default rule for model endpoints.
    pub fn push_default_fault(&self, rule: impl Into<FaultRule>) {
        self.shared.faults.push(None, Scope::Models, rule.into());
    }

    /// Replaces the default rules for the OAuth token and userinfo endpoints.
    /// (A rule set with [`set_fault`](Self::set_fault) for a refresh token also
    /// applies to token requests presenting it.)
    pub fn set_oauth_fault(&self, rule: impl Into<FaultRule>) {
        self.shared.faults.set(None, Scope::OAuth, rule.into());
    }

    /// Queues a default rule for the OAuth endpoints.
    pub fn push_oauth_fault(&self, rule: impl Into<FaultRule>) {
        self.shared.faults.push(None, Scope::OAuth, rule.into());
    }

    /// Removes this key's rules.
    pub fn clear_fault(&self, key: &str) {
        self.shared.faults.clear_key(key);
    }

    /// Removes the default rules for model endpoints.
    pub fn clear_default_fault(&self) {
        self.shared.faults.clear_scope(Scope::Models);
    }

    /// Removes every rule.
    pub fn clear_faults(&self) {
        self.shared.faults.clear_all();
    }

    // --- replies ------------------------------------------------------------

    /// Answers requests carrying this key with a scripted reply.
    pub fn set_reply(&self, key: &str, reply: Reply) {
        self.shared.replies.set(Some(key), reply);
    }

    /// Answers requests of keys without a script of their own with this reply.
    pub fn set_default_reply(&self, reply: Reply) {
        self.shared.replies.set(None, reply);
    }

    /// Back to echo replies for everyone.
    pub fn clear_replies(&self) {
        self.shared.replies.clear();
    }

    /// The models the list endpoints report.
    pub fn set_models<I, S>(&self, models: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        *self.shared.models.lock() = models.into_iter().map(Into::into).collect();
    }

    // --- recording ----------------------------------------------------------

    /// Turns the request log on or off (a load bench turns it off); counts are kept.
    pub fn set_recording(&self, on: bool) {
        self.shared.recorder.set_enabled(on);
    }

    /// Every recorded request, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.recorder.snapshot(|_| true)
    }

    /// Recorded requests that carried this account key.
    pub fn requests_for(&self, key: &str) -> Vec<RecordedRequest> {
        self.shared
            .recorder
            .snapshot(|r| r.account_key.as_deref() == Some(key))
    }

    /// Recorded requests to this endpoint.
    pub fn requests_to(&self, endpoint: Endpoint) -> Vec<RecordedRequest> {
        self.shared.recorder.snapshot(|r| r.endpoint == endpoint)
    }

    /// How many requests carried this account key since start or the last
    /// [`clear`](Self::clear), counted even while recording is off.
    pub fn count_for(&self, key: &str) -> usize {
        self.shared.recorder.count_for(key)
    }

    /// The last recorded request, if any.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.shared.recorder.snapshot(|_| true).pop()
    }

    /// Requests received since start, recorded or not (never reset by [`clear`](Self::clear)).
    pub fn total_requests(&self) -> u64 {
        self.shared.recorder.total().get()
    }

    /// Waits until [`total_requests`](Self::total_requests) reaches `n`, or `timeout` passes.
    pub async fn wait_requests(&self, n: u64, timeout: Duration) -> bool {
        self.shared.recorder.total().wait_at_least(n, timeout).await
    }

    /// Empties the request log and the per-key counts.
    pub fn clear(&self) {
        self.shared.recorder.clear();
    }

    /// TCP connections accepted since start (tells pooled from fresh connections).
    pub fn connections(&self) -> u64 {
        self.shared.connections.get()
    }

    /// Responses abandoned because the client went away before the mock finished
    /// (during a latency fault or mid-stream). Faults that end a response on
    /// purpose do not count.
    pub fn disconnects(&self) -> u64 {
        self.shared.disconnects.get()
    }

    /// Waits until [`disconnects`](Self::disconnects) reaches `n`, or `timeout` passes.
    pub async fn wait_disconnects(&self, n: u64, timeout: Duration) -> bool {
        self.shared.disconnects.wait_at_least(n, timeout).await
    }

    // --- oauth --------------------------------------------------------------

    /// The OAuth server's controls and counters.
    pub fn oauth(&self) -> &OAuthMock {
        &self.shared.oauth
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}
