//! Usage over a day window: per day, provider and model, and per account.

use std::collections::HashMap;

use aigw_domain::{AccountId, ProviderId};
use aigw_repository::sql::UsageTotals;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::common::{DayWindow, Reports};
use crate::AdminError;

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

impl Reports {
    /// Usage per day, provider and model over the last `days` days.
    pub async fn usage_by_model(
        &self,
        days: Option<i64>,
        provider_id: Option<ProviderId>,
    ) -> Result<UsageReport<ModelDay>, AdminError> {
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
    ) -> Result<UsageReport<AccountStats>, AdminError> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
