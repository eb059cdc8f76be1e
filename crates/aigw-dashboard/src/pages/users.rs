//! Users and roles (admins): create, change role, enable or disable, reset a
//! password, delete with a confirmation step.

use aigw_domain::{Page, Role, UserId};
use aigw_services::admin::users::{CreateUser, UpdateUser};
use maud::html;

use super::common::{Ctx, Reply, Signed, done, ok_page, parse_id, redirect};
use super::signin::unprocessable;
use crate::Error;
use crate::form::{Form, query_string};
use crate::layout::{self, FieldError, Nav};

const PAGE: i64 = 50;

fn roles() -> Vec<(String, String)> {
    [
        (Role::Admin, "admin — everything"),
        (Role::User, "user — own keys, mappings and logs"),
        (Role::Provider, "provider — own upstream accounts"),
    ]
    .into_iter()
    .map(|(r, label)| (r.as_str().to_owned(), label.to_owned()))
    .collect()
}

fn parse_role(raw: Option<&str>) -> Result<Role, Error> {
    raw.unwrap_or("")
        .parse::<Role>()
        .map_err(|_| Error::BadInput {
            field: "role",
            message: "choose a role",
        })
}

/// `GET /ui/users` (and the form re-drawn with its errors).
pub(crate) async fn list(ctx: &Ctx<'_>, s: &Signed, form: &Form, errors: &[FieldError]) -> Reply {
    s.require(Nav::Users)?;
    let page = ctx.query.page();
    let users = ctx.admin.list_users(Page::new(PAGE, page * PAGE)).await?;
    let link = |p: i64| format!("/ui/users{}", query_string(&[("page", &p.to_string())]));
    let role_options = roles();
    let body = html! {
        (done(ctx))
        (layout::pager(users.total, PAGE, page * PAGE, link))
        div.table-wrap {
            table {
                thead { tr { th { "Username" } th { "Role and status" } th { "Created" } th { span.sr-only { "Actions" } } } }
                tbody {
                    @for u in &users.data {
                        tr {
                            td { strong { (u.username) } @if u.id == s.caller.user.id { " " span.muted { "(you)" } } }
                            td {
                                form.inline method="post" action={ "/ui/users/" (u.id) } aria-label={ "Change " (u.username) } {
                                    (layout::csrf_field(&s.record.csrf))
                                    div.field {
                                        label.sr-only for={ "role-" (u.id) } { "Role of " (u.username) }
                                        select id={ "role-" (u.id) } name="role" {
                                            @for (value, text) in &role_options {
                                                option value=(value) selected[value == u.role.as_str()] { (text) }
                                            }
                                        }
                                    }
                                    div.check {
                                        input type="checkbox" id={ "active-" (u.id) } name="is_active" value="1" checked[u.is_active];
                                        label for={ "active-" (u.id) } { "active" }
                                    }
                                    div.field {
                                        label.sr-only for={ "pw-" (u.id) } { "New password for " (u.username) }
                                        input type="password" id={ "pw-" (u.id) } name="password" placeholder="new password (optional)" autocomplete="new-password";
                                    }
                                    button.secondary.small type="submit" { "Save" }
                                }
                            }
                            td { (layout::when(Some(u.created_at))) }
                            td { @if u.id != s.caller.user.id {
                                a.button.danger.small href={ "/ui/users/" (u.id) "/delete" } aria-label={ "Delete " (u.username) } { "Delete" }
                            } }
                        }
                    }
                }
            }
        }
        div.panel {
            h2 { "Create a user" }
            form.stack method="post" action="/ui/users" {
                (layout::csrf_field(&s.record.csrf))
                (layout::input("text", "username", "Username", form.get("username").unwrap_or(""), None, errors, true))
                (layout::input("password", "password", "Password", "", Some("At least 8 characters."), errors, true))
                (layout::select("role", "Role", &role_options, form.get("role").unwrap_or("user"), errors))
                div { button type="submit" { "Create user" } }
            }
        }
    };
    ok_page(s, Nav::Users, "Users and roles", body)
}

/// `POST /ui/users`.
pub(crate) async fn create(ctx: &Ctx<'_>, s: &Signed, f: &Form) -> Reply {
    s.require(Nav::Users)?;
    let result = match parse_role(f.get("role")) {
        Ok(role) => ctx
            .admin
            .create_user(&CreateUser {
                username: f.get("username").unwrap_or("").to_owned(),
                password: f.raw("password").to_owned(),
                role,
            })
            .await
            .map_err(Error::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(redirect("/ui/users?done=user-created")),
        Err(e) => match FieldError::from_error(&e, &["username", "password", "role"]) {
            Some(err) => list(ctx, s, f, &[err]).await.map(unprocessable),
            None if e.status(ctx.status_of).is_client_error() => list(
                ctx,
                s,
                f,
                &[FieldError::new("username", e.message(ctx.status_of))],
            )
            .await
            .map(unprocessable),
            None => Err(e),
        },
    }
}

/// `POST /ui/users/{id}`: role, activation and an optional new password.
pub(crate) async fn update(ctx: &Ctx<'_>, s: &Signed, id: &str, f: &Form) -> Reply {
    s.require(Nav::Users)?;
    let id: UserId = parse_id(id)?;
    let update = UpdateUser {
        role: Some(parse_role(f.get("role"))?),
        is_active: Some(f.checked("is_active")),
        password: f.get("password").map(str::to_owned),
    };
    ctx.admin.update_user(&s.caller, id, &update).await?;
    Ok(redirect("/ui/users?done=user-updated"))
}

/// `GET /ui/users/{id}/delete`: the confirmation step.
pub(crate) async fn confirm_delete(ctx: &Ctx<'_>, s: &Signed, id: &str) -> Reply {
    s.require(Nav::Users)?;
    let u = ctx.admin.get_user(parse_id(id)?).await?;
    let body = html! {
        div.panel {
            p { "Delete the user " strong { (u.username) } " with their API keys and model mappings? Their keys stop working at once." }
            form.actions method="post" action={ "/ui/users/" (u.id) "/delete" } {
                (layout::csrf_field(&s.record.csrf))
                button.danger type="submit" { "Delete user" }
                a.button.secondary href="/ui/users" { "Cancel" }
            }
        }
    };
    ok_page(s, Nav::Users, "Delete user", body)
}

/// `POST /ui/users/{id}/delete`.
pub(crate) async fn delete(ctx: &Ctx<'_>, s: &Signed, id: &str) -> Reply {
    s.require(Nav::Users)?;
    ctx.admin.delete_user(&s.caller, parse_id(id)?).await?;
    Ok(redirect("/ui/users?done=user-deleted"))
}
