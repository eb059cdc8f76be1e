//! Injectable failures: what a fault does, how many requests it applies to, and the
//! per-account table the server consults on every request.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use parking_lot::Mutex;

/// One way for the mock to misbehave on a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Wait this long before answering (before the status line, so it counts as
    /// time to first byte).
    Latency(Duration),
    /// Answer with this status. `body: None` renders the provider's own error
    /// object for the status (OpenAI, Anthropic or Google shape, by endpoint);
    /// `headers` are added to the response (e.g. `retry-after`).
    Status {
        /// The status code to answer with.
        status: StatusCode,
        /// A verbatim body, or `None` for the endpoint's own error shape.
        body: Option<Bytes>,
        /// Extra response headers.
        headers: HeaderMap,
    },
    /// Answer normally, with these headers added (e.g. the rate-limit or
    /// subscription-window headers a real upstream sends with a success).
    Headers(HeaderMap),
    /// Close the TCP connection without a response, with an RST (SO_LINGER 0).
    /// Over HTTP/2 this drops the whole connection, as a crashed upstream would.
    Reset,
    /// Send `after_events` stream events, then drop the connection without the
    /// stream's terminator. On a non-streaming response the body is truncated
    /// half-way under a full `content-length`. If the stream has fewer events,
    /// all are sent and then the connection is dropped.
    StreamCut {
        /// Events sent before the connection is dropped.
        after_events: usize,
    },
    /// Wait `per_event` between consecutive stream events (the first event goes
    /// out at once). A non-streaming body is sent in two halves `per_event` apart.
    SlowStream {
        /// Pause between two events.
        per_event: Duration,
    },
    /// Inside a 200 stream, after `after_events` events, send an error event in
    /// the wire's own grammar and end the stream there (at the latest it replaces
    /// the stream's terminator). Non-streaming responses are unaffected.
    StreamErrorEvent {
        /// Events sent before the error event.
        after_events: usize,
    },
    /// Like [`Fault::StreamErrorEvent`], with these bytes, verbatim, as the
    /// event (for example an SSE error event whose message echoes what the
    /// request carried, as real upstreams do).
    StreamRawEvent {
        /// Events sent before the raw event.
        after_events: usize,
        /// The event's bytes, framing included.
        event: Bytes,
    },
}

impl Fault {
    /// A status fault with the endpoint's own error body and no extra headers.
    pub fn status(status: StatusCode) -> Self {
        Self::Status {
            status,
            body: None,
            headers: HeaderMap::new(),
        }
    }

    /// A status fault with a verbatim body.
    pub fn status_with_body(status: StatusCode, body: impl Into<Bytes>) -> Self {
        Self::Status {
            status,
            body: Some(body.into()),
            headers: HeaderMap::new(),
        }
    }

    /// 429 with `retry-after: <secs>`.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::RETRY_AFTER,
            HeaderValue::from(retry_after_secs),
        );
        Self::Status {
            status: StatusCode::TOO_MANY_REQUESTS,
            body: None,
            headers,
        }
    }

    /// The ChatGPT Codex backend's usage limit: 429 with
    /// `{"error":{"type":"usage_limit_reached",…,"resets_at":…,"resets_in_seconds":…}}`.
    pub fn usage_limit(resets_in_seconds: u64) -> Self {
        Self::status_with_body(
            StatusCode::TOO_MANY_REQUESTS,
            crate::wire::responses::usage_limit_body(resets_in_seconds).unwrap_or_default(),
        )
    }

    /// A normal answer carrying `pairs` as extra headers. Pairs that are
    /// not valid header names or values are skipped.
    pub fn with_headers(pairs: &[(&str, &str)]) -> Self {
        Self::Headers(header_map(pairs))
    }

    /// A 429 carrying `pairs` as headers, with the endpoint's own error body
    /// (e.g. a Claude plan's `anthropic-ratelimit-unified-status: rejected`).
    pub fn limited_with_headers(pairs: &[(&str, &str)]) -> Self {
        Self::Status {
            status: StatusCode::TOO_MANY_REQUESTS,
            body: None,
            headers: header_map(pairs),
        }
    }

    /// 500.
    pub fn server_error() -> Self {
        Self::status(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// 503.
    pub fn unavailable() -> Self {
        Self::status(StatusCode::SERVICE_UNAVAILABLE)
    }

    /// Anthropic's 529 "overloaded".
    pub fn overloaded_529() -> Self {
        Self::status(StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE))
    }

    /// 401.
    pub fn unauthorized() -> Self {
        Self::status(StatusCode::UNAUTHORIZED)
    }

    /// 403.
    pub fn forbidden() -> Self {
        Self::status(StatusCode::FORBIDDEN)
    }

    /// 400.
    pub fn bad_request() -> Self {
        Self::status(StatusCode::BAD_REQUEST)
    }

    /// This fault for the next `n` matching requests only.
    pub fn times(self, n: u32) -> FaultRule {
        FaultRule {
            fault: self,
            times: Some(n),
        }
    }

    /// This fault for the next matching request only.
    pub fn once(self) -> FaultRule {
        self.times(1)
    }
}

/// A fault and how many more requests it applies to (`None`: until cleared).
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    /// What happens.
    pub fault: Fault,
    /// Remaining applications; `None` means every request until the rule is cleared.
    pub times: Option<u32>,
}

impl From<Fault> for FaultRule {
    fn from(fault: Fault) -> Self {
        Self { fault, times: None }
    }
}

/// Which default list applies when the account key has no rule of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Model endpoints (chat, messages, generateContent, models, ...).
    Models,
    /// The OAuth token and userinfo endpoints.
    OAuth,
}

#[derive(Debug, Default)]
struct Table {
    by_key: HashMap<String, VecDeque<FaultRule>>,
    models: VecDeque<FaultRule>,
    oauth: VecDeque<FaultRule>,
}

impl Table {
    fn is_empty(&self) -> bool {
        self.by_key.is_empty() && self.models.is_empty() && self.oauth.is_empty()
    }

    fn default_for(&mut self, scope: Scope) -> &mut VecDeque<FaultRule> {
        match scope {
            Scope::Models => &mut self.models,
            Scope::OAuth => &mut self.oauth,
        }
    }
}

/// Faults by account key, plus per-scope defaults, changeable while the server runs.
///
/// Each key holds a queue of rules: a request takes the rule at the front, which
/// is dropped once its `times` run out, so `push` can script "429, then 500, then
/// normal". A key's own rules win over the defaults.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    /// The lock is only taken for a map lookup and never across an await; the
    /// `armed` flag lets the common no-fault request skip it entirely.
    table: Mutex<Table>,
    armed: AtomicBool,
}

impl Faults {
    pub(crate) fn set(&self, key: Option<&str>, scope: Scope, rule: FaultRule) {
        self.edit(|t| {
            let queue = match key {
                Some(key) => t.by_key.entry(key.to_owned()).or_default(),
                None => t.default_for(scope),
            };
            queue.clear();
            queue.push_back(rule);
        });
    }

    pub(crate) fn push(&self, key: Option<&str>, scope: Scope, rule: FaultRule) {
        self.edit(|t| match key {
            Some(key) => t.by_key.entry(key.to_owned()).or_default().push_back(rule),
            None => t.default_for(scope).push_back(rule),
        });
    }

    pub(crate) fn clear_key(&self, key: &str) {
        self.edit(|t| {
            t.by_key.remove(key);
        });
    }

    pub(crate) fn clear_scope(&self, scope: Scope) {
        self.edit(|t| t.default_for(scope).clear());
    }

    pub(crate) fn clear_all(&self) {
        self.edit(|t| *t = Table::default());
    }

    fn edit(&self, f: impl FnOnce(&mut Table)) {
        let mut table = self.table.lock();
        f(&mut table);
        self.armed.store(!table.is_empty(), Ordering::Release);
    }

    /// Takes the fault for one request, consuming one application of its rule.
    pub(crate) fn take(&self, key: Option<&str>, scope: Scope) -> Option<Fault> {
        if !self.armed.load(Ordering::Acquire) {
            return None;
        }
        let mut table = self.table.lock();
        let mut fault = None;
        if let Some(key) = key
            && let Some(queue) = table.by_key.get_mut(key)
        {
            fault = take_front(queue);
            if queue.is_empty() {
                table.by_key.remove(key);
            }
        }
        if fault.is_none() {
            fault = take_front(table.default_for(scope));
        }
        self.armed.store(!table.is_empty(), Ordering::Release);
        fault
    }
}

fn take_front(queue: &mut VecDeque<FaultRule>) -> Option<Fault> {
    loop {
        let front = queue.front_mut()?;
        match &mut front.times {
            None => return Some(front.fault.clone()),
            Some(0) => {
                queue.pop_front();
            }
            Some(left) => {
                *left -= 1;
                let exhausted = *left == 0;
                let fault = front.fault.clone();
                if exhausted {
                    queue.pop_front();
                }
                return Some(fault);
            }
        }
    }
}

fn header_map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::try_from(*name),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counted_rule_runs_out_and_the_next_one_applies() {
        let faults = Faults::default();
        faults.push(Some("k"), Scope::Models, Fault::server_error().times(2));
        faults.push(Some("k"), Scope::Models, Fault::Reset.once());
        assert_eq!(
            faults.take(Some("k"), Scope::Models),
            Some(Fault::server_error())
        );
        assert_eq!(
            faults.take(Some("k"), Scope::Models),
            Some(Fault::server_error())
        );
        assert_eq!(faults.take(Some("k"), Scope::Models), Some(Fault::Reset));
        assert_eq!(faults.take(Some("k"), Scope::Models), None);
        assert!(!faults.armed.load(Ordering::Acquire));
    }

    #[test]
    fn key_rules_win_over_defaults_and_scopes_are_separate() {
        let faults = Faults::default();
        faults.set(None, Scope::Models, Fault::unavailable().into());
        faults.set(Some("k"), Scope::Models, Fault::bad_request().once());
        assert_eq!(
            faults.take(Some("k"), Scope::Models),
            Some(Fault::bad_request())
        );
        assert_eq!(
            faults.take(Some("k"), Scope::Models),
            Some(Fault::unavailable())
        );
        assert_eq!(
            faults.take(Some("other"), Scope::Models),
            Some(Fault::unavailable())
        );
        assert_eq!(faults.take(Some("k"), Scope::OAuth), None);
        faults.clear_scope(Scope::Models);
        assert_eq!(faults.take(None, Scope::Models), None);
    }

    #[test]
    fn rate_limited_carries_retry_after() {
        let Fault::Status {
            status, headers, ..
        } = Fault::rate_limited(7)
        else {
            panic!("not a status fault");
        };
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers[http::header::RETRY_AFTER], "7");
        assert_eq!(
            Fault::overloaded_529(),
            Fault::status(StatusCode::from_u16(529).unwrap())
        );
    }
}
