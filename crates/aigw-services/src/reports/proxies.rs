//! A proxy's daily stats: requests, failures, mean latency and success rate per day.

use aigw_domain::{Page, ProviderId, ProxyId, ProxyStatsFilter};
use chrono::NaiveDate;
use serde::Serialize;

use super::common::{DayWindow, Reports};
use crate::AdminError;

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

impl Reports {
    /// A proxy's daily stats over the last `days` days, newest first. 404 for an unknown proxy.
    pub async fn proxy_stats(
        &self,
        proxy_id: ProxyId,
        days: Option<i64>,
    ) -> Result<ProxyStatsReport, AdminError> {
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
}
