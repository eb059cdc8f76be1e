//! Wire formats spoken by clients and upstreams, and the kinds of upstream provider.

use serde::{Deserialize, Serialize};

/// The wire format of a request or response body.
///
/// Clients speak [`Format::OpenAiChat`], [`Format::AnthropicMessages`],
/// [`Format::OpenAiResponses`] or [`Format::Gemini`] (the request path decides
/// which); upstreams speak one format per [`ProviderKind`]. Antigravity is
/// only ever an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// OpenAI Chat Completions (`/v1/chat/completions`).
    OpenAiChat,
    /// Anthropic Messages (`/v1/messages`).
    AnthropicMessages,
    /// OpenAI Responses (`/v1/responses`), as Codex CLI and the OpenAI SDK's
    /// `responses` client speak it.
    OpenAiResponses,
    /// Gemini `generateContent` / `streamGenerateContent`.
    Gemini,
    /// Gemini wrapped in the Antigravity `v1internal` envelope.
    Antigravity,
}

impl Format {
    /// A short, stable, low-cardinality name (metric labels, logs).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OpenAiChat => "openai",
            Self::AnthropicMessages => "anthropic",
            Self::OpenAiResponses => "responses",
            Self::Gemini => "gemini",
            Self::Antigravity => "antigravity",
        }
    }
}

/// The kind of an upstream provider: decides its wire format, auth header style and URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// Any OpenAI-compatible Chat Completions upstream (OpenAI, GLM, DeepSeek, vLLM, ...).
    Openai,
    /// Anthropic Messages API.
    Anthropic,
    /// Google Gemini API (`x-goog-api-key`).
    Gemini,
    /// Google Antigravity (`v1internal`, OAuth bearer).
    Antigravity,
    /// The ChatGPT Codex backend: OpenAI Responses for ChatGPT-plan OAuth
    /// accounts, streaming only.
    Codex,
}

impl ProviderKind {
    /// The wire format this kind of upstream speaks.
    pub const fn format(self) -> Format {
        match self {
            Self::Openai => Format::OpenAiChat,
            Self::Anthropic => Format::AnthropicMessages,
            Self::Gemini => Format::Gemini,
            Self::Antigravity => Format::Antigravity,
            Self::Codex => Format::OpenAiResponses,
        }
    }

    /// Whether the upstream only answers with a stream: a request that does
    /// not stream is sent as a stream and its answer read back whole.
    pub const fn streams_only(self) -> bool {
        matches!(self, Self::Codex)
    }

    /// A short, stable name (config, database, metric labels).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Openai => "openai",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
            Self::Antigravity => "antigravity",
            Self::Codex => "codex",
        }
    }
}

impl std::fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ProviderKind {
    type Err = crate::DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "openai" => Ok(Self::Openai),
            "anthropic" => Ok(Self::Anthropic),
            "gemini" => Ok(Self::Gemini),
            "antigravity" => Ok(Self::Antigravity),
            "codex" => Ok(Self::Codex),
            other => Err(crate::DomainError::UnknownProviderKind(other.to_owned())),
        }
    }
}
