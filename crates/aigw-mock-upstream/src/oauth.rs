//! The fake OAuth server: a token endpoint for the `refresh_token` and
//! `authorization_code` grants (form or JSON bodies, as Google/OpenAI and Anthropic
//! send them; code grants also name the account, as Anthropic's do) issuing distinct access tokens and counting calls per refresh token,
//! a Google-shaped userinfo endpoint, and an authorisation endpoint that approves at
//! once: it redirects to the `redirect_uri` with a one-time code bound to the PKCE
//! challenge, which the token endpoint then checks (codes it did not issue are still
//! accepted as before, for tests that make up their own).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::counter::Counter;
use crate::ids::{IdGen, unix_now};
use crate::wire::encode::json_bytes;

const DEFAULT_EXPIRES_IN: u64 = 3599;
const DEFAULT_EMAIL: &str = "mock-user@example.com";
/// The ChatGPT account id tokens name until a test sets its own.
pub const DEFAULT_CHATGPT_ACCOUNT: &str = "chatgpt-account-mock";

/// Parameters of a token request, from a form or a JSON body.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TokenParams {
    #[serde(default)]
    grant_type: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    code_verifier: Option<String>,
    #[serde(default)]
    redirect_uri: Option<String>,
}

impl TokenParams {
    /// Reads JSON when the content type (or the body) says so, else a form.
    pub(crate) fn parse(headers: &HeaderMap, body: &[u8]) -> Self {
        let json = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map_or_else(
                || body.trim_ascii_start().starts_with(b"{"),
                |ct| ct.contains("json"),
            );
        if json {
            return serde_json::from_slice(body).unwrap_or_default();
        }
        let mut params = Self::default();
        for (name, value) in url::form_urlencoded::parse(body) {
            let slot = match name.as_ref() {
                "grant_type" => &mut params.grant_type,
                "refresh_token" => &mut params.refresh_token,
                "code" => &mut params.code,
                "client_id" => &mut params.client_id,
                "code_verifier" => &mut params.code_verifier,
                "redirect_uri" => &mut params.redirect_uri,
                _ => continue,
            };
            *slot = Some(value.into_owned());
        }
        params
    }

    /// The credential this request presents: the refresh token, else the code.
    pub(crate) fn key(&self) -> Option<&str> {
        self.refresh_token.as_deref().or(self.code.as_deref())
    }
}

/// A code issued by the authorisation endpoint, and what its exchange must present.
#[derive(Debug)]
struct IssuedCode {
    challenge: String,
    redirect_uri: String,
    client_id: String,
}

#[derive(Debug)]
struct State {
    calls: HashMap<String, u64>,
    codes: HashMap<String, IssuedCode>,
    last_access_token: HashMap<String, String>,
    revoked: HashSet<String>,
    issued: u64,
    expires_in: u64,
    rotate: bool,
    email: String,
    chatgpt_account_id: String,
}

/// Controls and counters of the fake OAuth server (see [`crate::MockUpstream::oauth`]).
#[derive(Debug)]
pub struct OAuthMock {
    /// Held for a lookup or an insert, never across an await.
    state: Mutex<State>,
    calls: Counter,
}

impl Default for OAuthMock {
    fn default() -> Self {
        Self {
            state: Mutex::new(State {
                calls: HashMap::new(),
                codes: HashMap::new(),
                last_access_token: HashMap::new(),
                revoked: HashSet::new(),
                issued: 0,
                expires_in: DEFAULT_EXPIRES_IN,
                rotate: false,
                email: DEFAULT_EMAIL.to_owned(),
                chatgpt_account_id: DEFAULT_CHATGPT_ACCOUNT.to_owned(),
            }),
            calls: Counter::default(),
        }
    }
}

#[derive(Serialize)]
struct TokenResponse<'a> {
    access_token: &'a str,
    expires_in: u64,
    token_type: &'static str,
    scope: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<&'a str>,
    /// Anthropic names the account in its code-grant answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<AccountInfo<'a>>,
}

#[derive(Serialize)]
struct AccountInfo<'a> {
    uuid: &'static str,
    email_address: &'a str,
}

#[derive(Serialize)]
struct OAuthError<'a> {
    error: &'a str,
    error_description: &'a str,
}

#[derive(Serialize)]
struct UserInfo<'a> {
    id: &'static str,
    email: &'a str,
    verified_email: bool,
    name: &'static str,
    given_name: &'static str,
    family_name: &'static str,
    picture: &'static str,
}

impl OAuthMock {
    /// Token endpoint calls that presented this refresh token (or authorization code),
    /// failed ones included.
    pub fn calls_for(&self, refresh_token: &str) -> u64 {
        self.state
            .lock()
            .calls
            .get(refresh_token)
            .copied()
            .unwrap_or(0)
    }

    /// All token endpoint calls.
    pub fn total_calls(&self) -> u64 {
        self.calls.get()
    }

    /// Waits until the token endpoint has had `n` calls, or `timeout` passes.
    pub async fn wait_calls(&self, n: u64, timeout: Duration) -> bool {
        self.calls.wait_at_least(n, timeout).await
    }

    /// The access token most recently issued for this refresh token (or code).
    pub fn last_access_token_for(&self, refresh_token: &str) -> Option<String> {
        self.state
            .lock()
            .last_access_token
            .get(refresh_token)
            .cloned()
    }

    /// `expires_in` of issued tokens (default 3599 s, as Google's).
    pub fn set_expires_in(&self, expires_in: Duration) {
        self.state.lock().expires_in = expires_in.as_secs();
    }

    /// When on, a refresh returns a new refresh token and revokes the old one, as
    /// Anthropic's and OpenAI's servers do; when off (default) it returns none, as
    /// Google's does.
    pub fn set_rotate_refresh_tokens(&self, rotate: bool) {
        self.state.lock().rotate = rotate;
    }

    /// Makes this refresh token (or code) fail with 400 `invalid_grant`.
    pub fn revoke(&self, refresh_token: &str) {
        self.state.lock().revoked.insert(refresh_token.to_owned());
    }

    /// The email userinfo and id tokens report.
    pub fn set_email(&self, email: impl Into<String>) {
        self.state.lock().email = email.into();
    }

    /// The ChatGPT account id tokens name (`https://api.openai.com/auth` →
    /// `chatgpt_account_id`, as OpenAI's do).
    pub fn set_chatgpt_account_id(&self, id: impl Into<String>) {
        self.state.lock().chatgpt_account_id = id.into();
    }

    /// Counts a token endpoint call before any fault applies.
    pub(crate) fn count_call(&self, key: Option<&str>) {
        if let Some(key) = key {
            *self.state.lock().calls.entry(key.to_owned()).or_default() += 1;
        }
        self.calls.incr();
    }

    /// Approves an authorisation request at once: the URL to redirect to, with a fresh
    /// one-time `code` and the request's `state`. The request must name a client, a
    /// redirect URI and an S256 PKCE challenge.
    pub(crate) fn authorize(&self, query: &str, ids: &IdGen) -> Result<String, &'static str> {
        let mut client_id = None;
        let mut redirect_uri = None;
        let mut state = None;
        let mut challenge = None;
        let mut method = None;
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let slot = match name.as_ref() {
                "client_id" => &mut client_id,
                "redirect_uri" => &mut redirect_uri,
                "state" => &mut state,
                "code_challenge" => &mut challenge,
                "code_challenge_method" => &mut method,
                _ => continue,
            };
            *slot = Some(value.into_owned());
        }
        let client_id = client_id.ok_or("Missing required parameter: client_id")?;
        let redirect_uri = redirect_uri.ok_or("Missing required parameter: redirect_uri")?;
        let challenge = challenge.ok_or("Missing required parameter: code_challenge")?;
        if method.as_deref() != Some("S256") {
            return Err("code_challenge_method must be S256");
        }
        let mut target = url::Url::parse(&redirect_uri).map_err(|_| "Invalid redirect_uri")?;
        let code = ids.with_prefix("mock-code-", 16);
        self.state.lock().codes.insert(
            code.clone(),
            IssuedCode {
                challenge,
                redirect_uri,
                client_id,
            },
        );
        {
            let mut pairs = target.query_pairs_mut();
            pairs.append_pair("code", &code);
            if let Some(state) = &state {
                pairs.append_pair("state", state);
            }
        }
        Ok(target.into())
    }

    /// Answers a token request.
    pub(crate) fn token(
        &self,
        params: &TokenParams,
        ids: &IdGen,
    ) -> Result<(StatusCode, Bytes), serde_json::Error> {
        let bad = |error: &str, description: &str| {
            error_json(error, description).map(|b| (StatusCode::BAD_REQUEST, b))
        };
        let (grant_key, is_refresh) = match params.grant_type.as_deref() {
            None => return bad("invalid_request", "Missing required parameter: grant_type"),
            Some("refresh_token") => match &params.refresh_token {
                Some(rt) => (rt, true),
                None => {
                    return bad(
                        "invalid_request",
                        "Missing required parameter: refresh_token",
                    );
                }
            },
            Some("authorization_code") => match &params.code {
                Some(code) => (code, false),
                None => return bad("invalid_request", "Missing required parameter: code"),
            },
            Some(_) => return bad("unsupported_grant_type", "Invalid grant_type"),
        };

        let mut state = self.state.lock();
        if !is_refresh && let Some(issued) = state.codes.remove(grant_key.as_str()) {
            // One use only; the verifier must match the challenge, and the client and
            // redirect URI the authorisation request.
            let verified = params.code_verifier.as_deref().is_some_and(|v| {
                URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes())) == issued.challenge
            });
            let same_client = params.client_id.as_deref() == Some(issued.client_id.as_str())
                && params.redirect_uri.as_deref() == Some(issued.redirect_uri.as_str());
            if !verified || !same_client {
                drop(state);
                return bad("invalid_grant", "PKCE verification or client check failed.");
            }
        } else if !is_refresh && grant_key.starts_with("mock-code-") {
            // A code this server issued, already used.
            drop(state);
            return bad("invalid_grant", "Authorization code already used.");
        }
        if state.revoked.contains(grant_key) {
            drop(state);
            return bad("invalid_grant", "Token has been expired or revoked.");
        }
        state.issued += 1;
        let n = state.issued;
        let access_token = ids.with_prefix(&format!("ya29.mock-{n}-"), 16);
        let new_refresh =
            (!is_refresh || state.rotate).then(|| ids.with_prefix(&format!("1//mock-rt-{n}-"), 12));
        if is_refresh && state.rotate {
            state.revoked.insert(grant_key.clone());
        }
        state
            .last_access_token
            .insert(grant_key.clone(), access_token.clone());
        if let Some(rt) = &new_refresh {
            state
                .last_access_token
                .insert(rt.clone(), access_token.clone());
        }
        let expires_in = state.expires_in;
        let id_token = (!is_refresh).then(|| {
            id_token(
                &state.email,
                &state.chatgpt_account_id,
                params.client_id.as_deref(),
            )
        });
        let email = state.email.clone();
        drop(state);

        let body = json_bytes(&TokenResponse {
            access_token: &access_token,
            expires_in,
            token_type: "Bearer",
            scope: "openid email profile",
            refresh_token: new_refresh.as_deref(),
            id_token: id_token.as_deref(),
            account: (!is_refresh).then_some(AccountInfo {
                uuid: "mock-account-1",
                email_address: &email,
            }),
        })?;
        Ok((StatusCode::OK, body))
    }

    /// Google's `oauth2/v1/userinfo` shape.
    pub(crate) fn userinfo(&self) -> Result<Bytes, serde_json::Error> {
        let email = self.state.lock().email.clone();
        json_bytes(&UserInfo {
            id: "104857600000000000001",
            email: &email,
            verified_email: true,
            name: "Mock User",
            given_name: "Mock",
            family_name: "User",
            picture: "https://example.invalid/avatar.png",
        })
    }
}

/// An unsigned-looking JWT carrying the email and the ChatGPT account, enough for
/// clients that decode the id token without verifying it (as the Codex flow does).
fn id_token(email: &str, chatgpt_account_id: &str, audience: Option<&str>) -> String {
    let now = unix_now();
    let claims = serde_json::json!({
        "iss": "https://oauth.mock.invalid",
        "sub": "mock-user-1",
        "aud": audience.unwrap_or("mock-client"),
        "email": email,
        "email_verified": true,
        "https://api.openai.com/auth": {
            "chatgpt_account_id": chatgpt_account_id,
            "chatgpt_plan_type": "plus",
        },
        "iat": now,
        "exp": now + 3600,
    });
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT","kid":"mock"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(b"mock-signature"),
    )
}

fn error_json(error: &str, description: &str) -> Result<Bytes, serde_json::Error> {
    json_bytes(&OAuthError {
        error,
        error_description: description,
    })
}

/// RFC 6749 error body for an injected status on the token endpoint.
pub(crate) fn error_body(
    status: StatusCode,
    message: Option<&str>,
) -> Result<Bytes, serde_json::Error> {
    let (error, default) = match status.as_u16() {
        400 => ("invalid_grant", "Bad Request"),
        401 => ("invalid_client", "Unauthorized"),
        403 => ("access_denied", "Forbidden"),
        429 | 503 => ("temporarily_unavailable", "Try again later"),
        _ => ("server_error", "Internal error"),
    };
    error_json(error, message.unwrap_or(default))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_and_json_bodies_parse_the_same() {
        let form = TokenParams::parse(
            &HeaderMap::new(),
            b"grant_type=refresh_token&refresh_token=1%2F%2Fabc&client_id=x",
        );
        assert_eq!(form.key(), Some("1//abc"));
        let mut json_headers = HeaderMap::new();
        json_headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        let json = TokenParams::parse(
            &json_headers,
            br#"{"grant_type":"authorization_code","code":"c1"}"#,
        );
        assert_eq!(json.grant_type.as_deref(), Some("authorization_code"));
        assert_eq!(json.key(), Some("c1"));
    }

    #[test]
    fn rotation_revokes_the_old_refresh_token() {
        let oauth = OAuthMock::default();
        let ids = IdGen::new();
        oauth.set_rotate_refresh_tokens(true);
        let params = TokenParams {
            grant_type: Some("refresh_token".into()),
            refresh_token: Some("rt".into()),
            ..TokenParams::default()
        };
        let (status, body) = oauth.token(&params, &ids).unwrap();
        assert_eq!(status, StatusCode::OK);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(
            v["refresh_token"]
                .as_str()
                .unwrap()
                .starts_with("1//mock-rt-")
        );
        assert_eq!(
            v["access_token"].as_str(),
            oauth.last_access_token_for("rt").as_deref()
        );
        let (status, body) = oauth.token(&params, &ids).unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(String::from_utf8_lossy(&body).contains("invalid_grant"));
    }
}
