//! What obtaining an OAuth access token can fail with, typed by retryability so that failover
//! reads the type, never a string. No variant carries a token.

use std::fmt;
use std::time::Duration;

use aigw_domain::ProviderKind;
use http::StatusCode;

use crate::client_pool::TransportErrorKind;

/// Why the token endpoint could not give an answer (a transient failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailability {
    /// It answered with this status (408, 429 or 5xx).
    Status(StatusCode),
    /// It could not be reached, or the connection failed (through the account's proxy if any).
    Network(TransportErrorKind),
    /// It did not answer within the refresh timeout.
    Timeout,
}

impl fmt::Display for Unavailability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status(status) => write!(f, "it answered {status}"),
            Self::Network(kind) => write!(f, "network failure: {}", kind.as_str()),
            Self::Timeout => f.write_str("it did not answer in time"),
        }
    }
}

/// A failure to obtain an OAuth access token for an account.
///
/// `Display` never includes a token, a refresh token or a response body: only statuses and the
/// OAuth error code (`invalid_grant`, …) after checking it is a plain identifier.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The account's credential is not an OAuth grant.
    #[error("the account does not authenticate with OAuth")]
    NotOAuth,
    /// The access token is missing or expiring and there is no refresh token to renew it.
    #[error("the account's OAuth grant has no refresh token and no fresh access token")]
    NoRefreshToken,
    /// Neither the account nor the settings name an OAuth client for this provider kind.
    #[error("no OAuth client id is configured for {kind} token refresh")]
    ClientNotConfigured {
        /// The provider kind whose refresh needs a client id.
        kind: ProviderKind,
    },
    /// The account's (or the kind's default) token endpoint is not an absolute http(s) URL.
    #[error("the OAuth token endpoint URL is invalid")]
    InvalidTokenUrl,
    /// The token endpoint refused the refresh (a 4xx such as `invalid_grant`): the grant is dead
    /// until an operator renews it, so retrying soon is pointless.
    #[error("the token endpoint rejected the refresh with {status}{}", code_suffix(error.as_deref()))]
    Rejected {
        /// The endpoint's status.
        status: StatusCode,
        /// The OAuth error code it gave, if it was a plain identifier.
        error: Option<String>,
        /// How long the account should be left alone.
        retry_after: Duration,
    },
    /// The token endpoint could not answer (network, timeout, 408/429/5xx): a later attempt may
    /// succeed.
    #[error("the token endpoint is unavailable: {reason}")]
    Unavailable {
        /// What went wrong.
        reason: Unavailability,
        /// How long the account should be left alone.
        retry_after: Duration,
    },
    /// The token endpoint answered 2xx with something that is not a token response.
    #[error("the token endpoint's answer is not a valid token response")]
    MalformedResponse {
        /// How long the account should be left alone.
        retry_after: Duration,
    },
    /// A refresh of this account failed recently (here or on another instance); it is not tried
    /// again until the cooldown ends or the account's refresh token changes.
    #[error("token refresh of the account is cooling down after a failure")]
    CoolingDown {
        /// Time left in the cooldown.
        retry_after: Duration,
        /// Whether the failure was a rejection (the grant needs an operator).
        permanent: bool,
    },
    /// Another instance held the refresh lock and no token appeared within the wait limit.
    #[error("no token from another instance's refresh within {0:?}")]
    PeerTimeout(Duration),
    /// The refreshed credentials could not be stored. The new token is cached anyway, so the
    /// next request on the account succeeds without another refresh.
    #[error("the refreshed credentials could not be stored")]
    Persist(#[source] aigw_repository::Error),
    /// The account could not be read back before refreshing.
    #[error("the account could not be reloaded before refreshing")]
    Reload(#[source] aigw_repository::Error),
    /// The refresh task ended without a result (the runtime is shutting down).
    #[error("the token refresh task ended without a result")]
    Aborted,
}

fn code_suffix(code: Option<&str>) -> String {
    code.map(|c| format!(" ({c})")).unwrap_or_default()
}

impl CredentialError {
    /// A short, stable, low-cardinality name for metric labels and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotOAuth => "not_oauth",
            Self::NoRefreshToken => "no_refresh_token",
            Self::ClientNotConfigured { .. } => "oauth_client_not_configured",
            Self::InvalidTokenUrl => "invalid_token_url",
            Self::Rejected { .. } => "refresh_rejected",
            Self::Unavailable { .. } => "token_endpoint_unavailable",
            Self::MalformedResponse { .. } => "token_response_malformed",
            Self::CoolingDown { .. } => "refresh_cooling_down",
            Self::PeerTimeout(_) => "refresh_peer_timeout",
            Self::Persist(_) => "credentials_persist",
            Self::Reload(_) => "credentials_reload",
            Self::Aborted => "refresh_aborted",
        }
    }

    /// True when the account cannot authenticate until an operator changes its credentials:
    /// failover should take it out of rotation for a long while.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::NotOAuth
            | Self::NoRefreshToken
            | Self::ClientNotConfigured { .. }
            | Self::InvalidTokenUrl
            | Self::Rejected { .. } => true,
            Self::CoolingDown { permanent, .. } => *permanent,
            Self::Unavailable { .. }
            | Self::MalformedResponse { .. }
            | Self::PeerTimeout(_)
            | Self::Persist(_)
            | Self::Reload(_)
            | Self::Aborted => false,
        }
    }

    /// How long the caller should cool the account down, when the failure says.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Rejected { retry_after, .. }
            | Self::Unavailable { retry_after, .. }
            | Self::MalformedResponse { retry_after }
            | Self::CoolingDown { retry_after, .. } => Some(*retry_after),
            Self::NotOAuth
            | Self::NoRefreshToken
            | Self::ClientNotConfigured { .. }
            | Self::InvalidTokenUrl
            | Self::PeerTimeout(_)
            | Self::Persist(_)
            | Self::Reload(_)
            | Self::Aborted => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_status_and_the_oauth_code_only() {
        let e = CredentialError::Rejected {
            status: StatusCode::BAD_REQUEST,
            error: Some("invalid_grant".into()),
            retry_after: Duration::from_secs(600),
        };
        assert_eq!(
            e.to_string(),
            "the token endpoint rejected the refresh with 400 Bad Request (invalid_grant)"
        );
        assert!(e.is_permanent());
        assert_eq!(e.retry_after(), Some(Duration::from_secs(600)));
        let e = CredentialError::Unavailable {
            reason: Unavailability::Status(StatusCode::SERVICE_UNAVAILABLE),
            retry_after: Duration::from_secs(30),
        };
        assert!(!e.is_permanent());
        assert_eq!(e.kind(), "token_endpoint_unavailable");
        assert!(e.to_string().contains("503"), "{e}");
    }
}
