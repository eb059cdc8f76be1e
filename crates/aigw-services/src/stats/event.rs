//! The stats event: one per finished request and one per failed attempt, and
//! its translation into a request-log row.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use aigw_domain::{AccountId, ApiKeyId, NewRequestLog, ProviderId, ProxyId};
use chrono::{DateTime, Utc};

use crate::health::AccountOutcome;
use crate::limits::UpstreamLimits;

/// The longest error message kept, in bytes; longer ones are cut at a char
/// boundary so that one pathological upstream body cannot bloat the queue.
pub const MAX_ERROR_MESSAGE: usize = 1024;

/// What happened to one upstream attempt (or to a request that never reached
/// one). Plain data, cheap to build on the request path: ids are `Copy` or
/// short, shared strings are `Arc<str>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsEvent {
    /// When the attempt finished (UTC); its day is the `proxy_stats` day.
    pub at: DateTime<Utc>,
    /// The gateway's request id, as returned to the client.
    pub request_id: Arc<str>,
    /// The client key that made the request.
    pub api_key_id: Option<ApiKeyId>,
    /// The provider the request was routed to.
    pub provider_id: Option<ProviderId>,
    /// The model the client asked for.
    pub model: Option<Arc<str>>,
    /// The model sent upstream, when a mapping changed it.
    pub upstream_model: Option<Arc<str>>,
    /// The account used for this attempt.
    pub account_id: Option<AccountId>,
    /// The outbound proxy used for this attempt.
    pub proxy_id: Option<ProxyId>,
    /// The HTTP status received from the upstream (or returned to the client
    /// when nothing was received); 0 when no response arrived.
    pub status: u16,
    /// Time to the first byte of the upstream response.
    pub ttfb: Option<Duration>,
    /// Total time of the attempt (to the end of the stream for streams).
    pub latency: Duration,
    /// Token counts reported by the upstream's response or stream.
    pub usage: TokenUsage,
    /// Which attempt this was (1 = first).
    pub attempt: u32,
    /// The account tried before this one, when failover switched accounts.
    pub switched_from: Option<AccountId>,
    /// Whether the response was streamed.
    pub stream: bool,
    /// Whether the request only counted tokens: it is logged and counted as
    /// traffic, but it is not a use of the account (it generates nothing and
    /// costs the account nothing).
    pub counts_tokens: bool,
    /// Why the attempt failed, if it did.
    pub error: Option<StatsFailure>,
    /// What the attempt says about its account's health: `None` when
    /// nothing (the client's own error, a request refused before any
    /// attempt).
    pub outcome: Option<AccountOutcome>,
    /// The limits the upstream's answer stated (rate-limit or subscription
    /// headers, a quota error), learnt into the account's quota pattern.
    pub limits: Option<Arc<UpstreamLimits>>,
    /// The fallback base URL that served (credentials removed); `None` when
    /// the provider's primary one did.
    pub fallback_base_url: Option<Arc<str>>,
}

/// Token counts of one response; `None` when the upstream did not report one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenUsage {
    /// Prompt tokens.
    pub input: Option<u64>,
    /// Completion tokens.
    pub output: Option<u64>,
    /// Prompt tokens served from the upstream's cache.
    pub cached: Option<u64>,
}

impl From<aigw_formats::Usage> for TokenUsage {
    /// The stats form of a response's usage: every count reported.
    fn from(usage: aigw_formats::Usage) -> Self {
        Self {
            input: Some(usage.input_tokens),
            output: Some(usage.output_tokens),
            cached: Some(usage.cached_input_tokens),
        }
    }
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsFailure {
    /// A low-cardinality class, e.g. `rate_limited` (usually an error's `kind()`).
    pub kind: Cow<'static, str>,
    /// A human-readable message; never a secret.
    pub message: String,
}

impl StatsFailure {
    /// A failure of `kind` with `message`, cut to [`MAX_ERROR_MESSAGE`] bytes.
    pub fn new(kind: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        let mut message = message.into();
        truncate_at_char(&mut message, MAX_ERROR_MESSAGE);
        Self {
            kind: kind.into(),
            message,
        }
    }
}

impl StatsEvent {
    /// An event of a first attempt of `request_id` that finished at `at`, with
    /// status 0 and every other field empty; the caller fills in what it knows.
    pub fn new(at: DateTime<Utc>, request_id: impl Into<Arc<str>>) -> Self {
        Self {
            at,
            request_id: request_id.into(),
            api_key_id: None,
            provider_id: None,
            model: None,
            upstream_model: None,
            account_id: None,
            proxy_id: None,
            status: 0,
            ttfb: None,
            latency: Duration::ZERO,
            usage: TokenUsage::default(),
            attempt: 1,
            switched_from: None,
            stream: false,
            counts_tokens: false,
            error: None,
            outcome: None,
            limits: None,
            fallback_base_url: None,
        }
    }

    /// Whether the attempt failed: an error was recorded, or the status is not
    /// 2xx. This is what `proxy_stats.error_count` and the live failure
    /// counters count.
    pub fn failed(&self) -> bool {
        self.error.is_some() || !(200..300).contains(&self.status)
    }

    /// The `request_logs` row of this event.
    pub(crate) fn to_log(&self) -> NewRequestLog {
        NewRequestLog {
            created_at: self.at,
            request_id: clean(&self.request_id),
            api_key_id: self.api_key_id,
            provider_id: self.provider_id.clone(),
            model: self.model.as_deref().map(clean_model),
            upstream_model: self.upstream_model.as_deref().map(clean_model),
            account_id: self.account_id,
            proxy_id: self.proxy_id,
            status_code: i32::from(self.status),
            latency_ms: millis(self.latency),
            ttfb_ms: self.ttfb.map(millis),
            input_tokens: self.usage.input.map(count),
            output_tokens: self.usage.output.map(count),
            cached_tokens: self.usage.cached.map(count),
            attempt: i32::try_from(self.attempt).unwrap_or(i32::MAX),
            switched_from_account_id: self.switched_from,
            stream: self.stream,
            error_kind: self.error.as_ref().map(|e| clean(&e.kind)),
            error_message: self.error.as_ref().map(|e| clean(&e.message)),
            fallback_base_url: self.fallback_base_url.as_deref().map(clean),
        }
    }
}

/// Milliseconds, saturating (a latency never overflows an `i64` in practice).
pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The text without NUL characters: PostgreSQL's `TEXT` rejects them, and one
/// such byte from an upstream error body would otherwise fail a whole batch.
fn clean(text: &str) -> String {
    if text.contains('\0') {
        text.replace('\0', "")
    } else {
        text.to_owned()
    }
}

/// A model name as stored: cleaned and cut to the longest name a client may
/// send. The data plane refuses longer names before routing, so this only
/// bounds what a caller of the stats API hands in.
fn clean_model(model: &str) -> String {
    let mut model = clean(model);
    truncate_at_char(&mut model, aigw_formats::MAX_MODEL_BYTES);
    model
}

fn truncate_at_char(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_event_maps_to_every_log_column() {
        let at: DateTime<Utc> = "2025-06-01T12:00:00Z".parse().unwrap();
        let account = AccountId::new();
        let before = AccountId::new();
        let mut event = StatsEvent::new(at, "req-1");
        event.api_key_id = Some(ApiKeyId::new());
        event.provider_id = Some(ProviderId::new("openai").unwrap());
        event.model = Some("gpt-x".into());
        event.upstream_model = Some("gpt-x-2025".into());
        event.account_id = Some(account);
        event.proxy_id = Some(ProxyId::new(7));
        event.status = 429;
        event.ttfb = Some(Duration::from_millis(12));
        event.latency = Duration::from_millis(340);
        event.usage = TokenUsage {
            input: Some(10),
            output: Some(20),
            cached: Some(3),
        };
        event.attempt = 2;
        event.switched_from = Some(before);
        event.stream = true;
        event.error = Some(StatsFailure::new("rate_limited", "slow\0 down"));

        let log = event.to_log();
        assert_eq!(log.created_at, at);
        assert_eq!(log.request_id, "req-1");
        assert_eq!(log.api_key_id, event.api_key_id);
        assert_eq!(
            log.provider_id.as_ref().map(ProviderId::as_str),
            Some("openai")
        );
        assert_eq!(log.model.as_deref(), Some("gpt-x"));
        assert_eq!(log.upstream_model.as_deref(), Some("gpt-x-2025"));
        assert_eq!(log.account_id, Some(account));
        assert_eq!(log.proxy_id, Some(ProxyId::new(7)));
        assert_eq!(log.status_code, 429);
        assert_eq!(log.latency_ms, 340);
        assert_eq!(log.ttfb_ms, Some(12));
        assert_eq!(
            (log.input_tokens, log.output_tokens, log.cached_tokens),
            (Some(10), Some(20), Some(3))
        );
        assert_eq!(log.attempt, 2);
        assert_eq!(log.switched_from_account_id, Some(before));
        assert!(log.stream);
        assert_eq!(log.error_kind.as_deref(), Some("rate_limited"));
        assert_eq!(
            log.error_message.as_deref(),
            Some("slow down"),
            "NUL removed"
        );
    }

    #[test]
    fn failure_is_an_error_or_a_non_2xx_status() {
        let at = Utc::now();
        let mut event = StatsEvent::new(at, "r");
        assert!(event.failed(), "status 0: no response");
        event.status = 200;
        assert!(!event.failed());
        event.status = 503;
        assert!(event.failed());
        event.status = 200;
        event.error = Some(StatsFailure::new("upstream_stream", "cut"));
        assert!(event.failed(), "a stream that broke after a 200 failed");
    }

    #[test]
    fn long_models_and_messages_are_cut_at_a_char_boundary() {
        let mut event = StatsEvent::new(Utc::now(), "req");
        event.model = Some("m".repeat(10 * 1024 * 1024).into());
        event.upstream_model = Some("é".repeat(1000).into());
        let row = event.to_log();
        assert_eq!(
            row.model.map(|m| m.len()),
            Some(aigw_formats::MAX_MODEL_BYTES)
        );
        let upstream = row.upstream_model.unwrap();
        assert!(
            upstream.len() <= aigw_formats::MAX_MODEL_BYTES,
            "{}",
            upstream.len()
        );
        assert!(upstream.len() >= aigw_formats::MAX_MODEL_BYTES - 1);

        let long = "é".repeat(MAX_ERROR_MESSAGE);
        let failure = StatsFailure::new("x", long);
        assert!(failure.message.len() <= MAX_ERROR_MESSAGE);
        assert!(failure.message.len() >= MAX_ERROR_MESSAGE - 1);
        assert!(failure.message.chars().all(|c| c == 'é'));
    }
}
