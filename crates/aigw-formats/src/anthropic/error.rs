//! Anthropic error body: `{"type":"error","error":{"type","message"}}`.

use serde::{Deserialize, Serialize};

/// The whole error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Always `error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The error.
    pub error: ErrorDetail,
    /// Request id, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// The error object (also the payload of a stream `error` event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Error type.
    #[serde(rename = "type")]
    pub kind: ErrorType,
    /// Human-readable message.
    pub message: String,
}

/// Anthropic error types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    /// 400.
    InvalidRequestError,
    /// 401.
    AuthenticationError,
    /// 402.
    BillingError,
    /// 403.
    PermissionError,
    /// 404.
    NotFoundError,
    /// 413.
    RequestTooLarge,
    /// 429.
    RateLimitError,
    /// 500.
    ApiError,
    /// 504.
    TimeoutError,
    /// 529.
    OverloadedError,
    /// A type this gateway does not know; read as `api_error`.
    #[serde(other)]
    Unknown,
}
