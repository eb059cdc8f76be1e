//! Anthropic Messages request → neutral [`Conversation`].

use aigw_domain::Format;

use super::media;
use crate::FormatError;
use crate::anthropic::{
    self, ContentBlock, ImageSource, MessagesRequest, SystemBlock, ThinkingConfig,
};
use crate::ir::{
    self, Conversation, Image, Part, Speaker, Thinking, ToolCall, ToolChoice, ToolDef, ToolResult,
    Turn,
};
use crate::json::TextOr;

/// Read an Anthropic request for a non-Anthropic `upstream` (named in errors).
pub(crate) fn read(req: MessagesRequest, upstream: Format) -> Result<Conversation, FormatError> {
    let mut conv = Conversation {
        max_tokens: Some(req.max_tokens),
        temperature: req.temperature,
        top_p: req.top_p,
        top_k: req.top_k,
        stop: req.stop_sequences.unwrap_or_default(),
        user: req.metadata.and_then(|m| m.user_id),
        thinking: req.thinking.map(|t| match t {
            ThinkingConfig::Enabled { budget_tokens } => Thinking::Budget(budget_tokens),
            ThinkingConfig::Disabled => Thinking::Disabled,
        }),
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
    for (i, tool) in req.tools.unwrap_or_default().into_iter().enumerate() {
        let is_client_tool = tool.kind.as_deref().is_none_or(|k| k == "custom");
        if !is_client_tool || tool.input_schema.is_none() {
            return Err(FormatError::Unsupported {
                path: format!("tools[{i}]"),
                upstream,
                reason:
                    "server tools run only on Anthropic; declare a client tool with an input_schema"
                        .into(),
            });
        }
        conv.tools.push(ToolDef {
            name: tool.name,
            description: tool.description,
            parameters: tool.input_schema,
        });
    }
    if let Some(choice) = req.tool_choice {
        let (choice, disable_parallel) = match choice {
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
        };
        conv.tool_choice = Some(choice);
        conv.parallel_tool_calls = disable_parallel.map(|d| !d);
    }
    for (i, msg) in req.messages.into_iter().enumerate() {
        let path = format!("messages[{i}].content");
        let speaker = match msg.role {
            anthropic::Role::User => Speaker::User,
            anthropic::Role::Assistant => Speaker::Assistant,
        };
        let parts = match msg.content {
            TextOr::Text(s) => vec![Part::Text(s)],
            TextOr::Items(blocks) => blocks
                .into_iter()
                .enumerate()
                .map(|(j, b)| read_block(b, &format!("{path}[{j}]")))
                .collect::<Result<_, _>>()?,
        };
        conv.turns.push(Turn { speaker, parts });
    }
    Ok(conv)
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
            let content = match content {
                None => Vec::new(),
                Some(TextOr::Text(s)) => vec![Part::Text(s)],
                Some(TextOr::Items(blocks)) => blocks
                    .into_iter()
                    .enumerate()
                    .map(|(k, b)| {
                        let p = format!("{content_path}[{k}]");
                        match b {
                            ContentBlock::Text { text, .. } => Ok(Part::Text(text)),
                            ContentBlock::Image { source, .. } => {
                                Ok(Part::Image(read_image(source, &p)?))
                            }
                            _ => Err(FormatError::invalid_value(
                                p,
                                "tool_result content may hold only text and image blocks",
                            )),
                        }
                    })
                    .collect::<Result<_, _>>()?,
            };
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
    })
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
