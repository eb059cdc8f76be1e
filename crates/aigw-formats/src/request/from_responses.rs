//! OpenAI Responses request → neutral [`Conversation`].
//!
//! `instructions` and system/developer messages become the system prompt;
//! `message`, `function_call`, `function_call_output` and `reasoning` items
//! become turns (a reasoning item's `encrypted_content` travels as the
//! reasoning signature). What only an OpenAI Responses upstream can do (hosted
//! tools, stored items, `previous_response_id`) is refused, naming the field.

use aigw_domain::Format;

use super::from_openai::{parse_arguments, push};
use super::media;
use crate::ir::{
    Conversation, OutputFormat, Part, Speaker, Thinking, ToolCall, ToolChoice, ToolDef, ToolResult,
};
use crate::json::TextOr;
use crate::responses::{
    self, ContentPart, InputItem, ResponsesRequest, Role, SummaryPart, TextFormat, ToolChoiceMode,
};
use crate::{FormatError, namespaces};

/// Read a Responses request for a non-Responses `upstream` (named in errors).
pub(crate) fn read(req: ResponsesRequest, upstream: Format) -> Result<Conversation, FormatError> {
    if req.previous_response_id.is_some() {
        return Err(FormatError::unsupported(
            "previous_response_id",
            upstream,
            "a stored response can be continued only on the OpenAI Responses upstream that \
             created it; send the whole conversation in `input` instead",
        ));
    }
    let mut conv = Conversation {
        max_tokens: req.max_output_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        parallel_tool_calls: req.parallel_tool_calls,
        user: req.user,
        thinking: req.reasoning.and_then(|r| r.effort).map(Thinking::Effort),
        ..Conversation::default()
    };
    if let Some(instructions) = req.instructions.filter(|s| !s.is_empty()) {
        conv.system.push(instructions);
    }
    for (i, tool) in req.tools.unwrap_or_default().into_iter().enumerate() {
        read_tool(
            &mut conv.tools,
            tool,
            None,
            &format!("tools[{i}]"),
            upstream,
        )?;
    }
    conv.tool_choice = req
        .tool_choice
        .map(|c| read_tool_choice(c, upstream))
        .transpose()?;
    conv.output = match req.text.and_then(|t| t.format) {
        None | Some(TextFormat::Text) => None,
        Some(TextFormat::JsonObject) => Some(OutputFormat::JsonObject),
        Some(TextFormat::JsonSchema { name, schema, .. }) => {
            Some(OutputFormat::JsonSchema { name, schema })
        }
    };
    match req.input {
        None => {}
        Some(TextOr::Text(text)) => push(&mut conv, Speaker::User, vec![Part::Text(text)]),
        Some(TextOr::Items(items)) => {
            for (i, item) in items.into_iter().enumerate() {
                read_item(&mut conv, item, &format!("input[{i}]"), upstream)?;
            }
        }
    }
    Ok(conv)
}

/// A tool definition; a `namespace` tool's functions are declared under
/// their qualified names (see [`crate::namespaces`]).
fn read_tool(
    tools: &mut Vec<ToolDef>,
    tool: responses::Tool,
    namespace: Option<&str>,
    path: &str,
    upstream: Format,
) -> Result<(), FormatError> {
    match (tool.kind.as_str(), namespace) {
        ("function", _) => {
            let name = required(tool.name, &format!("{path}.name"))?;
            let name = match namespace {
                Some(ns) => {
                    let qualified = namespaces::qualify(ns, &name);
                    if qualified.len() > namespaces::MAX_NAME {
                        return Err(FormatError::unsupported(
                            format!("{path}.name"),
                            upstream,
                            format!(
                                "`{qualified}` (the namespace and the function name) is longer \
                                 than the {} characters a function name may have there",
                                namespaces::MAX_NAME
                            ),
                        ));
                    }
                    qualified
                }
                None => name,
            };
            tools.push(ToolDef {
                name,
                description: tool.description,
                parameters: tool.parameters,
            });
            Ok(())
        }
        ("namespace", None) => {
            let ns = required(tool.name, &format!("{path}.name"))?;
            let inner = required(tool.tools, &format!("{path}.tools"))?;
            for (j, t) in inner.into_iter().enumerate() {
                read_tool(tools, t, Some(&ns), &format!("{path}.tools[{j}]"), upstream)?;
            }
            Ok(())
        }
        (kind, _) => {
            // Codex CLI sends its (cached) web search unless told not to.
            let hint = if kind.starts_with("web_search") {
                " (Codex CLI: `web_search = \"disabled\"` in config.toml)"
            } else {
                ""
            };
            Err(FormatError::unsupported(
                format!("{path}.type"),
                upstream,
                format!(
                    "`{kind}` tools run only on OpenAI Responses upstreams; declare a \
                     `function` tool{hint}"
                ),
            ))
        }
    }
}

fn read_tool_choice(
    choice: responses::ToolChoice,
    upstream: Format,
) -> Result<ToolChoice, FormatError> {
    Ok(match choice {
        responses::ToolChoice::Mode(ToolChoiceMode::Auto) => ToolChoice::Auto,
        responses::ToolChoice::Mode(ToolChoiceMode::Required) => ToolChoice::Required,
        responses::ToolChoice::Mode(ToolChoiceMode::None) => ToolChoice::None,
        responses::ToolChoice::Named { kind, name } if kind == "function" => {
            ToolChoice::Named(required(name, "tool_choice.name")?)
        }
        responses::ToolChoice::Named { kind, .. } => {
            return Err(FormatError::unsupported(
                "tool_choice.type",
                upstream,
                format!("a `{kind}` tool choice names a tool only OpenAI Responses upstreams run"),
            ));
        }
    })
}

/// A field the item's type requires, or an error naming its path.
fn required<T>(value: Option<T>, path: &str) -> Result<T, FormatError> {
    let field = path.rsplit('.').next().unwrap_or(path);
    value.ok_or_else(|| FormatError::InvalidField {
        path: path.to_owned(),
        message: format!("missing field `{field}`"),
    })
}

fn read_item(
    conv: &mut Conversation,
    item: InputItem,
    path: &str,
    upstream: Format,
) -> Result<(), FormatError> {
    match item.kind.as_deref().unwrap_or("message") {
        "message" => read_message(conv, item, path, upstream),
        "function_call" => {
            let arguments_path = format!("{path}.arguments");
            let name = required(item.name, &format!("{path}.name"))?;
            let call = ToolCall {
                id: required(item.call_id, &format!("{path}.call_id"))?,
                name: match item.namespace {
                    Some(ns) => namespaces::qualify(&ns, &name),
                    None => name,
                },
                arguments: parse_arguments(
                    item.arguments.as_deref().unwrap_or(""),
                    &arguments_path,
                )?,
            };
            push(conv, Speaker::Assistant, vec![Part::ToolCall(call)]);
            Ok(())
        }
        "function_call_output" => {
            let call_id = required(item.call_id, &format!("{path}.call_id"))?;
            let output_path = format!("{path}.output");
            let content = match required(item.output, &output_path)? {
                TextOr::Text(text) => vec![Part::Text(text)],
                TextOr::Items(parts) => user_parts(parts, &output_path, upstream)?,
            };
            let result = ToolResult {
                call_id,
                content,
                is_error: false,
                path: output_path,
            };
            push(conv, Speaker::User, vec![Part::ToolResult(result)]);
            Ok(())
        }
        "reasoning" => {
            read_reasoning(conv, item, path);
            Ok(())
        }
        other => Err(FormatError::unsupported(
            format!("{path}.type"),
            upstream,
            format!("`{other}` items exist only on OpenAI Responses upstreams"),
        )),
    }
}

fn read_message(
    conv: &mut Conversation,
    item: InputItem,
    path: &str,
    upstream: Format,
) -> Result<(), FormatError> {
    let role = required(item.role, &format!("{path}.role"))?;
    let content_path = format!("{path}.content");
    let parts = match item.content {
        None => Vec::new(),
        Some(TextOr::Text(text)) => vec![ContentPart::InputText { text }],
        Some(TextOr::Items(parts)) => parts,
    };
    match role {
        // System messages anywhere are hoisted, in order, as for OpenAI Chat.
        Role::System | Role::Developer => conv.system.extend(texts(parts, &content_path)?),
        Role::Assistant => {
            let parts = texts(parts, &content_path)?
                .into_iter()
                .map(Part::Text)
                .collect();
            push(conv, Speaker::Assistant, parts);
        }
        Role::User => {
            let parts = user_parts(parts, &content_path, upstream)?;
            push(conv, Speaker::User, parts);
        }
    }
    Ok(())
}

/// Text-only content (system, developer and assistant messages).
fn texts(parts: Vec<ContentPart>, path: &str) -> Result<Vec<String>, FormatError> {
    parts
        .into_iter()
        .enumerate()
        .map(|(k, part)| match part {
            ContentPart::InputText { text }
            | ContentPart::OutputText { text }
            | ContentPart::ReasoningText { text }
            | ContentPart::Refusal { refusal: text } => Ok(text),
            ContentPart::InputImage { .. } | ContentPart::InputFile { .. } => {
                Err(FormatError::invalid_value(
                    format!("{path}[{k}]"),
                    "only text parts are allowed in system, developer and assistant messages",
                ))
            }
        })
        .collect()
}

/// User and function output content: text and images.
fn user_parts(
    parts: Vec<ContentPart>,
    path: &str,
    upstream: Format,
) -> Result<Vec<Part>, FormatError> {
    parts
        .into_iter()
        .enumerate()
        .map(|(k, part)| {
            let part_path = format!("{path}[{k}]");
            match part {
                ContentPart::InputText { text }
                | ContentPart::OutputText { text }
                | ContentPart::ReasoningText { text }
                | ContentPart::Refusal { refusal: text } => Ok(Part::Text(text)),
                ContentPart::InputImage {
                    image_url: Some(url),
                    ..
                } => Ok(Part::Image(media::image_from_url(
                    &url,
                    format!("{part_path}.image_url"),
                )?)),
                ContentPart::InputImage { image_url: None, .. } => Err(FormatError::unsupported(
                    part_path,
                    upstream,
                    "uploaded files cannot be translated; send the image as a URL or data URL in `image_url`",
                )),
                ContentPart::InputFile { .. } => Err(FormatError::unsupported(
                    part_path,
                    upstream,
                    "file parts cannot be translated",
                )),
            }
        })
        .collect()
}

/// A reasoning item: its summary (or raw text) as the reasoning, its
/// `encrypted_content` as the signature that must come back with it.
fn read_reasoning(conv: &mut Conversation, item: InputItem, path: &str) {
    let summary: Vec<String> = item
        .summary
        .unwrap_or_default()
        .into_iter()
        .map(|SummaryPart::SummaryText { text }| text)
        .collect();
    let text = if summary.is_empty() {
        match item.content {
            Some(TextOr::Items(parts)) => texts(parts, path).unwrap_or_default().join(""),
            Some(TextOr::Text(text)) => text,
            None => String::new(),
        }
    } else {
        summary.join("\n\n")
    };
    let signature = item.encrypted_content.filter(|s| !s.is_empty());
    if text.is_empty() && signature.is_none() {
        return;
    }
    push(
        conv,
        Speaker::Assistant,
        vec![Part::Thinking { text, signature }],
    );
}
