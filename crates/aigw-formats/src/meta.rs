//! Cheap first look at a client request: model, stream flag, include_usage,
//! the conversation it belongs to (see [`crate::conversation`]), and enough
//! validation of the top level to answer 400 naming the field.
//!
//! Only the top level and each message's `role` are typed here (the rest is
//! skipped, though still checked to be well-formed JSON), so that a same-format request carrying fields or blocks
//! this gateway does not know still goes through untouched.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use aigw_domain::Format;
use serde::de::{IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::FormatError;
use crate::context::UpstreamTarget;
use crate::conversation::{ConversationKey, ConversationSource, FirstTurns, raw_text};
use crate::json::parse_request;

/// The longest model name accepted, in bytes. Real model ids are a few dozen
/// bytes; the name is the client's own choice, and it travels into logs,
/// upstream URLs and error messages, so it is bounded before anything else
/// looks at it.
pub const MAX_MODEL_BYTES: usize = 256;

/// What the data plane needs before routing a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestMeta {
    /// The client format the body was parsed as.
    pub format: Format,
    /// Requested model (the routing key).
    pub model: String,
    /// The client asked for a stream.
    pub stream: bool,
    /// OpenAI only: the client asked for a final usage chunk.
    pub include_usage: bool,
    /// Responses only: the stored response this request continues, which
    /// only the upstream account that created it can serve.
    pub previous_response_id: Option<String>,
    /// Responses only: the client sent `store: false`, so the upstream keeps
    /// no copy of the response and no follow-up can continue it.
    pub unstored: bool,
    /// Responses only: the names of the client's `namespace` tools, whose
    /// functions other upstreams see as `{namespace}__{name}`.
    pub tool_namespaces: Vec<String>,
    /// Where the key of the conversation the request belongs to comes
    /// from: the id the body gives, or its first turns (a header may name
    /// it too: the data plane's choice wins over this one).
    pub conversation: Option<ConversationSource>,
}

/// One message, as far as every request is checked: its `role` must be a
/// string. The value is not checked here, so that a same-format request with
/// a role this gateway does not know still goes through; translation checks
/// it.
#[derive(Deserialize)]
struct MessageTop {
    #[expect(dead_code, reason = "parsed only to check that `role` is a string")]
    role: AnyString,
}

/// Any string, not kept.
struct AnyString;

impl<'de> Deserialize<'de> for AnyString {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(AnyStringVisitor)
    }
}

struct AnyStringVisitor;

impl serde::de::Visitor<'_> for AnyStringVisitor {
    type Value = AnyString;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<AnyString, E> {
        Ok(AnyString)
    }
}

#[derive(Deserialize)]
struct OpenAiTop<'a> {
    model: String,
    #[serde(borrow)]
    messages: Turns<'a, ChatLead<'a>, MessageTop>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<OpenAiStreamOptions>,
    #[serde(default, borrow)]
    prompt_cache_key: Option<&'a RawValue>,
    #[serde(default, borrow)]
    user: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct OpenAiStreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

#[derive(Deserialize)]
struct AnthropicTop<'a> {
    model: String,
    #[serde(borrow)]
    messages: Turns<'a, ChatLead<'a>, MessageTop>,
    #[serde(default, borrow)]
    system: Option<&'a RawValue>,
    #[serde(default, borrow)]
    metadata: Option<&'a RawValue>,
    #[expect(
        dead_code,
        reason = "parsed only to check that `max_tokens` is present and an integer"
    )]
    max_tokens: u32,
    #[serde(default)]
    stream: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GeminiTop<'a> {
    #[serde(borrow)]
    contents: Turns<'a, GeminiLead<'a>, IgnoredAny>,
    #[serde(default, borrow)]
    system_instruction: Option<&'a RawValue>,
    /// Code Assist's request field (Gemini CLI in its OAuth mode).
    #[serde(default, borrow, rename = "session_id")]
    session_id: Option<&'a RawValue>,
    #[expect(dead_code, reason = "parsed only to check that `tools` is an array")]
    #[serde(default)]
    tools: Option<Vec<IgnoredAny>>,
    #[expect(
        dead_code,
        reason = "parsed only to check that `safetySettings` is an array"
    )]
    #[serde(default)]
    safety_settings: Option<Vec<IgnoredAny>>,
    #[expect(
        dead_code,
        reason = "parsed only to check that `cachedContent` is a string"
    )]
    #[serde(default)]
    cached_content: Option<String>,
}

#[derive(Deserialize)]
struct ResponsesTop<'a> {
    model: String,
    #[serde(default, borrow)]
    input: Option<ResponsesInput<'a, ResponsesLead<'a>>>,
    #[serde(default, borrow)]
    instructions: Option<&'a RawValue>,
    #[serde(default, borrow)]
    prompt_cache_key: Option<&'a RawValue>,
    #[serde(default, borrow)]
    user: Option<&'a RawValue>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    previous_response_id: Option<String>,
    #[serde(default)]
    store: Option<bool>,
    #[serde(default)]
    tools: Option<Vec<ResponsesToolTop>>,
}

/// A leading message of a conversation, as far as its key needs it: the
/// role (a string, checked as for every message) and the raw content.
#[derive(Deserialize)]
struct ChatLead<'a> {
    #[serde(borrow)]
    role: Cow<'a, str>,
    #[serde(default, borrow)]
    content: Option<&'a RawValue>,
}

/// A leading Gemini content: its role (absent means the user) and parts.
#[derive(Deserialize)]
struct GeminiLead<'a> {
    #[serde(default, borrow)]
    role: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    parts: Option<&'a RawValue>,
}

/// A leading Responses input item: a message has a role and content; other
/// items (calls, outputs) count as the end of the first turns.
#[derive(Deserialize)]
struct ResponsesLead<'a> {
    #[serde(default, borrow)]
    role: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    content: Option<&'a RawValue>,
}

/// What a leading turn gives the conversation key.
trait Lead<'a> {
    fn role(&self) -> Option<&str>;
    fn content(&self) -> Option<&'a RawValue>;
}

impl<'a> Lead<'a> for ChatLead<'a> {
    fn role(&self) -> Option<&str> {
        Some(&self.role)
    }
    fn content(&self) -> Option<&'a RawValue> {
        self.content
    }
}

impl<'a> Lead<'a> for GeminiLead<'a> {
    fn role(&self) -> Option<&str> {
        Some(self.role.as_deref().unwrap_or("user"))
    }
    fn content(&self) -> Option<&'a RawValue> {
        self.parts
    }
}

impl<'a> Lead<'a> for ResponsesLead<'a> {
    fn role(&self) -> Option<&str> {
        self.role.as_deref()
    }
    fn content(&self) -> Option<&'a RawValue> {
        self.content
    }
}

/// A message array read once: the leading messages (up to the first user
/// message) as `L`, hashed into the conversation's first turns, the others
/// as `R` (checked only). Nothing is collected.
struct Turns<'a, L, R> {
    first: FirstTurns<'a>,
    _items: PhantomData<fn() -> (L, R)>,
}

impl<'de: 'a, 'a, L: Lead<'a> + Deserialize<'de>, R: Deserialize<'de>> Deserialize<'de>
    for Turns<'a, L, R>
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(TurnsVisitor::<'a, L, R>(PhantomData))
    }
}

/// What a [`Turns`] reads, as a type only.
type TurnsOf<'a, L, R> = fn() -> (&'a (), L, R);

struct TurnsVisitor<'a, L, R>(PhantomData<TurnsOf<'a, L, R>>);

impl<'de: 'a, 'a, L: Lead<'a> + Deserialize<'de>, R: Deserialize<'de>> Visitor<'de>
    for TurnsVisitor<'a, L, R>
{
    type Value = Turns<'a, L, R>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Ok(Turns {
            first: read_turns::<L, R, A>(seq, FirstTurns::default())?,
            _items: PhantomData,
        })
    }
}

fn read_turns<'de: 'a, 'a, L, R, A>(
    mut seq: A,
    mut first: FirstTurns<'a>,
) -> Result<FirstTurns<'a>, A::Error>
where
    L: Lead<'a> + Deserialize<'de>,
    R: Deserialize<'de>,
    A: SeqAccess<'de>,
{
    while !first.complete() {
        match seq.next_element::<L>()? {
            Some(lead) => first.push(lead.role(), lead.content()),
            None => return Ok(first),
        }
    }
    while seq.next_element::<R>()?.is_some() {}
    Ok(first)
}

/// A Responses `input`: a string (one user message) or an array of items.
struct ResponsesInput<'a, L> {
    first: FirstTurns<'a>,
    _items: PhantomData<fn() -> L>,
}

impl<'de: 'a, 'a, L: Lead<'a> + Deserialize<'de>> Deserialize<'de> for ResponsesInput<'a, L> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ResponsesInputVisitor::<'a, L>(PhantomData))
    }
}

struct ResponsesInputVisitor<'a, L>(PhantomData<fn() -> (&'a (), L)>);

impl<'de: 'a, 'a, L: Lead<'a> + Deserialize<'de>> Visitor<'de> for ResponsesInputVisitor<'a, L> {
    type Value = ResponsesInput<'a, L>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or an array")
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        let mut first = FirstTurns::default();
        first.push_text(v);
        Ok(ResponsesInput {
            first,
            _items: PhantomData,
        })
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        let mut first = FirstTurns::default();
        first.push_unescaped_text(v);
        Ok(ResponsesInput {
            first,
            _items: PhantomData,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Ok(ResponsesInput {
            first: read_turns::<L, IgnoredAny, A>(seq, FirstTurns::default())?,
            _items: PhantomData,
        })
    }
}

/// The conversation a client names in a field holding a string.
fn named(field: Option<&RawValue>) -> Option<ConversationSource> {
    ConversationKey::named(&raw_text(field)?).map(ConversationSource::Named)
}

/// Anthropic's `metadata.user_id`.
fn anthropic_user(metadata: Option<&RawValue>) -> Option<ConversationSource> {
    #[derive(Deserialize)]
    struct Metadata<'a> {
        #[serde(default, borrow)]
        user_id: Option<&'a RawValue>,
    }
    let metadata: Metadata<'_> = serde_json::from_str(metadata?.get()).ok()?;
    ConversationKey::from_anthropic_user_id(&raw_text(metadata.user_id)?)
        .map(ConversationSource::Named)
}

/// A Responses tool, as far as routing needs it: namespaces are named.
#[derive(Deserialize)]
struct ResponsesToolTop {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    name: Option<String>,
}

impl RequestMeta {
    /// Parse the top level of a client body of `format` (OpenAI Chat,
    /// Anthropic or OpenAI Responses).
    ///
    /// # Errors
    /// [`FormatError::MalformedJson`] for bad JSON, [`FormatError::InvalidField`]
    /// for a missing or mistyped `model`, `messages`, `max_tokens` (Anthropic),
    /// `input`, `previous_response_id` or `store` (Responses), `stream` or
    /// `stream_options`, [`FormatError::InvalidValue`] for an empty
    /// model, one longer than [`MAX_MODEL_BYTES`] or one with control
    /// characters, and [`FormatError::FormatRole`] for a format clients cannot speak.
    pub fn parse(format: Format, body: &[u8]) -> Result<Self, FormatError> {
        let meta = match format {
            Format::OpenAiChat => Self::parse_chat(body)?,
            Format::AnthropicMessages => Self::parse_anthropic(body)?,
            Format::OpenAiResponses => Self::parse_responses(body)?,
            // A Gemini body names neither its model nor whether it streams:
            // the URL does ([`Self::parse_gemini`]).
            Format::Gemini | Format::Antigravity => {
                return Err(FormatError::FormatRole {
                    format,
                    role: "client",
                });
            }
        };
        check_model(&meta.model)?;
        Ok(meta)
    }

    fn parse_chat(body: &[u8]) -> Result<Self, FormatError> {
        let top: OpenAiTop<'_> = parse_request(body)?;
        let stream = top.stream.unwrap_or(false);
        let conversation = named(top.prompt_cache_key)
            .or_else(|| named(top.user))
            .or_else(|| top.messages.first.source(None, body));
        Ok(Self {
            format: Format::OpenAiChat,
            model: top.model,
            stream,
            include_usage: stream
                && top
                    .stream_options
                    .and_then(|o| o.include_usage)
                    .unwrap_or(false),
            previous_response_id: None,
            unstored: false,
            tool_namespaces: Vec::new(),
            conversation,
        })
    }

    fn parse_anthropic(body: &[u8]) -> Result<Self, FormatError> {
        let top: AnthropicTop<'_> = parse_request(body)?;
        let conversation =
            anthropic_user(top.metadata).or_else(|| top.messages.first.source(top.system, body));
        Ok(Self {
            format: Format::AnthropicMessages,
            model: top.model,
            stream: top.stream.unwrap_or(false),
            include_usage: false,
            previous_response_id: None,
            unstored: false,
            tool_namespaces: Vec::new(),
            conversation,
        })
    }

    fn parse_responses(body: &[u8]) -> Result<Self, FormatError> {
        let top: ResponsesTop<'_> = parse_request(body)?;
        let conversation = named(top.prompt_cache_key)
            .or_else(|| named(top.user))
            .or_else(|| top.input.as_ref()?.first.source(top.instructions, body));
        Ok(Self {
            format: Format::OpenAiResponses,
            model: top.model,
            stream: top.stream.unwrap_or(false),
            include_usage: false,
            previous_response_id: top.previous_response_id,
            unstored: top.store == Some(false),
            tool_namespaces: top
                .tools
                .unwrap_or_default()
                .into_iter()
                .filter(|t| t.kind == "namespace")
                .filter_map(|t| t.name)
                .collect(),
            conversation,
        })
    }

    /// Parse the top level of a Gemini `generateContent` body whose `model`
    /// came from the URL (`/v1beta/models/{model}:generateContent`) and which
    /// streams when the method is `streamGenerateContent`.
    ///
    /// # Errors
    /// [`FormatError::MalformedJson`] for bad JSON, [`FormatError::InvalidField`]
    /// for a missing or mistyped `contents`, or a mistyped
    /// `systemInstruction`, `tools`, `safetySettings` or `cachedContent`, and
    /// [`FormatError::InvalidValue`] for a model that is empty, longer than
    /// [`MAX_MODEL_BYTES`] or has control characters.
    pub fn parse_gemini(model: &str, stream: bool, body: &[u8]) -> Result<Self, FormatError> {
        let top: GeminiTop<'_> = parse_request(body)?;
        check_model(model)?;
        let conversation = named(top.session_id)
            .or_else(|| top.contents.first.source(top.system_instruction, body));
        Ok(Self {
            format: Format::Gemini,
            model: model.to_owned(),
            stream,
            include_usage: false,
            previous_response_id: None,
            unstored: false,
            tool_namespaces: Vec::new(),
            conversation,
        })
    }

    /// Whether an `upstream` of the client's own format can take the client's
    /// body byte for byte for `target`: the same model, and (OpenAI streams)
    /// usage already requested, no forced `store`. [`crate::translate_request`] would then
    /// rebuild the very same document, so the copy can be skipped.
    pub fn forwards_unchanged(&self, upstream: Format, target: &UpstreamTarget<'_>) -> bool {
        // A Gemini body carries neither model nor stream flag: it always can.
        if (self.format, upstream) == (Format::Gemini, Format::Gemini) {
            return true;
        }
        self.format == upstream
            && self.model == target.model
            && self.stream == target.stream
            && target.store.is_none()
            && match self.format {
                Format::OpenAiChat => !self.stream || self.include_usage,
                Format::AnthropicMessages | Format::OpenAiResponses => true,
                Format::Gemini | Format::Antigravity => false,
            }
    }
}

fn check_model(model: &str) -> Result<(), FormatError> {
    if model.trim().is_empty() {
        return Err(FormatError::invalid_value("model", "must not be empty"));
    }
    if model.len() > MAX_MODEL_BYTES {
        return Err(FormatError::invalid_value(
            "model",
            format!(
                "must be at most {MAX_MODEL_BYTES} bytes long (got {})",
                model.len()
            ),
        ));
    }
    if model.chars().any(char::is_control) {
        return Err(FormatError::invalid_value(
            "model",
            "must not contain control characters",
        ));
    }
    Ok(())
}
