//! Request dispatch by method and path, behind [`App::handle`], the entry
//! point of every request.

use aigw_domain::Format;
use aigw_formats::ErrorKind;
use aigw_services::ClientCall;
use bytes::Bytes;
use http::header::{ALLOW, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body::Body;

use crate::app::App;
use crate::body::ResponseBody;
use crate::error::{client_error, client_error_with_status};
use crate::request::refuse_unread;
use crate::response::error_response;
use crate::{api, dashboard, dataplane, gemini, health};

impl App {
    /// Answers one request as the gateway's own server would (data plane,
    /// management API, dashboard, `/health`, `/metrics`), tagged with a new
    /// `x-request-id`: the entry point for a host service that runs its own
    /// hyper server and hands some of its paths to the gateway. Never fails:
    /// every error is a response in the client's format. The host's server
    /// keeps its own connection limits and timeouts ([`crate::serve`]'s edge
    /// limits do not apply); the request body is still refused over the
    /// `max_body_bytes` given to [`App::new`].
    pub async fn handle<B>(&self, req: Request<B>) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes> + Unpin + Send + 'static,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let request_id = uuid::Uuid::now_v7().simple().to_string();
        // The routed request's state machine is large (every ingress, the
        // attempt loop, translation). Boxed once here, the future hyper's
        // dispatcher stores for each request is a pointer, not a copy of it.
        let mut resp = Box::pin(route(self, req, &request_id)).await;
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert("x-request-id", value);
        }
        resp
    }
}

/// Routes one request. Never fails: every error is a response.
pub(crate) async fn route<B>(app: &App, req: Request<B>, request_id: &str) -> Response<ResponseBody>
where
    B: Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let path = req.uri().path();
    if path
        .strip_prefix(api::PREFIX)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    {
        // Boxed, like the other ingresses below: the routed request's future
        // is as large as its largest branch, and it is copied into its box on
        // every request.
        return Box::pin(api::handle(app, req, request_id)).await;
    }
    if let Some(ui) = &app.dashboard
        && aigw_dashboard::claims(path)
    {
        return Box::pin(dashboard::handle(app, ui, req)).await;
    }
    match (req.method(), req.uri().path()) {
        (&Method::POST, "/v1/chat/completions") => {
            dataplane::generate(app, Format::OpenAiChat, req, request_id).await
        }
        (&Method::POST, "/v1/messages") => {
            dataplane::generate(app, Format::AnthropicMessages, req, request_id).await
        }
        (&Method::POST, "/v1/messages/count_tokens") => {
            dataplane::generate_call(app, ClientCall::AnthropicCountTokens, req, request_id).await
        }
        (&Method::POST, "/v1/responses") => {
            dataplane::generate(app, Format::OpenAiResponses, req, request_id).await
        }
        (&Method::GET, path)
            if (path == "/v1/models" || path.starts_with("/v1/models/"))
                && gemini::is_google_client(&req) =>
        {
            Box::pin(gemini::handle(app, req, request_id)).await
        }
        (&Method::GET, "/v1/models") => dataplane::models(app, &req),
        (_, path) if gemini::claims(path) => Box::pin(gemini::handle(app, req, request_id)).await,
        (&Method::GET, "/health") => health::health(app),
        (&Method::GET, "/metrics") => health::metrics(app),
        (_, path) if path == "/v1" || path.starts_with("/v1/") => {
            let resp = dataplane_miss(&req);
            refuse_unread(app, req, resp)
        }
        (_, "/health" | "/metrics") => refuse_unread(
            app,
            req,
            error_response(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
        ),
        _ => refuse_unread(app, req, error_response(StatusCode::NOT_FOUND, "not found")),
    }
}

/// The method each data-plane path answers.
const DATAPLANE: [(&str, &str); 5] = [
    ("/v1/chat/completions", "POST"),
    ("/v1/messages", "POST"),
    ("/v1/messages/count_tokens", "POST"),
    ("/v1/responses", "POST"),
    ("/v1/models", "GET"),
];

/// An unknown path or a wrong method under `/v1/`: an error in the format of
/// the client that is most likely asking (Anthropic's when the request says
/// `anthropic-version` or is about messages, OpenAI's otherwise), 404 for
/// an unknown path and 405 with `Allow` for a wrong method.
fn dataplane_miss<B>(req: &Request<B>) -> Response<ResponseBody> {
    let path = req.uri().path();
    let client =
        if path.starts_with("/v1/messages") || req.headers().contains_key("anthropic-version") {
            Format::AnthropicMessages
        } else {
            Format::OpenAiChat
        };
    match DATAPLANE.iter().find(|(p, _)| *p == path) {
        Some((_, allowed)) => {
            let mut resp = client_error_with_status(
                client,
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorKind::InvalidRequest,
                &format!("method not allowed; this endpoint accepts {allowed}"),
            );
            resp.headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allowed));
            resp
        }
        None => client_error(client, ErrorKind::NotFound, "no such endpoint"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aigw_services::{Runtime, RuntimeSettings};
    use http_body_util::Full;

    use crate::app::Deployment;

    /// The routed request's future is copied into its box on every request,
    /// so it must stay small: each `async fn` on the request path boxes the
    /// large or rare futures it awaits. Unboxed, the sizes doubled at every
    /// level of the call chain, to 190 KB in a release build. Measured here
    /// in the test build, whose futures are larger than release ones.
    #[tokio::test]
    async fn the_routed_requests_future_stays_small() {
        const LIMIT: usize = 4 * 1024;
        let dir = tempfile::tempdir().unwrap();
        let settings = RuntimeSettings {
            database_url: format!("sqlite://{}", dir.path().join("gateway.db").display()),
            ..RuntimeSettings::default()
        };
        let runtime = Runtime::start(settings).await.unwrap();
        let deployment = Deployment {
            database: "sqlite",
            shared_state: "in_process",
        };
        let app = App::new(deployment, runtime.admin().clone(), 1024);
        let req = Request::post("/v1/chat/completions")
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap();
        let size = std::mem::size_of_val(&route(&app, req, "request-id"));
        assert!(size <= LIMIT, "{size} bytes, over {LIMIT}");
        drop(app);
        runtime.shutdown().await;
    }
}
