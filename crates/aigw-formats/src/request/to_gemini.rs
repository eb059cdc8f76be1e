//! Neutral [`Conversation`] → Gemini `generateContent` request (also the body
//! wrapped by the Antigravity envelope).

use std::collections::HashMap;

use aigw_domain::Format;
use serde_json::json;

use super::common::effort_budget;
use crate::FormatError;
use crate::gemini::{
    Blob, Content, FileData, FunctionCall, FunctionCallingConfig, FunctionCallingMode,
    FunctionDeclaration, FunctionResponse, GenerateContentRequest, GenerationConfig, Part,
    ThinkingConfig, Tool, ToolConfig,
};
use crate::ir::{self, Conversation, OutputFormat, Speaker, Thinking, ToolChoice};

/// What Gemini accepts on a `functionCall` part whose reasoning signature is
/// unknown (history written by another model or an OpenAI client).
pub(crate) const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

/// The `thinkingBudget` that lets the model decide how much to think.
const DYNAMIC_THINKING_BUDGET: i64 = -1;

/// `upstream` is Gemini or Antigravity (named in errors; Antigravity also gets
/// the `VALIDATED` function calling mode it expects).
pub(crate) fn write(
    conv: Conversation,
    upstream: Format,
) -> Result<GenerateContentRequest, FormatError> {
    let contents = contents(conv.turns, upstream)?;
    let system: Vec<Part> = conv
        .system
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(text_part)
        .collect();
    let has_tools = !conv.tools.is_empty();
    let tool_config = tool_config(conv.tool_choice, has_tools, upstream);
    let tools = has_tools.then(|| {
        vec![Tool {
            function_declarations: Some(
                conv.tools
                    .into_iter()
                    .map(|t| FunctionDeclaration {
                        name: t.name,
                        description: t.description,
                        parameters: None,
                        // Full JSON Schema, so client schemas need no rewriting
                        // into Gemini's OpenAPI subset.
                        parameters_json_schema: t.parameters,
                    })
                    .collect(),
            ),
        }]
    });
    let (response_mime_type, response_json_schema) = match conv.output {
        None => (None, None),
        Some(OutputFormat::JsonObject) => (Some("application/json".to_owned()), None),
        Some(OutputFormat::JsonSchema { schema, .. }) => {
            (Some("application/json".to_owned()), schema)
        }
    };
    let generation = GenerationConfig {
        temperature: conv.temperature,
        top_p: conv.top_p,
        top_k: conv.top_k,
        max_output_tokens: conv.max_tokens,
        stop_sequences: (!conv.stop.is_empty()).then_some(conv.stop),
        candidate_count: None,
        presence_penalty: conv.presence_penalty,
        frequency_penalty: conv.frequency_penalty,
        seed: conv.seed,
        response_mime_type,
        response_json_schema,
        thinking_config: thinking_config(conv.thinking),
    };
    let generation_config = (generation != GenerationConfig::default()).then_some(generation);
    Ok(GenerateContentRequest {
        contents,
        system_instruction: (!system.is_empty()).then_some(Content {
            role: None,
            parts: system,
        }),
        tools,
        tool_config,
        generation_config,
        safety_settings: None,
        session_id: None,
    })
}

/// The turns as Gemini contents, consecutive turns of one role merged.
fn contents(turns: Vec<ir::Turn>, upstream: Format) -> Result<Vec<Content>, FormatError> {
    // Gemini's functionResponse needs the function's name; take it from the
    // matching call in the history instead of guessing it from the id.
    let names: HashMap<String, String> = turns
        .iter()
        .flat_map(|t| &t.parts)
        .filter_map(|p| match p {
            ir::Part::ToolCall(call) => Some((call.id.clone(), call.name.clone())),
            _ => None,
        })
        .collect();
    let mut contents: Vec<Content> = Vec::with_capacity(turns.len());
    for turn in turns {
        let parts = match turn.speaker {
            Speaker::User => user_parts(turn.parts, &names, upstream)?,
            Speaker::Assistant => model_parts(turn.parts),
        };
        if parts.is_empty() {
            continue;
        }
        let role = match turn.speaker {
            Speaker::User => "user",
            Speaker::Assistant => "model",
        };
        match contents.last_mut() {
            Some(last) if last.role.as_deref() == Some(role) => last.parts.extend(parts),
            _ => contents.push(Content {
                role: Some(role.to_owned()),
                parts,
            }),
        }
    }
    Ok(contents)
}

/// The function calling mode for the tool choice (Antigravity expects
/// `VALIDATED` where the model chooses).
fn tool_config(
    choice: Option<ToolChoice>,
    has_tools: bool,
    upstream: Format,
) -> Option<ToolConfig> {
    let (mode, allowed) = match choice {
        Some(ToolChoice::Auto) | None if has_tools && upstream == Format::Antigravity => {
            (Some(FunctionCallingMode::Validated), None)
        }
        Some(ToolChoice::Auto) => (Some(FunctionCallingMode::Auto), None),
        Some(ToolChoice::Required) => (Some(FunctionCallingMode::Any), None),
        Some(ToolChoice::None) => (Some(FunctionCallingMode::None), None),
        Some(ToolChoice::Named(name)) => (Some(FunctionCallingMode::Any), Some(vec![name])),
        None => (None, None),
    };
    mode.map(|mode| ToolConfig {
        function_calling_config: Some(FunctionCallingConfig {
            mode: Some(mode),
            allowed_function_names: allowed,
        }),
    })
}

fn thinking_config(thinking: Option<Thinking>) -> Option<ThinkingConfig> {
    match thinking {
        Some(Thinking::Budget(b)) => Some(i64::from(b)),
        Some(Thinking::Effort(e)) => effort_budget(e).map(i64::from),
        Some(Thinking::Adaptive(Some(e))) => effort_budget(e).map(i64::from),
        // The model decides: Gemini's dynamic budget.
        Some(Thinking::Adaptive(None)) => Some(DYNAMIC_THINKING_BUDGET),
        Some(Thinking::Disabled) | None => None,
    }
    .map(|budget| ThinkingConfig {
        thinking_budget: Some(budget),
        include_thoughts: Some(true),
    })
}

fn text_part(text: String) -> Part {
    Part {
        text: Some(text),
        ..Part::default()
    }
}

fn user_parts(
    parts: Vec<ir::Part>,
    names: &HashMap<String, String>,
    upstream: Format,
) -> Result<Vec<Part>, FormatError> {
    let mut out = Vec::with_capacity(parts.len());
    // Images and documents returned by tools follow the function responses as plain parts.
    let mut trailing = Vec::new();
    for part in parts {
        match part {
            ir::Part::Text(text) if text.is_empty() => {}
            ir::Part::Text(text) => out.push(text_part(text)),
            ir::Part::Image(image) => out.push(image_part(image, upstream)?),
            ir::Part::Document(document) => out.push(document_part(document, upstream)?),
            ir::Part::ToolResult(result) => {
                let Some(name) = names.get(&result.call_id) else {
                    return Err(FormatError::invalid_value(
                        result.path,
                        format!(
                            "tool result for `{}` has no matching tool call earlier in the conversation",
                            result.call_id
                        ),
                    ));
                };
                let mut texts = Vec::new();
                for p in result.content {
                    match p {
                        ir::Part::Text(t) => texts.push(t),
                        ir::Part::Image(image) => trailing.push(image_part(image, upstream)?),
                        ir::Part::Document(document) => {
                            trailing.push(document_part(document, upstream)?);
                        }
                        _ => {}
                    }
                }
                let key = if result.is_error { "error" } else { "result" };
                out.push(Part {
                    function_response: Some(FunctionResponse {
                        id: Some(result.call_id),
                        name: name.clone(),
                        response: json!({ key: texts.join("\n") }),
                    }),
                    ..Part::default()
                });
            }
            ir::Part::ToolCall(_) | ir::Part::Thinking { .. } | ir::Part::RedactedThinking(_) => {}
        }
    }
    out.append(&mut trailing);
    Ok(out)
}

/// A model turn. Reasoning signatures travel as Gemini expects: on the thought
/// part they came with, and on each following function call (the latest one seen
/// in the turn, or the documented "skip" value when there is none).
fn model_parts(parts: Vec<ir::Part>) -> Vec<Part> {
    let mut out = Vec::with_capacity(parts.len());
    let mut signature: Option<String> = None;
    for part in parts {
        match part {
            ir::Part::Text(text) if text.is_empty() => {}
            ir::Part::Text(text) => out.push(text_part(text)),
            ir::Part::Thinking {
                text,
                signature: sig,
            } => {
                if sig.is_some() {
                    signature.clone_from(&sig);
                }
                // An empty thought only carried a signature; the call below takes it.
                if !text.is_empty() {
                    out.push(Part {
                        text: Some(text),
                        thought: Some(true),
                        thought_signature: sig,
                        ..Part::default()
                    });
                }
            }
            ir::Part::ToolCall(call) => out.push(Part {
                function_call: Some(FunctionCall {
                    id: Some(call.id),
                    name: call.name,
                    args: call.arguments,
                }),
                thought_signature: Some(
                    signature
                        .clone()
                        .unwrap_or_else(|| SKIP_SIGNATURE.to_owned()),
                ),
                ..Part::default()
            }),
            // Images in model turns and redacted reasoning have no Gemini form.
            ir::Part::Image(_)
            | ir::Part::Document(_)
            | ir::Part::ToolResult(_)
            | ir::Part::RedactedThinking(_) => {}
        }
    }
    out
}

fn image_part(image: ir::Image, upstream: Format) -> Result<Part, FormatError> {
    match image.source {
        ir::ImageSource::Base64 { media_type, data } => Ok(Part {
            inline_data: Some(Blob {
                mime_type: media_type,
                data,
            }),
            ..Part::default()
        }),
        ir::ImageSource::Url(url) => file_part(url, None, &image.path, "image", upstream),
    }
}

fn document_part(document: ir::Document, upstream: Format) -> Result<Part, FormatError> {
    match document.source {
        ir::DocumentSource::Base64 { media_type, data } => Ok(Part {
            inline_data: Some(Blob {
                mime_type: media_type,
                data,
            }),
            ..Part::default()
        }),
        ir::DocumentSource::Url(url) => file_part(
            url,
            Some("application/pdf"),
            &document.path,
            "document",
            upstream,
        ),
    }
}

/// A `fileData` part for a URL. Gemini fetches public URLs itself; the
/// Antigravity backend takes only inline data, so there the block is refused.
fn file_part(
    url: String,
    mime_type: Option<&str>,
    path: &str,
    block: &str,
    upstream: Format,
) -> Result<Part, FormatError> {
    if upstream == Format::Antigravity {
        return Err(FormatError::unsupported(
            path,
            upstream,
            format!(
                "{block} blocks with a url source cannot be sent to this upstream; \
                 send the {block} as base64 data"
            ),
        ));
    }
    let mime_type = mime_type
        .map(str::to_owned)
        .or_else(|| media_type_of_url(&url).map(str::to_owned));
    Ok(Part {
        file_data: Some(FileData {
            mime_type,
            file_uri: url,
        }),
        ..Part::default()
    })
}

/// The media type a URL's file extension names, for the common image and document types.
fn media_type_of_url(url: &str) -> Option<&'static str> {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        _ => return None,
    })
}
