//! The data-plane endpoints: `POST /v1/chat/completions` (OpenAI clients),
//! `POST /v1/responses` (OpenAI Responses clients),
//! `POST /v1/messages` (Anthropic clients) and `GET /v1/models`.
//!
//! The path decides the client format; everything after that is the
//! gateway's ([`aigw_services::Gateway`]).

use aigw_domain::Format;
use aigw_formats::ErrorKind;
use aigw_services::Reply;
use aigw_services::upstream::ClientHeaders;
use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body::Body;
use serde::Serialize;

use crate::app::App;
use crate::body::ResponseBody;
use crate::error::{client_error, client_error_with_status, service_error};
use crate::request::{BodyError, client_credential, closing, read_body, refuse_body};
use crate::routes::json_response;

static JSON: HeaderValue = HeaderValue::from_static("application/json");
static EVENT_STREAM: HeaderValue = HeaderValue::from_static("text/event-stream");
static NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");
static NO_BUFFERING: HeaderValue = HeaderValue::from_static("no");

/// Serves a generation request whose body is in `client` format.
pub(crate) async fn generate<B>(
    app: &App,
    client: Format,
    req: Request<B>,
    request_id: &str,
) -> Response<ResponseBody>
where
    B: Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let (parts, body) = req.into_parts();
    let principal = match app.gateway.authenticate(client_credential(&parts.headers)) {
        Ok(p) => p,
        Err(e) => return service_error(client, &e),
    };
    let body = match read_body(&parts.headers, body, app.max_body_bytes).await {
        Ok(b) => b,
        Err(BodyError::TooLarge { limit, rest }) => {
            let refusal = client_error(
                client,
                ErrorKind::RequestTooLarge,
                &format!("the request body is larger than the limit of {limit} bytes"),
            );
            return refuse_body(app, &parts.headers, refusal, rest);
        }
        Err(BodyError::Read) => {
            return closing(client_error(
                client,
                ErrorKind::InvalidRequest,
                "the request body could not be read",
            ));
        }
        Err(BodyError::Timeout) => {
            return closing(client_error_with_status(
                client,
                StatusCode::REQUEST_TIMEOUT,
                ErrorKind::InvalidRequest,
                "the request body did not arrive in time",
            ));
        }
    };
    match app
        .gateway
        .handle(
            &principal,
            client,
            body,
            request_id,
            &ClientHeaders::from_request(&parts.headers),
        )
        .await
    {
        Ok(Reply::Full { status, body }) => {
            let mut resp = Response::new(ResponseBody::full(body));
            *resp.status_mut() = status;
            resp.headers_mut().insert(CONTENT_TYPE, JSON.clone());
            resp
        }
        Ok(Reply::Stream(stream)) => {
            let mut resp = Response::new(ResponseBody::Stream(stream));
            let headers = resp.headers_mut();
            headers.insert(CONTENT_TYPE, EVENT_STREAM.clone());
            headers.insert(CACHE_CONTROL, NO_CACHE.clone());
            // Tells nginx-style reverse proxies not to hold events back.
            headers.insert("x-accel-buffering", NO_BUFFERING.clone());
            resp
        }
        Err(e) => {
            tracing::debug!(kind = e.kind(), error = %e, "request failed");
            service_error(client, &e)
        }
    }
}

#[derive(Serialize)]
struct ModelList<'a> {
    object: &'static str,
    data: Vec<ModelEntry<'a>>,
}

#[derive(Serialize)]
struct ModelEntry<'a> {
    id: &'a str,
    object: &'static str,
    created: i64,
    owned_by: &'a str,
}

/// `GET /v1/models` in the OpenAI list shape: the models of every active
/// provider that has an account to serve them, plus the mappings the caller
/// can use whose provider has one.
pub(crate) fn models<B>(app: &App, req: &Request<B>) -> Response<ResponseBody> {
    let principal = match app.gateway.authenticate(client_credential(req.headers())) {
        Ok(p) => p,
        Err(e) => return service_error(Format::OpenAiChat, &e),
    };
    let snapshot = app.gateway.snapshot().load();
    let mut data: Vec<ModelEntry<'_>> = Vec::new();
    for entry in snapshot.providers().filter(|e| !e.accounts.is_empty()) {
        for model in &entry.provider.models {
            data.push(ModelEntry {
                id: model,
                object: "model",
                created: entry.provider.created_at.timestamp(),
                owned_by: entry.provider.id.as_str(),
            });
        }
    }
    let servable = |id| {
        snapshot
            .provider(id)
            .is_some_and(|e| !e.accounts.is_empty())
    };
    for mapping in snapshot
        .mappings_for(principal.user_id)
        .filter(|m| servable(&m.provider_id))
    {
        data.push(ModelEntry {
            id: &mapping.alias,
            object: "model",
            created: mapping.created_at.timestamp(),
            owned_by: mapping.provider_id.as_str(),
        });
    }
    data.sort_by(|a, b| a.id.cmp(b.id));
    data.dedup_by(|a, b| a.id == b.id);
    json_response(
        StatusCode::OK,
        &ModelList {
            object: "list",
            data,
        },
    )
}
