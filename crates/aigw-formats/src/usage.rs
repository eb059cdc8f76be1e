//! Normalised token usage: what every translation extracts for stats.
//!
//! The formats count differently, so this type fixes one meaning:
//! - `input_tokens` is every prompt token, cached or not (OpenAI `prompt_tokens`,
//!   Gemini `promptTokenCount`, Anthropic `input_tokens + cache_read + cache_creation`);
//! - `cached_input_tokens` and `cache_creation_tokens` are parts of `input_tokens`;
//! - `output_tokens` is every generated token including reasoning (OpenAI
//!   `completion_tokens`, Anthropic `output_tokens`, Gemini `candidates + thoughts`);
//! - `reasoning_tokens` is the part of `output_tokens` spent thinking, when known.

use serde::{Deserialize, Serialize};

use crate::{anthropic, gemini, openai, responses};

/// Token usage of one request, in the gateway's own terms (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Usage {
    /// All prompt tokens, including cached and cache-creation tokens.
    pub input_tokens: u64,
    /// All generated tokens, including reasoning tokens.
    pub output_tokens: u64,
    /// Prompt tokens served from a cache (part of `input_tokens`).
    pub cached_input_tokens: u64,
    /// Prompt tokens written to a cache (part of `input_tokens`; Anthropic only).
    pub cache_creation_tokens: u64,
    /// Output tokens spent on reasoning (part of `output_tokens`).
    pub reasoning_tokens: u64,
}

impl Usage {
    /// From an OpenAI `usage` object.
    pub fn from_openai(u: &openai::ChatUsage) -> Self {
        Self {
            input_tokens: u.prompt_tokens,
            output_tokens: u.completion_tokens,
            cached_input_tokens: u
                .prompt_tokens_details
                .as_ref()
                .and_then(|d| d.cached_tokens)
                .unwrap_or(0),
            cache_creation_tokens: 0,
            reasoning_tokens: u
                .completion_tokens_details
                .as_ref()
                .and_then(|d| d.reasoning_tokens)
                .unwrap_or(0),
        }
    }

    /// From an Anthropic `usage` object (a full one, as in a response or `message_start`).
    pub fn from_anthropic(u: &anthropic::Usage) -> Self {
        let cached = u.cache_read_input_tokens.unwrap_or(0);
        let creation = u.cache_creation_input_tokens.unwrap_or(0);
        Self {
            input_tokens: u
                .input_tokens
                .saturating_add(cached)
                .saturating_add(creation),
            output_tokens: u.output_tokens,
            cached_input_tokens: cached,
            cache_creation_tokens: creation,
            reasoning_tokens: 0,
        }
    }

    /// From Gemini `usageMetadata`.
    pub fn from_gemini(u: &gemini::UsageMetadata) -> Self {
        let thoughts = u.thoughts_token_count.unwrap_or(0);
        Self {
            input_tokens: u.prompt_token_count.unwrap_or(0),
            output_tokens: u
                .candidates_token_count
                .unwrap_or(0)
                .saturating_add(thoughts),
            cached_input_tokens: u.cached_content_token_count.unwrap_or(0),
            cache_creation_tokens: 0,
            reasoning_tokens: thoughts,
        }
    }

    /// As Gemini `usageMetadata`: candidates exclude thoughts; the cached and
    /// thought counts are written only when there are some.
    pub fn to_gemini(&self) -> gemini::UsageMetadata {
        gemini::UsageMetadata {
            prompt_token_count: Some(self.input_tokens),
            candidates_token_count: Some(self.output_tokens.saturating_sub(self.reasoning_tokens)),
            total_token_count: Some(self.input_tokens.saturating_add(self.output_tokens)),
            cached_content_token_count: (self.cached_input_tokens > 0)
                .then_some(self.cached_input_tokens),
            thoughts_token_count: (self.reasoning_tokens > 0).then_some(self.reasoning_tokens),
            tool_use_prompt_token_count: None,
        }
    }

    /// From an OpenAI Responses `usage` object.
    pub fn from_responses(u: &responses::ResponseUsage) -> Self {
        Self {
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
            cached_input_tokens: u.input_tokens_details.cached_tokens,
            cache_creation_tokens: 0,
            reasoning_tokens: u.output_tokens_details.reasoning_tokens,
        }
    }

    /// As an OpenAI Responses `usage` object.
    pub fn to_responses(&self) -> responses::ResponseUsage {
        responses::ResponseUsage {
            input_tokens: self.input_tokens,
            input_tokens_details: responses::InputTokensDetails {
                cached_tokens: self.cached_input_tokens,
            },
            output_tokens: self.output_tokens,
            output_tokens_details: responses::OutputTokensDetails {
                reasoning_tokens: self.reasoning_tokens,
            },
            total_tokens: self.input_tokens.saturating_add(self.output_tokens),
        }
    }

    /// As an OpenAI `usage` object.
    pub fn to_openai(&self) -> openai::ChatUsage {
        openai::ChatUsage {
            prompt_tokens: self.input_tokens,
            completion_tokens: self.output_tokens,
            total_tokens: self.input_tokens.saturating_add(self.output_tokens),
            prompt_tokens_details: Some(openai::PromptTokensDetails {
                cached_tokens: Some(self.cached_input_tokens),
                audio_tokens: None,
            }),
            // Only Gemini and OpenAI count reasoning apart; a 0 would claim none was spent.
            completion_tokens_details: (self.reasoning_tokens > 0).then_some(
                openai::CompletionTokensDetails {
                    reasoning_tokens: Some(self.reasoning_tokens),
                    audio_tokens: None,
                    accepted_prediction_tokens: None,
                    rejected_prediction_tokens: None,
                },
            ),
        }
    }

    /// As an Anthropic `usage` object, whose `input_tokens` exclude cache reads and writes.
    pub fn to_anthropic(&self) -> anthropic::Usage {
        anthropic::Usage {
            input_tokens: self
                .input_tokens
                .saturating_sub(self.cached_input_tokens)
                .saturating_sub(self.cache_creation_tokens),
            output_tokens: self.output_tokens,
            cache_creation_input_tokens: Some(self.cache_creation_tokens),
            cache_read_input_tokens: Some(self.cached_input_tokens),
        }
    }
}

/// Only the usage part of a response body; the rest is skipped unparsed.
#[derive(serde::Deserialize)]
struct OpenAiUsageOnly {
    #[serde(default)]
    usage: Option<openai::ChatUsage>,
}

#[derive(serde::Deserialize)]
struct ResponsesUsageOnly {
    #[serde(default)]
    usage: Option<responses::ResponseUsage>,
}

#[derive(serde::Deserialize)]
struct AnthropicUsageOnly {
    #[serde(default)]
    usage: Option<anthropic::Usage>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct GeminiUsageOnly {
    #[serde(default)]
    usage_metadata: Option<gemini::UsageMetadata>,
}

#[derive(serde::Deserialize)]
struct AntigravityUsageOnly {
    #[serde(default)]
    response: Option<GeminiUsageOnly>,
}

impl Usage {
    /// The usage of a whole (non-stream) response body of `format`, without
    /// parsing anything but the usage object. A body without usage gives zeros.
    ///
    /// # Errors
    /// [`crate::FormatError::UpstreamResponse`] when the body is not JSON or the usage is mistyped.
    pub fn from_response_body(
        format: aigw_domain::Format,
        body: &[u8],
    ) -> Result<Self, crate::FormatError> {
        use crate::json::parse_upstream;
        use aigw_domain::Format;
        Ok(match format {
            Format::OpenAiChat => parse_upstream::<OpenAiUsageOnly>(body)?
                .usage
                .map(|u| Self::from_openai(&u)),
            Format::AnthropicMessages => parse_upstream::<AnthropicUsageOnly>(body)?
                .usage
                .map(|u| Self::from_anthropic(&u)),
            Format::OpenAiResponses => parse_upstream::<ResponsesUsageOnly>(body)?
                .usage
                .map(|u| Self::from_responses(&u)),
            Format::Gemini => parse_upstream::<GeminiUsageOnly>(body)?
                .usage_metadata
                .map(|u| Self::from_gemini(&u)),
            Format::Antigravity => parse_upstream::<AntigravityUsageOnly>(body)?
                .response
                .and_then(|r| r.usage_metadata)
                .map(|u| Self::from_gemini(&u)),
        }
        .unwrap_or_default())
    }
}
