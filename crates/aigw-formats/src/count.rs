//! Gemini `countTokens`: the request read as the `generateContent` body it
//! counts (so it translates to any upstream like a real request), and the
//! `{"totalTokens": n}` reply.

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::FormatError;
use crate::gemini::{CountTokensRequest, CountTokensResponse};
use crate::json::parse_request;

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
