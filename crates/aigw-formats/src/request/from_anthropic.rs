//! Anthropic Messages request → neutral [`Conversation`].

use aigw_domain::Format;

use super::media;
use crate::FormatError;
use crate::anthropic::{
    self, ContentBlock, DocumentSource, Effort, ImageSource, MessagesRequest, SystemBlock,
    ThinkingConfig,
};
use crate::ir::{
    self, Conversation, Document, Image, Part, Speaker, Thinking, ToolCall, ToolChoice, ToolDef,
    ToolResult, Turn,
};
use crate::json::TextOr;
use crate::openai::ReasoningEffort;

/// Read an Anthropic request for a non-Anthropic `upstream` (named in errors).
pub(crate) fn read(req: MessagesRequest, upstream: Format) -> Result<Conversation, FormatError> {
    let effort = req
        .output_config
        .as_ref()
        .and_then(|c| c.effort)
        .map(reasoning_effort);
    let mut conv = Conversation {
        max_tokens: Some(req.max_tokens),
        temperature: req.temperature,
        top_p: req.top_p,
        top_k: req.top_k,
        stop: req.stop_sequences.unwrap_or_default(),
        user: req.metadata.and_then(|m| m.user_id),
        thinking: match req.thinking {
            Some(ThinkingConfig::Enabled { budget_tokens }) => {
                Some(Thinking::Budget(budget_tokens))
            }
            Some(ThinkingConfig::Disabled) => Some(Thinking::Disabled),
            Some(ThinkingConfig::Adaptive) => Some(Thinking::Adaptive(effort)),
            // An effort alone still steers how much the model reasons.
            None => effort.map(Thinking::Effort),
        },
        ..Conversation::default()
    };
    conv.system = match req.system {
        None => Vec::new(),
        Some(TextOr::Text(s)) => vec![s],
        Some(TextOr::Items(blocks)) => blocks
            .into_iter()
            .map(|b| match b {
                SystemBlock::Text { text, .. } => text,
            })
            .collect(),
    };
    conv.tools = read_tools(req.tools.unwrap_or_default(), upstream)?;
    if let Some(choice) = req.tool_choice {
        let (choice, disable_parallel) = read_tool_choice(choice);
        conv.tool_choice = Some(choice);
        conv.parallel_tool_calls = disable_parallel.map(|d| !d);
    }
    for (i, msg) in req.messages.into_iter().enumerate() {
        let path = format!("messages[{i}].content");
        let speaker = match msg.role {
            anthropic::Role::User => Speaker::User,
            anthropic::Role::Assistant => Speaker::Assistant,
            anthropic::Role::System => {
                // Other upstreams take instructions only as the system
                // prompt: appended to it, as OpenAI clients' system messages.
                conv.system.extend(system_texts(msg.content, &path)?);
                continue;
            }
        };
        let parts = read_content(msg.content, &path)?;
        conv.turns.push(Turn { speaker, parts });
    }
    Ok(conv)
}

/// The client tools; server tools and tools without a schema are refused,
/// naming the tool.
fn read_tools(tools: Vec<anthropic::Tool>, upstream: Format) -> Result<Vec<ToolDef>, FormatError> {
    let mut defs = Vec::with_capacity(tools.len());
    for (i, tool) in tools.into_iter().enumerate() {
        match tool.kind.as_deref() {
            None | Some("custom") => {}
            Some(kind) => {
                return Err(FormatError::Unsupported {
                    path: format!("tools[{i}]"),
                    upstream,
                    reason: format!(
                        "`{kind}` is a server tool that runs only on Anthropic upstreams; \
                         declare a client tool with an input_schema instead"
                    )
                    .into(),
                });
            }
        }
        if tool.input_schema.is_none() {
            return Err(FormatError::Unsupported {
                path: format!("tools[{i}]"),
                upstream,
                reason: "a client tool needs an input_schema".into(),
            });
        }
        defs.push(ToolDef {
            name: tool.name,
            description: tool.description,
            parameters: tool.input_schema,
        });
    }
    Ok(defs)
}

/// The neutral tool choice and whether parallel tool use was disabled.
fn read_tool_choice(choice: anthropic::ToolChoice) -> (ToolChoice, Option<bool>) {
    match choice {
        anthropic::ToolChoice::Auto {
            disable_parallel_tool_use,
        } => (ToolChoice::Auto, disable_parallel_tool_use),
        anthropic::ToolChoice::Any {
            disable_parallel_tool_use,
        } => (ToolChoice::Required, disable_parallel_tool_use),
        anthropic::ToolChoice::Tool {
            name,
            disable_parallel_tool_use,
        } => (ToolChoice::Named(name), disable_parallel_tool_use),
        anthropic::ToolChoice::None => (ToolChoice::None, None),
    }
}

/// A user or assistant message's content as parts.
fn read_content(content: TextOr<ContentBlock>, path: &str) -> Result<Vec<Part>, FormatError> {
    let blocks = match content {
        TextOr::Text(s) => return Ok(vec![Part::Text(s)]),
        TextOr::Items(blocks) => blocks,
    };
    let mut parts = Vec::with_capacity(blocks.len());
    for (j, block) in blocks.into_iter().enumerate() {
        let block_path = format!("{path}[{j}]");
        match block {
            ContentBlock::Document { source, title, .. } => {
                read_document(source, title, &block_path, &mut parts)?;
            }
            other => parts.push(read_block(other, &block_path)?),
        }
    }
    Ok(parts)
}

/// The texts of a mid-conversation system message; any other block is
/// refused naming it.
fn system_texts(content: TextOr<ContentBlock>, path: &str) -> Result<Vec<String>, FormatError> {
    match content {
        TextOr::Text(s) => Ok(vec![s]),
        TextOr::Items(blocks) => blocks
            .into_iter()
            .enumerate()
            .map(|(j, block)| match block {
                ContentBlock::Text { text, .. } => Ok(text),
                _ => Err(FormatError::invalid_value(
                    format!("{path}[{j}]"),
                    "a system message holds text blocks only",
                )),
            })
            .collect(),
    }
}

fn read_block(block: ContentBlock, path: &str) -> Result<Part, FormatError> {
    Ok(match block {
        ContentBlock::Text { text, .. } => Part::Text(text),
        ContentBlock::Image { source, .. } => Part::Image(read_image(source, path)?),
        ContentBlock::ToolUse {
            id, name, input, ..
        } => {
            if !input.is_object() {
                return Err(FormatError::invalid_value(
                    format!("{path}.input"),
                    "must be a JSON object",
                ));
            }
            Part::ToolCall(ToolCall {
                id,
                name,
                arguments: input,
            })
        }
        ContentBlock::ToolResult {
            tool_use_id,
            content,
            is_error,
            ..
        } => {
            let content_path = format!("{path}.content");
            let content = read_tool_result(content, &content_path)?;
            Part::ToolResult(ToolResult {
                call_id: tool_use_id,
                content,
                is_error: is_error.unwrap_or(false),
                path: content_path,
            })
        }
        ContentBlock::Thinking {
            thinking,
            signature,
        } => Part::Thinking {
            text: thinking,
            signature: Some(signature).filter(|s| !s.is_empty()),
        },
        ContentBlock::RedactedThinking { data } => Part::RedactedThinking(data),
        ContentBlock::Document { .. } => {
            return Err(FormatError::invalid_value(
                path,
                "document blocks may appear only in message content",
            ));
        }
    })
}

/// A tool result's content: text, images and documents (a file a tool
/// read, such as a PDF).
fn read_tool_result(
    content: Option<TextOr<ContentBlock>>,
    path: &str,
) -> Result<Vec<Part>, FormatError> {
    let blocks = match content {
        None => return Ok(Vec::new()),
        Some(TextOr::Text(s)) => return Ok(vec![Part::Text(s)]),
        Some(TextOr::Items(blocks)) => blocks,
    };
    let mut parts = Vec::with_capacity(blocks.len());
    for (k, b) in blocks.into_iter().enumerate() {
        let p = format!("{path}[{k}]");
        match b {
            ContentBlock::Text { text, .. } => parts.push(Part::Text(text)),
            ContentBlock::Image { source, .. } => {
                parts.push(Part::Image(read_image(source, &p)?));
            }
            ContentBlock::Document { source, title, .. } => {
                read_document(source, title, &p, &mut parts)?;
            }
            _ => {
                return Err(FormatError::invalid_value(
                    p,
                    "tool_result content may hold only text, image and document blocks",
                ));
            }
        }
    }
    Ok(parts)
}

/// A document block: a PDF (inline or by URL) stays a document; a plain-text
/// or content-block document becomes the text and image parts it holds.
fn read_document(
    source: DocumentSource,
    title: Option<String>,
    path: &str,
    parts: &mut Vec<Part>,
) -> Result<(), FormatError> {
    let source_path = format!("{path}.source");
    let source = match source {
        DocumentSource::Base64 { media_type, data } => {
            media::check_base64(&data, &format!("{source_path}.data"))?;
            ir::DocumentSource::Base64 { media_type, data }
        }
        DocumentSource::Url { url } => ir::DocumentSource::Url(url),
        DocumentSource::Text { data, .. } => {
            parts.push(Part::Text(match title {
                Some(title) if !title.is_empty() => format!("{title}\n\n{data}"),
                _ => data,
            }));
            return Ok(());
        }
        DocumentSource::Content { content } => {
            if let Some(title) = title.filter(|t| !t.is_empty()) {
                parts.push(Part::Text(title));
            }
            return read_content_document(content, &source_path, parts);
        }
        DocumentSource::File { .. } => {
            return Err(FormatError::invalid_value(
                source_path,
                "document blocks with a file source name a file in Anthropic's Files API and \
                 can be sent only to Anthropic upstreams",
            ));
        }
    };
    parts.push(Part::Document(Document {
        source,
        title,
        path: path.to_owned(),
    }));
    Ok(())
}

/// A content-block document's text and image blocks, as parts.
fn read_content_document(
    content: TextOr<ContentBlock>,
    source_path: &str,
    parts: &mut Vec<Part>,
) -> Result<(), FormatError> {
    let blocks = match content {
        TextOr::Text(text) => {
            parts.push(Part::Text(text));
            return Ok(());
        }
        TextOr::Items(blocks) => blocks,
    };
    for (k, block) in blocks.into_iter().enumerate() {
        let p = format!("{source_path}.content[{k}]");
        match block {
            ContentBlock::Text { text, .. } => parts.push(Part::Text(text)),
            ContentBlock::Image { source, .. } => {
                parts.push(Part::Image(read_image(source, &p)?));
            }
            _ => {
                return Err(FormatError::invalid_value(
                    p,
                    "a content document may hold only text and image blocks",
                ));
            }
        }
    }
    Ok(())
}

/// Anthropic's effort levels as the neutral reasoning effort.
const fn reasoning_effort(effort: Effort) -> ReasoningEffort {
    match effort {
        Effort::Low => ReasoningEffort::Low,
        Effort::Medium => ReasoningEffort::Medium,
        Effort::High => ReasoningEffort::High,
        Effort::Max => ReasoningEffort::Xhigh,
    }
}

fn read_image(source: ImageSource, path: &str) -> Result<Image, FormatError> {
    Ok(match source {
        ImageSource::Base64 { media_type, data } => {
            media::check_base64(&data, &format!("{path}.source.data"))?;
            Image {
                source: ir::ImageSource::Base64 { media_type, data },
                path: format!("{path}.source"),
            }
        }
        ImageSource::Url { url } => Image {
            source: ir::ImageSource::Url(url),
            path: format!("{path}.source"),
        },
    })
}
