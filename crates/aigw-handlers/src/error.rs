//! The one place service errors become HTTP responses: status code, error
//! body in the client's own format, and `Retry-After` where known.
//!
//! The mapping is pure; logging happens once at the edge, in the caller.
//! Internal details (SQL, Redis, socket errors) never reach the client.

use aigw_domain::Format;
use aigw_formats::{ErrorKind, error_body, format_error_body};
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
        | Error::UnknownProvider(_)
        | Error::UnsupportedAuthKind { .. }
        | Error::InvalidRoutingRule { .. }
        | Error::Repository(_)
        | Error::State(_)
        | Error::Pool(_) => error_body(client, ErrorKind::Api, "internal gateway error", None),
        Error::Credential(_) => error_body(
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
    json_error(status, error_body(client, kind, message, None), None)
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
