//! Request translation between formats: client bodies are read into the neutral
//! [`crate::ir::Conversation`], then written in the upstream's format.

mod common;
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
use crate::ir::Conversation;
use crate::json::parse_request;

pub use self::common::{DEFAULT_ANTHROPIC_MAX_TOKENS, MIN_THINKING_BUDGET};

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
