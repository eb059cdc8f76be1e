//! The Responses object (`object: "response"`): the whole reply, and the
//! snapshot that `response.created` / `response.completed` events carry.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::request::SummaryPart;

/// A response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseObject {
    /// `resp_…`.
    #[serde(default)]
    pub id: String,
    /// Always `response`.
    #[serde(default = "response_object")]
    pub object: String,
    /// Unix seconds.
    #[serde(default)]
    pub created_at: u64,
    /// Where the response stands.
    #[serde(default)]
    pub status: Option<ResponseStatus>,
    /// Why it failed (status `failed`); null otherwise, and always written.
    #[serde(default)]
    pub error: Option<ResponseError>,
    /// Why it stopped early (status `incomplete`); null otherwise, and always written.
    #[serde(default)]
    pub incomplete_details: Option<IncompleteDetails>,
    /// Model that answered.
    #[serde(default)]
    pub model: String,
    /// The output items, in order.
    #[serde(default)]
    pub output: Vec<OutputItem>,
    /// Token usage; null until the response is done.
    #[serde(default)]
    pub usage: Option<ResponseUsage>,
}

fn response_object() -> String {
    ResponseObject::OBJECT.to_owned()
}

impl ResponseObject {
    /// The `object` value of every response.
    pub const OBJECT: &'static str = "response";
}

/// `status` of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseStatus {
    /// Done.
    Completed,
    /// Ended in an error.
    Failed,
    /// Being generated.
    InProgress,
    /// Cancelled by the caller.
    Cancelled,
    /// Waiting to start (background responses).
    Queued,
    /// Stopped early (token limit, content filter).
    Incomplete,
    /// A status this gateway does not know.
    #[serde(other)]
    Unknown,
}

/// `error` of a failed response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseError {
    /// Machine-readable code, e.g. `server_error`, `rate_limit_exceeded`.
    #[serde(default)]
    pub code: Option<String>,
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
}

/// `incomplete_details`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncompleteDetails {
    /// `max_output_tokens` or `content_filter`.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `status` of an output item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    /// Being generated.
    InProgress,
    /// Done.
    Completed,
    /// Cut short.
    Incomplete,
    /// A status this gateway does not know.
    #[serde(other)]
    Unknown,
}

/// One output item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputItem {
    /// An assistant message.
    Message {
        /// `msg_…`.
        #[serde(default)]
        id: String,
        /// Item status.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<ItemStatus>,
        /// Always `assistant`.
        #[serde(default = "assistant_role")]
        role: String,
        /// Text and refusal parts.
        #[serde(default)]
        content: Vec<OutputContent>,
    },
    /// A function call.
    FunctionCall {
        /// `fc_…`.
        #[serde(default)]
        id: String,
        /// The id its `function_call_output` answers to.
        call_id: String,
        /// Function name.
        name: String,
        /// The namespace tool the function belongs to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
        /// Arguments as a JSON text.
        #[serde(default)]
        arguments: String,
        /// Item status.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<ItemStatus>,
    },
    /// Reasoning: summaries, and the opaque state to send back next turn.
    Reasoning {
        /// `rs_…`.
        #[serde(default)]
        id: String,
        /// Summary parts (possibly none).
        #[serde(default)]
        summary: Vec<SummaryPart>,
        /// Raw reasoning text parts, from models that expose them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<Vec<OutputContent>>,
        /// Asked for with `include: ["reasoning.encrypted_content"]`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        encrypted_content: Option<String>,
    },
    /// An item type this gateway does not translate (hosted tool calls, ...).
    #[serde(other, skip_serializing)]
    Other,
}

fn assistant_role() -> String {
    "assistant".to_owned()
}

/// A content part of an output message (or of a reasoning item's `content`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputContent {
    /// Text.
    OutputText {
        /// The text.
        text: String,
        /// Citations (not produced by translation).
        #[serde(default)]
        annotations: Vec<Value>,
    },
    /// A refusal.
    Refusal {
        /// The refusal text.
        refusal: String,
    },
    /// Raw reasoning text.
    ReasoningText {
        /// The text.
        text: String,
    },
    /// A part type this gateway does not know.
    #[serde(other, skip_serializing)]
    Other,
}

/// Token usage of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ResponseUsage {
    /// Prompt tokens, cached included.
    #[serde(default, deserialize_with = "crate::json::null_as_default")]
    pub input_tokens: u64,
    /// Prompt breakdown.
    #[serde(default, deserialize_with = "crate::json::null_as_default")]
    pub input_tokens_details: InputTokensDetails,
    /// Generated tokens, reasoning included.
    #[serde(default, deserialize_with = "crate::json::null_as_default")]
    pub output_tokens: u64,
    /// Output breakdown.
    #[serde(default, deserialize_with = "crate::json::null_as_default")]
    pub output_tokens_details: OutputTokensDetails,
    /// Sum of both.
    #[serde(default, deserialize_with = "crate::json::null_as_default")]
    pub total_tokens: u64,
}

/// `usage.input_tokens_details`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InputTokensDetails {
    /// Tokens served from the prompt cache.
    #[serde(default, deserialize_with = "crate::json::null_as_default")]
    pub cached_tokens: u64,
}

/// `usage.output_tokens_details`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OutputTokensDetails {
    /// Tokens spent reasoning.
    #[serde(default, deserialize_with = "crate::json::null_as_default")]
    pub reasoning_tokens: u64,
}
