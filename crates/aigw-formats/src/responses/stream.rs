//! Responses stream events, one per SSE event (the SSE `event:` name equals `type`).
//!
//! The grammar a client expects: `response.created`, `response.in_progress`,
//! then for each output item `response.output_item.added`, its content
//! (`response.content_part.added`, `response.output_text.delta`…,
//! `response.output_text.done`, `response.content_part.done` for a message;
//! `response.function_call_arguments.delta`…, `.done` for a function call;
//! `response.reasoning_summary_part.added`,
//! `response.reasoning_summary_text.delta`…, `.done`,
//! `response.reasoning_summary_part.done` for reasoning) and
//! `response.output_item.done`; then `response.completed` (or
//! `response.incomplete`) with the whole response and its usage. A failure
//! ends the stream with `error` and `response.failed`. Every event carries a
//! `sequence_number`, from 0 and increasing by one; `output_index` is the
//! item's position in `output`, given in the order items are added.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::request::SummaryPart;
use super::response::{OutputContent, OutputItem, ResponseObject};

/// One stream event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum StreamEvent {
    /// The response shell: id, model, status `in_progress`, no output.
    #[serde(rename = "response.created")]
    Created {
        /// The response so far.
        response: ResponseObject,
        /// Position in the stream.
        sequence_number: u64,
    },
    /// Generation is under way.
    #[serde(rename = "response.in_progress")]
    InProgress {
        /// The response so far.
        response: ResponseObject,
        /// Position in the stream.
        sequence_number: u64,
    },
    /// The whole response, status `completed`, with usage.
    #[serde(rename = "response.completed")]
    Completed {
        /// The whole response.
        response: ResponseObject,
        /// Position in the stream.
        sequence_number: u64,
    },
    /// The whole response, status `incomplete` (token limit, content filter).
    #[serde(rename = "response.incomplete")]
    Incomplete {
        /// The whole response.
        response: ResponseObject,
        /// Position in the stream.
        sequence_number: u64,
    },
    /// The response failed; `response.error` says why.
    #[serde(rename = "response.failed")]
    Failed {
        /// The response as it stood.
        response: ResponseObject,
        /// Position in the stream.
        sequence_number: u64,
    },
    /// An output item opens.
    #[serde(rename = "response.output_item.added")]
    OutputItemAdded {
        /// Its position in `output`.
        output_index: u32,
        /// The item, empty.
        item: OutputItem,
        /// Position in the stream.
        sequence_number: u64,
    },
    /// An output item is complete.
    #[serde(rename = "response.output_item.done")]
    OutputItemDone {
        /// Its position in `output`.
        output_index: u32,
        /// The whole item.
        item: OutputItem,
        /// Position in the stream.
        sequence_number: u64,
    },
    /// A content part of a message opens.
    #[serde(rename = "response.content_part.added")]
    ContentPartAdded {
        /// The message item.
        item_id: String,
        /// Its position in `output`.
        output_index: u32,
        /// The part's position in the message's `content`.
        content_index: u32,
        /// The part, empty.
        part: OutputContent,
        /// Position in the stream.
        sequence_number: u64,
    },
    /// A content part of a message is complete.
    #[serde(rename = "response.content_part.done")]
    ContentPartDone {
        /// The message item.
        item_id: String,
        /// Its position in `output`.
        output_index: u32,
        /// The part's position in the message's `content`.
        content_index: u32,
        /// The whole part.
        part: OutputContent,
        /// Position in the stream.
        sequence_number: u64,
    },
    /// More text of an `output_text` part.
    #[serde(rename = "response.output_text.delta")]
    OutputTextDelta {
        /// The message item.
        item_id: String,
        /// Its position in `output`.
        output_index: u32,
        /// The part's position in the message's `content`.
        content_index: u32,
        /// The fragment.
        delta: String,
        /// Log probabilities (none from translation).
        #[serde(default)]
        logprobs: Vec<Value>,
        /// Position in the stream.
        sequence_number: u64,
    },
    /// The whole text of an `output_text` part.
    #[serde(rename = "response.output_text.done")]
    OutputTextDone {
        /// The message item.
        item_id: String,
        /// Its position in `output`.
        output_index: u32,
        /// The part's position in the message's `content`.
        content_index: u32,
        /// The whole text.
        text: String,
        /// Log probabilities (none from translation).
        #[serde(default)]
        logprobs: Vec<Value>,
        /// Position in the stream.
        sequence_number: u64,
    },
    /// More of a function call's JSON arguments.
    #[serde(rename = "response.function_call_arguments.delta")]
    FunctionCallArgumentsDelta {
        /// The function call item.
        item_id: String,
        /// Its position in `output`.
        output_index: u32,
        /// The fragment.
        delta: String,
        /// Position in the stream.
        sequence_number: u64,
    },
    /// A function call's whole arguments.
    #[serde(rename = "response.function_call_arguments.done")]
    FunctionCallArgumentsDone {
        /// The function call item.
        item_id: String,
        /// Its position in `output`.
        output_index: u32,
        /// The whole JSON text.
        arguments: String,
        /// Position in the stream.
        sequence_number: u64,
    },
    /// A reasoning summary part opens.
    #[serde(rename = "response.reasoning_summary_part.added")]
    ReasoningSummaryPartAdded {
        /// The reasoning item.
        item_id: String,
        /// Its position in `output`.
        output_index: u32,
        /// The part's position in the item's `summary`.
        summary_index: u32,
        /// The part, empty.
        part: SummaryPart,
        /// Position in the stream.
        sequence_number: u64,
    },
    /// A reasoning summary part is complete.
    #[serde(rename = "response.reasoning_summary_part.done")]
    ReasoningSummaryPartDone {
        /// The reasoning item.
        item_id: String,
        /// Its position in `output`.
        output_index: u32,
        /// The part's position in the item's `summary`.
        summary_index: u32,
        /// The whole part.
        part: SummaryPart,
        /// Position in the stream.
        sequence_number: u64,
    },
    /// More reasoning summary text.
    #[serde(rename = "response.reasoning_summary_text.delta")]
    ReasoningSummaryTextDelta {
        /// The reasoning item.
        item_id: String,
        /// Its position in `output`.
        output_index: u32,
        /// The part's position in the item's `summary`.
        summary_index: u32,
        /// The fragment.
        delta: String,
        /// Position in the stream.
        sequence_number: u64,
    },
    /// The whole text of a reasoning summary part.
    #[serde(rename = "response.reasoning_summary_text.done")]
    ReasoningSummaryTextDone {
        /// The reasoning item.
        item_id: String,
        /// Its position in `output`.
        output_index: u32,
        /// The part's position in the item's `summary`.
        summary_index: u32,
        /// The whole text.
        text: String,
        /// Position in the stream.
        sequence_number: u64,
    },
    /// The stream failed.
    #[serde(rename = "error")]
    Error {
        /// Machine-readable code.
        #[serde(default)]
        code: Option<String>,
        /// Human-readable message.
        message: String,
        /// The offending parameter, if any.
        #[serde(default)]
        param: Option<String>,
        /// Position in the stream.
        sequence_number: u64,
    },
}

impl StreamEvent {
    /// The SSE `event:` name, equal to the data's `type`.
    pub const fn event_name(&self) -> &'static str {
        match self {
            Self::Created { .. } => "response.created",
            Self::InProgress { .. } => "response.in_progress",
            Self::Completed { .. } => "response.completed",
            Self::Incomplete { .. } => "response.incomplete",
            Self::Failed { .. } => "response.failed",
            Self::OutputItemAdded { .. } => "response.output_item.added",
            Self::OutputItemDone { .. } => "response.output_item.done",
            Self::ContentPartAdded { .. } => "response.content_part.added",
            Self::ContentPartDone { .. } => "response.content_part.done",
            Self::OutputTextDelta { .. } => "response.output_text.delta",
            Self::OutputTextDone { .. } => "response.output_text.done",
            Self::FunctionCallArgumentsDelta { .. } => "response.function_call_arguments.delta",
            Self::FunctionCallArgumentsDone { .. } => "response.function_call_arguments.done",
            Self::ReasoningSummaryPartAdded { .. } => "response.reasoning_summary_part.added",
            Self::ReasoningSummaryPartDone { .. } => "response.reasoning_summary_part.done",
            Self::ReasoningSummaryTextDelta { .. } => "response.reasoning_summary_text.delta",
            Self::ReasoningSummaryTextDone { .. } => "response.reasoning_summary_text.done",
            Self::Error { .. } => "error",
        }
    }
}
