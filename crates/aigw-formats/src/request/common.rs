//! What several request writers share: token defaults and the mapping
//! between reasoning effort and thinking budgets.

use crate::ir::OutputFormat;
use crate::openai::ReasoningEffort;

/// `max_tokens` sent to Anthropic when an OpenAI client gives no limit: Anthropic
/// requires one, and 4096 is what every current Claude model can produce.
pub const DEFAULT_ANTHROPIC_MAX_TOKENS: u32 = 4096;

/// The smallest thinking budget Anthropic accepts.
pub const MIN_THINKING_BUDGET: u32 = 1024;

/// Thinking budget for an OpenAI `reasoning_effort` (none for `none`).
pub(crate) const fn effort_budget(effort: ReasoningEffort) -> Option<u32> {
    match effort {
        ReasoningEffort::None => None,
        ReasoningEffort::Minimal => Some(1024),
        ReasoningEffort::Low => Some(2048),
        ReasoningEffort::Medium => Some(8192),
        ReasoningEffort::High => Some(16384),
        ReasoningEffort::Xhigh => Some(32768),
    }
}

/// The `reasoning_effort` closest to a thinking budget (the inverse of [`effort_budget`],
/// using only the three values every reasoning model accepts).
pub(crate) const fn effort_for_budget(budget: u32) -> ReasoningEffort {
    if budget < 4096 {
        ReasoningEffort::Low
    } else if budget < 16384 {
        ReasoningEffort::Medium
    } else {
        ReasoningEffort::High
    }
}

/// The system instruction that asks for JSON where the upstream has no JSON mode.
pub(crate) fn output_instruction(output: &OutputFormat) -> String {
    match output {
        OutputFormat::JsonObject => {
            "Respond with a single valid JSON object and nothing else: no prose, no code fences."
                .to_owned()
        }
        OutputFormat::JsonSchema { schema: None, .. } => {
            output_instruction(&OutputFormat::JsonObject)
        }
        OutputFormat::JsonSchema {
            schema: Some(schema),
            ..
        } => format!(
            "Respond with a single valid JSON value that conforms to this JSON Schema, and nothing else \
             (no prose, no code fences):\n{schema}"
        ),
    }
}
