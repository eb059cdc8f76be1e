//! What every page shares: the request context, the signed-in caller and
//! the small response builders.

use std::net::IpAddr;

use aigw_services::admin::Admin;
use aigw_services::admin::auth::Caller;
use aigw_services::{AdminError, ErrorStatus};
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue, LOCATION, SET_COOKIE};
use http::{HeaderMap, Method, Response, StatusCode};
use maud::{Markup, html};

use crate::Error;
use crate::form::Form;
use crate::layout::{self, Nav, Viewer};
use crate::session::{Record, Sessions};

pub(crate) type Reply = Result<Response<Bytes>, Error>;

/// One request to the dashboard.
pub(crate) struct Ctx<'a> {
    pub(crate) admin: &'a Admin,
    pub(crate) sessions: &'a Sessions,
    /// The HTTP layer's status table, which this crate cannot depend on.
    pub(crate) status_of: ErrorStatus<AdminError>,
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: Form,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) peer: Option<IpAddr>,
    pub(crate) tls: bool,
}

/// A request with a live session.
pub(crate) struct Signed {
    pub(crate) caller: Caller,
    /// The session cookie's value.
    pub(crate) token: String,
    pub(crate) record: Record,
}

impl Signed {
    pub(crate) fn viewer(&self) -> Viewer<'_> {
        Viewer {
            username: &self.caller.user.username,
            role: self.caller.role(),
            csrf: &self.record.csrf,
        }
    }

    /// Refuses (403) a caller whose role may not open `nav`.
    pub(crate) fn require(&self, nav: Nav) -> Result<(), Error> {
        if layout::allowed(nav, self.caller.role()) {
            Ok(())
        } else {
            Err(Error::Forbidden)
        }
    }

    pub(crate) fn is_admin(&self) -> bool {
        self.caller.is_admin()
    }
}

/// An HTML page with `status`.
pub(crate) fn html_page(status: StatusCode, markup: Markup) -> Response<Bytes> {
    let mut resp = Response::new(Bytes::from(markup.into_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}

/// A page of the signed-in layout, 200.
pub(crate) fn ok_page(s: &Signed, nav: Nav, title: &str, body: Markup) -> Reply {
    Ok(html_page(
        StatusCode::OK,
        layout::page(&s.viewer(), nav, title, body),
    ))
}

/// A `303 See Other` to `location` (after a form, or to sign in).
pub(crate) fn redirect(location: &str) -> Response<Bytes> {
    let mut resp = Response::new(Bytes::new());
    *resp.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(LOCATION, v);
    }
    resp
}

pub(crate) fn add_cookie(resp: &mut Response<Bytes>, cookie: &str) {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        resp.headers_mut().append(SET_COOKIE, v);
    }
}

/// The notice a `?done=` code after a redirect stands for.
fn done_notice(code: &str) -> Option<&'static str> {
    Some(match code {
        "account-created" => "Account added.",
        "account-updated" => "Account saved.",
        "account-enabled" => "Account enabled.",
        "account-disabled" => "Account disabled.",
        "account-deleted" => "Account deleted.",
        "oauth" => "Account connected through OAuth.",
        "proxy-created" => "Proxy added.",
        "proxy-updated" => "Proxy saved.",
        "proxy-deleted" => "Proxy deleted.",
        "recalculated" => "Proxy assignments recalculated.",
        "key-revoked" => "Key revoked. Requests with it are refused from now on.",
        "user-created" => "User created.",
        "user-updated" => "User saved.",
        "user-deleted" => "User deleted.",
        "mapping-created" => "Model mapping added.",
        "mapping-deleted" => "Model mapping deleted.",
        "password" => "Password changed. Your other sessions are signed out.",
        _ => return None,
    })
}

/// The notice of this request's `?done=`, if any.
pub(crate) fn done(ctx: &Ctx<'_>) -> Markup {
    match ctx.query.get("done").and_then(done_notice) {
        Some(text) => layout::notice("ok", text),
        None => html! {},
    }
}

/// A page's options for a select of providers: `(id, "name (id)")`, with
/// an optional first "any" entry.
pub(crate) async fn provider_options(
    ctx: &Ctx<'_>,
    any: Option<&str>,
) -> Result<Vec<(String, String)>, Error> {
    let mut out: Vec<(String, String)> = any
        .map(|label| vec![(String::new(), label.to_owned())])
        .unwrap_or_default();
    for p in ctx.admin.list_providers(false).await? {
        out.push((p.id.to_string(), format!("{} ({})", p.name, p.id)));
    }
    Ok(out)
}

/// Parses an id from a path segment; anything malformed is "not found".
pub(crate) fn parse_id<T: std::str::FromStr>(raw: &str) -> Result<T, Error> {
    raw.parse().map_err(|_| Error::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn done_codes_name_known_notices_only() {
        assert!(done_notice("account-created").is_some());
        assert!(done_notice("<script>").is_none());
    }
}
