//! The management API under `/api/v1/`: the route table (`table`: method,
//! path pattern, who may call it, handler), the dispatcher here that reads
//! it, and one handler module per resource.
//!
//! A request goes: match the path (literal segments beat `{param}`s) → 404
//! or 405 → resolve the caller and check the route's [`Access`] (401/403) →
//! read the body within the limit (413) → the handler. Handlers parse with
//! the `json` module (400 naming the field), read path parameters by name,
//! call the service layer ([`aigw_services::admin`]) and turn its errors into
//! responses in one place (`ApiError`'s `From`).
//!
//! Modules depend one way: this dispatcher on the table, the table on the
//! handler modules, and those on the leaves `ctx`, `json` and `auth`.
//!
//! The table is public ([`routes`]) so the OpenAPI document and the
//! authorization matrix tests can enumerate it.

mod accounts;
mod auth;
mod ctx;
mod json;
mod mappings;
mod oauth;
mod openapi;
mod providers;
mod proxies;
mod reports;
mod session;
mod table;
mod users;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::Body;

pub use auth::Access;
pub use openapi::OPENAPI;
pub(crate) use table::PREFIX;
pub use table::{ApiRoute, routes};

use crate::app::App;
use crate::body::ResponseBody;
use crate::error::ApiError;
use crate::request::{BodyError, closing, read_body, refuse_body};
use ctx::Ctx;

/// Serves one management request. Never fails: every error is a response
/// in the management API's error shape.
pub(crate) async fn handle<B>(
    app: &App,
    req: Request<B>,
    request_id: &str,
) -> Response<ResponseBody>
where
    B: Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    match dispatch(app, req, request_id).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(request_id),
    }
}

async fn dispatch<B>(
    app: &App,
    req: Request<B>,
    request_id: &str,
) -> Result<Response<ResponseBody>, ApiError>
where
    B: Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let (parts, body) = req.into_parts();
    let (route, path) = table::find(&parts.method, parts.uri.path())?;
    let caller = auth::authorize(&app.admin, &parts.headers, route.access).await?;
    let body = match read_body(&parts.headers, body, app.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return Ok(refuse(app, &parts.headers, e, request_id)),
    };
    let ctx = Ctx {
        app,
        peer: parts
            .extensions
            .get::<crate::connection::PeerAddr>()
            .map(|peer| peer.0.ip()),
        path,
        caller,
        query: parts.uri.query().map(str::to_owned),
        body,
    };
    let result = (route.handler)(ctx).await;
    if let Err(e) = &result
        && e.status.is_server_error()
    {
        tracing::warn!(
            path = route.path,
            code = e.code,
            "management handler failed"
        );
    }
    result
}

/// The answer to a body that could not be read, on a closing connection:
/// 413 past the limit (the rest read and discarded meanwhile), 400 when
/// reading failed, 408 when it took too long.
fn refuse<B>(
    app: &App,
    headers: &HeaderMap,
    error: BodyError<B>,
    request_id: &str,
) -> Response<ResponseBody>
where
    B: Body<Data = Bytes> + Unpin + Send + 'static,
{
    match error {
        BodyError::TooLarge { limit, rest } => {
            let refusal = ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the request body is larger than the limit of {limit} bytes"),
            );
            refuse_body(app, headers, refusal.into_response(request_id), rest)
        }
        BodyError::Read => {
            let error = ApiError::bad_field("$", "the request body could not be read");
            closing(error.into_response(request_id))
        }
        BodyError::Timeout => {
            let error = ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request body did not arrive in time",
            );
            closing(error.into_response(request_id))
        }
    }
}
