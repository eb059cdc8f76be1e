//! Neutral [`Reply`] → OpenAI Responses object.

use aigw_domain::Format;

use crate::context::ResponseContext;
use crate::ir::{Reply, ReplyPart};
use crate::responses::{
    IncompleteDetails, ItemStatus, OutputContent, OutputItem, ResponseObject, SummaryPart,
};
use crate::{ids, namespaces};

pub(super) fn write(reply: Reply, ctx: &ResponseContext<'_>) -> ResponseObject {
    let mut output: Vec<OutputItem> = Vec::with_capacity(reply.parts.len());
    let mut calls = 0;
    for part in reply.parts {
        write_part(&mut output, &mut calls, part, ctx);
    }
    let (status, reason) = reply.finish.to_responses();
    ResponseObject {
        id: format!("resp_{}", ctx.request_id),
        object: ResponseObject::OBJECT.to_owned(),
        created_at: ctx.created,
        status: Some(status),
        error: None,
        incomplete_details: reason.map(|r| IncompleteDetails {
            reason: Some(r.to_owned()),
        }),
        model: ctx.model.to_owned(),
        output,
        usage: Some(reply.usage.to_responses()),
    }
}

/// Appends one reply part as output items: consecutive text is one message,
/// reasoning keeps its signature as `encrypted_content`, calls get ids.
fn write_part(
    output: &mut Vec<OutputItem>,
    calls: &mut usize,
    part: ReplyPart,
    ctx: &ResponseContext<'_>,
) {
    let index = output.len();
    match part {
        ReplyPart::Text(text) if text.is_empty() => {}
        ReplyPart::Text(text) => {
            if let Some(OutputItem::Message { content, .. }) = output.last_mut()
                && let Some(OutputContent::OutputText { text: prev, .. }) = content.last_mut()
            {
                prev.push_str(&text);
                return;
            }
            output.push(OutputItem::Message {
                id: ids::item_id("msg", ctx.request_id, index),
                status: Some(ItemStatus::Completed),
                role: "assistant".to_owned(),
                content: vec![OutputContent::OutputText {
                    text,
                    annotations: Vec::new(),
                }],
            });
        }
        ReplyPart::Thinking { text, signature } => output.push(OutputItem::Reasoning {
            id: ids::item_id("rs", ctx.request_id, index),
            summary: if text.is_empty() {
                Vec::new()
            } else {
                vec![SummaryPart::SummaryText { text }]
            },
            content: None,
            encrypted_content: signature,
        }),
        // Redacted reasoning is Anthropic's own; a Responses client could not return it.
        ReplyPart::RedactedThinking(_) => {}
        ReplyPart::ToolCall {
            id,
            name,
            arguments,
        } => {
            let call_id = id.unwrap_or_else(|| {
                ids::tool_call_id(Format::OpenAiResponses, ctx.request_id, *calls)
            });
            *calls += 1;
            let (namespace, name) = namespaces::split(name, ctx.tool_namespaces);
            output.push(OutputItem::FunctionCall {
                id: ids::item_id("fc", ctx.request_id, index),
                call_id,
                name,
                namespace,
                arguments: arguments.to_string(),
                status: Some(ItemStatus::Completed),
            });
        }
    }
}
