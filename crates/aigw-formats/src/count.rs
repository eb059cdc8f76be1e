//! Token counting: Gemini's `countTokens` and Anthropic's `count_tokens`
//! bodies read as the generation request they count (so they translate to
//! any upstream like a real request), the bodies of the upstream counters,
//! and the replies in each shape.

use aigw_domain::Format;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::FormatError;
use crate::gemini::{CountTokensRequest, CountTokensResponse};
use crate::json::{parse_request, parse_upstream};

/// The `generateContent` body a `countTokens` body counts: `{"contents": …}`
/// as it is, or the request under `generateContentRequest` without its
/// `model` (the URL names the model). The result goes to
/// [`crate::translate_request`] with [`aigw_domain::Format::Gemini`] as the
/// client format, like any Gemini request.
///
/// # Errors
/// [`FormatError::MalformedJson`] for bad JSON, [`FormatError::InvalidField`]
/// for a mistyped `contents` or `generateContentRequest`, or when neither is
/// there (naming `contents`).
pub fn gemini_count_request(body: &[u8]) -> Result<Bytes, FormatError> {
    let req: CountTokensRequest = parse_request(body)?;
    let request = match (req.generate_content_request, req.contents) {
        (Some(mut inner), _) => {
            inner.shift_remove("model");
            if !inner.contains_key("contents") {
                return Err(FormatError::InvalidField {
                    path: "generateContentRequest.contents".to_owned(),
                    message: "missing field `contents`".to_owned(),
                });
            }
            inner
        }
        (None, Some(contents)) => {
            let mut map = Map::with_capacity(1);
            map.insert("contents".to_owned(), Value::Array(contents));
            map
        }
        (None, None) => {
            return Err(FormatError::InvalidField {
                path: "contents".to_owned(),
                message: "missing field `contents`".to_owned(),
            });
        }
    };
    serde_json::to_vec(&request)
        .map(Bytes::from)
        .map_err(|e| FormatError::invalid_value(".", e.to_string()))
}

/// The `countTokens` reply: `{"totalTokens": n}`, with the cached part when
/// the counter knows one.
pub fn gemini_count_reply(total_tokens: u64, cached_tokens: Option<u64>) -> Bytes {
    let reply = CountTokensResponse {
        total_tokens,
        cached_content_token_count: cached_tokens.filter(|&n| n > 0),
    };
    // A struct of two integers always serialises; fall back to the bare total.
    serde_json::to_vec(&reply)
        .map(Bytes::from)
        .unwrap_or_else(|_| Bytes::from(format!("{{\"totalTokens\":{total_tokens}}}")))
}

/// The Messages request an Anthropic `count_tokens` body counts: the body
/// with `max_tokens` set (a count body has none, and every translation
/// needs one) and without `stream`. The caller reads it with
/// [`crate::RequestMeta::parse`] as an Anthropic body, which names any
/// missing or mistyped `model` or `messages`; the result goes to
/// [`crate::translate_request`] like any Anthropic request.
///
/// # Errors
/// [`FormatError::MalformedJson`] for bad JSON, [`FormatError::InvalidField`]
/// when the body is not a JSON object.
pub fn anthropic_count_request(body: &[u8]) -> Result<Bytes, FormatError> {
    let mut request: Map<String, Value> = parse_request(body)?;
    // Only the prompt is counted: the output limit takes no part in it.
    request.insert("max_tokens".to_owned(), Value::from(1));
    request.shift_remove("stream");
    serde_json::to_vec(&request)
        .map(Bytes::from)
        .map_err(|e| FormatError::invalid_value(".", e.to_string()))
}

/// The body of an Anthropic `count_tokens` call counting the Messages
/// request `request` (translated from another client format): the fields
/// the counter takes, without the output settings it refuses.
///
/// # Errors
/// [`FormatError::InvalidField`] when `request` is not a JSON object.
pub fn anthropic_count_body(request: &[u8]) -> Result<Bytes, FormatError> {
    const COUNTED: [&str; 6] = [
        "model",
        "messages",
        "system",
        "tools",
        "tool_choice",
        "thinking",
    ];
    let mut request: Map<String, Value> = parse_request(request)?;
    request.retain(|key, _| COUNTED.contains(&key.as_str()));
    serde_json::to_vec(&request)
        .map(Bytes::from)
        .map_err(|e| FormatError::invalid_value(".", e.to_string()))
}

/// The body of a Gemini `countTokens` call counting the whole
/// `generateContent` request `request` for `model` (system instruction and
/// tools included, which a bare `contents` would leave out).
///
/// # Errors
/// [`FormatError::InvalidField`] when `request` is not a JSON object.
pub fn gemini_count_body(request: &[u8], model: &str) -> Result<Bytes, FormatError> {
    let mut inner: Map<String, Value> = parse_request(request)?;
    inner.insert("model".to_owned(), Value::String(format!("models/{model}")));
    let mut outer = Map::with_capacity(1);
    outer.insert("generateContentRequest".to_owned(), Value::Object(inner));
    serde_json::to_vec(&outer)
        .map(Bytes::from)
        .map_err(|e| FormatError::invalid_value(".", e.to_string()))
}

/// The prompt size an upstream's counter answered, read from its reply in
/// the `upstream` format: Anthropic's `{"input_tokens": n}`, Gemini's and
/// Antigravity's `{"totalTokens": n}`.
///
/// # Errors
/// [`FormatError::UpstreamResponse`] when the reply has no count, and
/// [`FormatError::FormatRole`] for a format whose upstreams have no counter.
pub fn read_count_reply(upstream: Format, body: &[u8]) -> Result<u64, FormatError> {
    match upstream {
        Format::AnthropicMessages => parse_upstream::<AnthropicCount>(body).map(|c| c.input_tokens),
        Format::Gemini | Format::Antigravity => {
            parse_upstream::<CountTokensResponse>(body).map(|c| c.total_tokens)
        }
        Format::OpenAiChat | Format::OpenAiResponses => Err(FormatError::FormatRole {
            format: upstream,
            role: "token counting upstream",
        }),
    }
}

/// A token count in the `client` format's reply shape: Anthropic's
/// `{"input_tokens": n}` or Gemini's `{"totalTokens": n}`.
///
/// # Errors
/// [`FormatError::FormatRole`] for a client format without a count endpoint.
pub fn count_reply(client: Format, tokens: u64) -> Result<Bytes, FormatError> {
    match client {
        Format::AnthropicMessages => Ok(Bytes::from(format!("{{\"input_tokens\":{tokens}}}"))),
        Format::Gemini => Ok(gemini_count_reply(tokens, None)),
        Format::OpenAiChat | Format::OpenAiResponses | Format::Antigravity => {
            Err(FormatError::FormatRole {
                format: client,
                role: "token counting client",
            })
        }
    }
}

/// Anthropic's `count_tokens` reply.
#[derive(Deserialize)]
struct AnthropicCount {
    input_tokens: u64,
}
