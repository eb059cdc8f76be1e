//! How each provider kind is called: the endpoint URL for a model and
//! streaming mode, and the authentication headers of an account.

use aigw_domain::{Account, AuthData, Format, Provider, ProviderKind};
use http::header::{AUTHORIZATION, HeaderName};
use http::{HeaderMap, HeaderValue};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::RequestError;

/// The Anthropic API version the gateway speaks.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// The beta flag Anthropic requires on requests authenticated with an OAuth token.
pub const ANTHROPIC_OAUTH_BETA: &str = "oauth-2025-04-20";

/// The fixed headers of every Codex call, besides the account's own: the
/// Responses beta and the client the backend expects. (Its calls always
/// stream, so the data plane always sends `accept: text/event-stream`.)
const CODEX_HEADERS: [(&str, &str); 2] = [
    ("openai-beta", "responses=experimental"),
    ("originator", "codex_cli_rs"),
];

/// The default base URL of each built-in provider.
pub fn default_base_url(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Openai => "https://api.openai.com/v1",
        ProviderKind::Anthropic => "https://api.anthropic.com/v1",
        ProviderKind::Gemini => "https://generativelanguage.googleapis.com/v1beta",
        ProviderKind::Antigravity => "https://daily-cloudcode-pa.googleapis.com",
        ProviderKind::Codex => "https://chatgpt.com/backend-api/codex",
    }
}

/// Every byte but RFC 3986's unreserved characters is escaped in a path
/// segment built from a model name: `/`, `?`, `#`, `%`, `:` and control
/// characters then stay inside the segment instead of changing the path or
/// starting a query or fragment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The URL of a generation call in the upstream wire `format`: `base` joined
/// with that format's path (the Codex backend and OpenAI's Responses API both
/// answer at `{base}/responses`). The model name (the client's choice) is
/// percent-encoded as one path segment.
pub fn endpoint_url(format: Format, base: &str, model: &str, stream: bool) -> String {
    let base = base.trim_end_matches('/');
    match format {
        Format::OpenAiChat => [base, "/chat/completions"].concat(),
        Format::OpenAiResponses => [base, "/responses"].concat(),
        Format::AnthropicMessages => [base, "/messages"].concat(),
        Format::Gemini => {
            let method = if stream {
                ":streamGenerateContent?alt=sse"
            } else {
                ":generateContent"
            };
            let mut url = [base, "/models/"].concat();
            url.extend(utf8_percent_encode(model, SEGMENT));
            url.push_str(method);
            url
        }
        Format::Antigravity if stream => {
            [base, "/v1internal:streamGenerateContent?alt=sse"].concat()
        }
        Format::Antigravity => [base, "/v1internal:generateContent"].concat(),
    }
}

/// The wire format `provider` is called in for a client speaking `client`:
/// its kind's, except that an OpenAI provider serving the Responses API
/// natively takes a Responses client's request as it came.
pub fn upstream_format(provider: &Provider, client: Format) -> Format {
    if provider.kind == ProviderKind::Openai
        && provider.native_responses
        && client == Format::OpenAiResponses
    {
        return Format::OpenAiResponses;
    }
    provider.kind.format()
}

/// The URL of the upstream's own token counter for `model`, for the kinds
/// that have one the gateway calls: Anthropic's `messages/count_tokens`
/// and Gemini's `:countTokens`.
pub fn count_tokens_url(kind: ProviderKind, base: &str, model: &str) -> Option<String> {
    let base = base.trim_end_matches('/');
    match kind {
        ProviderKind::Anthropic => Some(format!("{base}/messages/count_tokens")),
        ProviderKind::Gemini => {
            let model = utf8_percent_encode(model, SEGMENT);
            Some(format!("{base}/models/{model}:countTokens"))
        }
        ProviderKind::Openai | ProviderKind::Antigravity | ProviderKind::Codex => None,
    }
}

/// The headers that authenticate `account` at a provider of `kind`, with
/// `token` the current OAuth access token when the account uses OAuth.
pub fn auth_headers(
    kind: ProviderKind,
    account: &Account,
    oauth_token: Option<&str>,
) -> Result<Vec<(HeaderName, HeaderValue)>, RequestError> {
    let unusable = || RequestError::UnusableCredential {
        account: account.id,
        provider: account.provider_id.clone(),
    };
    let secret_value = |s: &str| {
        let mut v = HeaderValue::from_str(s).map_err(|_| unusable())?;
        v.set_sensitive(true);
        Ok::<_, RequestError>(v)
    };
    let bearer = |s: &str| secret_value(&["Bearer ", s].concat());

    let mut headers = Vec::with_capacity(5);
    match (&account.auth_data, kind) {
        // The Codex backend serves ChatGPT-plan grants only, and every call
        // names the ChatGPT account the grant acts for.
        (AuthData::Oauth(grant), ProviderKind::Codex) => {
            let token = oauth_token.ok_or_else(unusable)?;
            let account_id = grant.account_id.as_deref().ok_or_else(unusable)?;
            headers.push((AUTHORIZATION, bearer(token)?));
            headers.push((
                HeaderName::from_static("chatgpt-account-id"),
                HeaderValue::from_str(account_id).map_err(|_| unusable())?,
            ));
            headers.extend(CODEX_HEADERS.iter().map(|(name, value)| {
                (
                    HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                )
            }));
        }
        (AuthData::ApiKey { .. } | AuthData::Bearer { .. }, ProviderKind::Codex) => {
            return Err(unusable());
        }
        (AuthData::ApiKey { api_key }, ProviderKind::Openai) => {
            headers.push((AUTHORIZATION, bearer(api_key.expose())?));
        }
        (AuthData::ApiKey { api_key }, ProviderKind::Anthropic) => {
            headers.push((
                HeaderName::from_static("x-api-key"),
                secret_value(api_key.expose())?,
            ));
        }
        (AuthData::ApiKey { api_key }, ProviderKind::Gemini) => {
            headers.push((
                HeaderName::from_static("x-goog-api-key"),
                secret_value(api_key.expose())?,
            ));
        }
        (AuthData::Bearer { token }, _) => {
            headers.push((AUTHORIZATION, bearer(token.expose())?));
        }
        (AuthData::Oauth(_), _) => {
            let token = oauth_token.ok_or_else(unusable)?;
            headers.push((AUTHORIZATION, bearer(token)?));
        }
        // Antigravity only accepts OAuth tokens; an API key there is a
        // misconfigured account, not something to send and see fail.
        (AuthData::ApiKey { .. }, ProviderKind::Antigravity) => return Err(unusable()),
    }
    Ok(headers)
}

/// The Anthropic request headers a client sent, carried on to Anthropic
/// upstreams (other upstreams have no use for them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHeaders {
    /// The `anthropic-beta` values, every header split at commas, in order.
    pub anthropic_beta: Vec<String>,
    /// `anthropic-version`, when the client sent one.
    pub anthropic_version: Option<HeaderValue>,
    /// The conversation a header names: Claude Code's
    /// `X-Claude-Code-Session-Id`, Codex's `session_id` (older Codex:
    /// `conversation_id`).
    pub conversation: Option<aigw_formats::ConversationKey>,
}

/// The headers that name a client's conversation, the first present wins.
static CONVERSATION_HEADERS: [HeaderName; 3] = [
    HeaderName::from_static("x-claude-code-session-id"),
    HeaderName::from_static("session_id"),
    HeaderName::from_static("conversation_id"),
];
/// Names read and written on every request, made once: a lookup by `&str`
/// parses the name first.
static ANTHROPIC_BETA: HeaderName = HeaderName::from_static("anthropic-beta");
static ANTHROPIC_VERSION_HEADER: HeaderName = HeaderName::from_static("anthropic-version");

impl ClientHeaders {
    /// Reads the client's request headers. Values that are not plain tokens
    /// are left out rather than sent on.
    pub fn from_request(headers: &HeaderMap) -> Self {
        let anthropic_beta = headers
            .get_all(&ANTHROPIC_BETA)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|b| !b.is_empty() && b.bytes().all(|c| c.is_ascii_graphic()))
            .map(str::to_owned)
            .collect();
        let anthropic_version = headers
            .get(&ANTHROPIC_VERSION_HEADER)
            .filter(|v| !v.is_empty())
            .cloned();
        let conversation = CONVERSATION_HEADERS.iter().find_map(|name| {
            let value = headers.get(name)?.to_str().ok()?;
            aigw_formats::ConversationKey::named(value)
        });
        Self {
            anthropic_beta,
            anthropic_version,
            conversation,
        }
    }
}

/// The Anthropic-specific headers of an upstream call: the client's
/// `anthropic-version` (else the gateway's), and one `anthropic-beta` holding
/// the client's betas followed by the ones the gateway needs (OAuth's),
/// each once, in order.
pub fn anthropic_headers(oauth: bool, client: &ClientHeaders) -> Vec<(HeaderName, HeaderValue)> {
    let mut headers = Vec::with_capacity(2);
    headers.push((
        ANTHROPIC_VERSION_HEADER.clone(),
        client
            .anthropic_version
            .clone()
            .unwrap_or(HeaderValue::from_static(ANTHROPIC_VERSION)),
    ));
    let own = oauth.then_some(ANTHROPIC_OAUTH_BETA);
    let mut betas: Vec<&str> = Vec::with_capacity(client.anthropic_beta.len() + 1);
    for beta in client.anthropic_beta.iter().map(String::as_str).chain(own) {
        if !betas.contains(&beta) {
            betas.push(beta);
        }
    }
    if !betas.is_empty() {
        // Only visible ASCII went in, so the value is valid; skip it otherwise.
        if let Ok(value) = HeaderValue::from_str(&betas.join(",")) {
            headers.push((ANTHROPIC_BETA.clone(), value));
        }
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversation_headers_of_claude_code_and_codex_name_the_conversation() {
        let key = |name: &'static str, value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(name, HeaderValue::from_static(value));
            ClientHeaders::from_request(&headers).conversation
        };
        let named = aigw_formats::ConversationKey::named;
        assert_eq!(key("x-claude-code-session-id", "s-1"), named("s-1"));
        assert_eq!(key("session_id", "0199a7c2"), named("0199a7c2"));
        assert_eq!(key("conversation_id", "c-9"), named("c-9"));
        assert_eq!(key("x-other", "s-1"), None);
        assert_eq!(
            ClientHeaders::from_request(&HeaderMap::new()).conversation,
            None
        );
    }

    fn beta_of(headers: &[(HeaderName, HeaderValue)]) -> Option<&str> {
        headers
            .iter()
            .find(|(n, _)| n == "anthropic-beta")
            .and_then(|(_, v)| v.to_str().ok())
    }

    #[test]
    fn client_betas_merge_with_the_gateways_once_each_in_order() {
        let mut sent = HeaderMap::new();
        sent.append(
            "anthropic-beta",
            HeaderValue::from_static("claude-code-20250219, oauth-2025-04-20"),
        );
        sent.append(
            "anthropic-beta",
            HeaderValue::from_static("interleaved-thinking-2025-05-14,claude-code-20250219"),
        );
        sent.insert("anthropic-version", HeaderValue::from_static("2024-01-01"));
        let client = ClientHeaders::from_request(&sent);
        let headers = anthropic_headers(true, &client);
        assert_eq!(
            beta_of(&headers),
            Some("claude-code-20250219,oauth-2025-04-20,interleaved-thinking-2025-05-14")
        );
        assert_eq!(headers[0].1, "2024-01-01");

        let headers = anthropic_headers(false, &ClientHeaders::default());
        assert_eq!(beta_of(&headers), None);
        assert_eq!(headers[0].1, ANTHROPIC_VERSION);
        let headers = anthropic_headers(true, &ClientHeaders::default());
        assert_eq!(beta_of(&headers), Some(ANTHROPIC_OAUTH_BETA));
    }

    #[test]
    fn endpoints_per_format() {
        assert_eq!(
            endpoint_url(Format::OpenAiChat, "http://h/v1/", "m", true),
            "http://h/v1/chat/completions"
        );
        assert_eq!(
            endpoint_url(
                Format::OpenAiResponses,
                "http://h/backend-api/codex",
                "m",
                true
            ),
            "http://h/backend-api/codex/responses"
        );
        assert_eq!(
            endpoint_url(Format::AnthropicMessages, "http://h/v1", "m", false),
            "http://h/v1/messages"
        );
        assert_eq!(
            endpoint_url(Format::Gemini, "http://h/v1beta", "gemini-2.0", true),
            "http://h/v1beta/models/gemini-2.0:streamGenerateContent?alt=sse"
        );
        assert_eq!(
            endpoint_url(Format::Antigravity, "http://h", "m", false),
            "http://h/v1internal:generateContent"
        );
        assert_eq!(
            count_tokens_url(ProviderKind::Anthropic, "http://h/v1/", "m").as_deref(),
            Some("http://h/v1/messages/count_tokens")
        );
        assert_eq!(
            count_tokens_url(ProviderKind::Gemini, "http://h/v1beta", "g").as_deref(),
            Some("http://h/v1beta/models/g:countTokens")
        );
        assert_eq!(
            count_tokens_url(ProviderKind::Openai, "http://h", "m"),
            None
        );
    }

    #[test]
    fn only_native_openai_providers_take_responses_as_responses() {
        let mut provider = aigw_domain::Provider::from_new(
            aigw_domain::NewProvider {
                id: aigw_domain::ProviderId::new("openai").unwrap(),
                name: "OpenAI".into(),
                kind: ProviderKind::Openai,
                base_url: "http://h/v1".into(),
                fallback_base_urls: vec![],
                supported_auth_types: vec![],
                models: vec![],
                is_active: true,
                is_builtin: true,
                config: serde_json::json!({}),
                native_responses: true,
                selection_strategy: Default::default(),
                session_affinity: false,
            },
            chrono::Utc::now(),
        );
        let responses = Format::OpenAiResponses;
        assert_eq!(upstream_format(&provider, responses), responses);
        assert_eq!(
            upstream_format(&provider, Format::OpenAiChat),
            Format::OpenAiChat
        );
        provider.native_responses = false;
        assert_eq!(upstream_format(&provider, responses), Format::OpenAiChat);
        provider.kind = ProviderKind::Codex;
        assert_eq!(upstream_format(&provider, Format::OpenAiChat), responses);
    }

    #[test]
    fn a_gemini_model_name_stays_one_path_segment() {
        for (model, encoded) in [
            ("gemini-x#frag", "gemini-x%23frag"),
            (
                "gemini-x?key=injected&a=",
                "gemini-x%3Fkey%3Dinjected%26a%3D",
            ),
            (
                "gemini-x/../../../files?pageSize=1&",
                "gemini-x%2F..%2F..%2F..%2Ffiles%3FpageSize%3D1%26",
            ),
            ("gemini-x%2F", "gemini-x%252F"),
            ("gemini x\n\u{7f}é", "gemini%20x%0A%7F%C3%A9"),
        ] {
            let url = endpoint_url(Format::Gemini, "http://h/v1beta", model, false);
            assert_eq!(
                url,
                format!("http://h/v1beta/models/{encoded}:generateContent")
            );
            let uri: http::Uri = url.parse().unwrap();
            assert_eq!(uri.query(), None, "{model}");
            assert_eq!(
                uri.path(),
                format!("/v1beta/models/{encoded}:generateContent"),
                "{model}"
            );
            let url = endpoint_url(Format::Gemini, "http://h/v1beta", model, true);
            let uri: http::Uri = url.parse().unwrap();
            assert_eq!(uri.query(), Some("alt=sse"), "{model}");
        }
    }
}
