//! Neutral [`Reply`] → Gemini `GenerateContentResponse` (one candidate).
//!
//! Reasoning is written as `thought` parts; a reasoning signature rides on the
//! function call that follows it, as Gemini puts it, or else on an empty
//! `thought` part of its own, so a Gemini client sends it back where the
//! request reader looks for it.

use aigw_domain::Format;

use crate::context::ResponseContext;
use crate::gemini::{Candidate, Content, FunctionCall, GenerateContentResponse, Part};
use crate::ids;
use crate::ir::{Reply, ReplyPart};

pub(super) fn write(reply: Reply, ctx: &ResponseContext<'_>) -> GenerateContentResponse {
    let mut parts = Vec::with_capacity(reply.parts.len());
    let mut pending: Option<String> = None;
    let mut calls = 0usize;
    for part in reply.parts {
        match part {
            ReplyPart::Text(text) => {
                flush_signature(&mut parts, &mut pending);
                parts.push(Part {
                    text: Some(text),
                    ..Part::default()
                });
            }
            ReplyPart::Thinking { text, signature } => {
                flush_signature(&mut parts, &mut pending);
                if !text.is_empty() {
                    parts.push(thought(text, None));
                }
                pending = signature;
            }
            ReplyPart::ToolCall {
                id,
                name,
                arguments,
            } => {
                let id =
                    id.unwrap_or_else(|| ids::tool_call_id(Format::Gemini, ctx.request_id, calls));
                calls += 1;
                parts.push(Part {
                    function_call: Some(FunctionCall {
                        id: Some(id),
                        name,
                        args: arguments,
                    }),
                    thought_signature: pending.take(),
                    ..Part::default()
                });
            }
            // Anthropic's redacted reasoning has no Gemini form.
            ReplyPart::RedactedThinking(_) => {}
        }
    }
    flush_signature(&mut parts, &mut pending);
    GenerateContentResponse {
        candidates: vec![Candidate {
            content: (!parts.is_empty()).then(|| Content {
                role: Some("model".to_owned()),
                parts,
            }),
            finish_reason: Some(reply.finish.to_gemini()),
            index: Some(0),
        }],
        usage_metadata: Some(reply.usage.to_gemini()),
        model_version: Some(ctx.model.to_owned()),
        response_id: Some(ctx.request_id.to_owned()),
        prompt_feedback: None,
    }
}

/// A `thought` part.
pub(crate) fn thought(text: String, signature: Option<String>) -> Part {
    Part {
        text: Some(text),
        thought: Some(true),
        thought_signature: signature,
        ..Part::default()
    }
}

/// A signature no function call took goes out on an empty thought part.
fn flush_signature(parts: &mut Vec<Part>, pending: &mut Option<String>) {
    if let Some(signature) = pending.take() {
        parts.push(thought(String::new(), Some(signature)));
    }
}
