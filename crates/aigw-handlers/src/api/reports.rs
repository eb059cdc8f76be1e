//! Stats, request logs, the error log, account health and the quota view
//! (`/api/v1/stats/*`, `/api/v1/logs*`, `/api/v1/auth-manager/*`,
//! `/api/v1/accounts/{id}/health`, `/api/v1/quota/*`).
//!
//! Everything here is admin-only except per-account stats and an account's
//! health, which provider-role users may read for the accounts they created.
//! Windows are capped at 90 days and log pages at 500 rows.

use aigw_domain::{AccountId, ProviderId, ProxyId, RequestLogFilter, TimeRange};
use aigw_services::AdminError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ctx::{Ctx, Reply};
use super::json::ok;
use crate::error::ApiError;

/// `?days=&provider_id=`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowQuery {
    days: Option<i64>,
    provider_id: Option<ProviderId>,
}

/// An RFC 3339 time from query parameter `field`; 400 naming it otherwise.
fn time(field: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| ApiError::bad_field(field, "must be an RFC 3339 time"))
        })
        .transpose()
}

fn check_days(days: Option<i64>) -> Result<Option<i64>, ApiError> {
    match days {
        Some(d) if d < 1 => Err(ApiError::bad_field("days", "must be at least 1")),
        other => Ok(other),
    }
}

fn check_limit(limit: Option<i64>, offset: Option<i64>) -> Result<(), ApiError> {
    if limit.is_some_and(|l| l < 1) {
        return Err(ApiError::bad_field("limit", "must be at least 1"));
    }
    if offset.is_some_and(|o| o < 0) {
        return Err(ApiError::bad_field("offset", "must not be negative"));
    }
    Ok(())
}

/// The proxy `{id}` names.
fn proxy_id(ctx: &Ctx<'_>) -> Result<ProxyId, ApiError> {
    ctx.path.parse("id", aigw_services::Entity::Proxy)
}

/// The account `{id}` names.
fn account_id(ctx: &Ctx<'_>) -> Result<AccountId, ApiError> {
    ctx.path.parse("id", aigw_services::Entity::Account)
}

// ------------------------------------------------------------------- stats

/// `GET /api/v1/stats/proxies/{id}?days=7`.
pub(crate) async fn proxy_stats(ctx: Ctx<'_>) -> Reply {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Query {
        days: Option<i64>,
    }
    let q: Query = ctx.query()?;
    let id = proxy_id(&ctx)?;
    let report = ctx
        .app
        .admin
        .reports()
        .proxy_stats(id, check_days(q.days)?)
        .await
        .map_err(|e| match e {
            AdminError::Repository(aigw_services::RepositoryError::NotFound { .. }) => {
                AdminError::NotFound(aigw_services::Entity::Proxy)
            }
            other => other,
        })?;
    Ok(ok(&report))
}

/// `GET /api/v1/stats/models?days=&provider_id=`: per day, provider and model.
pub(crate) async fn model_stats(ctx: Ctx<'_>) -> Reply {
    let q: WindowQuery = ctx.query()?;
    let report = ctx
        .app
        .admin
        .reports()
        .usage_by_model(check_days(q.days)?, q.provider_id)
        .await?;
    Ok(ok(&report))
}

/// `GET /api/v1/stats/accounts?days=&provider_id=`: per account; a
/// provider-role caller sees the accounts they created.
pub(crate) async fn account_stats(ctx: Ctx<'_>) -> Reply {
    let q: WindowQuery = ctx.query()?;
    let caller = ctx.caller()?;
    let mut report = ctx
        .app
        .admin
        .reports()
        .usage_by_account(check_days(q.days)?, q.provider_id)
        .await?;
    if !caller.is_admin() {
        let own = ctx
            .app
            .admin
            .reports()
            .accounts_owned_by(caller.user.id)
            .await?;
        report.data.retain(|row| own.contains(&row.account_id));
    }
    Ok(ok(&report))
}

// -------------------------------------------------------------------- logs

/// `GET /api/v1/logs`: request logs, newest first, `{data,total,limit,offset}`.
pub(crate) async fn request_logs(ctx: Ctx<'_>) -> Reply {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Query {
        provider_id: Option<ProviderId>,
        model: Option<String>,
        account_id: Option<AccountId>,
        /// `429`, or a class: `4xx`.
        status: Option<String>,
        errors_only: Option<bool>,
        from: Option<String>,
        to: Option<String>,
        limit: Option<i64>,
        offset: Option<i64>,
    }
    let q: Query = ctx.query()?;
    check_limit(q.limit, q.offset)?;
    let mut filter = RequestLogFilter {
        provider_id: q.provider_id,
        model: q.model.filter(|m| !m.is_empty()),
        account_id: q.account_id,
        errors_only: q.errors_only.unwrap_or(false),
        time: TimeRange {
            from: time("from", q.from.as_deref())?,
            to: time("to", q.to.as_deref())?,
        },
        ..RequestLogFilter::default()
    };
    if let Some(status) = q.status.as_deref().filter(|s| !s.is_empty()) {
        filter_status(&mut filter, status)?;
    }
    if let (Some(from), Some(to)) = (filter.time.from, filter.time.to)
        && from > to
    {
        return Err(ApiError::bad_field("from", "must not be after to"));
    }
    let logs = ctx
        .app
        .admin
        .reports()
        .request_logs(&filter, q.limit, q.offset)
        .await?;
    Ok(ok(&logs))
}

/// Narrows `filter` to `?status=`: one code (`429`) or a class (`4xx`).
fn filter_status(filter: &mut RequestLogFilter, status: &str) -> Result<(), ApiError> {
    let bad = || ApiError::bad_field("status", "must be a status code or a class like 4xx");
    let lower = status.to_ascii_lowercase();
    if let Some(class) = lower.strip_suffix("xx") {
        let class: i32 = class.parse().map_err(|_| bad())?;
        if !(0..=5).contains(&class) {
            return Err(bad());
        }
        filter.status_class = Some(class);
    } else {
        let code: i32 = lower.parse().map_err(|_| bad())?;
        if !(0..=599).contains(&code) {
            return Err(bad());
        }
        filter.status_code = Some(code);
    }
    Ok(())
}

/// `GET /api/v1/logs/errors?limit=50`.
pub(crate) async fn error_logs(ctx: Ctx<'_>) -> Reply {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Query {
        limit: Option<i64>,
    }
    let q: Query = ctx.query()?;
    check_limit(q.limit, None)?;
    Ok(ok(&ctx.app.admin.reports().error_logs(q.limit).await?))
}

/// `GET /api/v1/logs/errors/range?from=&to=&limit=`.
pub(crate) async fn error_logs_range(ctx: Ctx<'_>) -> Reply {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Query {
        from: Option<String>,
        to: Option<String>,
        limit: Option<i64>,
    }
    let q: Query = ctx.query()?;
    check_limit(q.limit, None)?;
    let from = time("from", q.from.as_deref())?;
    let to = time("to", q.to.as_deref())?;
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return Err(ApiError::bad_field("from", "must not be after to"));
    }
    Ok(ok(&ctx
        .app
        .admin
        .reports()
        .error_logs_range(from, to, q.limit)
        .await?))
}

/// `POST /api/v1/logs/errors/cleanup`: drops entries older than 24 hours.
pub(crate) async fn cleanup_error_logs(ctx: Ctx<'_>) -> Reply {
    #[derive(Serialize)]
    struct Cleaned {
        message: &'static str,
        removed: u64,
    }
    let removed = ctx.app.admin.reports().cleanup_error_logs().await?;
    Ok(ok(&Cleaned {
        message: "error log entries older than 24 hours removed",
        removed,
    }))
}

// ------------------------------------------------------------------ health

/// `GET /api/v1/auth-manager/accounts?provider_id=`.
pub(crate) async fn accounts_health(ctx: Ctx<'_>) -> Reply {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Query {
        provider_id: Option<ProviderId>,
    }
    let q: Query = ctx.query()?;
    Ok(ok(&ctx
        .app
        .admin
        .reports()
        .accounts_health(q.provider_id)
        .await?))
}

/// `GET /api/v1/auth-manager/accounts/{id}` and `GET /api/v1/accounts/{id}/health`
/// (the latter also for the account's owner).
pub(crate) async fn account_health(ctx: Ctx<'_>) -> Reply {
    let id = account_id(&ctx)?;
    // Ownership (and existence) first: anyone else's account is "not found".
    ctx.app.admin.get_account(ctx.caller()?, id).await?;
    Ok(ok(&ctx.app.admin.reports().account_health(id).await?))
}

/// `GET /api/v1/auth-manager/health`.
pub(crate) async fn health_summary(ctx: Ctx<'_>) -> Reply {
    Ok(ok(&ctx.app.admin.reports().health_summary().await?))
}

// ------------------------------------------------------------------- quota

/// `GET /api/v1/quota/accounts?provider_id=`.
pub(crate) async fn quota_accounts(ctx: Ctx<'_>) -> Reply {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Query {
        provider_id: Option<ProviderId>,
    }
    let q: Query = ctx.query()?;
    Ok(ok(&ctx
        .app
        .admin
        .reports()
        .quota_accounts(q.provider_id)
        .await?))
}

/// `GET /api/v1/quota/accounts/{id}`.
pub(crate) async fn quota_account(ctx: Ctx<'_>) -> Reply {
    let id = account_id(&ctx)?;
    let quota = ctx
        .app
        .admin
        .reports()
        .quota_account(id)
        .await
        .map_err(|e| match e {
            AdminError::Repository(aigw_services::RepositoryError::NotFound { .. }) => {
                AdminError::NotFound(aigw_services::Entity::Account)
            }
            other => other,
        })?;
    Ok(ok(&quota))
}

/// `GET /api/v1/quota/providers/{id}/summary`.
pub(crate) async fn quota_summary(ctx: Ctx<'_>) -> Reply {
    let provider: ProviderId = ctx.path.parse("id", aigw_services::Entity::Provider)?;
    let summary = ctx
        .app
        .admin
        .reports()
        .quota_summary(provider)
        .await
        .map_err(|e| match e {
            AdminError::Repository(aigw_services::RepositoryError::NotFound { .. }) => {
                AdminError::NotFound(aigw_services::Entity::Provider)
            }
            other => other,
        })?;
    Ok(ok(&summary))
}
