//! The one place service errors become HTTP responses: status code, error
//! body in the client's own format, and `Retry-After` where known.
//!
//! The mapping is pure; logging happens once at the edge, in the caller.
//! Internal details (SQL, Redis, socket errors) never reach the client.

use aigw_domain::Format;
use aigw_formats::{ErrorKind, error_body, error_body_with_status, format_error_body};
use aigw_services::client_pool::TransportErrorKind;
use aigw_services::onboarding::OnboardingError;
use aigw_services::{Error, RepositoryError};
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use http::{Response, StatusCode};

use crate::body::ResponseBody;

static JSON: HeaderValue = HeaderValue::from_static("application/json");

/// The HTTP status a client gets for `error`: the one table, read by the
/// responses below, by the dashboard's error pages and by the request
/// metrics (both are handed this function, as they cannot depend on this
/// crate).
///
/// Every variant is named, with no catch-all arm, so a new variant does not
/// compile until someone decides its status. A 4xx is the client's fault: a
/// value they sent, a credential they hold, a rate they exceeded; everything
/// the gateway, its configuration, its database or an upstream did is a 5xx.
pub fn error_status(error: &Error) -> StatusCode {
    match error {
        Error::BadRequest(_) => StatusCode::BAD_REQUEST,
        Error::Unauthenticated | Error::NotSignedIn | Error::InvalidCredentials => {
            StatusCode::UNAUTHORIZED
        }
        Error::UserDisabled | Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Error::ModelNotFound(_) | Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::Conflict(_) => StatusCode::CONFLICT,
        // The caller named a provider that does not exist, or gave a
        // credential of a kind the provider does not take: their input.
        Error::InvalidField { .. }
        | Error::UnknownProvider(_)
        | Error::UnsupportedAuthKind { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        Error::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::NoUsableAccount { .. } => StatusCode::SERVICE_UNAVAILABLE,
        Error::UpstreamStatus { status, .. } => *status,
        Error::Upstream(e) => match e.kind() {
            TransportErrorKind::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            TransportErrorKind::Connect
            | TransportErrorKind::ProxyConnect(_)
            | TransportErrorKind::Tls
            | TransportErrorKind::ConnectionClosed
            | TransportErrorKind::Protocol
            | TransportErrorKind::InvalidRequest => StatusCode::BAD_GATEWAY,
        },
        Error::UpstreamResponse(_)
        | Error::UpstreamStream(_)
        | Error::Credential(_)
        | Error::UpstreamAuth { .. } => StatusCode::BAD_GATEWAY,
        Error::Repository(e) => repository_status(e),
        Error::Onboarding(e) => onboarding_status(e),
        Error::InvalidRoutingRule { .. }
        | Error::UnusableCredential { .. }
        | Error::State(_)
        | Error::Pool(_)
        | Error::Journal(_)
        | Error::InvalidUpstreamUrl
        | Error::TokenizerUnavailable(_)
        | Error::Crypto(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A repository failure: a missing or conflicting row is the caller's
/// reference, a database that is down is worth a retry, the rest is ours.
fn repository_status(error: &RepositoryError) -> StatusCode {
    match error {
        RepositoryError::NotFound { .. } => StatusCode::NOT_FOUND,
        RepositoryError::Conflict { .. } | RepositoryError::ForeignKey { .. } => {
            StatusCode::CONFLICT
        }
        RepositoryError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        RepositoryError::Query { .. }
        | RepositoryError::InvalidRow { .. }
        | RepositoryError::UnsupportedUrl { .. }
        | RepositoryError::Secret { .. }
        | RepositoryError::NoSecretKey { .. }
        | RepositoryError::Migration { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An OAuth onboarding failure: the caller's mistakes are 400, the OAuth
/// server's 502, the gateway's configuration 500.
fn onboarding_status(error: &OnboardingError) -> StatusCode {
    match error {
        OnboardingError::UnknownProvider(_)
        | OnboardingError::MissingField(_)
        | OnboardingError::NotOAuth
        | OnboardingError::InvalidState
        | OnboardingError::Denied(_)
        | OnboardingError::InvalidCallbackUrl
        | OnboardingError::Rejected { .. } => StatusCode::BAD_REQUEST,
        OnboardingError::ClientNotConfigured(_) | OnboardingError::InvalidEndpoint(_) => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
        OnboardingError::Unavailable(_) => StatusCode::BAD_GATEWAY,
    }
}

/// A data-plane error response in `client`'s format.
pub(crate) fn service_error(client: Format, error: &Error) -> Response<ResponseBody> {
    let status = error_status(error);
    let mut retry_after = None;
    let body = match error {
        Error::BadRequest(e) => format_error_body(client, e),
        Error::Unauthenticated => error_body(
            client,
            ErrorKind::Authentication,
            "invalid or missing API key",
            None,
        ),
        Error::ModelNotFound(model) => error_body(
            client,
            ErrorKind::ModelNotFound,
            &format!("the model `{model}` does not exist or is not served by this gateway"),
            Some("model"),
        ),
        Error::NoUsableAccount {
            model,
            retry_after: wait,
        } => {
            // Round up: a client retrying at the second boundary must find
            // the account back.
            retry_after = wait.map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0));
            error_body(
                client,
                ErrorKind::Overloaded,
                &format!("no upstream account can serve `{model}` right now"),
                None,
            )
        }
        Error::UpstreamStatus { body, .. } => body.clone(),
        Error::Upstream(_) => {
            let kind = if status == StatusCode::GATEWAY_TIMEOUT {
                ErrorKind::Timeout
            } else {
                ErrorKind::Api
            };
            error_body(
                client,
                kind,
                "the upstream provider could not be reached",
                None,
            )
        }
        Error::UpstreamResponse(_) | Error::UpstreamStream(_) => error_body(
            client,
            ErrorKind::Api,
            "the upstream provider sent a response that could not be read",
            None,
        ),
        Error::UnusableCredential { .. }
        | Error::InvalidUpstreamUrl
        | Error::TokenizerUnavailable(_)
        | Error::UnknownProvider(_)
        | Error::UnsupportedAuthKind { .. }
        | Error::InvalidRoutingRule { .. }
        | Error::Repository(_)
        | Error::State(_)
        | Error::Pool(_)
        | Error::Journal(_)
        | Error::NotSignedIn
        | Error::InvalidCredentials
        | Error::UserDisabled
        | Error::TooManyAttempts { .. }
        | Error::Forbidden(_)
        | Error::NotFound(_)
        | Error::Conflict(_)
        | Error::InvalidField { .. }
        | Error::Crypto(_)
        | Error::Onboarding(_) => {
            error_body(client, ErrorKind::Api, "internal gateway error", None)
        }
        Error::Credential(_) | Error::UpstreamAuth { .. } => error_body(
            client,
            ErrorKind::Api,
            "the upstream account could not be authenticated",
            None,
        ),
    };
    json_error(status, body, retry_after)
}

/// A gateway-generated error of `kind` in `client`'s format.
pub(crate) fn client_error(
    client: Format,
    kind: ErrorKind,
    message: &str,
) -> Response<ResponseBody> {
    let status =
        StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    client_error_with_status(client, status, kind, message)
}

/// A gateway-generated error of `kind` in `client`'s format, with a status
/// the kind does not imply (405, 408).
pub(crate) fn client_error_with_status(
    client: Format,
    status: StatusCode,
    kind: ErrorKind,
    message: &str,
) -> Response<ResponseBody> {
    json_error(
        status,
        error_body_with_status(client, status.as_u16(), kind, message, None),
        None,
    )
}

fn json_error(status: StatusCode, body: Bytes, retry_after: Option<u64>) -> Response<ResponseBody> {
    let mut resp = Response::new(ResponseBody::full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, JSON.clone());
    if let Some(secs) = retry_after {
        resp.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// An error of the management API: status, a stable machine-readable code and
/// a message safe to show (never internal error text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    /// The methods a 405 lists in `Allow`.
    pub(crate) allow: Option<String>,
    /// Seconds a 429 or 503 tells the client to wait (`Retry-After`).
    pub(crate) retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            allow: None,
            retry_after: None,
        }
    }

    /// 400 naming the field (`$` for the whole body).
    pub(crate) fn bad_field(field: &str, message: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("{field}: {message}"),
        )
    }

    /// The management API's error body: `{"error", "code", "request_id"}`.
    pub(crate) fn into_response(self, request_id: &str) -> Response<ResponseBody> {
        #[derive(serde::Serialize)]
        struct Body<'a> {
            error: &'a str,
            code: &'a str,
            request_id: &'a str,
        }
        let body = serde_json::to_vec(&Body {
            error: &self.message,
            code: self.code,
            request_id,
        })
        .unwrap_or_default();
        let mut resp = json_error(self.status, Bytes::from(body), self.retry_after);
        if let Some(allow) = self.allow.and_then(|a| HeaderValue::from_str(&a).ok()) {
            resp.headers_mut().insert(http::header::ALLOW, allow);
        }
        resp
    }
}

/// The one mapping of service errors to management-API errors.
impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        use aigw_services::RepositoryError as repo;
        let status = error_status(&error);
        match error {
            Error::NotSignedIn | Error::Unauthenticated => {
                Self::new(status, "unauthorized", "authentication required")
            }
            Error::InvalidCredentials => {
                Self::new(status, "invalid_credentials", "invalid credentials")
            }
            Error::UserDisabled => Self::new(status, "account_disabled", "account disabled"),
            Error::TooManyAttempts { retry_after } => {
                let mut e = Self::new(
                    status,
                    "too_many_attempts",
                    "too many sign-in attempts; try again later",
                );
                // Round up: a retry at the second boundary must be admitted.
                e.retry_after =
                    Some(retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0));
                e
            }
            Error::Forbidden(why) => Self::new(status, "forbidden", why),
            Error::NotFound(entity) => {
                Self::new(status, "not_found", format!("{entity} not found"))
            }
            Error::Conflict(message) => Self::new(status, "conflict", message),
            Error::InvalidField { field, message } => {
                Self::new(status, "invalid_value", format!("{field}: {message}"))
            }
            Error::UnknownProvider(_) => {
                Self::new(status, "invalid_value", "provider_id: no such provider")
            }
            Error::UnsupportedAuthKind {
                kind, supported, ..
            } => Self::new(
                status,
                "invalid_value",
                format!(
                    "auth_data.type: the provider does not accept {kind} credentials (it accepts: {})",
                    aigw_services::admin::describe_kinds(&supported)
                ),
            ),
            // Their messages carry no token, code or upstream body (see their docs).
            Error::Onboarding(e) => Self::new(status, e.kind(), e.to_string()),
            Error::Credential(e) => Self::new(status, "credential_refresh_failed", e.to_string()),
            Error::Repository(repo::NotFound { entity, .. }) => {
                Self::new(status, "not_found", format!("{entity} not found"))
            }
            Error::Repository(repo::Conflict { .. }) => Self::new(
                status,
                "conflict",
                "a record with the same unique value already exists",
            ),
            Error::Repository(repo::ForeignKey { .. }) => Self::new(
                status,
                "conflict",
                "the record is referenced by, or refers to, a missing or dependent record",
            ),
            Error::Repository(repo::Unavailable { .. }) => Self::new(
                status,
                "unavailable",
                "the database is unavailable; try again",
            ),
            // Data-plane failures and internal ones: the status says which,
            // the text stays generic.
            Error::Repository(_)
            | Error::InvalidRoutingRule { .. }
            | Error::ModelNotFound(_)
            | Error::NoUsableAccount { .. }
            | Error::UnusableCredential { .. }
            | Error::BadRequest(_)
            | Error::State(_)
            | Error::Pool(_)
            | Error::Journal(_)
            | Error::InvalidUpstreamUrl
            | Error::Upstream(_)
            | Error::UpstreamStatus { .. }
            | Error::UpstreamAuth { .. }
            | Error::UpstreamStream(_)
            | Error::TokenizerUnavailable(_)
            | Error::UpstreamResponse(_)
            | Error::Crypto(_) => Self::new(status, "internal", "internal gateway error"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aigw_domain::{AccountId, AuthKind, ProviderId};
    use aigw_formats::FormatError;
    use aigw_services::StateError;
    use aigw_services::client_pool::{
        ErrorSource, PoolError, ProxyFailure, TimeoutPhase, TransportError,
    };
    use aigw_services::credentials::CredentialError;
    use aigw_services::stats::JournalError;

    use super::*;

    fn upstream(kind: TransportErrorKind) -> Error {
        Error::Upstream(TransportError::new(kind, ErrorSource::Upstream))
    }

    fn format_error() -> FormatError {
        FormatError::InvalidValue {
            path: "model".to_owned(),
            reason: "empty".to_owned(),
        }
    }

    fn repo(error: RepositoryError) -> Error {
        Error::Repository(error)
    }

    /// Every variant with the status a client sees for it. A variant added
    /// to `Error` fails to compile in `error_status` until it has a status;
    /// this table then pins the status chosen.
    #[test]
    fn every_error_has_its_status() {
        let provider = ProviderId::new("openai").unwrap();
        let account = AccountId::new();
        let cases: Vec<(Error, StatusCode)> = vec![
            (Error::BadRequest(format_error()), StatusCode::BAD_REQUEST),
            (Error::Unauthenticated, StatusCode::UNAUTHORIZED),
            (Error::NotSignedIn, StatusCode::UNAUTHORIZED),
            (Error::InvalidCredentials, StatusCode::UNAUTHORIZED),
            (Error::UserDisabled, StatusCode::FORBIDDEN),
            (Error::Forbidden("admins only"), StatusCode::FORBIDDEN),
            (
                Error::ModelNotFound("gpt-x".to_owned()),
                StatusCode::NOT_FOUND,
            ),
            (
                Error::NotFound(aigw_services::Entity::Provider),
                StatusCode::NOT_FOUND,
            ),
            (Error::Conflict("taken".to_owned()), StatusCode::CONFLICT),
            (
                Error::invalid("fallback_base_urls[0]", "not a URL"),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                Error::UnknownProvider("nope".to_owned()),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                Error::UnsupportedAuthKind {
                    provider: provider.clone(),
                    kind: AuthKind::ApiKey,
                    supported: vec![],
                },
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                Error::TooManyAttempts {
                    retry_after: Duration::from_secs(1),
                },
                StatusCode::TOO_MANY_REQUESTS,
            ),
            (
                Error::NoUsableAccount {
                    model: "gpt-x".to_owned(),
                    retry_after: None,
                },
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                Error::UpstreamStatus {
                    status: StatusCode::TOO_MANY_REQUESTS,
                    body: Bytes::new(),
                },
                StatusCode::TOO_MANY_REQUESTS,
            ),
            (
                upstream(TransportErrorKind::Timeout(TimeoutPhase::FirstByte)),
                StatusCode::GATEWAY_TIMEOUT,
            ),
            (
                upstream(TransportErrorKind::Connect),
                StatusCode::BAD_GATEWAY,
            ),
            (
                upstream(TransportErrorKind::ProxyConnect(ProxyFailure::Unreachable)),
                StatusCode::BAD_GATEWAY,
            ),
            (upstream(TransportErrorKind::Tls), StatusCode::BAD_GATEWAY),
            (
                upstream(TransportErrorKind::ConnectionClosed),
                StatusCode::BAD_GATEWAY,
            ),
            (
                upstream(TransportErrorKind::Protocol),
                StatusCode::BAD_GATEWAY,
            ),
            (
                upstream(TransportErrorKind::InvalidRequest),
                StatusCode::BAD_GATEWAY,
            ),
            (
                Error::UpstreamResponse(format_error()),
                StatusCode::BAD_GATEWAY,
            ),
            (
                Error::UpstreamStream(aigw_formats::stream::StreamError::Truncated),
                StatusCode::BAD_GATEWAY,
            ),
            (
                Error::Credential(CredentialError::NoRefreshToken),
                StatusCode::BAD_GATEWAY,
            ),
            (
                Error::UpstreamAuth {
                    status: StatusCode::UNAUTHORIZED,
                    account,
                },
                StatusCode::BAD_GATEWAY,
            ),
            (
                repo(RepositoryError::NotFound {
                    entity: "account",
                    id: "1".to_owned(),
                }),
                StatusCode::NOT_FOUND,
            ),
            (
                repo(RepositoryError::Conflict {
                    context: "users.insert",
                    constraint: "users_username_key".to_owned(),
                }),
                StatusCode::CONFLICT,
            ),
            (
                repo(RepositoryError::ForeignKey {
                    context: "providers.delete",
                    detail: "referenced".to_owned(),
                }),
                StatusCode::CONFLICT,
            ),
            (
                repo(RepositoryError::InvalidRow {
                    context: "accounts.get",
                    reason: "status: unknown value".to_owned(),
                }),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (
                repo(RepositoryError::NoSecretKey {
                    context: "secrets.rotate",
                }),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (
                Error::Onboarding(OnboardingError::InvalidState),
                StatusCode::BAD_REQUEST,
            ),
            (
                Error::Onboarding(OnboardingError::ClientNotConfigured("claude")),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (
                Error::Onboarding(OnboardingError::Unavailable("token endpoint")),
                StatusCode::BAD_GATEWAY,
            ),
            (
                Error::InvalidRoutingRule {
                    prefix: "gpt-".to_owned(),
                    provider: "bad id".to_owned(),
                },
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (
                Error::UnusableCredential {
                    account,
                    provider: provider.clone(),
                },
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (
                Error::State(StateError::InvalidConfig("key_prefix")),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (
                Error::Pool(PoolError::UnsupportedProxyScheme),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (
                Error::Journal(JournalError::Io {
                    path: "journal".into(),
                    source: std::io::Error::other("disk full"),
                }),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (Error::InvalidUpstreamUrl, StatusCode::INTERNAL_SERVER_ERROR),
            (
                Error::TokenizerUnavailable("o200k"),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (
                Error::Crypto("hashing failed"),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ];
        for (error, status) in cases {
            assert_eq!(error_status(&error), status, "{}", error.kind());
        }
    }

    /// The management API answers with the table's status, so a caller's
    /// unknown provider is a 422 there and on the dashboard alike.
    #[test]
    fn management_errors_use_the_table() {
        let api = ApiError::from(Error::UnknownProvider("nope".to_owned()));
        assert_eq!(api.status, StatusCode::UNPROCESSABLE_ENTITY);
        let api = ApiError::from(Error::Crypto("hashing failed"));
        assert_eq!(api.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(api.message, "internal gateway error");
    }
}
