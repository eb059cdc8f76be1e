//! Anthropic stream events, one per SSE event (the SSE `event:` name equals `type`).
//!
//! The grammar a client expects: `message_start` → for each block
//! `content_block_start`, deltas, `content_block_stop` → `message_delta`
//! (stop_reason, usage) → `message_stop`; `ping` may come anywhere, and `error`
//! replaces the rest when the stream fails.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::ErrorDetail;
use super::request::ContentBlock;
use super::response::{MessagesResponse, StopReason};

/// One stream event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    /// The message shell: id, model, empty content, input usage.
    MessageStart {
        /// The message so far.
        message: MessagesResponse,
    },
    /// A block opens; text blocks start empty, `tool_use` starts with `input: {}`.
    ContentBlockStart {
        /// Block index, from 0.
        index: u32,
        /// The empty block.
        content_block: ContentBlock,
    },
    /// More of an open block.
    ContentBlockDelta {
        /// Block index.
        index: u32,
        /// The fragment.
        delta: Delta,
    },
    /// A block closes.
    ContentBlockStop {
        /// Block index.
        index: u32,
    },
    /// Top-level changes at the end: stop reason and final usage.
    MessageDelta {
        /// Stop reason and sequence.
        delta: MessageDelta,
        /// Cumulative usage.
        usage: MessageDeltaUsage,
    },
    /// The end.
    MessageStop,
    /// Keep-alive.
    Ping,
    /// The stream failed.
    Error {
        /// What went wrong.
        error: ErrorDetail,
    },
}

impl StreamEvent {
    /// The SSE `event:` name of this event.
    pub const fn event_name(&self) -> &'static str {
        match self {
            Self::MessageStart { .. } => "message_start",
            Self::ContentBlockStart { .. } => "content_block_start",
            Self::ContentBlockDelta { .. } => "content_block_delta",
            Self::ContentBlockStop { .. } => "content_block_stop",
            Self::MessageDelta { .. } => "message_delta",
            Self::MessageStop => "message_stop",
            Self::Ping => "ping",
            Self::Error { .. } => "error",
        }
    }
}

/// A block fragment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Delta {
    /// More text.
    TextDelta {
        /// The fragment.
        text: String,
    },
    /// More of a tool call's input, as a JSON text fragment.
    InputJsonDelta {
        /// The fragment.
        partial_json: String,
    },
    /// More reasoning.
    ThinkingDelta {
        /// The fragment.
        thinking: String,
    },
    /// The reasoning block's signature, sent just before it closes.
    SignatureDelta {
        /// The signature.
        signature: String,
    },
    /// A citation attached to a text block.
    CitationsDelta {
        /// The citation, kept as is.
        citation: Value,
    },
}

/// `message_delta.delta`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MessageDelta {
    /// Why it stopped (serialised as null when unknown, as Anthropic does).
    #[serde(default)]
    pub stop_reason: Option<StopReason>,
    /// The stop sequence that matched.
    #[serde(default)]
    pub stop_sequence: Option<String>,
}

/// `message_delta.usage`: cumulative counts. The input fields are optional: an SDK
/// overwrites its input count with them when present, so they must not be sent as 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MessageDeltaUsage {
    /// Output tokens so far.
    #[serde(default, deserialize_with = "crate::json::null_as_default")]
    pub output_tokens: u64,
    /// Uncached input tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    /// Input tokens written to the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
    /// Input tokens read from the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
}
