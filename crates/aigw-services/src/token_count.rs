//! Token counting: which counter answers a count for a client format on a
//! provider kind, and the local count, with OpenAI's own tokenizers, for
//! upstreams that have no counter.
//!
//! The tokenizers are built once, on the first count that needs one, and
//! shared by every request after it (building one parses a vocabulary of
//! 100–200 thousand entries).

use std::sync::LazyLock;

use aigw_domain::{Format, ProviderKind};
use aigw_formats::openai::{ChatMessage, ChatRequest, ContentPart, FunctionDef, MessageContent};
use tiktoken_rs::CoreBPE;

use crate::RequestError;

/// Who answers a token count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// The upstream's own counting endpoint: an exact count.
    Upstream,
    /// The gateway, with the tokenizer of the model's family: an estimate.
    Estimate,
}

impl Counter {
    /// How a count of a `client` request is answered on an upstream of
    /// `kind`; `None` when it cannot be.
    ///
    /// Anthropic clients (Claude Code counts on every turn) and Gemini
    /// clients always get a number: the upstream's where it has a counter
    /// the gateway can call, else the gateway's estimate. Other clients
    /// have no count endpoint.
    pub const fn of(client: Format, kind: ProviderKind) -> Option<Self> {
        match (client, kind) {
            (
                Format::AnthropicMessages | Format::Gemini,
                ProviderKind::Anthropic | ProviderKind::Gemini,
            ) => Some(Self::Upstream),
            (
                Format::AnthropicMessages | Format::Gemini,
                ProviderKind::Openai | ProviderKind::Antigravity | ProviderKind::Codex,
            ) => Some(Self::Estimate),
            _ => None,
        }
    }

    /// The value of the `x-aigateway-token-count` reply header.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Upstream => "exact",
            Self::Estimate => "estimate",
        }
    }
}

/// The tokens framing each message, a name, and the reply's start, as
/// OpenAI's cookbook counts them for its chat models.
const PER_MESSAGE: u64 = 3;
const PER_NAME: u64 = 1;
const REPLY_PRIMING: u64 = 3;
/// The tokens framing one tool call or one tool definition beyond its text.
const PER_TOOL_CALL: u64 = 3;
const PER_TOOL: u64 = 8;
/// What one image counts: OpenAI's charge for a 1024×1024 image in high
/// detail. The image's real size is not known without decoding it.
const PER_IMAGE: u64 = 765;

/// The tokenizers: `None` if the embedded vocabulary could not be read.
static O200K: LazyLock<Option<CoreBPE>> = LazyLock::new(|| loaded(tiktoken_rs::o200k_base()));
static CL100K: LazyLock<Option<CoreBPE>> = LazyLock::new(|| loaded(tiktoken_rs::cl100k_base()));

fn loaded<E: std::fmt::Display>(built: Result<CoreBPE, E>) -> Option<CoreBPE> {
    built
        .inspect_err(|e| tracing::error!(error = %e, "tokenizer vocabulary unreadable"))
        .ok()
}

/// The tokenizer of `model`'s family: o200k_base for GPT-4o, GPT-4.1, GPT-5
/// and the o-series, cl100k_base for everything else. A provider prefix
/// (`openai/gpt-4o`) is looked through.
fn tokenizer(model: &str) -> Result<&'static CoreBPE, RequestError> {
    let name = model.rsplit('/').next().unwrap_or(model);
    let o_series = name
        .strip_prefix('o')
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()));
    let o200k = o_series
        || ["gpt-4o", "gpt-4.1", "gpt-5", "chatgpt-4o"]
            .iter()
            .any(|p| name.starts_with(p));
    let (bpe, vocabulary) = if o200k {
        (&*O200K, "o200k_base")
    } else {
        (&*CL100K, "cl100k_base")
    };
    bpe.as_ref()
        .ok_or(RequestError::TokenizerUnavailable(vocabulary))
}

/// The prompt tokens of the Chat Completions request `body` for `model`:
/// its messages (system included), tool calls and tool definitions, with
/// the framing tokens OpenAI's chat models add.
///
/// # Errors
/// [`RequestError::BadRequest`] when `body` is not a Chat Completions request,
/// [`RequestError::TokenizerUnavailable`] when the vocabulary cannot be read.
pub fn estimate_chat(model: &str, body: &[u8]) -> Result<u64, RequestError> {
    let request: ChatRequest = serde_json::from_slice(body).map_err(|e| {
        RequestError::BadRequest(aigw_formats::FormatError::InvalidValue {
            path: ".".to_owned(),
            reason: e.to_string(),
        })
    })?;
    let bpe = tokenizer(model)?;
    let count = |text: &str| bpe.encode_ordinary(text).len() as u64;
    let messages: u64 = request.messages.iter().map(|m| message(m, &count)).sum();
    let tools: u64 = request
        .tools
        .iter()
        .flatten()
        .map(|t| tool(&t.function, &count))
        .sum();
    Ok(messages + tools + REPLY_PRIMING)
}

fn message(m: &ChatMessage, count: &impl Fn(&str) -> u64) -> u64 {
    let content = match &m.content {
        None => 0,
        Some(MessageContent::Text(text)) => count(text),
        Some(MessageContent::Items(parts)) => parts
            .iter()
            .map(|part| match part {
                ContentPart::Text { text } => count(text),
                ContentPart::Refusal { refusal } => count(refusal),
                ContentPart::ImageUrl { .. } => PER_IMAGE,
                ContentPart::InputAudio { input_audio: v } | ContentPart::File { file: v } => {
                    count(&v.to_string())
                }
            })
            .sum(),
    };
    let calls: u64 = m
        .tool_calls
        .iter()
        .flatten()
        .map(|c| PER_TOOL_CALL + count(&c.function.name) + count(&c.function.arguments))
        .sum();
    let extra = [&m.reasoning_content, &m.refusal]
        .into_iter()
        .flatten()
        .map(|t| count(t))
        .sum::<u64>();
    let name = m.name.as_deref().map_or(0, |n| PER_NAME + count(n));
    PER_MESSAGE + content + calls + extra + name
}

fn tool(f: &FunctionDef, count: &impl Fn(&str) -> u64) -> u64 {
    PER_TOOL
        + count(&f.name)
        + f.description.as_deref().map_or(0, count)
        + f.parameters.as_ref().map_or(0, |p| count(&p.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_families_pick_their_vocabulary() {
        let o200k = tokenizer("gpt-4o-mini").unwrap();
        for model in ["gpt-4.1", "gpt-5-codex", "o3-mini", "o1", "openai/gpt-4o"] {
            assert!(std::ptr::eq(tokenizer(model).unwrap(), o200k), "{model}");
        }
        let cl100k = tokenizer("gpt-4").unwrap();
        for model in ["gpt-3.5-turbo", "glm-4.6", "deepseek-chat", "omni"] {
            assert!(std::ptr::eq(tokenizer(model).unwrap(), cl100k), "{model}");
        }
    }

    #[test]
    fn a_chat_request_counts_its_text_and_framing() {
        let text = "The quick brown fox jumps over the lazy dog.";
        let words = tiktoken_rs::o200k_base()
            .unwrap()
            .encode_ordinary(text)
            .len() as u64;
        let body = serde_json::json!({
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": text},
                {"role": "user", "content": [{"type": "text", "text": text}]}
            ],
            "tools": [{"type": "function", "function": {"name": "f"}}]
        });
        let n = estimate_chat("gpt-4o", &serde_json::to_vec(&body).unwrap()).unwrap();
        let f = tokenizer("gpt-4o").unwrap().encode_ordinary("f").len() as u64;
        assert_eq!(n, 2 * (PER_MESSAGE + words) + PER_TOOL + f + REPLY_PRIMING);
    }

    #[test]
    fn every_pairing_has_a_counter_or_a_clear_no() {
        use Counter::{Estimate, Upstream};
        let anthropic = Format::AnthropicMessages;
        assert_eq!(
            Counter::of(anthropic, ProviderKind::Anthropic),
            Some(Upstream)
        );
        assert_eq!(Counter::of(anthropic, ProviderKind::Gemini), Some(Upstream));
        assert_eq!(Counter::of(anthropic, ProviderKind::Openai), Some(Estimate));
        assert_eq!(
            Counter::of(anthropic, ProviderKind::Antigravity),
            Some(Estimate)
        );
        assert_eq!(
            Counter::of(Format::Gemini, ProviderKind::Gemini),
            Some(Upstream)
        );
        assert_eq!(
            Counter::of(Format::Gemini, ProviderKind::Anthropic),
            Some(Upstream)
        );
        assert_eq!(
            Counter::of(Format::Gemini, ProviderKind::Openai),
            Some(Estimate)
        );
        assert_eq!(Counter::of(anthropic, ProviderKind::Codex), Some(Estimate));
        assert_eq!(Counter::of(Format::OpenAiChat, ProviderKind::Openai), None);
        assert_eq!(
            Counter::of(Format::OpenAiResponses, ProviderKind::Anthropic),
            None
        );
    }
}
