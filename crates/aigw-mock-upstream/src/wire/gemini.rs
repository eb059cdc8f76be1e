//! Gemini generateContent / streamGenerateContent (SSE with `alt=sse`, a JSON array
//! without), the Antigravity `v1internal` envelope around the same bodies, countTokens,
//! the models list and Google error objects.

use std::borrow::Cow;

use bytes::Bytes;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::common::{Invalid, Parsed, Rendered, raw_text};
use super::encode::{json_bytes, sse_data};
use crate::ids::IdGen;
use crate::reply::{Finish, Plan, pieces};

#[derive(Deserialize)]
struct GenerateRequest<'a> {
    #[serde(borrow, default)]
    contents: Option<Vec<Content<'a>>>,
}

#[derive(Deserialize)]
struct Content<'a> {
    #[serde(borrow, default)]
    role: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    parts: Option<&'a RawValue>,
}

/// The Antigravity request envelope: `{project, requestId, userAgent, model, request}`.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    request: Option<GenerateRequest<'a>>,
}

fn user_text(contents: &[Content<'_>]) -> String {
    contents
        .iter()
        .rev()
        .find(|c| c.role.as_deref().is_none_or(|r| r == "user"))
        .map(|c| raw_text(c.parts))
        .unwrap_or_default()
}

fn contents_of(req: Option<GenerateRequest<'_>>) -> Result<Vec<Content<'_>>, Invalid> {
    match req.and_then(|r| r.contents) {
        Some(contents) if !contents.is_empty() => Ok(contents),
        _ => Err(Invalid(
            "* GenerateContentRequest.contents: contents is not specified".to_owned(),
        )),
    }
}

fn invalid_json(e: &serde_json::Error) -> Invalid {
    Invalid(format!("Invalid JSON payload received. {e}"))
}

/// Parses a Gemini request; the model comes from the URL path.
pub(crate) fn parse(model: &str, stream: bool, body: &[u8]) -> Result<Parsed, Invalid> {
    let req: GenerateRequest<'_> = serde_json::from_slice(body).map_err(|e| invalid_json(&e))?;
    let contents = contents_of(Some(req))?;
    Ok(Parsed {
        model: model.to_owned(),
        stream,
        include_usage: false,
        user_text: user_text(&contents),
    })
}

/// Parses an Antigravity envelope; the model comes from the body.
pub(crate) fn parse_envelope(stream: bool, body: &[u8]) -> Result<Parsed, Invalid> {
    let env: Envelope<'_> = serde_json::from_slice(body).map_err(|e| invalid_json(&e))?;
    let model = env
        .model
        .ok_or_else(|| Invalid("model is required".to_owned()))?;
    let contents = contents_of(env.request)?;
    Ok(Parsed {
        model: model.into_owned(),
        stream,
        include_usage: false,
        user_text: user_text(&contents),
    })
}

/// How a Gemini answer is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// generateContent: one JSON object.
    Json,
    /// streamGenerateContent?alt=sse: one `data:` event per chunk.
    Sse,
    /// streamGenerateContent without alt=sse: a JSON array of chunks.
    JsonArray,
}

fn finish_reason(finish: Finish) -> &'static str {
    match finish {
        Finish::Stop | Finish::ToolCalls => "STOP",
        Finish::Length => "MAX_TOKENS",
        Finish::ContentFilter => "SAFETY",
    }
}

#[derive(Serialize)]
struct Response<'a> {
    candidates: [Candidate<'a>; 1],
    #[serde(rename = "usageMetadata")]
    usage_metadata: UsageMetadata,
    #[serde(rename = "modelVersion")]
    model_version: &'a str,
    #[serde(rename = "responseId")]
    response_id: &'a str,
}

#[derive(Serialize)]
struct Candidate<'a> {
    content: ContentOut<'a>,
    #[serde(rename = "finishReason", skip_serializing_if = "Option::is_none")]
    finish_reason: Option<&'static str>,
    index: u32,
}

#[derive(Serialize)]
struct ContentOut<'a> {
    parts: Vec<Part<'a>>,
    role: &'static str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Part<'a> {
    Text {
        text: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        thought: Option<bool>,
        #[serde(rename = "thoughtSignature", skip_serializing_if = "Option::is_none")]
        thought_signature: Option<&'a str>,
    },
    Call {
        #[serde(rename = "functionCall")]
        function_call: FunctionCall<'a>,
    },
}

impl<'a> Part<'a> {
    fn text(text: &'a str) -> Self {
        Self::Text {
            text,
            thought: None,
            thought_signature: None,
        }
    }
}

#[derive(Serialize)]
struct FunctionCall<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    name: &'a str,
    args: &'a serde_json::Value,
}

#[derive(Serialize)]
struct UsageMetadata {
    #[serde(rename = "promptTokenCount")]
    prompt_token_count: u32,
    #[serde(
        rename = "candidatesTokenCount",
        skip_serializing_if = "Option::is_none"
    )]
    candidates_token_count: Option<u32>,
    #[serde(rename = "totalTokenCount")]
    total_token_count: u32,
    #[serde(
        rename = "cachedContentTokenCount",
        skip_serializing_if = "Option::is_none"
    )]
    cached_content_token_count: Option<u32>,
    #[serde(rename = "thoughtsTokenCount", skip_serializing_if = "Option::is_none")]
    thoughts_token_count: Option<u32>,
    #[serde(rename = "promptTokensDetails")]
    prompt_tokens_details: [ModalityCount; 1],
}

#[derive(Serialize)]
struct ModalityCount {
    modality: &'static str,
    #[serde(rename = "tokenCount")]
    token_count: u32,
}

impl UsageMetadata {
    fn final_counts(plan: &Plan) -> Self {
        let u = plan.usage;
        Self {
            prompt_token_count: u.prompt_tokens,
            candidates_token_count: Some(u.completion_tokens.saturating_sub(u.reasoning_tokens)),
            total_token_count: u.total(),
            cached_content_token_count: (u.cached_tokens > 0).then_some(u.cached_tokens),
            thoughts_token_count: (u.reasoning_tokens > 0).then_some(u.reasoning_tokens),
            prompt_tokens_details: [ModalityCount {
                modality: "TEXT",
                token_count: u.prompt_tokens,
            }],
        }
    }

    /// What intermediate stream chunks carry: the prompt count only, as Gemini sends it.
    fn running(plan: &Plan) -> Self {
        let prompt = plan.usage.prompt_tokens;
        Self {
            prompt_token_count: prompt,
            candidates_token_count: None,
            total_token_count: prompt,
            cached_content_token_count: None,
            thoughts_token_count: None,
            prompt_tokens_details: [ModalityCount {
                modality: "TEXT",
                token_count: prompt,
            }],
        }
    }
}

fn response<'a>(
    plan: &'a Plan,
    response_id: &'a str,
    parts: Vec<Part<'a>>,
    last: bool,
) -> Response<'a> {
    Response {
        candidates: [Candidate {
            content: ContentOut {
                parts,
                role: "model",
            },
            finish_reason: last.then(|| finish_reason(plan.finish)),
            index: 0,
        }],
        usage_metadata: if last {
            UsageMetadata::final_counts(plan)
        } else {
            UsageMetadata::running(plan)
        },
        model_version: &plan.model,
        response_id,
    }
}

/// `{"response": …, "traceId": …}`: how Antigravity wraps every Gemini body.
#[derive(Serialize)]
struct Wrapped<'a, T> {
    response: T,
    #[serde(rename = "traceId")]
    trace_id: &'a str,
}

pub(crate) fn render(
    plan: &Plan,
    framing: Framing,
    antigravity: bool,
    ids: &IdGen,
) -> Result<Rendered, serde_json::Error> {
    let response_id = ids.gemini_response();
    let trace_id = antigravity.then(|| format!("{:016x}", ids.next_u64()));
    let response = |parts, last| response(plan, &response_id, parts, last);
    let encode = |r: Response<'_>, sse: bool| match (&trace_id, sse) {
        (Some(trace_id), true) => sse_data(&Wrapped {
            response: r,
            trace_id,
        }),
        (Some(trace_id), false) => json_bytes(&Wrapped {
            response: r,
            trace_id,
        }),
        (None, true) => sse_data(&r),
        (None, false) => json_bytes(&r),
    };
    let thought = |text| Part::Text {
        text,
        thought: Some(true),
        thought_signature: None,
    };
    let calls = || {
        plan.tool_calls.iter().map(|c| Part::Call {
            function_call: FunctionCall {
                id: c.id.as_deref(),
                name: &c.name,
                args: &c.arguments,
            },
        })
    };

    if framing == Framing::Json {
        let mut parts = Vec::with_capacity(2 + plan.tool_calls.len());
        if let Some(thinking) = &plan.thinking {
            parts.push(Part::Text {
                text: thinking,
                thought: Some(true),
                thought_signature: Some(&plan.signature),
            });
        }
        if !plan.text.is_empty() || plan.tool_calls.is_empty() {
            parts.push(Part::text(&plan.text));
        }
        parts.extend(calls());
        return Ok(Rendered::json(encode(response(parts, true), false)?));
    }

    // Stream chunks: thoughts piece by piece (the signature rides on the last),
    // text piece by piece, all function calls in one chunk, and the finish reason
    // with the full usage on the last chunk.
    let mut chunks: Vec<Vec<Part<'_>>> = Vec::new();
    if let Some(thinking) = &plan.thinking {
        chunks.extend(pieces(thinking).map(|p| vec![thought(p)]));
        if let Some(Part::Text {
            thought_signature, ..
        }) = chunks.last_mut().and_then(|c| c.last_mut())
        {
            *thought_signature = Some(&plan.signature);
        }
    }
    chunks.extend(pieces(&plan.text).map(|p| vec![Part::text(p)]));
    if !plan.tool_calls.is_empty() {
        chunks.push(calls().collect());
    }
    if chunks.is_empty() {
        chunks.push(vec![Part::text("")]);
    }
    let last = chunks.len() - 1;
    let sse = framing == Framing::Sse;
    let mut events = Vec::with_capacity(chunks.len());
    for (i, parts) in chunks.into_iter().enumerate() {
        events.push(encode(response(parts, i == last), sse)?);
    }
    if sse {
        return Ok(Rendered::sse(events));
    }
    // Without alt=sse Gemini streams one JSON array; the mock sends it element by
    // element so pacing and cuts still apply between chunks.
    let mut framed = Vec::with_capacity(events.len() + 1);
    for (i, event) in events.into_iter().enumerate() {
        let sep: &[u8] = if i == 0 { b"[" } else { b",\r\n" };
        let mut buf = Vec::with_capacity(sep.len() + event.len());
        buf.extend_from_slice(sep);
        buf.extend_from_slice(&event);
        framed.push(Bytes::from(buf));
    }
    framed.push(Bytes::from_static(b"]"));
    Ok(Rendered {
        stream: true,
        content_type: super::common::JSON,
        chunks: framed,
    })
}

/// The prompt size estimate for countTokens.
pub(crate) fn count_tokens(body: &[u8]) -> Result<Bytes, serde_json::Error> {
    #[derive(Serialize)]
    struct Count {
        #[serde(rename = "totalTokens")]
        total_tokens: u32,
    }
    json_bytes(&Count {
        total_tokens: u32::try_from(body.len() / 4).unwrap_or(u32::MAX).max(1),
    })
}

#[derive(Serialize)]
struct ModelList<'a> {
    models: Vec<ModelEntry<'a>>,
}

#[derive(Serialize)]
struct ModelEntry<'a> {
    name: String,
    version: &'static str,
    #[serde(rename = "displayName")]
    display_name: &'a str,
    #[serde(rename = "inputTokenLimit")]
    input_token_limit: u32,
    #[serde(rename = "outputTokenLimit")]
    output_token_limit: u32,
    #[serde(rename = "supportedGenerationMethods")]
    supported_generation_methods: [&'static str; 2],
}

pub(crate) fn models(models: &[String]) -> Result<Bytes, serde_json::Error> {
    json_bytes(&ModelList {
        models: models
            .iter()
            .map(|id| ModelEntry {
                name: format!("models/{id}"),
                version: "001",
                display_name: id,
                input_token_limit: 1_048_576,
                output_token_limit: 65_536,
                supported_generation_methods: ["generateContent", "countTokens"],
            })
            .collect(),
    })
}

#[derive(Serialize)]
struct ErrorEnvelope<'a> {
    error: ErrorObject<'a>,
}

#[derive(Serialize)]
struct ErrorObject<'a> {
    code: u16,
    message: &'a str,
    status: &'static str,
}

fn google_error(status: StatusCode, message: Option<&str>) -> ErrorEnvelope<'_> {
    let (name, default) = match status.as_u16() {
        400 => ("INVALID_ARGUMENT", "Request contains an invalid argument."),
        401 => (
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        ),
        403 => ("PERMISSION_DENIED", "The caller does not have permission"),
        404 => ("NOT_FOUND", "Requested entity was not found."),
        429 => (
            "RESOURCE_EXHAUSTED",
            "Resource has been exhausted (e.g. check quota).",
        ),
        500 => ("INTERNAL", "Internal error encountered."),
        503 | 529 => (
            "UNAVAILABLE",
            "The model is overloaded. Please try again later.",
        ),
        504 => (
            "DEADLINE_EXCEEDED",
            "Deadline expired before operation could complete.",
        ),
        _ => ("UNKNOWN", "Unknown error."),
    };
    ErrorEnvelope {
        error: ErrorObject {
            code: status.as_u16(),
            message: message.unwrap_or(default),
            status: name,
        },
    }
}

pub(crate) fn error_body(
    status: StatusCode,
    message: Option<&str>,
) -> Result<Bytes, serde_json::Error> {
    json_bytes(&google_error(status, message))
}

pub(crate) fn stream_error_event() -> Result<Bytes, serde_json::Error> {
    sse_data(&google_error(StatusCode::INTERNAL_SERVER_ERROR, None))
}

/// The error as the last element of a JSON-array stream (no `alt=sse`), closing the array.
pub(crate) fn array_error_element(first: bool) -> Result<Bytes, serde_json::Error> {
    let mut buf = Vec::with_capacity(128);
    let sep: &[u8] = if first { b"[" } else { b",\r\n" };
    buf.extend_from_slice(sep);
    serde_json::to_writer(
        &mut buf,
        &google_error(StatusCode::INTERNAL_SERVER_ERROR, None),
    )?;
    buf.push(b']');
    Ok(buf.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::{Reply, Usage};

    #[test]
    fn the_envelope_carries_the_model_and_request() {
        let body = br#"{"project":"p","requestId":"agent-1","userAgent":"antigravity","model":"gemini-2.5-pro",
            "request":{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}}"#;
        let parsed = parse_envelope(true, body).unwrap();
        assert_eq!(parsed.model, "gemini-2.5-pro");
        assert_eq!(parsed.user_text, "hi");
        assert!(parse_envelope(false, br#"{"model":"m"}"#).is_err());
        assert!(parse("m", false, br#"{"contents":[]}"#).is_err());
    }

    #[test]
    fn usage_splits_thoughts_from_candidates() {
        let ids = IdGen::new();
        let usage = Usage {
            prompt_tokens: 10,
            completion_tokens: 7,
            cached_tokens: 4,
            reasoning_tokens: 3,
            ..Usage::default()
        };
        let reply = Reply::text("ok").with_usage(usage);
        let plan = Plan::new(Some(&reply), "gemini-2.5-flash", "", 1, &ids).unwrap();
        let rendered = render(&plan, Framing::Json, true, &ids).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&rendered.chunks[0]).unwrap();
        let meta = &v["response"]["usageMetadata"];
        assert_eq!(meta["candidatesTokenCount"], 4);
        assert_eq!(meta["thoughtsTokenCount"], 3);
        assert_eq!(meta["cachedContentTokenCount"], 4);
        assert_eq!(meta["totalTokenCount"], 17);
        assert!(v["traceId"].is_string());
    }
}
