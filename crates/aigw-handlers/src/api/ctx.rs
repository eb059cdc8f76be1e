//! What a management handler is given ([`Ctx`]: the app, the caller, the
//! named path parameters, the query and the body) and what it returns.
//!
//! A leaf below the route table and every handler module, so none of them
//! imports the dispatcher.

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;

use aigw_services::admin::auth::Caller;
use bytes::Bytes;
use http::Response;
use serde::de::DeserializeOwned;

use super::json;
use crate::app::App;
use crate::body::ResponseBody;
use crate::error::ApiError;

/// What every handler answers: a response, or an error in the API's shape.
pub(crate) type Reply = Result<Response<ResponseBody>, ApiError>;

/// A handler's answer, still running; boxed so the route table can hold
/// every handler as one plain `fn` pointer.
pub(crate) type Pending<'a> = Pin<Box<dyn Future<Output = Reply> + Send + 'a>>;

/// The `{name}` segments of the matched route's path, percent-decoded,
/// read by name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct PathParams(Vec<(&'static str, String)>);

impl PathParams {
    /// Records `{name}` as `value`.
    pub(crate) fn push(&mut self, name: &'static str, value: String) {
        self.0.push((name, value));
    }

    /// The value of `{name}`; empty when the route has no such parameter
    /// (every lookup of a service then answers "not found").
    pub(crate) fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// `{name}` parsed as `T`. A value that does not parse names no `what`
    /// that could exist, so it is that thing's 404, not a 400.
    pub(crate) fn parse<T: FromStr>(
        &self,
        name: &str,
        what: aigw_services::Entity,
    ) -> Result<T, ApiError> {
        self.get(name)
            .parse()
            .map_err(|_| aigw_services::AdminError::NotFound(what).into())
    }
}

/// What a handler gets: the app, the caller (none on public routes), the
/// path parameters, the query and the body.
pub(crate) struct Ctx<'a> {
    pub(crate) app: &'a App,
    /// The client's IP address (the TCP peer), when the server knows it.
    pub(crate) peer: Option<std::net::IpAddr>,
    /// The matched route's `{name}` segments.
    pub(crate) path: PathParams,
    pub(super) caller: Option<Caller>,
    pub(super) query: Option<String>,
    pub(super) body: Bytes,
}

impl Ctx<'_> {
    /// The signed-in caller (always present on non-public routes).
    pub(crate) fn caller(&self) -> Result<&Caller, ApiError> {
        self.caller
            .as_ref()
            .ok_or_else(|| aigw_services::AdminError::NotSignedIn.into())
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
