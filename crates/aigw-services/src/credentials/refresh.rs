//! The refresh-token grant on the wire: each provider kind's token endpoint, request shape
//! (Google and OpenAI a form, Anthropic JSON) and the parsing of its answer.

use std::time::Duration;

use aigw_domain::{OAuthCredentials, ProviderKind, Secret};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use serde::Deserialize;

use super::error::{CredentialError, Unavailability};
use crate::client_pool::{ClientPool, Egress};

/// Google's token endpoint (Antigravity and Gemini OAuth grants).
pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// Anthropic's token endpoint (Claude OAuth grants).
pub const ANTHROPIC_TOKEN_URL: &str = "https://console.anthropic.com/v1/oauth/token";
/// OpenAI's token endpoint (Codex OAuth grants).
pub const OPENAI_TOKEN_URL: &str = "https://auth.openai.com/oauth/token";
/// The public client id of the Claude Code OAuth client.
pub const ANTHROPIC_CLIENT_ID: &str = "9d1c250a-e61b-44d9-88ed-5944d1962f5e";
/// The public client id of the Codex CLI OAuth client.
pub const OPENAI_CLIENT_ID: &str = "app_EMoamEEZ73f0CkXaXp7hrann";
/// The scope OpenAI's refresh request asks for.
const OPENAI_REFRESH_SCOPE: &str = "openid profile email";
/// Token responses are small; anything bigger is not one.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Used when a token response has no `expires_in`, as the original does.
const DEFAULT_EXPIRES_IN: i64 = 3600;

/// The OAuth client a provider kind refreshes with, unless the account names its own.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenClient {
    /// The token endpoint.
    pub token_url: String,
    /// The client id; `None` means accounts must carry their own.
    pub client_id: Option<String>,
    /// The client secret, for clients that have one (Google installed apps).
    pub client_secret: Option<Secret>,
}

impl TokenClient {
    /// Google's endpoint. Google's installed-app client id and secret are not built in: set
    /// them here or on each account.
    pub fn google() -> Self {
        Self {
            token_url: GOOGLE_TOKEN_URL.to_owned(),
            client_id: None,
            client_secret: None,
        }
    }

    /// Anthropic's endpoint and the Claude Code client.
    pub fn anthropic() -> Self {
        Self {
            token_url: ANTHROPIC_TOKEN_URL.to_owned(),
            client_id: Some(ANTHROPIC_CLIENT_ID.to_owned()),
            client_secret: None,
        }
    }

    /// OpenAI's endpoint and the Codex client.
    pub fn openai() -> Self {
        Self {
            token_url: OPENAI_TOKEN_URL.to_owned(),
            client_id: Some(OPENAI_CLIENT_ID.to_owned()),
            client_secret: None,
        }
    }
}

/// How a refresh request is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Form: `client_id, client_secret?, refresh_token, grant_type`.
    Google,
    /// JSON: `{grant_type, refresh_token, client_id}`.
    Anthropic,
    /// Form: `client_id, grant_type, refresh_token, scope`.
    OpenAi,
}

impl Shape {
    fn of(kind: ProviderKind) -> Self {
        match kind {
            ProviderKind::Antigravity | ProviderKind::Gemini => Self::Google,
            ProviderKind::Anthropic => Self::Anthropic,
            ProviderKind::Openai | ProviderKind::Codex => Self::OpenAi,
        }
    }
}

/// A successful refresh.
pub(crate) struct Refreshed {
    pub(crate) access_token: String,
    pub(crate) expires_at: DateTime<Utc>,
    /// A new refresh token when the server rotates them.
    pub(crate) refresh_token: Option<String>,
    pub(crate) token_type: Option<String>,
    pub(crate) scope: Option<String>,
}

impl std::fmt::Debug for Refreshed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refreshed")
            .field("expires_at", &self.expires_at)
            .field("rotated", &self.refresh_token.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

/// Cooldowns applied to the error of a failed refresh.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RefreshCooldowns {
    pub(crate) transient: Duration,
    pub(crate) rejected: Duration,
}

/// Builds the refresh request for `kind`. The account's token URL, client id and secret win over
/// the kind's defaults.
pub(crate) fn build_request(
    kind: ProviderKind,
    creds: &OAuthCredentials,
    defaults: &TokenClient,
    refresh_token: &str,
) -> Result<Request<Full<Bytes>>, CredentialError> {
    let url = creds.token_url.as_deref().unwrap_or(&defaults.token_url);
    let uri: Uri = url.parse().map_err(|_| CredentialError::InvalidTokenUrl)?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
        return Err(CredentialError::InvalidTokenUrl);
    }
    let client_id = creds
        .client_id
        .as_deref()
        .or(defaults.client_id.as_deref())
        .ok_or(CredentialError::ClientNotConfigured { kind })?;
    let client_secret = creds
        .client_secret
        .as_ref()
        .or(defaults.client_secret.as_ref());

    let (content_type, body) = match Shape::of(kind) {
        Shape::Google => {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("client_id", client_id);
            if let Some(secret) = client_secret {
                form.append_pair("client_secret", secret.expose());
            }
            form.append_pair("refresh_token", refresh_token);
            form.append_pair("grant_type", "refresh_token");
            (
                "application/x-www-form-urlencoded",
                form.finish().into_bytes(),
            )
        }
        Shape::OpenAi => {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("client_id", client_id);
            form.append_pair("grant_type", "refresh_token");
            form.append_pair("refresh_token", refresh_token);
            form.append_pair("scope", OPENAI_REFRESH_SCOPE);
            (
                "application/x-www-form-urlencoded",
                form.finish().into_bytes(),
            )
        }
        Shape::Anthropic => {
            let body = serde_json::json!({
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": client_id,
            });
            ("application/json", body.to_string().into_bytes())
        }
    };
    Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(CONTENT_TYPE, content_type)
        .header(ACCEPT, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|_| CredentialError::InvalidTokenUrl)
}

/// Sends `request` over `egress` and reads the answer, all within `timeout`.
pub(crate) async fn send(
    pool: &ClientPool,
    egress: &Egress,
    request: Request<Full<Bytes>>,
    timeout: Duration,
    cooldowns: RefreshCooldowns,
) -> Result<Refreshed, CredentialError> {
    let unavailable = |reason| CredentialError::Unavailable {
        reason,
        retry_after: cooldowns.transient,
    };
    let exchange = async {
        let response = pool
            .send(egress, request)
            .await
            .map_err(|e| unavailable(Unavailability::Network(e.kind())))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|_| unavailable(Unavailability::Status(status)))?
            .to_bytes();
        Ok((status, body))
    };
    let (status, body) = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| unavailable(Unavailability::Timeout))??;
    interpret(status, &body, Utc::now(), cooldowns)
}

/// Turns the token endpoint's answer into a token or a typed failure.
pub(crate) fn interpret(
    status: StatusCode,
    body: &[u8],
    now: DateTime<Utc>,
    cooldowns: RefreshCooldowns,
) -> Result<Refreshed, CredentialError> {
    if status.is_success() {
        let malformed = || CredentialError::MalformedResponse {
            retry_after: cooldowns.transient,
        };
        let parsed: TokenResponse = serde_json::from_slice(body).map_err(|_| malformed())?;
        if parsed.access_token.is_empty() {
            return Err(malformed());
        }
        let expires_in = parsed
            .expires_in
            .as_ref()
            .and_then(seconds)
            .unwrap_or(DEFAULT_EXPIRES_IN);
        // Whole seconds: that is the precision of `expires_in`, and it stores exactly.
        let expires_at = DateTime::from_timestamp(now.timestamp().saturating_add(expires_in), 0)
            .ok_or_else(malformed)?;
        return Ok(Refreshed {
            access_token: parsed.access_token,
            expires_at,
            refresh_token: parsed.refresh_token.filter(|t| !t.is_empty()),
            token_type: parsed.token_type,
            scope: parsed.scope,
        });
    }
    if status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
    {
        return Err(CredentialError::Unavailable {
            reason: Unavailability::Status(status),
            retry_after: cooldowns.transient,
        });
    }
    Err(CredentialError::Rejected {
        status,
        error: oauth_error_code(body),
        retry_after: cooldowns.rejected,
    })
}

/// `expires_in` as seconds, from a number or a numeric string; negative values count as zero.
fn seconds(value: &serde_json::Value) -> Option<i64> {
    let n = match value {
        serde_json::Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }?;
    Some(n.max(0))
}

/// The OAuth error code of an error body (`{"error": "invalid_grant"}`, or Anthropic's
/// `{"error": {"type": "…"}}`), kept only if it is a short plain identifier so that nothing
/// the server echoes (a token, say) reaches a log.
fn oauth_error_code(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let code = match value.get("error")? {
        serde_json::Value::String(code) => code.as_str(),
        serde_json::Value::Object(inner) => inner.get("type")?.as_str()?,
        _ => return None,
    };
    let plain = !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    plain.then(|| code.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOLDOWNS: RefreshCooldowns = RefreshCooldowns {
        transient: Duration::from_secs(30),
        rejected: Duration::from_secs(600),
    };

    fn creds() -> OAuthCredentials {
        OAuthCredentials {
            token_url: Some("http://127.0.0.1:9/oauth/token".into()),
            ..OAuthCredentials::default()
        }
    }

    fn body_text(request: Request<Full<Bytes>>) -> (String, String) {
        let content_type = request.headers()[CONTENT_TYPE].to_str().unwrap().to_owned();
        let body = futures_util::FutureExt::now_or_never(request.into_body().collect())
            .unwrap()
            .unwrap()
            .to_bytes();
        (content_type, String::from_utf8(body.to_vec()).unwrap())
    }

    #[test]
    fn google_refresh_is_a_form_with_the_client_secret() {
        let defaults = TokenClient {
            client_id: Some("gid".into()),
            client_secret: Some(Secret::new("gsecret")),
            ..TokenClient::google()
        };
        let request =
            build_request(ProviderKind::Antigravity, &creds(), &defaults, "1//rt").unwrap();
        assert_eq!(request.uri(), "http://127.0.0.1:9/oauth/token");
        let (ct, body) = body_text(request);
        assert_eq!(ct, "application/x-www-form-urlencoded");
        assert_eq!(
            body,
            "client_id=gid&client_secret=gsecret&refresh_token=1%2F%2Frt&grant_type=refresh_token"
        );
    }

    #[test]
    fn anthropic_refresh_is_json() {
        let request = build_request(
            ProviderKind::Anthropic,
            &creds(),
            &TokenClient::anthropic(),
            "rt-1",
        )
        .unwrap();
        let (ct, body) = body_text(request);
        assert_eq!(ct, "application/json");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "grant_type": "refresh_token",
                "refresh_token": "rt-1",
                "client_id": ANTHROPIC_CLIENT_ID,
            })
        );
    }

    #[test]
    fn openai_refresh_is_a_form_with_the_scope() {
        let mut creds = creds();
        creds.client_id = Some("own-client".into());
        let request =
            build_request(ProviderKind::Openai, &creds, &TokenClient::openai(), "rt").unwrap();
        let (_, body) = body_text(request);
        assert_eq!(
            body,
            "client_id=own-client&grant_type=refresh_token&refresh_token=rt&scope=openid+profile+email"
        );
    }

    #[test]
    fn a_missing_client_id_or_a_bad_url_is_a_typed_error() {
        let no_url = OAuthCredentials::default();
        assert!(matches!(
            build_request(ProviderKind::Gemini, &creds(), &TokenClient::google(), "rt"),
            Err(CredentialError::ClientNotConfigured {
                kind: ProviderKind::Gemini
            })
        ));
        let mut bad = no_url;
        bad.token_url = Some("not a url".into());
        assert!(matches!(
            build_request(ProviderKind::Openai, &bad, &TokenClient::openai(), "rt"),
            Err(CredentialError::InvalidTokenUrl)
        ));
    }

    #[test]
    fn answers_are_classified() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let ok = interpret(
            StatusCode::OK,
            br#"{"access_token":"at","expires_in":"120","refresh_token":"rt2"}"#,
            now,
            COOLDOWNS,
        )
        .unwrap();
        assert_eq!(ok.expires_at.timestamp(), 1_700_000_120);
        assert_eq!(ok.refresh_token.as_deref(), Some("rt2"));
        let default_expiry = interpret(StatusCode::OK, br#"{"access_token":"at"}"#, now, COOLDOWNS)
            .unwrap()
            .expires_at;
        assert_eq!(default_expiry.timestamp(), 1_700_003_600);

        let rejected = interpret(
            StatusCode::BAD_REQUEST,
            br#"{"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#,
            now,
            COOLDOWNS,
        )
        .unwrap_err();
        assert!(matches!(
            &rejected,
            CredentialError::Rejected { status, error: Some(code), .. }
                if *status == StatusCode::BAD_REQUEST && code == "invalid_grant"
        ));
        let anthropic = interpret(
            StatusCode::UNAUTHORIZED,
            br#"{"error":{"type":"authentication_error","message":"x"}}"#,
            now,
            COOLDOWNS,
        )
        .unwrap_err();
        assert!(anthropic.to_string().contains("authentication_error"));
        let echoed = interpret(
            StatusCode::BAD_REQUEST,
            br#"{"error":"bad token ya29.secret"}"#,
            now,
            COOLDOWNS,
        )
        .unwrap_err();
        assert!(!echoed.to_string().contains("ya29"), "{echoed}");

        for status in [503, 429, 408] {
            let e =
                interpret(StatusCode::from_u16(status).unwrap(), b"", now, COOLDOWNS).unwrap_err();
            assert!(
                matches!(e, CredentialError::Unavailable { .. }),
                "{status}: {e}"
            );
        }
        assert!(matches!(
            interpret(StatusCode::OK, b"<html>", now, COOLDOWNS),
            Err(CredentialError::MalformedResponse { .. })
        ));
        assert!(matches!(
            interpret(StatusCode::OK, br#"{"access_token":""}"#, now, COOLDOWNS),
            Err(CredentialError::MalformedResponse { .. })
        ));
    }
}
