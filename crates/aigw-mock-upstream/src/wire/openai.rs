//! OpenAI Chat Completions: request parsing, `chat.completion` bodies,
//! `chat.completion.chunk` SSE streams ending in `data: [DONE]`, the models list and
//! OpenAI error objects. Thinking goes out as `reasoning_content`, the field the
//! OpenAI-compatible reasoning upstreams (DeepSeek, GLM, vLLM) use.

use std::borrow::Cow;

use bytes::Bytes;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::common::{Invalid, Parsed, Rendered, raw_text};
use super::encode::{json_bytes, sse_data};
use crate::ids::{IdGen, unix_now};
use crate::reply::{Finish, Plan, Usage, fragments, pieces};

const FINGERPRINT: &str = "fp_mock0001";
const DONE: &[u8] = b"data: [DONE]\n\n";

#[derive(Deserialize)]
struct ChatRequest<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(borrow, default)]
    messages: Option<Vec<Message<'a>>>,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow)]
    role: Cow<'a, str>,
    #[serde(borrow, default)]
    content: Option<&'a RawValue>,
}

pub(crate) fn parse(body: &[u8]) -> Result<Parsed, Invalid> {
    let req: ChatRequest<'_> = serde_json::from_slice(body).map_err(|e| {
        Invalid(format!(
            "We could not parse the JSON body of your request. ({e})"
        ))
    })?;
    let model = req
        .model
        .ok_or_else(|| Invalid("you must provide a model parameter".to_owned()))?;
    let messages = req
        .messages
        .ok_or_else(|| Invalid("Missing required parameter: 'messages'.".to_owned()))?;
    let user_text = messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .map(|m| raw_text(m.content))
        .unwrap_or_default();
    Ok(Parsed {
        model: model.into_owned(),
        stream: req.stream.unwrap_or(false),
        include_usage: req
            .stream_options
            .and_then(|o| o.include_usage)
            .unwrap_or(false),
        user_text,
    })
}

fn finish_reason(finish: Finish) -> &'static str {
    match finish {
        Finish::Stop => "stop",
        Finish::Length => "length",
        Finish::ToolCalls => "tool_calls",
        Finish::ContentFilter => "content_filter",
    }
}

#[derive(Serialize)]
struct UsageOut {
    prompt_tokens: u32,
    completion_tokens: u32,
    total_tokens: u32,
    prompt_tokens_details: PromptDetails,
    completion_tokens_details: CompletionDetails,
}

#[derive(Serialize)]
struct PromptDetails {
    cached_tokens: u32,
    audio_tokens: u32,
}

#[derive(Serialize)]
struct CompletionDetails {
    reasoning_tokens: u32,
    audio_tokens: u32,
    accepted_prediction_tokens: u32,
    rejected_prediction_tokens: u32,
}

impl From<Usage> for UsageOut {
    fn from(u: Usage) -> Self {
        Self {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            total_tokens: u.total(),
            prompt_tokens_details: PromptDetails {
                cached_tokens: u.cached_tokens,
                audio_tokens: 0,
            },
            completion_tokens_details: CompletionDetails {
                reasoning_tokens: u.reasoning_tokens,
                audio_tokens: 0,
                accepted_prediction_tokens: 0,
                rejected_prediction_tokens: 0,
            },
        }
    }
}

#[derive(Serialize)]
struct Completion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [Choice<'a>; 1],
    usage: UsageOut,
    service_tier: &'static str,
    system_fingerprint: &'static str,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: MessageOut<'a>,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct MessageOut<'a> {
    role: &'static str,
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCallOut<'a>>,
    refusal: Option<()>,
    annotations: [(); 0],
}

#[derive(Serialize)]
struct ToolCallOut<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionOut<'a>,
}

#[derive(Serialize)]
struct FunctionOut<'a> {
    name: &'a str,
    arguments: &'a str,
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    system_fingerprint: &'static str,
    choices: &'a [ChunkChoice<'a>],
    /// Absent unless `include_usage`; then `null` on every chunk but the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<UsageOut>>,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

#[derive(Serialize, Default)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tool_calls: &'a [DeltaCall<'a>],
}

#[derive(Serialize)]
struct DeltaCall<'a> {
    index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: DeltaFunction<'a>,
}

#[derive(Serialize)]
struct DeltaFunction<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}

pub(crate) fn render(
    plan: &Plan,
    stream: bool,
    include_usage: bool,
    ids: &IdGen,
) -> Result<Rendered, serde_json::Error> {
    let id = ids.chat_completion();
    let created = unix_now();
    let call_ids: Vec<String> = plan
        .tool_calls
        .iter()
        .map(|c| c.id.clone().unwrap_or_else(|| ids.openai_call()))
        .collect();
    if !stream {
        let body = Completion {
            id: &id,
            object: "chat.completion",
            created,
            model: &plan.model,
            choices: [Choice {
                index: 0,
                message: MessageOut {
                    role: "assistant",
                    content: (!plan.text.is_empty() || plan.tool_calls.is_empty())
                        .then_some(plan.text.as_str()),
                    reasoning_content: plan.thinking.as_deref(),
                    tool_calls: plan
                        .tool_calls
                        .iter()
                        .zip(&call_ids)
                        .map(|(c, id)| ToolCallOut {
                            id,
                            kind: "function",
                            function: FunctionOut {
                                name: &c.name,
                                arguments: &c.arguments_json,
                            },
                        })
                        .collect(),
                    refusal: None,
                    annotations: [],
                },
                logprobs: None,
                finish_reason: finish_reason(plan.finish),
            }],
            usage: plan.usage.into(),
            service_tier: "default",
            system_fingerprint: FINGERPRINT,
        };
        return Ok(Rendered::json(json_bytes(&body)?));
    }

    let usage_slot = || include_usage.then_some(None);
    let chunk = |delta: Delta<'_>, finish: Option<&'static str>| {
        sse_data(&Chunk {
            id: &id,
            object: "chat.completion.chunk",
            created,
            model: &plan.model,
            system_fingerprint: FINGERPRINT,
            choices: &[ChunkChoice {
                index: 0,
                delta,
                logprobs: None,
                finish_reason: finish,
            }],
            usage: usage_slot(),
        })
    };

    let mut events = Vec::with_capacity(8);
    events.push(chunk(
        Delta {
            role: Some("assistant"),
            content: Some(""),
            ..Delta::default()
        },
        None,
    )?);
    if let Some(thinking) = &plan.thinking {
        for piece in pieces(thinking) {
            events.push(chunk(
                Delta {
                    reasoning_content: Some(piece),
                    ..Delta::default()
                },
                None,
            )?);
        }
    }
    for piece in pieces(&plan.text) {
        events.push(chunk(
            Delta {
                content: Some(piece),
                ..Delta::default()
            },
            None,
        )?);
    }
    for (index, (call, call_id)) in plan.tool_calls.iter().zip(&call_ids).enumerate() {
        let opening = [DeltaCall {
            index,
            id: Some(call_id),
            kind: Some("function"),
            function: DeltaFunction {
                name: Some(&call.name),
                arguments: "",
            },
        }];
        events.push(chunk(
            Delta {
                tool_calls: &opening,
                ..Delta::default()
            },
            None,
        )?);
        for fragment in fragments(&call.arguments_json, 3) {
            let part = [DeltaCall {
                index,
                id: None,
                kind: None,
                function: DeltaFunction {
                    name: None,
                    arguments: fragment,
                },
            }];
            events.push(chunk(
                Delta {
                    tool_calls: &part,
                    ..Delta::default()
                },
                None,
            )?);
        }
    }
    events.push(chunk(Delta::default(), Some(finish_reason(plan.finish)))?);
    if include_usage {
        events.push(sse_data(&Chunk {
            id: &id,
            object: "chat.completion.chunk",
            created,
            model: &plan.model,
            system_fingerprint: FINGERPRINT,
            choices: &[],
            usage: Some(Some(plan.usage.into())),
        })?);
    }
    events.push(Bytes::from_static(DONE));
    Ok(Rendered::sse(events))
}

#[derive(Serialize)]
struct ModelList<'a> {
    object: &'static str,
    data: Vec<ModelEntry<'a>>,
}

#[derive(Serialize)]
struct ModelEntry<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    owned_by: &'a str,
}

pub(crate) fn models(models: &[String]) -> Result<Bytes, serde_json::Error> {
    json_bytes(&ModelList {
        object: "list",
        data: models
            .iter()
            .map(|id| ModelEntry {
                id,
                object: "model",
                created: 1_715_367_049,
                owned_by: owner(id),
            })
            .collect(),
    })
}

fn owner(model: &str) -> &'static str {
    if model.starts_with("claude") {
        "anthropic"
    } else if model.starts_with("gemini") {
        "google"
    } else if model.starts_with("glm") {
        "zhipuai"
    } else {
        "openai"
    }
}

#[derive(Serialize)]
struct ErrorEnvelope<'a> {
    error: ErrorObject<'a>,
}

#[derive(Serialize)]
struct ErrorObject<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

pub(crate) fn error_body(
    status: StatusCode,
    message: Option<&str>,
) -> Result<Bytes, serde_json::Error> {
    let (kind, code, default) = match status.as_u16() {
        400 => ("invalid_request_error", None, "Invalid request."),
        401 => (
            "invalid_request_error",
            Some("invalid_api_key"),
            "Incorrect API key provided.",
        ),
        403 => (
            "permission_error",
            None,
            "You are not allowed to perform this request.",
        ),
        404 => (
            "invalid_request_error",
            Some("model_not_found"),
            "The model does not exist or you do not have access to it.",
        ),
        413 => ("invalid_request_error", None, "Request too large."),
        429 => (
            "requests",
            Some("rate_limit_exceeded"),
            "Rate limit reached for requests. Please try again later.",
        ),
        500 => (
            "server_error",
            None,
            "The server had an error while processing your request. Sorry about that!",
        ),
        s if s >= 500 => (
            "server_error",
            Some("overloaded"),
            "The engine is currently overloaded, please try again later.",
        ),
        _ => ("invalid_request_error", None, "Request failed."),
    };
    json_bytes(&ErrorEnvelope {
        error: ErrorObject {
            message: message.unwrap_or(default),
            kind,
            param: None,
            code,
        },
    })
}

pub(crate) fn stream_error_event() -> Result<Bytes, serde_json::Error> {
    sse_data(&ErrorEnvelope {
        error: ErrorObject {
            message: "The server had an error while processing your request. Sorry about that!",
            kind: "server_error",
            param: None,
            code: None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::Reply;

    #[test]
    fn parse_finds_the_last_user_turn_and_stream_options() {
        let body = br#"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},
            "messages":[{"role":"system","content":"sys"},{"role":"user","content":"first"},
            {"role":"assistant","content":"x"},{"role":"user","content":[{"type":"text","text":"second"}]}]}"#;
        let parsed = parse(body).unwrap();
        assert_eq!(parsed.model, "gpt-4o");
        assert!(parsed.stream && parsed.include_usage);
        assert_eq!(parsed.user_text, "second");
        assert!(parse(br#"{"messages":[]}"#).is_err());
        assert!(parse(b"{not json").is_err());
    }

    #[test]
    fn stream_chunks_reassemble_to_the_text_and_tool_arguments() {
        let ids = IdGen::new();
        let reply = Reply::text("hello there world")
            .with_tool_call("f", serde_json::json!({"a": 1, "b": "two"}));
        let plan = Plan::new(Some(&reply), "gpt-4o", "", 40, &ids).unwrap();
        let rendered = render(&plan, true, true, &ids).unwrap();
        let mut text = String::new();
        let mut args = String::new();
        let mut usage_chunks = 0;
        for event in &rendered.chunks {
            let line = std::str::from_utf8(event).unwrap();
            let json = line.strip_prefix("data: ").unwrap().trim_end();
            if json == "[DONE]" {
                continue;
            }
            let v: serde_json::Value = serde_json::from_str(json).unwrap();
            if !v["usage"].is_null() {
                usage_chunks += 1;
                assert_eq!(v["choices"].as_array().unwrap().len(), 0);
                continue;
            }
            let delta = &v["choices"][0]["delta"];
            text.push_str(delta["content"].as_str().unwrap_or(""));
            args.push_str(
                delta["tool_calls"][0]["function"]["arguments"]
                    .as_str()
                    .unwrap_or(""),
            );
        }
        assert_eq!(text, "hello there world");
        assert_eq!(args, r#"{"a":1,"b":"two"}"#);
        assert_eq!(usage_chunks, 1);
        assert_eq!(rendered.chunks.last().unwrap(), &Bytes::from_static(DONE));
    }
}
