//! Request logs (from the database) and the error log (in the shared state).

use aigw_domain::{Page, Paged, RequestLog, RequestLogFilter};
use aigw_repository::state::ErrorLogEntry;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::common::{ERROR_LOG_RETENTION, MAX_LOG_PAGE, Reports};
use crate::AdminError;

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

impl Reports {
    /// Request logs matching `filter`, newest first, at most [`MAX_LOG_PAGE`] per page.
    pub async fn request_logs(
        &self,
        filter: &RequestLogFilter,
        limit: Option<i64>,
        offset: Option<i64>,
    ) -> Result<Paged<RequestLog>, AdminError> {
        let page = Page::new(
            limit.unwrap_or(100).clamp(1, MAX_LOG_PAGE),
            offset.unwrap_or(0),
        );
        Ok(self.repository.list_request_logs(filter, page).await?)
    }

    /// The newest error-log entries (default 50, at most [`MAX_LOG_PAGE`]) and the size of
    /// the log.
    pub async fn error_logs(&self, limit: Option<i64>) -> Result<ErrorLogPage, AdminError> {
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
    ) -> Result<ErrorLogPage, AdminError> {
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
    pub async fn cleanup_error_logs(&self) -> Result<u64, AdminError> {
        Ok(self
            .gateway
            .state()
            .error_log_trim_older_than(ERROR_LOG_RETENTION)
            .await?)
    }
}
