//! OpenAI Chat request → neutral [`Conversation`].

use aigw_domain::Format;
use serde_json::Value;

use super::media;
use crate::FormatError;
use crate::ir::{
    Conversation, OutputFormat, Part, Speaker, Thinking, ToolCall, ToolChoice, ToolDef, ToolResult,
    Turn,
};
use crate::json::TextOr;
use crate::openai::{
    ChatMessage, ChatRequest, ContentPart, MessageContent, ResponseFormat, Role, ToolChoiceMode,
};

/// Read an OpenAI request for a non-OpenAI `upstream` (named in errors).
pub(crate) fn read(req: ChatRequest, upstream: Format) -> Result<Conversation, FormatError> {
    if req.n.is_some_and(|n| n > 1) {
        return Err(FormatError::Unsupported {
            path: "n".into(),
            upstream,
            reason: "only one choice can be generated; send n = 1".into(),
        });
    }
    let mut conv = Conversation {
        max_tokens: req.max_completion_tokens.or(req.max_tokens),
        temperature: req.temperature,
        top_p: req.top_p,
        stop: match req.stop {
            None => Vec::new(),
            Some(TextOr::Text(s)) => vec![s],
            Some(TextOr::Items(v)) => v,
        },
        parallel_tool_calls: req.parallel_tool_calls,
        user: req.user,
        seed: req.seed,
        presence_penalty: req.presence_penalty,
        frequency_penalty: req.frequency_penalty,
        thinking: req.reasoning_effort.map(Thinking::Effort),
        ..Conversation::default()
    };
    conv.tools = req
        .tools
        .unwrap_or_default()
        .into_iter()
        .map(|t| ToolDef {
            name: t.function.name,
            description: t.function.description,
            parameters: t.function.parameters,
        })
        .collect();
    conv.tool_choice = req.tool_choice.map(|c| match c {
        crate::openai::ToolChoice::Mode(ToolChoiceMode::Auto) => ToolChoice::Auto,
        crate::openai::ToolChoice::Mode(ToolChoiceMode::Required) => ToolChoice::Required,
        crate::openai::ToolChoice::Mode(ToolChoiceMode::None) => ToolChoice::None,
        crate::openai::ToolChoice::Named(n) => ToolChoice::Named(n.function.name),
    });
    conv.output = match req.response_format {
        None | Some(ResponseFormat::Text) => None,
        Some(ResponseFormat::JsonObject) => Some(OutputFormat::JsonObject),
        Some(ResponseFormat::JsonSchema { json_schema }) => Some(OutputFormat::JsonSchema {
            name: json_schema.name,
            schema: json_schema.schema,
        }),
    };
    for (i, msg) in req.messages.into_iter().enumerate() {
        read_message(&mut conv, msg, &format!("messages[{i}]"), upstream)?;
    }
    Ok(conv)
}

fn read_message(
    conv: &mut Conversation,
    msg: ChatMessage,
    path: &str,
    upstream: Format,
) -> Result<(), FormatError> {
    match msg.role {
        Role::System | Role::Developer => {
            // System messages anywhere are hoisted, in order: Anthropic and Gemini
            // take the system prompt only at the top.
            if let Some(content) = msg.content {
                conv.system
                    .extend(texts(content, &format!("{path}.content"))?);
            }
        }
        Role::User => {
            let parts = match msg.content {
                None => Vec::new(),
                Some(content) => user_parts(content, &format!("{path}.content"), upstream)?,
            };
            push(conv, Speaker::User, parts);
        }
        Role::Assistant => {
            let parts = assistant_parts(msg, path)?;
            push(conv, Speaker::Assistant, parts);
        }
        Role::Tool => {
            let result = tool_result(msg, path, upstream)?;
            push(conv, Speaker::User, vec![Part::ToolResult(result)]);
        }
        Role::Function => {
            return Err(FormatError::invalid_value(
                format!("{path}.role"),
                "legacy `function` messages are not supported; use `tool` messages",
            ));
        }
    }
    Ok(())
}

/// An assistant message's reasoning, text and tool calls, in that order.
fn assistant_parts(msg: ChatMessage, path: &str) -> Result<Vec<Part>, FormatError> {
    let mut parts = Vec::new();
    if let Some(reasoning) = msg.reasoning_content.filter(|r| !r.is_empty()) {
        parts.push(Part::Thinking {
            text: reasoning,
            signature: None,
        });
    }
    if let Some(content) = msg.content {
        parts.extend(
            texts(content, &format!("{path}.content"))?
                .into_iter()
                .map(Part::Text),
        );
    }
    for (j, call) in msg.tool_calls.unwrap_or_default().into_iter().enumerate() {
        let args_path = format!("{path}.tool_calls[{j}].function.arguments");
        parts.push(Part::ToolCall(ToolCall {
            id: call.id,
            name: call.function.name,
            arguments: parse_arguments(&call.function.arguments, &args_path)?,
        }));
    }
    Ok(parts)
}

/// A `tool` message as the result of the call it names.
fn tool_result(msg: ChatMessage, path: &str, upstream: Format) -> Result<ToolResult, FormatError> {
    let Some(call_id) = msg.tool_call_id else {
        return Err(FormatError::InvalidField {
            path: format!("{path}.tool_call_id"),
            message: "missing field `tool_call_id`".into(),
        });
    };
    let content_path = format!("{path}.content");
    let content = match msg.content {
        None => Vec::new(),
        Some(content) => user_parts(content, &content_path, upstream)?,
    };
    Ok(ToolResult {
        call_id,
        content,
        is_error: false,
        path: content_path,
    })
}

/// Append parts as a turn of `speaker`, merged into the previous turn when it has
/// the same speaker (tool messages then the next user message form one user turn,
/// with the tool results first, as Anthropic requires).
pub(super) fn push(conv: &mut Conversation, speaker: Speaker, parts: Vec<Part>) {
    match conv.turns.last_mut() {
        Some(last) if last.speaker == speaker => last.parts.extend(parts),
        _ => conv.turns.push(Turn { speaker, parts }),
    }
}

/// Text-only content (system, assistant): every text part, in order.
fn texts(content: MessageContent, path: &str) -> Result<Vec<String>, FormatError> {
    match content {
        TextOr::Text(s) => Ok(vec![s]),
        TextOr::Items(items) => items
            .into_iter()
            .enumerate()
            .map(|(k, part)| match part {
                ContentPart::Text { text } => Ok(text),
                ContentPart::Refusal { refusal } => Ok(refusal),
                ContentPart::ImageUrl { .. }
                | ContentPart::InputAudio { .. }
                | ContentPart::File { .. } => Err(FormatError::invalid_value(
                    format!("{path}[{k}]"),
                    "only text parts are allowed in system and assistant messages",
                )),
            })
            .collect(),
    }
}

/// User and tool content: text and images.
fn user_parts(
    content: MessageContent,
    path: &str,
    upstream: Format,
) -> Result<Vec<Part>, FormatError> {
    match content {
        TextOr::Text(s) => Ok(vec![Part::Text(s)]),
        TextOr::Items(items) => items
            .into_iter()
            .enumerate()
            .map(|(k, part)| {
                let part_path = format!("{path}[{k}]");
                match part {
                    ContentPart::Text { text } => Ok(Part::Text(text)),
                    ContentPart::Refusal { refusal } => Ok(Part::Text(refusal)),
                    ContentPart::ImageUrl { image_url } => Ok(Part::Image(media::image_from_url(
                        &image_url.url,
                        format!("{part_path}.image_url.url"),
                    )?)),
                    ContentPart::InputAudio { .. } => Err(FormatError::Unsupported {
                        path: part_path,
                        upstream,
                        reason: "audio input cannot be translated".into(),
                    }),
                    ContentPart::File { .. } => Err(FormatError::Unsupported {
                        path: part_path,
                        upstream,
                        reason: "file parts cannot be translated".into(),
                    }),
                }
            })
            .collect(),
    }
}

/// Tool call arguments as an object. Empty text means no arguments; anything
/// else that is not a JSON object is refused rather than silently replaced by
/// `{}`, which would drop the call's arguments.
pub(crate) fn parse_arguments(text: &str, path: &str) -> Result<Value, FormatError> {
    if text.trim().is_empty() {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(FormatError::invalid_value(
            path,
            "tool call arguments must be a JSON object",
        )),
        Err(e) => Err(FormatError::invalid_value(
            path,
            format!("tool call arguments are not valid JSON: {e}"),
        )),
    }
}
