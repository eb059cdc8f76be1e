//! One upstream attempt's stats event, from the moment an account is chosen
//! to its one record: failed, answered, or handed to the stream that then
//! records it when it ends.
//!
//! [`Attempt`] owns the event under construction, and every way of finishing
//! it takes the attempt by value, so an attempt is recorded at most once;
//! `Gateway::attempt` finishes it on every path out of a send, answer or
//! failure. An attempt dropped unfinished is one whose request was cancelled
//! (the client went away before an answer): it records nothing, as a
//! cancelled request never has. A stream handed its attempt ([`StreamingAttempt`])
//! records it when it ends or is dropped, a dropped one as
//! `client_disconnected`.

use std::sync::Arc;
use std::time::Instant;

use aigw_domain::{AccountId, ApiKeyId};
use aigw_formats::RequestMeta;

use crate::RequestError;
use crate::failover::Verdict;
use crate::health::AccountOutcome;
use crate::limits::UpstreamLimits;
use crate::selector::Selection;
use crate::stats::{StatsEvent, StatsFailure, StatsRecorder, TokenUsage};
use crate::token_count::Counter;

/// What the client asked, as each attempt's stats event records it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Requested<'a> {
    /// The gateway's request id.
    pub(crate) request_id: &'a str,
    /// The client key that made the request.
    pub(crate) api_key_id: Option<ApiKeyId>,
    /// The model, stream flag and the rest the body said.
    pub(crate) meta: &'a RequestMeta,
    /// Whether the request only counts its prompt's tokens.
    pub(crate) counts_tokens: bool,
}

/// One try at one account, until it is recorded.
#[derive(Debug)]
#[must_use = "an attempt is recorded by finishing it: failed, replied, counted or streaming"]
pub(crate) struct Attempt {
    event: StatsEvent,
    /// When the attempt began: a failure's latency counts from then.
    started: Instant,
}

impl Attempt {
    /// Attempt `number` (1 = first) of `requested` on the account of
    /// `selection`; `switched_from` is the account tried before, if any.
    pub(crate) fn start(
        requested: Requested<'_>,
        selection: &Selection<'_>,
        number: u32,
        switched_from: Option<AccountId>,
    ) -> Self {
        let meta = requested.meta;
        let upstream_model = selection.upstream_model;
        let account = &selection.chosen.account;
        let mut event = StatsEvent::new(chrono::Utc::now(), requested.request_id);
        event.api_key_id = requested.api_key_id;
        event.provider_id = Some(selection.entry.provider.id.clone());
        event.model = Some(Arc::from(meta.model.as_str()));
        event.upstream_model = (upstream_model != meta.model).then(|| Arc::from(upstream_model));
        event.account_id = Some(account.id);
        event.proxy_id = account.proxy_id;
        event.attempt = number;
        event.switched_from = switched_from;
        event.stream = meta.stream;
        event.counts_tokens = requested.counts_tokens;
        Self {
            event,
            started: Instant::now(),
        }
    }

    /// Records the attempt as failed with `failure`, whose stated limits it
    /// takes: an account failure when the verdict moves on to another one.
    pub(crate) fn failed(self, stats: &StatsRecorder, failure: &mut AttemptFailure) {
        let Self { mut event, started } = self;
        let error = &failure.error;
        event.at = chrono::Utc::now();
        event.latency = started.elapsed();
        event.status = match error {
            RequestError::UpstreamStatus { status, .. }
            | RequestError::UpstreamAuth { status, .. } => status.as_u16(),
            _ => 0,
        };
        event.error = Some(StatsFailure::new(error.kind(), error.to_string()));
        if matches!(failure.verdict, Verdict::Retry { .. }) {
            event.outcome = Some(AccountOutcome::Failure);
        }
        event.limits = failure.limits.take();
        stats.record(event);
    }

    /// Records the attempt as answered with a whole reply.
    pub(crate) fn replied(self, stats: &StatsRecorder, exchange: Exchange) {
        let mut event = self.answered(exchange.fallback_base_url);
        event.at = chrono::Utc::now();
        event.outcome = Some(AccountOutcome::Success);
        event.limits = exchange.limits;
        event.latency = exchange.sent_at.elapsed();
        event.usage = exchange.usage;
        stats.record(event);
    }

    /// Records the attempt as a token count answered by `counter`: logged,
    /// but using no tokens. The limits its answer stated are learnt (see
    /// the gateway) but not recorded, as they never were for a count.
    pub(crate) fn counted(self, stats: &StatsRecorder, exchange: Exchange, counter: Counter) {
        let mut event = self.answered(exchange.fallback_base_url);
        event.at = chrono::Utc::now();
        event.latency = exchange.sent_at.elapsed();
        if counter == Counter::Estimate {
            // Nothing went out, so through no proxy either.
            event.proxy_id = None;
        } else {
            event.outcome = Some(AccountOutcome::Success);
        }
        stats.record(event);
    }

    /// The attempt, answered with a stream whose first event is ready, for
    /// the stream to record when it ends.
    pub(crate) fn streaming(self, stats: &StatsRecorder, exchange: Exchange) -> StreamingAttempt {
        let mut event = self.answered(exchange.fallback_base_url);
        event.outcome = Some(AccountOutcome::Success);
        event.limits = exchange.limits;
        event.ttfb = Some(exchange.sent_at.elapsed());
        StreamingAttempt {
            recorder: stats.clone(),
            event,
            started: exchange.sent_at,
        }
    }

    /// The event of an attempt that got a 2xx answer.
    fn answered(self, fallback_base_url: Option<Arc<str>>) -> StatsEvent {
        let mut event = self.event;
        event.status = 200;
        event.fallback_base_url = fallback_base_url;
        event
    }
}

/// An attempt answered with a stream, recorded when the stream ends.
#[derive(Debug)]
pub(crate) struct StreamingAttempt {
    recorder: StatsRecorder,
    event: StatsEvent,
    /// When the upstream request went out: the latency counts from then to
    /// the stream's end.
    started: Instant,
}

impl StreamingAttempt {
    /// Records the attempt with the stream's `usage` and, when it ended
    /// badly, why (a low-cardinality kind such as `upstream_broken`).
    pub(crate) fn ended(self, usage: aigw_formats::Usage, failure: Option<&'static str>) {
        let mut event = self.event;
        event.at = chrono::Utc::now();
        event.latency = self.started.elapsed();
        event.usage = TokenUsage::from(usage);
        if let Some(kind) = failure {
            event.error = Some(StatsFailure::new(kind, kind));
        }
        self.recorder.record(event);
    }
}

/// What a successful attempt's stats event records of the exchange that
/// answered it.
#[derive(Debug)]
pub(crate) struct Exchange {
    /// When the answered request went out (for an estimate, when counting
    /// began): the latency, and a stream's time to first byte, count from
    /// then.
    pub(crate) sent_at: Instant,
    /// The limits the answer's headers stated.
    pub(crate) limits: Option<Arc<UpstreamLimits>>,
    /// The fallback base URL that answered, credentials masked; `None` when
    /// the provider's primary one did.
    pub(crate) fallback_base_url: Option<Arc<str>>,
    /// The tokens a whole reply used (a stream counts its own as it goes).
    pub(crate) usage: TokenUsage,
}

impl Exchange {
    /// An exchange begun at `sent_at` whose answer stated `limits`, at the
    /// primary base URL, with no usage yet.
    pub(crate) fn new(sent_at: Instant, limits: Option<Arc<UpstreamLimits>>) -> Self {
        Self {
            sent_at,
            limits,
            fallback_base_url: None,
            usage: TokenUsage::default(),
        }
    }
}

/// A failed attempt and what it means for failover.
#[derive(Debug)]
pub(crate) struct AttemptFailure {
    pub(crate) error: RequestError,
    /// The failover policy's verdict on `error`.
    pub(crate) verdict: Verdict,
    /// The limits the upstream's error answer stated, if any.
    pub(crate) limits: Option<Arc<UpstreamLimits>>,
}

impl AttemptFailure {
    /// `error`, with the failover policy's `verdict` on it.
    pub(crate) const fn new(error: RequestError, verdict: Verdict) -> Self {
        Self {
            error,
            verdict,
            limits: None,
        }
    }

    /// A failure of the request itself or of the gateway before anything
    /// went out (a body that cannot be translated, an invalid upstream
    /// URL): answered now, at no cost to the account.
    pub(crate) const fn fatal(error: RequestError) -> Self {
        Self::new(error, Verdict::Fatal)
    }

    /// Whether the upstream could not be reached at all (no connection, a
    /// TLS or connect failure, no first byte in time) or answered 5xx: what
    /// another base URL of the same provider may not suffer. A proxy's own
    /// failure is not the URL's.
    pub(crate) fn is_unreachable_upstream(&self) -> bool {
        use crate::client_pool::{TimeoutPhase, TransportErrorKind};
        match &self.error {
            RequestError::Upstream(e) => matches!(
                e.kind(),
                TransportErrorKind::Connect
                    | TransportErrorKind::Tls
                    | TransportErrorKind::Timeout(TimeoutPhase::Connect | TimeoutPhase::FirstByte)
            ),
            RequestError::UpstreamStatus { status, .. } => status.is_server_error(),
            _ => false,
        }
    }

    /// Whether the upstream refused the credential with a 401.
    pub(crate) fn is_unauthorized(&self) -> bool {
        matches!(
            &self.error,
            RequestError::UpstreamAuth { status, .. } if *status == http::StatusCode::UNAUTHORIZED
        )
    }
}

/// A request refused before any upstream attempt: its one stats event, so
/// that every request is accounted for.
#[derive(Debug)]
pub(crate) struct Refused<'a> {
    /// The gateway's request id.
    pub(crate) request_id: &'a str,
    /// The client key that made the request.
    pub(crate) api_key_id: Option<ApiKeyId>,
    /// The model asked for, when the body got that far.
    pub(crate) model: Option<&'a str>,
    /// The status the client gets.
    pub(crate) status: u16,
    /// Why, when the request failed.
    pub(crate) error: Option<&'a RequestError>,
}

impl Refused<'_> {
    /// Records the request's event. No provider is named: one is chosen
    /// only with an attempt.
    pub(crate) fn record(self, stats: &StatsRecorder) {
        let mut event = StatsEvent::new(chrono::Utc::now(), self.request_id);
        event.api_key_id = self.api_key_id;
        event.model = self.model.map(Arc::from);
        event.status = self.status;
        if let Some(e) = self.error {
            event.error = Some(StatsFailure::new(e.kind(), e.to_string()));
        }
        stats.record(event);
    }
}
