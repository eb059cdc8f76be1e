//! What every wire shares: the parsed request, the rendered response and
//! the text the echo quotes.

use bytes::Bytes;

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
