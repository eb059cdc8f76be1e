//! What the mock answers: the echo default and scripted replies, resolved per request
//! into one [`Plan`] that every wire format renders, streaming or not.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use crate::ids::IdGen;

/// A canned answer a test sets for an account key (or for all keys).
///
/// The mock renders it in whichever wire format the request came in, so a test
/// can assert that the gateway translates text, thinking, tool calls, finish
/// reasons and usage correctly.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reply {
    /// Assistant text; `None` means no text block.
    pub text: Option<String>,
    /// Reasoning text: Anthropic `thinking` block, OpenAI-compatible
    /// `reasoning_content`, Gemini `thought: true` part.
    pub thinking: Option<String>,
    /// Signature for the thinking block; generated when `None`.
    pub thinking_signature: Option<String>,
    /// Tool calls, in order; several make a parallel call.
    pub tool_calls: Vec<ToolCall>,
    /// Token usage; derived from the request and reply sizes when `None`.
    pub usage: Option<Usage>,
    /// Why generation stopped; `ToolCalls` when there are tool calls, else `Stop`.
    pub finish: Option<Finish>,
}

impl Reply {
    /// A reply with just this text.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: Some(text.into()),
            ..Self::default()
        }
    }

    /// A reply with just one tool call.
    pub fn tool_call(name: impl Into<String>, arguments: serde_json::Value) -> Self {
        Self::default().with_tool_call(name, arguments)
    }

    /// Sets the text.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// Sets the reasoning text.
    pub fn with_thinking(mut self, thinking: impl Into<String>) -> Self {
        self.thinking = Some(thinking.into());
        self
    }

    /// Sets the thinking signature.
    pub fn with_thinking_signature(mut self, signature: impl Into<String>) -> Self {
        self.thinking_signature = Some(signature.into());
        self
    }

    /// Adds a tool call with a generated, wire-shaped id.
    pub fn with_tool_call(mut self, name: impl Into<String>, arguments: serde_json::Value) -> Self {
        self.tool_calls.push(ToolCall {
            id: None,
            name: name.into(),
            arguments,
        });
        self
    }

    /// Adds a tool call with a fixed id (used verbatim in every wire format).
    pub fn with_tool_call_id(
        mut self,
        id: impl Into<String>,
        name: impl Into<String>,
        arguments: serde_json::Value,
    ) -> Self {
        self.tool_calls.push(ToolCall {
            id: Some(id.into()),
            name: name.into(),
            arguments,
        });
        self
    }

    /// Sets the usage numbers.
    pub fn with_usage(mut self, usage: Usage) -> Self {
        self.usage = Some(usage);
        self
    }

    /// Sets the finish reason.
    pub fn with_finish(mut self, finish: Finish) -> Self {
        self.finish = Some(finish);
        self
    }
}

/// One tool call in a scripted reply.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// Fixed id, or `None` for a generated `call_…` / `toolu_01…` id (Gemini sends none).
    pub id: Option<String>,
    /// Function name.
    pub name: String,
    /// Arguments; an object for every real provider.
    pub arguments: serde_json::Value,
}

/// Token usage in wire-neutral terms. Each wire maps it the way the real API counts:
///
/// - OpenAI: `prompt_tokens = prompt_tokens`, `prompt_tokens_details.cached_tokens =
///   cached_tokens`, `completion_tokens = completion_tokens`,
///   `completion_tokens_details.reasoning_tokens = reasoning_tokens`.
/// - Anthropic: `input_tokens = prompt_tokens - cached_tokens - cache_creation_tokens`,
///   `cache_read_input_tokens = cached_tokens`, `cache_creation_input_tokens =
///   cache_creation_tokens`, `output_tokens = completion_tokens`.
/// - Gemini: `promptTokenCount = prompt_tokens`, `cachedContentTokenCount =
///   cached_tokens`, `candidatesTokenCount = completion_tokens - reasoning_tokens`,
///   `thoughtsTokenCount = reasoning_tokens`, `totalTokenCount = prompt + completion`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// All prompt tokens, cached ones included.
    pub prompt_tokens: u32,
    /// All output tokens, reasoning included.
    pub completion_tokens: u32,
    /// Prompt tokens read from cache.
    pub cached_tokens: u32,
    /// Prompt tokens written to cache (Anthropic only).
    pub cache_creation_tokens: u32,
    /// Output tokens spent on reasoning.
    pub reasoning_tokens: u32,
}

impl Usage {
    /// Plain prompt/completion counts.
    pub fn new(prompt_tokens: u32, completion_tokens: u32) -> Self {
        Self {
            prompt_tokens,
            completion_tokens,
            ..Self::default()
        }
    }

    /// Prompt plus completion.
    pub fn total(&self) -> u32 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }
}

/// Why generation stopped, mapped to each wire's own value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// Natural end: `stop` / `end_turn` / `STOP`.
    Stop,
    /// Output limit: `length` / `max_tokens` / `MAX_TOKENS`.
    Length,
    /// Tool calls: `tool_calls` / `tool_use` / `STOP` (Gemini has no own value).
    ToolCalls,
    /// Filtered: `content_filter` / `refusal` / `SAFETY`.
    ContentFilter,
}

/// Scripted replies by account key plus a default; the echo reply applies otherwise.
#[derive(Debug, Default)]
pub(crate) struct Replies {
    /// Only locked for a lookup, never across an await; `armed` lets the echo
    /// path skip the lock when no script is set.
    table: Mutex<ReplyTable>,
    armed: AtomicBool,
}

#[derive(Debug, Default)]
struct ReplyTable {
    by_key: HashMap<String, Arc<Reply>>,
    default: Option<Arc<Reply>>,
}

impl Replies {
    pub(crate) fn set(&self, key: Option<&str>, reply: Reply) {
        let mut table = self.table.lock();
        match key {
            Some(key) => {
                table.by_key.insert(key.to_owned(), Arc::new(reply));
            }
            None => table.default = Some(Arc::new(reply)),
        }
        self.armed.store(true, Ordering::Release);
    }

    pub(crate) fn clear(&self) {
        let mut table = self.table.lock();
        *table = ReplyTable::default();
        self.armed.store(false, Ordering::Release);
    }

    pub(crate) fn get(&self, key: Option<&str>) -> Option<Arc<Reply>> {
        if !self.armed.load(Ordering::Acquire) {
            return None;
        }
        let table = self.table.lock();
        key.and_then(|k| table.by_key.get(k))
            .or(table.default.as_ref())
            .cloned()
    }
}

/// A tool call ready to render: arguments kept both as a value and as JSON text.
#[derive(Debug)]
pub(crate) struct PlannedCall {
    pub(crate) id: Option<String>,
    pub(crate) name: String,
    pub(crate) arguments: serde_json::Value,
    pub(crate) arguments_json: String,
}

/// Everything one response says, independent of the wire format.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) model: String,
    pub(crate) text: String,
    pub(crate) thinking: Option<String>,
    pub(crate) signature: String,
    pub(crate) tool_calls: Vec<PlannedCall>,
    pub(crate) usage: Usage,
    pub(crate) finish: Finish,
}

impl Plan {
    /// Resolves the reply for one request: the script if any, else `echo: <user text>`.
    ///
    /// `request_len` (the body size) stands in for the prompt token count when
    /// the script gives none: about four bytes per token, as the providers' own
    /// rule of thumb says.
    pub(crate) fn new(
        script: Option<&Reply>,
        model: &str,
        user_text: &str,
        request_len: usize,
        ids: &IdGen,
    ) -> Result<Self, serde_json::Error> {
        let prompt_estimate = u32::try_from(request_len / 4).unwrap_or(u32::MAX).max(1);
        let Some(script) = script else {
            let text = format!("echo: {user_text}");
            let completion = count_pieces(&text);
            return Ok(Self {
                model: model.to_owned(),
                text,
                thinking: None,
                signature: String::new(),
                tool_calls: Vec::new(),
                usage: Usage::new(prompt_estimate, completion),
                finish: Finish::Stop,
            });
        };
        let mut tool_calls = Vec::with_capacity(script.tool_calls.len());
        for call in &script.tool_calls {
            tool_calls.push(PlannedCall {
                id: call.id.clone(),
                name: call.name.clone(),
                arguments_json: serde_json::to_string(&call.arguments)?,
                arguments: call.arguments.clone(),
            });
        }
        let text = script.text.clone().unwrap_or_default();
        let usage = script.usage.unwrap_or_else(|| {
            let reasoning = script.thinking.as_deref().map_or(0, count_pieces);
            let tools = tool_calls
                .iter()
                .map(|c| count_pieces(&c.arguments_json) + 1)
                .sum::<u32>();
            Usage {
                reasoning_tokens: reasoning,
                ..Usage::new(prompt_estimate, count_pieces(&text) + reasoning + tools)
            }
        });
        let finish = script.finish.unwrap_or(if tool_calls.is_empty() {
            Finish::Stop
        } else {
            Finish::ToolCalls
        });
        let signature = match (&script.thinking, &script.thinking_signature) {
            (_, Some(sig)) => sig.clone(),
            (Some(_), None) => ids.with_prefix("Eq", 86),
            (None, None) => String::new(),
        };
        Ok(Self {
            model: model.to_owned(),
            text,
            thinking: script.thinking.clone(),
            signature,
            tool_calls,
            usage,
            finish,
        })
    }
}

/// Splits text into word-sized stream pieces: each piece is a run of whitespace
/// followed by a word, so the pieces concatenate back to the input exactly.
pub(crate) fn pieces(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut seen_word = false;
        let mut end = rest.len();
        for (i, c) in rest.char_indices() {
            if c.is_whitespace() {
                if seen_word {
                    end = i;
                    break;
                }
            } else {
                seen_word = true;
            }
        }
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some(piece)
    })
}

fn count_pieces(text: &str) -> u32 {
    u32::try_from(pieces(text).count()).unwrap_or(u32::MAX)
}

/// Splits `text` into about `n` fragments on char boundaries (tool arguments
/// stream in several fragments, as the real APIs send them).
pub(crate) fn fragments(text: &str, n: usize) -> Vec<&str> {
    let n = n.max(1);
    let step = text.len().div_ceil(n).max(1);
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + step).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        out.push(&text[start..end]);
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_concatenate_back_to_the_text() {
        for text in [
            "echo: hello  world",
            "  lead",
            "one",
            "",
            "a\nb c ",
            "héllo wörld ü",
        ] {
            let parts: Vec<&str> = pieces(text).collect();
            assert_eq!(parts.concat(), text);
            assert!(parts.iter().all(|p| !p.is_empty()));
        }
        assert_eq!(
            pieces("echo: hi there").collect::<Vec<_>>(),
            ["echo:", " hi", " there"]
        );
    }

    #[test]
    fn fragments_split_on_char_boundaries() {
        let text = r#"{"city":"Zürich","unit":"c"}"#;
        let parts = fragments(text, 3);
        assert!(parts.len() >= 2);
        assert_eq!(parts.concat(), text);
        assert_eq!(fragments("", 3), Vec::<&str>::new());
    }

    #[test]
    fn echo_plan_quotes_the_user_and_counts_tokens() {
        let ids = IdGen::new();
        let plan = Plan::new(None, "m", "hi there", 400, &ids).unwrap();
        assert_eq!(plan.text, "echo: hi there");
        assert_eq!(plan.usage, Usage::new(100, 3));
        assert_eq!(plan.finish, Finish::Stop);
    }

    #[test]
    fn scripted_tool_calls_default_to_the_tool_finish() {
        let ids = IdGen::new();
        let reply = Reply::tool_call("get_weather", serde_json::json!({"city": "Paris"}))
            .with_thinking("let me look");
        let plan = Plan::new(Some(&reply), "m", "", 8, &ids).unwrap();
        assert_eq!(plan.finish, Finish::ToolCalls);
        assert_eq!(plan.tool_calls[0].arguments_json, r#"{"city":"Paris"}"#);
        assert!(!plan.signature.is_empty());
        assert_eq!(plan.usage.reasoning_tokens, 3);
    }
}
