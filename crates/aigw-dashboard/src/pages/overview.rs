//! The overview (admins): requests, tokens, errors and latency per day and
//! provider over the last 7 or 30 days as SVG charts, today's live counters
//! (refreshed by the page's script from `/ui/live`), accounts by health and
//! proxies by health.

use std::collections::BTreeMap;

use aigw_domain::{HealthStatus, Page};
use aigw_repository::state::LiveScope;
use bytes::Bytes;
use chrono::{NaiveDate, Utc};
use http::Response;
use http::header::{CONTENT_TYPE, HeaderValue};
use maud::{Markup, html};

use super::common::{Ctx, Reply, Signed, ok_page, redirect};
use crate::Error;
use crate::charts::{self, Series};
use crate::layout::{self, Nav, num};

/// One provider's sums per day of the window.
#[derive(Debug, Default, Clone)]
struct Daily {
    requests: Vec<f64>,
    tokens: Vec<f64>,
    errors: Vec<f64>,
    latency_ms: Vec<f64>,
}

impl Daily {
    fn new(days: usize) -> Self {
        Self {
            requests: vec![0.0; days],
            tokens: vec![0.0; days],
            errors: vec![0.0; days],
            latency_ms: vec![0.0; days],
        }
    }

    fn total(v: &[f64]) -> f64 {
        v.iter().sum()
    }
}

/// `GET /ui/`: the overview for admins; everyone else goes to their own first page.
pub(crate) async fn page(ctx: &Ctx<'_>, s: &Signed) -> Reply {
    if !s.is_admin() {
        return Ok(redirect(super::signin::landing(s.caller.role())));
    }
    s.require(Nav::Overview)?;
    let days: i64 = if ctx.query.get("days") == Some("30") {
        30
    } else {
        7
    };
    let reports = ctx.admin.reports();
    let usage = reports.usage_by_model(Some(days), None).await?;
    let window = usage.window;
    let labels: Vec<String> = (0..window.days)
        .map(|i| {
            (window.from + chrono::Duration::days(i))
                .format("%m-%d")
                .to_string()
        })
        .collect();
    let n = labels.len();
    let index = |d: NaiveDate| {
        usize::try_from((d - window.from).num_days())
            .ok()
            .filter(|i| *i < n)
    };
    let mut by_provider: BTreeMap<String, Daily> = BTreeMap::new();
    for row in &usage.data {
        let Some(i) = index(row.date) else { continue };
        let name = row
            .provider_id
            .as_ref()
            .map_or_else(|| "unrouted".to_owned(), ToString::to_string);
        let d = by_provider.entry(name).or_insert_with(|| Daily::new(n));
        let t = &row.usage.totals;
        d.requests[i] += t.requests as f64;
        d.tokens[i] += (t.input_tokens + t.output_tokens) as f64;
        d.errors[i] += t.errors as f64;
        d.latency_ms[i] += t.total_latency_ms as f64;
    }
    let series = |pick: fn(&Daily) -> &Vec<f64>| -> Vec<Series> {
        by_provider
            .iter()
            .map(|(name, d)| Series {
                name: name.clone(),
                values: pick(d).clone(),
            })
            .collect()
    };
    let sum_day = |pick: fn(&Daily) -> &Vec<f64>, i: usize| -> f64 {
        by_provider.values().map(|d| pick(d)[i]).sum()
    };
    let latency: Vec<Option<f64>> = (0..n)
        .map(|i| {
            let req = sum_day(|d| &d.requests, i);
            (req > 0.0).then(|| sum_day(|d| &d.latency_ms, i) / req)
        })
        .collect();
    let total = |pick: fn(&Daily) -> &Vec<f64>| -> f64 {
        by_provider.values().map(|d| Daily::total(pick(d))).sum()
    };
    let (requests, tokens, errors, latency_sum) = (
        total(|d| &d.requests),
        total(|d| &d.tokens),
        total(|d| &d.errors),
        total(|d| &d.latency_ms),
    );
    let live = live_figures(ctx).await?;
    let health = reports.health_summary().await?;
    let proxies = ctx.admin.list_proxies(Page::max()).await?;
    let mut proxy_counts = [0usize; 4];
    for p in &proxies.data {
        let slot = match (p.is_active, p.health_status) {
            (false, _) => 3,
            (true, HealthStatus::Healthy) => 0,
            (true, HealthStatus::Degraded) => 1,
            (true, HealthStatus::Down) => 2,
        };
        proxy_counts[slot] += 1;
    }
    let body = html! {
        nav.tabs aria-label="Period" {
            a href="/ui/?days=7" aria-current=[(days == 7).then_some("page")] { "Last 7 days" }
            a href="/ui/?days=30" aria-current=[(days == 30).then_some("page")] { "Last 30 days" }
        }
        div.grid {
            (figure("Requests", &num(requests as i64), &format!("last {days} days")))
            (figure("Tokens", &num(tokens as i64), "prompt + completion"))
            (figure("Errors", &num(errors as i64), &if requests > 0.0 { format!("{:.1}% of requests", 100.0 * errors / requests) } else { "no requests".to_owned() }))
            (figure("Mean latency", &if requests > 0.0 { format!("{:.0} ms", latency_sum / requests) } else { "—".to_owned() }, "per attempt"))
        }
        h2 { "Today, live" }
        (live_table(&live))
        @if by_provider.is_empty() {
            div.panel {
                (layout::empty("No requests in this period yet", html! {
                    p { "Add an " a href="/ui/accounts" { "upstream account" } " and an " a href="/ui/keys" { "API key" } ", then send a request to " code { "/v1/chat/completions" } "." }
                }))
            }
        } @else {
            div.grid2 {
                div.panel { h2 { "Requests per day" } (charts::bars("Requests per day and provider", &labels, &series(|d| &d.requests))) }
                div.panel { h2 { "Tokens per day" } (charts::bars("Tokens per day and provider", &labels, &series(|d| &d.tokens))) }
                div.panel { h2 { "Errors per day" } (charts::bars("Errors per day and provider", &labels, &series(|d| &d.errors))) }
                div.panel { h2 { "Mean latency per day" } (charts::line("Mean latency per day, milliseconds", &labels, &latency, "ms")) }
            }
            h2 { "By provider" }
            div.table-wrap {
                table {
                    thead { tr { th { "Provider" } th.num { "Requests" } th.num { "Tokens" } th.num { "Errors" } th.num { "Mean latency" } } }
                    tbody {
                        @for (name, d) in &by_provider {
                            @let req = Daily::total(&d.requests);
                            tr {
                                td { (name) }
                                td.num { (num(req as i64)) }
                                td.num { (num(Daily::total(&d.tokens) as i64)) }
                                td.num { (num(Daily::total(&d.errors) as i64)) }
                                td.num { @if req > 0.0 { (format!("{:.0} ms", Daily::total(&d.latency_ms) / req)) } @else { "—" } }
                            }
                        }
                    }
                }
            }
        }
        div.grid2 {
            div {
                h2 { "Accounts by health" }
                div.grid {
                    (figure("Usable", &num(health.counts.healthy as i64), "active, not cooling down"))
                    (figure("Blocked", &num(health.counts.blocked as i64), "down or cooling down"))
                    (figure("Disabled", &num(health.counts.disabled as i64), "by an operator"))
                }
                @if health.counts.total == 0 {
                    p.muted { "No accounts yet — " a href="/ui/accounts" { "add one" } "." }
                } @else {
                    div.table-wrap {
                        table {
                            thead { tr { th { "Provider" } th.num { "Usable" } th.num { "Blocked" } th.num { "Disabled" } } }
                            tbody {
                                @for (provider, c) in &health.provider_stats {
                                    tr {
                                        td { a href={ "/ui/accounts?provider=" (provider) } { (provider) } }
                                        td.num { (c.healthy) } td.num { (c.blocked) } td.num { (c.disabled) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            div {
                h2 { "Proxies by health" }
                div.grid {
                    (figure("Healthy", &num(proxy_counts[0] as i64), ""))
                    (figure("Degraded", &num(proxy_counts[1] as i64), ""))
                    (figure("Down", &num(proxy_counts[2] as i64), ""))
                    (figure("Inactive", &num(proxy_counts[3] as i64), ""))
                }
                @if proxies.total == 0 { p.muted { "No proxies: accounts connect directly. " a href="/ui/proxies" { "Add a proxy" } } }
            }
        }
    };
    ok_page(s, Nav::Overview, "Overview", body)
}

fn figure(label: &str, value: &str, sub: &str) -> Markup {
    html! {
        div.figure {
            div.label { (label) }
            div.value { (value) }
            @if !sub.is_empty() { div.sub { (sub) } }
        }
    }
}

/// Today's live counters: `(provider, requests, failures)`.
async fn live_figures(ctx: &Ctx<'_>) -> Result<Vec<(String, u64, u64)>, Error> {
    let today = Utc::now().date_naive();
    let state = ctx.admin.gateway().state();
    let mut out = Vec::new();
    for p in ctx.admin.list_providers(false).await? {
        let c = state
            .live_counts(LiveScope::Provider, p.id.as_str(), today)
            .await?;
        out.push((p.id.to_string(), c.requests, c.failures));
    }
    Ok(out)
}

fn live_table(live: &[(String, u64, u64)]) -> Markup {
    let requests: u64 = live.iter().map(|l| l.1).sum();
    let failures: u64 = live.iter().map(|l| l.2).sum();
    html! {
        div.grid {
            div.figure { div.label { "Requests today" } div.value data-live="total:requests" { (requests) } div.sub { "all providers, UTC day" } }
            div.figure { div.label { "Failures today" } div.value data-live="total:failures" { (failures) } }
            @for (provider, req, fail) in live.iter().filter(|l| l.1 > 0) {
                div.figure {
                    div.label { (provider) }
                    div.value data-live={ "provider:" (provider) ":requests" } { (req) }
                    div.sub { span data-live={ "provider:" (provider) ":failures" } { (fail) } " failed" }
                }
            }
        }
    }
}

/// `GET /ui/live`: today's live counters as JSON, for the overview's script.
pub(crate) async fn live(ctx: &Ctx<'_>, s: &Signed) -> Reply {
    s.require(Nav::Overview)?;
    let live = live_figures(ctx).await?;
    let mut map = serde_json::Map::new();
    let (mut requests, mut failures) = (0u64, 0u64);
    for (provider, req, fail) in &live {
        map.insert(
            format!("provider:{provider}:requests"),
            req.to_string().into(),
        );
        map.insert(
            format!("provider:{provider}:failures"),
            fail.to_string().into(),
        );
        requests += req;
        failures += fail;
    }
    map.insert("total:requests".to_owned(), requests.to_string().into());
    map.insert("total:failures".to_owned(), failures.to_string().into());
    let body = serde_json::to_vec(&map).unwrap_or_default();
    let mut resp = Response::new(Bytes::from(body));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(resp)
}
