//! Stop / finish reasons of every format, mapped through one neutral [`Finish`].
//!
//! Every translation (whole responses and streams) maps reasons here and only
//! here, so a fix applies everywhere. The rules that peers get wrong:
//! - a Gemini candidate that carries a `functionCall` finished to call tools,
//!   even though Gemini says `STOP`: that is `tool_use` / `tool_calls`;
//! - OpenAI `content_filter` is an Anthropic `refusal`, not `stop_sequence`;
//! - Anthropic `stop_sequence` and `pause_turn` are an OpenAI `stop`.

use crate::{anthropic, gemini, openai, responses};

/// Why generation ended, independent of any wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Finish {
    /// The model ended its turn.
    EndTurn,
    /// A stop sequence matched.
    StopSequence,
    /// The output token limit was reached.
    MaxTokens,
    /// The model wants tool results.
    ToolUse,
    /// Output was withheld by a safety filter or refused.
    ContentFilter,
    /// A long-running server turn was paused (Anthropic); the client may continue it.
    PauseTurn,
}

impl Finish {
    /// From an OpenAI `finish_reason`.
    pub const fn from_openai(reason: openai::FinishReason) -> Self {
        match reason {
            openai::FinishReason::Stop | openai::FinishReason::Unknown => Self::EndTurn,
            openai::FinishReason::Length => Self::MaxTokens,
            openai::FinishReason::ToolCalls | openai::FinishReason::FunctionCall => Self::ToolUse,
            openai::FinishReason::ContentFilter => Self::ContentFilter,
        }
    }

    /// From an Anthropic `stop_reason`.
    pub const fn from_anthropic(reason: anthropic::StopReason) -> Self {
        match reason {
            anthropic::StopReason::EndTurn | anthropic::StopReason::Unknown => Self::EndTurn,
            anthropic::StopReason::StopSequence => Self::StopSequence,
            anthropic::StopReason::MaxTokens
            | anthropic::StopReason::ModelContextWindowExceeded => Self::MaxTokens,
            anthropic::StopReason::ToolUse => Self::ToolUse,
            anthropic::StopReason::Refusal => Self::ContentFilter,
            anthropic::StopReason::PauseTurn => Self::PauseTurn,
        }
    }

    /// From a Gemini `finishReason`; `saw_function_call` says whether the
    /// candidate's parts contained a `functionCall` (Gemini still says `STOP` then).
    pub const fn from_gemini(reason: gemini::FinishReason, saw_function_call: bool) -> Self {
        use gemini::FinishReason as G;
        match reason {
            G::MaxTokens => Self::MaxTokens,
            G::Safety
            | G::Recitation
            | G::Blocklist
            | G::ProhibitedContent
            | G::Spii
            | G::ImageSafety
            | G::ImageProhibitedContent
            | G::ImageRecitation => Self::ContentFilter,
            G::Stop
            | G::FinishReasonUnspecified
            | G::Language
            | G::Other
            | G::MalformedFunctionCall
            | G::UnexpectedToolCall
            | G::TooManyToolCalls
            | G::Unknown => {
                if saw_function_call {
                    Self::ToolUse
                } else {
                    Self::EndTurn
                }
            }
        }
    }

    /// From an OpenAI Responses `status` and `incomplete_details.reason`;
    /// `saw_function_call` says whether the output holds a function call
    /// (Responses has no reason of its own for it).
    pub fn from_responses(
        status: Option<responses::ResponseStatus>,
        incomplete_reason: Option<&str>,
        saw_function_call: bool,
    ) -> Self {
        match (status, incomplete_reason) {
            (Some(responses::ResponseStatus::Incomplete), Some("content_filter")) => {
                Self::ContentFilter
            }
            (Some(responses::ResponseStatus::Incomplete), _) => Self::MaxTokens,
            _ if saw_function_call => Self::ToolUse,
            _ => Self::EndTurn,
        }
    }

    /// As an OpenAI Responses `status` and `incomplete_details.reason`: only a
    /// token limit and a content filter make a response incomplete.
    pub const fn to_responses(self) -> (responses::ResponseStatus, Option<&'static str>) {
        match self {
            Self::MaxTokens => (
                responses::ResponseStatus::Incomplete,
                Some("max_output_tokens"),
            ),
            Self::ContentFilter => (
                responses::ResponseStatus::Incomplete,
                Some("content_filter"),
            ),
            Self::EndTurn | Self::StopSequence | Self::ToolUse | Self::PauseTurn => {
                (responses::ResponseStatus::Completed, None)
            }
        }
    }

    /// As an OpenAI `finish_reason`.
    pub const fn to_openai(self) -> openai::FinishReason {
        match self {
            Self::EndTurn | Self::StopSequence | Self::PauseTurn => openai::FinishReason::Stop,
            Self::MaxTokens => openai::FinishReason::Length,
            Self::ToolUse => openai::FinishReason::ToolCalls,
            Self::ContentFilter => openai::FinishReason::ContentFilter,
        }
    }

    /// As a Gemini `finishReason` (`STOP` also after function calls, as Gemini says it).
    pub const fn to_gemini(self) -> gemini::FinishReason {
        match self {
            Self::EndTurn | Self::StopSequence | Self::ToolUse | Self::PauseTurn => {
                gemini::FinishReason::Stop
            }
            Self::MaxTokens => gemini::FinishReason::MaxTokens,
            Self::ContentFilter => gemini::FinishReason::Safety,
        }
    }

    /// As an Anthropic `stop_reason`.
    pub const fn to_anthropic(self) -> anthropic::StopReason {
        match self {
            Self::EndTurn => anthropic::StopReason::EndTurn,
            Self::StopSequence => anthropic::StopReason::StopSequence,
            Self::MaxTokens => anthropic::StopReason::MaxTokens,
            Self::ToolUse => anthropic::StopReason::ToolUse,
            Self::ContentFilter => anthropic::StopReason::Refusal,
            Self::PauseTurn => anthropic::StopReason::PauseTurn,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemini_stop_with_function_call_is_tool_use() {
        let f = Finish::from_gemini(gemini::FinishReason::Stop, true);
        assert_eq!(f.to_anthropic(), anthropic::StopReason::ToolUse);
        assert_eq!(f.to_openai(), openai::FinishReason::ToolCalls);
    }

    #[test]
    fn gemini_max_tokens_stays_max_tokens_even_mid_call() {
        let f = Finish::from_gemini(gemini::FinishReason::MaxTokens, true);
        assert_eq!(f.to_anthropic(), anthropic::StopReason::MaxTokens);
    }

    #[test]
    fn openai_content_filter_is_a_refusal() {
        let f = Finish::from_openai(openai::FinishReason::ContentFilter);
        assert_eq!(f.to_anthropic(), anthropic::StopReason::Refusal);
    }

    #[test]
    fn anthropic_reasons_map_to_openai() {
        use anthropic::StopReason as S;
        let cases = [
            (S::EndTurn, openai::FinishReason::Stop),
            (S::StopSequence, openai::FinishReason::Stop),
            (S::MaxTokens, openai::FinishReason::Length),
            (S::ToolUse, openai::FinishReason::ToolCalls),
            (S::Refusal, openai::FinishReason::ContentFilter),
            (S::PauseTurn, openai::FinishReason::Stop),
        ];
        for (from, to) in cases {
            assert_eq!(Finish::from_anthropic(from).to_openai(), to, "{from:?}");
        }
    }
}
