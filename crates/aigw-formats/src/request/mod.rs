//! Request translation between formats: client bodies are read into the neutral
//! [`crate::ir::Conversation`], then written in the upstream's format.

mod from_anthropic;
mod from_gemini;
mod from_openai;
mod from_responses;
pub(crate) mod media;
mod to_anthropic;
mod to_gemini;
mod to_openai;
mod to_responses;

use aigw_domain::Format;
use bytes::Bytes;

use crate::FormatError;
use crate::context::UpstreamTarget;
use crate::gemini::AntigravityRequest;
use crate::ir::{Conversation, OutputFormat};
use crate::json::parse_request;
use crate::openai::ReasoningEffort;

/// `max_tokens` sent to Anthropic when an OpenAI client gives no limit: Anthropic
/// requires one, and 4096 is what every current Claude model can produce.
pub const DEFAULT_ANTHROPIC_MAX_TOKENS: u32 = 4096;

/// The smallest thinking budget Anthropic accepts.
pub const MIN_THINKING_BUDGET: u32 = 1024;

/// Thinking budget for an OpenAI `reasoning_effort` (none for `none`).
pub(crate) const fn effort_budget(effort: ReasoningEffort) -> Option<u32> {
    match effort {
        ReasoningEffort::None => None,
        ReasoningEffort::Minimal => Some(1024),
        ReasoningEffort::Low => Some(2048),
        ReasoningEffort::Medium => Some(8192),
        ReasoningEffort::High => Some(16384),
        ReasoningEffort::Xhigh => Some(32768),
    }
}

/// The `reasoning_effort` closest to a thinking budget (the inverse of [`effort_budget`],
/// using only the three values every reasoning model accepts).
pub(crate) const fn effort_for_budget(budget: u32) -> ReasoningEffort {
    if budget < 4096 {
        ReasoningEffort::Low
    } else if budget < 16384 {
        ReasoningEffort::Medium
    } else {
        ReasoningEffort::High
    }
}

/// The system instruction that asks for JSON where the upstream has no JSON mode.
pub(crate) fn output_instruction(output: &OutputFormat) -> String {
    match output {
        OutputFormat::JsonObject => {
            "Respond with a single valid JSON object and nothing else: no prose, no code fences."
                .to_owned()
        }
        OutputFormat::JsonSchema { schema: None, .. } => {
            output_instruction(&OutputFormat::JsonObject)
        }
        OutputFormat::JsonSchema {
            schema: Some(schema),
            ..
        } => format!(
            "Respond with a single valid JSON value that conforms to this JSON Schema, and nothing else \
             (no prose, no code fences):\n{schema}"
        ),
    }
}

/// Translate a client body to a different upstream format.
pub(crate) fn translate(
    client: Format,
    upstream: Format,
    body: &[u8],
    target: &UpstreamTarget<'_>,
) -> Result<Bytes, FormatError> {
    let conv: Conversation = match client {
        Format::OpenAiChat => from_openai::read(parse_request(body)?, upstream)?,
        Format::AnthropicMessages => from_anthropic::read(parse_request(body)?, upstream)?,
        Format::OpenAiResponses => from_responses::read(parse_request(body)?, upstream)?,
        Format::Gemini => from_gemini::read(parse_request(body)?, upstream)?,
        Format::Antigravity => {
            return Err(FormatError::FormatRole {
                format: client,
                role: "client",
            });
        }
    };
    let bytes = match upstream {
        Format::OpenAiChat => serde_json::to_vec(&to_openai::write(conv, target)?),
        Format::AnthropicMessages => serde_json::to_vec(&to_anthropic::write(conv, target)?),
        Format::OpenAiResponses => serde_json::to_vec(&to_responses::write(conv, target)),
        Format::Gemini => serde_json::to_vec(&to_gemini::write(conv, upstream)?),
        Format::Antigravity => {
            let mut request = to_gemini::write(conv, upstream)?;
            let ag = &target.antigravity;
            request.session_id = ag.session_id.map(str::to_owned);
            serde_json::to_vec(&AntigravityRequest {
                project: ag.project.map(str::to_owned),
                request_id: ag.request_id.to_owned(),
                user_agent: ag.user_agent.to_owned(),
                model: target.model.to_owned(),
                request,
            })
        }
    };
    // Serialising these types cannot fail (string keys, no non-finite floats are
    // produced by parsing JSON); map it anyway rather than panic.
    bytes
        .map(Bytes::from)
        .map_err(|e| FormatError::invalid_value(".", e.to_string()))
}
