//! aigateway wire formats: OpenAI Chat Completions, OpenAI Responses,
//! Anthropic Messages, Gemini and the Antigravity envelope; request, response
//! and error translation; SSE parsing and stream translation. Pure functions,
//! no IO.
//!
//! Entry points: [`RequestMeta::parse`] (first look at a client body;
//! [`RequestMeta::parse_gemini`] for Gemini, whose model is in the URL),
//! [`gemini_count_request`], [`anthropic_count_request`], [`count_reply`]
//! and their kin for token counts,
//! [`translate_request`], [`translate_response`], [`translate_error`] and
//! [`error_body`]; the [`stream`] module for SSE (and
//! [`stream::aggregate_responses`] for an upstream that only streams).

#![deny(missing_docs)]

pub mod anthropic;
mod client_error;
mod context;
pub mod conversation;
mod count;
mod error;
pub mod gemini;
pub mod ids;
mod ir;
mod json;
mod meta;
mod namespaces;
pub mod openai;
mod passthrough;
pub mod reasons;
mod request;
mod response;
pub mod responses;
pub mod sse;
pub mod stream;
mod translate;
mod usage;

pub use client_error::{
    ErrorKind, error_body, error_body_with_status, format_error_body, translate_error,
    upstream_error_kind,
};
pub use context::{AntigravityEnvelope, ResponseContext, UpstreamTarget};
pub use conversation::{ConversationKey, ConversationSource};
pub use count::{
    anthropic_count_body, anthropic_count_request, count_reply, gemini_count_body,
    gemini_count_reply, gemini_count_request, read_count_reply,
};
pub use error::{Error, FormatError};
pub use json::TextOr;
pub use meta::{MAX_MODEL_BYTES, RequestMeta};
pub use reasons::Finish;
pub use request::{DEFAULT_ANTHROPIC_MAX_TOKENS, MIN_THINKING_BUDGET};
pub use translate::{translate_request, translate_response};
pub use usage::Usage;
