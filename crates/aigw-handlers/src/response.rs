//! The JSON responses every handler shares: a serialised value with its
//! status, and the plain `{"error": …}` shape. A leaf: it knows no routes.

use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};
use serde::Serialize;

use crate::body::ResponseBody;

static JSON: HeaderValue = HeaderValue::from_static("application/json");

/// A JSON response; serialisation of our own types cannot fail, but if it
/// ever did the client gets a 500 rather than a panic.
pub(crate) fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Response<ResponseBody> {
    match serde_json::to_vec(value) {
        Ok(bytes) => {
            let mut resp = Response::new(ResponseBody::full(bytes));
            *resp.status_mut() = status;
            resp.headers_mut().insert(CONTENT_TYPE, JSON.clone());
            resp
        }
        Err(_) => {
            let mut resp = Response::new(ResponseBody::full(
                &br#"{"error":"internal error","code":"internal"}"#[..],
            ));
            *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            resp.headers_mut().insert(CONTENT_TYPE, JSON.clone());
            resp
        }
    }
}

/// The plain error shape, `{"error": "<message>"}`, of paths outside the
/// client formats and the management API (which adds a code and request id).
pub(crate) fn error_response(status: StatusCode, message: &str) -> Response<ResponseBody> {
    #[derive(Serialize)]
    struct ErrorBody<'a> {
        error: &'a str,
    }
    json_response(status, &ErrorBody { error: message })
}
