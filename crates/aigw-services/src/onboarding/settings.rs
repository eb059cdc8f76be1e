//! Where each OAuth flow sends the user and exchanges the code: configurable, so that
//! deployments can use their own clients and tests the mock OAuth server.

use std::time::Duration;

use aigw_domain::{ProviderKind, Secret};

use crate::credentials::{
    ANTHROPIC_CLIENT_ID, ANTHROPIC_TOKEN_URL, GOOGLE_TOKEN_URL, OPENAI_CLIENT_ID, OPENAI_TOKEN_URL,
};

/// Google's authorisation endpoint.
pub const GOOGLE_AUTHORIZE_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
/// Google's userinfo endpoint, which names the account's e-mail.
pub const GOOGLE_USERINFO_URL: &str = "https://www.googleapis.com/oauth2/v1/userinfo?alt=json";
/// Anthropic's (Claude) authorisation endpoint.
pub const ANTHROPIC_AUTHORIZE_URL: &str = "https://claude.ai/oauth/authorize";
/// The redirect URI registered for the Claude Code client: a page showing the code to paste.
pub const ANTHROPIC_REDIRECT_URI: &str = "https://console.anthropic.com/oauth/code/callback";
/// OpenAI's (Codex) authorisation endpoint.
pub const OPENAI_AUTHORIZE_URL: &str = "https://auth.openai.com/oauth/authorize";
/// The redirect URI registered for the Codex CLI client.
pub const OPENAI_REDIRECT_URI: &str = "http://localhost:1455/auth/callback";

/// One OAuth client: its endpoints, identity and scopes.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthApp {
    /// Where the user is sent to grant access.
    pub authorize_url: String,
    /// Where the code is exchanged (and, later, tokens refreshed).
    pub token_url: String,
    /// The client id; `None` means this flow is not configured.
    pub client_id: Option<String>,
    /// The client secret, for confidential clients (Google installed apps have one).
    pub client_secret: Option<Secret>,
    /// The scopes asked for.
    pub scopes: Vec<String>,
    /// The redirect URI registered for the client; `None` means the gateway's own callback
    /// ([`OnboardingSettings::redirect_uri`]).
    pub redirect_uri: Option<String>,
    /// Google's userinfo endpoint, read for the account's e-mail (Google flows only).
    pub userinfo_url: Option<String>,
}

impl OAuthApp {
    /// The Google (Antigravity) flow. Google's client id and secret are not built in.
    pub fn google() -> Self {
        Self {
            authorize_url: GOOGLE_AUTHORIZE_URL.to_owned(),
            token_url: GOOGLE_TOKEN_URL.to_owned(),
            client_id: None,
            client_secret: None,
            scopes: [
                "https://www.googleapis.com/auth/cloud-platform",
                "https://www.googleapis.com/auth/userinfo.email",
                "https://www.googleapis.com/auth/userinfo.profile",
                "https://www.googleapis.com/auth/cclog",
                "https://www.googleapis.com/auth/experimentsandconfigs",
            ]
            .map(str::to_owned)
            .to_vec(),
            redirect_uri: None,
            userinfo_url: Some(GOOGLE_USERINFO_URL.to_owned()),
        }
    }

    /// The Claude flow with the Claude Code client.
    pub fn anthropic() -> Self {
        Self {
            authorize_url: ANTHROPIC_AUTHORIZE_URL.to_owned(),
            token_url: ANTHROPIC_TOKEN_URL.to_owned(),
            client_id: Some(ANTHROPIC_CLIENT_ID.to_owned()),
            client_secret: None,
            scopes: ["org:create_api_key", "user:profile", "user:inference"]
                .map(str::to_owned)
                .to_vec(),
            redirect_uri: Some(ANTHROPIC_REDIRECT_URI.to_owned()),
            userinfo_url: None,
        }
    }

    /// The Codex flow with the Codex CLI client.
    pub fn openai() -> Self {
        Self {
            authorize_url: OPENAI_AUTHORIZE_URL.to_owned(),
            token_url: OPENAI_TOKEN_URL.to_owned(),
            client_id: Some(OPENAI_CLIENT_ID.to_owned()),
            client_secret: None,
            scopes: ["openid", "email", "profile", "offline_access"]
                .map(str::to_owned)
                .to_vec(),
            redirect_uri: Some(OPENAI_REDIRECT_URI.to_owned()),
            userinfo_url: None,
        }
    }
}

/// Settings of OAuth onboarding.
#[derive(Debug, Clone, PartialEq)]
pub struct OnboardingSettings {
    /// The gateway's own callback, `…/api/v1/oauth/callback`, as the browser reaches it.
    pub redirect_uri: String,
    /// The origin of the page that opened the authorisation window; the callback page posts
    /// its result there and nowhere else. `None`: it posts nothing.
    pub callback_origin: Option<String>,
    /// How long an authorisation may take, from init to callback.
    pub session_ttl: Duration,
    /// Limit on one call to a token or userinfo endpoint.
    pub exchange_timeout: Duration,
    /// The Antigravity flow.
    pub google: OAuthApp,
    /// The Claude flow.
    pub anthropic: OAuthApp,
    /// The Codex flow.
    pub openai: OAuthApp,
}

impl Default for OnboardingSettings {
    fn default() -> Self {
        Self {
            redirect_uri: "http://localhost:8080/api/v1/oauth/callback".to_owned(),
            callback_origin: None,
            session_ttl: Duration::from_secs(10 * 60),
            exchange_timeout: Duration::from_secs(30),
            google: OAuthApp::google(),
            anthropic: OAuthApp::anthropic(),
            openai: OAuthApp::openai(),
        }
    }
}

impl OnboardingSettings {
    /// The client of a provider kind's flow.
    pub fn app(&self, kind: ProviderKind) -> &OAuthApp {
        match kind {
            ProviderKind::Antigravity | ProviderKind::Gemini => &self.google,
            ProviderKind::Anthropic => &self.anthropic,
            ProviderKind::Openai | ProviderKind::Codex => &self.openai,
        }
    }
}
