//! Failures of a stream translation, and errors that upstreams report inside a
//! 200 stream, classified so that failover reads a type, never a string.

use aigw_domain::Format;

use crate::sse::SseError;
use crate::{ErrorKind, anthropic, gemini, openai};

/// A failure while translating a stream.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StreamError {
    /// The upstream's event stream could not be framed (an event over the size limit).
    #[error("upstream event stream: {0}")]
    Sse(#[from] SseError),
    /// The upstream reported an error inside its (HTTP 200) stream.
    #[error("upstream reported an error mid-stream: {0}")]
    Upstream(MidStreamError),
    /// An upstream event could not be read as its format's JSON.
    #[error("malformed upstream stream event `{event}`: {message}")]
    Malformed {
        /// The SSE event name (or `message` when it had none).
        event: String,
        /// What was wrong.
        message: String,
    },
    /// The upstream closed the stream before saying how the message ended.
    #[error("upstream stream ended before the message was complete")]
    Truncated,
    /// A client event could not be serialised (not expected: every event is
    /// made of strings, numbers and JSON values read from the upstream).
    #[error("client stream event could not be serialised: {message}")]
    Serialize {
        /// The serialiser's message.
        message: String,
    },
    /// There is no translator from this upstream format to this client format.
    #[error("no stream translation from {} to {} clients", upstream.as_str(), client.as_str())]
    UnsupportedPair {
        /// The upstream format.
        upstream: Format,
        /// The client format.
        client: Format,
    },
}

impl StreamError {
    /// A short, stable, low-cardinality name (metric labels, logs).
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Sse(_) => "sse",
            Self::Upstream(_) => "upstream",
            Self::Malformed { .. } => "malformed",
            Self::Truncated => "truncated",
            Self::Serialize { .. } => "serialize",
            Self::UnsupportedPair { .. } => "unsupported_pair",
        }
    }

    /// Whether another upstream account might succeed where this one failed.
    /// Only meaningful while nothing has been sent to the client.
    pub const fn is_retryable(&self) -> bool {
        match self {
            Self::Upstream(e) => is_retryable(e.kind),
            // A broken or cut stream is the upstream's fault, not the request's.
            Self::Sse(_) | Self::Malformed { .. } | Self::Truncated => true,
            Self::Serialize { .. } | Self::UnsupportedPair { .. } => false,
        }
    }

    pub(crate) fn malformed(event: Option<&str>, err: &serde_json::Error) -> Self {
        Self::Malformed {
            event: event.unwrap_or("message").to_owned(),
            message: err.to_string(),
        }
    }
}

/// An error an upstream sent inside its stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", kind.as_str())]
pub struct MidStreamError {
    /// What kind of failure, in neutral terms.
    pub kind: ErrorKind,
    /// The upstream's message.
    pub message: String,
}

/// Whether another account might succeed after an error of this kind (the
/// failure is the account's or the upstream's, not the request's).
pub const fn is_retryable(kind: ErrorKind) -> bool {
    match kind {
        ErrorKind::Authentication
        | ErrorKind::PermissionDenied
        | ErrorKind::RateLimited
        | ErrorKind::Overloaded
        | ErrorKind::Timeout
        | ErrorKind::Api => true,
        ErrorKind::InvalidRequest
        | ErrorKind::NotFound
        | ErrorKind::ModelNotFound
        | ErrorKind::RequestTooLarge => false,
    }
}

/// The kind of an Anthropic stream `error` event.
pub(crate) const fn kind_from_anthropic(kind: anthropic::ErrorType) -> ErrorKind {
    use anthropic::ErrorType as T;
    match kind {
        T::InvalidRequestError => ErrorKind::InvalidRequest,
        T::AuthenticationError => ErrorKind::Authentication,
        T::BillingError | T::PermissionError => ErrorKind::PermissionDenied,
        T::NotFoundError => ErrorKind::NotFound,
        T::RequestTooLarge => ErrorKind::RequestTooLarge,
        T::RateLimitError => ErrorKind::RateLimited,
        T::OverloadedError => ErrorKind::Overloaded,
        T::TimeoutError => ErrorKind::Timeout,
        T::ApiError | T::Unknown => ErrorKind::Api,
    }
}

/// The kind of an OpenAI error chunk, from its `type` and `code`.
pub(crate) fn kind_from_openai(error: &openai::ErrorObject) -> ErrorKind {
    let code = error.code.as_ref().and_then(|c| c.as_str()).unwrap_or("");
    let kind = error.kind.as_deref().unwrap_or("");
    match (kind, code) {
        (_, "rate_limit_exceeded" | "insufficient_quota")
        | ("rate_limit_error" | "insufficient_quota" | "tokens" | "requests", _) => {
            ErrorKind::RateLimited
        }
        (_, "invalid_api_key") | ("authentication_error", _) => ErrorKind::Authentication,
        ("permission_error", _) => ErrorKind::PermissionDenied,
        (_, "model_not_found") => ErrorKind::ModelNotFound,
        ("not_found_error", _) => ErrorKind::NotFound,
        (_, "context_length_exceeded") | ("invalid_request_error", _) => ErrorKind::InvalidRequest,
        ("overloaded_error", _) | (_, "overloaded") => ErrorKind::Overloaded,
        ("timeout_error", _) | (_, "timeout") => ErrorKind::Timeout,
        _ => ErrorKind::Api,
    }
}

/// The kind of a Responses stream error (`error` event or `response.failed`),
/// from its code.
pub(crate) fn kind_from_responses(code: Option<&str>) -> ErrorKind {
    match code.unwrap_or("") {
        "rate_limit_exceeded"
        | "insufficient_quota"
        | "usage_limit_reached"
        | "usage_not_included" => ErrorKind::RateLimited,
        "invalid_api_key" | "authentication_error" => ErrorKind::Authentication,
        "model_not_found" => ErrorKind::ModelNotFound,
        "context_length_exceeded"
        | "invalid_prompt"
        | "invalid_request_error"
        | "invalid_image"
        | "invalid_image_url" => ErrorKind::InvalidRequest,
        "server_is_overloaded" | "overloaded" | "slow_down" => ErrorKind::Overloaded,
        "timeout" => ErrorKind::Timeout,
        _ => ErrorKind::Api,
    }
}

/// The kind of a Google `Status` (Gemini and Antigravity): its canonical name,
/// else its HTTP code.
pub(crate) fn kind_from_gemini(status: &gemini::ErrorStatus) -> ErrorKind {
    match status.status.as_deref() {
        Some("INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE") => {
            ErrorKind::InvalidRequest
        }
        Some("UNAUTHENTICATED") => ErrorKind::Authentication,
        Some("PERMISSION_DENIED") => ErrorKind::PermissionDenied,
        Some("NOT_FOUND") => ErrorKind::NotFound,
        Some("RESOURCE_EXHAUSTED") => ErrorKind::RateLimited,
        Some("UNAVAILABLE") => ErrorKind::Overloaded,
        Some("DEADLINE_EXCEEDED") => ErrorKind::Timeout,
        _ if status.code == 0 => ErrorKind::Api,
        _ => ErrorKind::from_status(status.code),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemini_statuses_classify_by_name_then_code() {
        let st = |status: Option<&str>, code| gemini::ErrorStatus {
            code,
            message: String::new(),
            status: status.map(str::to_owned),
            details: None,
        };
        assert_eq!(
            kind_from_gemini(&st(Some("RESOURCE_EXHAUSTED"), 429)),
            ErrorKind::RateLimited
        );
        assert_eq!(kind_from_gemini(&st(None, 503)), ErrorKind::Overloaded);
        assert_eq!(
            kind_from_gemini(&st(Some("INVALID_ARGUMENT"), 400)),
            ErrorKind::InvalidRequest
        );
        assert_eq!(kind_from_gemini(&st(None, 0)), ErrorKind::Api);
    }

    #[test]
    fn openai_types_and_codes_classify() {
        let obj = |kind: &str, code: Option<&str>| openai::ErrorObject {
            message: String::new(),
            kind: Some(kind.to_owned()),
            param: None,
            code: code.map(|c| serde_json::Value::String(c.to_owned())),
        };
        assert_eq!(
            kind_from_openai(&obj("requests", Some("rate_limit_exceeded"))),
            ErrorKind::RateLimited
        );
        assert_eq!(
            kind_from_openai(&obj("invalid_request_error", None)),
            ErrorKind::InvalidRequest
        );
        assert_eq!(kind_from_openai(&obj("server_error", None)), ErrorKind::Api);
        assert!(!is_retryable(ErrorKind::InvalidRequest));
        assert!(is_retryable(ErrorKind::Overloaded));
    }

    #[test]
    fn anthropic_types_round_trip_through_the_neutral_kind() {
        use anthropic::ErrorType as T;
        for t in [
            T::InvalidRequestError,
            T::AuthenticationError,
            T::PermissionError,
            T::NotFoundError,
            T::RequestTooLarge,
            T::RateLimitError,
            T::ApiError,
            T::TimeoutError,
            T::OverloadedError,
        ] {
            assert_eq!(kind_from_anthropic(t).anthropic_type(), t);
        }
    }
}
