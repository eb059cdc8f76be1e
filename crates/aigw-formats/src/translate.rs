//! The translation API the data plane calls: one request body to the upstream's
//! format, one response body back to the client's.

use aigw_domain::Format;
use bytes::Bytes;

use crate::{FormatError, Usage, passthrough, request, response};

/// Where a request goes: what the upstream body must carry beyond the client's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamTarget<'a> {
    /// The upstream model name (after routing and mapping). Gemini bodies do not
    /// carry it (it goes in the URL); every other format does.
    pub model: &'a str,
    /// Whether the upstream call streams. OpenAI Chat upstreams then also get
    /// `stream_options.include_usage: true`; Gemini streams are chosen by URL.
    /// A same-format Responses request gets `stream` set to this, so an
    /// upstream that only streams can be asked for a stream the caller then
    /// aggregates ([`crate::stream::aggregate_responses`]).
    pub stream: bool,
    /// The Antigravity envelope fields (ignored for other upstreams).
    pub antigravity: AntigravityEnvelope<'a>,
    /// For a Responses upstream, a `store` the upstream requires whatever
    /// the client asked (the Codex backend refuses to store: `false`). `None`
    /// leaves a same-format request's `store` as the client sent it;
    /// translated requests never store.
    pub store: Option<bool>,
}

impl<'a> UpstreamTarget<'a> {
    /// A target for `model`, streaming or not, with default envelope fields.
    pub const fn new(model: &'a str, stream: bool) -> Self {
        Self {
            model,
            stream,
            antigravity: AntigravityEnvelope::DEFAULT,
            store: None,
        }
    }

    /// The same target with `store` forced to this value (see [`Self::store`]).
    #[must_use]
    pub const fn with_store(mut self, store: bool) -> Self {
        self.store = Some(store);
        self
    }

    /// The same target with these Antigravity envelope fields.
    #[must_use]
    pub const fn with_antigravity(mut self, envelope: AntigravityEnvelope<'a>) -> Self {
        self.antigravity = envelope;
        self
    }
}

/// Fields of the Antigravity `v1internal` envelope, chosen by the caller (this
/// crate does no IO and draws no random numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AntigravityEnvelope<'a> {
    /// The account's Google Cloud project, when it has one.
    pub project: Option<&'a str>,
    /// A per-request id.
    pub request_id: &'a str,
    /// The `userAgent` field.
    pub user_agent: &'a str,
    /// `request.sessionId`, when the caller keeps one per conversation.
    pub session_id: Option<&'a str>,
}

impl AntigravityEnvelope<'_> {
    /// No project, no ids, user agent `antigravity`.
    pub const DEFAULT: Self = Self {
        project: None,
        request_id: "",
        user_agent: "antigravity",
        session_id: None,
    };
}

impl Default for AntigravityEnvelope<'_> {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What a translated response must carry that the upstream body does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseContext<'a> {
    /// The model name reported to the client.
    pub model: &'a str,
    /// The gateway's request id: response ids (`chatcmpl-…`, `msg_…`,
    /// `resp_…`), generated tool call ids and Responses item ids derive from it.
    pub request_id: &'a str,
    /// Unix seconds for OpenAI's `created`.
    pub created: u64,
    /// The Responses client's tool namespaces (see
    /// [`RequestMeta::tool_namespaces`](crate::RequestMeta::tool_namespaces)):
    /// a call of a function declared in one comes back in it.
    pub tool_namespaces: &'a [String],
}

/// Translate a client request body (`client` format) into the body to send to an
/// upstream speaking `upstream`.
///
/// Same format: the body is passed through with only `model` replaced (and, for
/// OpenAI Chat streams, `stream_options.include_usage` forced on; for OpenAI
/// Responses, `stream` set to the target's); every other field, known or not,
/// keeps its bytes. A Gemini body goes to a Gemini upstream byte for byte, and
/// to an Antigravity upstream inside the envelope, otherwise unchanged. Different formats: the body is fully parsed and
/// rewritten; fields with no equivalent in the target are dropped, and things the
/// target cannot express are refused with [`FormatError::Unsupported`].
///
/// # Errors
/// A [`FormatError`] naming the JSON path of the problem; every variant except
/// [`FormatError::FormatRole`] is the client's fault (answer 400).
pub fn translate_request(
    client: Format,
    upstream: Format,
    body: &[u8],
    target: &UpstreamTarget<'_>,
) -> Result<Bytes, FormatError> {
    match (client, upstream) {
        (Format::Antigravity, _) => Err(FormatError::FormatRole {
            format: client,
            role: "client",
        }),
        // The model is in the URL and the stream in the method: the body goes as it is.
        (Format::Gemini, Format::Gemini) => passthrough::check_gemini(body),
        (Format::Gemini, Format::Antigravity) => passthrough::wrap_antigravity(body, target),
        _ if client == upstream => passthrough::rewrite(client, body, target),
        _ => request::translate(client, upstream, body, target),
    }
}

/// Translate a whole (non-stream) upstream response body into the client's
/// format, and extract its usage.
///
/// Same format: the body is returned as is (no copy) and only its usage is parsed.
/// An Antigravity body for a Gemini client is only taken out of its envelope.
///
/// # Errors
/// [`FormatError::UpstreamResponse`] when the upstream body cannot be read,
/// [`FormatError::FormatRole`] when `client` is not a client format.
pub fn translate_response(
    upstream: Format,
    client: Format,
    body: Bytes,
    ctx: &ResponseContext<'_>,
) -> Result<(Bytes, Usage), FormatError> {
    if upstream == client {
        let usage = Usage::from_response_body(upstream, &body)?;
        return Ok((body, usage));
    }
    if (upstream, client) == (Format::Antigravity, Format::Gemini) {
        return response::unwrap_for_gemini(body);
    }
    response::translate(upstream, client, &body, ctx)
}
