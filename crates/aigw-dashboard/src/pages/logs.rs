//! Request logs (admins: all; users: those of their own keys), the error log
//! (admins) and the quota and health view (admins), with filters and paging.

use std::collections::HashMap;

use aigw_domain::{ApiKeyId, Page, ProviderId, RequestLogFilter};
use chrono::Utc;
use maud::html;

use super::common::{Ctx, Reply, Signed, ok_page, provider_options};
use crate::form::query_string;
use crate::layout::{self, Nav, num};

const PAGE: i64 = 50;

/// `GET /ui/logs`.
pub(crate) async fn requests(ctx: &Ctx<'_>, s: &Signed) -> Reply {
    s.require(Nav::Logs)?;
    let admin = &ctx.admin;
    let q = &ctx.query;
    let provider_raw = q.get("provider").unwrap_or("");
    let model = q.get("model").unwrap_or("");
    let status = q
        .get("status")
        .filter(|s| matches!(*s, "ok" | "errors"))
        .unwrap_or("");
    let key_raw = q.get("key").unwrap_or("");
    let page = q.page();
    // A user's logs are those of their own keys, one key at a time.
    let keys = admin
        .list_api_keys(&s.caller, None, Page::max())
        .await?
        .data;
    let mut key: Option<ApiKeyId> = key_raw
        .parse()
        .ok()
        .filter(|k| keys.iter().any(|own| own.id == *k));
    if !s.is_admin() && key.is_none() {
        key = keys.first().map(|k| k.id);
    }
    let filter = RequestLogFilter {
        provider_id: ProviderId::new(provider_raw).ok(),
        model: (!model.is_empty()).then(|| model.to_owned()),
        api_key_id: key,
        errors_only: status == "errors",
        status_class: (status == "ok").then_some(2),
        ..RequestLogFilter::default()
    };
    let no_keys = !s.is_admin() && keys.is_empty();
    let logs = if no_keys {
        None
    } else {
        Some(
            admin
                .reports()
                .request_logs(&filter, Some(PAGE), Some(page * PAGE))
                .await?,
        )
    };
    let key_names: HashMap<ApiKeyId, String> = keys
        .iter()
        .map(|k| {
            (
                k.id,
                k.label
                    .clone()
                    .unwrap_or_else(|| format!("{}…", k.key_prefix)),
            )
        })
        .collect();
    let mut key_options: Vec<(String, String)> = if s.is_admin() {
        vec![(String::new(), "Any key".to_owned())]
    } else {
        Vec::new()
    };
    key_options.extend(keys.iter().map(|k| {
        (
            k.id.to_string(),
            key_names.get(&k.id).cloned().unwrap_or_default(),
        )
    }));
    let providers = provider_options(ctx, Some("Any provider")).await?;
    let statuses = vec![
        (String::new(), "Any status".to_owned()),
        ("ok".to_owned(), "Succeeded (2xx)".to_owned()),
        ("errors".to_owned(), "Failed".to_owned()),
    ];
    let key_value = key.map(|k| k.to_string()).unwrap_or_default();
    let link = |p: i64| {
        let page = p.to_string();
        format!(
            "/ui/logs{}",
            query_string(&[
                ("provider", provider_raw),
                ("model", model),
                ("status", status),
                ("key", &key_value),
                ("page", &page)
            ])
        )
    };
    let body = html! {
        @if no_keys {
            div.panel { (layout::empty("No API keys yet — create one to send requests", html! { p { a href="/ui/keys" { "Create an API key" } } })) }
        } @else {
            form.inline.panel method="get" action="/ui/logs" aria-label="Filter request logs" {
                (layout::select("provider", "Provider", &providers, provider_raw, &[]))
                (layout::input("text", "model", "Model", model, None, &[], false))
                (layout::select("status", "Status", &statuses, status, &[]))
                (layout::select("key", "API key", &key_options, &key_value, &[]))
                button.secondary type="submit" { "Filter" }
            }
            @if let Some(logs) = &logs {
                @if logs.data.is_empty() {
                    div.panel { (layout::empty("No requests logged yet", html! { p { "Requests through " code { "/v1/…" } " appear here a moment after they finish." } })) }
                } @else {
                    (layout::pager(logs.total, PAGE, page * PAGE, link))
                    div.table-wrap {
                        table {
                            thead { tr {
                                th { "Time" } th { "Model" } th { "Provider" } th.num { "Status" } th.num { "Latency" }
                                th.num { "Tokens in / out" } th { "Key" } th { "Error" }
                            } }
                            tbody {
                                @for l in &logs.data {
                                    tr {
                                        td { (layout::when(Some(l.created_at))) }
                                        td { code { (l.model.as_deref().unwrap_or("—")) } @if let Some(u) = &l.upstream_model { @if Some(u) != l.model.as_ref() { div.small.muted { "→ " (u) } } } }
                                        td { (l.provider_id.as_ref().map_or_else(|| "—".to_owned(), ToString::to_string)) }
                                        td.num { @if (200..300).contains(&l.status_code) { (layout::badge("ok", &l.status_code.to_string())) } @else { (layout::badge("bad", &l.status_code.to_string())) } }
                                        td.num { (num(l.latency_ms)) " ms" }
                                        td.num { (l.input_tokens.map_or_else(|| "—".to_owned(), num)) " / " (l.output_tokens.map_or_else(|| "—".to_owned(), num)) }
                                        td.small { (l.api_key_id.and_then(|k| key_names.get(&k)).map_or("—", String::as_str)) }
                                        td.small { (l.error_message.as_deref().unwrap_or("")) }
                                    }
                                }
                            }
                        }
                    }
                    (layout::pager_below(logs.total, PAGE, page * PAGE, link))
                }
            }
        }
    };
    ok_page(s, Nav::Logs, "Request logs", body)
}

/// `GET /ui/errors`: the newest entries of the error log.
pub(crate) async fn errors(ctx: &Ctx<'_>, s: &Signed) -> Reply {
    s.require(Nav::Errors)?;
    let limit: i64 = match ctx.query.get("limit") {
        Some("200") => 200,
        Some("500") => 500,
        _ => 50,
    };
    let log = ctx.admin.reports().error_logs(Some(limit)).await?;
    let body = html! {
        nav.tabs aria-label="How many" {
            @for n in [50, 200, 500] {
                a href={ "/ui/errors?limit=" (n) } aria-current=[(n == limit).then_some("page")] { "Newest " (n) }
            }
        }
        p.muted { (num(i64::try_from(log.total).unwrap_or(i64::MAX))) " entries in the log." }
        @if log.logs.is_empty() {
            div.panel { (layout::empty("No errors logged", html! { p { "Upstream failures and background errors appear here." } })) }
        } @else {
            div.table-wrap {
                table {
                    thead { tr { th { "Time" } th { "Where" } th { "Message" } } }
                    tbody {
                        @for e in &log.logs {
                            tr {
                                td { (layout::when(Some(e.created_at))) }
                                td { (e.service) div.small.muted { (e.operation) } }
                                td { (e.message) @if !e.context.is_empty() { div.small.muted.mono { (serde_json::Value::Object(e.context.clone()).to_string()) } } }
                            }
                        }
                    }
                }
            }
        }
    };
    ok_page(s, Nav::Errors, "Error log", body)
}

/// `GET /ui/quota`: account health per provider, and per account and model
/// today's use, the learned limit and any cooldown.
pub(crate) async fn quota(ctx: &Ctx<'_>, s: &Signed) -> Reply {
    s.require(Nav::Quota)?;
    let reports = ctx.admin.reports();
    let health = reports.health_summary().await?;
    let quota = reports.quota_accounts(None).await?;
    let page = ctx.query.page();
    let total = quota.accounts.len() as i64;
    let start = usize::try_from(page * PAGE)
        .unwrap_or(usize::MAX)
        .min(quota.accounts.len());
    let shown = &quota.accounts[start..(start + PAGE as usize).min(quota.accounts.len())];
    let link = |p: i64| format!("/ui/quota{}", query_string(&[("page", &p.to_string())]));
    let now = Utc::now();
    let body = html! {
        div.grid {
            div.figure { div.label { "Status" } div.value { (health.status) } }
            div.figure { div.label { "Usable accounts" } div.value { (health.counts.healthy) } div.sub { "of " (health.counts.total) } }
            div.figure { div.label { "Blocked" } div.value { (health.counts.blocked) } }
            div.figure { div.label { "Disabled" } div.value { (health.counts.disabled) } }
        }
        h2 { "Active accounts today" }
        @if shown.is_empty() {
            div.panel { (layout::empty("No active accounts", html! { p { a href="/ui/accounts" { "Add an account" } } })) }
        } @else {
            (layout::pager(total, PAGE, page * PAGE, link))
            div.table-wrap {
                table {
                    thead { tr { th { "Account" } th { "Model" } th.num { "Requests" } th.num { "Errors" } th.num { "Tokens" } th.num { "Limit" } th { "State" } } }
                    tbody {
                        @for a in shown {
                            @let used: Vec<_> = a.models.iter().filter(|(_, q)| q.requests_today > 0 || q.is_exhausted || q.est_request_limit.is_some()).collect();
                            @if used.is_empty() {
                                tr { td { a href={ "/ui/accounts/" (a.account_id) } { (a.label) } div.small.muted { (a.provider_id) } } td.muted colspan="6" { "no use today" } }
                            }
                            @for (i, (model, q)) in used.iter().enumerate() {
                                tr {
                                    td { @if i == 0 { a href={ "/ui/accounts/" (a.account_id) } { (a.label) } div.small.muted { (a.provider_id) } } }
                                    td { code { (model) } }
                                    td.num { (num(q.requests_today)) }
                                    td.num { (num(q.errors_today)) }
                                    td.num { (num(q.tokens_today)) }
                                    td.num { @match (q.est_request_limit, q.percent_used) { (Some(l), Some(p)) => { (num(l)) " (" (format!("{p:.0}")) "%)" }, _ => "—" } }
                                    td { @if q.is_exhausted {
                                        (layout::badge("warn", q.reason.unwrap_or("cooling down")))
                                        @if let Some(r) = q.reset_at { " resets " (layout::when(Some(r))) }
                                    } @else { (layout::badge("ok", "available")) } }
                                }
                            }
                        }
                    }
                }
            }
        }
        p.small.muted { "Cooldowns are those of the instance that drew this page; checked " (layout::relative(health.checked_at, now)) "." }
    };
    ok_page(s, Nav::Quota, "Quota and health", body)
}
