//! The HTTP side of the mock upstream: the accept loop, per-connection serving
//! (HTTP/1.1 and h2c), routing by path, recording, and fault application.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderName};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::body::{DisconnectGuard, MockBody, Shaping};
use crate::counter::Counter;
use crate::error::Error;
use crate::fault::{Fault, Faults, Scope};
use crate::ids::IdGen;
use crate::oauth::{OAuthMock, TokenParams};
use crate::record::{Endpoint, RecordedRequest, Recorder};
use crate::reply::{Plan, Replies};
use crate::wire::gemini::Framing;
use crate::wire::{self, Invalid, Parsed, Rendered, Wire, anthropic, gemini, openai, responses};

/// Request bodies above this are answered 413, as real upstreams cap them.
const MAX_BODY: usize = 32 * 1024 * 1024;
/// Pause after a failed accept (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);

/// The models every list endpoint reports until a test sets its own.
pub(crate) const DEFAULT_MODELS: &[&str] = &[
    "gpt-4o",
    "gpt-4o-mini",
    "claude-sonnet-4-5",
    "claude-opus-4-5",
    "gemini-2.5-flash",
    "gemini-2.5-pro",
];

/// State shared by the accept loop, every connection and the test's handle.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) faults: Faults,
    pub(crate) replies: Replies,
    pub(crate) recorder: Recorder,
    pub(crate) disconnects: Arc<Counter>,
    pub(crate) connections: Counter,
    pub(crate) oauth: OAuthMock,
    pub(crate) ids: IdGen,
    /// Swapped whole by `set_models`; readers clone the `Arc` under a brief lock.
    pub(crate) models: Mutex<Arc<[String]>>,
    /// The account key that produced each Responses id: a `previous_response_id`
    /// works only for that account, as a stored response lives with its account.
    /// Held for one lookup or insert, never across an await.
    pub(crate) responses: Mutex<HashMap<String, String>>,
}

impl Shared {
    pub(crate) fn new(record: bool) -> Self {
        Self {
            faults: Faults::default(),
            replies: Replies::default(),
            recorder: Recorder::new(record),
            disconnects: Arc::new(Counter::default()),
            connections: Counter::default(),
            oauth: OAuthMock::default(),
            ids: IdGen::new(),
            models: Mutex::new(DEFAULT_MODELS.iter().map(|m| (*m).to_owned()).collect()),
            responses: Mutex::new(HashMap::new()),
        }
    }
}

/// Accepts connections until the task is aborted; each connection is a task in a
/// `JoinSet` owned here, so aborting this task closes every connection too.
pub(crate) async fn run(listener: TcpListener, shared: Arc<Shared>) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // No header read timeout: an idle pooled connection must stay usable as long
    // as the client keeps it, or a test could race the mock closing it.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // SSE events are small writes that must not wait for Nagle.
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::debug!(%peer, error = %e, "set_nodelay failed");
                    }
                    shared.connections.incr();
                    connections.spawn(serve(builder.clone(), stream, peer, shared.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "mock upstream accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
}

/// Per-connection state the handler can act on: the peer, and the kill switch
/// a `Fault::Reset` pulls.
#[derive(Debug)]
struct Conn {
    peer: SocketAddr,
    killed: AtomicBool,
    kill: Notify,
}

impl Conn {
    fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.kill.notify_one();
    }
}

async fn serve(
    builder: Arc<auto::Builder<TokioExecutor>>,
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
) {
    let conn = Arc::new(Conn {
        peer,
        killed: AtomicBool::new(false),
        kill: Notify::new(),
    });
    let io = TokioIo::new(KillableStream {
        inner: stream,
        conn: conn.clone(),
    });
    let service_conn = conn.clone();
    let service = service_fn(move |req| handle(shared.clone(), service_conn.clone(), req));
    tokio::select! {
        served = builder.serve_connection(io, service) => {
            if let Err(e) = served {
                tracing::debug!(%peer, error = %e, "mock connection ended with an error");
            }
        }
        // Dropping the connection future drops the socket, which resets it.
        () = conn.kill.notified() => {}
    }
}

/// The accepted socket, which closes with an RST instead of a FIN once its
/// connection has been killed by a `Fault::Reset`.
struct KillableStream {
    inner: TcpStream,
    conn: Arc<Conn>,
}

impl Drop for KillableStream {
    fn drop(&mut self) {
        if self.conn.killed.load(Ordering::Acquire)
            && let Err(e) = self.inner.set_zero_linger()
        {
            tracing::debug!(error = %e, "could not arm the reset");
        }
    }
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Routes by method and path suffix, so any base path works (`/v1/chat/completions`,
/// GLM's `/api/paas/v4/chat/completions`, `/v1beta/models/x:generateContent`, …).
fn route(method: &Method, path: &str) -> Endpoint {
    if method == Method::POST {
        if path.ends_with("/chat/completions") {
            return Endpoint::OpenAiChat;
        }
        if path.ends_with("/backend-api/codex/responses") {
            return Endpoint::CodexResponses;
        }
        if path.ends_with("/responses") {
            return Endpoint::OpenAiResponses;
        }
        if path.ends_with("/messages/count_tokens") {
            return Endpoint::AnthropicCountTokens;
        }
        if path.ends_with("/messages") {
            return Endpoint::AnthropicMessages;
        }
        if let Some((_, action)) = path.rsplit_once("/v1internal:") {
            return match action {
                "generateContent" => Endpoint::AntigravityGenerate,
                "streamGenerateContent" => Endpoint::AntigravityStream,
                _ => Endpoint::Unknown,
            };
        }
        if let Some((_, rest)) = path.rsplit_once("/models/")
            && let Some((_, action)) = rest.rsplit_once(':')
        {
            return match action {
                "generateContent" => Endpoint::GeminiGenerate,
                "streamGenerateContent" => Endpoint::GeminiStream,
                "countTokens" => Endpoint::GeminiCountTokens,
                _ => Endpoint::Unknown,
            };
        }
        if path.ends_with("/oauth/token") || path == "/token" {
            return Endpoint::OAuthToken;
        }
    } else if method == Method::GET {
        if path.ends_with("/userinfo") {
            return Endpoint::OAuthUserInfo;
        }
        if path.ends_with("/authorize") || path.ends_with("/oauth2/v2/auth") {
            return Endpoint::OAuthAuthorize;
        }
        if path.ends_with("/models") {
            return Endpoint::Models;
        }
    }
    Endpoint::Unknown
}

fn wire_of(endpoint: Endpoint, headers: &HeaderMap, path: &str) -> Wire {
    match endpoint {
        Endpoint::OpenAiChat
        | Endpoint::OpenAiResponses
        | Endpoint::CodexResponses
        | Endpoint::Unknown => Wire::OpenAi,
        Endpoint::AnthropicMessages | Endpoint::AnthropicCountTokens => Wire::Anthropic,
        Endpoint::GeminiGenerate
        | Endpoint::GeminiStream
        | Endpoint::GeminiCountTokens
        | Endpoint::AntigravityGenerate
        | Endpoint::AntigravityStream
        | Endpoint::OAuthUserInfo => Wire::Google,
        Endpoint::OAuthToken | Endpoint::OAuthAuthorize => Wire::OAuth,
        Endpoint::Models => {
            if headers.contains_key("anthropic-version") {
                Wire::Anthropic
            } else if path.starts_with("/v1beta") || headers.contains_key("x-goog-api-key") {
                Wire::Google
            } else {
                Wire::OpenAi
            }
        }
    }
}

/// The credential a request carries, in the order the providers define them.
fn account_key(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
    };
    if let Some(key) = header("x-api-key").or_else(|| header("x-goog-api-key")) {
        return Some(key.to_owned());
    }
    if let Some(auth) = header("authorization")
        && let Some((scheme, token)) = auth.split_once(' ')
        && scheme.eq_ignore_ascii_case("bearer")
        && !token.trim().is_empty()
    {
        return Some(token.trim().to_owned());
    }
    query.and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(name, _)| name == "key")
            .map(|(_, value)| value.into_owned())
    })
}

fn query_param<'q>(query: Option<&'q str>, name: &str) -> Option<&'q str> {
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

/// A response on its way out: status, headers and rendered chunks.
struct Out {
    status: StatusCode,
    headers: HeaderMap,
    rendered: Rendered,
}

impl Out {
    fn ok(rendered: Rendered) -> Self {
        Self {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            rendered,
        }
    }

    fn json(status: StatusCode, body: Bytes) -> Self {
        Self {
            status,
            headers: HeaderMap::new(),
            rendered: Rendered::json(body),
        }
    }

    fn error(
        wire: Wire,
        status: StatusCode,
        message: Option<&str>,
        ids: &IdGen,
    ) -> Result<Self, Error> {
        Ok(Self::json(status, wire.error_body(status, message, ids)?))
    }
}

async fn handle(
    shared: Arc<Shared>,
    conn: Arc<Conn>,
    req: Request<Incoming>,
) -> Result<Response<MockBody>, Error> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    let query = parts.uri.query();
    let endpoint = route(&parts.method, path);
    let wire = wire_of(endpoint, &parts.headers, path);
    let mut guard = DisconnectGuard::new(shared.disconnects.clone());

    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            let out = Out::error(wire, StatusCode::PAYLOAD_TOO_LARGE, None, &shared.ids)?;
            return Ok(respond(out, Shaping::default(), guard));
        }
        Err(e) => return Err(Error::RequestBody(e)),
    };

    let token_params =
        (endpoint == Endpoint::OAuthToken).then(|| TokenParams::parse(&parts.headers, &body));
    let key = match &token_params {
        Some(params) => params.key().map(str::to_owned),
        None => account_key(&parts.headers, query),
    };
    shared
        .recorder
        .record(key.as_deref(), |seq| RecordedRequest {
            seq,
            endpoint,
            method: parts.method.clone(),
            path: path.to_owned(),
            query: query.map(str::to_owned),
            version: parts.version,
            headers: parts.headers.clone(),
            body: body.clone(),
            account_key: key.clone(),
            peer: conn.peer,
            at: SystemTime::now(),
        });
    if endpoint == Endpoint::OAuthToken {
        shared.oauth.count_call(key.as_deref());
    }

    let scope = match endpoint {
        Endpoint::OAuthToken | Endpoint::OAuthUserInfo | Endpoint::OAuthAuthorize => Scope::OAuth,
        _ => Scope::Models,
    };
    let mut stream_fault = None;
    let mut extra_headers = None;
    match shared.faults.take(key.as_deref(), scope) {
        None => {}
        Some(Fault::Headers(headers)) => extra_headers = Some(headers),
        Some(Fault::Latency(delay)) => tokio::time::sleep(delay).await,
        Some(Fault::Reset) => {
            guard.disarm();
            conn.kill();
            return Err(Error::InjectedReset);
        }
        Some(Fault::Status {
            status,
            body: verbatim,
            headers,
        }) => {
            let mut out = match verbatim {
                Some(body) => Out::json(status, body),
                None => Out::error(wire, status, None, &shared.ids)?,
            };
            out.headers.extend(headers);
            return Ok(respond(out, Shaping::default(), guard));
        }
        Some(fault) => stream_fault = Some(fault),
    }

    let out = answer(
        &shared,
        &Received {
            endpoint,
            wire,
            headers: &parts.headers,
            path,
            query,
            key: key.as_deref(),
            token_params: token_params.as_ref(),
            body: &body,
        },
    )?;
    let mut out = out;
    if let Some(headers) = extra_headers {
        out.headers.extend(headers);
    }
    let shaping = shape(stream_fault, wire, &out.rendered)?;
    Ok(respond(out, shaping, guard))
}

/// What the handler learned about a request before answering it.
#[derive(Clone, Copy)]
struct Received<'a> {
    endpoint: Endpoint,
    wire: Wire,
    headers: &'a HeaderMap,
    path: &'a str,
    query: Option<&'a str>,
    key: Option<&'a str>,
    token_params: Option<&'a TokenParams>,
    body: &'a [u8],
}

/// The endpoint's normal answer (faults other than stream shaping are already applied).
fn answer(shared: &Shared, req: &Received<'_>) -> Result<Out, Error> {
    let ids = &shared.ids;
    let Received {
        endpoint,
        wire,
        headers,
        path,
        query,
        key,
        token_params,
        body,
    } = *req;
    match endpoint {
        Endpoint::OAuthToken => {
            let Some(params) = token_params else {
                return Out::error(wire, StatusCode::BAD_REQUEST, None, ids);
            };
            let (status, body) = shared.oauth.token(params, ids)?;
            return Ok(Out::json(status, body));
        }
        Endpoint::OAuthAuthorize => {
            return match shared.oauth.authorize(query.unwrap_or_default(), ids) {
                Ok(location) => {
                    let mut out = Out::json(StatusCode::FOUND, Bytes::new());
                    if let Ok(value) = http::HeaderValue::from_str(&location) {
                        out.headers.insert(http::header::LOCATION, value);
                    }
                    Ok(out)
                }
                Err(message) => Out::error(wire, StatusCode::BAD_REQUEST, Some(message), ids),
            };
        }
        Endpoint::Unknown => {
            return Out::error(
                wire,
                StatusCode::NOT_FOUND,
                Some("Unknown request URL."),
                ids,
            );
        }
        _ => {}
    }
    if key.is_none() {
        return Out::error(wire, StatusCode::UNAUTHORIZED, None, ids);
    }
    let parsed = |result: Result<Parsed, Invalid>| -> Result<Result<Parsed, Out>, Error> {
        match result {
            Ok(parsed) => Ok(Ok(parsed)),
            Err(Invalid(message)) => Ok(Err(Out::error(
                wire,
                StatusCode::BAD_REQUEST,
                Some(&message),
                ids,
            )?)),
        }
    };
    let plan = |parsed: &Parsed| {
        let script = shared.replies.get(key);
        Plan::new(
            script.as_deref(),
            &parsed.model,
            &parsed.user_text,
            body.len(),
            ids,
        )
    };
    let gemini_model = || {
        path.rsplit_once("/models/")
            .and_then(|(_, rest)| rest.split_once(':'))
            .map_or("", |(model, _)| model)
    };
    let out = match endpoint {
        Endpoint::OAuthUserInfo => Out::ok(Rendered::json(shared.oauth.userinfo()?)),
        Endpoint::Models => {
            let models = shared.models.lock().clone();
            let body = match wire {
                Wire::Anthropic => anthropic::models(&models)?,
                Wire::Google => gemini::models(&models)?,
                Wire::OpenAi | Wire::OAuth => openai::models(&models)?,
            };
            Out::ok(Rendered::json(body))
        }
        Endpoint::AnthropicCountTokens => Out::ok(Rendered::json(anthropic::count_tokens(body)?)),
        Endpoint::GeminiCountTokens => Out::ok(Rendered::json(gemini::count_tokens(body)?)),
        Endpoint::OpenAiChat => match parsed(openai::parse(body))? {
            Ok(req) => {
                let mut out = Out::ok(openai::render(
                    &plan(&req)?,
                    req.stream,
                    req.include_usage,
                    ids,
                )?);
                insert_id(&mut out.headers, "x-request-id", ids.request_id());
                out
            }
            Err(out) => out,
        },
        Endpoint::OpenAiResponses | Endpoint::CodexResponses => {
            let req = match responses::parse(body) {
                Ok(req) => req,
                Err(Invalid(message)) => {
                    return Out::error(wire, StatusCode::BAD_REQUEST, Some(&message), ids);
                }
            };
            if endpoint == Endpoint::CodexResponses
                && let Some(refusal) = codex_refusal(headers, &req)
            {
                return Ok(Out::json(
                    StatusCode::BAD_REQUEST,
                    responses::detail_body(refusal)?,
                ));
            }
            let owner = key.unwrap_or_default();
            if let Some(previous) = &req.previous_response_id
                && shared.responses.lock().get(previous).map(String::as_str) != Some(owner)
            {
                return Ok(Out::json(
                    StatusCode::BAD_REQUEST,
                    responses::previous_not_found(previous)?,
                ));
            }
            let response_id = ids.with_prefix("resp_", 24);
            shared
                .responses
                .lock()
                .insert(response_id.clone(), owner.to_owned());
            let plan = plan(&req.parsed)?;
            let mut out = Out::ok(responses::render(
                &plan,
                req.parsed.stream,
                response_id,
                ids,
            )?);
            insert_id(&mut out.headers, "x-request-id", ids.request_id());
            out
        }
        Endpoint::AnthropicMessages => match parsed(anthropic::parse(headers, body))? {
            Ok(req) => {
                let mut out = Out::ok(anthropic::render(&plan(&req)?, req.stream, ids)?);
                insert_id(&mut out.headers, "request-id", ids.request_id());
                out
            }
            Err(out) => out,
        },
        Endpoint::GeminiGenerate | Endpoint::GeminiStream => {
            let stream = endpoint == Endpoint::GeminiStream;
            match parsed(gemini::parse(gemini_model(), stream, body))? {
                Ok(req) => Out::ok(gemini::render(
                    &plan(&req)?,
                    framing(stream, query),
                    false,
                    ids,
                )?),
                Err(out) => out,
            }
        }
        Endpoint::AntigravityGenerate | Endpoint::AntigravityStream => {
            let stream = endpoint == Endpoint::AntigravityStream;
            match parsed(gemini::parse_envelope(stream, body))? {
                Ok(req) => Out::ok(gemini::render(
                    &plan(&req)?,
                    framing(stream, query),
                    true,
                    ids,
                )?),
                Err(out) => out,
            }
        }
        Endpoint::OAuthToken | Endpoint::OAuthAuthorize | Endpoint::Unknown => {
            Out::error(wire, StatusCode::NOT_FOUND, None, ids)?
        }
    };
    Ok(out)
}

/// Why the Codex backend refuses a request it would refuse: it only streams,
/// never stores, and serves a ChatGPT account named in `chatgpt-account-id`.
fn codex_refusal(headers: &HeaderMap, req: &responses::ResponsesParsed) -> Option<&'static str> {
    if !req.parsed.stream {
        return Some("Stream must be set to true");
    }
    if req.store != Some(false) {
        return Some("Store must be set to false");
    }
    let account = headers
        .get("chatgpt-account-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty());
    account
        .is_none()
        .then_some("Missing chatgpt-account-id header")
}

fn framing(stream: bool, query: Option<&str>) -> Framing {
    match (stream, query_param(query, "alt")) {
        (false, _) => Framing::Json,
        (true, Some("sse")) => Framing::Sse,
        (true, _) => Framing::JsonArray,
    }
}

fn insert_id(headers: &mut HeaderMap, name: &'static str, id: String) {
    if let Ok(value) = HeaderValue::try_from(id) {
        headers.insert(HeaderName::from_static(name), value);
    }
}

/// How a stream-shaping fault changes the body; see [`Fault`] for the semantics.
fn shape(fault: Option<Fault>, wire: Wire, rendered: &Rendered) -> Result<Shaping, Error> {
    let shaping = match fault {
        Some(Fault::StreamCut { after_events }) if rendered.stream => Shaping {
            cut_after: Some(after_events),
            ..Shaping::default()
        },
        Some(Fault::StreamCut { .. }) => Shaping {
            cut_after: Some(1),
            ..Shaping::default()
        },
        Some(Fault::SlowStream { per_event }) => Shaping {
            per_event: Some(per_event),
            ..Shaping::default()
        },
        Some(Fault::StreamErrorEvent { after_events }) if rendered.stream => {
            // The error stays inside the stream: at the latest it replaces the
            // terminator (`[DONE]`, `message_stop`, the closing `]`).
            let at = after_events.min(rendered.chunks.len().saturating_sub(1));
            let event = if rendered.content_type == wire::SSE {
                wire.stream_error_event()?
            } else {
                gemini::array_error_element(at == 0)?
            };
            Shaping {
                error_event: Some((at, event)),
                ..Shaping::default()
            }
        }
        Some(Fault::StreamRawEvent {
            after_events,
            event,
        }) if rendered.stream => Shaping {
            error_event: Some((
                after_events.min(rendered.chunks.len().saturating_sub(1)),
                event,
            )),
            ..Shaping::default()
        },
        _ => Shaping::default(),
    };
    Ok(shaping)
}

fn respond(out: Out, mut shaping: Shaping, guard: DisconnectGuard) -> Response<MockBody> {
    let Out {
        status,
        mut headers,
        rendered,
    } = out;
    let mut chunks = rendered.chunks;
    if !rendered.stream {
        // A one-piece body keeps its full content-length; cut and slow faults then
        // act between its two halves.
        let len: usize = chunks.iter().map(Bytes::len).sum();
        shaping.declared_len = Some(len as u64);
        if (shaping.cut_after.is_some() || shaping.per_event.is_some())
            && let [whole] = chunks.as_slice()
        {
            let mut first = whole.clone();
            let second = first.split_off(whole.len() / 2);
            chunks = vec![first, second];
        }
    }
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(rendered.content_type),
    );
    if rendered.stream {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    let mut response = Response::new(MockBody::chunks(chunks, shaping, guard));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_on_suffix_under_any_base_path() {
        let post = Method::POST;
        assert_eq!(route(&post, "/v1/chat/completions"), Endpoint::OpenAiChat);
        assert_eq!(
            route(&post, "/api/paas/v4/chat/completions"),
            Endpoint::OpenAiChat
        );
        assert_eq!(route(&post, "/v1/responses"), Endpoint::OpenAiResponses);
        assert_eq!(
            route(&post, "/backend-api/codex/responses"),
            Endpoint::CodexResponses
        );
        assert_eq!(route(&post, "/v1/messages"), Endpoint::AnthropicMessages);
        assert_eq!(
            route(&post, "/v1/messages/count_tokens"),
            Endpoint::AnthropicCountTokens
        );
        assert_eq!(
            route(
                &post,
                "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
            ),
            Endpoint::GeminiStream
        );
        assert_eq!(
            route(&post, "/v1internal:generateContent"),
            Endpoint::AntigravityGenerate
        );
        assert_eq!(route(&post, "/oauth/token"), Endpoint::OAuthToken);
        assert_eq!(route(&post, "/token"), Endpoint::OAuthToken);
        assert_eq!(
            route(&Method::GET, "/oauth2/v1/userinfo"),
            Endpoint::OAuthUserInfo
        );
        assert_eq!(route(&Method::GET, "/v1/models"), Endpoint::Models);
        assert_eq!(
            route(&Method::GET, "/v1/chat/completions"),
            Endpoint::Unknown
        );
    }

    #[test]
    fn account_key_reads_each_provider_header() {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bearer sk-1"));
        assert_eq!(account_key(&h, None).as_deref(), Some("sk-1"));
        h.insert("x-api-key", HeaderValue::from_static("ant-1"));
        assert_eq!(account_key(&h, None).as_deref(), Some("ant-1"));
        assert_eq!(
            account_key(&HeaderMap::new(), Some("alt=sse&key=AIza%2B1")).as_deref(),
            Some("AIza+1")
        );
        assert_eq!(account_key(&HeaderMap::new(), None), None);
    }
}
