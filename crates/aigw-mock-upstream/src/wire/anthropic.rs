//! Anthropic Messages: request validation as the real API does it (model, max_tokens,
//! messages, `anthropic-version`), `message` bodies with cache-aware usage, the SSE
//! event sequence (message_start … message_stop), the models list and error objects.

use std::borrow::Cow;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::common::{Invalid, Parsed, Rendered, raw_text};
use super::encode::{json_bytes, sse_event};
use crate::ids::IdGen;
use crate::reply::{Finish, Plan, Usage, fragments, pieces};

#[derive(Deserialize)]
struct MessagesRequest<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(borrow, default)]
    messages: Option<Vec<Message<'a>>>,
}

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow)]
    role: Cow<'a, str>,
    #[serde(borrow, default)]
    content: Option<&'a RawValue>,
}

pub(crate) fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Parsed, Invalid> {
    if !headers.contains_key("anthropic-version") {
        return Err(Invalid("anthropic-version: header is required".to_owned()));
    }
    let req: MessagesRequest<'_> = serde_json::from_slice(body)
        .map_err(|e| Invalid(format!("There was an error parsing the body: {e}")))?;
    let messages = req
        .messages
        .ok_or_else(|| Invalid("messages: Field required".to_owned()))?;
    let model = req
        .model
        .ok_or_else(|| Invalid("model: Field required".to_owned()))?;
    if req.max_tokens.is_none() {
        return Err(Invalid("max_tokens: Field required".to_owned()));
    }
    let user_text = messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .map(|m| raw_text(m.content))
        .unwrap_or_default();
    Ok(Parsed {
        model: model.into_owned(),
        stream: req.stream.unwrap_or(false),
        include_usage: false,
        user_text,
    })
}

/// The prompt size estimate for `count_tokens`.
pub(crate) fn count_tokens(body: &[u8]) -> Result<Bytes, serde_json::Error> {
    #[derive(Serialize)]
    struct Count {
        input_tokens: u32,
    }
    json_bytes(&Count {
        input_tokens: u32::try_from(body.len() / 4).unwrap_or(u32::MAX).max(1),
    })
}

fn stop_reason(finish: Finish) -> &'static str {
    match finish {
        Finish::Stop => "end_turn",
        Finish::Length => "max_tokens",
        Finish::ToolCalls => "tool_use",
        Finish::ContentFilter => "refusal",
    }
}

#[derive(Serialize)]
struct UsageOut {
    input_tokens: u32,
    cache_creation_input_tokens: u32,
    cache_read_input_tokens: u32,
    output_tokens: u32,
    service_tier: &'static str,
}

impl UsageOut {
    fn new(u: Usage, output_tokens: u32) -> Self {
        Self {
            // Anthropic counts cache reads and writes apart from `input_tokens`.
            input_tokens: u
                .prompt_tokens
                .saturating_sub(u.cached_tokens)
                .saturating_sub(u.cache_creation_tokens),
            cache_creation_input_tokens: u.cache_creation_tokens,
            cache_read_input_tokens: u.cached_tokens,
            output_tokens,
            service_tier: "standard",
        }
    }
}

#[derive(Serialize)]
struct MessageOut<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<Block<'a>>,
    stop_reason: Option<&'static str>,
    stop_sequence: Option<()>,
    usage: UsageOut,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    Text {
        text: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: &'a serde_json::Value,
    },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockStart<'a> {
    Thinking {
        thinking: &'static str,
    },
    Text {
        text: &'static str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: EmptyObject,
    },
}

#[derive(Serialize)]
struct EmptyObject {}

#[derive(Serialize)]
#[serde(tag = "type")]
enum Delta<'a> {
    #[serde(rename = "text_delta")]
    Text { text: &'a str },
    #[serde(rename = "thinking_delta")]
    Thinking { thinking: &'a str },
    #[serde(rename = "signature_delta")]
    Signature { signature: &'a str },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: &'a str },
}

#[derive(Serialize)]
struct StopDelta {
    stop_reason: &'static str,
    stop_sequence: Option<()>,
}

#[derive(Serialize)]
struct OutputUsage {
    output_tokens: u32,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event<'a> {
    MessageStart {
        message: MessageOut<'a>,
    },
    ContentBlockStart {
        index: usize,
        content_block: BlockStart<'a>,
    },
    Ping,
    ContentBlockDelta {
        index: usize,
        delta: Delta<'a>,
    },
    ContentBlockStop {
        index: usize,
    },
    MessageDelta {
        delta: StopDelta,
        usage: OutputUsage,
    },
    MessageStop,
}

impl Event<'_> {
    fn name(&self) -> &'static str {
        match self {
            Self::MessageStart { .. } => "message_start",
            Self::ContentBlockStart { .. } => "content_block_start",
            Self::Ping => "ping",
            Self::ContentBlockDelta { .. } => "content_block_delta",
            Self::ContentBlockStop { .. } => "content_block_stop",
            Self::MessageDelta { .. } => "message_delta",
            Self::MessageStop => "message_stop",
        }
    }

    fn to_sse(&self) -> Result<Bytes, serde_json::Error> {
        sse_event(self.name(), self)
    }
}

pub(crate) fn render(
    plan: &Plan,
    stream: bool,
    ids: &IdGen,
) -> Result<Rendered, serde_json::Error> {
    let id = ids.anthropic_message();
    let tool_ids: Vec<String> = plan
        .tool_calls
        .iter()
        .map(|c| c.id.clone().unwrap_or_else(|| ids.anthropic_tool_use()))
        .collect();
    // A text block is sent when there is text, or when it would be the only block.
    let with_text =
        !plan.text.is_empty() || (plan.tool_calls.is_empty() && plan.thinking.is_none());

    if !stream {
        let mut content = Vec::with_capacity(2 + plan.tool_calls.len());
        if let Some(thinking) = &plan.thinking {
            content.push(Block::Thinking {
                thinking,
                signature: &plan.signature,
            });
        }
        if with_text {
            content.push(Block::Text { text: &plan.text });
        }
        for (call, id) in plan.tool_calls.iter().zip(&tool_ids) {
            content.push(Block::ToolUse {
                id,
                name: &call.name,
                input: &call.arguments,
            });
        }
        let body = MessageOut {
            id: &id,
            kind: "message",
            role: "assistant",
            model: &plan.model,
            content,
            stop_reason: Some(stop_reason(plan.finish)),
            stop_sequence: None,
            usage: UsageOut::new(plan.usage, plan.usage.completion_tokens),
        };
        return Ok(Rendered::json(json_bytes(&body)?));
    }

    let mut events = Vec::with_capacity(12);
    events.push(
        Event::MessageStart {
            message: MessageOut {
                id: &id,
                kind: "message",
                role: "assistant",
                model: &plan.model,
                content: Vec::new(),
                stop_reason: None,
                stop_sequence: None,
                usage: UsageOut::new(plan.usage, 1),
            },
        }
        .to_sse()?,
    );
    let mut index = 0;
    let mut open =
        |events: &mut Vec<Bytes>, block: BlockStart<'_>| -> Result<usize, serde_json::Error> {
            events.push(
                Event::ContentBlockStart {
                    index,
                    content_block: block,
                }
                .to_sse()?,
            );
            if index == 0 {
                events.push(Event::Ping.to_sse()?);
            }
            index += 1;
            Ok(index - 1)
        };
    let delta = |index: usize, delta: Delta<'_>| Event::ContentBlockDelta { index, delta }.to_sse();
    let stop = |index: usize| Event::ContentBlockStop { index }.to_sse();

    if let Some(thinking) = &plan.thinking {
        let i = open(&mut events, BlockStart::Thinking { thinking: "" })?;
        for piece in pieces(thinking) {
            events.push(delta(i, Delta::Thinking { thinking: piece })?);
        }
        events.push(delta(
            i,
            Delta::Signature {
                signature: &plan.signature,
            },
        )?);
        events.push(stop(i)?);
    }
    if with_text {
        let i = open(&mut events, BlockStart::Text { text: "" })?;
        for piece in pieces(&plan.text) {
            events.push(delta(i, Delta::Text { text: piece })?);
        }
        events.push(stop(i)?);
    }
    for (call, id) in plan.tool_calls.iter().zip(&tool_ids) {
        let i = open(
            &mut events,
            BlockStart::ToolUse {
                id,
                name: &call.name,
                input: EmptyObject {},
            },
        )?;
        for fragment in fragments(&call.arguments_json, 3) {
            events.push(delta(
                i,
                Delta::InputJson {
                    partial_json: fragment,
                },
            )?);
        }
        events.push(stop(i)?);
    }
    events.push(
        Event::MessageDelta {
            delta: StopDelta {
                stop_reason: stop_reason(plan.finish),
                stop_sequence: None,
            },
            usage: OutputUsage {
                output_tokens: plan.usage.completion_tokens,
            },
        }
        .to_sse()?,
    );
    events.push(Event::MessageStop.to_sse()?);
    Ok(Rendered::sse(events))
}

#[derive(Serialize)]
struct ModelList<'a> {
    data: Vec<ModelEntry<'a>>,
    has_more: bool,
    first_id: Option<&'a str>,
    last_id: Option<&'a str>,
}

#[derive(Serialize)]
struct ModelEntry<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    display_name: &'a str,
    created_at: &'static str,
}

pub(crate) fn models(models: &[String]) -> Result<Bytes, serde_json::Error> {
    json_bytes(&ModelList {
        data: models
            .iter()
            .map(|id| ModelEntry {
                kind: "model",
                id,
                display_name: id,
                created_at: "2025-09-29T00:00:00Z",
            })
            .collect(),
        has_more: false,
        first_id: models.first().map(String::as_str),
        last_id: models.last().map(String::as_str),
    })
}

#[derive(Serialize)]
struct ErrorEnvelope<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: ErrorObject<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
}

#[derive(Serialize)]
struct ErrorObject<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'a str,
}

pub(crate) fn error_body(
    status: StatusCode,
    message: Option<&str>,
    ids: &IdGen,
) -> Result<Bytes, serde_json::Error> {
    let (kind, default) = match status.as_u16() {
        400 => ("invalid_request_error", "Invalid request."),
        401 => ("authentication_error", "invalid x-api-key"),
        403 => (
            "permission_error",
            "Your API key does not have permission to use the specified resource.",
        ),
        404 => (
            "not_found_error",
            "The requested resource could not be found.",
        ),
        413 => (
            "request_too_large",
            "Request exceeds the maximum allowed number of bytes.",
        ),
        429 => (
            "rate_limit_error",
            "This request would exceed the rate limit for your organization.",
        ),
        529 => ("overloaded_error", "Overloaded"),
        s if s >= 500 => ("api_error", "Internal server error"),
        _ => ("invalid_request_error", "Request failed."),
    };
    let request_id = ids.request_id();
    json_bytes(&ErrorEnvelope {
        kind: "error",
        error: ErrorObject {
            kind,
            message: message.unwrap_or(default),
        },
        request_id: Some(&request_id),
    })
}

pub(crate) fn stream_error_event() -> Result<Bytes, serde_json::Error> {
    sse_event(
        "error",
        &ErrorEnvelope {
            kind: "error",
            error: ErrorObject {
                kind: "overloaded_error",
                message: "Overloaded",
            },
            request_id: None,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::Reply;

    fn headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            "anthropic-version",
            http::HeaderValue::from_static("2023-06-01"),
        );
        h
    }

    #[test]
    fn parse_requires_what_the_real_api_requires() {
        let ok = br#"{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}"#;
        assert_eq!(parse(&headers(), ok).unwrap().user_text, "hi");
        let err = parse(&HeaderMap::new(), ok).unwrap_err();
        assert!(err.0.contains("anthropic-version"));
        let err = parse(&headers(), br#"{"model":"m","messages":[]}"#).unwrap_err();
        assert!(err.0.contains("max_tokens"));
    }

    #[test]
    fn stream_event_names_match_their_types() {
        let ids = IdGen::new();
        let reply = Reply::text("a b")
            .with_thinking("hmm")
            .with_tool_call("f", serde_json::json!({"x": 1}));
        let plan = Plan::new(Some(&reply), "claude", "", 40, &ids).unwrap();
        let rendered = render(&plan, true, &ids).unwrap();
        let mut names = Vec::new();
        for event in &rendered.chunks {
            let text = std::str::from_utf8(event).unwrap();
            let (head, data) = text.split_once('\n').unwrap();
            let name = head.strip_prefix("event: ").unwrap();
            let v: serde_json::Value =
                serde_json::from_str(data.strip_prefix("data: ").unwrap().trim_end()).unwrap();
            assert_eq!(v["type"], name);
            names.push(name.to_owned());
        }
        assert_eq!(names.first().unwrap(), "message_start");
        assert_eq!(names[2], "ping");
        assert_eq!(names.last().unwrap(), "message_stop");
        assert_eq!(
            names.iter().filter(|n| *n == "content_block_start").count(),
            3
        );
    }
}
