//! The neutral form every cross-format translation goes through.
//!
//! Client requests (OpenAI Chat, Anthropic, OpenAI Responses) are read into a
//! [`Conversation`]; each upstream format is written from it. Upstream
//! responses are read into a [`Reply`]; each client format is written from
//! it. So every mapping rule (tool ids, tool result names, images, reasons,
//! thinking) lives in one place per side instead of once per pair.

use serde_json::Value;

use crate::Usage;
use crate::openai::ReasoningEffort;
use crate::reasons::Finish;

/// A request in neutral form.
#[derive(Debug, Clone, Default)]
pub(crate) struct Conversation {
    /// Every system block or system/developer message, in order.
    pub system: Vec<String>,
    /// The turns, consecutive same-speaker turns merged.
    pub turns: Vec<Turn>,
    pub tools: Vec<ToolDef>,
    pub tool_choice: Option<ToolChoice>,
    /// `Some(false)` when the client asked for at most one tool call per turn.
    pub parallel_tool_calls: Option<bool>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u32>,
    pub stop: Vec<String>,
    pub thinking: Option<Thinking>,
    pub output: Option<OutputFormat>,
    pub user: Option<String>,
    pub seed: Option<i64>,
    pub presence_penalty: Option<f64>,
    pub frequency_penalty: Option<f64>,
}

/// Who speaks a turn. Tool results are spoken by the user, as in Anthropic and Gemini.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Speaker {
    User,
    Assistant,
}

#[derive(Debug, Clone)]
pub(crate) struct Turn {
    pub speaker: Speaker,
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone)]
pub(crate) enum Part {
    Text(String),
    Image(Image),
    Document(Document),
    ToolCall(ToolCall),
    ToolResult(ToolResult),
    Thinking {
        text: String,
        signature: Option<String>,
    },
    RedactedThinking(String),
}

#[derive(Debug, Clone)]
pub(crate) struct ToolCall {
    pub id: String,
    pub name: String,
    /// Always a JSON object.
    pub arguments: Value,
}

#[derive(Debug, Clone)]
pub(crate) struct ToolResult {
    pub call_id: String,
    /// Text, images and documents only.
    pub content: Vec<Part>,
    pub is_error: bool,
    /// Where the result was in the client body, for error messages.
    pub path: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Image {
    pub source: ImageSource,
    /// Where the image was in the client body, for error messages.
    pub path: String,
}

#[derive(Debug, Clone)]
pub(crate) enum ImageSource {
    /// Validated base64.
    Base64 {
        media_type: String,
        data: String,
    },
    Url(String),
}

/// A document (a PDF, inline or by URL). Plain-text documents are read as text parts.
#[derive(Debug, Clone)]
pub(crate) struct Document {
    pub source: DocumentSource,
    pub title: Option<String>,
    /// Where the document was in the client body, for error messages.
    pub path: String,
}

#[derive(Debug, Clone)]
pub(crate) enum DocumentSource {
    /// Validated base64.
    Base64 {
        media_type: String,
        data: String,
    },
    Url(String),
}

impl Document {
    /// A file name for upstreams that want one (OpenAI `file` parts).
    pub(crate) fn filename(&self) -> String {
        match &self.title {
            Some(title) if !title.trim().is_empty() => title.clone(),
            _ => "document.pdf".to_owned(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ToolDef {
    pub name: String,
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    pub parameters: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ToolChoice {
    Auto,
    /// Some tool must be called.
    Required,
    None,
    Named(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Thinking {
    /// An explicit token budget (Anthropic `budget_tokens`).
    Budget(u32),
    /// A coarse effort (OpenAI `reasoning_effort`).
    Effort(ReasoningEffort),
    /// The model decides how much to think (Anthropic `adaptive`), within an
    /// effort when one was given.
    Adaptive(Option<ReasoningEffort>),
    Disabled,
}

#[derive(Debug, Clone)]
pub(crate) enum OutputFormat {
    JsonObject,
    JsonSchema { name: String, schema: Option<Value> },
}

/// A whole response in neutral form.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub parts: Vec<ReplyPart>,
    pub finish: Finish,
    pub stop_sequence: Option<String>,
    pub usage: Usage,
}

#[derive(Debug, Clone)]
pub(crate) enum ReplyPart {
    Text(String),
    Thinking {
        text: String,
        signature: Option<String>,
    },
    RedactedThinking(String),
    /// `id` is `None` when the upstream gave none (Gemini); the writer generates one.
    ToolCall {
        id: Option<String>,
        name: String,
        arguments: Value,
    },
}
