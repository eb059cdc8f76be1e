//! Response translation: upstream bodies are read into the neutral
//! [`crate::ir::Reply`], then written in the client's format.

mod from_anthropic;
mod from_gemini;
pub(crate) mod from_openai;
pub(crate) mod from_responses;
mod to_anthropic;
pub(crate) mod to_gemini;
mod to_openai;
mod to_responses;

use aigw_domain::Format;
use bytes::Bytes;
use serde::Deserialize;

use crate::context::ResponseContext;
use crate::gemini::GenerateContentResponse;
use crate::ir::Reply;
use crate::json::parse_upstream;
use crate::{FormatError, Usage};

/// Translate a whole upstream response body to a different client format.
pub(crate) fn translate(
    upstream: Format,
    client: Format,
    body: &[u8],
    ctx: &ResponseContext<'_>,
) -> Result<(Bytes, Usage), FormatError> {
    let reply: Reply = match upstream {
        Format::OpenAiChat => from_openai::read(parse_upstream(body)?),
        Format::AnthropicMessages => from_anthropic::read(parse_upstream(body)?),
        Format::OpenAiResponses => from_responses::read(parse_upstream(body)?)?,
        Format::Gemini => from_gemini::read(parse_upstream(body)?),
        Format::Antigravity => from_gemini::read(unwrap_antigravity(body)?),
    };
    let usage = reply.usage;
    let bytes = match client {
        Format::OpenAiChat => serde_json::to_vec(&to_openai::write(reply, ctx)),
        Format::AnthropicMessages => serde_json::to_vec(&to_anthropic::write(reply, ctx)),
        Format::OpenAiResponses => serde_json::to_vec(&to_responses::write(reply, ctx)),
        Format::Gemini => serde_json::to_vec(&to_gemini::write(reply, ctx)),
        Format::Antigravity => {
            return Err(FormatError::FormatRole {
                format: client,
                role: "client",
            });
        }
    };
    let bytes = bytes.map_err(|e| FormatError::UpstreamResponse {
        path: ".".into(),
        message: e.to_string(),
    })?;
    Ok((Bytes::from(bytes), usage))
}

#[derive(Deserialize)]
struct MaybeWrapped {
    #[serde(default)]
    response: Option<GenerateContentResponse>,
}

/// The Gemini response inside an Antigravity body; a bare Gemini body is accepted too.
fn unwrap_antigravity(body: &[u8]) -> Result<GenerateContentResponse, FormatError> {
    match parse_upstream::<MaybeWrapped>(body)?.response {
        Some(inner) => Ok(inner),
        None => parse_upstream(body),
    }
}

#[derive(Deserialize)]
struct RawWrapped<'a> {
    #[serde(default, borrow)]
    response: Option<&'a serde_json::value::RawValue>,
}

/// An Antigravity body for a Gemini client: the Gemini response inside the
/// envelope, its bytes unchanged (a bare Gemini body is taken as it is).
pub(crate) fn unwrap_for_gemini(body: Bytes) -> Result<(Bytes, Usage), FormatError> {
    let inner = match parse_upstream::<RawWrapped<'_>>(&body)?.response {
        Some(raw) => Bytes::copy_from_slice(raw.get().as_bytes()),
        None => body,
    };
    let usage = Usage::from_response_body(Format::Gemini, &inner)?;
    Ok((inner, usage))
}
