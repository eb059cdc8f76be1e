//! Test support (feature `test-support`): request logs seeded in bulk by one SQL
//! statement (a recursive CTE on SQLite, `generate_series` on PostgreSQL), so that a test
//! or a measurement can start from a million rows in seconds instead of writing them
//! through the stats writer.

use aigw_domain::{AccountId, ApiKeyId, ProviderId};
use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;

use super::conn::SqlBackend;
use super::convert::db_time;
use super::repository::SqlRepository;
use super::types::{DbUuid, UtcTimestamp, UuidType};
use crate::Error;

/// What the seeded rows hold: realistic successful requests, alternating between two
/// accounts, one second apart going back from `newest`, with request ids
/// `<prefix><n>` for `n` in `1..=count`.
#[derive(Debug, Clone)]
pub struct SeedLogs {
    /// How many rows.
    pub count: i64,
    /// The time of row 1; row `n` is `n - 1` seconds older.
    pub newest: DateTime<Utc>,
    /// The request-id prefix.
    pub prefix: String,
    /// The key every row names.
    pub api_key_id: ApiKeyId,
    /// The provider every row names.
    pub provider_id: ProviderId,
    /// The two accounts the rows alternate between.
    pub accounts: [AccountId; 2],
}

/// The columns and values of one seeded row, over the series value `i` and the
/// parameters 2 to 6; `@t` stands for the time of row `i`.
const ROW: &str = "INSERT INTO request_logs (created_at, request_id, api_key_id, provider_id, \
     model, upstream_model, account_id, proxy_id, status_code, latency_ms, ttfb_ms, \
     input_tokens, output_tokens, cached_tokens, attempt, stream) \
     SELECT @t, @3 || i, @4, @5, 'gpt-4o-mini', 'gpt-4o-mini-2024-07-18', \
     CASE WHEN i % 2 = 0 THEN @6 ELSE @7 END, 1 + i % 3, 200, 300 + i % 900, 120 + i % 300, \
     800 + i % 2000, 150 + i % 600, CASE WHEN i % 4 = 0 THEN 512 ELSE NULL END, 1, i % 2 = 0";

impl SqlRepository {
    /// Inserts `seed.count` request logs in one statement; returns how many.
    pub async fn seed_request_logs(&self, seed: &SeedLogs) -> Result<usize, Error> {
        let ctx = "request_logs.seed";
        let sql = match self.backend() {
            SqlBackend::Postgres => format!(
                "{} FROM generate_series(1, $1) AS s(i)",
                ROW.replace("@t", "$2 - (i - 1) * interval '1 second'")
                    .replace('@', "$")
            ),
            SqlBackend::Sqlite => format!(
                "{} FROM (WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s \
                 WHERE i < ?1) SELECT i FROM s)",
                ROW.replace(
                    "@t",
                    "strftime('%Y-%m-%dT%H:%M:%S', ?2, '-' || (i - 1) || ' seconds') \
                     || substr(?2, 20)"
                )
                .replace('@', "?")
            ),
        };
        let [a, b] = seed.accounts;
        with_conn!(self, write, ctx, |conn| {
            diesel::sql_query(sql.as_str())
                .bind::<BigInt, _>(seed.count)
                .bind::<UtcTimestamp, _>(db_time(seed.newest))
                .bind::<Text, _>(seed.prefix.as_str())
                .bind::<UuidType, _>(DbUuid(*seed.api_key_id.as_uuid()))
                .bind::<Text, _>(seed.provider_id.as_str())
                .bind::<UuidType, _>(DbUuid(*a.as_uuid()))
                .bind::<UuidType, _>(DbUuid(*b.as_uuid()))
                .execute(conn)
                .await
        })
    }
}
