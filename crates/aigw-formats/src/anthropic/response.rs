//! Anthropic Messages non-stream response, `stop_reason` and `usage`.

use serde::{Deserialize, Serialize};

use super::request::{ContentBlock, Role};

/// A whole message response (also the `message` of a `message_start` event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessagesResponse {
    /// `msg_…`.
    pub id: String,
    /// Always `message`.
    #[serde(rename = "type", default)]
    pub kind: MessageType,
    /// Always `assistant`.
    #[serde(default)]
    pub role: Role,
    /// Model that answered.
    #[serde(default)]
    pub model: String,
    /// The content blocks.
    #[serde(default)]
    pub content: Vec<ContentBlock>,
    /// Why it stopped; null in `message_start` (serialised as null, as Anthropic does).
    #[serde(default)]
    pub stop_reason: Option<StopReason>,
    /// The stop sequence that matched.
    #[serde(default)]
    pub stop_sequence: Option<String>,
    /// Token usage.
    #[serde(default)]
    pub usage: Usage,
}

/// The `type` of a message object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageType {
    /// `message`.
    #[default]
    Message,
}

/// `stop_reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Natural end of turn.
    EndTurn,
    /// `max_tokens` reached.
    MaxTokens,
    /// A stop sequence matched.
    StopSequence,
    /// The model called tools.
    ToolUse,
    /// A long server-tool turn was paused.
    PauseTurn,
    /// The model refused.
    Refusal,
    /// The context window filled up.
    ModelContextWindowExceeded,
    /// A reason this gateway does not know yet.
    #[serde(other)]
    Unknown,
}

/// Token usage. `input_tokens` excludes cache reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Uncached input tokens.
    #[serde(default, deserialize_with = "crate::json::null_as_default")]
    pub input_tokens: u64,
    /// Output tokens, thinking included.
    #[serde(default, deserialize_with = "crate::json::null_as_default")]
    pub output_tokens: u64,
    /// Input tokens written to the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
    /// Input tokens read from the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
}
