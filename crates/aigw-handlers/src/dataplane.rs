//! The data-plane endpoints: `POST /v1/chat/completions` (OpenAI clients),
//! `POST /v1/responses` (OpenAI Responses clients),
//! `POST /v1/messages` and `POST /v1/messages/count_tokens` (Anthropic
//! clients) and `GET /v1/models` (in OpenAI's shape, or Anthropic's for a
//! request that says `anthropic-version`).
//!
//! The path decides the client format; everything after that is the
//! gateway's ([`aigw_services::Gateway`]).

use aigw_domain::Format;
use aigw_formats::ErrorKind;
use std::borrow::Cow;

use aigw_domain::UserId;
use aigw_services::snapshot::Snapshot;
use aigw_services::token_count::Counter;
use aigw_services::upstream::ClientHeaders;
use aigw_services::{ClientCall, Reply};
use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body::Body;
use serde::Serialize;

use crate::app::App;
use crate::body::ResponseBody;
use crate::error::{client_error, client_error_with_status, service_error};
use crate::request::{
    BodyError, client_credential, closing, gemini_credential, read_body, refuse_body,
};
use crate::response::json_response;

static JSON: HeaderValue = HeaderValue::from_static("application/json");
static EVENT_STREAM: HeaderValue = HeaderValue::from_static("text/event-stream");
static NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");
static NO_BUFFERING: HeaderValue = HeaderValue::from_static("no");
/// Says whether a token count is the upstream's (`exact`) or the gateway's
/// (`estimate`).
const TOKEN_COUNT: &str = "x-aigateway-token-count";

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
    generate_call(app, ClientCall::Body(client), req, request_id).await
}

/// Serves the client request `call` (a Gemini call names its model and
/// method in the URL).
pub(crate) async fn generate_call<B>(
    app: &App,
    call: ClientCall,
    req: Request<B>,
    request_id: &str,
) -> Response<ResponseBody>
where
    B: Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let client = call.format();
    let (parts, body) = req.into_parts();
    let credential = match client {
        Format::Gemini => gemini_credential(&parts.headers, parts.uri.query()),
        _ => client_credential(&parts.headers).map(Cow::Borrowed),
    };
    let principal = match app.gateway.authenticate(credential.as_deref()) {
        Ok(p) => p,
        // Answered before the body is read: a client still writing it must
        // read the 401, not a reset.
        Err(e) => return refuse_body(app, &parts.headers, service_error(client, &e), body),
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
    let json_array = call.json_array();
    match app
        .gateway
        .handle_call(
            &principal,
            &call,
            body,
            request_id,
            &ClientHeaders::from_request(&parts.headers),
            crate::error::request_status,
        )
        .await
    {
        Ok(Reply::Full { status, body }) => {
            let mut resp = Response::new(ResponseBody::full(body));
            *resp.status_mut() = status;
            resp.headers_mut().insert(CONTENT_TYPE, JSON.clone());
            resp
        }
        Ok(Reply::Count { body, counter }) => {
            let mut resp = Response::new(ResponseBody::full(body));
            let headers = resp.headers_mut();
            headers.insert(CONTENT_TYPE, JSON.clone());
            headers.insert(TOKEN_COUNT, HeaderValue::from_static(counter.as_str()));
            resp
        }
        Ok(Reply::Stream(stream)) => {
            let mut resp = Response::new(ResponseBody::Stream(stream));
            let headers = resp.headers_mut();
            // Gemini's stream without `alt=sse` is one JSON array, sent as
            // its elements are produced.
            let content_type = if json_array { &JSON } else { &EVENT_STREAM };
            headers.insert(CONTENT_TYPE, content_type.clone());
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
pub(crate) struct ModelEntry<'a> {
    pub(crate) id: &'a str,
    object: &'static str,
    pub(crate) created: i64,
    owned_by: &'a str,
    /// Whether a Gemini client can count tokens on it (Gemini's list says so).
    #[serde(skip)]
    pub(crate) counts_tokens: bool,
}

/// The models of every active provider that has an account to serve them,
/// plus the mappings `user` can use whose provider has one, sorted by id,
/// each once.
pub(crate) fn served_models(snapshot: &Snapshot, user: Option<UserId>) -> Vec<ModelEntry<'_>> {
    let counts = |kind| Counter::of(Format::Gemini, kind).is_some();
    let mut data: Vec<ModelEntry<'_>> = Vec::new();
    for entry in snapshot.providers().filter(|e| !e.accounts.is_empty()) {
        for model in &entry.provider.models {
            data.push(ModelEntry {
                id: model,
                object: "model",
                created: entry.provider.created_at.timestamp(),
                owned_by: entry.provider.id.as_str(),
                counts_tokens: counts(entry.provider.kind),
            });
        }
    }
    let servable = |id| {
        snapshot
            .provider(id)
            .is_some_and(|e| !e.accounts.is_empty())
    };
    for mapping in snapshot
        .mappings_for(user)
        .filter(|m| servable(&m.provider_id))
    {
        data.push(ModelEntry {
            id: &mapping.alias,
            object: "model",
            created: mapping.created_at.timestamp(),
            owned_by: mapping.provider_id.as_str(),
            counts_tokens: snapshot
                .provider(&mapping.provider_id)
                .is_some_and(|e| counts(e.provider.kind)),
        });
    }
    data.sort_by(|a, b| a.id.cmp(b.id));
    data.dedup_by(|a, b| a.id == b.id);
    data
}

/// One model in Anthropic's list shape.
#[derive(Serialize)]
struct AnthropicModel<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    display_name: &'a str,
    created_at: String,
}

/// Anthropic's model list: one page holding every model.
#[derive(Serialize)]
struct AnthropicModelList<'a> {
    data: Vec<AnthropicModel<'a>>,
    has_more: bool,
    first_id: Option<&'a str>,
    last_id: Option<&'a str>,
}

/// `GET /v1/models`: the models of every active provider that has an
/// account to serve them, plus the mappings the caller can use; in
/// Anthropic's list shape when the request says `anthropic-version` (as
/// Anthropic's SDKs and Claude Code do), in OpenAI's otherwise. Errors come
/// in the same client's shape.
pub(crate) fn models<B>(app: &App, req: &Request<B>) -> Response<ResponseBody> {
    let client = if req.headers().contains_key("anthropic-version") {
        Format::AnthropicMessages
    } else {
        Format::OpenAiChat
    };
    let principal = match app.gateway.authenticate(client_credential(req.headers())) {
        Ok(p) => p,
        Err(e) => return service_error(client, &e),
    };
    let snapshot = app.gateway.snapshot().load();
    let models = served_models(&snapshot, principal.user_id);
    if client == Format::OpenAiChat {
        return json_response(
            StatusCode::OK,
            &ModelList {
                object: "list",
                data: models,
            },
        );
    }
    let data: Vec<AnthropicModel<'_>> = models
        .iter()
        .map(|m| AnthropicModel {
            kind: "model",
            id: m.id,
            display_name: m.id,
            created_at: chrono::DateTime::from_timestamp(m.created, 0)
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        })
        .collect();
    json_response(
        StatusCode::OK,
        &AnthropicModelList {
            has_more: false,
            first_id: data.first().map(|m| m.id),
            last_id: data.last().map(|m| m.id),
            data,
        },
    )
}
