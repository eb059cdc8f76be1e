//! What several reports share: the day window, the bounds, the account
//! listing and the cooldowns in force.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aigw_domain::{Account, AccountFilter, AccountId, Page, ProviderId, UserId};
use aigw_repository::SqlRepository;
use aigw_repository::sql::UsageQuery;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::AdminError;
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

    pub(super) fn query(&self, provider_id: Option<ProviderId>) -> UsageQuery {
        let start = |d: NaiveDate| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        UsageQuery {
            from: start(self.from),
            to: start(self.to + chrono::Duration::days(1)),
            provider_id,
            account_id: None,
        }
    }
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

/// The reports of one gateway instance. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Reports {
    pub(super) repository: SqlRepository,
    pub(super) gateway: Gateway,
}

pub(super) fn health_label(available: usize, total: usize) -> &'static str {
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

impl Reports {
    /// Reports over `repository` and the cooldowns of `gateway`.
    pub fn new(repository: SqlRepository, gateway: Gateway) -> Self {
        Self {
            repository,
            gateway,
        }
    }

    pub(super) fn today() -> NaiveDate {
        Utc::now().date_naive()
    }

    pub(super) async fn accounts(
        &self,
        provider_id: Option<ProviderId>,
    ) -> Result<Vec<Account>, AdminError> {
        let filter = AccountFilter {
            provider_id,
            ..AccountFilter::default()
        };
        self.all_accounts(&filter).await
    }

    /// Every account matching `filter`, page by page.
    pub(super) async fn all_accounts(
        &self,
        filter: &AccountFilter,
    ) -> Result<Vec<Account>, AdminError> {
        let mut all = Vec::new();
        let mut offset = 0;
        loop {
            let page = self
                .repository
                .list_accounts(filter, Page::new(Page::MAX_LIMIT, offset))
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
    pub async fn accounts_owned_by(&self, user: UserId) -> Result<HashSet<AccountId>, AdminError> {
        let filter = AccountFilter {
            created_by: Some(user),
            ..AccountFilter::default()
        };
        let accounts = self.all_accounts(&filter).await?;
        Ok(accounts.into_iter().map(|a| a.id).collect())
    }

    pub(super) fn cooldowns_by_account(
        &self,
        now: DateTime<Utc>,
    ) -> HashMap<AccountId, Vec<CooldownView>> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
