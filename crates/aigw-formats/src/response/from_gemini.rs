//! Gemini response (bare or unwrapped from Antigravity) → neutral [`Reply`].

use serde_json::{Value, json};

use crate::Usage;
use crate::gemini::{Candidate, FinishReason, GenerateContentResponse};
use crate::ir::{Reply, ReplyPart};
use crate::reasons::Finish;

pub(super) fn read(resp: GenerateContentResponse) -> Reply {
    let usage = resp
        .usage_metadata
        .as_ref()
        .map(Usage::from_gemini)
        .unwrap_or_default();
    let Some(candidate) = resp.candidates.into_iter().next() else {
        // No candidate at all: the prompt itself was blocked.
        let finish = if resp.prompt_feedback.is_some() {
            Finish::ContentFilter
        } else {
            Finish::EndTurn
        };
        return Reply {
            parts: Vec::new(),
            finish,
            stop_sequence: None,
            usage,
        };
    };
    let finish_reason = candidate.finish_reason.unwrap_or(FinishReason::Stop);
    let (parts, saw_call) = read_candidate(candidate);
    let finish = Finish::from_gemini(finish_reason, saw_call);
    Reply {
        parts,
        finish,
        stop_sequence: None,
        usage,
    }
}

/// The parts of a candidate (also used per stream chunk), and whether it called
/// a function. A function call's reasoning signature rides on a thinking part
/// just before the call (the preceding one, or an empty one), which is how an
/// Anthropic client returns it and how the request side puts it back.
pub(crate) fn read_candidate(candidate: Candidate) -> (Vec<ReplyPart>, bool) {
    let mut out: Vec<ReplyPart> = Vec::new();
    let mut saw_call = false;
    let Some(content) = &candidate.content else {
        return (out, saw_call);
    };
    for part in &content.parts {
        if let Some(call) = &part.function_call {
            saw_call = true;
            if let Some(sig) = &part.thought_signature {
                match out.last_mut() {
                    Some(ReplyPart::Thinking {
                        signature: s @ None,
                        ..
                    }) => *s = Some(sig.clone()),
                    _ => out.push(ReplyPart::Thinking {
                        text: String::new(),
                        signature: Some(sig.clone()),
                    }),
                }
            }
            out.push(ReplyPart::ToolCall {
                id: call.id.clone().filter(|id| !id.is_empty()),
                name: call.name.clone(),
                arguments: match &call.args {
                    v @ Value::Object(_) => v.clone(),
                    Value::Null => json!({}),
                    other => json!({ "value": other }),
                },
            });
        } else if let Some(text) = &part.text {
            if part.thought == Some(true) {
                out.push(ReplyPart::Thinking {
                    text: text.clone(),
                    signature: part.thought_signature.clone(),
                });
            } else {
                match out.last_mut() {
                    // Gemini splits text across parts freely; one block reads better.
                    Some(ReplyPart::Text(prev)) => prev.push_str(text),
                    _ => out.push(ReplyPart::Text(text.clone())),
                }
            }
        }
    }
    (out, saw_call)
}
