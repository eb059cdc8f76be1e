//! The translation API the data plane calls: one request body to the upstream's
//! format, one response body back to the client's.

use aigw_domain::Format;
use bytes::Bytes;

use crate::context::{ResponseContext, UpstreamTarget};
use crate::{FormatError, Usage, passthrough, request, response};

/// Translate a client request body (`client` format) into the body to send to an
/// upstream speaking `upstream`.
///
/// Same format: the body is passed through with only `model` replaced (and, for
/// OpenAI Chat streams, `stream_options.include_usage` forced on; for OpenAI
/// Responses, `stream` set to the target's); every other field, known or not,
/// keeps its bytes. A Gemini body goes to a Gemini upstream byte for byte, and
/// to an Antigravity upstream inside the envelope, otherwise unchanged. Different formats: the body is fully parsed and
/// rewritten; fields with no equivalent in the target are dropped, and things the
/// target cannot express are refused with [`FormatError::Unsupported`].
///
/// # Errors
/// A [`FormatError`] naming the JSON path of the problem; every variant except
/// [`FormatError::FormatRole`] is the client's fault (answer 400).
pub fn translate_request(
    client: Format,
    upstream: Format,
    body: &[u8],
    target: &UpstreamTarget<'_>,
) -> Result<Bytes, FormatError> {
    match (client, upstream) {
        (Format::Antigravity, _) => Err(FormatError::FormatRole {
            format: client,
            role: "client",
        }),
        // The model is in the URL and the stream in the method: the body goes as it is.
        (Format::Gemini, Format::Gemini) => passthrough::check_gemini(body),
        (Format::Gemini, Format::Antigravity) => passthrough::wrap_antigravity(body, target),
        _ if client == upstream => passthrough::rewrite(client, body, target),
        _ => request::translate(client, upstream, body, target),
    }
}

/// Translate a whole (non-stream) upstream response body into the client's
/// format, and extract its usage.
///
/// Same format: the body is returned as is (no copy) and only its usage is parsed.
/// An Antigravity body for a Gemini client is only taken out of its envelope.
///
/// # Errors
/// [`FormatError::UpstreamResponse`] when the upstream body cannot be read,
/// [`FormatError::FormatRole`] when `client` is not a client format.
pub fn translate_response(
    upstream: Format,
    client: Format,
    body: Bytes,
    ctx: &ResponseContext<'_>,
) -> Result<(Bytes, Usage), FormatError> {
    if upstream == client {
        let usage = Usage::from_response_body(upstream, &body)?;
        return Ok((body, usage));
    }
    if (upstream, client) == (Format::Antigravity, Format::Gemini) {
        return response::unwrap_for_gemini(body);
    }
    response::translate(upstream, client, &body, ctx)
}
