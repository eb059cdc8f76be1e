//! The Antigravity `v1internal` envelope: a Gemini request wrapped with project,
//! request id, user agent and model; responses (and each stream chunk) wrapped in `response`.

use serde::{Deserialize, Serialize};

use super::request::GenerateContentRequest;
use super::response::GenerateContentResponse;

/// `POST {base}/v1internal:generateContent` (or `:streamGenerateContent?alt=sse`) body.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AntigravityRequest {
    /// Google Cloud project of the account, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Per-request id.
    pub request_id: String,
    /// Client identification.
    pub user_agent: String,
    /// Upstream model name.
    pub model: String,
    /// The wrapped Gemini request.
    pub request: GenerateContentRequest,
}

/// A response or stream chunk: the Gemini response under `response`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AntigravityResponse {
    /// The Gemini response.
    #[serde(default)]
    pub response: GenerateContentResponse,
    /// Trace id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
}
