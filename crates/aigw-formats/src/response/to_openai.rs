//! Neutral [`Reply`] → OpenAI chat completion.

use aigw_domain::Format;

use crate::context::ResponseContext;
use crate::ids;
use crate::ir::{Reply, ReplyPart};
use crate::openai::{ChatCompletion, Choice, FunctionCall, ResponseMessage, ToolCall, ToolType};

pub(super) fn write(reply: Reply, ctx: &ResponseContext<'_>) -> ChatCompletion {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for part in reply.parts {
        match part {
            ReplyPart::Text(t) => text.push_str(&t),
            ReplyPart::Thinking { text: t, .. } => reasoning.push_str(&t),
            ReplyPart::RedactedThinking(_) => {}
            ReplyPart::ToolCall {
                id,
                name,
                arguments,
            } => {
                let index = calls.len();
                calls.push(ToolCall {
                    id: id.unwrap_or_else(|| {
                        ids::tool_call_id(Format::OpenAiChat, ctx.request_id, index)
                    }),
                    kind: ToolType::Function,
                    function: FunctionCall {
                        name,
                        arguments: arguments.to_string(),
                    },
                });
            }
        }
    }
    ChatCompletion {
        id: format!("chatcmpl-{}", ctx.request_id),
        object: "chat.completion".to_owned(),
        created: ctx.created,
        model: ctx.model.to_owned(),
        choices: vec![Choice {
            index: 0,
            message: ResponseMessage {
                role: "assistant".to_owned(),
                // OpenAI sends null content when a message only calls tools.
                content: (!text.is_empty() || calls.is_empty()).then_some(text),
                tool_calls: (!calls.is_empty()).then_some(calls),
                refusal: None,
                reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
            },
            finish_reason: Some(reply.finish.to_openai()),
            logprobs: None,
        }],
        usage: Some(reply.usage.to_openai()),
        system_fingerprint: None,
    }
}
