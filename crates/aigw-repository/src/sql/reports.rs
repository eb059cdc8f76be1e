//! Usage aggregates over `request_logs` for the management API: requests, errors, tokens
//! and latency per UTC day and provider/model, and per account.
//!
//! The aggregates are plain SQL (`GROUP BY` with `CAST(SUM(…) AS BIGINT)`, which both
//! backends type as a 64-bit integer) with numbered parameters that may repeat
//! (`$1` on PostgreSQL, `?1` on SQLite), so an optional filter is `(?3 IS NULL OR col = ?3)`
//! and every query binds the same parameters whatever the filter. Only two fragments differ
//! per backend: the parameter sigil and the expression of the UTC day of `created_at`.

use aigw_domain::{AccountId, ProviderId};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel_async::RunQueryDsl;
use serde::Serialize;

use super::conn::SqlBackend;
use super::convert::{account_id, db_time, opt_provider_id, opt_time};
use super::repository::SqlRepository;
use super::types::{DbTime, DbUuid, UtcTimestamp, UuidType};
use crate::Error;

/// Which request logs an aggregate covers: `from <= created_at < to`, optionally one
/// provider and one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageQuery {
    /// Inclusive start.
    pub from: DateTime<Utc>,
    /// Exclusive end.
    pub to: DateTime<Utc>,
    /// Only this provider.
    pub provider_id: Option<ProviderId>,
    /// Only this account.
    pub account_id: Option<AccountId>,
}

/// The totals of a group of request logs: the columns of `TOTALS`, read
/// into every report row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, QueryableByName)]
pub struct UsageTotals {
    /// Logged attempts.
    #[diesel(sql_type = BigInt)]
    pub requests: i64,
    /// Attempts that failed (status 0 or ≥ 400).
    #[diesel(sql_type = BigInt)]
    pub errors: i64,
    /// Prompt tokens reported by the upstream.
    #[diesel(sql_type = BigInt)]
    pub input_tokens: i64,
    /// Completion tokens reported by the upstream.
    #[diesel(sql_type = BigInt)]
    pub output_tokens: i64,
    /// Sum of the latencies, for a true average (`total_latency_ms / requests`).
    #[diesel(sql_type = BigInt)]
    pub total_latency_ms: i64,
}

impl UsageTotals {
    /// The mean latency, or 0 without requests.
    pub fn avg_latency_ms(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.total_latency_ms as f64 / self.requests as f64
        }
    }
}

/// Usage of one provider and model on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DailyModelUsage {
    /// The UTC day.
    pub date: NaiveDate,
    /// The provider (`None`: the request was not routed).
    pub provider_id: Option<ProviderId>,
    /// The model the client asked for.
    pub model: Option<String>,
    /// The totals.
    #[serde(flatten)]
    pub totals: UsageTotals,
}

/// Usage of one account over a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountUsage {
    /// The account.
    pub account_id: AccountId,
    /// The provider it served (as logged).
    pub provider_id: Option<ProviderId>,
    /// The totals.
    #[serde(flatten)]
    pub totals: UsageTotals,
    /// The newest logged attempt.
    pub last_request_at: Option<DateTime<Utc>>,
}

/// Usage of one account for one model over a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountModelUsage {
    /// The account.
    pub account_id: AccountId,
    /// The model the client asked for.
    pub model: Option<String>,
    /// The totals.
    #[serde(flatten)]
    pub totals: UsageTotals,
}

#[derive(QueryableByName)]
struct AccountModelRow {
    #[diesel(sql_type = UuidType)]
    account_id: DbUuid,
    #[diesel(sql_type = Nullable<Text>)]
    model: Option<String>,
    #[diesel(embed)]
    totals: UsageTotals,
}

#[derive(QueryableByName)]
struct DailyRow {
    #[diesel(sql_type = Text)]
    day: String,
    #[diesel(sql_type = Nullable<Text>)]
    provider_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    model: Option<String>,
    #[diesel(embed)]
    totals: UsageTotals,
}

#[derive(QueryableByName)]
struct AccountRow {
    #[diesel(sql_type = UuidType)]
    account_id: DbUuid,
    #[diesel(sql_type = Nullable<Text>)]
    provider_id: Option<String>,
    #[diesel(embed)]
    totals: UsageTotals,
    #[diesel(sql_type = Nullable<UtcTimestamp>)]
    last_request_at: Option<DbTime>,
}

/// The aggregate columns shared by every report.
const TOTALS: &str = "COUNT(*) AS requests, \
     CAST(SUM(CASE WHEN status_code = 0 OR status_code >= 400 THEN 1 ELSE 0 END) AS BIGINT) AS errors, \
     CAST(SUM(COALESCE(input_tokens, 0)) AS BIGINT) AS input_tokens, \
     CAST(SUM(COALESCE(output_tokens, 0)) AS BIGINT) AS output_tokens, \
     CAST(SUM(latency_ms) AS BIGINT) AS total_latency_ms";

/// The filter of [`UsageQuery`], over parameters 1 to 4.
const WHERE: &str = "created_at >= @1 AND created_at < @2 \
     AND (@3 IS NULL OR provider_id = @3) \
     AND (@4 IS NULL OR account_id = @4)";

/// Replaces the `@n` placeholders with the backend's numbered parameters.
fn render(backend: SqlBackend, sql: &str) -> String {
    let sigil = match backend {
        SqlBackend::Postgres => "$",
        SqlBackend::Sqlite => "?",
    };
    sql.replace('@', sigil)
}

/// The UTC day of `created_at` as `YYYY-MM-DD` text.
fn day_expr(backend: SqlBackend) -> &'static str {
    match backend {
        SqlBackend::Postgres => "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
        // Stored as fixed-width RFC 3339 UTC text (see `types`): the day is its first ten.
        SqlBackend::Sqlite => "substr(created_at, 1, 10)",
    }
}

impl SqlRepository {
    /// Usage per UTC day, provider and model, newest day first, then by provider and model.
    pub async fn usage_by_day(&self, query: &UsageQuery) -> Result<Vec<DailyModelUsage>, Error> {
        let ctx = "reports.usage_by_day";
        let backend = self.backend();
        let sql = render(
            backend,
            &format!(
                "SELECT {day} AS day, provider_id, model, {TOTALS} FROM request_logs \
                 WHERE {WHERE} GROUP BY {day}, provider_id, model \
                 ORDER BY day DESC, provider_id, model",
                day = day_expr(backend),
            ),
        );
        let rows: Vec<DailyRow> = with_conn!(self, read, ctx, |conn| {
            diesel::sql_query(sql.as_str())
                .bind::<UtcTimestamp, _>(db_time(query.from))
                .bind::<UtcTimestamp, _>(db_time(query.to))
                .bind::<Nullable<Text>, _>(query.provider_id.as_ref().map(ProviderId::as_str))
                .bind::<Nullable<UuidType>, _>(query.account_id.map(|a| DbUuid(*a.as_uuid())))
                .load(conn)
                .await
        })?;
        rows.into_iter()
            .map(|r| {
                let date = NaiveDate::parse_from_str(&r.day, "%Y-%m-%d")
                    .map_err(|e| Error::invalid_row(ctx, format!("day `{}`: {e}", r.day)))?;
                Ok(DailyModelUsage {
                    date,
                    provider_id: opt_provider_id(ctx, "request_logs.provider_id", r.provider_id)?,
                    model: r.model,
                    totals: r.totals,
                })
            })
            .collect()
    }

    /// Usage per account (attempts without an account are left out), most requests first.
    pub async fn usage_by_account(&self, query: &UsageQuery) -> Result<Vec<AccountUsage>, Error> {
        let ctx = "reports.usage_by_account";
        let sql = render(
            self.backend(),
            &format!(
                "SELECT account_id, provider_id, {TOTALS}, MAX(created_at) AS last_request_at \
                 FROM request_logs WHERE account_id IS NOT NULL AND {WHERE} \
                 GROUP BY account_id, provider_id \
                 ORDER BY requests DESC, account_id, provider_id"
            ),
        );
        let rows: Vec<AccountRow> = with_conn!(self, read, ctx, |conn| {
            diesel::sql_query(sql.as_str())
                .bind::<UtcTimestamp, _>(db_time(query.from))
                .bind::<UtcTimestamp, _>(db_time(query.to))
                .bind::<Nullable<Text>, _>(query.provider_id.as_ref().map(ProviderId::as_str))
                .bind::<Nullable<UuidType>, _>(query.account_id.map(|a| DbUuid(*a.as_uuid())))
                .load(conn)
                .await
        })?;
        rows.into_iter()
            .map(|r| {
                Ok(AccountUsage {
                    account_id: account_id(r.account_id),
                    provider_id: opt_provider_id(ctx, "request_logs.provider_id", r.provider_id)?,
                    totals: r.totals,
                    last_request_at: opt_time(r.last_request_at),
                })
            })
            .collect()
    }

    /// Usage per account and model (attempts without an account are left out), by account
    /// then model.
    pub async fn usage_by_account_model(
        &self,
        query: &UsageQuery,
    ) -> Result<Vec<AccountModelUsage>, Error> {
        let ctx = "reports.usage_by_account_model";
        let sql = render(
            self.backend(),
            &format!(
                "SELECT account_id, model, {TOTALS} \
                 FROM request_logs WHERE account_id IS NOT NULL AND {WHERE} \
                 GROUP BY account_id, model ORDER BY account_id, model"
            ),
        );
        let rows: Vec<AccountModelRow> = with_conn!(self, read, ctx, |conn| {
            diesel::sql_query(sql.as_str())
                .bind::<UtcTimestamp, _>(db_time(query.from))
                .bind::<UtcTimestamp, _>(db_time(query.to))
                .bind::<Nullable<Text>, _>(query.provider_id.as_ref().map(ProviderId::as_str))
                .bind::<Nullable<UuidType>, _>(query.account_id.map(|a| DbUuid(*a.as_uuid())))
                .load(conn)
                .await
        })?;
        Ok(rows
            .into_iter()
            .map(|r| AccountModelUsage {
                account_id: account_id(r.account_id),
                model: r.model,
                totals: r.totals,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_follow_the_backend() {
        assert_eq!(render(SqlBackend::Postgres, "a = @1 OR @1"), "a = $1 OR $1");
        assert_eq!(render(SqlBackend::Sqlite, "a = @1 OR @1"), "a = ?1 OR ?1");
    }

    #[test]
    fn the_average_is_a_true_mean() {
        let t = UsageTotals {
            requests: 4,
            total_latency_ms: 10,
            ..UsageTotals::default()
        };
        assert!((t.avg_latency_ms() - 2.5).abs() < f64::EPSILON);
        assert!(UsageTotals::default().avg_latency_ms().abs() < f64::EPSILON);
    }
}
