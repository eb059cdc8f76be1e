//! The management API under `/api/v1/`: one route table (method, path
//! pattern, who may call it, what runs), the dispatcher that reads it, and
//! the per-resource handlers.
//!
//! A request goes: match the path (literal segments beat `{param}`s, so
//! `/proxies/assignments` is not proxy "assignments") → 404 or 405 → resolve
//! the caller and check the route's [`Access`] (401/403) → read the body
//! within the limit (413) → the handler. Handlers parse with the `json`
//! module (400 naming the field), call the service layer
//! ([`aigw_services::admin`]) and turn its errors into responses in one place
//! (`ApiError`'s `From`).
//!
//! The table is public ([`routes`]) so the OpenAPI document and the
//! authorization matrix tests can enumerate it.

mod auth;
mod catalog;
mod json;
mod oauth;
mod reports;
mod session;
mod users;

use aigw_services::admin::auth::Caller;
use bytes::Bytes;
use http::header::HeaderValue;
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use percent_encoding::percent_decode_str;
use serde::de::DeserializeOwned;

pub use auth::Access;
use auth::{ADMIN, ADMIN_PROVIDER, ADMIN_USER};

use crate::app::App;
use crate::body::ResponseBody;
use crate::error::ApiError;
use crate::request::{BodyError, closing, read_body, refuse_body};

/// The path prefix of the management API.
pub(crate) const PREFIX: &str = "/api/v1";

/// The OpenAPI 3.0 document of the management API, kept next to the table
/// (a test checks that both list the same operations).
pub const OPENAPI: &str = include_str!("openapi.json");

/// One operation of the management API.
#[derive(Debug)]
pub struct ApiRoute {
    /// The HTTP method.
    pub method: Method,
    /// The path, with `{name}` for a parameter segment, as in OpenAPI.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    op: Op,
}

/// What a route runs.
#[derive(Debug, Clone, Copy)]
enum Op {
    OpenApi,
    Login,
    Me,
    ChangePassword,
    MyKey,
    MyKeyFull,
    RegenerateKey,
    ListUsers,
    CreateUser,
    GetUser,
    UpdateUser,
    DeleteUser,
    ListApiKeys,
    CreateApiKey,
    RevokeApiKey,
    ListProviders,
    GetProvider,
    CreateProvider,
    UpdateProvider,
    DeleteProvider,
    ListAccounts,
    CreateAccount,
    GetAccount,
    UpdateAccount,
    DeleteAccount,
    ListProxies,
    CreateProxy,
    ProxyAssignments,
    RecalculateProxies,
    GetProxy,
    UpdateProxy,
    DeleteProxy,
    ListMappings,
    CreateMapping,
    GetMapping,
    UpdateMapping,
    DeleteMapping,
    ProxyStats,
    ModelStats,
    AccountStats,
    RequestLogs,
    ErrorLogs,
    ErrorLogsRange,
    CleanupErrorLogs,
    AccountsHealth,
    AccountHealth,
    HealthSummary,
    QuotaAccounts,
    QuotaAccount,
    QuotaSummary,
    OAuthProviders,
    OAuthInit,
    OAuthCallback,
    OAuthExchange,
    OAuthRefresh,
}

const fn route(method: Method, path: &'static str, access: Access, op: Op) -> ApiRoute {
    ApiRoute {
        method,
        path,
        access,
        op,
    }
}

static ROUTES: &[ApiRoute] = &[
    route(
        Method::GET,
        "/api/v1/openapi.json",
        Access::Public,
        Op::OpenApi,
    ),
    // Sign-in and the caller's own credentials.
    route(
        Method::POST,
        "/api/v1/auth/login",
        Access::Public,
        Op::Login,
    ),
    route(Method::GET, "/api/v1/auth/me", Access::SignedIn, Op::Me),
    route(
        Method::PUT,
        "/api/v1/auth/password",
        Access::SignedIn,
        Op::ChangePassword,
    ),
    route(
        Method::GET,
        "/api/v1/auth/my-key",
        Access::SignedIn,
        Op::MyKey,
    ),
    route(
        Method::GET,
        "/api/v1/auth/my-key/full",
        Access::SignedIn,
        Op::MyKeyFull,
    ),
    route(
        Method::POST,
        "/api/v1/auth/regenerate-key",
        Access::SignedIn,
        Op::RegenerateKey,
    ),
    // Users (admins) and client API keys (own keys; admins all).
    route(Method::GET, "/api/v1/users", ADMIN, Op::ListUsers),
    route(Method::POST, "/api/v1/users", ADMIN, Op::CreateUser),
    route(Method::GET, "/api/v1/users/{id}", ADMIN, Op::GetUser),
    route(Method::PUT, "/api/v1/users/{id}", ADMIN, Op::UpdateUser),
    route(Method::DELETE, "/api/v1/users/{id}", ADMIN, Op::DeleteUser),
    route(Method::GET, "/api/v1/api-keys", ADMIN_USER, Op::ListApiKeys),
    route(
        Method::POST,
        "/api/v1/api-keys",
        ADMIN_USER,
        Op::CreateApiKey,
    ),
    route(
        Method::DELETE,
        "/api/v1/api-keys/{id}",
        ADMIN_USER,
        Op::RevokeApiKey,
    ),
    // Providers: readable by every signed-in caller, changed by admins.
    route(
        Method::GET,
        "/api/v1/providers",
        Access::SignedIn,
        Op::ListProviders,
    ),
    route(Method::POST, "/api/v1/providers", ADMIN, Op::CreateProvider),
    route(
        Method::GET,
        "/api/v1/providers/{id}",
        Access::SignedIn,
        Op::GetProvider,
    ),
    route(
        Method::PUT,
        "/api/v1/providers/{id}",
        ADMIN,
        Op::UpdateProvider,
    ),
    route(
        Method::DELETE,
        "/api/v1/providers/{id}",
        ADMIN,
        Op::DeleteProvider,
    ),
    // Upstream accounts: admins all, provider-role users their own.
    route(
        Method::GET,
        "/api/v1/accounts",
        ADMIN_PROVIDER,
        Op::ListAccounts,
    ),
    route(
        Method::POST,
        "/api/v1/accounts",
        ADMIN_PROVIDER,
        Op::CreateAccount,
    ),
    route(
        Method::GET,
        "/api/v1/accounts/{id}",
        ADMIN_PROVIDER,
        Op::GetAccount,
    ),
    route(
        Method::PUT,
        "/api/v1/accounts/{id}",
        ADMIN_PROVIDER,
        Op::UpdateAccount,
    ),
    route(
        Method::DELETE,
        "/api/v1/accounts/{id}",
        ADMIN_PROVIDER,
        Op::DeleteAccount,
    ),
    // Outbound proxies (admins).
    route(Method::GET, "/api/v1/proxies", ADMIN, Op::ListProxies),
    route(Method::POST, "/api/v1/proxies", ADMIN, Op::CreateProxy),
    route(
        Method::GET,
        "/api/v1/proxies/assignments",
        ADMIN,
        Op::ProxyAssignments,
    ),
    route(
        Method::POST,
        "/api/v1/proxies/recalculate",
        ADMIN,
        Op::RecalculateProxies,
    ),
    route(Method::GET, "/api/v1/proxies/{id}", ADMIN, Op::GetProxy),
    route(Method::PUT, "/api/v1/proxies/{id}", ADMIN, Op::UpdateProxy),
    route(
        Method::DELETE,
        "/api/v1/proxies/{id}",
        ADMIN,
        Op::DeleteProxy,
    ),
    // Model mappings: global and own; admins all.
    route(
        Method::GET,
        "/api/v1/model-mappings",
        ADMIN_USER,
        Op::ListMappings,
    ),
    route(
        Method::POST,
        "/api/v1/model-mappings",
        ADMIN_USER,
        Op::CreateMapping,
    ),
    route(
        Method::GET,
        "/api/v1/model-mappings/{alias}",
        ADMIN_USER,
        Op::GetMapping,
    ),
    route(
        Method::PUT,
        "/api/v1/model-mappings/{alias}",
        ADMIN_USER,
        Op::UpdateMapping,
    ),
    route(
        Method::DELETE,
        "/api/v1/model-mappings/{alias}",
        ADMIN_USER,
        Op::DeleteMapping,
    ),
    // Stats and logs (admins; per-account stats and health also for the
    // accounts' owners).
    route(
        Method::GET,
        "/api/v1/stats/proxies/{id}",
        ADMIN,
        Op::ProxyStats,
    ),
    route(Method::GET, "/api/v1/stats/models", ADMIN, Op::ModelStats),
    route(
        Method::GET,
        "/api/v1/stats/accounts",
        ADMIN_PROVIDER,
        Op::AccountStats,
    ),
    route(Method::GET, "/api/v1/logs", ADMIN, Op::RequestLogs),
    route(Method::GET, "/api/v1/logs/errors", ADMIN, Op::ErrorLogs),
    route(
        Method::GET,
        "/api/v1/logs/errors/range",
        ADMIN,
        Op::ErrorLogsRange,
    ),
    route(
        Method::POST,
        "/api/v1/logs/errors/cleanup",
        ADMIN,
        Op::CleanupErrorLogs,
    ),
    // Account health (the original's auth-manager shapes) and quota.
    route(
        Method::GET,
        "/api/v1/auth-manager/accounts",
        ADMIN,
        Op::AccountsHealth,
    ),
    route(
        Method::GET,
        "/api/v1/auth-manager/accounts/{id}",
        ADMIN,
        Op::AccountHealth,
    ),
    route(
        Method::GET,
        "/api/v1/auth-manager/health",
        ADMIN,
        Op::HealthSummary,
    ),
    route(
        Method::GET,
        "/api/v1/accounts/{id}/health",
        ADMIN_PROVIDER,
        Op::AccountHealth,
    ),
    route(
        Method::GET,
        "/api/v1/quota/accounts",
        ADMIN,
        Op::QuotaAccounts,
    ),
    route(
        Method::GET,
        "/api/v1/quota/accounts/{id}",
        ADMIN,
        Op::QuotaAccount,
    ),
    route(
        Method::GET,
        "/api/v1/quota/providers/{id}/summary",
        ADMIN,
        Op::QuotaSummary,
    ),
    // OAuth onboarding: the callback is authorised by its one-time state.
    route(
        Method::GET,
        "/api/v1/oauth/providers",
        Access::Public,
        Op::OAuthProviders,
    ),
    route(
        Method::POST,
        "/api/v1/oauth/init",
        ADMIN_PROVIDER,
        Op::OAuthInit,
    ),
    route(
        Method::GET,
        "/api/v1/oauth/callback",
        Access::Public,
        Op::OAuthCallback,
    ),
    route(
        Method::POST,
        "/api/v1/oauth/exchange",
        ADMIN_PROVIDER,
        Op::OAuthExchange,
    ),
    route(
        Method::POST,
        "/api/v1/oauth/refresh",
        ADMIN_PROVIDER,
        Op::OAuthRefresh,
    ),
];

/// Every route of the management API.
pub fn routes() -> &'static [ApiRoute] {
    ROUTES
}

/// What a handler gets: the app, the caller (none on public routes), the
/// path parameters (percent-decoded, in pattern order), the query and body.
pub(crate) struct Ctx<'a> {
    pub(crate) app: &'a App,
    /// The client's IP address (the TCP peer), when the server knows it.
    pub(crate) peer: Option<std::net::IpAddr>,
    caller: Option<Caller>,
    params: Vec<String>,
    query: Option<String>,
    body: Bytes,
}

impl Ctx<'_> {
    /// The signed-in caller (always present on non-public routes).
    pub(crate) fn caller(&self) -> Result<&Caller, ApiError> {
        self.caller
            .as_ref()
            .ok_or_else(|| aigw_services::Error::NotSignedIn.into())
    }

    /// The `i`-th path parameter.
    pub(crate) fn param(&self, i: usize) -> &str {
        self.params.get(i).map_or("", String::as_str)
    }

    /// The body parsed as `T`.
    pub(crate) fn body<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        json::parse_body(&self.body)
    }

    /// Whether the request came without a body (or only whitespace).
    pub(crate) fn body_is_empty(&self) -> bool {
        self.body.iter().all(u8::is_ascii_whitespace)
    }

    /// The query string parsed as `T`.
    pub(crate) fn query<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        json::parse_query(self.query.as_deref())
    }
}

async fn run(op: Op, ctx: Ctx<'_>) -> Result<Response<ResponseBody>, ApiError> {
    match op {
        Op::OpenApi => Ok(openapi()),
        Op::Login => session::login(ctx).await,
        Op::Me => session::me(ctx),
        Op::ChangePassword => session::change_password(ctx).await,
        Op::MyKey => session::my_key(ctx),
        Op::MyKeyFull => session::my_key_full(ctx),
        Op::RegenerateKey => session::regenerate_key(ctx).await,
        Op::ListUsers => users::list(ctx).await,
        Op::CreateUser => users::create(ctx).await,
        Op::GetUser => users::get(ctx).await,
        Op::UpdateUser => users::update(ctx).await,
        Op::DeleteUser => users::delete(ctx).await,
        Op::ListApiKeys => users::list_keys(ctx).await,
        Op::CreateApiKey => users::create_key(ctx).await,
        Op::RevokeApiKey => users::revoke_key(ctx).await,
        Op::ListProviders => catalog::list_providers(ctx).await,
        Op::GetProvider => catalog::get_provider(ctx).await,
        Op::CreateProvider => catalog::create_provider(ctx).await,
        Op::UpdateProvider => catalog::update_provider(ctx).await,
        Op::DeleteProvider => catalog::delete_provider(ctx).await,
        Op::ListAccounts => catalog::list_accounts(ctx).await,
        Op::CreateAccount => catalog::create_account(ctx).await,
        Op::GetAccount => catalog::get_account(ctx).await,
        Op::UpdateAccount => catalog::update_account(ctx).await,
        Op::DeleteAccount => catalog::delete_account(ctx).await,
        Op::ListProxies => catalog::list_proxies(ctx).await,
        Op::CreateProxy => catalog::create_proxy(ctx).await,
        Op::ProxyAssignments => catalog::proxy_assignments(ctx).await,
        Op::RecalculateProxies => catalog::recalculate_proxies(ctx).await,
        Op::GetProxy => catalog::get_proxy(ctx).await,
        Op::UpdateProxy => catalog::update_proxy(ctx).await,
        Op::DeleteProxy => catalog::delete_proxy(ctx).await,
        Op::ListMappings => catalog::list_mappings(ctx).await,
        Op::CreateMapping => catalog::create_mapping(ctx).await,
        Op::GetMapping => catalog::get_mapping(ctx).await,
        Op::UpdateMapping => catalog::update_mapping(ctx).await,
        Op::DeleteMapping => catalog::delete_mapping(ctx).await,
        Op::ProxyStats => reports::proxy_stats(ctx).await,
        Op::ModelStats => reports::model_stats(ctx).await,
        Op::AccountStats => reports::account_stats(ctx).await,
        Op::RequestLogs => reports::request_logs(ctx).await,
        Op::ErrorLogs => reports::error_logs(ctx).await,
        Op::ErrorLogsRange => reports::error_logs_range(ctx).await,
        Op::CleanupErrorLogs => reports::cleanup_error_logs(ctx).await,
        Op::AccountsHealth => reports::accounts_health(ctx).await,
        Op::AccountHealth => reports::account_health(ctx).await,
        Op::HealthSummary => reports::health_summary(ctx).await,
        Op::QuotaAccounts => reports::quota_accounts(ctx).await,
        Op::QuotaAccount => reports::quota_account(ctx).await,
        Op::QuotaSummary => reports::quota_summary(ctx).await,
        Op::OAuthProviders => oauth::providers(ctx),
        Op::OAuthInit => oauth::init(ctx).await,
        Op::OAuthCallback => oauth::callback(ctx).await,
        Op::OAuthExchange => oauth::exchange(ctx).await,
        Op::OAuthRefresh => oauth::refresh(ctx).await,
    }
}

fn openapi() -> Response<ResponseBody> {
    let mut resp = Response::new(ResponseBody::full(OPENAPI));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// How `path` matches `pattern`: the parameters, and how many segments
/// matched literally (more is a better match).
fn matches(pattern: &str, path: &str) -> Option<(Vec<String>, usize)> {
    let mut params = Vec::new();
    let mut literal = 0;
    let mut want = pattern.split('/');
    let mut have = path.split('/');
    loop {
        match (want.next(), have.next()) {
            (None, None) => return Some((params, literal)),
            (Some(w), Some(h)) if w.starts_with('{') && w.ends_with('}') => {
                if h.is_empty() {
                    return None;
                }
                params.push(percent_decode_str(h).decode_utf8_lossy().into_owned());
            }
            (Some(w), Some(h)) if w == h => literal += 1,
            _ => return None,
        }
    }
}

/// The route for `method` and `path`, or the 404/405 to answer.
fn find(method: &Method, path: &str) -> Result<(&'static ApiRoute, Vec<String>), ApiError> {
    let mut best: Vec<(&'static ApiRoute, Vec<String>)> = Vec::new();
    let mut best_literal = 0;
    for route in ROUTES {
        if let Some((params, literal)) = matches(route.path, path) {
            if best.is_empty() || literal > best_literal {
                best.clear();
                best_literal = literal;
            }
            if literal == best_literal {
                best.push((route, params));
            }
        }
    }
    if best.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such endpoint",
        ));
    }
    let allowed: Vec<&str> = best.iter().map(|(r, _)| r.method.as_str()).collect();
    best.into_iter()
        .find(|(r, _)| r.method == method)
        .ok_or_else(|| {
            let allowed = allowed.join(", ");
            let mut e = ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("method not allowed; allowed: {allowed}"),
            );
            e.allow = Some(allowed);
            e
        })
}

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
    let (route, params) = find(&parts.method, parts.uri.path())?;
    let caller = auth::authorize(&app.admin, &parts.headers, route.access).await?;
    let body = match read_body(&parts.headers, body, app.max_body_bytes).await {
        Ok(b) => b,
        Err(BodyError::TooLarge { limit, rest }) => {
            let refusal = ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the request body is larger than the limit of {limit} bytes"),
            );
            return Ok(refuse_body(
                app,
                &parts.headers,
                refusal.into_response(request_id),
                rest,
            ));
        }
        Err(BodyError::Read) => {
            let error = ApiError::bad_field("$", "the request body could not be read");
            return Ok(closing(error.into_response(request_id)));
        }
        Err(BodyError::Timeout) => {
            let error = ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request body did not arrive in time",
            );
            return Ok(closing(error.into_response(request_id)));
        }
    };
    let ctx = Ctx {
        app,
        peer: parts
            .extensions
            .get::<crate::server::PeerAddr>()
            .map(|peer| peer.0.ip()),
        caller,
        params,
        query: parts.uri.query().map(str::to_owned),
        body,
    };
    let result = run(route.op, ctx).await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn literal_segments_beat_parameters_and_methods_give_405() {
        assert_eq!(
            matches("/api/v1/users/{id}", "/api/v1/users/42"),
            Some((vec!["42".to_owned()], 4))
        );
        assert_eq!(matches("/api/v1/users/{id}", "/api/v1/users/"), None);
        assert_eq!(matches("/api/v1/users/{id}", "/api/v1/users/1/x"), None);
        assert_eq!(
            matches(
                "/api/v1/model-mappings/{alias}",
                "/api/v1/model-mappings/a%20b"
            ),
            Some((vec!["a b".to_owned()], 4))
        );
        let (r, _) = find(&Method::GET, "/api/v1/auth/me").unwrap();
        assert_eq!(r.path, "/api/v1/auth/me");
        let e = find(&Method::DELETE, "/api/v1/auth/me").unwrap_err();
        assert_eq!(e.status, StatusCode::METHOD_NOT_ALLOWED);
        assert!(e.message.ends_with("allowed: GET"), "{}", e.message);
        let e = find(&Method::GET, "/api/v1/nothing").unwrap_err();
        assert_eq!(e.status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn every_route_is_unique() {
        let mut seen = BTreeSet::new();
        for r in routes() {
            assert!(
                seen.insert((r.method.as_str(), r.path)),
                "duplicate route {} {}",
                r.method,
                r.path
            );
            assert!(r.path.starts_with(PREFIX), "{}", r.path);
        }
    }

    /// The OpenAPI document and the route table list the same operations.
    #[test]
    fn openapi_documents_exactly_the_routes() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.0"));
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if method == "parameters" {
                    continue;
                }
                assert!(
                    op["responses"].is_object(),
                    "{method} {path} has no responses"
                );
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
        let table: BTreeSet<(String, String)> = routes()
            .iter()
            .map(|r| (r.method.as_str().to_owned(), r.path.to_owned()))
            .collect();
        let undocumented: Vec<_> = table.difference(&documented).collect();
        let unrouted: Vec<_> = documented.difference(&table).collect();
        assert!(
            undocumented.is_empty(),
            "routes missing from openapi.json: {undocumented:?}"
        );
        assert!(
            unrouted.is_empty(),
            "openapi.json operations with no route: {unrouted:?}"
        );
    }
}
