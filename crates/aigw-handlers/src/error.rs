//! The one place service errors become HTTP responses: status code, error
//! body in the client's own format, and `Retry-After` where known.
//!
//! The mapping is pure; logging happens once at the edge, in the caller.
//! Internal details (SQL, Redis, socket errors) never reach the client.

use aigw_domain::Format;
use aigw_formats::{ErrorKind, error_body, error_body_with_status, format_error_body};
use aigw_services::Error;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use http::{Response, StatusCode};

use crate::body::ResponseBody;

static JSON: HeaderValue = HeaderValue::from_static("application/json");

/// A data-plane error response in `client`'s format.
pub(crate) fn service_error(client: Format, error: &Error) -> Response<ResponseBody> {
    let status = StatusCode::from_u16(aigw_services::error_status(error))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
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
        let status = StatusCode::from_u16(aigw_services::error_status(&error))
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
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
            Error::UnknownProvider(_) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_value",
                "provider_id: no such provider",
            ),
            Error::UnsupportedAuthKind {
                kind, supported, ..
            } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_value",
                format!(
                    "auth_data.type: the provider does not accept {kind} credentials (it accepts: {})",
                    aigw_services::admin::describe_kinds(&supported)
                ),
            ),
            // Their messages carry no token, code or upstream body (see their docs).
            Error::Onboarding(e) => Self::new(status, e.kind(), e.to_string()),
            Error::Credential(e) => Self::new(status, "credential_refresh_failed", e.to_string()),
            Error::Repository(repo::NotFound { entity, .. }) => Self::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{entity} not found"),
            ),
            Error::Repository(repo::Conflict { .. }) => Self::new(
                StatusCode::CONFLICT,
                "conflict",
                "a record with the same unique value already exists",
            ),
            Error::Repository(repo::ForeignKey { .. }) => Self::new(
                StatusCode::CONFLICT,
                "conflict",
                "the record is referenced by, or refers to, a missing or dependent record",
            ),
            Error::Repository(repo::Unavailable { .. }) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the database is unavailable; try again",
            ),
            _ => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal gateway error",
            ),
        }
    }
}
