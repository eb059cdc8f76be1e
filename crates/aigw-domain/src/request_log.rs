//! Request logs: one row per upstream attempt outcome, written in batches by the stats pipeline.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{AccountId, ApiKeyId, ProviderId, ProxyId, RequestLogId};

/// A logged request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestLog {
    /// The id.
    pub id: RequestLogId,
    /// When the request finished (UTC).
    pub created_at: DateTime<Utc>,
    /// The gateway's request id, as returned to the client.
    pub request_id: String,
    /// The client key that made the request.
    pub api_key_id: Option<ApiKeyId>,
    /// The provider it was routed to.
    pub provider_id: Option<ProviderId>,
    /// The model the client asked for.
    pub model: Option<String>,
    /// The model sent upstream, when a mapping changed it.
    pub upstream_model: Option<String>,
    /// The account that served it.
    pub account_id: Option<AccountId>,
    /// The proxy it went through.
    pub proxy_id: Option<ProxyId>,
    /// The HTTP status returned; 0 when no response was received.
    pub status_code: i32,
    /// Total latency.
    pub latency_ms: i64,
    /// Time to the first byte of the upstream response.
    pub ttfb_ms: Option<i64>,
    /// Prompt tokens, when the upstream reported them.
    pub input_tokens: Option<i64>,
    /// Completion tokens, when the upstream reported them.
    pub output_tokens: Option<i64>,
    /// Prompt tokens served from the upstream's cache.
    pub cached_tokens: Option<i64>,
    /// Which attempt this was (1 = first).
    pub attempt: i32,
    /// The account tried before this one, when failover switched accounts.
    pub switched_from_account_id: Option<AccountId>,
    /// Whether the response was streamed.
    pub stream: bool,
    /// A low-cardinality error class, e.g. `rate_limited`.
    pub error_kind: Option<String>,
    /// The error message (never a secret).
    pub error_message: Option<String>,
    /// The provider base URL that served, without credentials, when it was
    /// one of the provider's fallback base URLs; `None` for its primary.
    pub fallback_base_url: Option<String>,
}

/// A request log to insert; the id is assigned by the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRequestLog {
    /// See [`RequestLog::created_at`].
    pub created_at: DateTime<Utc>,
    /// See [`RequestLog::request_id`].
    pub request_id: String,
    /// See [`RequestLog::api_key_id`].
    pub api_key_id: Option<ApiKeyId>,
    /// See [`RequestLog::provider_id`].
    pub provider_id: Option<ProviderId>,
    /// See [`RequestLog::model`].
    pub model: Option<String>,
    /// See [`RequestLog::upstream_model`].
    pub upstream_model: Option<String>,
    /// See [`RequestLog::account_id`].
    pub account_id: Option<AccountId>,
    /// See [`RequestLog::proxy_id`].
    pub proxy_id: Option<ProxyId>,
    /// See [`RequestLog::status_code`].
    pub status_code: i32,
    /// See [`RequestLog::latency_ms`].
    pub latency_ms: i64,
    /// See [`RequestLog::ttfb_ms`].
    pub ttfb_ms: Option<i64>,
    /// See [`RequestLog::input_tokens`].
    pub input_tokens: Option<i64>,
    /// See [`RequestLog::output_tokens`].
    pub output_tokens: Option<i64>,
    /// See [`RequestLog::cached_tokens`].
    pub cached_tokens: Option<i64>,
    /// See [`RequestLog::attempt`].
    pub attempt: i32,
    /// See [`RequestLog::switched_from_account_id`].
    pub switched_from_account_id: Option<AccountId>,
    /// See [`RequestLog::stream`].
    pub stream: bool,
    /// See [`RequestLog::error_kind`].
    pub error_kind: Option<String>,
    /// See [`RequestLog::error_message`].
    pub error_message: Option<String>,
    /// See [`RequestLog::fallback_base_url`]. Absent in journal records
    /// written before it existed.
    #[serde(default)]
    pub fallback_base_url: Option<String>,
}

impl NewRequestLog {
    /// A log of a first attempt with the given request id, status and latency; every
    /// other field empty.
    pub fn new(
        created_at: DateTime<Utc>,
        request_id: impl Into<String>,
        status_code: i32,
        latency_ms: i64,
    ) -> Self {
        Self {
            created_at,
            request_id: request_id.into(),
            api_key_id: None,
            provider_id: None,
            model: None,
            upstream_model: None,
            account_id: None,
            proxy_id: None,
            status_code,
            latency_ms,
            ttfb_ms: None,
            input_tokens: None,
            output_tokens: None,
            cached_tokens: None,
            attempt: 1,
            switched_from_account_id: None,
            stream: false,
            error_kind: None,
            error_message: None,
            fallback_base_url: None,
        }
    }
}
