//! The Gemini API: `POST /v1beta/models/{model}:generateContent`,
//! `:streamGenerateContent` and `:countTokens` (also under `/v1/models/`),
//! and the model list `GET /v1beta/models[/{model}]`, every answer and error
//! in Google's shapes.
//!
//! The path names the model and the method; everything after that is the
//! gateway's, as for the other client formats.

use aigw_domain::Format;
use aigw_formats::{ErrorKind, MAX_MODEL_BYTES};
use aigw_services::{ClientCall, GeminiMethod};
use bytes::Bytes;
use http::header::{ALLOW, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use percent_encoding::percent_decode_str;
use serde::Serialize;

use crate::app::App;
use crate::body::ResponseBody;
use crate::dataplane::{generate_call, served_models};
use crate::error::{client_error, client_error_with_status, service_error};
use crate::request::{gemini_credential, refuse_unread};
use crate::response::json_response;

/// The model collection of each Gemini API version the gateway answers.
const PREFIXES: [&str; 2] = ["/v1beta/models", "/v1/models"];

/// The methods after `{model}:`, and what each asks.
const METHODS: [(&str, Method); 3] = [
    ("generateContent", Method::POST),
    ("streamGenerateContent", Method::POST),
    ("countTokens", Method::POST),
];

/// Whether `path` is the Gemini API's: anything under `/v1beta`, and the
/// `{model}:method` calls under `/v1/models/` (the other `/v1` paths are the
/// OpenAI and Anthropic APIs').
pub(crate) fn claims(path: &str) -> bool {
    path == "/v1beta"
        || path.starts_with("/v1beta/")
        || path
            .strip_prefix("/v1/models/")
            .is_some_and(|rest| rest.contains(':'))
}

/// Whether a request on the model list both APIs share (`GET /v1/models`,
/// `GET /v1/models/{model}`) is a Google client's: it carries its key as the
/// google-genai SDKs do, and no `anthropic-version`.
pub(crate) fn is_google_client<B>(req: &Request<B>) -> bool {
    let headers = req.headers();
    !headers.contains_key("anthropic-version")
        && (headers.contains_key("x-goog-api-key")
            || headers.contains_key("x-goog-api-client")
            || req
                .uri()
                .query()
                .is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "key")))
}

/// Serves one request under a Gemini path (see [`claims`]), or a Google
/// client's model list under `/v1/models` (see [`is_google_client`]).
pub(crate) async fn handle<B>(
    app: &App,
    req: Request<B>,
    request_id: &str,
) -> Response<ResponseBody>
where
    B: Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    match call_of(app, &req) {
        Ok(call) => generate_call(app, call, req, request_id).await,
        // Answered before the body is read: a client still writing it reads
        // the answer, not a reset.
        Err(resp) => refuse_unread(app, req, *resp),
    }
}

/// What a request under a Gemini path asks: a call with a body, or an
/// answer made without one (the model list, a model, a refusal).
fn call_of<B>(app: &App, req: &Request<B>) -> Result<ClientCall, Box<Response<ResponseBody>>> {
    let path = req.uri().path();
    let Some(rest) = PREFIXES.iter().find_map(|p| path.strip_prefix(p)) else {
        return Err(Box::new(not_found()));
    };
    if rest.is_empty() {
        return Err(Box::new(match *req.method() {
            Method::GET => list(app, req),
            _ => wrong_method("GET"),
        }));
    }
    let Some(name) = rest.strip_prefix('/') else {
        return Err(Box::new(not_found()));
    };
    let Some((model, action)) = name.rsplit_once(':') else {
        return Err(Box::new(match *req.method() {
            Method::GET => get_model(app, req, name),
            _ => wrong_method("GET"),
        }));
    };
    let Some((_, allowed)) = METHODS.iter().find(|(m, _)| *m == action) else {
        return Err(Box::new(not_found()));
    };
    if req.method() != allowed {
        return Err(Box::new(wrong_method(allowed.as_str())));
    }
    let model = decode_model(model).map_err(|e| Box::new(e.response()))?;
    let method = match action {
        "streamGenerateContent" => GeminiMethod::Stream {
            sse: req.uri().query().is_some_and(|q| {
                form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "alt" && v == "sse")
            }),
        },
        "countTokens" => GeminiMethod::CountTokens,
        _ => GeminiMethod::Generate,
    };
    Ok(ClientCall::Gemini { model, method })
}

/// The model named in the path, percent-decoded; a 400 naming `model` when
/// it is not UTF-8 or too long to be a model name (the rest of the checks
/// are the body's, with every other format's).
fn decode_model(raw: &str) -> Result<String, ModelPathError> {
    // Bounded before decoding: an encoded name is at most three bytes a byte.
    if raw.len() > MAX_MODEL_BYTES * 3 {
        return Err(ModelPathError::TooLong);
    }
    percent_decode_str(raw)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| ModelPathError::NotUtf8)
}

/// Why the model in a path is not one.
#[derive(Debug, Clone, Copy)]
enum ModelPathError {
    TooLong,
    NotUtf8,
}

impl ModelPathError {
    /// The 400 naming `model`, in Google's shape.
    fn response(self) -> Response<ResponseBody> {
        let why = match self {
            Self::TooLong => format!("must be at most {MAX_MODEL_BYTES} bytes long"),
            Self::NotUtf8 => "must be UTF-8 once percent-decoded".to_owned(),
        };
        client_error(
            Format::Gemini,
            ErrorKind::InvalidRequest,
            &format!("invalid request: `model`: {why}"),
        )
    }
}

#[derive(Serialize)]
struct GoogleModelList<'a> {
    models: Vec<GoogleModel<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GoogleModel<'a> {
    name: String,
    base_model_id: &'a str,
    display_name: &'a str,
    supported_generation_methods: &'static [&'static str],
}

const GENERATES: &[&str] = &["generateContent", "streamGenerateContent"];
const GENERATES_AND_COUNTS: &[&str] = &["generateContent", "streamGenerateContent", "countTokens"];

fn google_model<'a>(id: &'a str, counts_tokens: bool) -> GoogleModel<'a> {
    GoogleModel {
        name: format!("models/{id}"),
        base_model_id: id,
        display_name: id,
        supported_generation_methods: if counts_tokens {
            GENERATES_AND_COUNTS
        } else {
            GENERATES
        },
    }
}

/// `GET /v1beta/models`: the models the caller can use, in Google's list
/// shape.
fn list<B>(app: &App, req: &Request<B>) -> Response<ResponseBody> {
    let principal = match app
        .gateway
        .authenticate(gemini_credential(req.headers(), req.uri().query()).as_deref())
    {
        Ok(p) => p,
        Err(e) => return service_error(Format::Gemini, &e),
    };
    let snapshot = app.gateway.snapshot().load();
    let models = served_models(&snapshot, principal.user_id)
        .into_iter()
        .map(|m| google_model(m.id, m.counts_tokens))
        .collect();
    json_response(StatusCode::OK, &GoogleModelList { models })
}

/// `GET /v1beta/models/{model}`: one model of the list, or a 404.
fn get_model<B>(app: &App, req: &Request<B>, raw: &str) -> Response<ResponseBody> {
    let principal = match app
        .gateway
        .authenticate(gemini_credential(req.headers(), req.uri().query()).as_deref())
    {
        Ok(p) => p,
        Err(e) => return service_error(Format::Gemini, &e),
    };
    let model = match decode_model(raw) {
        Ok(model) => model,
        Err(e) => return e.response(),
    };
    let snapshot = app.gateway.snapshot().load();
    let models = served_models(&snapshot, principal.user_id);
    match models.iter().find(|m| m.id == model) {
        Some(m) => json_response(StatusCode::OK, &google_model(m.id, m.counts_tokens)),
        None => client_error(
            Format::Gemini,
            ErrorKind::NotFound,
            &format!("models/{model} is not found"),
        ),
    }
}

fn not_found() -> Response<ResponseBody> {
    client_error(Format::Gemini, ErrorKind::NotFound, "no such endpoint")
}

fn wrong_method(allowed: &'static str) -> Response<ResponseBody> {
    let mut resp = client_error_with_status(
        Format::Gemini,
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorKind::InvalidRequest,
        &format!("method not allowed; this endpoint accepts {allowed}"),
    );
    resp.headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allowed));
    resp
}
