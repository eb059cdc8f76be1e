//! Neutral [`Reply`] → Anthropic message.

use aigw_domain::Format;

use crate::anthropic::{ContentBlock, MessageType, MessagesResponse, Role};
use crate::context::ResponseContext;
use crate::ids;
use crate::ir::{Reply, ReplyPart};
use crate::reasons::Finish;

pub(super) fn write(reply: Reply, ctx: &ResponseContext<'_>) -> MessagesResponse {
    let mut calls = 0;
    let content = reply
        .parts
        .into_iter()
        .filter_map(|part| match part {
            ReplyPart::Text(text) if text.is_empty() => None,
            ReplyPart::Text(text) => Some(ContentBlock::Text {
                text,
                cache_control: None,
            }),
            ReplyPart::Thinking { text, signature } => Some(ContentBlock::Thinking {
                thinking: text,
                signature: signature.unwrap_or_default(),
            }),
            ReplyPart::RedactedThinking(data) => Some(ContentBlock::RedactedThinking { data }),
            ReplyPart::ToolCall {
                id,
                name,
                arguments,
            } => {
                let index = calls;
                calls += 1;
                Some(ContentBlock::ToolUse {
                    id: id.unwrap_or_else(|| {
                        ids::tool_call_id(Format::AnthropicMessages, ctx.request_id, index)
                    }),
                    name,
                    input: arguments,
                    cache_control: None,
                })
            }
        })
        .collect();
    MessagesResponse {
        id: format!("msg_{}", ctx.request_id),
        kind: MessageType::Message,
        role: Role::Assistant,
        model: ctx.model.to_owned(),
        content,
        stop_reason: Some(reply.finish.to_anthropic()),
        stop_sequence: reply
            .stop_sequence
            .filter(|_| reply.finish == Finish::StopSequence),
        usage: reply.usage.to_anthropic(),
    }
}
