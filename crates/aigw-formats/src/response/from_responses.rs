//! OpenAI Responses object → neutral [`Reply`].

use super::from_openai::arguments;
use crate::ir::{Reply, ReplyPart};
use crate::reasons::Finish;
use crate::responses::{OutputContent, OutputItem, ResponseObject, ResponseStatus, SummaryPart};
use crate::{FormatError, Usage};

pub(super) fn read(response: ResponseObject) -> Result<Reply, FormatError> {
    if response.status == Some(ResponseStatus::Failed) {
        let message = response
            .error
            .map(|e| e.message)
            .unwrap_or_else(|| "the response failed".to_owned());
        return Err(FormatError::UpstreamResponse {
            path: "error".into(),
            message,
        });
    }
    let usage = response
        .usage
        .as_ref()
        .map(Usage::from_responses)
        .unwrap_or_default();
    let mut parts = Vec::with_capacity(response.output.len());
    let mut saw_call = false;
    for item in response.output {
        match item {
            OutputItem::Reasoning {
                summary,
                content,
                encrypted_content,
                ..
            } => {
                if let Some(part) = reasoning(summary, content, encrypted_content) {
                    parts.push(part);
                }
            }
            OutputItem::Message { content, .. } => push_message(&mut parts, content),
            OutputItem::FunctionCall {
                call_id,
                name,
                arguments: args,
                ..
            } => {
                saw_call = true;
                parts.push(ReplyPart::ToolCall {
                    id: Some(call_id).filter(|id| !id.is_empty()),
                    name,
                    arguments: arguments(&args),
                });
            }
            // Hosted tool calls and other items have no place in other formats.
            OutputItem::Other => {}
        }
    }
    let reason = response
        .incomplete_details
        .as_ref()
        .and_then(|d| d.reason.as_deref());
    Ok(Reply {
        parts,
        finish: Finish::from_responses(response.status, reason, saw_call),
        stop_sequence: None,
        usage,
    })
}

/// A message's text and refusals, appended to the text part before them.
fn push_message(parts: &mut Vec<ReplyPart>, content: Vec<OutputContent>) {
    for part in content {
        let text = match part {
            OutputContent::OutputText { text, .. } => text,
            OutputContent::Refusal { refusal } => refusal,
            OutputContent::ReasoningText { .. } | OutputContent::Other => continue,
        };
        match parts.last_mut() {
            Some(ReplyPart::Text(prev)) => prev.push_str(&text),
            _ => parts.push(ReplyPart::Text(text)),
        }
    }
}

/// A reasoning item as a thinking part: its summary (or raw text), signed by
/// its encrypted content; nothing when it carries neither.
pub(crate) fn reasoning(
    summary: Vec<SummaryPart>,
    content: Option<Vec<OutputContent>>,
    encrypted_content: Option<String>,
) -> Option<ReplyPart> {
    let summary: Vec<String> = summary
        .into_iter()
        .map(|SummaryPart::SummaryText { text }| text)
        .collect();
    let text = if summary.is_empty() {
        content
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| match c {
                OutputContent::ReasoningText { text } => Some(text),
                _ => None,
            })
            .collect::<String>()
    } else {
        summary.join("\n\n")
    };
    let signature = encrypted_content.filter(|s| !s.is_empty());
    (!text.is_empty() || signature.is_some()).then_some(ReplyPart::Thinking { text, signature })
}
