//! Read-only reports for operators, one file per report: usage stats
//! (`usage.rs`, with a proxy's days in `proxies.rs`), request and error logs
//! (`logs.rs`), account health (`health.rs`) and a quota view (`quota.rs`).
//! Every read is bounded (a day window capped at [`MAX_DAYS`], a page capped
//! at [`MAX_LOG_PAGE`]).
//!
//! Cooldowns live in each instance's memory (see `cooldown.rs`), so the health and quota
//! views show the cooldowns of the instance that answers; the database columns
//! (`health_status`, `failure_count`, `last_error_*`) are shared by all. What
//! several reports share lives in `common.rs`: the day window, the account
//! listing and the cooldowns in force.

mod common;
mod health;
mod logs;
mod proxies;
mod quota;
mod usage;

pub use common::{
    CooldownView, DEFAULT_DAYS, DayWindow, ERROR_LOG_RETENTION, MAX_DAYS, MAX_LOG_PAGE, Reports,
};
pub use health::{AccountHealth, AccountHealthList, HealthCounts, HealthSummary, ModelState};
pub use logs::ErrorLogPage;
pub use proxies::{ProxyDay, ProxyStatsReport};
pub use quota::{
    AccountQuota, AccountQuotaList, ModelQuotaSummary, ProviderQuotaSummary, QuotaStatus,
};
pub use usage::{AccountStats, ModelDay, UsageFigures, UsageReport};
