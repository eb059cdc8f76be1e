//! The management API's route table, the one list of its endpoints: each is
//! one line (method, path pattern, who may call it, handler). Matching a
//! request against it: literal segments beat `{param}`s, so
//! `/proxies/assignments` is not proxy "assignments"; a path that matches
//! with another method is a 405 listing the allowed ones.

use http::{Method, StatusCode};
use percent_encoding::percent_decode_str;

use super::auth::Access::{Public, SignedIn};
use super::auth::{ADMIN, ADMIN_PROVIDER, ADMIN_USER, Access};
use super::ctx::{Ctx, PathParams, Pending};
use super::{accounts, mappings, oauth, openapi, providers, proxies, reports, session, users};
use crate::error::ApiError;

/// The path prefix of the management API; every route's path starts with it.
pub(crate) const PREFIX: &str = "/api/v1";

/// What a route runs: an `async fn(Ctx<'_>) -> Reply`, its future boxed.
pub(crate) type Handler = for<'a> fn(Ctx<'a>) -> Pending<'a>;

/// One operation of the management API.
#[derive(Debug)]
pub struct ApiRoute {
    /// The HTTP method.
    pub method: Method,
    /// The path, with `{name}` for a parameter segment, as in OpenAPI.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    pub(crate) handler: Handler,
}

/// The table from `METHOD "path" access => handler;` lines. Each handler is
/// an `async fn(Ctx<'_>) -> Reply`; its future is boxed here so that every
/// entry holds the one [`Handler`] type (a management request can afford
/// the allocation).
macro_rules! api_routes {
    ($($method:ident $path:literal $access:expr => $handler:path;)*) => {
        &[$(ApiRoute {
            method: Method::$method,
            path: $path,
            access: $access,
            handler: |ctx| Box::pin($handler(ctx)),
        },)*]
    };
}

static ROUTES: &[ApiRoute] = api_routes! {
    GET    "/api/v1/openapi.json"                 Public         => openapi::serve;
    // Sign-in and the caller's own credentials.
    POST   "/api/v1/auth/login"                   Public         => session::login;
    GET    "/api/v1/auth/me"                      SignedIn       => session::me;
    PUT    "/api/v1/auth/password"                SignedIn       => session::change_password;
    GET    "/api/v1/auth/my-key"                  SignedIn       => session::my_key;
    GET    "/api/v1/auth/my-key/full"             SignedIn       => session::my_key_full;
    POST   "/api/v1/auth/regenerate-key"          SignedIn       => session::regenerate_key;
    // Users (admins) and client API keys (own keys; admins all).
    GET    "/api/v1/users"                        ADMIN          => users::list;
    POST   "/api/v1/users"                        ADMIN          => users::create;
    GET    "/api/v1/users/{id}"                   ADMIN          => users::get;
    PUT    "/api/v1/users/{id}"                   ADMIN          => users::update;
    DELETE "/api/v1/users/{id}"                   ADMIN          => users::delete;
    GET    "/api/v1/api-keys"                     ADMIN_USER     => users::list_keys;
    POST   "/api/v1/api-keys"                     ADMIN_USER     => users::create_key;
    DELETE "/api/v1/api-keys/{id}"                ADMIN_USER     => users::revoke_key;
    // Providers: readable by every signed-in caller, changed by admins.
    GET    "/api/v1/providers"                    SignedIn       => providers::list;
    POST   "/api/v1/providers"                    ADMIN          => providers::create;
    GET    "/api/v1/providers/{id}"               SignedIn       => providers::get;
    PUT    "/api/v1/providers/{id}"               ADMIN          => providers::update;
    DELETE "/api/v1/providers/{id}"               ADMIN          => providers::delete;
    // Upstream accounts: admins all, provider-role users their own.
    GET    "/api/v1/accounts"                     ADMIN_PROVIDER => accounts::list;
    POST   "/api/v1/accounts"                     ADMIN_PROVIDER => accounts::create;
    GET    "/api/v1/accounts/{id}"                ADMIN_PROVIDER => accounts::get;
    PUT    "/api/v1/accounts/{id}"                ADMIN_PROVIDER => accounts::update;
    DELETE "/api/v1/accounts/{id}"                ADMIN_PROVIDER => accounts::delete;
    // Outbound proxies (admins).
    GET    "/api/v1/proxies"                      ADMIN          => proxies::list;
    POST   "/api/v1/proxies"                      ADMIN          => proxies::create;
    GET    "/api/v1/proxies/assignments"          ADMIN          => proxies::assignments;
    POST   "/api/v1/proxies/recalculate"          ADMIN          => proxies::recalculate;
    GET    "/api/v1/proxies/{id}"                 ADMIN          => proxies::get;
    PUT    "/api/v1/proxies/{id}"                 ADMIN          => proxies::update;
    DELETE "/api/v1/proxies/{id}"                 ADMIN          => proxies::delete;
    // Model mappings: global and own; admins all.
    GET    "/api/v1/model-mappings"               ADMIN_USER     => mappings::list;
    POST   "/api/v1/model-mappings"               ADMIN_USER     => mappings::create;
    GET    "/api/v1/model-mappings/{alias}"       ADMIN_USER     => mappings::get;
    PUT    "/api/v1/model-mappings/{alias}"       ADMIN_USER     => mappings::update;
    DELETE "/api/v1/model-mappings/{alias}"       ADMIN_USER     => mappings::delete;
    // Stats and logs (admins; per-account stats and health also for the
    // accounts' owners).
    GET    "/api/v1/stats/proxies/{id}"           ADMIN          => reports::proxy_stats;
    GET    "/api/v1/stats/models"                 ADMIN          => reports::model_stats;
    GET    "/api/v1/stats/accounts"               ADMIN_PROVIDER => reports::account_stats;
    GET    "/api/v1/logs"                         ADMIN          => reports::request_logs;
    GET    "/api/v1/logs/errors"                  ADMIN          => reports::error_logs;
    GET    "/api/v1/logs/errors/range"            ADMIN          => reports::error_logs_range;
    POST   "/api/v1/logs/errors/cleanup"          ADMIN          => reports::cleanup_error_logs;
    // Account health (the original's auth-manager shapes) and quota.
    GET    "/api/v1/auth-manager/accounts"        ADMIN          => reports::accounts_health;
    GET    "/api/v1/auth-manager/accounts/{id}"   ADMIN          => reports::account_health;
    GET    "/api/v1/auth-manager/health"          ADMIN          => reports::health_summary;
    GET    "/api/v1/accounts/{id}/health"         ADMIN_PROVIDER => reports::account_health;
    GET    "/api/v1/quota/accounts"               ADMIN          => reports::quota_accounts;
    GET    "/api/v1/quota/accounts/{id}"          ADMIN          => reports::quota_account;
    GET    "/api/v1/quota/providers/{id}/summary" ADMIN          => reports::quota_summary;
    // OAuth onboarding: the callback is authorised by its one-time state.
    GET    "/api/v1/oauth/providers"              Public         => oauth::providers;
    POST   "/api/v1/oauth/init"                   ADMIN_PROVIDER => oauth::init;
    GET    "/api/v1/oauth/callback"               Public         => oauth::callback;
    POST   "/api/v1/oauth/exchange"               ADMIN_PROVIDER => oauth::exchange;
    POST   "/api/v1/oauth/refresh"                ADMIN_PROVIDER => oauth::refresh;
};

/// Every route of the management API.
pub fn routes() -> &'static [ApiRoute] {
    ROUTES
}

/// How `path` matches `pattern`: its parameters by name, and how many
/// segments matched literally (more is a better match).
fn matches(pattern: &'static str, path: &str) -> Option<(PathParams, usize)> {
    let mut params = PathParams::default();
    let mut literal = 0;
    let mut want = pattern.split('/');
    let mut have = path.split('/');
    loop {
        let (w, h) = match (want.next(), have.next()) {
            (None, None) => return Some((params, literal)),
            (Some(w), Some(h)) => (w, h),
            _ => return None,
        };
        match w.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
            Some(_) if h.is_empty() => return None,
            Some(name) => params.push(name, percent_decode_str(h).decode_utf8_lossy().into_owned()),
            None if w == h => literal += 1,
            None => return None,
        }
    }
}

/// The route for `method` and `path` with its parameters, or the 404/405
/// to answer.
pub(super) fn find(
    method: &Method,
    path: &str,
) -> Result<(&'static ApiRoute, PathParams), ApiError> {
    let mut best: Vec<(&'static ApiRoute, PathParams)> = Vec::new();
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn params(pairs: &[(&'static str, &str)]) -> PathParams {
        let mut params = PathParams::default();
        for (name, value) in pairs {
            params.push(name, (*value).to_owned());
        }
        params
    }

    #[test]
    fn literal_segments_beat_parameters_and_methods_give_405() {
        assert_eq!(
            matches("/api/v1/users/{id}", "/api/v1/users/42"),
            Some((params(&[("id", "42")]), 4))
        );
        assert_eq!(matches("/api/v1/users/{id}", "/api/v1/users/"), None);
        assert_eq!(matches("/api/v1/users/{id}", "/api/v1/users/1/x"), None);
        let (found, _) = matches(
            "/api/v1/model-mappings/{alias}",
            "/api/v1/model-mappings/a%20b",
        )
        .unwrap();
        assert_eq!(found.get("alias"), "a b");
        assert_eq!(found.get("id"), "");
        let (r, _) = find(&Method::GET, "/api/v1/auth/me").unwrap();
        assert_eq!(r.path, "/api/v1/auth/me");
        let (r, _) = find(&Method::GET, "/api/v1/proxies/assignments").unwrap();
        assert_eq!(r.path, "/api/v1/proxies/assignments");
        let (r, found) = find(&Method::GET, "/api/v1/quota/providers/openai/summary").unwrap();
        assert_eq!(r.path, "/api/v1/quota/providers/{id}/summary");
        assert_eq!(found.get("id"), "openai");
        let e = find(&Method::DELETE, "/api/v1/auth/me").unwrap_err();
        assert_eq!(e.status, StatusCode::METHOD_NOT_ALLOWED);
        assert!(e.message.ends_with("allowed: GET"), "{}", e.message);
        let e = find(&Method::GET, "/api/v1/nothing").unwrap_err();
        assert_eq!(e.status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn ids_that_do_not_parse_are_not_found() {
        let found = params(&[("id", "not-a-number")]);
        let e = found
            .parse::<aigw_domain::ProxyId>("id", aigw_services::Entity::Proxy)
            .unwrap_err();
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        assert_eq!(e.message, "proxy not found");
        let found = params(&[("id", "7")]);
        assert_eq!(
            found
                .parse::<aigw_domain::ProxyId>("id", aigw_services::Entity::Proxy)
                .unwrap(),
            aigw_domain::ProxyId::new(7)
        );
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

    /// An operation: method (upper case), path, and its path parameters.
    type Operation = (String, String, BTreeSet<String>);

    fn table_operations() -> BTreeSet<Operation> {
        routes()
            .iter()
            .map(|r| {
                let names = r
                    .path
                    .split('/')
                    .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                    .map(str::to_owned)
                    .collect();
                (r.method.as_str().to_owned(), r.path.to_owned(), names)
            })
            .collect()
    }

    /// The `in: path` parameters of a path item and one of its operations.
    fn path_parameters(item: &serde_json::Value, op: &serde_json::Value) -> BTreeSet<String> {
        let listed = |v: &serde_json::Value| v["parameters"].as_array().cloned();
        [listed(item), listed(op)]
            .into_iter()
            .flatten()
            .flatten()
            .filter(|p| p["in"] == "path")
            .filter_map(|p| p["name"].as_str().map(str::to_owned))
            .collect()
    }

    fn documented_operations(doc: &serde_json::Value) -> BTreeSet<Operation> {
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
                let names = path_parameters(item, op);
                documented.insert((method.to_uppercase(), path.clone(), names));
            }
        }
        documented
    }

    /// What the table has that `doc` lacks, and what `doc` has that the
    /// table lacks; both empty when they list the same operations.
    fn differences(doc: &serde_json::Value) -> (Vec<Operation>, Vec<Operation>) {
        let table = table_operations();
        let documented = documented_operations(doc);
        (
            table.difference(&documented).cloned().collect(),
            documented.difference(&table).cloned().collect(),
        )
    }

    /// The OpenAPI document and the route table list the same operations,
    /// with the same path parameters.
    #[test]
    fn openapi_documents_exactly_the_routes() {
        let doc: serde_json::Value = serde_json::from_str(openapi::OPENAPI).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.0"));
        let (undocumented, unrouted) = differences(&doc);
        assert!(
            undocumented.is_empty(),
            "routes missing from openapi.json: {undocumented:?}"
        );
        assert!(
            unrouted.is_empty(),
            "openapi.json operations with no route: {unrouted:?}"
        );
    }

    /// The check above fails when either side lacks an operation.
    #[test]
    fn a_missing_operation_on_either_side_is_reported() {
        let mut doc: serde_json::Value = serde_json::from_str(openapi::OPENAPI).unwrap();
        let paths = doc["paths"].as_object_mut().unwrap();
        paths["/api/v1/auth/me"]
            .as_object_mut()
            .unwrap()
            .remove("get")
            .unwrap();
        paths.insert(
            "/api/v1/nowhere".to_owned(),
            serde_json::json!({"get": {"responses": {}}}),
        );
        let (undocumented, unrouted) = differences(&doc);
        let op = |method: &str, path: &str| (method.to_owned(), path.to_owned(), BTreeSet::new());
        assert_eq!(undocumented, vec![op("GET", "/api/v1/auth/me")]);
        assert_eq!(unrouted, vec![op("GET", "/api/v1/nowhere")]);
    }
}
