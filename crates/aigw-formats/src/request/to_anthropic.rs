//! Neutral [`Conversation`] → Anthropic Messages request.

use serde_json::{Value, json};

use super::common::{
    DEFAULT_ANTHROPIC_MAX_TOKENS, MIN_THINKING_BUDGET, effort_budget, output_instruction,
};
use crate::anthropic::{
    self, ContentBlock, DocumentSource, Effort, ImageSource, Message, MessagesRequest, Metadata,
    OutputConfig, SystemBlock, ThinkingConfig,
};
use crate::context::UpstreamTarget;
use crate::ir::{self, Conversation, Part, Speaker, Thinking, ToolChoice};
use crate::json::TextOr;
use crate::openai::ReasoningEffort;
use crate::{FormatError, ids};
use aigw_domain::Format;

pub(crate) fn write(
    conv: Conversation,
    target: &UpstreamTarget<'_>,
) -> Result<MessagesRequest, FormatError> {
    let max_tokens = conv.max_tokens.unwrap_or(DEFAULT_ANTHROPIC_MAX_TOKENS);
    let thinking = thinking(conv.thinking, max_tokens).filter(|_| thinking_allowed(&conv));
    let thinking_on = matches!(
        thinking,
        Some(ThinkingConfig::Enabled { .. } | ThinkingConfig::Adaptive)
    );
    let output_config = match conv.thinking {
        Some(Thinking::Adaptive(Some(e))) if thinking_on => Some(OutputConfig {
            effort: Some(anthropic_effort(e)),
            other: serde_json::Map::new(),
        }),
        _ => None,
    };
    let system = system_blocks(conv.system, conv.output.as_ref());
    let messages = messages(conv.turns)?;
    let tool_choice = tool_choice(
        conv.tool_choice,
        conv.parallel_tool_calls,
        !conv.tools.is_empty(),
    );
    let tools = tools(conv.tools);
    // Anthropic refuses blank stop sequences; they could never match anyway.
    let stop: Vec<String> = conv
        .stop
        .into_iter()
        .filter(|s| !s.trim().is_empty())
        .collect();
    Ok(MessagesRequest {
        model: target.model.to_owned(),
        messages,
        max_tokens,
        system: (!system.is_empty()).then_some(TextOr::Items(system)),
        stop_sequences: (!stop.is_empty()).then_some(stop),
        stream: target.stream.then_some(true),
        // With thinking on, Anthropic accepts only the default temperature and no top_k,
        // and top_p only from 0.95.
        temperature: if thinking_on {
            None
        } else {
            // OpenAI's range is 0..=2, Anthropic's 0..=1.
            conv.temperature.map(|t| t.clamp(0.0, 1.0))
        },
        top_p: conv.top_p.filter(|p| !thinking_on || *p >= 0.95),
        top_k: conv.top_k.filter(|_| !thinking_on),
        tools,
        tool_choice,
        thinking,
        metadata: conv.user.map(|user_id| Metadata {
            user_id: Some(user_id),
        }),
        output_config,
    })
}

/// The system prompt's blocks, with the instruction standing in for a JSON
/// output mode (Anthropic has none without a beta header).
fn system_blocks(system: Vec<String>, output: Option<&ir::OutputFormat>) -> Vec<SystemBlock> {
    let mut blocks: Vec<SystemBlock> = system
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(|text| SystemBlock::Text {
            text,
            cache_control: None,
        })
        .collect();
    if let Some(output) = output {
        blocks.push(SystemBlock::Text {
            text: output_instruction(output),
            cache_control: None,
        });
    }
    blocks
}

/// The turns as Anthropic messages: empty turns dropped, consecutive turns
/// of one role merged, tool results first in a user message.
fn messages(turns: Vec<ir::Turn>) -> Result<Vec<Message>, FormatError> {
    let mut messages: Vec<Message> = Vec::with_capacity(turns.len());
    for turn in turns {
        let mut blocks = Vec::with_capacity(turn.parts.len());
        for part in turn.parts {
            if let Some(block) = write_part(part)? {
                blocks.push(block);
            }
        }
        if blocks.is_empty() {
            // Anthropic rejects empty messages; an empty turn carries nothing.
            continue;
        }
        if turn.speaker == Speaker::User {
            // Tool results must open the user message that follows the tool calls.
            blocks.sort_by_key(|b| !matches!(b, ContentBlock::ToolResult { .. }));
        }
        let role = match turn.speaker {
            Speaker::User => anthropic::Role::User,
            Speaker::Assistant => anthropic::Role::Assistant,
        };
        match messages.last_mut() {
            Some(Message {
                role: last,
                content: TextOr::Items(prev),
            }) if *last == role => prev.extend(blocks),
            _ => messages.push(Message {
                role,
                content: TextOr::Items(blocks),
            }),
        }
    }
    Ok(messages)
}

/// The tool choice, carrying "no parallel tool calls" (which Anthropic
/// states on the choice) even when the client chose none.
fn tool_choice(
    choice: Option<ToolChoice>,
    parallel_tool_calls: Option<bool>,
    has_tools: bool,
) -> Option<anthropic::ToolChoice> {
    let disable_parallel = parallel_tool_calls.map(|p| !p).filter(|d| *d);
    match choice {
        Some(ToolChoice::Auto) => Some(anthropic::ToolChoice::Auto {
            disable_parallel_tool_use: disable_parallel,
        }),
        Some(ToolChoice::Required) => Some(anthropic::ToolChoice::Any {
            disable_parallel_tool_use: disable_parallel,
        }),
        Some(ToolChoice::Named(name)) => Some(anthropic::ToolChoice::Tool {
            name,
            disable_parallel_tool_use: disable_parallel,
        }),
        Some(ToolChoice::None) => Some(anthropic::ToolChoice::None),
        None if disable_parallel.is_some() && has_tools => Some(anthropic::ToolChoice::Auto {
            disable_parallel_tool_use: disable_parallel,
        }),
        None => None,
    }
}

fn tools(tools: Vec<ir::ToolDef>) -> Option<Vec<anthropic::Tool>> {
    (!tools.is_empty()).then(|| {
        tools
            .into_iter()
            .map(|t| anthropic::Tool {
                name: t.name,
                description: t.description,
                input_schema: Some(t.parameters.unwrap_or_else(empty_schema)),
                kind: None,
                cache_control: None,
            })
            .collect()
    })
}

/// Whether Anthropic will accept thinking for this conversation. It refuses
/// thinking with a forced tool choice, and when the assistant turn that made the
/// pending tool calls does not open with a signed thinking block (always the case
/// for history written by another model). Thinking is the optional part: drop it
/// rather than fail the request.
fn thinking_allowed(conv: &Conversation) -> bool {
    if matches!(
        conv.tool_choice,
        Some(ToolChoice::Required | ToolChoice::Named(_))
    ) {
        return false;
    }
    let last_assistant = conv
        .turns
        .iter()
        .rev()
        .find(|t| t.speaker == Speaker::Assistant);
    let Some(turn) = last_assistant else {
        return true;
    };
    let calls_tools = turn.parts.iter().any(|p| matches!(p, Part::ToolCall(_)));
    let opens_with_signed_thinking = matches!(
        turn.parts.first(),
        Some(
            Part::Thinking {
                signature: Some(_),
                ..
            } | Part::RedactedThinking(_)
        )
    );
    !calls_tools || opens_with_signed_thinking
}

/// Thinking config that Anthropic accepts: a budget of at least 1024 tokens and
/// below `max_tokens` (which includes thinking), else none at all.
fn thinking(thinking: Option<Thinking>, max_tokens: u32) -> Option<ThinkingConfig> {
    let wanted = match thinking? {
        Thinking::Adaptive(_) => return Some(ThinkingConfig::Adaptive),
        Thinking::Budget(b) => b,
        Thinking::Effort(e) => effort_budget(e)?,
        Thinking::Disabled => return None,
    };
    let budget = wanted.min(max_tokens.saturating_sub(1));
    (budget >= MIN_THINKING_BUDGET).then_some(ThinkingConfig::Enabled {
        budget_tokens: budget,
    })
}

fn write_part(part: Part) -> Result<Option<ContentBlock>, FormatError> {
    Ok(Some(match part {
        Part::Text(text) if text.is_empty() => return Ok(None),
        Part::Text(text) => ContentBlock::Text {
            text,
            cache_control: None,
        },
        Part::Image(image) => ContentBlock::Image {
            source: image_source(image.source),
            cache_control: None,
        },
        Part::Document(document) => document_block(document),
        Part::ToolCall(call) => ContentBlock::ToolUse {
            id: ids::anthropic_tool_id(&call.id).into_owned(),
            name: call.name,
            input: call.arguments,
            cache_control: None,
        },
        Part::ToolResult(result) => {
            let mut blocks = Vec::with_capacity(result.content.len());
            for part in result.content {
                match part {
                    Part::Text(text) if text.is_empty() => {}
                    Part::Text(text) => blocks.push(ContentBlock::Text {
                        text,
                        cache_control: None,
                    }),
                    Part::Image(image) => blocks.push(ContentBlock::Image {
                        source: image_source(image.source),
                        cache_control: None,
                    }),
                    Part::Document(document) => blocks.push(document_block(document)),
                    _ => {
                        return Err(FormatError::unsupported(
                            result.path,
                            Format::AnthropicMessages,
                            "tool results may hold only text, images and documents",
                        ));
                    }
                }
            }
            ContentBlock::ToolResult {
                tool_use_id: ids::anthropic_tool_id(&result.call_id).into_owned(),
                content: (!blocks.is_empty()).then_some(TextOr::Items(blocks)),
                is_error: result.is_error.then_some(true),
                cache_control: None,
            }
        }
        // Anthropic verifies signatures: unsigned reasoning (from another model) cannot go back.
        Part::Thinking { text, signature } => match signature {
            Some(signature) => ContentBlock::Thinking {
                thinking: text,
                signature,
            },
            None => return Ok(None),
        },
        Part::RedactedThinking(data) => ContentBlock::RedactedThinking { data },
    }))
}

fn document_block(document: ir::Document) -> ContentBlock {
    ContentBlock::Document {
        source: match document.source {
            ir::DocumentSource::Base64 { media_type, data } => {
                DocumentSource::Base64 { media_type, data }
            }
            ir::DocumentSource::Url(url) => DocumentSource::Url { url },
        },
        title: document.title,
        context: None,
        citations: None,
        cache_control: None,
    }
}

fn image_source(source: ir::ImageSource) -> ImageSource {
    match source {
        ir::ImageSource::Base64 { media_type, data } => ImageSource::Base64 {
            // A common misspelling that Anthropic's media type check refuses.
            media_type: if media_type.eq_ignore_ascii_case("image/jpg") {
                "image/jpeg".to_owned()
            } else {
                media_type
            },
            data,
        },
        ir::ImageSource::Url(url) => ImageSource::Url { url },
    }
}

/// The Anthropic effort closest to a neutral reasoning effort.
const fn anthropic_effort(effort: ReasoningEffort) -> Effort {
    match effort {
        ReasoningEffort::None | ReasoningEffort::Minimal | ReasoningEffort::Low => Effort::Low,
        ReasoningEffort::Medium => Effort::Medium,
        ReasoningEffort::High => Effort::High,
        ReasoningEffort::Xhigh => Effort::Max,
    }
}

fn empty_schema() -> Value {
    json!({"type": "object", "properties": {}})
}
