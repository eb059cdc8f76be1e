//! Sign-in, sign-out and changing one's password.
//!
//! Sign-in goes through [`aigw_services::admin::Admin::login`]: the same
//! argon2 check and the same throttle per username and client address as
//! `POST /api/v1/auth/login`. The sign-in form is bound to the browser that
//! loaded it by a random cookie echoed in a hidden field (there is no session
//! yet to carry a form token), and must pass the same-origin check.

use aigw_domain::Role;
use http::StatusCode;
use http::header::{HeaderValue, RETRY_AFTER};
use maud::{Markup, html};
use subtle::ConstantTimeEq;

use super::common::{Ctx, Reply, Signed, add_cookie, done, html_page, ok_page, redirect};
use crate::form::Form;
use crate::layout::{self, FieldError, Nav};
use crate::session::{self, SIGNIN_COOKIE, random_token, set_cookie};
use crate::{Error, security};

/// Where a role lands after sign-in.
pub(crate) fn landing(role: Role) -> &'static str {
    match role {
        Role::Admin => "/ui/",
        Role::Provider => "/ui/accounts",
        Role::User => "/ui/keys",
    }
}

/// A `next` that stays inside the dashboard.
fn safe_next(next: Option<&str>) -> Option<&str> {
    next.filter(|n| n.starts_with("/ui/") && !n.contains("//") && !n.contains('\\'))
}

fn signin_markup(binding: &str, username: &str, next: &str, message: Option<&str>) -> Markup {
    layout::bare(
        "Sign in",
        html! {
            @if let Some(m) = message { (layout::notice("bad", m)) }
            form.stack method="post" action="/ui/signin" {
                input type="hidden" name="_signin" value=(binding);
                input type="hidden" name="next" value=(next);
                div.field {
                    label for="f-username" { "Username" }
                    input #f-username type="text" name="username" value=(username) required autocomplete="username" autofocus;
                }
                div.field {
                    label for="f-password" { "Password" }
                    input #f-password type="password" name="password" required autocomplete="current-password";
                }
                button type="submit" { "Sign in" }
            }
            p.muted.small { "On first start the gateway prints the password of the " code { "admin" } " user." }
        },
    )
}

/// `GET /ui/signin`.
pub(crate) async fn form(ctx: &Ctx<'_>) -> Reply {
    let binding = session::cookie(&ctx.headers, SIGNIN_COOKIE)
        .filter(|c| c.len() == 64 && c.bytes().all(|b| b.is_ascii_hexdigit()))
        .map_or_else(random_token, str::to_owned);
    let next = safe_next(ctx.query.get("next")).unwrap_or("");
    let mut resp = html_page(StatusCode::OK, signin_markup(&binding, "", next, None));
    add_cookie(
        &mut resp,
        &set_cookie(SIGNIN_COOKIE, &binding, "/ui/signin", 3600, ctx.tls),
    );
    Ok(resp)
}

/// `POST /ui/signin`.
pub(crate) async fn submit(ctx: &Ctx<'_>) -> Reply {
    let f = Form::from_body(&ctx.body)?;
    let binding = session::cookie(&ctx.headers, SIGNIN_COOKIE).unwrap_or("");
    let sent = f.raw("_signin");
    let bound = !binding.is_empty() && bool::from(sent.as_bytes().ct_eq(binding.as_bytes()));
    let username = f.get("username").unwrap_or("");
    let next = safe_next(f.get("next")).unwrap_or("");
    let refuse = |status: StatusCode, message: &str| {
        let fresh = if binding.is_empty() {
            random_token()
        } else {
            binding.to_owned()
        };
        let mut resp = html_page(status, signin_markup(&fresh, username, next, Some(message)));
        add_cookie(
            &mut resp,
            &set_cookie(SIGNIN_COOKIE, &fresh, "/ui/signin", 3600, ctx.tls),
        );
        resp
    };
    if !security::same_origin(&ctx.headers) || !bound {
        return Ok(refuse(
            StatusCode::FORBIDDEN,
            "This sign-in form has expired or came from another site. Try again.",
        ));
    }
    let password = f.raw("password");
    match ctx.admin.login(username, password, ctx.peer).await {
        Ok(signed) => {
            let (token, _) = ctx.sessions.create(signed.token).await?;
            let mut resp = redirect(next_or_landing(next, signed.user.role));
            add_cookie(
                &mut resp,
                &set_cookie(
                    session::COOKIE,
                    &token,
                    "/",
                    ctx.sessions.cookie_max_age(),
                    ctx.tls,
                ),
            );
            add_cookie(
                &mut resp,
                &set_cookie(SIGNIN_COOKIE, "", "/ui/signin", 0, ctx.tls),
            );
            Ok(resp)
        }
        Err(aigw_services::AdminError::InvalidCredentials) => Ok(refuse(
            StatusCode::UNAUTHORIZED,
            "Wrong username or password.",
        )),
        Err(aigw_services::AdminError::UserDisabled) => Ok(refuse(
            StatusCode::FORBIDDEN,
            "This user is disabled. Ask an admin to enable it.",
        )),
        Err(aigw_services::AdminError::TooManyAttempts { retry_after }) => {
            let minutes = retry_after.as_secs().div_ceil(60).max(1);
            let mut resp = refuse(
                StatusCode::TOO_MANY_REQUESTS,
                &format!("Too many sign-in attempts. Try again in {minutes} min."),
            );
            if let Ok(v) = HeaderValue::from_str(&retry_after.as_secs().max(1).to_string()) {
                resp.headers_mut().insert(RETRY_AFTER, v);
            }
            Ok(resp)
        }
        Err(e) => Err(e.into()),
    }
}

fn next_or_landing(next: &str, role: Role) -> &str {
    if next.is_empty() { landing(role) } else { next }
}

/// `POST /ui/signout`: ends the session on every instance.
pub(crate) async fn signout(ctx: &Ctx<'_>, s: &Signed) -> Reply {
    ctx.sessions.end(&s.token).await?;
    let mut resp = redirect("/ui/signin");
    add_cookie(&mut resp, &set_cookie(session::COOKIE, "", "/", 0, ctx.tls));
    Ok(resp)
}

/// `GET /ui/password`.
pub(crate) fn password_form(ctx: &Ctx<'_>, s: &Signed, errors: &[FieldError]) -> Reply {
    ok_page(
        s,
        Nav::Password,
        "Change password",
        html! {
            (done(ctx))
            div.panel {
                form.stack method="post" action="/ui/password" {
                    (layout::csrf_field(&s.record.csrf))
                    (layout::input("password", "current_password", "Current password", "", None, errors, true))
                    (layout::input("password", "new_password", "New password", "", Some("At least 8 characters."), errors, true))
                    (layout::input("password", "confirm", "New password again", "", None, errors, true))
                    div { button type="submit" { "Change password" } }
                }
                p.muted.small { "Changing it signs out your other sessions, here and in the API." }
            }
        },
    )
}

/// `POST /ui/password`.
pub(crate) async fn password_submit(ctx: &Ctx<'_>, s: &Signed, f: &crate::form::Form) -> Reply {
    let new = f.raw("new_password");
    if new != f.raw("confirm") {
        let errors = [FieldError::new(
            "confirm",
            "does not match the new password",
        )];
        return password_form(ctx, s, &errors).map(unprocessable);
    }
    match ctx
        .admin
        .change_password(&s.caller, f.raw("current_password"), new)
        .await
    {
        Ok(session) => {
            ctx.sessions.replace_jwt(&s.token, session.token).await?;
            Ok(redirect("/ui/password?done=password"))
        }
        Err(e) => {
            let e = Error::from(e);
            match FieldError::from_error(&e, &["current_password", "new_password"]) {
                Some(err) => password_form(ctx, s, &[err]).map(unprocessable),
                None => Err(e),
            }
        }
    }
}

/// A re-drawn form with errors is answered 422.
pub(crate) fn unprocessable(
    mut resp: http::Response<bytes::Bytes>,
) -> http::Response<bytes::Bytes> {
    *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_inside_the_dashboard() {
        assert_eq!(safe_next(Some("/ui/keys")), Some("/ui/keys"));
        assert_eq!(safe_next(Some("//evil.example/")), None);
        assert_eq!(safe_next(Some("/ui//evil")), None);
        assert_eq!(safe_next(Some("https://evil.example/ui/")), None);
        assert_eq!(next_or_landing("", Role::User), "/ui/keys");
    }
}
