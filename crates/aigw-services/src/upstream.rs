//! How each provider kind is called: the endpoint URL for a model and
//! streaming mode, and the authentication headers of an account.

use aigw_domain::{Account, AuthData, ProviderKind};
use http::HeaderValue;
use http::header::{AUTHORIZATION, HeaderName};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::Error;

/// The Anthropic API version the gateway speaks.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// The beta flag Anthropic requires on requests authenticated with an OAuth token.
pub const ANTHROPIC_OAUTH_BETA: &str = "oauth-2025-04-20";

/// The default base URL of each built-in provider.
pub fn default_base_url(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Openai => "https://api.openai.com/v1",
        ProviderKind::Anthropic => "https://api.anthropic.com/v1",
        ProviderKind::Gemini => "https://generativelanguage.googleapis.com/v1beta",
        ProviderKind::Antigravity => "https://daily-cloudcode-pa.googleapis.com",
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

/// The URL of a generation call: `base` joined with the kind's path. The
/// model name (the client's choice) is percent-encoded as one path segment.
pub fn endpoint_url(kind: ProviderKind, base: &str, model: &str, stream: bool) -> String {
    let base = base.trim_end_matches('/');
    match kind {
        ProviderKind::Openai => format!("{base}/chat/completions"),
        ProviderKind::Anthropic => format!("{base}/messages"),
        ProviderKind::Gemini => {
            let model = utf8_percent_encode(model, SEGMENT);
            if stream {
                format!("{base}/models/{model}:streamGenerateContent?alt=sse")
            } else {
                format!("{base}/models/{model}:generateContent")
            }
        }
        ProviderKind::Antigravity if stream => {
            format!("{base}/v1internal:streamGenerateContent?alt=sse")
        }
        ProviderKind::Antigravity => format!("{base}/v1internal:generateContent"),
    }
}

/// The headers that authenticate `account` at a provider of `kind`, with
/// `token` the current OAuth access token when the account uses OAuth.
pub fn auth_headers(
    kind: ProviderKind,
    account: &Account,
    oauth_token: Option<&str>,
) -> Result<Vec<(HeaderName, HeaderValue)>, Error> {
    let unusable = || Error::UnusableCredential {
        account: account.id,
        provider: account.provider_id.clone(),
    };
    let secret_value = |s: &str| {
        let mut v = HeaderValue::from_str(s).map_err(|_| unusable())?;
        v.set_sensitive(true);
        Ok::<_, Error>(v)
    };
    let bearer = |s: &str| secret_value(&format!("Bearer {s}"));

    let mut headers = Vec::with_capacity(3);
    match (&account.auth_data, kind) {
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
            if kind == ProviderKind::Anthropic {
                headers.push((
                    HeaderName::from_static("anthropic-beta"),
                    HeaderValue::from_static(ANTHROPIC_OAUTH_BETA),
                ));
            }
        }
        // Antigravity only accepts OAuth tokens; an API key there is a
        // misconfigured account, not something to send and see fail.
        (AuthData::ApiKey { .. }, ProviderKind::Antigravity) => return Err(unusable()),
    }
    if kind == ProviderKind::Anthropic {
        headers.push((
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static(ANTHROPIC_VERSION),
        ));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_per_kind() {
        assert_eq!(
            endpoint_url(ProviderKind::Openai, "http://h/v1/", "m", true),
            "http://h/v1/chat/completions"
        );
        assert_eq!(
            endpoint_url(ProviderKind::Anthropic, "http://h/v1", "m", false),
            "http://h/v1/messages"
        );
        assert_eq!(
            endpoint_url(ProviderKind::Gemini, "http://h/v1beta", "gemini-2.0", true),
            "http://h/v1beta/models/gemini-2.0:streamGenerateContent?alt=sse"
        );
        assert_eq!(
            endpoint_url(ProviderKind::Antigravity, "http://h", "m", false),
            "http://h/v1internal:generateContent"
        );
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
            let url = endpoint_url(ProviderKind::Gemini, "http://h/v1beta", model, false);
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
            let url = endpoint_url(ProviderKind::Gemini, "http://h/v1beta", model, true);
            let uri: http::Uri = url.parse().unwrap();
            assert_eq!(uri.query(), Some("alt=sse"), "{model}");
        }
    }
}
