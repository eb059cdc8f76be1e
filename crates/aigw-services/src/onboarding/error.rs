//! What an OAuth onboarding step can fail with. No variant carries a token, a code or a
//! response body: only statuses and short, checked identifiers.

use http::StatusCode;

/// A failed onboarding step.
#[derive(Debug, thiserror::Error)]
pub enum OnboardingError {
    /// The provider is not one of the OAuth flows the gateway offers.
    #[error("provider: expected antigravity, claude or codex")]
    UnknownProvider(String),
    /// A request field is missing or empty; the name is its JSON field.
    #[error("{0} is required")]
    MissingField(&'static str),
    /// The account named does not authenticate with OAuth.
    #[error("the account does not authenticate with OAuth")]
    NotOAuth,
    /// The `state` is unknown, expired, already used or tampered with.
    #[error("invalid or expired OAuth state")]
    InvalidState,
    /// The authorisation server sent the user back with an error (e.g. `access_denied`).
    #[error("the authorisation was refused: {0}")]
    Denied(String),
    /// The pasted callback URL cannot be parsed or has no code/state.
    #[error("callback_url is not a callback URL with code and state")]
    InvalidCallbackUrl,
    /// No OAuth client id is configured for this provider.
    #[error("no OAuth client id is configured for {0}")]
    ClientNotConfigured(&'static str),
    /// A configured endpoint is not an absolute http(s) URL.
    #[error("the configured OAuth {0} URL is invalid")]
    InvalidEndpoint(&'static str),
    /// The token endpoint refused the code.
    #[error("the token endpoint refused the authorisation code with {status}{}", code_suffix(error.as_deref()))]
    Rejected {
        /// Its status.
        status: StatusCode,
        /// The OAuth error code, when it was a plain identifier.
        error: Option<String>,
    },
    /// The token endpoint or userinfo endpoint could not be reached or answered unusably.
    #[error("the OAuth server is unavailable: {0}")]
    Unavailable(&'static str),
}

fn code_suffix(code: Option<&str>) -> String {
    code.map(|c| format!(" ({c})")).unwrap_or_default()
}

impl OnboardingError {
    /// A short, stable name for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::UnknownProvider(_) => "oauth_unknown_provider",
            Self::MissingField(_) => "oauth_missing_field",
            Self::NotOAuth => "oauth_not_oauth_account",
            Self::InvalidState => "oauth_invalid_state",
            Self::Denied(_) => "oauth_denied",
            Self::InvalidCallbackUrl => "oauth_invalid_callback_url",
            Self::ClientNotConfigured(_) => "oauth_client_not_configured",
            Self::InvalidEndpoint(_) => "oauth_invalid_endpoint",
            Self::Rejected { .. } => "oauth_code_rejected",
            Self::Unavailable(_) => "oauth_unavailable",
        }
    }
}

/// Keeps an OAuth error code only if it is a short plain identifier, so nothing the server
/// echoes (a code, a token) reaches a message.
pub(crate) fn plain_code(code: &str) -> Option<String> {
    let plain = !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    plain.then(|| code.to_owned())
}
