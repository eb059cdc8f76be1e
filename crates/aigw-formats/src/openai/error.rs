//! OpenAI error body: `{"error":{"message","type","param","code"}}`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The whole error body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorObject,
}

/// The error object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// Human-readable message.
    pub message: String,
    /// Error type, e.g. `invalid_request_error`, `rate_limit_error`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The offending parameter, when there is one (always serialised, as OpenAI does).
    #[serde(default)]
    pub param: Option<String>,
    /// Machine-readable code, e.g. `model_not_found`; some compatible servers send a number.
    #[serde(default)]
    pub code: Option<Value>,
}
