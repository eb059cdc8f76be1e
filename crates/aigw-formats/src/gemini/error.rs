//! Google API error body: `{"error":{"code","message","status"}}` (Gemini and Antigravity).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The whole error body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorStatus,
}

/// A `google.rpc.Status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorStatus {
    /// HTTP status code.
    #[serde(default)]
    pub code: u16,
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
    /// Canonical status, e.g. `RESOURCE_EXHAUSTED`, `INVALID_ARGUMENT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Details, kept as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}
