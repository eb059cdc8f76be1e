//! Client API keys (`ak_…`): each user's own, admins' all. A new key is shown
//! once, in the answer to the form that created it (never stored or sent
//! again), with a copy button.

use std::collections::HashMap;

use aigw_domain::{ApiKeyId, Page, UserId};
use maud::html;

use super::common::{Ctx, Reply, Signed, done, ok_page, parse_id, redirect};
use super::signin::unprocessable;
use crate::Error;
use crate::form::{Form, query_string};
use crate::layout::{self, FieldError, Nav};

const PAGE: i64 = 50;

/// `GET /ui/keys`; `issued` is a key just created, shown this once.
pub(crate) async fn list(
    ctx: &Ctx<'_>,
    s: &Signed,
    issued: Option<&str>,
    form: &Form,
    errors: &[FieldError],
) -> Reply {
    s.require(Nav::Keys)?;
    let admin = &ctx.admin;
    let page = ctx.query.page();
    let keys = admin
        .list_api_keys(&s.caller, None, Page::new(PAGE, page * PAGE))
        .await?;
    let users: HashMap<UserId, String> = if s.is_admin() {
        admin
            .list_users(Page::max())
            .await?
            .data
            .into_iter()
            .map(|u| (u.id, u.username))
            .collect()
    } else {
        HashMap::new()
    };
    let mut owners: Vec<(String, String)> = users
        .iter()
        .map(|(id, name)| (id.to_string(), name.clone()))
        .collect();
    owners.sort_by(|a, b| a.1.cmp(&b.1));
    let link = |p: i64| format!("/ui/keys{}", query_string(&[("page", &p.to_string())]));
    let body = html! {
        (done(ctx))
        @if let Some(raw) = issued {
            div.notice.ok role="status" {
                strong { "Your new API key. Copy it now: it is not shown again." }
                div.secret {
                    code #new-key { (raw) }
                    button.secondary.small type="button" data-copy="new-key" hidden { "Copy" }
                }
                p.small { "Use it as " code { "Authorization: Bearer …" } " (OpenAI clients) or " code { "x-api-key" } " (Anthropic clients)." }
            }
        }
        @if keys.data.is_empty() {
            div.panel { (layout::empty("No API keys yet — create one below", html! { p { "Clients send a key with every request to " code { "/v1/…" } "." } })) }
        } @else {
            (layout::pager(keys.total, PAGE, page * PAGE, link))
            div.table-wrap {
                table {
                    thead { tr {
                        th { "Label" } th { "Key" } @if s.is_admin() { th { "Owner" } }
                        th { "Status" } th { "Created" } th { "Last used" } th { span.sr-only { "Actions" } }
                    } }
                    tbody {
                        @for k in &keys.data {
                            tr {
                                td { (k.label.as_deref().unwrap_or("—")) }
                                td { code { (k.key_prefix) "…" } }
                                @if s.is_admin() { td { (users.get(&k.user_id).map_or("—", String::as_str)) } }
                                td { @if k.is_active { (layout::badge("ok", "active")) } @else { (layout::badge("", "revoked")) } }
                                td { (layout::when(Some(k.created_at))) }
                                td { (layout::when(k.last_used_at)) }
                                td { @if k.is_active {
                                    form method="post" action={ "/ui/keys/" (k.id) "/revoke" } {
                                        (layout::csrf_field(&s.record.csrf))
                                        button.danger.small type="submit" aria-label={ "Revoke " (k.label.as_deref().unwrap_or(&k.key_prefix)) } { "Revoke" }
                                    }
                                } }
                            }
                        }
                    }
                }
            }
        }
        div.panel {
            h2 { "Create a key" }
            form.stack method="post" action="/ui/keys" {
                (layout::csrf_field(&s.record.csrf))
                (layout::input("text", "label", "Label", form.get("label").unwrap_or(""), Some("Where the key is used, such as a laptop or a service."), errors, false))
                @if s.is_admin() {
                    (layout::select("owner", "Owner", &owners, &form.get("owner").map_or_else(|| s.caller.user.id.to_string(), str::to_owned), errors))
                }
                div { button type="submit" { "Create key" } }
            }
        }
    };
    ok_page(s, Nav::Keys, "API keys", body)
}

/// `POST /ui/keys`: the page again, with the new key shown once.
pub(crate) async fn create(ctx: &Ctx<'_>, s: &Signed, f: &Form) -> Reply {
    s.require(Nav::Keys)?;
    let owner = match f.get("owner") {
        Some(raw) => Some(raw.parse::<UserId>().map_err(|_| Error::BadInput {
            field: "owner",
            message: "no such user",
        })?),
        None => None,
    };
    let label = f.get("label").map(str::to_owned);
    match ctx.admin.create_api_key(&s.caller, owner, label).await {
        Ok(issued) => list(ctx, s, Some(&issued.raw), &Form::default(), &[]).await,
        Err(e) => {
            let e = Error::from(e);
            match FieldError::from_error(&e, &["label", "user_id"]) {
                Some(mut err) => {
                    if err.field == "user_id" {
                        err.field = "owner".to_owned();
                    }
                    list(ctx, s, None, f, &[err]).await.map(unprocessable)
                }
                None => Err(e),
            }
        }
    }
}

/// `POST /ui/keys/{id}/revoke`.
pub(crate) async fn revoke(ctx: &Ctx<'_>, s: &Signed, id: &str) -> Reply {
    s.require(Nav::Keys)?;
    let id: ApiKeyId = parse_id(id)?;
    ctx.admin.revoke_api_key(&s.caller, id).await?;
    Ok(redirect("/ui/keys?done=key-revoked"))
}
