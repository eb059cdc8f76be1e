//! Request dispatch and the pages. Public paths (assets, sign-in) are
//! answered first; every other path needs a live session, and every POST
//! must pass the same-origin check and carry the session's form token before
//! any page code runs. Each page checks the caller's role itself
//! ([`Signed::require`]), so a hidden link is never the only protection.

mod accounts;
mod common;
mod keys;
mod logs;
mod mappings;
mod overview;
mod proxies;
mod signin;
mod users;

use std::net::IpAddr;

use aigw_services::admin::Admin;
use aigw_services::{AdminError, ErrorStatus};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use maud::html;
use subtle::ConstantTimeEq;

use self::common::{Ctx, Reply, Signed, html_page, redirect};
use crate::form::Form;
use crate::layout::{self, Nav};
use crate::session::{self, Sessions};
use crate::{Error, PREFIX, assets, security};

/// Answers one request; adds the security headers to every answer.
pub(crate) async fn route(
    admin: &Admin,
    sessions: &Sessions,
    status_of: ErrorStatus<AdminError>,
    req: Request<Bytes>,
    peer: Option<IpAddr>,
) -> Response<Bytes> {
    let (parts, body) = req.into_parts();
    let tls = security::is_tls(&parts.headers, parts.uri.scheme_str());
    let ctx = Ctx {
        admin,
        sessions,
        status_of,
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: Form::from_query(parts.uri.query()),
        headers: parts.headers,
        body,
        peer,
        tls,
    };
    let mut resp = match dispatch(&ctx).await {
        Ok(resp) => resp,
        Err(e) => error_page(&ctx, None, &e),
    };
    security::harden(&mut resp);
    resp
}

/// The error page, in the signed-in layout when there is a session.
fn error_page(ctx: &Ctx<'_>, signed: Option<&Signed>, e: &Error) -> Response<Bytes> {
    let status = e.status(ctx.status_of);
    if status.is_server_error() {
        tracing::warn!(error = %e, "dashboard request failed");
    }
    let title = match status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        s if s.is_server_error() => "Something went wrong",
        _ => "Cannot do that",
    };
    let body = html! {
        (layout::notice("bad", &e.message(ctx.status_of)))
        p { a href="/ui/" { "Back to the dashboard" } }
    };
    let markup = match signed {
        Some(s) => layout::page(&s.viewer(), Nav::Password, title, body),
        None => layout::bare(title, body),
    };
    html_page(status, markup)
}

/// The path's segments after `/ui`.
fn segments(path: &str) -> Vec<&str> {
    path.strip_prefix(PREFIX)
        .unwrap_or("")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect()
}

async fn dispatch(ctx: &Ctx<'_>) -> Reply {
    let get = ctx.method == Method::GET || ctx.method == Method::HEAD;
    if ctx.path == "/" || ctx.path == PREFIX {
        return if get {
            Ok(redirect("/ui/"))
        } else {
            Err(Error::NotFound)
        };
    }
    let segs = segments(&ctx.path);
    match (get, segs.as_slice()) {
        (true, ["assets", name]) => return assets::serve(name).ok_or(Error::NotFound),
        (true, ["signin"]) => return signin::form(ctx).await,
        (false, ["signin"]) if ctx.method == Method::POST => return signin::submit(ctx).await,
        _ => {}
    }
    let Some(signed) = signed_in(ctx).await? else {
        // Sign in first, then come back here (GET) or to the page (POST).
        let next = if get { ctx.path.as_str() } else { "/ui/" };
        let q = crate::form::query_string(&[("next", next)]);
        return Ok(redirect(&format!("/ui/signin{q}")));
    };
    let form = if get {
        Form::default()
    } else {
        if ctx.method != Method::POST {
            return Err(Error::NotFound);
        }
        if !security::same_origin(&ctx.headers) {
            return Ok(error_page(ctx, Some(&signed), &Error::CrossSite));
        }
        let form = Form::from_body(&ctx.body)?;
        let sent = form.raw("_csrf").as_bytes();
        if !bool::from(sent.ct_eq(signed.record.csrf.as_bytes())) {
            return Ok(error_page(ctx, Some(&signed), &Error::CrossSite));
        }
        form
    };
    match page(ctx, &signed, get, &segs, &form).await {
        Ok(resp) => Ok(resp),
        Err(e) => Ok(error_page(ctx, Some(&signed), &e)),
    }
}

/// The session of the request's cookie, with its caller resolved now (a
/// disabled user or an outdated token ends it).
async fn signed_in(ctx: &Ctx<'_>) -> Result<Option<Signed>, Error> {
    let Some(token) = session::cookie(&ctx.headers, session::COOKIE) else {
        return Ok(None);
    };
    let sessions = &ctx.sessions;
    let touch = ctx.path != "/ui/live";
    let Some(record) = sessions.load(token, touch).await? else {
        return Ok(None);
    };
    match ctx.admin.authenticate(&record.jwt).await {
        Ok(caller) => Ok(Some(Signed {
            caller,
            token: token.to_owned(),
            record,
        })),
        Err(aigw_services::AdminError::NotSignedIn) => {
            sessions.end(token).await?;
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

async fn page(ctx: &Ctx<'_>, s: &Signed, get: bool, segs: &[&str], f: &Form) -> Reply {
    match (get, segs) {
        (true, []) => overview::page(ctx, s).await,
        (true, ["live"]) => overview::live(ctx, s).await,
        (false, ["signout"]) => signin::signout(ctx, s).await,
        (true, ["password"]) => signin::password_form(ctx, s, &[]),
        (false, ["password"]) => signin::password_submit(ctx, s, f).await,
        (true, ["accounts"]) => accounts::list(ctx, s).await,
        (false, ["accounts"]) => accounts::create(ctx, s, f).await,
        (false, ["accounts", "oauth"]) => accounts::oauth_start(ctx, s, f).await,
        (false, ["accounts", "oauth", "exchange"]) => accounts::oauth_exchange(ctx, s, f).await,
        (true, ["accounts", id]) => accounts::edit(ctx, s, id).await,
        (false, ["accounts", id]) => accounts::update(ctx, s, id, f).await,
        (false, ["accounts", id, "toggle"]) => accounts::toggle(ctx, s, id).await,
        (true, ["accounts", id, "delete"]) => accounts::confirm_delete(ctx, s, id).await,
        (false, ["accounts", id, "delete"]) => accounts::delete(ctx, s, id).await,
        (true, ["proxies"]) => proxies::list(ctx, s, &Form::default(), &[]).await,
        (false, ["proxies"]) => proxies::create(ctx, s, f).await,
        (false, ["proxies", "recalculate"]) => proxies::recalculate(ctx, s).await,
        (true, ["proxies", id]) => proxies::edit(ctx, s, id, None, &[]).await,
        (false, ["proxies", id]) => proxies::update(ctx, s, id, f).await,
        (true, ["proxies", id, "delete"]) => proxies::confirm_delete(ctx, s, id).await,
        (false, ["proxies", id, "delete"]) => proxies::delete(ctx, s, id).await,
        (true, ["keys"]) => keys::list(ctx, s, None, &Form::default(), &[]).await,
        (false, ["keys"]) => keys::create(ctx, s, f).await,
        (false, ["keys", id, "revoke"]) => keys::revoke(ctx, s, id).await,
        (true, ["users"]) => users::list(ctx, s, &Form::default(), &[]).await,
        (false, ["users"]) => users::create(ctx, s, f).await,
        (false, ["users", id]) => users::update(ctx, s, id, f).await,
        (true, ["users", id, "delete"]) => users::confirm_delete(ctx, s, id).await,
        (false, ["users", id, "delete"]) => users::delete(ctx, s, id).await,
        (true, ["mappings"]) => mappings::list(ctx, s, &Form::default(), &[]).await,
        (false, ["mappings"]) => mappings::create(ctx, s, f).await,
        (false, ["mappings", "delete"]) => mappings::delete(ctx, s, f).await,
        (true, ["logs"]) => logs::requests(ctx, s).await,
        (true, ["errors"]) => logs::errors(ctx, s).await,
        (true, ["quota"]) => logs::quota(ctx, s).await,
        _ => Err(Error::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_after_the_prefix() {
        assert_eq!(segments("/ui/"), Vec::<&str>::new());
        assert_eq!(
            segments("/ui/accounts/12/delete"),
            vec!["accounts", "12", "delete"]
        );
    }
}
