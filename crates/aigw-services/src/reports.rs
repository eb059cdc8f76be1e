//! Read-only reports for operators: usage stats, request logs, the error log, account
//! health and a quota view. Every read is bounded (a day window capped at
//! [`MAX_DAYS`], a page capped at [`MAX_LOG_PAGE`]).
//!
//! Cooldowns live in each instance's memory (see `cooldown.rs`), so the health and quota
//! views show the cooldowns of the instance that answers; the database columns
//! (`health_status`, `failure_count`, `last_error_*`) are shared by all.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use aigw_domain::{
    Account, AccountFilter, AccountId, HealthStatus, Page, Paged, ProviderId, ProxyId,
    ProxyStatsFilter, QuotaPatternFilter, RequestLog, RequestLogFilter, UserId,
};
use aigw_repository::SqlRepository;
use aigw_repository::sql::{AccountModelUsage, UsageQuery, UsageTotals};
use aigw_repository::state::ErrorLogEntry;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::Error;
use crate::cooldown::CooldownEntry;
use crate::gateway::Gateway;

/// The longest day window a stats report covers.
pub const MAX_DAYS: i64 = 90;
/// The default day window.
pub const DEFAULT_DAYS: i64 = 7;
/// The largest page of request or error logs.
pub const MAX_LOG_PAGE: i64 = 500;
/// Error-log entries older than this are removed by a cleanup.
pub const ERROR_LOG_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// A day window: the last `days` UTC days, today included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DayWindow {
    /// Days covered, 1 to [`MAX_DAYS`].
    pub days: i64,
    /// The first day.
    pub from: NaiveDate,
    /// The last day (today).
    pub to: NaiveDate,
}

impl DayWindow {
    /// The window of `days` (default [`DEFAULT_DAYS`], clamped to 1..=[`MAX_DAYS`]) ending
    /// on `today`.
    pub fn ending(today: NaiveDate, days: Option<i64>) -> Self {
        let days = days.unwrap_or(DEFAULT_DAYS).clamp(1, MAX_DAYS);
        let from = today - chrono::Duration::days(days - 1);
        Self {
            days,
            from,
            to: today,
        }
    }

    fn query(&self, provider_id: Option<ProviderId>) -> UsageQuery {
        let start = |d: NaiveDate| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        UsageQuery {
            from: start(self.from),
            to: start(self.to + chrono::Duration::days(1)),
            provider_id,
            account_id: None,
        }
    }
}

/// One proxy's day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProxyDay {
    /// The UTC day.
    pub date: NaiveDate,
    /// The provider (`None`: unattributed traffic).
    pub provider_id: Option<ProviderId>,
    /// Requests sent.
    pub request_count: i64,
    /// Requests that succeeded.
    pub success_count: i64,
    /// Requests that failed.
    pub error_count: i64,
    /// Mean latency (total / requests), 0 without requests.
    pub avg_latency_ms: f64,
    /// Percentage of requests that succeeded, 0 without requests.
    pub success_rate: f64,
}

/// `GET /api/v1/stats/proxies/:id`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProxyStatsReport {
    /// The proxy.
    pub proxy_id: ProxyId,
    /// The window.
    #[serde(flatten)]
    pub window: DayWindow,
    /// Its days, newest first.
    pub stats: Vec<ProxyDay>,
}

/// Totals with the derived figures an operator wants.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct UsageFigures {
    /// The raw totals.
    #[serde(flatten)]
    pub totals: UsageTotals,
    /// Mean latency.
    pub avg_latency_ms: f64,
    /// Percentage of attempts that failed.
    pub error_rate: f64,
}

impl From<UsageTotals> for UsageFigures {
    fn from(totals: UsageTotals) -> Self {
        let error_rate = if totals.requests == 0 {
            0.0
        } else {
            100.0 * totals.errors as f64 / totals.requests as f64
        };
        Self {
            totals,
            avg_latency_ms: totals.avg_latency_ms(),
            error_rate,
        }
    }
}

/// One provider/model day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelDay {
    /// The UTC day.
    pub date: NaiveDate,
    /// The provider.
    pub provider_id: Option<ProviderId>,
    /// The model the client asked for.
    pub model: Option<String>,
    /// Its figures.
    #[serde(flatten)]
    pub usage: UsageFigures,
}

/// One account's usage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountStats {
    /// The account.
    pub account_id: AccountId,
    /// Its label, if the account still exists.
    pub label: Option<String>,
    /// The provider it served.
    pub provider_id: Option<ProviderId>,
    /// Its figures.
    #[serde(flatten)]
    pub usage: UsageFigures,
    /// The newest logged attempt.
    pub last_request_at: Option<DateTime<Utc>>,
}

/// A usage report over a day window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageReport<T> {
    /// The window.
    #[serde(flatten)]
    pub window: DayWindow,
    /// The rows.
    pub data: Vec<T>,
}

/// `GET /api/v1/logs/errors` and `…/range`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorLogPage {
    /// Entries, newest first.
    pub logs: Vec<ErrorLogEntry>,
    /// How many entries the log holds in all (the plain list) or in the range.
    pub total: u64,
    /// The range start (range queries).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    /// The range end (range queries).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<DateTime<Utc>>,
}

/// One cooldown in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CooldownView {
    /// The model, or `None` for every model.
    pub model: Option<String>,
    /// Why.
    pub reason: &'static str,
    /// When it ends.
    pub until: DateTime<Utc>,
    /// Milliseconds left.
    pub remaining_ms: u64,
}

/// The original's per-model state, built from the cooldowns in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelState {
    /// The model (`*` for an account-wide cooldown).
    pub model: String,
    /// Whether the account may not serve it now.
    pub is_blocked: bool,
    /// Why.
    pub block_reason: &'static str,
    /// When it may serve it again.
    pub next_retry_after: DateTime<Utc>,
}

/// `GET /api/v1/auth-manager/accounts[/:id]`: one account's health.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountHealth {
    /// The account.
    pub id: AccountId,
    /// Its provider.
    pub provider_id: ProviderId,
    /// Its label.
    pub label: String,
    /// Whether an operator disabled it.
    pub is_disabled: bool,
    /// The stored health.
    pub health_status: HealthStatus,
    /// Whether it can be selected now: active, not down, no account-wide cooldown.
    pub usable: bool,
    /// Failures since the last success.
    pub failure_count: i64,
    /// When it last failed.
    pub last_error_at: Option<DateTime<Utc>>,
    /// The last failure's message.
    pub last_error_msg: Option<String>,
    /// When it last succeeded.
    pub last_success_at: Option<DateTime<Utc>>,
    /// When it was last selected.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Requests served.
    pub usage_count: i64,
    /// The cooldowns in force: those set here and those every other
    /// instance announced (each instance applies its peers' cooldowns).
    pub cooldowns: Vec<CooldownView>,
    /// When `down`: when its next half-open probe may go out.
    pub next_probe_at: Option<DateTime<Utc>>,
    /// When `down`: the wait between probes now (doubled after each failed
    /// probe, up to `health.probe_max`), in milliseconds.
    pub probe_wait_ms: Option<u64>,
    /// The same, keyed by model, in the original's shape.
    pub model_states: BTreeMap<String, ModelState>,
    /// When the row last changed.
    pub updated_at: DateTime<Utc>,
}

/// `GET /api/v1/auth-manager/accounts`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountHealthList {
    /// The accounts.
    pub accounts: Vec<AccountHealth>,
    /// How many.
    pub total: usize,
    /// When this was computed.
    pub checked_at: DateTime<Utc>,
}

/// Counts of accounts by state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct HealthCounts {
    /// Accounts.
    pub total: usize,
    /// Active and usable.
    pub healthy: usize,
    /// Active but down or cooling down for every model.
    pub blocked: usize,
    /// Disabled by an operator.
    pub disabled: usize,
}

/// `GET /api/v1/auth-manager/health`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthSummary {
    /// `healthy`, `degraded`, `critical`, or `unknown` without active accounts.
    pub status: &'static str,
    /// Counts over every provider.
    #[serde(flatten)]
    pub counts: HealthCounts,
    /// Counts per provider.
    pub provider_stats: BTreeMap<String, HealthCounts>,
    /// When this was computed.
    pub checked_at: DateTime<Utc>,
}

/// One account's state for one model today.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuotaStatus {
    /// Attempts today (UTC).
    pub requests_today: i64,
    /// Failed attempts today.
    pub errors_today: i64,
    /// Tokens today, prompt and completion.
    pub tokens_today: i64,
    /// The learned request limit, if any.
    pub est_request_limit: Option<i64>,
    /// The learned token limit, if any.
    pub est_token_limit: Option<i64>,
    /// The share of the binding window used, in percent: as the upstream
    /// stated it (`used_percent`), else `requests_today / est_request_limit`
    /// when the limit is known.
    pub percent_used: Option<f64>,
    /// The limit window the upstream last stated as binding (`requests`,
    /// `tokens`, `5h`, `7d`, `primary`, `secondary`, `usage_limit`, a Gemini
    /// quota id), if learnt.
    pub limit_window: Option<String>,
    /// What the upstream said is left of that window.
    pub remaining: Option<i64>,
    /// When that window resets, as the upstream stated.
    pub limit_resets_at: Option<DateTime<Utc>>,
    /// When the upstream last said a window was used up.
    pub last_exhausted_at: Option<DateTime<Utc>>,
    /// Whether the account is cooling down for this model.
    pub is_exhausted: bool,
    /// Why (the cooldown reason).
    pub reason: Option<&'static str>,
    /// When it may serve the model again.
    pub reset_at: Option<DateTime<Utc>>,
}

/// One account in the quota view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountQuota {
    /// The account.
    pub account_id: AccountId,
    /// Its label.
    pub label: String,
    /// Its provider.
    pub provider_id: ProviderId,
    /// Per model: the provider's models, those used today and those cooling down.
    pub models: BTreeMap<String, QuotaStatus>,
}

/// `GET /api/v1/quota/accounts`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountQuotaList {
    /// The accounts.
    pub accounts: Vec<AccountQuota>,
}

/// One model in a provider's quota summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelQuotaSummary {
    /// Active accounts.
    pub total: usize,
    /// Those that may serve the model now (never negative: `total − exhausted`, each
    /// account counted once).
    pub available: usize,
    /// Those cooling down for it.
    pub exhausted: usize,
    /// The true mean of `percent_used` over the accounts whose limit is known.
    pub avg_percent_used: Option<f64>,
    /// The soonest moment an exhausted account comes back.
    pub next_reset_at: Option<DateTime<Utc>>,
}

/// `GET /api/v1/quota/providers/:provider/summary`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderQuotaSummary {
    /// The provider.
    pub provider_id: ProviderId,
    /// Its active accounts.
    pub total_accounts: usize,
    /// Those not cooling down for every model.
    pub available_accounts: usize,
    /// Those cooling down account-wide, or for every model.
    pub exhausted_accounts: usize,
    /// Per model.
    pub models: BTreeMap<String, ModelQuotaSummary>,
    /// `healthy` (≥ 50 % available), `degraded` (≥ 20 %), `critical`, or `unknown`.
    pub health: &'static str,
}

/// The reports of one gateway instance. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Reports {
    repository: SqlRepository,
    gateway: Gateway,
}

/// Per model while summing up a provider: exhausted accounts, the known usage
/// percentages, the soonest reset.
type ModelTally = (usize, Vec<f64>, Option<DateTime<Utc>>);

fn health_label(available: usize, total: usize) -> &'static str {
    if total == 0 {
        return "unknown";
    }
    let ratio = available as f64 / total as f64;
    if ratio >= 0.5 {
        "healthy"
    } else if ratio >= 0.2 {
        "degraded"
    } else {
        "critical"
    }
}

fn cooldown_view(entry: &CooldownEntry, now: DateTime<Utc>) -> CooldownView {
    CooldownView {
        model: entry.model.clone(),
        reason: entry.reason.as_str(),
        until: now + chrono::Duration::from_std(entry.remaining).unwrap_or_default(),
        remaining_ms: u64::try_from(entry.remaining.as_millis()).unwrap_or(u64::MAX),
    }
}

/// The cooldown of `model` for an account, the account-wide one counting too: the one that
/// ends last.
fn blocking<'a>(cooldowns: &'a [CooldownView], model: &str) -> Option<&'a CooldownView> {
    cooldowns
        .iter()
        .filter(|c| c.model.as_deref().is_none_or(|m| m == model))
        .max_by_key(|c| c.until)
}

impl Reports {
    /// Reports over `repository` and the cooldowns of `gateway`.
    pub fn new(repository: SqlRepository, gateway: Gateway) -> Self {
        Self {
            repository,
            gateway,
        }
    }

    fn today() -> NaiveDate {
        Utc::now().date_naive()
    }

    /// A proxy's daily stats over the last `days` days, newest first. 404 for an unknown proxy.
    pub async fn proxy_stats(
        &self,
        proxy_id: ProxyId,
        days: Option<i64>,
    ) -> Result<ProxyStatsReport, Error> {
        self.repository.get_proxy(proxy_id).await?;
        let window = DayWindow::ending(Self::today(), days);
        let filter = ProxyStatsFilter {
            proxy_id: Some(proxy_id),
            provider_id: None,
            from: Some(window.from),
            to: Some(window.to),
        };
        let rows = self
            .repository
            .list_proxy_stats(&filter, Page::max())
            .await?;
        let stats = rows
            .data
            .into_iter()
            .map(|r| {
                let per = |n: i64| {
                    if r.request_count == 0 {
                        0.0
                    } else {
                        n as f64 / r.request_count as f64
                    }
                };
                ProxyDay {
                    date: r.date,
                    provider_id: r.provider_id,
                    request_count: r.request_count,
                    success_count: r.success_count,
                    error_count: r.error_count,
                    avg_latency_ms: per(r.total_latency_ms),
                    success_rate: 100.0 * per(r.success_count),
                }
            })
            .collect();
        Ok(ProxyStatsReport {
            proxy_id,
            window,
            stats,
        })
    }

    /// Usage per day, provider and model over the last `days` days.
    pub async fn usage_by_model(
        &self,
        days: Option<i64>,
        provider_id: Option<ProviderId>,
    ) -> Result<UsageReport<ModelDay>, Error> {
        let window = DayWindow::ending(Self::today(), days);
        let rows = self
            .repository
            .usage_by_day(&window.query(provider_id))
            .await?;
        Ok(UsageReport {
            window,
            data: rows
                .into_iter()
                .map(|r| ModelDay {
                    date: r.date,
                    provider_id: r.provider_id,
                    model: r.model,
                    usage: r.totals.into(),
                })
                .collect(),
        })
    }

    /// Usage per account over the last `days` days, most requests first.
    pub async fn usage_by_account(
        &self,
        days: Option<i64>,
        provider_id: Option<ProviderId>,
    ) -> Result<UsageReport<AccountStats>, Error> {
        let window = DayWindow::ending(Self::today(), days);
        let rows = self
            .repository
            .usage_by_account(&window.query(provider_id))
            .await?;
        let labels: HashMap<AccountId, String> = self
            .accounts(None)
            .await?
            .into_iter()
            .map(|a| (a.id, a.label))
            .collect();
        Ok(UsageReport {
            window,
            data: rows
                .into_iter()
                .map(|r| AccountStats {
                    account_id: r.account_id,
                    label: labels.get(&r.account_id).cloned(),
                    provider_id: r.provider_id,
                    usage: r.totals.into(),
                    last_request_at: r.last_request_at,
                })
                .collect(),
        })
    }

    /// Request logs matching `filter`, newest first, at most [`MAX_LOG_PAGE`] per page.
    pub async fn request_logs(
        &self,
        filter: &RequestLogFilter,
        limit: Option<i64>,
        offset: Option<i64>,
    ) -> Result<Paged<RequestLog>, Error> {
        let page = Page::new(
            limit.unwrap_or(100).clamp(1, MAX_LOG_PAGE),
            offset.unwrap_or(0),
        );
        Ok(self.repository.list_request_logs(filter, page).await?)
    }

    /// The newest error-log entries (default 50, at most [`MAX_LOG_PAGE`]) and the size of
    /// the log.
    pub async fn error_logs(&self, limit: Option<i64>) -> Result<ErrorLogPage, Error> {
        let limit = limit.unwrap_or(50).clamp(1, MAX_LOG_PAGE);
        let state = self.gateway.state();
        let logs = state
            .error_log_range(
                DateTime::<Utc>::UNIX_EPOCH,
                Utc::now() + chrono::Duration::minutes(1),
                usize::try_from(limit).unwrap_or(1),
            )
            .await?;
        let total = state.error_log_len().await?;
        Ok(ErrorLogPage {
            logs,
            total,
            from: None,
            to: None,
        })
    }

    /// Error-log entries with `from <= created_at <= to` (default: the last 24 hours), newest
    /// first, at most `limit` (default 100, at most [`MAX_LOG_PAGE`]). The caller has checked
    /// that `from <= to`.
    pub async fn error_logs_range(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        limit: Option<i64>,
    ) -> Result<ErrorLogPage, Error> {
        let to = to.unwrap_or_else(Utc::now);
        let from = from.unwrap_or(to - chrono::Duration::hours(24));
        let limit = limit.unwrap_or(100).clamp(1, MAX_LOG_PAGE);
        let logs = self
            .gateway
            .state()
            .error_log_range(from, to, usize::try_from(limit).unwrap_or(1))
            .await?;
        Ok(ErrorLogPage {
            total: logs.len() as u64,
            logs,
            from: Some(from),
            to: Some(to),
        })
    }

    /// Removes error-log entries older than [`ERROR_LOG_RETENTION`]; how many.
    pub async fn cleanup_error_logs(&self) -> Result<u64, Error> {
        Ok(self
            .gateway
            .state()
            .error_log_trim_older_than(ERROR_LOG_RETENTION)
            .await?)
    }

    async fn accounts(&self, provider_id: Option<ProviderId>) -> Result<Vec<Account>, Error> {
        let filter = AccountFilter {
            provider_id,
            ..AccountFilter::default()
        };
        let mut all = Vec::new();
        let mut offset = 0;
        loop {
            let page = self
                .repository
                .list_accounts(&filter, Page::new(Page::MAX_LIMIT, offset))
                .await?;
            let got = page.data.len() as i64;
            all.extend(page.data);
            offset += got;
            if got == 0 || offset >= page.total {
                return Ok(all);
            }
        }
    }

    /// The ids of the accounts `user` created (what a provider-role user may report on).
    pub async fn accounts_owned_by(&self, user: UserId) -> Result<HashSet<AccountId>, Error> {
        let filter = AccountFilter {
            created_by: Some(user),
            ..AccountFilter::default()
        };
        let mut ids = HashSet::new();
        let mut offset = 0;
        loop {
            let page = self
                .repository
                .list_accounts(&filter, Page::new(Page::MAX_LIMIT, offset))
                .await?;
            let got = page.data.len() as i64;
            ids.extend(page.data.into_iter().map(|a| a.id));
            offset += got;
            if got == 0 || offset >= page.total {
                return Ok(ids);
            }
        }
    }

    fn cooldowns_by_account(&self, now: DateTime<Utc>) -> HashMap<AccountId, Vec<CooldownView>> {
        let mut map: HashMap<AccountId, Vec<CooldownView>> = HashMap::new();
        for entry in self.gateway.cooldowns().active() {
            map.entry(entry.account)
                .or_default()
                .push(cooldown_view(&entry, now));
        }
        for list in map.values_mut() {
            list.sort_by(|a, b| a.model.cmp(&b.model));
        }
        map
    }

    fn health_of(&self, account: Account, cooldowns: Vec<CooldownView>) -> AccountHealth {
        let probe = self.gateway.cooldowns().down().view(account.id);
        let model_states = cooldowns
            .iter()
            .map(|c| {
                let model = c.model.clone().unwrap_or_else(|| "*".to_owned());
                (
                    model.clone(),
                    ModelState {
                        model,
                        is_blocked: true,
                        block_reason: c.reason,
                        next_retry_after: c.until,
                    },
                )
            })
            .collect();
        let usable = account.is_active
            && account.health_status != HealthStatus::Down
            && !cooldowns.iter().any(|c| c.model.is_none());
        AccountHealth {
            id: account.id,
            provider_id: account.provider_id,
            label: account.label,
            is_disabled: !account.is_active,
            health_status: account.health_status,
            usable,
            failure_count: account.failure_count,
            last_error_at: account.last_error_at,
            last_error_msg: account.last_error_msg,
            last_success_at: account.last_success_at,
            last_used_at: account.last_used_at,
            usage_count: account.usage_count,
            cooldowns,
            next_probe_at: probe.map(|p| p.next_probe_at),
            probe_wait_ms: probe
                .map(|p| u64::try_from(p.probe_wait.as_millis()).unwrap_or(u64::MAX)),
            model_states,
            updated_at: account.updated_at,
        }
    }

    /// Every account's health, optionally of one provider.
    pub async fn accounts_health(
        &self,
        provider_id: Option<ProviderId>,
    ) -> Result<AccountHealthList, Error> {
        let now = Utc::now();
        let mut cooldowns = self.cooldowns_by_account(now);
        let accounts: Vec<AccountHealth> = self
            .accounts(provider_id)
            .await?
            .into_iter()
            .map(|a| {
                let c = cooldowns.remove(&a.id).unwrap_or_default();
                self.health_of(a, c)
            })
            .collect();
        Ok(AccountHealthList {
            total: accounts.len(),
            accounts,
            checked_at: now,
        })
    }

    /// One account's health; 404 for an unknown account.
    pub async fn account_health(&self, id: AccountId) -> Result<AccountHealth, Error> {
        let account = self.repository.get_account(id).await?;
        let cooldowns = self
            .cooldowns_by_account(Utc::now())
            .remove(&id)
            .unwrap_or_default();
        Ok(self.health_of(account, cooldowns))
    }

    /// Counts of healthy, blocked and disabled accounts, overall and per provider.
    pub async fn health_summary(&self) -> Result<HealthSummary, Error> {
        let list = self.accounts_health(None).await?;
        let mut counts = HealthCounts::default();
        let mut per_provider: BTreeMap<String, HealthCounts> = BTreeMap::new();
        for account in &list.accounts {
            let entry = per_provider
                .entry(account.provider_id.as_str().to_owned())
                .or_default();
            for c in [&mut counts, entry] {
                c.total += 1;
                if account.is_disabled {
                    c.disabled += 1;
                } else if account.usable {
                    c.healthy += 1;
                } else {
                    c.blocked += 1;
                }
            }
        }
        Ok(HealthSummary {
            status: health_label(counts.healthy, counts.total - counts.disabled),
            counts,
            provider_stats: per_provider,
            checked_at: list.checked_at,
        })
    }

    /// Today's usage of `accounts` per account and model.
    async fn usage_today(
        &self,
        provider_id: Option<ProviderId>,
    ) -> Result<HashMap<(AccountId, String), UsageTotals>, Error> {
        let window = DayWindow::ending(Self::today(), Some(1));
        let rows: Vec<AccountModelUsage> = self
            .repository
            .usage_by_account_model(&window.query(provider_id))
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| Some(((r.account_id, r.model?), r.totals)))
            .collect())
    }

    /// The quota view of every active account (optionally of one provider): per model, today's
    /// usage, the learned limit and the cooldown in force.
    pub async fn quota_accounts(
        &self,
        provider_id: Option<ProviderId>,
    ) -> Result<AccountQuotaList, Error> {
        let accounts: Vec<Account> = self
            .accounts(provider_id.clone())
            .await?
            .into_iter()
            .filter(|a| a.is_active)
            .collect();
        Ok(AccountQuotaList {
            accounts: self.quota_of(accounts, provider_id).await?,
        })
    }

    /// The quota view of one account; 404 for an unknown account.
    pub async fn quota_account(&self, id: AccountId) -> Result<AccountQuota, Error> {
        let account = self.repository.get_account(id).await?;
        let provider = Some(account.provider_id.clone());
        let mut list = self.quota_of(vec![account], provider).await?;
        list.pop()
            .ok_or(Error::Repository(aigw_repository::Error::NotFound {
                entity: "account",
                id: id.to_string(),
            }))
    }

    async fn quota_of(
        &self,
        accounts: Vec<Account>,
        provider_id: Option<ProviderId>,
    ) -> Result<Vec<AccountQuota>, Error> {
        let now = Utc::now();
        let usage = self.usage_today(provider_id).await?;
        let mut cooldowns = self.cooldowns_by_account(now);
        let mut provider_models: HashMap<ProviderId, Vec<String>> = HashMap::new();
        let mut out = Vec::with_capacity(accounts.len());
        for account in accounts {
            if !provider_models.contains_key(&account.provider_id) {
                let models = match self.repository.get_provider(&account.provider_id).await {
                    Ok(p) => p.models,
                    Err(aigw_repository::Error::NotFound { .. }) => Vec::new(),
                    Err(e) => return Err(e.into()),
                };
                provider_models.insert(account.provider_id.clone(), models);
            }
            let patterns = self
                .repository
                .list_quota_patterns(
                    &QuotaPatternFilter {
                        account_id: Some(account.id),
                        model: None,
                    },
                    Page::max(),
                )
                .await?
                .data;
            let limits: HashMap<&str, &aigw_domain::AccountQuotaPattern> =
                patterns.iter().map(|p| (p.model.as_str(), p)).collect();
            let account_cooldowns = cooldowns.remove(&account.id).unwrap_or_default();
            let mut models: BTreeSet<String> = provider_models
                .get(&account.provider_id)
                .into_iter()
                .flatten()
                .cloned()
                .collect();
            models.extend(
                usage
                    .keys()
                    .filter(|(a, _)| *a == account.id)
                    .map(|(_, m)| m.clone()),
            );
            models.extend(account_cooldowns.iter().filter_map(|c| c.model.clone()));
            models.extend(limits.keys().map(|m| (*m).to_owned()));
            let statuses = models
                .into_iter()
                .map(|model| {
                    let totals = usage
                        .get(&(account.id, model.clone()))
                        .copied()
                        .unwrap_or_default();
                    let pattern = limits.get(model.as_str()).copied();
                    let limit = pattern.and_then(|p| p.est_request_limit);
                    let percent_used = pattern.and_then(|p| p.used_percent).or_else(|| {
                        limit
                            .filter(|l| *l > 0)
                            .map(|l| 100.0 * totals.requests as f64 / l as f64)
                    });
                    let block = blocking(&account_cooldowns, &model);
                    let status = QuotaStatus {
                        requests_today: totals.requests,
                        errors_today: totals.errors,
                        tokens_today: totals.input_tokens + totals.output_tokens,
                        est_request_limit: limit,
                        est_token_limit: pattern.and_then(|p| p.est_token_limit),
                        percent_used,
                        limit_window: pattern.and_then(|p| p.limit_window.clone()),
                        remaining: pattern.and_then(|p| p.remaining),
                        limit_resets_at: pattern.and_then(|p| p.resets_at),
                        last_exhausted_at: pattern.and_then(|p| p.last_exhausted_at),
                        is_exhausted: block.is_some(),
                        reason: block.map(|c| c.reason),
                        reset_at: block.map(|c| c.until),
                    };
                    (model, status)
                })
                .collect();
            out.push(AccountQuota {
                account_id: account.id,
                label: account.label,
                provider_id: account.provider_id,
                models: statuses,
            });
        }
        Ok(out)
    }

    /// A provider's quota summary over its active accounts; 404 for an unknown provider.
    pub async fn quota_summary(
        &self,
        provider_id: ProviderId,
    ) -> Result<ProviderQuotaSummary, Error> {
        self.repository.get_provider(&provider_id).await?;
        let accounts = self
            .quota_accounts(Some(provider_id.clone()))
            .await?
            .accounts;
        let total_accounts = accounts.len();
        let mut models: BTreeMap<String, ModelTally> = BTreeMap::new();
        let mut exhausted_accounts = 0;
        for account in &accounts {
            let all_blocked =
                !account.models.is_empty() && account.models.values().all(|s| s.is_exhausted);
            if all_blocked {
                exhausted_accounts += 1;
            }
            for (model, status) in &account.models {
                let entry = models.entry(model.clone()).or_default();
                if status.is_exhausted {
                    entry.0 += 1;
                    entry.2 = match (entry.2, status.reset_at) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
                if let Some(p) = status.percent_used {
                    entry.1.push(p);
                }
            }
        }
        let models = models
            .into_iter()
            .map(|(model, (exhausted, percents, next_reset_at))| {
                let avg = (!percents.is_empty())
                    .then(|| percents.iter().sum::<f64>() / percents.len() as f64);
                (
                    model,
                    ModelQuotaSummary {
                        total: total_accounts,
                        available: total_accounts.saturating_sub(exhausted),
                        exhausted,
                        avg_percent_used: avg,
                        next_reset_at,
                    },
                )
            })
            .collect();
        let available_accounts = total_accounts - exhausted_accounts;
        Ok(ProviderQuotaSummary {
            provider_id,
            total_accounts,
            available_accounts,
            exhausted_accounts,
            models,
            health: health_label(available_accounts, total_accounts),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cooldown::CooldownReason;

    #[test]
    fn day_windows_are_capped_and_include_today() {
        let today: NaiveDate = "2025-06-10".parse().unwrap();
        let w = DayWindow::ending(today, None);
        assert_eq!(
            (w.days, w.from, w.to),
            (7, "2025-06-04".parse().unwrap(), today)
        );
        assert_eq!(DayWindow::ending(today, Some(100_000)).days, MAX_DAYS);
        assert_eq!(DayWindow::ending(today, Some(-3)).days, 1);
        let q = DayWindow::ending(today, Some(1)).query(None);
        assert_eq!(q.from.to_rfc3339(), "2025-06-10T00:00:00+00:00");
        assert_eq!(q.to.to_rfc3339(), "2025-06-11T00:00:00+00:00");
    }

    #[test]
    fn health_thresholds() {
        assert_eq!(health_label(0, 0), "unknown");
        assert_eq!(health_label(5, 10), "healthy");
        assert_eq!(health_label(2, 10), "degraded");
        assert_eq!(health_label(1, 10), "critical");
    }

    #[test]
    fn error_rate_and_mean_latency() {
        let f: UsageFigures = UsageTotals {
            requests: 4,
            errors: 1,
            input_tokens: 0,
            output_tokens: 0,
            total_latency_ms: 10,
        }
        .into();
        assert!((f.error_rate - 25.0).abs() < 1e-9);
        assert!((f.avg_latency_ms - 2.5).abs() < 1e-9);
    }

    #[test]
    fn the_longest_cooldown_of_a_model_blocks_it() {
        let now = Utc::now();
        let view = |model: Option<&str>, secs: i64| CooldownView {
            model: model.map(str::to_owned),
            reason: CooldownReason::RateLimited.as_str(),
            until: now + chrono::Duration::seconds(secs),
            remaining_ms: 0,
        };
        let list = vec![view(Some("a"), 5), view(None, 10), view(Some("b"), 20)];
        assert_eq!(blocking(&list, "a").unwrap().model, None);
        assert_eq!(blocking(&list, "b").unwrap().model.as_deref(), Some("b"));
        assert!(blocking(&list[..1], "c").is_none());
    }
}
