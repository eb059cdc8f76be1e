//! Cheap first look at a client request: model, stream flag, include_usage, and
//! enough validation of the top level to answer 400 naming the field.
//!
//! Only the top level and each message's `role` are typed here (the rest is
//! skipped, though still checked to be well-formed JSON), so that a same-format request carrying fields or blocks
//! this gateway does not know still goes through untouched.

use aigw_domain::Format;
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::FormatError;
use crate::json::{TextOr, parse_request};
use crate::translate::UpstreamTarget;

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
    /// Responses only: the names of the client's `namespace` tools, whose
    /// functions other upstreams see as `{namespace}__{name}`.
    pub tool_namespaces: Vec<String>,
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
struct OpenAiTop {
    model: String,
    #[expect(dead_code, reason = "parsed only to check that `messages` is an array")]
    messages: Vec<MessageTop>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<OpenAiStreamOptions>,
}

#[derive(Deserialize)]
struct OpenAiStreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

#[derive(Deserialize)]
struct AnthropicTop {
    model: String,
    #[expect(dead_code, reason = "parsed only to check that `messages` is an array")]
    messages: Vec<MessageTop>,
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
struct GeminiTop {
    #[expect(dead_code, reason = "parsed only to check that `contents` is an array")]
    contents: Vec<IgnoredAny>,
    #[expect(dead_code, reason = "parsed only to check the type")]
    #[serde(default)]
    system_instruction: Option<IgnoredAny>,
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
struct ResponsesTop {
    model: String,
    #[expect(
        dead_code,
        reason = "parsed only to check that `input` is a string or an array"
    )]
    #[serde(default)]
    input: Option<TextOr<IgnoredAny>>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    previous_response_id: Option<String>,
    #[serde(default)]
    tools: Option<Vec<ResponsesToolTop>>,
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
    /// `input`, `previous_response_id` (Responses), `stream` or
    /// `stream_options`, [`FormatError::InvalidValue`] for an empty
    /// model, one longer than [`MAX_MODEL_BYTES`] or one with control
    /// characters, and [`FormatError::FormatRole`] for a format clients cannot speak.
    pub fn parse(format: Format, body: &[u8]) -> Result<Self, FormatError> {
        let meta = match format {
            Format::OpenAiChat => {
                let top: OpenAiTop = parse_request(body)?;
                let stream = top.stream.unwrap_or(false);
                Self {
                    format,
                    model: top.model,
                    stream,
                    include_usage: stream
                        && top
                            .stream_options
                            .and_then(|o| o.include_usage)
                            .unwrap_or(false),
                    previous_response_id: None,
                    tool_namespaces: Vec::new(),
                }
            }
            Format::AnthropicMessages => {
                let top: AnthropicTop = parse_request(body)?;
                Self {
                    format,
                    model: top.model,
                    stream: top.stream.unwrap_or(false),
                    include_usage: false,
                    previous_response_id: None,
                    tool_namespaces: Vec::new(),
                }
            }
            Format::OpenAiResponses => {
                let top: ResponsesTop = parse_request(body)?;
                Self {
                    format,
                    model: top.model,
                    stream: top.stream.unwrap_or(false),
                    include_usage: false,
                    previous_response_id: top.previous_response_id,
                    tool_namespaces: top
                        .tools
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|t| t.kind == "namespace")
                        .filter_map(|t| t.name)
                        .collect(),
                }
            }
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
        let _top: GeminiTop = parse_request(body)?;
        check_model(model)?;
        Ok(Self {
            format: Format::Gemini,
            model: model.to_owned(),
            stream,
            include_usage: false,
            previous_response_id: None,
            tool_namespaces: Vec::new(),
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
