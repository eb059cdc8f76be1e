//! Error bodies in each client's format: gateway-generated errors, and upstream
//! error bodies translated to the client's format with the right type.
//!
//! OpenAI (Chat and Responses): `{"error":{"message","type","param","code"}}`;
//! Anthropic: `{"type":"error","error":{"type","message"}}`.

use aigw_domain::Format;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::FormatError;
use crate::anthropic::ErrorType;

/// What kind of failure an error body reports; decides its type and status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Bad request (400).
    InvalidRequest,
    /// Missing or bad credentials (401).
    Authentication,
    /// Not allowed (403).
    PermissionDenied,
    /// No such resource (404).
    NotFound,
    /// No such model (404, OpenAI code `model_not_found`).
    ModelNotFound,
    /// Body over the limit (413).
    RequestTooLarge,
    /// Rate limited (429).
    RateLimited,
    /// No capacity: overloaded or no usable account (503).
    Overloaded,
    /// Upstream took too long (504).
    Timeout,
    /// Anything else on the server side (500).
    Api,
}

impl ErrorKind {
    /// The HTTP status that goes with this kind.
    pub const fn http_status(self) -> u16 {
        match self {
            Self::InvalidRequest => 400,
            Self::Authentication => 401,
            Self::PermissionDenied => 403,
            Self::NotFound | Self::ModelNotFound => 404,
            Self::RequestTooLarge => 413,
            Self::RateLimited => 429,
            Self::Overloaded => 503,
            Self::Timeout => 504,
            Self::Api => 500,
        }
    }

    /// The kind an HTTP status stands for.
    pub const fn from_status(status: u16) -> Self {
        match status {
            401 => Self::Authentication,
            403 => Self::PermissionDenied,
            404 => Self::NotFound,
            413 => Self::RequestTooLarge,
            429 => Self::RateLimited,
            503 | 529 => Self::Overloaded,
            504 => Self::Timeout,
            400..=499 => Self::InvalidRequest,
            _ => Self::Api,
        }
    }

    /// A short, stable name (metric labels, logs).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::Authentication => "authentication",
            Self::PermissionDenied => "permission_denied",
            Self::NotFound => "not_found",
            Self::ModelNotFound => "model_not_found",
            Self::RequestTooLarge => "request_too_large",
            Self::RateLimited => "rate_limited",
            Self::Overloaded => "overloaded",
            Self::Timeout => "timeout",
            Self::Api => "api_error",
        }
    }

    /// The Anthropic `error.type`.
    pub const fn anthropic_type(self) -> ErrorType {
        match self {
            Self::InvalidRequest => ErrorType::InvalidRequestError,
            Self::Authentication => ErrorType::AuthenticationError,
            Self::PermissionDenied => ErrorType::PermissionError,
            Self::NotFound | Self::ModelNotFound => ErrorType::NotFoundError,
            Self::RequestTooLarge => ErrorType::RequestTooLarge,
            Self::RateLimited => ErrorType::RateLimitError,
            Self::Overloaded => ErrorType::OverloadedError,
            Self::Timeout => ErrorType::TimeoutError,
            Self::Api => ErrorType::ApiError,
        }
    }

    /// The OpenAI `error.type`.
    pub const fn openai_type(self) -> &'static str {
        match self {
            Self::InvalidRequest | Self::ModelNotFound | Self::RequestTooLarge => {
                "invalid_request_error"
            }
            Self::Authentication => "authentication_error",
            Self::PermissionDenied => "permission_error",
            Self::NotFound => "not_found_error",
            Self::RateLimited => "rate_limit_error",
            Self::Overloaded | Self::Timeout | Self::Api => "server_error",
        }
    }

    /// The OpenAI `error.code`, where OpenAI has a conventional one.
    pub const fn openai_code(self) -> Option<&'static str> {
        match self {
            Self::Authentication => Some("invalid_api_key"),
            Self::ModelNotFound => Some("model_not_found"),
            Self::RequestTooLarge => Some("request_too_large"),
            Self::RateLimited => Some("rate_limit_exceeded"),
            Self::Overloaded => Some("overloaded"),
            Self::Timeout => Some("timeout"),
            Self::InvalidRequest | Self::PermissionDenied | Self::NotFound | Self::Api => None,
        }
    }

    const fn google_status(self) -> &'static str {
        match self {
            Self::InvalidRequest | Self::RequestTooLarge => "INVALID_ARGUMENT",
            Self::Authentication => "UNAUTHENTICATED",
            Self::PermissionDenied => "PERMISSION_DENIED",
            Self::NotFound | Self::ModelNotFound => "NOT_FOUND",
            Self::RateLimited => "RESOURCE_EXHAUSTED",
            Self::Overloaded => "UNAVAILABLE",
            Self::Timeout => "DEADLINE_EXCEEDED",
            Self::Api => "INTERNAL",
        }
    }
}

/// An error body in `client`'s format. `param` names the offending field (OpenAI only).
pub fn error_body(client: Format, kind: ErrorKind, message: &str, param: Option<&str>) -> Bytes {
    error_body_with_status(client, kind.http_status(), kind, message, param)
}

/// [`error_body`] for an answer whose HTTP status is `status` rather than
/// `kind`'s own (a 405 or 408 at the edge): Google's shape repeats the
/// status in `code`, the other shapes do not carry it.
pub fn error_body_with_status(
    client: Format,
    status: u16,
    kind: ErrorKind,
    message: &str,
    param: Option<&str>,
) -> Bytes {
    let value = match client {
        Format::OpenAiChat | Format::OpenAiResponses => json!({
            "error": {
                "message": message,
                "type": kind.openai_type(),
                "param": param,
                "code": kind.openai_code(),
            }
        }),
        Format::AnthropicMessages => json!({
            "type": "error",
            "error": { "type": kind.anthropic_type(), "message": message }
        }),
        Format::Gemini | Format::Antigravity => json!({
            "error": { "code": status, "message": message, "status": kind.google_status() }
        }),
    };
    Bytes::from(value.to_string())
}

/// The 400 body for a [`FormatError`] in `client`'s format, naming the field.
pub fn format_error_body(client: Format, err: &FormatError) -> Bytes {
    let kind = if err.is_client_error() {
        ErrorKind::InvalidRequest
    } else {
        ErrorKind::Api
    };
    error_body(client, kind, &err.to_string(), err.path())
}

/// The kind of an upstream error: from its status, refined by the body's own
/// type where the status alone is ambiguous (e.g. Anthropic's overload).
pub fn upstream_error_kind(status: u16, body: &[u8]) -> ErrorKind {
    let by_status = ErrorKind::from_status(status);
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return by_status;
    };
    let err = error_object(&value);
    let hint = [
        err.and_then(|e| e.get("type")),
        err.and_then(|e| e.get("code")),
        err.and_then(|e| e.get("status")),
    ]
    .into_iter()
    .flatten()
    .filter_map(Value::as_str)
    .find_map(kind_from_hint);
    match (by_status, hint) {
        (ErrorKind::NotFound, Some(ErrorKind::ModelNotFound)) => ErrorKind::ModelNotFound,
        (ErrorKind::InvalidRequest | ErrorKind::Api, Some(hint)) => hint,
        _ => by_status,
    }
}

fn kind_from_hint(hint: &str) -> Option<ErrorKind> {
    Some(match hint {
        "overloaded_error" | "UNAVAILABLE" => ErrorKind::Overloaded,
        "rate_limit_error" | "rate_limit_exceeded" | "RESOURCE_EXHAUSTED" => ErrorKind::RateLimited,
        "model_not_found" => ErrorKind::ModelNotFound,
        "authentication_error" | "invalid_api_key" | "UNAUTHENTICATED" => ErrorKind::Authentication,
        "permission_error" | "PERMISSION_DENIED" => ErrorKind::PermissionDenied,
        "request_too_large" => ErrorKind::RequestTooLarge,
        "timeout_error" | "DEADLINE_EXCEEDED" => ErrorKind::Timeout,
        _ => return None,
    })
}

/// The error object of any of the formats: `error` at the top, or inside the
/// one-element array some Google endpoints return.
fn error_object(value: &Value) -> Option<&Value> {
    value
        .get("error")
        .or_else(|| value.get(0).and_then(|v| v.get("error")))
        .filter(|e| e.is_object())
}

/// The human-readable message of an upstream error body, if it has one.
fn upstream_message(value: &Value) -> Option<&str> {
    error_object(value)
        .and_then(|e| e.get("message"))
        .or_else(|| value.get("error").filter(|e| e.is_string()))
        .or_else(|| value.get("message"))
        .or_else(|| value.get("detail"))
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
}

/// Longest upstream message relayed; error pages can be huge.
const MAX_MESSAGE: usize = 2000;

/// An upstream error (status and body in `upstream`'s format) as an error body
/// in `client`'s format. A same-format body that is a well-formed error object
/// is returned unchanged; a body that is not JSON (a proxy's HTML page, say) is
/// not echoed: the client gets a generic message with the status.
pub fn translate_error(upstream: Format, client: Format, status: u16, body: &[u8]) -> Bytes {
    let value = serde_json::from_slice::<Value>(body).ok();
    if client == upstream && value.as_ref().is_some_and(|v| is_error_shape(client, v)) {
        return Bytes::copy_from_slice(body);
    }
    let kind = upstream_error_kind(status, body);
    let message = match value.as_ref().and_then(upstream_message) {
        Some(m) => truncate(m, MAX_MESSAGE),
        None => format!("upstream returned HTTP {status}"),
    };
    let param = value
        .as_ref()
        .and_then(error_object)
        .filter(|_| matches!(upstream, Format::OpenAiChat | Format::OpenAiResponses))
        .and_then(|e| e.get("param"))
        .and_then(Value::as_str);
    error_body(client, kind, &message, param)
}

fn is_error_shape(format: Format, v: &Value) -> bool {
    let err = v.get("error");
    let message_is_str = err
        .and_then(|e| e.get("message"))
        .is_some_and(Value::is_string);
    match format {
        Format::OpenAiChat | Format::OpenAiResponses => message_is_str,
        Format::AnthropicMessages => {
            message_is_str
                && v.get("type").and_then(Value::as_str) == Some("error")
                && err
                    .and_then(|e| e.get("type"))
                    .is_some_and(Value::is_string)
        }
        Format::Gemini | Format::Antigravity => message_is_str,
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
