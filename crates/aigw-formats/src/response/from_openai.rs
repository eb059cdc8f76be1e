//! OpenAI chat completion → neutral [`Reply`].

use serde_json::{Value, json};

use crate::Usage;
use crate::ir::{Reply, ReplyPart};
use crate::openai::{ChatCompletion, FinishReason};
use crate::reasons::Finish;

pub(super) fn read(completion: ChatCompletion) -> Reply {
    let usage = completion
        .usage
        .as_ref()
        .map(Usage::from_openai)
        .unwrap_or_default();
    let Some(choice) = completion.choices.into_iter().next() else {
        return Reply {
            parts: Vec::new(),
            finish: Finish::EndTurn,
            stop_sequence: None,
            usage,
        };
    };
    let msg = choice.message;
    let mut parts = Vec::new();
    if let Some(reasoning) = msg.reasoning_content.filter(|r| !r.is_empty()) {
        parts.push(ReplyPart::Thinking {
            text: reasoning,
            signature: None,
        });
    }
    match (
        msg.content.filter(|c| !c.is_empty()),
        msg.refusal.filter(|r| !r.is_empty()),
    ) {
        (Some(text), _) | (None, Some(text)) => parts.push(ReplyPart::Text(text)),
        (None, None) => {}
    }
    let mut has_calls = false;
    for call in msg.tool_calls.unwrap_or_default() {
        has_calls = true;
        parts.push(ReplyPart::ToolCall {
            id: Some(call.id).filter(|id| !id.is_empty()),
            name: call.function.name,
            arguments: arguments(&call.function.arguments),
        });
    }
    let mut finish = Finish::from_openai(choice.finish_reason.unwrap_or(FinishReason::Stop));
    // Some OpenAI-compatible servers say "stop" after tool calls; the calls decide.
    if has_calls && finish == Finish::EndTurn {
        finish = Finish::ToolUse;
    }
    Reply {
        parts,
        finish,
        stop_sequence: None,
        usage,
    }
}

/// Arguments as an object. A model can emit malformed arguments; rather than drop
/// them (the client could not tell) the text is kept under `raw_arguments`.
pub(crate) fn arguments(text: &str) -> Value {
    if text.trim().is_empty() {
        return json!({});
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({ "raw_arguments": text }),
    }
}
