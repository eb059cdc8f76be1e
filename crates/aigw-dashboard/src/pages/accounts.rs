//! Upstream accounts: the list (filter by provider and health, paged), adding
//! one with an API key or through the OAuth onboarding flow (the consent page
//! opens in a popup), editing, enabling and disabling, replacing the
//! credential (never shown back, only its masked summary), and deleting with
//! a confirmation step. Admins see every account, provider-role users their own.

use std::collections::HashMap;

use aigw_domain::{Account, AccountId, AuthData, AuthKind, HealthStatus, Page, ProviderId, Secret};
use aigw_services::admin::accounts::{CreateAccount, UpdateAccount};
use aigw_services::cooldown::CooldownEntry;
use aigw_services::onboarding::{FlowType, InitRequest};
use chrono::Utc;
use maud::{Markup, html};

use super::common::{Ctx, Reply, Signed, done, ok_page, parse_id, provider_options, redirect};
use super::signin::unprocessable;
use crate::Error;
use crate::form::{Form, query_string};
use crate::layout::{self, FieldError, Nav, num};

const PAGE: i64 = 50;

const HEALTH_FILTERS: [(&str, &str); 6] = [
    ("", "Any health"),
    ("healthy", "Healthy"),
    ("degraded", "Degraded"),
    ("down", "Down"),
    ("cooling", "Cooling down"),
    ("disabled", "Disabled"),
];

fn matches_health(a: &Account, cooling: bool, filter: &str) -> bool {
    match filter {
        "healthy" => a.is_active && a.health_status == HealthStatus::Healthy,
        "degraded" => a.is_active && a.health_status == HealthStatus::Degraded,
        "down" => a.is_active && a.health_status == HealthStatus::Down,
        "cooling" => cooling,
        "disabled" => !a.is_active,
        _ => true,
    }
}

/// `GET /ui/accounts`.
pub(crate) async fn list(ctx: &Ctx<'_>, s: &Signed) -> Reply {
    list_with(ctx, s, &Form::default(), &[], None).await
}

async fn list_with(
    ctx: &Ctx<'_>,
    s: &Signed,
    form: &Form,
    errors: &[FieldError],
    problem: Option<String>,
) -> Reply {
    s.require(Nav::Accounts)?;
    let admin = &ctx.admin;
    let provider_raw = ctx.query.get("provider").unwrap_or("");
    let provider: Option<ProviderId> = ProviderId::new(provider_raw).ok();
    let health = ctx
        .query
        .get("health")
        .filter(|h| HEALTH_FILTERS.iter().any(|(k, _)| k == h))
        .unwrap_or("");
    let page = ctx.query.page();
    let mut cooldowns: HashMap<AccountId, Vec<CooldownEntry>> = HashMap::new();
    for entry in admin.gateway().cooldowns().active() {
        cooldowns.entry(entry.account).or_default().push(entry);
    }
    let (accounts, total) = if health.is_empty() {
        let paged = admin
            .list_accounts(&s.caller, provider.clone(), Page::new(PAGE, page * PAGE))
            .await?;
        (paged.data, paged.total)
    } else {
        // The health filter is applied here, over every account the caller
        // may see (1,000 per query), then paged.
        let mut all = Vec::new();
        let mut offset = 0;
        loop {
            let paged = admin
                .list_accounts(
                    &s.caller,
                    provider.clone(),
                    Page::new(Page::MAX_LIMIT, offset),
                )
                .await?;
            let got = paged.data.len() as i64;
            all.extend(
                paged
                    .data
                    .into_iter()
                    .filter(|a| matches_health(a, cooldowns.contains_key(&a.id), health)),
            );
            offset += got;
            if got == 0 || offset >= paged.total {
                break;
            }
        }
        let total = all.len() as i64;
        let start = usize::try_from(page * PAGE)
            .unwrap_or(usize::MAX)
            .min(all.len());
        let end = (start + PAGE as usize).min(all.len());
        (all.drain(start..end).collect(), total)
    };
    let proxies: HashMap<_, String> = if s.is_admin() {
        admin
            .list_proxies(Page::max())
            .await?
            .data
            .into_iter()
            .map(|p| (p.id, p.url.redacted()))
            .collect()
    } else {
        HashMap::new()
    };
    let providers = provider_options(ctx, Some("Any provider")).await?;
    let flows = admin.onboarding().flows();
    let link = |p: i64| {
        let page = p.to_string();
        format!(
            "/ui/accounts{}",
            query_string(&[
                ("provider", provider_raw),
                ("health", health),
                ("page", &page)
            ])
        )
    };
    let now = Utc::now();
    let body = html! {
        (done(ctx))
        @if let Some(p) = &problem { (layout::notice("bad", p)) }
        form.inline.panel method="get" action="/ui/accounts" aria-label="Filter accounts" {
            (layout::select("provider", "Provider", &providers, provider_raw, &[]))
            (layout::select("health", "Health", &HEALTH_FILTERS.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<Vec<_>>(), health, &[]))
            button.secondary type="submit" { "Filter" }
        }
        @if accounts.is_empty() {
            div.panel {
                @if provider.is_none() && health.is_empty() {
                    (layout::empty("No accounts yet — add one below", html! { p { "An account is an upstream credential the gateway sends requests with." } }))
                } @else {
                    (layout::empty("No account matches these filters", html! { p { a href="/ui/accounts" { "Show all accounts" } } }))
                }
            }
        } @else {
            (layout::pager(total, PAGE, page * PAGE, link))
            div.table-wrap {
                table {
                    thead { tr {
                        th { "Label" } th { "Provider" } th { "Health" } th { "Cooldown" }
                        th { "Proxy" } th.num { "Requests" } th { "Last used" } th { "Credential" } th { span.sr-only { "Actions" } }
                    } }
                    tbody {
                        @for a in &accounts {
                            tr {
                                td { a href={ "/ui/accounts/" (a.id) } { (a.label) } }
                                td { (a.provider_id) }
                                td {
                                    @if a.is_active { (layout::health(a.health_status)) } @else { (layout::badge("", "disabled")) }
                                    @if let Some(msg) = &a.last_error_msg { @if a.health_status != HealthStatus::Healthy { div.small.muted title=(msg) { (truncate(msg, 60)) } } }
                                }
                                td { (cooldown_cell(cooldowns.get(&a.id).map(Vec::as_slice).unwrap_or(&[]), now)) }
                                td.small { @match a.proxy_id {
                                    None => span.muted { "direct" },
                                    Some(id) => @match proxies.get(&id) { Some(url) => code { (url) }, None => span.mono { (id) } },
                                } }
                                td.num { (num(a.usage_count)) }
                                td { (layout::when(a.last_used_at)) }
                                td.small { (credential(&a.auth_data)) }
                                td { div.actions {
                                    a.button.secondary.small href={ "/ui/accounts/" (a.id) } { "Edit" }
                                    form method="post" action={ "/ui/accounts/" (a.id) "/toggle" } {
                                        (layout::csrf_field(&s.record.csrf))
                                        button.secondary.small type="submit" aria-label={ (if a.is_active { "Disable " } else { "Enable " }) (a.label) } { (if a.is_active { "Disable" } else { "Enable" }) }
                                    }
                                    a.button.danger.small href={ "/ui/accounts/" (a.id) "/delete" } aria-label={ "Delete " (a.label) } { "Delete" }
                                } }
                            }
                        }
                    }
                }
            }
            (layout::pager_below(total, PAGE, page * PAGE, link))
        }
        div.grid2 {
            div.panel #add {
                h2 { "Add an account with an API key" }
                form.stack method="post" action="/ui/accounts" {
                    (layout::csrf_field(&s.record.csrf))
                    (layout::select("provider_id", "Provider", &providers[1..], form.get("provider_id").unwrap_or("openai"), errors))
                    (layout::input("text", "label", "Label", form.get("label").unwrap_or(""), Some("A name you recognise, such as the owner or plan."), errors, true))
                    (layout::input("password", "api_key", "API key", "", Some("Stored encrypted; never shown again."), errors, true))
                    div { button type="submit" { "Add account" } }
                }
            }
            div.panel #oauth {
                h2 { "Connect an account with OAuth" }
                @if flows.is_empty() {
                    p.muted { "No OAuth flow is configured." }
                } @else {
                    form.stack method="post" action="/ui/accounts/oauth" {
                        (layout::csrf_field(&s.record.csrf))
                        (layout::select("flow", "Provider", &flows.iter().map(|f| (f.id.to_owned(), f.name.to_owned())).collect::<Vec<_>>(), "", &[]))
                        (layout::input("text", "project_id", "Google Cloud project", "", Some("Antigravity only."), &[], false))
                        div { button type="submit" { "Continue to the provider" } }
                    }
                    p.muted.small { "The provider's consent page opens; when you accept, the account is created." }
                }
            }
        }
    };
    ok_page(s, Nav::Accounts, "Accounts", body)
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max).collect();
    out.push('…');
    out
}

fn cooldown_cell(entries: &[CooldownEntry], now: chrono::DateTime<Utc>) -> Markup {
    html! {
        @if entries.is_empty() { span.muted { "—" } }
        @for e in entries {
            @let until = now + chrono::Duration::from_std(e.remaining).unwrap_or_default();
            div.small {
                (layout::badge("warn", e.reason.as_str()))
                " " (e.model.as_deref().unwrap_or("all models"))
                ", resets " (layout::when(Some(until)))
            }
        }
    }
}

fn credential(auth: &AuthData) -> Markup {
    let m = auth.masked();
    html! {
        (m.kind.as_str())
        @if let Some(h) = &m.hint { " " code { (h) } }
        @if let Some(t) = m.expires_at { div.muted { "expires " (layout::when(Some(t))) } }
    }
}

/// `POST /ui/accounts`: add an account with an API key.
pub(crate) async fn create(ctx: &Ctx<'_>, s: &Signed, f: &Form) -> Reply {
    s.require(Nav::Accounts)?;
    let redraw = |errors: Vec<FieldError>, problem: Option<String>| async move {
        list_with(ctx, s, f, &errors, problem)
            .await
            .map(unprocessable)
    };
    let Some(provider) = f.get("provider_id").and_then(|p| ProviderId::new(p).ok()) else {
        return redraw(
            vec![FieldError::new("provider_id", "choose a provider")],
            None,
        )
        .await;
    };
    let Some(key) = f.get("api_key") else {
        return redraw(
            vec![FieldError::new("api_key", "enter the account's API key")],
            None,
        )
        .await;
    };
    let new = CreateAccount {
        provider_id: provider,
        label: f.get("label").unwrap_or("").to_owned(),
        auth_data: AuthData::ApiKey {
            api_key: Secret::new(key),
        },
        metadata: None,
        is_active: true,
        weight: None,
    };
    match ctx.admin.create_account(&s.caller, new).await {
        Ok(_) => Ok(redirect("/ui/accounts?done=account-created")),
        Err(e) => {
            let e = Error::from(e);
            match FieldError::from_error(&e, &["provider_id", "label", "api_key"]) {
                Some(err) => redraw(vec![err], None).await,
                None if e.status(ctx.status_of).is_client_error() => {
                    redraw(vec![], Some(e.message(ctx.status_of))).await
                }
                None => Err(e),
            }
        }
    }
}

/// `POST /ui/accounts/oauth`: starts an onboarding flow and offers the
/// provider's consent page (a popup with the script, a link without).
pub(crate) async fn oauth_start(ctx: &Ctx<'_>, s: &Signed, f: &Form) -> Reply {
    s.require(Nav::Accounts)?;
    let flow = f.get("flow").unwrap_or("").to_owned();
    let started = ctx
        .admin
        .onboarding()
        .init(InitRequest {
            provider: flow.clone(),
            flow_type: FlowType::Auto,
            project_id: f.get("project_id").map(str::to_owned),
            created_by: Some(s.caller.user.id),
        })
        .await?;
    let body = html! {
        div.panel data-oauth-wait {
            ol {
                li {
                    "Open the provider's consent page and accept: "
                    a.button href=(started.auth_url) target="_blank" rel="noopener" data-popup { "Open the consent page" }
                }
                li { "The account is created when the provider sends you back; this page then returns to the accounts list." }
            }
            p.muted.small { "This link works once, until " (layout::when(Some(started.expires_at))) "." }
        }
        div.panel {
            h2 { "If the provider showed you a URL instead" }
            form.stack method="post" action="/ui/accounts/oauth/exchange" {
                (layout::csrf_field(&s.record.csrf))
                (layout::input("url", "callback_url", "The URL the provider sent you to", "", Some("Paste the whole address from the browser's address bar."), &[], true))
                div { button type="submit" { "Create the account" } }
            }
        }
        p { a href="/ui/accounts" { "Back to accounts" } }
    };
    ok_page(s, Nav::Accounts, &format!("Connect {flow}"), body)
}

/// `POST /ui/accounts/oauth/exchange`: completes a flow from a pasted URL.
pub(crate) async fn oauth_exchange(ctx: &Ctx<'_>, s: &Signed, f: &Form) -> Reply {
    s.require(Nav::Accounts)?;
    let admin = &ctx.admin;
    let onboarded = admin
        .onboarding()
        .complete_url(f.get("callback_url").unwrap_or(""))
        .await?;
    admin
        .create_onboarded_account(onboarded, Some(&s.caller))
        .await?;
    Ok(redirect("/ui/accounts?done=oauth"))
}

/// `GET /ui/accounts/{id}`.
pub(crate) async fn edit(ctx: &Ctx<'_>, s: &Signed, id: &str) -> Reply {
    edit_with(ctx, s, parse_id(id)?, None, &[]).await
}

async fn edit_with(
    ctx: &Ctx<'_>,
    s: &Signed,
    id: AccountId,
    form: Option<&Form>,
    errors: &[FieldError],
) -> Reply {
    s.require(Nav::Accounts)?;
    let admin = &ctx.admin;
    let a = admin.get_account(&s.caller, id).await?;
    let health = admin.reports().account_health(id).await?;
    let label = form
        .and_then(|f| f.get("label"))
        .unwrap_or(&a.label)
        .to_owned();
    let weight = form
        .and_then(|f| f.get("weight"))
        .map_or_else(|| a.weight.to_string(), str::to_owned);
    let replaceable = matches!(a.auth_data.kind(), AuthKind::ApiKey | AuthKind::Bearer);
    let body = html! {
        div.grid2 {
            div.panel {
                h2 { "Settings" }
                form.stack method="post" action={ "/ui/accounts/" (a.id) } {
                    (layout::csrf_field(&s.record.csrf))
                    (layout::input("text", "label", "Label", &label, None, errors, true))
                    (layout::input("number", "weight", "Weight", &weight, Some("Its share of the provider's traffic when the provider picks accounts by weight."), errors, true))
                    (layout::checkbox("is_active", "Enabled (may serve requests)", form.map_or(a.is_active, |f| f.checked("is_active"))))
                    div.field {
                        span.label { "Current credential" }
                        div { (credential(&a.auth_data)) }
                    }
                    @if replaceable {
                        (layout::input("password", "api_key", "Replace the credential", "", Some("Leave empty to keep the current one. The new one is never shown again."), errors, false))
                    } @else {
                        p.muted.small { "An OAuth credential is renewed by the gateway; to replace it, connect the account again." }
                    }
                    div.actions {
                        button type="submit" { "Save" }
                        a.button.secondary href="/ui/accounts" { "Cancel" }
                    }
                }
            }
            div.panel {
                h2 { "Health" }
                dl {
                    dt { "Provider" } dd { (a.provider_id) }
                    dt { "Status" } dd { (layout::health(a.health_status)) @if !a.is_active { " " (layout::badge("", "disabled")) } }
                    dt { "Usable now" } dd { (if health.usable { "yes" } else { "no" }) }
                    dt { "Failures since last success" } dd { (health.failure_count) }
                    dt { "Last error" } dd { (layout::when(a.last_error_at)) @if let Some(m) = &a.last_error_msg { div.small { (m) } } }
                    dt { "Last success" } dd { (layout::when(a.last_success_at)) }
                    dt { "Requests" } dd { (num(a.usage_count)) }
                }
                @if !health.cooldowns.is_empty() {
                    h2 { "Cooldowns on this instance" }
                    ul { @for c in &health.cooldowns {
                        li { (c.reason) " · " (c.model.as_deref().unwrap_or("all models")) " · until " (layout::when(Some(c.until))) }
                    } }
                }
                p { a.button.danger href={ "/ui/accounts/" (a.id) "/delete" } { "Delete this account…" } }
            }
        }
    };
    ok_page(s, Nav::Accounts, &format!("Account {}", a.label), body)
}

/// `POST /ui/accounts/{id}`.
pub(crate) async fn update(ctx: &Ctx<'_>, s: &Signed, id: &str, f: &Form) -> Reply {
    s.require(Nav::Accounts)?;
    let id: AccountId = parse_id(id)?;
    let admin = &ctx.admin;
    let current = admin.get_account(&s.caller, id).await?;
    let auth_data = f.get("api_key").map(|key| match current.auth_data.kind() {
        AuthKind::Bearer => AuthData::Bearer {
            token: Secret::new(key),
        },
        _ => AuthData::ApiKey {
            api_key: Secret::new(key),
        },
    });
    let update = UpdateAccount {
        label: Some(f.get("label").unwrap_or("").to_owned()),
        auth_data,
        metadata: None,
        is_active: Some(f.checked("is_active")),
        weight: match f.get("weight").map(str::trim) {
            None | Some("") => None,
            Some(w) => match w.parse() {
                Ok(w) => Some(w),
                Err(_) => {
                    let err = FieldError::new("weight", "a whole number from 1 to 100");
                    return edit_with(ctx, s, id, Some(f), &[err])
                        .await
                        .map(unprocessable);
                }
            },
        },
    };
    match admin.update_account(&s.caller, id, update).await {
        Ok(_) => Ok(redirect("/ui/accounts?done=account-updated")),
        Err(e) => {
            let e = Error::from(e);
            match FieldError::from_error(&e, &["label", "weight", "api_key", "token"]) {
                Some(mut err) => {
                    if err.field == "token" {
                        err.field = "api_key".to_owned();
                    }
                    edit_with(ctx, s, id, Some(f), &[err])
                        .await
                        .map(unprocessable)
                }
                None => Err(e),
            }
        }
    }
}

/// `POST /ui/accounts/{id}/toggle`: enable or disable.
pub(crate) async fn toggle(ctx: &Ctx<'_>, s: &Signed, id: &str) -> Reply {
    s.require(Nav::Accounts)?;
    let id: AccountId = parse_id(id)?;
    let admin = &ctx.admin;
    let current = admin.get_account(&s.caller, id).await?;
    let update = UpdateAccount {
        is_active: Some(!current.is_active),
        ..UpdateAccount::default()
    };
    admin.update_account(&s.caller, id, update).await?;
    Ok(redirect(if current.is_active {
        "/ui/accounts?done=account-disabled"
    } else {
        "/ui/accounts?done=account-enabled"
    }))
}

/// `GET /ui/accounts/{id}/delete`: the confirmation step.
pub(crate) async fn confirm_delete(ctx: &Ctx<'_>, s: &Signed, id: &str) -> Reply {
    s.require(Nav::Accounts)?;
    let a = ctx.admin.get_account(&s.caller, parse_id(id)?).await?;
    let body = html! {
        div.panel {
            p { "Delete the " strong { (a.provider_id) } " account " strong { (a.label) } "? Requests stop using it at once; its request logs stay." }
            form.actions method="post" action={ "/ui/accounts/" (a.id) "/delete" } {
                (layout::csrf_field(&s.record.csrf))
                button.danger type="submit" { "Delete account" }
                a.button.secondary href="/ui/accounts" { "Cancel" }
            }
        }
    };
    ok_page(s, Nav::Accounts, "Delete account", body)
}

/// `POST /ui/accounts/{id}/delete`.
pub(crate) async fn delete(ctx: &Ctx<'_>, s: &Signed, id: &str) -> Reply {
    s.require(Nav::Accounts)?;
    ctx.admin.delete_account(&s.caller, parse_id(id)?).await?;
    Ok(redirect("/ui/accounts?done=account-deleted"))
}
