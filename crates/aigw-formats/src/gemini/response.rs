//! Gemini `generateContent` response (also each streamed chunk) and `usageMetadata`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::request::Content;

/// A response, or one chunk of `streamGenerateContent`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentResponse {
    /// Candidates (one unless `candidateCount` was set; none when the prompt was blocked).
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    /// Token usage (cumulative in streams).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_metadata: Option<UsageMetadata>,
    /// Model version that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    /// Response id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
    /// Why the prompt was blocked, kept as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_feedback: Option<Value>,
}

/// One candidate.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    /// The generated content (absent when blocked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    /// Why it stopped; absent until the last chunk of a stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<FinishReason>,
    /// Candidate index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
}

/// `finishReason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FinishReason {
    /// Unspecified.
    FinishReasonUnspecified,
    /// Natural stop or stop sequence (also after function calls).
    Stop,
    /// Token limit.
    MaxTokens,
    /// Safety filter.
    Safety,
    /// Recitation filter.
    Recitation,
    /// Unsupported language.
    Language,
    /// Other.
    Other,
    /// Blocklisted terms.
    Blocklist,
    /// Prohibited content.
    ProhibitedContent,
    /// Personal data.
    Spii,
    /// The model produced an invalid function call.
    MalformedFunctionCall,
    /// Image safety filter.
    ImageSafety,
    /// Prohibited image content.
    ImageProhibitedContent,
    /// Image recitation.
    ImageRecitation,
    /// A tool call when none was allowed.
    UnexpectedToolCall,
    /// Too many tool calls.
    TooManyToolCalls,
    /// A reason this gateway does not know yet.
    #[serde(other)]
    Unknown,
}

/// `usageMetadata`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageMetadata {
    /// Prompt tokens, cached included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_token_count: Option<u64>,
    /// Output tokens, thoughts excluded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidates_token_count: Option<u64>,
    /// Total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_token_count: Option<u64>,
    /// Prompt tokens from the context cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_content_token_count: Option<u64>,
    /// Thinking tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thoughts_token_count: Option<u64>,
    /// Tokens of tool-use prompts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use_prompt_token_count: Option<u64>,
}
