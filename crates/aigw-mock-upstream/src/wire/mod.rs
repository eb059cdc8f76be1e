//! The wire formats the mock speaks: request parsing for the echo, response rendering
//! (JSON and SSE) from a [`Plan`](crate::reply::Plan), and each wire's error shapes.

pub(crate) mod anthropic;
pub(crate) mod encode;
pub(crate) mod gemini;
pub(crate) mod openai;
pub(crate) mod responses;

use bytes::Bytes;
use http::StatusCode;

use crate::ids::IdGen;

pub(crate) use encode::{json_bytes, sse_data, sse_event};

/// Whose error grammar a response uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    OpenAi,
    Anthropic,
    /// Gemini and Antigravity (Google's error object).
    Google,
    /// RFC 6749 token endpoint errors.
    OAuth,
}

impl Wire {
    /// The provider's own error body for `status`.
    pub(crate) fn error_body(
        self,
        status: StatusCode,
        message: Option<&str>,
        ids: &IdGen,
    ) -> Result<Bytes, serde_json::Error> {
        match self {
            Self::OpenAi => openai::error_body(status, message),
            Self::Anthropic => anthropic::error_body(status, message, ids),
            Self::Google => gemini::error_body(status, message),
            Self::OAuth => crate::oauth::error_body(status, message),
        }
    }

    /// An error event in the wire's own stream grammar (for a 200 stream that fails).
    pub(crate) fn stream_error_event(self) -> Result<Bytes, serde_json::Error> {
        match self {
            Self::OpenAi => openai::stream_error_event(),
            Self::Anthropic => anthropic::stream_error_event(),
            Self::Google | Self::OAuth => gemini::stream_error_event(),
        }
    }
}

/// A request the wire rejects before any reply is planned; the message goes into
/// the wire's 400 body.
#[derive(Debug)]
pub(crate) struct Invalid(pub(crate) String);

/// What a request asks for, as far as the mock cares.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) model: String,
    pub(crate) stream: bool,
    /// OpenAI `stream_options.include_usage`.
    pub(crate) include_usage: bool,
    /// Text of the last user turn, joined with newlines.
    pub(crate) user_text: String,
}

/// A rendered response body.
#[derive(Debug)]
pub(crate) struct Rendered {
    /// Whether `chunks` are stream events (paced, cuttable) or one JSON body.
    pub(crate) stream: bool,
    pub(crate) content_type: &'static str,
    pub(crate) chunks: Vec<Bytes>,
}

pub(crate) const JSON: &str = "application/json";
pub(crate) const SSE: &str = "text/event-stream";

impl Rendered {
    pub(crate) fn json(body: Bytes) -> Self {
        Self {
            stream: false,
            content_type: JSON,
            chunks: vec![body],
        }
    }

    pub(crate) fn sse(chunks: Vec<Bytes>) -> Self {
        Self {
            stream: true,
            content_type: SSE,
            chunks,
        }
    }
}

/// Appends the text inside a message content: a string, or the `text` of each
/// part/block in an array (recursing into `content`, as Anthropic `tool_result`
/// blocks nest it). Pieces are joined with newlines.
pub(crate) fn collect_text(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::String(s) => push_line(out, s),
        serde_json::Value::Array(items) => {
            for item in items {
                match item.get("text") {
                    Some(serde_json::Value::String(s)) => push_line(out, s),
                    _ => {
                        if let Some(inner) = item.get("content") {
                            collect_text(inner, out);
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

fn push_line(out: &mut String, s: &str) {
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(s);
}

/// Text of a raw JSON content value (parsed only for the turn the echo quotes).
pub(crate) fn raw_text(raw: Option<&serde_json::value::RawValue>) -> String {
    let mut out = String::new();
    if let Some(raw) = raw
        && let Ok(value) = serde_json::from_str::<serde_json::Value>(raw.get())
    {
        collect_text(&value, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn collect_text_reads_strings_parts_and_nested_blocks() {
        let mut out = String::new();
        collect_text(&json!("plain"), &mut out);
        assert_eq!(out, "plain");

        let mut out = String::new();
        collect_text(
            &json!([
                {"type": "text", "text": "a"},
                {"type": "image_url", "image_url": {"url": "x"}},
                {"type": "tool_result", "content": [{"type": "text", "text": "b"}]},
            ]),
            &mut out,
        );
        assert_eq!(out, "a\nb");
    }
}
