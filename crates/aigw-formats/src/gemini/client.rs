//! What a Gemini client sends: the `generateContent` body as read for
//! translation, and the two `countTokens` body shapes.
//!
//! The upstream request type ([`super::GenerateContentRequest`]) carries only
//! what the gateway writes; a client body may also hold things other upstreams
//! cannot do (`cachedContent`, hosted tools such as `googleSearch`,
//! `responseSchema` in Gemini's OpenAPI subset, `thinkingLevel`), so it is
//! read into this type, which names them to refuse or map them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::request::{Content, FunctionDeclaration, ToolConfig};

/// A `generateContent` / `streamGenerateContent` body from a client.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientRequest {
    /// The conversation (required).
    pub contents: Vec<Content>,
    /// System instruction: text parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_instruction: Option<Content>,
    /// Tools: function declarations and hosted tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<ClientTool>>,
    /// Function calling mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig>,
    /// Sampling, limits, output format, thinking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_config: Option<ClientGenerationConfig>,
    /// Safety settings: only Gemini upstreams have them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safety_settings: Option<Vec<Value>>,
    /// A Gemini context cache by name: only the Gemini project that holds it
    /// can use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_content: Option<String>,
}

/// A tool: function declarations, or one hosted tool (`googleSearch`,
/// `codeExecution`, `urlContext`, …) kept by name.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientTool {
    /// The functions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_declarations: Option<Vec<FunctionDeclaration>>,
    /// Every other member: hosted tools only Gemini upstreams run.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// `generationConfig` as a client sends it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientGenerationConfig {
    /// Temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Top-k sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// Output token limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
    /// Number of candidates (other upstreams produce one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate_count: Option<u32>,
    /// Presence penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// Frequency penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// Seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// `text/plain` or `application/json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_mime_type: Option<String>,
    /// Output schema in Gemini's OpenAPI subset (`"type": "OBJECT"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_schema: Option<Value>,
    /// Output schema as full JSON Schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_json_schema: Option<Value>,
    /// Thinking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_config: Option<ClientThinkingConfig>,
}

/// `thinkingConfig` as a client sends it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientThinkingConfig {
    /// Token budget; 0 turns thinking off, -1 lets the model decide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_budget: Option<i64>,
    /// Return thought summaries as `thought` parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_thoughts: Option<bool>,
    /// Gemini 3's coarse control instead of a budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_level: Option<ThinkingLevel>,
}

/// `thinkingLevel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ThinkingLevel {
    /// The model's default.
    ThinkingLevelUnspecified,
    /// As little as the model allows.
    #[serde(alias = "minimal")]
    Minimal,
    /// Little.
    #[serde(alias = "low")]
    Low,
    /// Some.
    #[serde(alias = "medium")]
    Medium,
    /// Much.
    #[serde(alias = "high")]
    High,
}

/// A `countTokens` body: the contents alone, or a whole `generateContent`
/// request (with its model) under `generateContentRequest`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CountTokensRequest {
    /// The contents to count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contents: Option<Vec<Value>>,
    /// A whole request to count (its `model` is ignored: the URL names it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate_content_request: Option<serde_json::Map<String, Value>>,
}

/// The `countTokens` reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CountTokensResponse {
    /// Tokens of the whole prompt.
    pub total_tokens: u64,
    /// Of those, tokens in the context cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_content_token_count: Option<u64>,
}
