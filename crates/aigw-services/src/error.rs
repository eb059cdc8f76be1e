//! The errors of the service layer, one type per caller so that each
//! function names only what it can fail with: [`RequestError`] for a client
//! request through the data plane, [`AdminError`] for the management API and
//! the operator commands, and [`StartError`] for building the
//! [`crate::Runtime`]. Each is typed so the HTTP layer can map it to a
//! status and failover can read it without looking at strings.

use std::time::Duration;

use aigw_domain::{AccountId, AuthKind, ProviderId};

/// What a client request through the data plane can fail with.
///
/// Which HTTP status and client-format body each variant means is decided
/// in one match in the HTTP layer (`aigw_handlers::request_status`); the
/// request metrics here are handed that table as an [`ErrorStatus`].
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// No mapping or rule routes this model to an active provider.
    #[error("model `{0}` is not served by this gateway")]
    ModelNotFound(String),
    /// Providers serve the model, but none has an account that can take the request now.
    #[error("no usable account for model `{model}`")]
    NoUsableAccount {
        /// The model the client asked for.
        model: String,
        /// When the first cooling-down account becomes usable again, if known.
        retry_after: Option<Duration>,
    },
    /// The client presented no key, or one that is unknown or revoked.
    #[error("invalid or missing API key")]
    Unauthenticated,
    /// An account's stored credential cannot be used for its provider.
    #[error("account {account} has no usable credential for provider {provider}")]
    UnusableCredential {
        /// The account whose credential was refused.
        account: AccountId,
        /// The provider it belongs to.
        provider: ProviderId,
    },
    /// The client's request body is invalid.
    #[error(transparent)]
    BadRequest(#[from] aigw_formats::FormatError),
    /// A provider's base URL does not make a valid request URL.
    #[error("the provider's base URL does not form a valid request URL")]
    InvalidUpstreamUrl,
    /// The upstream could not be reached or failed before answering.
    #[error(transparent)]
    Upstream(crate::client_pool::TransportError),
    /// The upstream answered with an error status; `body` is already in the
    /// client's error format.
    #[error("upstream answered {status}")]
    UpstreamStatus {
        /// The upstream's status, passed on to the client.
        status: http::StatusCode,
        /// The error body to send the client.
        body: bytes::Bytes,
    },
    /// The upstream refused the account's credential (401 or 403). The
    /// client did nothing wrong, and the upstream's text about the
    /// credential is not passed on.
    #[error("upstream refused the account's credential ({status})")]
    UpstreamAuth {
        /// 401 or 403, as the upstream answered.
        status: http::StatusCode,
        /// The account whose credential was refused, to cool it down.
        account: AccountId,
    },
    /// An OAuth account's token could not be obtained.
    #[error(transparent)]
    Credential(crate::credentials::CredentialError),
    /// The upstream's event stream failed before any content reached the
    /// client. Text the upstream sent in it is already redacted
    /// ([`crate::redact::Secrets::redact_stream_error`]).
    #[error("upstream stream failed: {0}")]
    UpstreamStream(aigw_formats::stream::StreamError),
    /// The tokenizer vocabulary named could not be loaded, so a local token
    /// count cannot be made.
    #[error("the {0} tokenizer is unavailable")]
    TokenizerUnavailable(&'static str),
    /// The upstream answered 2xx with a body that cannot be read.
    #[error("upstream response unreadable: {0}")]
    UpstreamResponse(aigw_formats::FormatError),
}

impl RequestError {
    /// A short, stable, low-cardinality name for metric labels and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ModelNotFound(_) => "model_not_found",
            Self::NoUsableAccount { .. } => "no_usable_account",
            Self::Unauthenticated => "unauthenticated",
            Self::UnusableCredential { .. } => "unusable_credential",
            Self::BadRequest(_) => "bad_request",
            Self::InvalidUpstreamUrl => "invalid_upstream_url",
            Self::Upstream(e) => e.kind().as_str(),
            Self::UpstreamStatus { .. } => "upstream_status",
            Self::UpstreamAuth { .. } => "upstream_auth",
            Self::UpstreamResponse(_) => "upstream_response",
            Self::UpstreamStream(_) => "upstream_stream",
            Self::TokenizerUnavailable(_) => "tokenizer_unavailable",
            Self::Credential(e) => e.kind(),
        }
    }
}

/// What a management call (the management API, the dashboard, the
/// operator commands, OAuth onboarding and sign-in) can fail with.
///
/// Which HTTP status, code and message each variant means is decided in one
/// match in the HTTP layer (`aigw_handlers::admin_status`); the dashboard is
/// handed that table as an [`ErrorStatus`].
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// A repository call failed.
    #[error(transparent)]
    Repository(#[from] aigw_repository::Error),
    /// The shared-state store (sign-in throttle, onboarding flows, the
    /// error log) failed.
    #[error(transparent)]
    State(#[from] aigw_repository::state::StateError),
    /// A management caller presented no credential, or one that is unknown,
    /// expired, revoked, or whose user is disabled or deleted.
    #[error("authentication required")]
    NotSignedIn,
    /// A sign-in with a wrong password or an unknown username.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// A sign-in with the right password for a disabled user.
    #[error("account disabled")]
    UserDisabled,
    /// Too many sign-in attempts for the username or from the address; the
    /// next may come after `retry_after`.
    #[error("too many sign-in attempts; try again later")]
    TooManyAttempts {
        /// How long until the throttle lets the next attempt through.
        retry_after: Duration,
    },
    /// The caller may not do this (role or ownership).
    #[error("{0}")]
    Forbidden(&'static str),
    /// The entity the request names does not exist, or is not the caller's to see.
    #[error("{0} not found")]
    NotFound(Entity),
    /// The write conflicts with existing data (a duplicate, a protected row).
    #[error("{0}")]
    Conflict(String),
    /// A value is well-formed but not acceptable; `field` is its JSON path.
    #[error("{field}: {message}")]
    InvalidField {
        /// The JSON path of the value, e.g. `fallback_base_urls[0]`.
        field: String,
        /// Why it is refused, for the caller.
        message: String,
    },
    /// The caller named a provider that does not exist.
    #[error("provider `{0}` does not exist")]
    UnknownProvider(String),
    /// A credential kind the provider does not accept.
    #[error(
        "provider `{provider}` does not accept {kind} credentials (it accepts: {})",
        crate::admin::describe_kinds(supported)
    )]
    UnsupportedAuthKind {
        /// The provider the account was for.
        provider: ProviderId,
        /// The kind of the credential given.
        kind: AuthKind,
        /// The kinds the provider accepts.
        supported: Vec<AuthKind>,
    },
    /// The management API's signing or hashing machinery failed.
    #[error("{0}")]
    Crypto(&'static str),
    /// An OAuth onboarding step failed.
    #[error(transparent)]
    Onboarding(#[from] crate::onboarding::OnboardingError),
    /// An OAuth account's token could not be refreshed on request.
    #[error(transparent)]
    Credential(crate::credentials::CredentialError),
}

impl AdminError {
    /// A 422 naming `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A short, stable, low-cardinality name for metric labels and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Repository(_) => "repository",
            Self::State(_) => "state",
            Self::NotSignedIn => "not_signed_in",
            Self::InvalidCredentials => "invalid_credentials",
            Self::UserDisabled => "user_disabled",
            Self::TooManyAttempts { .. } => "too_many_attempts",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::InvalidField { .. } => "invalid_field",
            Self::UnknownProvider(_) => "unknown_provider",
            Self::UnsupportedAuthKind { .. } => "unsupported_auth_kind",
            Self::Crypto(_) => "crypto",
            Self::Onboarding(e) => e.kind(),
            Self::Credential(e) => e.kind(),
        }
    }
}

/// What building the [`crate::Runtime`] from its settings can fail with:
/// an invalid setting, or a store that cannot be opened. Nothing is served
/// when it fails, so it never becomes an HTTP response.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A configured routing rule names an invalid provider id.
    #[error("routing rule `{prefix}` names an invalid provider id `{provider}`")]
    InvalidRoutingRule {
        /// The model-name prefix of the rule.
        prefix: String,
        /// The provider id the rule names.
        provider: String,
    },
    /// A configured base URL names a provider that does not exist.
    #[error("provider `{0}` does not exist")]
    UnknownProvider(String),
    /// A repository call failed.
    #[error(transparent)]
    Repository(#[from] aigw_repository::Error),
    /// The shared-state store is misconfigured.
    #[error(transparent)]
    State(#[from] aigw_repository::state::StateError),
    /// The client pool is misconfigured.
    #[error(transparent)]
    Pool(#[from] crate::client_pool::PoolError),
    /// The stats journal cannot be opened.
    #[error(transparent)]
    Journal(#[from] crate::stats::JournalError),
    /// The first admin user could not be created.
    #[error(transparent)]
    FirstAdmin(AdminError),
}

impl StartError {
    /// A short, stable, low-cardinality name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidRoutingRule { .. } => "invalid_routing_rule",
            Self::UnknownProvider(_) => "unknown_provider",
            Self::Repository(_) => "repository",
            Self::State(_) => "state",
            Self::Pool(_) => "pool",
            Self::Journal(_) => "stats_journal",
            Self::FirstAdmin(e) => e.kind(),
        }
    }
}

/// A kind of record the management API names by id, for "not found".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    /// An upstream account.
    Account,
    /// A client API key.
    ApiKey,
    /// A model mapping.
    ModelMapping,
    /// A provider.
    Provider,
    /// An outbound proxy.
    Proxy,
    /// A user of the management API.
    User,
}

impl Entity {
    /// The entity's name in messages, e.g. "api key".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::ApiKey => "api key",
            Self::ModelMapping => "model mapping",
            Self::Provider => "provider",
            Self::Proxy => "proxy",
            Self::User => "user",
        }
    }
}

impl std::fmt::Display for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The HTTP status a caller gets for an error of type `E`, as the HTTP
/// layer's one table for that type decides it: the request metrics label
/// their outcome with `ErrorStatus<RequestError>`, the dashboard answers
/// with `ErrorStatus<AdminError>`.
pub type ErrorStatus<E> = fn(&E) -> http::StatusCode;
