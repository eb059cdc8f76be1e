//! Anthropic message → neutral [`Reply`].

use crate::Usage;
use crate::anthropic::{ContentBlock, MessagesResponse, StopReason};
use crate::ir::{Reply, ReplyPart};
use crate::reasons::Finish;

pub(super) fn read(msg: MessagesResponse) -> Reply {
    let parts = msg
        .content
        .into_iter()
        .filter_map(|block| match block {
            ContentBlock::Text { text, .. } => Some(ReplyPart::Text(text)),
            ContentBlock::Thinking {
                thinking,
                signature,
            } => Some(ReplyPart::Thinking {
                text: thinking,
                signature: Some(signature).filter(|s| !s.is_empty()),
            }),
            ContentBlock::RedactedThinking { data } => Some(ReplyPart::RedactedThinking(data)),
            ContentBlock::ToolUse {
                id, name, input, ..
            } => Some(ReplyPart::ToolCall {
                id: Some(id),
                name,
                arguments: input,
            }),
            // Not produced in assistant responses.
            ContentBlock::Image { .. }
            | ContentBlock::Document { .. }
            | ContentBlock::ToolResult { .. } => None,
        })
        .collect();
    Reply {
        parts,
        finish: Finish::from_anthropic(msg.stop_reason.unwrap_or(StopReason::EndTurn)),
        stop_sequence: msg.stop_sequence,
        usage: Usage::from_anthropic(&msg.usage),
    }
}
