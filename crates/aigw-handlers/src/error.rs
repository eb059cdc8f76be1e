//! The one place service errors become HTTP responses: status code, error
//! body in the client's own format (data plane) or the management API's
//! JSON (management), and `Retry-After` where known.
//!
//! Each error type has one exhaustive match here, with no catch-all arm, so
//! a new variant does not compile until someone decides what a caller sees
//! for it. A 4xx is the caller's fault: a value they sent, a credential they
//! hold, a rate they exceeded; everything the gateway, its configuration,
//! its database or an upstream did is a 5xx.
//!
//! The mapping is pure; logging happens once at the edge, in the caller.
//! Internal details (SQL, Redis, socket errors) never reach the client.

use std::time::Duration;

use aigw_domain::Format;
use aigw_formats::{ErrorKind, FormatError, error_body, error_body_with_status, format_error_body};
use aigw_services::client_pool::TransportErrorKind;
use aigw_services::onboarding::OnboardingError;
use aigw_services::{AdminError, RepositoryError, RequestError};
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use http::{Response, StatusCode};

use crate::body::ResponseBody;

static JSON: HeaderValue = HeaderValue::from_static("application/json");

/// What the client is told of an unreachable upstream.
const UNREACHABLE: &str = "the upstream provider could not be reached";
/// What the client is told of an upstream answer it cannot be given.
const UNREADABLE: &str = "the upstream provider sent a response that could not be read";
/// What the client is told of a failure that is the gateway's own.
const INTERNAL: &str = "internal gateway error";

/// The HTTP status a client gets for a data-plane error, as the data
/// plane's table (`client_reply`) decides it. The request metrics are
/// handed this function, as the service layer cannot depend on this crate.
pub fn request_status(error: &RequestError) -> StatusCode {
    client_reply(error).status
}

/// The HTTP status a management caller gets for `error`, as the
/// management API's table (`ApiError::of`) decides it. The dashboard's
/// error pages are handed this function, as that crate cannot depend on
/// this one.
pub fn admin_status(error: &AdminError) -> StatusCode {
    ApiError::of(error).status
}

/// What a client is told about a data-plane error, before it is written in
/// the client's format.
struct ClientReply<'a> {
    status: StatusCode,
    body: ClientBody<'a>,
    /// When to come back (`Retry-After`), if known.
    retry_after: Option<Duration>,
}

/// The body of a [`ClientReply`], rendered in the client's format by
/// [`service_error`].
enum ClientBody<'a> {
    /// The client's request is invalid; its format says how.
    Invalid(&'a FormatError),
    /// The upstream's error body, already in the client's format.
    Upstream(&'a Bytes),
    /// The model asked for is not served.
    UnknownModel(&'a str),
    /// No account can serve the model now.
    NoAccount(&'a str),
    /// A fixed sentence of `kind`.
    Text(ErrorKind, &'static str),
}

/// The one table of data-plane errors: the status and what the client is
/// told for each.
fn client_reply(error: &RequestError) -> ClientReply<'_> {
    use ClientBody::Text;
    let (status, body) = match error {
        RequestError::BadRequest(e) => (StatusCode::BAD_REQUEST, ClientBody::Invalid(e)),
        RequestError::Unauthenticated => (
            StatusCode::UNAUTHORIZED,
            Text(ErrorKind::Authentication, "invalid or missing API key"),
        ),
        RequestError::ModelNotFound(model) => {
            (StatusCode::NOT_FOUND, ClientBody::UnknownModel(model))
        }
        RequestError::NoUsableAccount { model, retry_after } => {
            return ClientReply {
                status: StatusCode::SERVICE_UNAVAILABLE,
                body: ClientBody::NoAccount(model),
                retry_after: *retry_after,
            };
        }
        RequestError::UpstreamStatus { status, body } => (*status, ClientBody::Upstream(body)),
        RequestError::Upstream(e) => match e.kind() {
            TransportErrorKind::Timeout(_) => (
                StatusCode::GATEWAY_TIMEOUT,
                Text(ErrorKind::Timeout, UNREACHABLE),
            ),
            TransportErrorKind::Connect
            | TransportErrorKind::ProxyConnect(_)
            | TransportErrorKind::Tls
            | TransportErrorKind::ConnectionClosed
            | TransportErrorKind::Protocol
            | TransportErrorKind::InvalidRequest => {
                (StatusCode::BAD_GATEWAY, Text(ErrorKind::Api, UNREACHABLE))
            }
        },
        RequestError::UpstreamResponse(_) | RequestError::UpstreamStream(_) => {
            (StatusCode::BAD_GATEWAY, Text(ErrorKind::Api, UNREADABLE))
        }
        RequestError::Credential(_) | RequestError::UpstreamAuth { .. } => (
            StatusCode::BAD_GATEWAY,
            Text(
                ErrorKind::Api,
                "the upstream account could not be authenticated",
            ),
        ),
        RequestError::UnusableCredential { .. }
        | RequestError::InvalidUpstreamUrl
        | RequestError::TokenizerUnavailable(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Text(ErrorKind::Api, INTERNAL),
        ),
    };
    ClientReply {
        status,
        body,
        retry_after: None,
    }
}

/// A data-plane error response in `client`'s format.
pub(crate) fn service_error(client: Format, error: &RequestError) -> Response<ResponseBody> {
    let reply = client_reply(error);
    let body = match reply.body {
        ClientBody::Invalid(e) => format_error_body(client, e),
        ClientBody::Upstream(body) => body.clone(),
        ClientBody::UnknownModel(model) => error_body(
            client,
            ErrorKind::ModelNotFound,
            &format!("the model `{model}` does not exist or is not served by this gateway"),
            Some("model"),
        ),
        ClientBody::NoAccount(model) => error_body(
            client,
            ErrorKind::Overloaded,
            &format!("no upstream account can serve `{model}` right now"),
            None,
        ),
        ClientBody::Text(kind, message) => error_body(client, kind, message, None),
    };
    json_error(reply.status, body, reply.retry_after.map(whole_seconds))
}

/// `wait` in whole seconds, rounded up: a client retrying at the second
/// boundary must be let through.
fn whole_seconds(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
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

/// Every management error becomes its [`ApiError`] here.
impl From<AdminError> for ApiError {
    fn from(error: AdminError) -> Self {
        Self::of(&error)
    }
}

impl ApiError {
    /// The one table of management errors: status, code and message for
    /// each. The messages of onboarding and credential errors carry no
    /// token, code or upstream body (see their docs).
    fn of(error: &AdminError) -> Self {
        use StatusCode as S;
        match error {
            AdminError::NotSignedIn => {
                Self::new(S::UNAUTHORIZED, "unauthorized", "authentication required")
            }
            AdminError::InvalidCredentials => Self::new(
                S::UNAUTHORIZED,
                "invalid_credentials",
                "invalid credentials",
            ),
            AdminError::UserDisabled => {
                Self::new(S::FORBIDDEN, "account_disabled", "account disabled")
            }
            AdminError::TooManyAttempts { retry_after } => {
                let mut e = Self::new(
                    S::TOO_MANY_REQUESTS,
                    "too_many_attempts",
                    "too many sign-in attempts; try again later",
                );
                e.retry_after = Some(whole_seconds(*retry_after));
                e
            }
            AdminError::Forbidden(why) => Self::new(S::FORBIDDEN, "forbidden", *why),
            AdminError::NotFound(entity) => {
                Self::new(S::NOT_FOUND, "not_found", format!("{entity} not found"))
            }
            AdminError::Conflict(message) => Self::new(S::CONFLICT, "conflict", message.clone()),
            // The caller named a provider that does not exist, or gave a
            // credential of a kind the provider does not take: their input.
            AdminError::InvalidField { field, message } => Self::new(
                S::UNPROCESSABLE_ENTITY,
                "invalid_value",
                format!("{field}: {message}"),
            ),
            AdminError::UnknownProvider(_) => Self::new(
                S::UNPROCESSABLE_ENTITY,
                "invalid_value",
                "provider_id: no such provider",
            ),
            AdminError::UnsupportedAuthKind {
                kind, supported, ..
            } => Self::new(
                S::UNPROCESSABLE_ENTITY,
                "invalid_value",
                format!(
                    "auth_data.type: the provider does not accept {kind} credentials (it accepts: {})",
                    aigw_services::admin::describe_kinds(supported)
                ),
            ),
            AdminError::Onboarding(e) => Self::new(onboarding_status(e), e.kind(), e.to_string()),
            AdminError::Credential(e) => {
                Self::new(S::BAD_GATEWAY, "credential_refresh_failed", e.to_string())
            }
            AdminError::Repository(e) => Self::repository(e),
            AdminError::State(_) | AdminError::Crypto(_) => {
                Self::new(S::INTERNAL_SERVER_ERROR, "internal", INTERNAL)
            }
        }
    }

    /// A repository failure: a missing or conflicting row is the caller's
    /// reference, a database that is down is worth a retry, the rest is
    /// ours, and its text stays generic.
    fn repository(error: &RepositoryError) -> Self {
        match error {
            RepositoryError::NotFound { entity, .. } => Self::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{entity} not found"),
            ),
            RepositoryError::Conflict { .. } => Self::new(
                StatusCode::CONFLICT,
                "conflict",
                "a record with the same unique value already exists",
            ),
            RepositoryError::ForeignKey { .. } => Self::new(
                StatusCode::CONFLICT,
                "conflict",
                "the record is referenced by, or refers to, a missing or dependent record",
            ),
            RepositoryError::Unavailable { .. } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the database is unavailable; try again",
            ),
            RepositoryError::Query { .. }
            | RepositoryError::InvalidRow { .. }
            | RepositoryError::UnsupportedUrl { .. }
            | RepositoryError::Secret { .. }
            | RepositoryError::NoSecretKey { .. }
            | RepositoryError::Migration { .. } => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", INTERNAL)
            }
        }
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aigw_domain::{AccountId, AuthKind, ProviderId};
    use aigw_formats::FormatError;
    use aigw_services::client_pool::{ErrorSource, ProxyFailure, TimeoutPhase, TransportError};
    use aigw_services::credentials::CredentialError;

    use super::*;

    fn upstream(kind: TransportErrorKind) -> RequestError {
        RequestError::Upstream(TransportError::new(kind, ErrorSource::Upstream))
    }

    fn format_error() -> FormatError {
        FormatError::InvalidValue {
            path: "model".to_owned(),
            reason: "empty".to_owned(),
        }
    }

    fn repo(error: RepositoryError) -> AdminError {
        AdminError::Repository(error)
    }

    /// Every data-plane variant with the status a client sees for it. A
    /// variant added to `RequestError` fails to compile in `client_reply`
    /// until it has a status; this table then pins the status chosen.
    #[test]
    fn every_request_error_has_its_status() {
        let provider = ProviderId::new("openai").unwrap();
        let account = AccountId::new();
        let cases: Vec<(RequestError, StatusCode)> = vec![
            (
                RequestError::BadRequest(format_error()),
                StatusCode::BAD_REQUEST,
            ),
            (RequestError::Unauthenticated, StatusCode::UNAUTHORIZED),
            (
                RequestError::ModelNotFound("gpt-x".to_owned()),
                StatusCode::NOT_FOUND,
            ),
            (
                RequestError::NoUsableAccount {
                    model: "gpt-x".to_owned(),
                    retry_after: None,
                },
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                RequestError::UpstreamStatus {
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
                RequestError::UpstreamResponse(format_error()),
                StatusCode::BAD_GATEWAY,
            ),
            (
                RequestError::UpstreamStream(aigw_formats::stream::StreamError::Truncated),
                StatusCode::BAD_GATEWAY,
            ),
            (
                RequestError::Credential(CredentialError::NoRefreshToken),
                StatusCode::BAD_GATEWAY,
            ),
            (
                RequestError::UpstreamAuth {
                    status: StatusCode::UNAUTHORIZED,
                    account,
                },
                StatusCode::BAD_GATEWAY,
            ),
            (
                RequestError::UnusableCredential { account, provider },
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (
                RequestError::InvalidUpstreamUrl,
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (
                RequestError::TokenizerUnavailable("o200k"),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ];
        for (error, status) in cases {
            assert_eq!(request_status(&error), status, "{}", error.kind());
            let resp = service_error(Format::OpenAiChat, &error);
            assert_eq!(resp.status(), status, "{}", error.kind());
        }
    }

    /// Every management variant with the status a caller sees for it; as
    /// above, the match in `ApiError::of` makes a new variant decide.
    #[test]
    fn every_admin_error_has_its_status() {
        let provider = ProviderId::new("openai").unwrap();
        let cases: Vec<(AdminError, StatusCode)> = vec![
            (AdminError::NotSignedIn, StatusCode::UNAUTHORIZED),
            (AdminError::InvalidCredentials, StatusCode::UNAUTHORIZED),
            (AdminError::UserDisabled, StatusCode::FORBIDDEN),
            (AdminError::Forbidden("admins only"), StatusCode::FORBIDDEN),
            (
                AdminError::NotFound(aigw_services::Entity::Provider),
                StatusCode::NOT_FOUND,
            ),
            (
                AdminError::Conflict("taken".to_owned()),
                StatusCode::CONFLICT,
            ),
            (
                AdminError::invalid("fallback_base_urls[0]", "not a URL"),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                AdminError::UnknownProvider("nope".to_owned()),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                AdminError::UnsupportedAuthKind {
                    provider,
                    kind: AuthKind::ApiKey,
                    supported: vec![],
                },
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                AdminError::TooManyAttempts {
                    retry_after: Duration::from_secs(1),
                },
                StatusCode::TOO_MANY_REQUESTS,
            ),
            (
                AdminError::Credential(CredentialError::NoRefreshToken),
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
                AdminError::Onboarding(OnboardingError::InvalidState),
                StatusCode::BAD_REQUEST,
            ),
            (
                AdminError::Onboarding(OnboardingError::ClientNotConfigured("claude")),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (
                AdminError::Onboarding(OnboardingError::Unavailable("token endpoint")),
                StatusCode::BAD_GATEWAY,
            ),
            (
                AdminError::State(aigw_services::StateError::InvalidConfig("key_prefix")),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (
                AdminError::Crypto("hashing failed"),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ];
        for (error, status) in cases {
            assert_eq!(admin_status(&error), status, "{}", error.kind());
        }
    }

    /// The management API answers with the table's status, and keeps the
    /// text of internal failures to itself.
    #[test]
    fn management_errors_use_the_table() {
        let api = ApiError::from(AdminError::UnknownProvider("nope".to_owned()));
        assert_eq!(api.status, StatusCode::UNPROCESSABLE_ENTITY);
        let api = ApiError::from(AdminError::Crypto("hashing failed"));
        assert_eq!(api.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(api.message, "internal gateway error");
    }

    /// A wait for an account is told in whole seconds, rounded up, so a
    /// client retrying on time finds the account back.
    #[test]
    fn retry_after_rounds_up() {
        let error = RequestError::NoUsableAccount {
            model: "gpt-x".to_owned(),
            retry_after: Some(Duration::from_millis(1500)),
        };
        let resp = service_error(Format::OpenAiChat, &error);
        assert_eq!(resp.headers()[RETRY_AFTER], "2");
        let resp = service_error(
            Format::OpenAiChat,
            &RequestError::ModelNotFound("gpt-x".to_owned()),
        );
        assert!(resp.headers().get(RETRY_AFTER).is_none());
    }
}
