//! Neutral [`Conversation`] → OpenAI Chat request.

use aigw_domain::Format;
use serde_json::json;

use super::common::effort_for_budget;
use super::media;
use crate::FormatError;
use crate::context::UpstreamTarget;
use crate::ir::{self, Conversation, OutputFormat, Part, Speaker, Thinking, ToolChoice};
use crate::json::TextOr;
use crate::openai::{
    ChatMessage, ChatRequest, ContentPart, FunctionCall, FunctionDef, ImageUrl, JsonSchemaFormat,
    NamedFunction, NamedToolChoice, ReasoningEffort, ResponseFormat, Role, StreamOptions, Tool,
    ToolCall, ToolChoiceMode, ToolType,
};

pub(crate) fn write(
    conv: Conversation,
    target: &UpstreamTarget<'_>,
) -> Result<ChatRequest, FormatError> {
    let messages = messages(conv.system, conv.turns)?;
    let reasoning_effort = reasoning_effort(conv.thinking);
    // Reasoning models refuse `max_tokens`; older compatible servers know only it.
    let (max_tokens, max_completion_tokens) = if reasoning_effort.is_some() {
        (None, conv.max_tokens)
    } else {
        (conv.max_tokens, None)
    };
    let tool_choice = conv.tool_choice.map(tool_choice);
    let has_tools = !conv.tools.is_empty();
    let tools = has_tools.then(|| {
        conv.tools
            .into_iter()
            .map(|t| Tool {
                kind: ToolType::Function,
                function: FunctionDef {
                    name: t.name,
                    description: t.description,
                    parameters: t.parameters,
                    strict: None,
                },
            })
            .collect()
    });
    Ok(ChatRequest {
        model: target.model.to_owned(),
        messages,
        stream: target.stream.then_some(true),
        // Usage is needed from every stream (stats, Anthropic's message_delta).
        stream_options: target.stream.then_some(StreamOptions {
            include_usage: Some(true),
        }),
        max_tokens,
        max_completion_tokens,
        temperature: conv.temperature,
        top_p: conv.top_p,
        stop: (!conv.stop.is_empty()).then_some(TextOr::Items(conv.stop)),
        n: None,
        presence_penalty: conv.presence_penalty,
        frequency_penalty: conv.frequency_penalty,
        seed: conv.seed,
        tools,
        tool_choice,
        parallel_tool_calls: conv.parallel_tool_calls.filter(|_| has_tools),
        response_format: conv.output.map(response_format),
        reasoning_effort,
        user: conv.user,
    })
}

/// The OpenAI reasoning effort for the requested thinking (Chat and
/// Responses alike); none when thinking is off.
pub(super) fn reasoning_effort(thinking: Option<Thinking>) -> Option<ReasoningEffort> {
    match thinking {
        Some(Thinking::Effort(e)) => Some(e),
        Some(Thinking::Budget(b)) => Some(effort_for_budget(b)),
        // OpenAI's own default effort when the client left it to the model.
        Some(Thinking::Adaptive(e)) => Some(e.unwrap_or(ReasoningEffort::Medium)),
        Some(Thinking::Disabled) | None => None,
    }
    .filter(|e| *e != ReasoningEffort::None)
}

/// The system prompt as one message, then the turns.
fn messages(system: Vec<String>, turns: Vec<ir::Turn>) -> Result<Vec<ChatMessage>, FormatError> {
    let mut messages = Vec::with_capacity(turns.len() + 1);
    let system: Vec<String> = system.into_iter().filter(|s| !s.is_empty()).collect();
    if !system.is_empty() {
        // One string system message: every block kept, and accepted by every
        // OpenAI-compatible server (some reject array content or several system messages).
        messages.push(message(
            Role::System,
            Some(TextOr::Text(system.join("\n\n"))),
        ));
    }
    for turn in turns {
        match turn.speaker {
            Speaker::User => write_user(&mut messages, turn.parts)?,
            Speaker::Assistant => write_assistant(&mut messages, turn.parts),
        }
    }
    Ok(messages)
}

fn tool_choice(choice: ToolChoice) -> crate::openai::ToolChoice {
    match choice {
        ToolChoice::Auto => crate::openai::ToolChoice::Mode(ToolChoiceMode::Auto),
        ToolChoice::Required => crate::openai::ToolChoice::Mode(ToolChoiceMode::Required),
        ToolChoice::None => crate::openai::ToolChoice::Mode(ToolChoiceMode::None),
        ToolChoice::Named(name) => crate::openai::ToolChoice::Named(NamedToolChoice {
            kind: ToolType::Function,
            function: NamedFunction { name },
        }),
    }
}

fn response_format(output: OutputFormat) -> ResponseFormat {
    match output {
        OutputFormat::JsonObject => ResponseFormat::JsonObject,
        OutputFormat::JsonSchema { name, schema } => ResponseFormat::JsonSchema {
            json_schema: JsonSchemaFormat {
                name,
                description: None,
                schema,
                strict: None,
            },
        },
    }
}

fn message(role: Role, content: Option<TextOr<ContentPart>>) -> ChatMessage {
    ChatMessage {
        role,
        content,
        name: None,
        tool_calls: None,
        tool_call_id: None,
        refusal: None,
        reasoning_content: None,
    }
}

/// A user turn: each tool result becomes a `tool` message (they must directly
/// follow the assistant's tool calls), then the rest as one user message. Images
/// inside tool results cannot go in a `tool` message, so they join that user message.
fn write_user(messages: &mut Vec<ChatMessage>, parts: Vec<Part>) -> Result<(), FormatError> {
    let mut user: Vec<ContentPart> = Vec::new();
    for part in parts {
        match part {
            Part::Text(text) => user.push(ContentPart::Text { text }),
            Part::Image(image) => user.push(image_part(image.source)),
            Part::Document(document) => user.push(file_part(document)?),
            Part::ToolResult(result) => {
                let mut texts = Vec::new();
                for p in result.content {
                    match p {
                        Part::Text(t) => texts.push(t),
                        Part::Image(image) => user.push(image_part(image.source)),
                        Part::Document(document) => user.push(file_part(document)?),
                        _ => {}
                    }
                }
                let mut text = texts.join("\n");
                if result.is_error && !text.starts_with("Error") {
                    // OpenAI has no error flag on tool messages; say it in the text.
                    text = format!("Error: {text}");
                }
                messages.push(ChatMessage {
                    tool_call_id: Some(result.call_id),
                    ..message(Role::Tool, Some(TextOr::Text(text)))
                });
            }
            // Reasoning is the assistant's; it never appears in user turns.
            Part::ToolCall(_) | Part::Thinking { .. } | Part::RedactedThinking(_) => {}
        }
    }
    if user.is_empty() {
        return Ok(());
    }
    let content = match user.as_slice() {
        [ContentPart::Text { text }] => TextOr::Text(text.clone()),
        _ => TextOr::Items(user),
    };
    messages.push(message(Role::User, Some(content)));
    Ok(())
}

/// A PDF as a `file` part with a `data:` URL; Chat Completions takes files
/// only inline.
fn file_part(document: ir::Document) -> Result<ContentPart, FormatError> {
    let filename = document.filename();
    match document.source {
        ir::DocumentSource::Base64 { media_type, data } => Ok(ContentPart::File {
            file: json!({
                "filename": filename,
                "file_data": media::data_url(&media_type, &data),
            }),
        }),
        ir::DocumentSource::Url(_) => Err(FormatError::unsupported(
            document.path,
            Format::OpenAiChat,
            "document blocks with a url source cannot be sent to this upstream; \
             send the document as base64 data",
        )),
    }
}

/// An assistant turn: text joined, tool calls with their arguments re-encoded;
/// reasoning is dropped (OpenAI-compatible servers do not take it back).
fn write_assistant(messages: &mut Vec<ChatMessage>, parts: Vec<Part>) {
    let mut text = String::new();
    let mut calls = Vec::new();
    for part in parts {
        match part {
            Part::Text(t) => text.push_str(&t),
            Part::ToolCall(call) => calls.push(ToolCall {
                id: call.id,
                kind: ToolType::Function,
                function: FunctionCall {
                    name: call.name,
                    arguments: call.arguments.to_string(),
                },
            }),
            Part::Image(_)
            | Part::Document(_)
            | Part::ToolResult(_)
            | Part::Thinking { .. }
            | Part::RedactedThinking(_) => {}
        }
    }
    if text.is_empty() && calls.is_empty() {
        return;
    }
    messages.push(ChatMessage {
        tool_calls: (!calls.is_empty()).then_some(calls),
        ..message(
            Role::Assistant,
            (!text.is_empty()).then_some(TextOr::Text(text)),
        )
    });
}

fn image_part(source: ir::ImageSource) -> ContentPart {
    let url = match source {
        ir::ImageSource::Base64 { media_type, data } => media::data_url(&media_type, &data),
        ir::ImageSource::Url(url) => url,
    };
    ContentPart::ImageUrl {
        image_url: ImageUrl { url, detail: None },
    }
}
