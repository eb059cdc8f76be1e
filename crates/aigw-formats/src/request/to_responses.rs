//! Neutral [`Conversation`] → OpenAI Responses request (the OpenAI
//! `/v1/responses` and ChatGPT Codex upstreams).
//!
//! The system prompt becomes `instructions`; turns become input items in
//! order: `message`s, `function_call`s, `function_call_output`s, and
//! `reasoning` items for signed reasoning (the signature is the item's
//! `encrypted_content`; unsigned reasoning from another model cannot go
//! back). Requests are stateless: `store: false`, and encrypted reasoning is
//! asked for whenever reasoning is on, so that the next turn can carry it.

use serde_json::json;

use super::media;
use super::to_openai::reasoning_effort;
use crate::context::UpstreamTarget;
use crate::ir::{self, Conversation, OutputFormat, Part, Speaker, ToolChoice};
use crate::json::TextOr;
use crate::responses::{
    self, ContentPart, InputItem, Reasoning, ReasoningSummary, ResponsesRequest, Role, SummaryPart,
    TextConfig, TextFormat, Tool, ToolChoiceMode,
};

/// The `include` value that returns reasoning state with `store: false`.
pub(crate) const ENCRYPTED_REASONING: &str = "reasoning.encrypted_content";

pub(crate) fn write(conv: Conversation, target: &UpstreamTarget<'_>) -> ResponsesRequest {
    let system: Vec<String> = conv.system.into_iter().filter(|s| !s.is_empty()).collect();
    let mut input = Vec::with_capacity(conv.turns.len() * 2);
    for turn in conv.turns {
        match turn.speaker {
            Speaker::User => write_user(&mut input, turn.parts),
            Speaker::Assistant => write_assistant(&mut input, turn.parts),
        }
    }
    let effort = reasoning_effort(conv.thinking);
    let has_tools = !conv.tools.is_empty();
    ResponsesRequest {
        model: target.model.to_owned(),
        instructions: (!system.is_empty()).then(|| system.join("\n\n")),
        input: Some(TextOr::Items(input)),
        tools: has_tools.then(|| conv.tools.into_iter().map(tool).collect()),
        tool_choice: conv.tool_choice.map(tool_choice),
        parallel_tool_calls: conv.parallel_tool_calls.filter(|_| has_tools),
        max_output_tokens: conv.max_tokens,
        temperature: conv.temperature,
        top_p: conv.top_p,
        reasoning: effort.map(|e| Reasoning {
            effort: Some(e),
            // Summaries are the only reasoning text a Responses upstream shows.
            summary: Some(ReasoningSummary::Auto),
        }),
        text: conv.output.map(|o| TextConfig {
            format: Some(text_format(o)),
            verbosity: None,
        }),
        metadata: None,
        user: conv.user,
        prompt_cache_key: None,
        store: Some(false),
        include: effort.map(|_| vec![ENCRYPTED_REASONING.to_owned()]),
        stream: target.stream.then_some(true),
        previous_response_id: None,
    }
}

fn tool(t: ir::ToolDef) -> Tool {
    Tool {
        kind: "function".to_owned(),
        name: Some(t.name),
        description: t.description,
        // The Responses API requires a schema, and makes functions strict
        // unless told otherwise; client schemas are not written for strict
        // mode.
        parameters: Some(
            t.parameters
                .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
        ),
        strict: Some(false),
        tools: None,
    }
}

fn tool_choice(choice: ToolChoice) -> responses::ToolChoice {
    match choice {
        ToolChoice::Auto => responses::ToolChoice::Mode(ToolChoiceMode::Auto),
        ToolChoice::Required => responses::ToolChoice::Mode(ToolChoiceMode::Required),
        ToolChoice::None => responses::ToolChoice::Mode(ToolChoiceMode::None),
        ToolChoice::Named(name) => responses::ToolChoice::Named {
            kind: "function".to_owned(),
            name: Some(name),
        },
    }
}

fn text_format(output: OutputFormat) -> TextFormat {
    match output {
        OutputFormat::JsonObject => TextFormat::JsonObject,
        OutputFormat::JsonSchema { name, schema } => TextFormat::JsonSchema {
            name,
            schema,
            description: None,
            strict: None,
        },
    }
}

fn message(role: Role, content: Vec<ContentPart>) -> InputItem {
    InputItem {
        kind: Some("message".to_owned()),
        role: Some(role),
        content: Some(TextOr::Items(content)),
        ..InputItem::default()
    }
}

/// A user turn: each tool result becomes a `function_call_output` (they
/// answer the calls just before), then the rest as one user message. Images
/// inside tool results join that message.
fn write_user(input: &mut Vec<InputItem>, parts: Vec<Part>) {
    let mut user: Vec<ContentPart> = Vec::new();
    for part in parts {
        match part {
            Part::Text(text) => user.push(ContentPart::InputText { text }),
            Part::Image(image) => user.push(image_part(image.source)),
            Part::Document(document) => user.push(file_part(document)),
            Part::ToolResult(result) => {
                let mut texts = Vec::new();
                for p in result.content {
                    match p {
                        Part::Text(t) => texts.push(t),
                        Part::Image(image) => user.push(image_part(image.source)),
                        Part::Document(document) => user.push(file_part(document)),
                        _ => {}
                    }
                }
                let mut text = texts.join("\n");
                if result.is_error && !text.starts_with("Error") {
                    // Function outputs have no error flag; say it in the text.
                    text = format!("Error: {text}");
                }
                input.push(InputItem {
                    kind: Some("function_call_output".to_owned()),
                    call_id: Some(result.call_id),
                    output: Some(TextOr::Text(text)),
                    ..InputItem::default()
                });
            }
            Part::ToolCall(_) | Part::Thinking { .. } | Part::RedactedThinking(_) => {}
        }
    }
    if !user.is_empty() {
        input.push(message(Role::User, user));
    }
}

/// An assistant turn, in order: signed reasoning as `reasoning` items, text as
/// `message` items, tool calls as `function_call` items.
fn write_assistant(input: &mut Vec<InputItem>, parts: Vec<Part>) {
    let mut text = String::new();
    let flush = |input: &mut Vec<InputItem>, text: &mut String| {
        if !text.is_empty() {
            let content = vec![ContentPart::OutputText {
                text: std::mem::take(text),
            }];
            input.push(message(Role::Assistant, content));
        }
    };
    for part in parts {
        match part {
            Part::Text(t) => text.push_str(&t),
            Part::ToolCall(call) => {
                flush(input, &mut text);
                input.push(InputItem {
                    kind: Some("function_call".to_owned()),
                    call_id: Some(call.id),
                    name: Some(call.name),
                    arguments: Some(call.arguments.to_string()),
                    ..InputItem::default()
                });
            }
            Part::Thinking {
                text: thinking,
                signature: Some(signature),
            } => {
                flush(input, &mut text);
                let summary = if thinking.is_empty() {
                    Vec::new()
                } else {
                    vec![SummaryPart::SummaryText { text: thinking }]
                };
                input.push(InputItem {
                    kind: Some("reasoning".to_owned()),
                    summary: Some(summary),
                    encrypted_content: Some(signature),
                    ..InputItem::default()
                });
            }
            Part::Thinking {
                signature: None, ..
            }
            | Part::RedactedThinking(_)
            | Part::Image(_)
            | Part::Document(_)
            | Part::ToolResult(_) => {}
        }
    }
    flush(input, &mut text);
}

/// A PDF as an `input_file`: inline as a `data:` URL, or by `file_url`.
fn file_part(document: ir::Document) -> ContentPart {
    let mut file = std::collections::BTreeMap::new();
    let filename = document.filename();
    match document.source {
        ir::DocumentSource::Base64 { media_type, data } => {
            file.insert("filename".to_owned(), json!(filename));
            file.insert(
                "file_data".to_owned(),
                json!(media::data_url(&media_type, &data)),
            );
        }
        ir::DocumentSource::Url(url) => {
            file.insert("file_url".to_owned(), json!(url));
        }
    }
    ContentPart::InputFile { file }
}

fn image_part(source: ir::ImageSource) -> ContentPart {
    let url = match source {
        ir::ImageSource::Base64 { media_type, data } => media::data_url(&media_type, &data),
        ir::ImageSource::Url(url) => url,
    };
    ContentPart::InputImage {
        image_url: Some(url),
        file_id: None,
        detail: None,
    }
}
