//! Outbound proxies (admins): the list with assignments, health and latency;
//! adding, editing and deleting (with a confirmation step); recalculating the
//! account assignments.

use std::collections::HashMap;

use aigw_domain::{NewProxy, Page, ProxyId, ProxyUrl};
use aigw_services::admin::proxies::UpdateProxy;
use maud::html;

use super::common::{Ctx, Reply, Signed, done, ok_page, parse_id, redirect};
use super::signin::unprocessable;
use crate::Error;
use crate::form::{Form, query_string};
use crate::layout::{self, FieldError, Nav, num};

const PAGE: i64 = 50;
const FIELDS: [&str; 5] = ["url", "max_accounts", "priority", "weight", "max_failures"];

/// `GET /ui/proxies` (and the form re-drawn with its errors).
pub(crate) async fn list(ctx: &Ctx<'_>, s: &Signed, form: &Form, errors: &[FieldError]) -> Reply {
    s.require(Nav::Proxies)?;
    let admin = &ctx.admin;
    let page = ctx.query.page();
    let proxies = admin.list_proxies(Page::new(PAGE, page * PAGE)).await?;
    let assignments = admin.proxy_assignments(None).await?;
    let reports = admin.reports();
    // Mean latency over the last 7 days, from the daily proxy stats.
    let mut latency: HashMap<ProxyId, (i64, f64)> = HashMap::new();
    for p in &proxies.data {
        let stats = reports.proxy_stats(p.id, Some(7)).await?;
        let requests: i64 = stats.stats.iter().map(|d| d.request_count).sum();
        let total: f64 = stats
            .stats
            .iter()
            .map(|d| d.avg_latency_ms * d.request_count as f64)
            .sum();
        latency.insert(p.id, (requests, total));
    }
    let link = |p: i64| format!("/ui/proxies{}", query_string(&[("page", &p.to_string())]));
    let value = |name: &str, default: &str| form.get(name).unwrap_or(default).to_owned();
    let body = html! {
        (done(ctx))
        @if proxies.data.is_empty() {
            div.panel { (layout::empty("No proxies yet — accounts connect directly", html! { p { "Add a proxy below to send upstream traffic through it." } })) }
        } @else {
            (layout::pager(proxies.total, PAGE, page * PAGE, link))
            div.table-wrap {
                table {
                    thead { tr {
                        th { "URL" } th { "Health" } th.num { "Accounts" } th.num { "Priority" }
                        th.num { "Weight" } th.num { "Latency (7 d)" } th.num { "Failures" } th { span.sr-only { "Actions" } }
                    } }
                    tbody {
                        @for p in &proxies.data {
                            @let assigned = assignments.assignments.get(&p.id).map_or(0, Vec::len);
                            tr {
                                td { code { (p.url.redacted()) } div.small.muted { (p.protocol.as_str()) } }
                                td { @if p.is_active { (layout::health(p.health_status)) } @else { (layout::badge("", "inactive")) } }
                                td.num { (assigned) " / " @if p.max_accounts == 0 { "∞" } @else { (p.max_accounts) } }
                                td.num { (p.priority) }
                                td.num { (p.weight) }
                                td.num { @match latency.get(&p.id) {
                                    Some((n, total)) if *n > 0 => { (format!("{:.0} ms", total / *n as f64)) div.small.muted { (num(*n)) " req" } },
                                    _ => span.muted { "—" },
                                } }
                                td.num { (p.consecutive_failures) }
                                td { div.actions {
                                    a.button.secondary.small href={ "/ui/proxies/" (p.id) } { "Edit" }
                                    a.button.danger.small href={ "/ui/proxies/" (p.id) "/delete" } { "Delete" }
                                } }
                            }
                        }
                    }
                }
            }
            p.small.muted { (assignments.unassigned.len()) " active accounts without a proxy." }
        }
        div.grid2 {
            div.panel {
                h2 { "Add a proxy" }
                form.stack method="post" action="/ui/proxies" {
                    (layout::csrf_field(&s.record.csrf))
                    (layout::input("text", "url", "URL", &value("url", ""), Some("http://, https:// or socks5://, with user:password@ if needed (stored encrypted)."), errors, true))
                    (layout::input("number", "max_accounts", "Most accounts", &value("max_accounts", "0"), Some("0 = unlimited."), errors, false))
                    (layout::input("number", "priority", "Priority", &value("priority", "0"), Some("Higher is filled first."), errors, false))
                    (layout::input("number", "weight", "Weight", &value("weight", "1"), None, errors, false))
                    div { button type="submit" { "Add proxy" } }
                }
            }
            div.panel {
                h2 { "Assignments" }
                p { "Accounts keep their proxy. Recalculate to spread them again over the proxies by priority and capacity." }
                form method="post" action="/ui/proxies/recalculate" {
                    (layout::csrf_field(&s.record.csrf))
                    button.secondary type="submit" { "Recalculate assignments" }
                }
            }
        }
    };
    ok_page(s, Nav::Proxies, "Proxies", body)
}

fn field_error(e: &Error) -> Option<FieldError> {
    FieldError::from_error(e, &FIELDS)
}

/// `POST /ui/proxies`.
pub(crate) async fn create(ctx: &Ctx<'_>, s: &Signed, f: &Form) -> Reply {
    s.require(Nav::Proxies)?;
    let parsed = (|| -> Result<NewProxy, Error> {
        let mut new = NewProxy::new(ProxyUrl::new(f.get("url").unwrap_or("")));
        new.max_accounts = f.number("max_accounts", "max_accounts", 0)?;
        new.priority = f.number("priority", "priority", 0)?;
        new.weight = f.number("weight", "weight", 1)?;
        Ok(new)
    })();
    let result = match parsed {
        Ok(new) => ctx.admin.create_proxy(new).await.map_err(Error::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(redirect("/ui/proxies?done=proxy-created")),
        Err(e) => match field_error(&e) {
            Some(err) => list(ctx, s, f, &[err]).await.map(unprocessable),
            None if e.status(ctx.status_of).is_client_error() => list(
                ctx,
                s,
                f,
                &[FieldError::new("url", e.message(ctx.status_of))],
            )
            .await
            .map(unprocessable),
            None => Err(e),
        },
    }
}

/// `POST /ui/proxies/recalculate`.
pub(crate) async fn recalculate(ctx: &Ctx<'_>, s: &Signed) -> Reply {
    s.require(Nav::Proxies)?;
    ctx.admin.recalculate_proxies().await?;
    Ok(redirect("/ui/proxies?done=recalculated"))
}

/// `GET /ui/proxies/{id}` (and the form re-drawn with its errors).
pub(crate) async fn edit(
    ctx: &Ctx<'_>,
    s: &Signed,
    id: &str,
    form: Option<&Form>,
    errors: &[FieldError],
) -> Reply {
    s.require(Nav::Proxies)?;
    let p = ctx.admin.get_proxy(parse_id(id)?).await?;
    let value = |name: &str, current: String| {
        form.and_then(|f| f.get(name))
            .map_or(current, str::to_owned)
    };
    let body = html! {
        div.panel {
            form.stack method="post" action={ "/ui/proxies/" (p.id) } {
                (layout::csrf_field(&s.record.csrf))
                (layout::input("text", "url", "New URL", &value("url", String::new()), Some(&format!("Leave empty to keep {}.", p.url.redacted())), errors, false))
                (layout::checkbox("is_active", "Active", form.map_or(p.is_active, |f| f.checked("is_active"))))
                (layout::input("number", "max_accounts", "Most accounts", &value("max_accounts", p.max_accounts.to_string()), Some("0 = unlimited."), errors, false))
                (layout::input("number", "priority", "Priority", &value("priority", p.priority.to_string()), None, errors, false))
                (layout::input("number", "weight", "Weight", &value("weight", p.weight.to_string()), None, errors, false))
                (layout::input("number", "max_failures", "Failures before it is marked down", &value("max_failures", p.max_failures.to_string()), None, errors, false))
                div.actions {
                    button type="submit" { "Save" }
                    a.button.secondary href="/ui/proxies" { "Cancel" }
                }
            }
        }
    };
    ok_page(
        s,
        Nav::Proxies,
        &format!("Proxy {}", p.url.redacted()),
        body,
    )
}

/// `POST /ui/proxies/{id}`.
pub(crate) async fn update(ctx: &Ctx<'_>, s: &Signed, id: &str, f: &Form) -> Reply {
    s.require(Nav::Proxies)?;
    let pid: ProxyId = parse_id(id)?;
    let parsed = (|| -> Result<UpdateProxy, Error> {
        Ok(UpdateProxy {
            url: f.get("url").map(str::to_owned),
            protocol: None,
            is_active: Some(f.checked("is_active")),
            max_accounts: Some(f.number("max_accounts", "max_accounts", 0)?),
            priority: Some(f.number("priority", "priority", 0)?),
            weight: Some(f.number("weight", "weight", 1)?),
            max_failures: Some(f.number("max_failures", "max_failures", 3)?),
        })
    })();
    let result = match parsed {
        Ok(update) => ctx
            .admin
            .update_proxy(pid, update)
            .await
            .map_err(Error::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(redirect("/ui/proxies?done=proxy-updated")),
        Err(e) => match field_error(&e) {
            Some(err) => edit(ctx, s, id, Some(f), &[err]).await.map(unprocessable),
            None => Err(e),
        },
    }
}

/// `GET /ui/proxies/{id}/delete`: the confirmation step.
pub(crate) async fn confirm_delete(ctx: &Ctx<'_>, s: &Signed, id: &str) -> Reply {
    s.require(Nav::Proxies)?;
    let p = ctx.admin.get_proxy(parse_id(id)?).await?;
    let body = html! {
        div.panel {
            p { "Delete the proxy " code { (p.url.redacted()) } "? Its accounts are given other proxies, or none." }
            form.actions method="post" action={ "/ui/proxies/" (p.id) "/delete" } {
                (layout::csrf_field(&s.record.csrf))
                button.danger type="submit" { "Delete proxy" }
                a.button.secondary href="/ui/proxies" { "Cancel" }
            }
        }
    };
    ok_page(s, Nav::Proxies, "Delete proxy", body)
}

/// `POST /ui/proxies/{id}/delete`.
pub(crate) async fn delete(ctx: &Ctx<'_>, s: &Signed, id: &str) -> Reply {
    s.require(Nav::Proxies)?;
    ctx.admin.delete_proxy(parse_id(id)?).await?;
    Ok(redirect("/ui/proxies?done=proxy-deleted"))
}
