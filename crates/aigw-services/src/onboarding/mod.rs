//! OAuth onboarding: connecting an upstream account by sending its owner through the
//! provider's authorisation page (Google/Antigravity, Claude, Codex), and refreshing an
//! OAuth account's token on demand.
//!
//! 1. [`Onboarding::init`] makes a PKCE (S256) verifier and a random `state` (256 bits),
//!    stores the session under `oauth:session:{state}` in the shared state for
//!    [`OnboardingSettings::session_ttl`] (10 minutes), and returns the authorisation URL.
//! 2. The provider sends the browser back with `code` and `state`: to the gateway's callback,
//!    or the user pastes the URL ([`Onboarding::complete_url`]). [`Onboarding::complete`]
//!    *takes* the session (one atomic get-and-delete, so a state works once, on any
//!    instance, success or not), exchanges the code with the verifier, reads the account's
//!    e-mail, and returns the account to create, which
//!    [`Admin::create_onboarded_account`](crate::admin::Admin::create_onboarded_account) creates through the admin layer (proxy assigned,
//!    routing snapshot reloaded everywhere).
//!
//! The Antigravity project id is stored in the credential (`auth_data.project_id`), where
//! the provider reads it. The token URL and client id that issued the grant are stored with
//! it, so refreshes use the same client.

mod error;
pub mod page;
mod settings;

use std::sync::Arc;
use std::time::Duration;

use aigw_domain::{
    AccountId, AuthData, NewAccount, OAuthCredentials, ProviderId, ProviderKind, Secret, UserId,
};
use aigw_repository::state::SharedState;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use error::OnboardingError;
pub use page::CallbackOutcome;
pub use settings::{OAuthApp, OnboardingSettings};

use crate::AdminError;
use crate::client_pool::{ClientPool, Egress};

/// Token and userinfo answers are small; anything bigger is not one.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Used when a token response has no `expires_in`.
const DEFAULT_EXPIRES_IN: i64 = 3600;

/// The OAuth flows on offer. Their ids are the original gateway's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    /// Google OAuth for the Antigravity provider.
    Antigravity,
    /// Claude (Anthropic) OAuth.
    Claude,
    /// Codex (OpenAI) OAuth.
    Codex,
}

impl Flow {
    /// Every flow, in the order the API lists them.
    pub const ALL: [Flow; 3] = [Flow::Antigravity, Flow::Codex, Flow::Claude];

    /// A flow by its id; the provider ids `anthropic`/`openai`/`google` are accepted too.
    pub fn parse(id: &str) -> Option<Self> {
        match id {
            "antigravity" | "google" => Some(Self::Antigravity),
            "claude" | "anthropic" => Some(Self::Claude),
            "codex" | "openai" => Some(Self::Codex),
            _ => None,
        }
    }

    /// The flow's id.
    pub const fn id(self) -> &'static str {
        match self {
            Self::Antigravity => "antigravity",
            Self::Claude => "claude",
            Self::Codex => "codex",
        }
    }

    /// A display name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Antigravity => "Google Antigravity",
            Self::Claude => "Claude (Anthropic)",
            Self::Codex => "Codex (OpenAI)",
        }
    }

    /// The provider kind the grant is for.
    pub const fn kind(self) -> ProviderKind {
        match self {
            Self::Antigravity => ProviderKind::Antigravity,
            Self::Claude => ProviderKind::Anthropic,
            Self::Codex => ProviderKind::Codex,
        }
    }

    /// The built-in provider the account is created at.
    pub fn provider_id(self) -> Result<ProviderId, AdminError> {
        let id = match self {
            Self::Antigravity => "antigravity",
            Self::Claude => "anthropic",
            Self::Codex => "codex",
        };
        ProviderId::new(id).map_err(|_| AdminError::UnknownProvider(id.to_owned()))
    }
}

/// A flow as `GET /api/v1/oauth/providers` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowInfo {
    /// The id to pass to init.
    pub id: &'static str,
    /// A display name.
    pub name: &'static str,
}

/// How the browser comes back: `auto` to the gateway's callback, `manual` when the user
/// pastes the URL the provider showed (reported back as given; the redirect URI is the
/// client's registered one either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowType {
    /// The provider redirects to the gateway's callback.
    #[default]
    Auto,
    /// The user pastes the callback URL into `POST /api/v1/oauth/exchange`.
    Manual,
}

/// A request to start a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitRequest {
    /// The flow id (`antigravity`, `claude`, `codex`).
    pub provider: String,
    /// See [`FlowType`].
    pub flow_type: FlowType,
    /// The Google Cloud project; required for Antigravity.
    pub project_id: Option<String>,
    /// The user starting the flow, who will own the account.
    pub created_by: Option<UserId>,
}

/// What the caller sends the user to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InitResponse {
    /// The provider's authorisation URL, with the state and PKCE challenge.
    pub auth_url: String,
    /// The state; the callback must bring it back.
    pub state: String,
    /// As requested.
    pub flow_type: FlowType,
    /// When the state stops working.
    pub expires_at: DateTime<Utc>,
}

/// A completed flow: the account to create.
#[derive(Debug, Clone)]
pub struct Onboarded {
    /// The flow it came from.
    pub flow: Flow,
    /// The account, owned by whoever started the flow.
    pub account: NewAccount,
}

/// What a manual refresh did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refreshed {
    /// A message for people.
    pub message: &'static str,
    /// The account.
    pub account_id: AccountId,
    /// When the new access token expires.
    pub expires_at: Option<DateTime<Utc>>,
}

/// The session kept between init and callback.
#[derive(Serialize, Deserialize)]
struct Session {
    flow: Flow,
    code_verifier: String,
    redirect_uri: String,
    project_id: Option<String>,
    created_by: Option<UserId>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
    /// Anthropic names the account in the token response.
    #[serde(default)]
    account: Option<AnthropicAccount>,
}

#[derive(Deserialize)]
struct AnthropicAccount {
    #[serde(default)]
    email_address: Option<String>,
}

#[derive(Deserialize)]
struct UserInfo {
    #[serde(default)]
    email: Option<String>,
}

/// OAuth onboarding. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Onboarding {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    settings: OnboardingSettings,
    state: SharedState,
    pool: ClientPool,
}

fn session_key(state: &str) -> String {
    format!("oauth:session:{state}")
}

/// `n` random bytes from the thread's CSPRNG as unpadded base64url.
fn random_token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The S256 challenge of a PKCE verifier (RFC 7636 §4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn absolute(url: &str, what: &'static str) -> Result<Uri, OnboardingError> {
    let uri: Uri = url
        .parse()
        .map_err(|_| OnboardingError::InvalidEndpoint(what))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
        return Err(OnboardingError::InvalidEndpoint(what));
    }
    Ok(uri)
}

/// The claims of a JWT, read without verifying it: they only label the account and name
/// its ChatGPT account, and the token came straight from the token endpoint over the
/// gateway's own connection.
fn jwt_claims(token: &str) -> Option<serde_json::Value> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The ChatGPT account of an OpenAI id token: `https://api.openai.com/auth` →
/// `chatgpt_account_id`.
fn chatgpt_account_id(claims: &serde_json::Value) -> Option<String> {
    claims
        .get("https://api.openai.com/auth")?
        .get("chatgpt_account_id")?
        .as_str()
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
}

fn seconds(value: &serde_json::Value) -> Option<i64> {
    let n = match value {
        serde_json::Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }?;
    Some(n.max(0))
}

impl Onboarding {
    /// Onboarding keeping sessions in `state` and calling OAuth servers through `pool`
    /// (directly: the account has no proxy yet).
    pub fn new(settings: OnboardingSettings, state: SharedState, pool: ClientPool) -> Self {
        Self {
            inner: Arc::new(Inner {
                settings,
                state,
                pool,
            }),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &OnboardingSettings {
        &self.inner.settings
    }

    /// The flows on offer.
    pub fn flows(&self) -> Vec<FlowInfo> {
        Flow::ALL
            .iter()
            .map(|f| FlowInfo {
                id: f.id(),
                name: f.name(),
            })
            .collect()
    }

    /// Starts a flow: stores the session and returns the authorisation URL.
    pub async fn init(&self, request: InitRequest) -> Result<InitResponse, AdminError> {
        let flow = Flow::parse(request.provider.trim())
            .ok_or_else(|| OnboardingError::UnknownProvider(request.provider.clone()))?;
        let project_id = request
            .project_id
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty());
        if flow == Flow::Antigravity && project_id.is_none() {
            return Err(OnboardingError::MissingField("project_id").into());
        }
        let app = self.inner.settings.app(flow.kind());
        let client_id = app
            .client_id
            .as_deref()
            .ok_or(OnboardingError::ClientNotConfigured(flow.id()))?;
        let redirect_uri = app
            .redirect_uri
            .clone()
            .unwrap_or_else(|| self.inner.settings.redirect_uri.clone());
        let mut auth_url = url::Url::parse(&app.authorize_url)
            .map_err(|_| OnboardingError::InvalidEndpoint("authorize"))?;
        if !matches!(auth_url.scheme(), "http" | "https") {
            return Err(OnboardingError::InvalidEndpoint("authorize").into());
        }

        // 64 random bytes: an 86-character verifier (RFC 7636 allows 43 to 128).
        let code_verifier = random_token(64);
        // 32 random bytes: a 256-bit state, unguessable and unique.
        let state = random_token(32);
        {
            let mut query = auth_url.query_pairs_mut();
            if flow == Flow::Claude {
                query.append_pair("code", "true");
            }
            query
                .append_pair("client_id", client_id)
                .append_pair("response_type", "code")
                .append_pair("redirect_uri", &redirect_uri)
                .append_pair("scope", &app.scopes.join(" "))
                .append_pair("state", &state)
                .append_pair("code_challenge", &pkce_challenge(&code_verifier))
                .append_pair("code_challenge_method", "S256");
            match flow {
                Flow::Antigravity => {
                    query
                        .append_pair("access_type", "offline")
                        .append_pair("prompt", "consent");
                }
                Flow::Codex => {
                    query
                        .append_pair("id_token_add_organizations", "true")
                        .append_pair("codex_cli_simplified_flow", "true");
                }
                Flow::Claude => {}
            }
        }

        let ttl = self.inner.settings.session_ttl;
        let session = Session {
            flow,
            code_verifier,
            redirect_uri,
            project_id,
            created_by: request.created_by,
        };
        self.inner
            .state
            .cache_set(&session_key(&state), &session, ttl)
            .await?;
        let expires_at = Utc::now() + chrono::Duration::from_std(ttl).unwrap_or_default();
        Ok(InitResponse {
            auth_url: auth_url.into(),
            state,
            flow_type: request.flow_type,
            expires_at,
        })
    }

    /// Completes a flow from the callback's query: takes the session of `state` (so it
    /// cannot be used again), exchanges `code`, and returns the account to create. When the
    /// provider reported an `error` instead, the session is consumed and the error returned.
    pub async fn complete(
        &self,
        code: Option<&str>,
        state: Option<&str>,
        error: Option<&str>,
    ) -> Result<Onboarded, AdminError> {
        let state = state
            .filter(|s| !s.is_empty())
            .ok_or(OnboardingError::MissingField("state"))?;
        // Claude shows the code as `code#state`; only the part before `#` is the code.
        let code = code.map(|c| c.split('#').next().unwrap_or(c));
        let session: Session = self
            .inner
            .state
            .cache_take(&session_key(state))
            .await?
            .ok_or(OnboardingError::InvalidState)?;
        if let Some(error) = error {
            let shown = error::plain_code(error).unwrap_or_else(|| "error".to_owned());
            return Err(OnboardingError::Denied(shown).into());
        }
        let code = code
            .filter(|c| !c.is_empty())
            .ok_or(OnboardingError::MissingField("code"))?;
        let flow = session.flow;
        let app = self.inner.settings.app(flow.kind());
        let tokens = self.exchange(flow, app, code, state, &session).await?;
        let claims = tokens.id_token.as_deref().and_then(jwt_claims);
        let email = match flow {
            Flow::Antigravity => self.google_email(app, &tokens.access_token).await?,
            Flow::Codex => claims
                .as_ref()
                .and_then(|c| c.get("email")?.as_str().map(str::to_owned)),
            Flow::Claude => tokens
                .account
                .as_ref()
                .and_then(|a| a.email_address.clone()),
        };
        let expires_in = tokens
            .expires_in
            .as_ref()
            .and_then(seconds)
            .unwrap_or(DEFAULT_EXPIRES_IN);
        let expires_at =
            DateTime::from_timestamp(Utc::now().timestamp().saturating_add(expires_in), 0);
        let credentials = OAuthCredentials {
            access_token: Some(Secret::new(tokens.access_token)),
            refresh_token: tokens
                .refresh_token
                .filter(|t| !t.is_empty())
                .map(Secret::new),
            expires_at,
            token_url: Some(app.token_url.clone()),
            client_id: app.client_id.clone(),
            client_secret: None,
            project_id: session.project_id,
            scope: tokens.scope,
            token_type: tokens.token_type,
            email: email.clone(),
            account_id: claims.as_ref().and_then(chatgpt_account_id),
        };
        // A Codex account cannot be called without its ChatGPT account.
        if flow == Flow::Codex && credentials.account_id.is_none() {
            return Err(
                OnboardingError::Unavailable("the id token names no ChatGPT account").into(),
            );
        }
        let label = email.unwrap_or_else(|| format!("{} account", flow.id()));
        let mut account = NewAccount::new(
            flow.provider_id()?,
            label,
            AuthData::Oauth(Box::new(credentials)),
        );
        account.expires_at = expires_at;
        account.created_by = session.created_by;
        Ok(Onboarded { flow, account })
    }

    /// Completes a flow from the URL the provider redirected to, pasted by the user.
    pub async fn complete_url(&self, callback_url: &str) -> Result<Onboarded, AdminError> {
        let url = url::Url::parse(callback_url.trim())
            .map_err(|_| OnboardingError::InvalidCallbackUrl)?;
        let mut code = None;
        let mut state = None;
        let mut error = None;
        // Some providers put the answer in the fragment; the query wins.
        let fragment = url.fragment().unwrap_or_default();
        let pairs = url
            .query_pairs()
            .chain(url::form_urlencoded::parse(fragment.as_bytes()));
        for (name, value) in pairs {
            let slot = match name.as_ref() {
                "code" => &mut code,
                "state" => &mut state,
                "error" => &mut error,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(value.into_owned());
            }
        }
        if state.is_none() || (code.is_none() && error.is_none()) {
            return Err(OnboardingError::InvalidCallbackUrl.into());
        }
        self.complete(code.as_deref(), state.as_deref(), error.as_deref())
            .await
    }

    async fn exchange(
        &self,
        flow: Flow,
        app: &OAuthApp,
        code: &str,
        state: &str,
        session: &Session,
    ) -> Result<TokenResponse, AdminError> {
        let uri = absolute(&app.token_url, "token")?;
        let client_id = app
            .client_id
            .as_deref()
            .ok_or(OnboardingError::ClientNotConfigured(flow.id()))?;
        let (content_type, body) = match flow {
            Flow::Claude => {
                let body = serde_json::json!({
                    "grant_type": "authorization_code",
                    "code": code,
                    "state": state,
                    "client_id": client_id,
                    "redirect_uri": session.redirect_uri,
                    "code_verifier": session.code_verifier,
                });
                ("application/json", body.to_string().into_bytes())
            }
            Flow::Antigravity | Flow::Codex => {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                form.append_pair("grant_type", "authorization_code")
                    .append_pair("code", code)
                    .append_pair("redirect_uri", &session.redirect_uri)
                    .append_pair("client_id", client_id)
                    .append_pair("code_verifier", &session.code_verifier);
                if let Some(secret) = &app.client_secret {
                    form.append_pair("client_secret", secret.expose());
                }
                (
                    "application/x-www-form-urlencoded",
                    form.finish().into_bytes(),
                )
            }
        };
        let request = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(CONTENT_TYPE, content_type)
            .header(ACCEPT, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| OnboardingError::InvalidEndpoint("token"))?;
        let (status, body) = self.call(request).await?;
        if !status.is_success() {
            let error = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| match v.get("error")? {
                    serde_json::Value::String(s) => error::plain_code(s),
                    serde_json::Value::Object(o) => o
                        .get("type")
                        .and_then(|t| t.as_str())
                        .and_then(error::plain_code),
                    _ => None,
                });
            if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                return Err(OnboardingError::Unavailable("token endpoint").into());
            }
            return Err(OnboardingError::Rejected { status, error }.into());
        }
        let tokens: TokenResponse = serde_json::from_slice(&body)
            .map_err(|_| OnboardingError::Unavailable("token endpoint"))?;
        if tokens.access_token.is_empty() {
            return Err(OnboardingError::Unavailable("token endpoint").into());
        }
        Ok(tokens)
    }

    async fn google_email(
        &self,
        app: &OAuthApp,
        access_token: &str,
    ) -> Result<Option<String>, AdminError> {
        let Some(url) = app.userinfo_url.as_deref() else {
            return Ok(None);
        };
        let request = Request::builder()
            .method(Method::GET)
            .uri(absolute(url, "userinfo")?)
            .header(AUTHORIZATION, format!("Bearer {access_token}"))
            .header(ACCEPT, "application/json")
            .body(Full::new(Bytes::new()))
            .map_err(|_| OnboardingError::InvalidEndpoint("userinfo"))?;
        let (status, body) = self.call(request).await?;
        if !status.is_success() {
            return Err(OnboardingError::Unavailable("userinfo endpoint").into());
        }
        let info: UserInfo = serde_json::from_slice(&body)
            .map_err(|_| OnboardingError::Unavailable("userinfo endpoint"))?;
        Ok(info.email)
    }

    /// Sends `request` directly and reads the answer, all within the exchange timeout.
    async fn call(&self, request: Request<Full<Bytes>>) -> Result<(StatusCode, Bytes), AdminError> {
        let timeout: Duration = self.inner.settings.exchange_timeout;
        let exchange = async {
            let response = self
                .inner
                .pool
                .send(&Egress::Direct, request)
                .await
                .map_err(|_| OnboardingError::Unavailable("OAuth server unreachable"))?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|_| OnboardingError::Unavailable("OAuth server answer unreadable"))?
                .to_bytes();
            Ok::<_, OnboardingError>((status, body))
        };
        Ok(tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| OnboardingError::Unavailable("OAuth server timed out"))??)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_the_rfc_example() {
        // RFC 7636 appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn random_tokens_are_long_and_distinct() {
        let a = random_token(32);
        assert_eq!(a.len(), 43, "256 bits");
        assert_ne!(a, random_token(32));
        assert_eq!(random_token(64).len(), 86);
    }

    #[test]
    fn flows_accept_their_ids_and_provider_ids() {
        assert_eq!(Flow::parse("claude"), Some(Flow::Claude));
        assert_eq!(Flow::parse("anthropic"), Some(Flow::Claude));
        assert_eq!(Flow::parse("openai"), Some(Flow::Codex));
        assert_eq!(Flow::parse("gemini"), None);
    }

    #[test]
    fn jwt_claims_name_the_email_and_chatgpt_account() {
        let payload = URL_SAFE_NO_PAD.encode(
            br#"{"email":"a@b.c","https://api.openai.com/auth":{"chatgpt_account_id":"acct-9"}}"#,
        );
        let claims = jwt_claims(&format!("h.{payload}.s")).unwrap();
        assert_eq!(claims["email"], "a@b.c");
        assert_eq!(chatgpt_account_id(&claims).as_deref(), Some("acct-9"));
        assert_eq!(chatgpt_account_id(&serde_json::json!({"email": "x"})), None);
        assert_eq!(jwt_claims("garbage"), None);
    }
}
