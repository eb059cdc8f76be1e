//! What a translation needs beyond the body: where a request goes and what
//! a response must carry. The translators of every direction read these, so
//! they sit below all of them.

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
