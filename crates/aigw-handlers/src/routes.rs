//! Request dispatch by method and path, and the response helpers every
//! handler shares.

use aigw_domain::Format;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use serde::Serialize;

use crate::app::App;
use crate::body::ResponseBody;
use crate::{api, dataplane, health};

static JSON: HeaderValue = HeaderValue::from_static("application/json");

/// Routes one request. Never fails: every error is a response.
pub(crate) async fn route<B>(app: &App, req: Request<B>, request_id: &str) -> Response<ResponseBody>
where
    B: Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let path = req.uri().path();
    if path
        .strip_prefix(api::PREFIX)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    {
        return api::handle(app, req, request_id).await;
    }
    match (req.method(), req.uri().path()) {
        (&Method::POST, "/v1/chat/completions") => {
            dataplane::generate(app, Format::OpenAiChat, req, request_id).await
        }
        (&Method::POST, "/v1/messages") => {
            dataplane::generate(app, Format::AnthropicMessages, req, request_id).await
        }
        (&Method::GET, "/v1/models") => dataplane::models(app, &req),
        (&Method::GET, "/health") => health::health(app),
        (&Method::GET, "/metrics") => health::metrics(app),
        (_, "/health" | "/metrics" | "/v1/chat/completions" | "/v1/messages" | "/v1/models") => {
            error_response(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        }
        _ => error_response(StatusCode::NOT_FOUND, "not found"),
    }
}

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

/// The management API's error shape: `{"error": "<message>"}`.
pub(crate) fn error_response(status: StatusCode, message: &str) -> Response<ResponseBody> {
    #[derive(Serialize)]
    struct ErrorBody<'a> {
        error: &'a str,
    }
    json_response(status, &ErrorBody { error: message })
}
