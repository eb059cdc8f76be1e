//! Gemini `generateContent` request (as Gemini CLI and the google-genai SDKs
//! send it) → neutral [`Conversation`], for every upstream that is not Gemini
//! or Antigravity (those get the body as it came).
//!
//! `systemInstruction` becomes the system prompt; `user` and `model` contents
//! become turns (`thought` parts are reasoning, a `thoughtSignature` on a
//! non-thought part signs the reasoning before it, as the reply writers put
//! it); `functionCall`s without an id get one from their position, and each
//! `functionResponse` answers the call with its id or else the oldest
//! unanswered call of its name. What only Gemini can do (hosted tools,
//! `cachedContent`, several candidates, non-image files) is refused naming the
//! field. `safetySettings` that only relax Gemini's filter (`BLOCK_NONE`,
//! `OFF`) have nothing to carry elsewhere; one that asks it to block is
//! refused, since no other upstream has that filter.

use std::collections::VecDeque;

use aigw_domain::Format;
use serde_json::{Map, Value};

use super::from_openai::push;
use super::media;
use super::to_gemini::SKIP_SIGNATURE;
use crate::FormatError;
use crate::gemini::{
    ClientGenerationConfig, ClientRequest, ClientThinkingConfig, ClientTool, Content,
    FunctionCallingMode, FunctionResponse, Part as GPart, ThinkingLevel, ToolConfig,
};
use crate::ir::{
    Conversation, Image, ImageSource, OutputFormat, Part, Speaker, Thinking, ToolCall, ToolChoice,
    ToolDef, ToolResult,
};
use crate::openai::ReasoningEffort;

/// Read a Gemini request for a non-Gemini `upstream` (named in errors).
pub(crate) fn read(req: ClientRequest, upstream: Format) -> Result<Conversation, FormatError> {
    if req.cached_content.is_some() {
        return Err(FormatError::unsupported(
            "cachedContent",
            upstream,
            "a Gemini context cache lives in one Gemini project and cannot be read elsewhere; \
             send the cached contents in the request instead",
        ));
    }
    for (i, setting) in req.safety_settings.iter().flatten().enumerate() {
        let threshold = setting
            .get("threshold")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !matches!(
            threshold,
            "" | "BLOCK_NONE" | "OFF" | "HARM_BLOCK_THRESHOLD_UNSPECIFIED"
        ) {
            return Err(FormatError::unsupported(
                format!("safetySettings[{i}].threshold"),
                upstream,
                format!(
                    "`{threshold}` asks Gemini's safety filter to block content, and this \
                     model's upstream has no such filter; leave the setting out or use \
                     BLOCK_NONE"
                ),
            ));
        }
    }
    let mut conv = Conversation::default();
    if let Some(system) = req.system_instruction {
        conv.system = system_texts(system, "systemInstruction")?;
    }
    for (i, tool) in req.tools.unwrap_or_default().into_iter().enumerate() {
        read_tool(&mut conv, tool, i, upstream)?;
    }
    if let Some(config) = req.tool_config {
        conv.tool_choice = read_tool_config(config)?;
    }
    if let Some(config) = req.generation_config {
        read_generation(&mut conv, config, upstream)?;
    }
    if req.contents.is_empty() {
        return Err(FormatError::invalid_value(
            "contents",
            "must hold at least one content",
        ));
    }
    let mut calls = CallBook::default();
    for (i, content) in req.contents.into_iter().enumerate() {
        read_content(
            &mut conv,
            &mut calls,
            content,
            &format!("contents[{i}]"),
            upstream,
        )?;
    }
    Ok(conv)
}

fn system_texts(content: Content, path: &str) -> Result<Vec<String>, FormatError> {
    let mut texts = Vec::with_capacity(content.parts.len());
    for (k, part) in content.parts.into_iter().enumerate() {
        match part.text {
            Some(text) if !text.is_empty() => texts.push(text),
            Some(_) => {}
            None => {
                return Err(FormatError::invalid_value(
                    format!("{path}.parts[{k}]"),
                    "only text parts are allowed in the system instruction",
                ));
            }
        }
    }
    Ok(texts)
}

fn read_tool(
    conv: &mut Conversation,
    tool: ClientTool,
    i: usize,
    upstream: Format,
) -> Result<(), FormatError> {
    if let Some(hosted) = tool.other.keys().next() {
        return Err(FormatError::unsupported(
            format!("tools[{i}].{hosted}"),
            upstream,
            format!("`{hosted}` is a tool only Gemini runs; declare a function instead"),
        ));
    }
    for (k, decl) in tool
        .function_declarations
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        if decl.name.is_empty() {
            return Err(FormatError::invalid_value(
                format!("tools[{i}].functionDeclarations[{k}].name"),
                "must not be empty",
            ));
        }
        // Full JSON Schema is taken as it is; the OpenAPI subset is lifted to it.
        let parameters = decl
            .parameters_json_schema
            .or_else(|| decl.parameters.map(openapi_to_json_schema));
        conv.tools.push(ToolDef {
            name: decl.name,
            description: decl.description,
            parameters,
        });
    }
    Ok(())
}

fn read_tool_config(config: ToolConfig) -> Result<Option<ToolChoice>, FormatError> {
    let Some(calling) = config.function_calling_config else {
        return Ok(None);
    };
    let allowed = calling.allowed_function_names.unwrap_or_default();
    Ok(match calling.mode {
        None | Some(FunctionCallingMode::Auto | FunctionCallingMode::Validated) => {
            Some(ToolChoice::Auto)
        }
        Some(FunctionCallingMode::None) => Some(ToolChoice::None),
        Some(FunctionCallingMode::Any) => match allowed.as_slice() {
            [] => Some(ToolChoice::Required),
            [only] => Some(ToolChoice::Named(only.clone())),
            // Several allowed names have no counterpart in the other formats;
            // any call from the declared set is the nearest promise.
            [_, _, ..] => Some(ToolChoice::Required),
        },
    })
}

fn read_generation(
    conv: &mut Conversation,
    config: ClientGenerationConfig,
    upstream: Format,
) -> Result<(), FormatError> {
    if let Some(n) = config.candidate_count
        && n != 1
    {
        return Err(FormatError::unsupported(
            "generationConfig.candidateCount",
            upstream,
            "only one candidate can be generated; send 1 or leave it out",
        ));
    }
    conv.temperature = config.temperature;
    conv.top_p = config.top_p;
    conv.top_k = config.top_k;
    conv.max_tokens = config.max_output_tokens;
    conv.stop = config.stop_sequences.unwrap_or_default();
    conv.presence_penalty = config.presence_penalty;
    conv.frequency_penalty = config.frequency_penalty;
    conv.seed = config.seed;
    conv.output = read_output(
        config.response_mime_type.as_deref(),
        config.response_json_schema,
        config.response_schema,
        upstream,
    )?;
    conv.thinking = config.thinking_config.and_then(read_thinking);
    Ok(())
}

fn read_output(
    mime: Option<&str>,
    json_schema: Option<Value>,
    openapi_schema: Option<Value>,
    upstream: Format,
) -> Result<Option<OutputFormat>, FormatError> {
    let schema = json_schema.or_else(|| openapi_schema.map(openapi_to_json_schema));
    match mime {
        None | Some("" | "text/plain") if schema.is_none() => Ok(None),
        None | Some("" | "text/plain") => Err(FormatError::invalid_value(
            "generationConfig.responseMimeType",
            "a response schema needs `application/json`",
        )),
        Some("application/json") => Ok(Some(match schema {
            None => OutputFormat::JsonObject,
            schema @ Some(_) => OutputFormat::JsonSchema {
                name: "response".to_owned(),
                schema,
            },
        })),
        Some(other) => Err(FormatError::unsupported(
            "generationConfig.responseMimeType",
            upstream,
            format!(
                "`{other}` output only Gemini produces; use `application/json` or `text/plain`"
            ),
        )),
    }
}

/// A budget is kept as one; `-1` (the model decides) and a bare
/// `includeThoughts: true` ask for thinking at a middle effort; `0` turns it
/// off; a level maps to the effort of the same name.
fn read_thinking(config: ClientThinkingConfig) -> Option<Thinking> {
    if let Some(level) = config.thinking_level {
        return Some(Thinking::Effort(match level {
            ThinkingLevel::Minimal => ReasoningEffort::Minimal,
            ThinkingLevel::Low => ReasoningEffort::Low,
            ThinkingLevel::Medium | ThinkingLevel::ThinkingLevelUnspecified => {
                ReasoningEffort::Medium
            }
            ThinkingLevel::High => ReasoningEffort::High,
        }));
    }
    match config.thinking_budget {
        Some(0) => Some(Thinking::Disabled),
        Some(budget) if budget > 0 => {
            Some(Thinking::Budget(u32::try_from(budget).unwrap_or(u32::MAX)))
        }
        Some(_) => Some(Thinking::Effort(ReasoningEffort::Medium)),
        None if config.include_thoughts == Some(true) => {
            Some(Thinking::Effort(ReasoningEffort::Medium))
        }
        None => None,
    }
}

/// Gemini's OpenAPI-subset schema as JSON Schema: upper-case type names
/// lowered, and `nullable: true` folded into the type.
fn openapi_to_json_schema(schema: Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            let nullable = map.get("nullable").and_then(Value::as_bool) == Some(true);
            for (key, value) in map {
                let value = match (key.as_str(), value) {
                    ("nullable", _) => continue,
                    ("type", Value::String(t)) => {
                        let t = Value::String(t.to_ascii_lowercase());
                        if nullable {
                            Value::Array(vec![t, Value::String("null".to_owned())])
                        } else {
                            t
                        }
                    }
                    // Property names and enum values are data, not schemas.
                    ("enum" | "required" | "propertyOrdering", value) => value,
                    ("properties", Value::Object(props)) => Value::Object(
                        props
                            .into_iter()
                            .map(|(name, s)| (name, openapi_to_json_schema(s)))
                            .collect(),
                    ),
                    (_, value) => openapi_to_json_schema(value),
                };
                out.insert(key, value);
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            Value::Array(items.into_iter().map(openapi_to_json_schema).collect())
        }
        other => other,
    }
}

/// Function calls seen so far, to give each function response its call's id.
#[derive(Default)]
struct CallBook {
    /// Calls not yet answered, oldest first: (id, name).
    open: VecDeque<(String, String)>,
    /// Calls seen, for ids generated from position.
    seen: usize,
}

impl CallBook {
    fn call(&mut self, id: Option<String>, name: &str) -> String {
        self.seen += 1;
        let id = id
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| format!("call_{}_{}", name, self.seen));
        self.open.push_back((id.clone(), name.to_owned()));
        id
    }

    fn answer(&mut self, id: Option<&str>, name: &str) -> Option<String> {
        let pos = match id.filter(|id| !id.is_empty()) {
            Some(id) => self.open.iter().position(|(open, _)| open == id),
            None => self.open.iter().position(|(_, open)| open == name),
        };
        match pos {
            Some(pos) => self.open.remove(pos).map(|(id, _)| id),
            // An id the history does not show is still the client's to give.
            None => id.map(str::to_owned),
        }
    }
}

fn read_content(
    conv: &mut Conversation,
    calls: &mut CallBook,
    content: Content,
    path: &str,
    upstream: Format,
) -> Result<(), FormatError> {
    let speaker = match content.role.as_deref() {
        None | Some("" | "user" | "function" | "tool") => Speaker::User,
        Some("model") => Speaker::Assistant,
        Some(other) => {
            return Err(FormatError::invalid_value(
                format!("{path}.role"),
                format!("unknown role `{other}`: expected `user` or `model`"),
            ));
        }
    };
    let mut parts = Vec::with_capacity(content.parts.len());
    for (k, part) in content.parts.into_iter().enumerate() {
        let path = format!("{path}.parts[{k}]");
        read_part(&mut parts, calls, part, speaker, &path, upstream)?;
    }
    push(conv, speaker, parts);
    Ok(())
}

fn read_part(
    parts: &mut Vec<Part>,
    calls: &mut CallBook,
    part: GPart,
    speaker: Speaker,
    path: &str,
    upstream: Format,
) -> Result<(), FormatError> {
    if part.thought == Some(true) {
        match (part.text, part.thought_signature) {
            // An empty thought only carries a signature for the reasoning before it.
            (None, Some(signature)) => sign(parts, signature),
            (Some(text), Some(signature)) if text.is_empty() => sign(parts, signature),
            (text, signature) => parts.push(Part::Thinking {
                text: text.unwrap_or_default(),
                signature,
            }),
        }
        return Ok(());
    }
    if let Some(signature) = part.thought_signature.filter(|s| s != SKIP_SIGNATURE) {
        sign(parts, signature);
    }
    if let Some(call) = part.function_call {
        if speaker == Speaker::User {
            return Err(FormatError::invalid_value(
                format!("{path}.functionCall"),
                "function calls belong in `model` contents",
            ));
        }
        parts.push(Part::ToolCall(read_call(calls, call, path)?));
    } else if let Some(response) = part.function_response {
        if speaker == Speaker::Assistant {
            return Err(FormatError::invalid_value(
                format!("{path}.functionResponse"),
                "function responses belong in `user` contents",
            ));
        }
        parts.push(Part::ToolResult(read_response(calls, response, path)?));
    } else if let Some(blob) = part.inline_data {
        parts.push(Part::Image(read_blob(blob, path, upstream)?));
    } else if let Some(file) = part.file_data {
        if let Some(mime) = &file.mime_type {
            media_kind(mime, &format!("{path}.fileData"), upstream)?;
        }
        parts.push(Part::Image(Image {
            source: ImageSource::Url(file.file_uri),
            path: format!("{path}.fileData"),
        }));
    } else if let Some(text) = part.text {
        parts.push(Part::Text(text));
    }
    // Other parts (executable code and its results, video metadata) are
    // Gemini's own records of hosted tools, which were refused above.
    Ok(())
}

/// A model's function call, its arguments an object, its id assigned when
/// Gemini gave none.
fn read_call(
    calls: &mut CallBook,
    call: crate::gemini::FunctionCall,
    path: &str,
) -> Result<ToolCall, FormatError> {
    let arguments = match call.args {
        v @ Value::Object(_) => v,
        Value::Null => Value::Object(Map::new()),
        _ => {
            return Err(FormatError::invalid_value(
                format!("{path}.functionCall.args"),
                "must be a JSON object",
            ));
        }
    };
    let id = calls.call(call.id, &call.name);
    Ok(ToolCall {
        id,
        name: call.name,
        arguments,
    })
}

/// Inline media: an image or document the upstream can take, valid base64.
fn read_blob(
    blob: crate::gemini::Blob,
    path: &str,
    upstream: Format,
) -> Result<Image, FormatError> {
    let data_path = format!("{path}.inlineData.data");
    media_kind(&blob.mime_type, &format!("{path}.inlineData"), upstream)?;
    media::check_base64(&blob.data, &data_path)?;
    Ok(Image {
        source: ImageSource::Base64 {
            media_type: blob.mime_type,
            data: blob.data,
        },
        path: format!("{path}.inlineData"),
    })
}

/// A signature on a call or text signs the reasoning just before it; with no
/// unsigned reasoning there, it rides on an empty one (how the reply writers
/// return a Gemini signature to other clients).
fn sign(parts: &mut Vec<Part>, signature: String) {
    match parts.last_mut() {
        Some(Part::Thinking {
            signature: s @ None,
            ..
        }) => *s = Some(signature),
        // The same signature repeated on each call of a turn signs one reasoning.
        Some(Part::Thinking {
            signature: Some(s), ..
        }) if *s == signature => {}
        _ => parts.push(Part::Thinking {
            text: String::new(),
            signature: Some(signature),
        }),
    }
}

/// Only images can go to other upstreams as inline data or a file.
fn media_kind(mime: &str, path: &str, upstream: Format) -> Result<(), FormatError> {
    if mime.starts_with("image/") {
        return Ok(());
    }
    Err(FormatError::unsupported(
        path,
        upstream,
        format!("`{mime}` data cannot be translated for this upstream; only images can"),
    ))
}

/// A function response: its call's id, and the result as text (a lone
/// `output`/`result`/`content` string as it is, `error` marking a failure,
/// anything else as its JSON).
fn read_response(
    calls: &mut CallBook,
    response: FunctionResponse,
    path: &str,
) -> Result<ToolResult, FormatError> {
    let Some(call_id) = calls.answer(response.id.as_deref(), &response.name) else {
        return Err(FormatError::invalid_value(
            format!("{path}.functionResponse"),
            format!(
                "no earlier call of `{}` is left to answer, and the response has no id",
                response.name
            ),
        ));
    };
    let (text, is_error) = match &response.response {
        Value::Object(map) if map.len() == 1 => match map.iter().next() {
            Some((key, Value::String(s))) if key == "error" => (s.clone(), true),
            Some((key, Value::String(s)))
                if matches!(key.as_str(), "output" | "result" | "content") =>
            {
                (s.clone(), false)
            }
            _ => (response.response.to_string(), false),
        },
        Value::String(s) => (s.clone(), false),
        other => (other.to_string(), false),
    };
    Ok(ToolResult {
        call_id,
        content: vec![Part::Text(text)],
        is_error,
        path: format!("{path}.functionResponse"),
    })
}
