//! Request logs: batch insert (one transaction per batch: `INSERT … SELECT FROM UNNEST` of
//! one array per column on PostgreSQL, cached fixed-size multi-row INSERTs on SQLite),
//! filtered listing, and retention.

use aigw_domain::{
    AccountId, ApiKeyId, NewRequestLog, Page, Paged, ProxyId, RequestLog, RequestLogFilter,
    RequestLogId,
};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text};
use diesel::sqlite::Sqlite;
use diesel_async::RunQueryDsl;

use super::conn::Backend;
use super::convert::{account_id, api_key_id, db_time, opt_provider_id, time};
use super::repository::{PRUNE_ROWS_PER_DELETE, SqlRepository};
use super::schema::request_logs;
use super::stats_batches::{StageWrite, StatsStage, claim_stage_sync};
use super::types::{DbTime, DbUuid, UtcTimestamp, UuidType};
use crate::Error;
use crate::error::db;

/// The columns of [`LogInsert`]: the binds of a row on SQLite, and the arrays of
/// [`POSTGRES_INSERT`].
#[cfg(test)]
const COLUMNS: usize = 20;

/// PostgreSQL rows per statement: each column is one array parameter, so a statement's
/// size grows with its rows; this bounds one message to a few megabytes.
const POSTGRES_ROWS_PER_INSERT: usize = 4096;

/// The PostgreSQL insert: one array per column of [`LogInsert`], in its order, unnested
/// into rows. Its text is the same for any number of rows, so the server parses a short
/// statement per chunk instead of a `VALUES` list of twenty parameters per row, which cost
/// more to parse and plan than inserting the rows.
const POSTGRES_INSERT: &str = "INSERT INTO request_logs (created_at, request_id, api_key_id, \
     provider_id, model, upstream_model, account_id, proxy_id, status_code, latency_ms, \
     ttfb_ms, input_tokens, output_tokens, cached_tokens, attempt, switched_from_account_id, \
     stream, error_kind, error_message, fallback_base_url) \
     SELECT * FROM UNNEST($1::timestamptz[], $2::text[], $3::uuid[], $4::text[], $5::text[], \
     $6::text[], $7::uuid[], $8::int8[], $9::int4[], $10::int8[], $11::int8[], $12::int8[], \
     $13::int8[], $14::int8[], $15::int4[], $16::uuid[], $17::bool[], $18::text[], \
     $19::text[], $20::text[])";

#[derive(Queryable, Selectable)]
#[diesel(table_name = request_logs)]
struct LogRow {
    id: i64,
    created_at: DbTime,
    request_id: String,
    api_key_id: Option<DbUuid>,
    provider_id: Option<String>,
    model: Option<String>,
    upstream_model: Option<String>,
    account_id: Option<DbUuid>,
    proxy_id: Option<i64>,
    status_code: i32,
    latency_ms: i64,
    ttfb_ms: Option<i64>,
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    cached_tokens: Option<i64>,
    attempt: i32,
    switched_from_account_id: Option<DbUuid>,
    stream: bool,
    error_kind: Option<String>,
    error_message: Option<String>,
    fallback_base_url: Option<String>,
}

impl LogRow {
    fn into_domain(self, ctx: &'static str) -> Result<RequestLog, Error> {
        Ok(RequestLog {
            id: RequestLogId::new(self.id),
            created_at: time(self.created_at),
            request_id: self.request_id,
            api_key_id: self.api_key_id.map(api_key_id),
            provider_id: opt_provider_id(ctx, "request_logs.provider_id", self.provider_id)?,
            model: self.model,
            upstream_model: self.upstream_model,
            account_id: self.account_id.map(account_id),
            proxy_id: self.proxy_id.map(ProxyId::new),
            status_code: self.status_code,
            latency_ms: self.latency_ms,
            ttfb_ms: self.ttfb_ms,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cached_tokens: self.cached_tokens,
            attempt: self.attempt,
            switched_from_account_id: self.switched_from_account_id.map(account_id),
            stream: self.stream,
            error_kind: self.error_kind,
            error_message: self.error_message,
            fallback_base_url: self.fallback_base_url,
        })
    }
}

/// Declares the written row once, in the table's column order, with each column's SQL
/// type: [`LogInsert`], one row; [`LogColumns`], a chunk of rows as one vector per column;
/// and [`SqliteInsert`], rows as one SQLite `INSERT`.
macro_rules! log_columns {
    ($first:ident: $first_ty:ty => $first_st:ty, $($name:ident: $ty:ty => $st:ty,)*) => {
        /// An owned row, so a batch can move to SQLite's blocking thread. `NULL` is written for
        /// `None` (not `DEFAULT`), which keeps the SQL of a row the same whatever its values,
        /// so SQLite prepares its statements once.
        struct LogInsert {
            $first: $first_ty,
            $($name: $ty,)*
        }

        /// A chunk of rows as one vector per column, for [`POSTGRES_INSERT`].
        #[derive(Default)]
        struct LogColumns {
            $first: Vec<$first_ty>,
            $($name: Vec<$ty>,)*
        }

        impl LogColumns {
            fn push(&mut self, row: LogInsert) {
                self.$first.push(row.$first);
                $(self.$name.push(row.$name);)*
            }
        }

        /// The start of [`SqliteInsert`]'s SQL, up to the first row's values.
        const SQLITE_INSERT_HEAD: &str = concat!(
            "INSERT INTO request_logs (",
            stringify!($first),
            $(", ", stringify!($name),)*
            ") VALUES "
        );

        impl<const N: usize> QueryFragment<Sqlite> for SqliteInsert<'_, N> {
            fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
                out.push_sql(SQLITE_INSERT_HEAD);
                for (i, row) in self.0.iter().enumerate() {
                    out.push_sql(if i == 0 { "(" } else { ", (" });
                    out.push_bind_param::<$first_st, $first_ty>(&row.$first)?;
                    $(
                        out.push_sql(", ");
                        out.push_bind_param::<$st, $ty>(&row.$name)?;
                    )*
                    out.push_sql(")");
                }
                Ok(())
            }
        }
    };
}

log_columns! {
    created_at: DbTime => UtcTimestamp,
    request_id: String => Text,
    api_key_id: Option<DbUuid> => Nullable<UuidType>,
    provider_id: Option<String> => Nullable<Text>,
    model: Option<String> => Nullable<Text>,
    upstream_model: Option<String> => Nullable<Text>,
    account_id: Option<DbUuid> => Nullable<UuidType>,
    proxy_id: Option<i64> => Nullable<BigInt>,
    status_code: i32 => Integer,
    latency_ms: i64 => BigInt,
    ttfb_ms: Option<i64> => Nullable<BigInt>,
    input_tokens: Option<i64> => Nullable<BigInt>,
    output_tokens: Option<i64> => Nullable<BigInt>,
    cached_tokens: Option<i64> => Nullable<BigInt>,
    attempt: i32 => Integer,
    switched_from_account_id: Option<DbUuid> => Nullable<UuidType>,
    stream: bool => Bool,
    error_kind: Option<String> => Nullable<Text>,
    error_message: Option<String> => Nullable<Text>,
    fallback_base_url: Option<String> => Nullable<Text>,
}

/// `N` request-log rows as one SQLite `INSERT … VALUES (…), (…)`, written out by hand
/// rather than through diesel's insert builder. The builder wraps every value in
/// several generic nodes that each pass over the query (checking whether it may be
/// cached, collecting the binds) walks again, which cost as many instructions as
/// SQLite's own work for a row; this walks each row's binds once per pass. The SQL
/// depends only on `N`, so its type is its cache key and diesel prepares it once per
/// connection.
struct SqliteInsert<'a, const N: usize>(&'a [LogInsert; N]);

impl<const N: usize> QueryId for SqliteInsert<'_, N> {
    type QueryId = SqliteInsert<'static, N>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<const N: usize> diesel::RunQueryDsl<diesel::SqliteConnection> for SqliteInsert<'_, N> {}

impl LogColumns {
    /// The rows in chunks of [`POSTGRES_ROWS_PER_INSERT`].
    fn chunks(rows: Vec<LogInsert>) -> Vec<Self> {
        let mut chunks = Vec::with_capacity(rows.len().div_ceil(POSTGRES_ROWS_PER_INSERT));
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let mut chunk = Self::default();
            rows.by_ref()
                .take(POSTGRES_ROWS_PER_INSERT)
                .for_each(|row| chunk.push(row));
            chunks.push(chunk);
        }
        chunks
    }

    /// Runs [`POSTGRES_INSERT`] with these columns; returns the rows written.
    async fn insert(&self, conn: &mut diesel_async::AsyncPgConnection) -> QueryResult<usize> {
        use super::types::{UtcTimestamp, UuidType};
        use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, Text};
        diesel::sql_query(POSTGRES_INSERT)
            .bind::<Array<UtcTimestamp>, _>(&self.created_at)
            .bind::<Array<Text>, _>(&self.request_id)
            .bind::<Array<Nullable<UuidType>>, _>(&self.api_key_id)
            .bind::<Array<Nullable<Text>>, _>(&self.provider_id)
            .bind::<Array<Nullable<Text>>, _>(&self.model)
            .bind::<Array<Nullable<Text>>, _>(&self.upstream_model)
            .bind::<Array<Nullable<UuidType>>, _>(&self.account_id)
            .bind::<Array<Nullable<BigInt>>, _>(&self.proxy_id)
            .bind::<Array<Integer>, _>(&self.status_code)
            .bind::<Array<BigInt>, _>(&self.latency_ms)
            .bind::<Array<Nullable<BigInt>>, _>(&self.ttfb_ms)
            .bind::<Array<Nullable<BigInt>>, _>(&self.input_tokens)
            .bind::<Array<Nullable<BigInt>>, _>(&self.output_tokens)
            .bind::<Array<Nullable<BigInt>>, _>(&self.cached_tokens)
            .bind::<Array<Integer>, _>(&self.attempt)
            .bind::<Array<Nullable<UuidType>>, _>(&self.switched_from_account_id)
            .bind::<Array<Bool>, _>(&self.stream)
            .bind::<Array<Nullable<Text>>, _>(&self.error_kind)
            .bind::<Array<Nullable<Text>>, _>(&self.error_message)
            .bind::<Array<Nullable<Text>>, _>(&self.fallback_base_url)
            .execute(conn)
            .await
    }
}

/// SQLite rows per multi-row statement, and between two yields of the writer's
/// thread: about 0.2 ms of CPU on the 2-core development machine.
const INSERT_BETWEEN_YIELDS: usize = 32;

/// Rows converted between two yields to the runtime: converting a whole
/// batch (a thousand rows) in one poll would hold up the requests waiting on
/// the same worker thread for a millisecond or more.
const CONVERT_BETWEEN_YIELDS: usize = 64;

/// The insertable rows of `logs`, yielding to the runtime between chunks.
async fn insert_rows(logs: &[NewRequestLog]) -> Vec<LogInsert> {
    let mut rows = Vec::with_capacity(logs.len());
    for chunk in logs.chunks(CONVERT_BETWEEN_YIELDS) {
        rows.extend(chunk.iter().map(LogInsert::new));
        if rows.len() < logs.len() {
            tokio::task::yield_now().await;
        }
    }
    rows
}

fn uuid_of(id: Option<AccountId>) -> Option<DbUuid> {
    id.map(|a| DbUuid(*a.as_uuid()))
}

fn key_uuid(id: Option<ApiKeyId>) -> Option<DbUuid> {
    id.map(|k| DbUuid(*k.as_uuid()))
}

impl LogInsert {
    fn new(log: &NewRequestLog) -> Self {
        Self {
            created_at: db_time(log.created_at),
            request_id: log.request_id.clone(),
            api_key_id: key_uuid(log.api_key_id),
            provider_id: log.provider_id.as_ref().map(|p| p.as_str().to_owned()),
            model: log.model.clone(),
            upstream_model: log.upstream_model.clone(),
            account_id: uuid_of(log.account_id),
            proxy_id: log.proxy_id.map(ProxyId::get),
            status_code: log.status_code,
            latency_ms: log.latency_ms,
            ttfb_ms: log.ttfb_ms,
            input_tokens: log.input_tokens,
            output_tokens: log.output_tokens,
            cached_tokens: log.cached_tokens,
            attempt: log.attempt,
            switched_from_account_id: uuid_of(log.switched_from_account_id),
            stream: log.stream,
            error_kind: log.error_kind.clone(),
            error_message: log.error_message.clone(),
            fallback_base_url: log.fallback_base_url.clone(),
        }
    }
}

macro_rules! log_filter {
    ($query:expr, $filter:expr) => {{
        let filter: &RequestLogFilter = $filter;
        let mut query = $query;
        if let Some(provider) = &filter.provider_id {
            query = query.filter(request_logs::provider_id.eq(provider.as_str()));
        }
        if let Some(model) = &filter.model {
            query = query.filter(request_logs::model.eq(model.as_str()));
        }
        if let Some(account) = filter.account_id {
            query = query.filter(request_logs::account_id.eq(DbUuid(*account.as_uuid())));
        }
        if let Some(key) = filter.api_key_id {
            query = query.filter(request_logs::api_key_id.eq(DbUuid(*key.as_uuid())));
        }
        if let Some(status) = filter.status_code {
            query = query.filter(request_logs::status_code.eq(status));
        }
        if filter.errors_only {
            query = query.filter(
                request_logs::status_code
                    .eq(0)
                    .or(request_logs::status_code.ge(400)),
            );
        }
        if let Some(class) = filter.status_class {
            let low = class.saturating_mul(100);
            query = query.filter(
                request_logs::status_code
                    .ge(low)
                    .and(request_logs::status_code.lt(low.saturating_add(100))),
            );
        }
        if let Some(from) = filter.time.from {
            query = query.filter(request_logs::created_at.ge(db_time(from)));
        }
        if let Some(to) = filter.time.to {
            query = query.filter(request_logs::created_at.lt(db_time(to)));
        }
        query
    }};
}

/// Inserts `rows` on the synchronous SQLite connection, inside the caller's transaction:
/// one [`INSERT_BETWEEN_YIELDS`]-row `INSERT` per full chunk, one single-row `INSERT` per
/// row of the rest. Both statements have the same SQL whatever the values (`NULL` is bound
/// for `None`, never `DEFAULT`, and the chunk is a fixed-size array), so diesel prepares
/// each once per connection and keeps it in its statement cache. The chunked statement
/// pays diesel's per-statement work (cache lookup, statement reset) once per chunk instead
/// of once per row.
///
/// The thread gives up its CPU after every chunk. A batch takes several
/// milliseconds of CPU, and the kernel lets a running thread keep its CPU until the next
/// scheduler tick (4 ms at 250 Hz): a request's worker thread that was preempted on the
/// same CPU would wait behind the whole insert while the other CPU idles.
fn insert_rows_sqlite(
    conn: &mut diesel::SqliteConnection,
    rows: &[LogInsert],
) -> QueryResult<usize> {
    let mut written = 0;
    let (chunks, rest) = rows.as_chunks::<INSERT_BETWEEN_YIELDS>();
    for chunk in chunks {
        written += diesel::RunQueryDsl::execute(SqliteInsert(chunk), conn)?;
        if written < rows.len() {
            std::thread::yield_now();
        }
    }
    for row in rest {
        written += diesel::RunQueryDsl::execute(SqliteInsert(std::array::from_ref(row)), conn)?;
    }
    Ok(written)
}

impl SqlRepository {
    /// Inserts a batch of request logs in one transaction. Returns the rows written.
    ///
    /// On PostgreSQL the batch is one `INSERT … SELECT FROM UNNEST` per chunk of up to
    /// 4,096 rows (`POSTGRES_ROWS_PER_INSERT`), one array parameter per column: one round
    /// trip per chunk. On SQLite, where a statement costs no round trip but parsing one
    /// costs more than running it, it is one cached 32-row `INSERT` per full chunk and a
    /// cached single-row one per remaining row.
    pub async fn insert_request_logs(&self, logs: &[NewRequestLog]) -> Result<usize, Error> {
        let written = self.insert_logs(None, logs).await?;
        Ok(written.unwrap_or(0))
    }

    /// Like [`SqlRepository::insert_request_logs`], for the stats writer: writes the
    /// marker of `stage` in the same transaction, and writes nothing when it is there
    /// already (the rows were committed before).
    pub async fn insert_request_logs_once(
        &self,
        stage: &StatsStage,
        logs: &[NewRequestLog],
    ) -> Result<StageWrite<usize>, Error> {
        Ok(match self.insert_logs(Some(stage), logs).await? {
            Some(written) => StageWrite::Written(written),
            None => StageWrite::AlreadyWritten,
        })
    }

    /// The insert, with or without a stage marker; `None` when the marker was there.
    async fn insert_logs(
        &self,
        stage: Option<&StatsStage>,
        logs: &[NewRequestLog],
    ) -> Result<Option<usize>, Error> {
        const CTX: &str = "request_logs.insert_batch";
        if logs.is_empty() {
            return Ok(Some(0));
        }
        let rows = insert_rows(logs).await;
        match &self.backend {
            Backend::Postgres(pg) => {
                let chunks = LogColumns::chunks(rows);
                let mut pooled = pg.get(CTX).await?;
                let conn: &mut diesel_async::AsyncPgConnection = &mut pooled;
                diesel_async::AsyncConnection::transaction(conn, async |conn| {
                    if let Some(stage) = stage
                        && !claim_stage!(conn, stage)
                    {
                        return Ok(None);
                    }
                    let mut written = 0;
                    for chunk in &chunks {
                        written += chunk.insert(conn).await?;
                    }
                    Ok(Some(written))
                })
                .await
                .map_err(db(CTX))
            }
            Backend::Sqlite(sqlite) => {
                // The rows run as synchronous diesel on the writer's own blocking thread:
                // one hop to it for the batch, not one per statement.
                let stage = stage.cloned();
                let mut pooled = sqlite.write(CTX).await?;
                pooled
                    .spawn_blocking(move |conn| {
                        conn.immediate_transaction(|conn| {
                            if let Some(stage) = &stage
                                && !claim_stage_sync(conn, stage)?
                            {
                                return Ok(None);
                            }
                            insert_rows_sqlite(conn, &rows).map(Some)
                        })
                    })
                    .await
                    .map_err(db(CTX))
            }
        }
    }

    /// Request logs matching `filter`, newest first.
    pub async fn list_request_logs(
        &self,
        filter: &RequestLogFilter,
        page: Page,
    ) -> Result<Paged<RequestLog>, Error> {
        let ctx = "request_logs.list";
        let page = page.clamped();
        let (total, rows) = with_conn!(self, read, ctx, |conn| {
            let total: i64 = log_filter!(request_logs::table.into_boxed(), filter)
                .count()
                .get_result(conn)
                .await?;
            let rows = log_filter!(request_logs::table.into_boxed(), filter)
                .order((request_logs::created_at.desc(), request_logs::id.desc()))
                .limit(page.limit)
                .offset(page.offset)
                .select(LogRow::as_select())
                .load(conn)
                .await?;
            Ok((total, rows))
        })?;
        Ok(Paged {
            data: rows
                .into_iter()
                .map(|r| r.into_domain(ctx))
                .collect::<Result<_, _>>()?,
            total,
            limit: page.limit,
            offset: page.offset,
        })
    }

    /// Deletes at most `limit` request logs created before `before`, oldest first, in short
    /// statements of a few hundred rows (retention prunes in such bounded steps, so that the
    /// stats writer is never held up for long); returns how many.
    pub async fn prune_request_logs_before(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<usize, Error> {
        let ctx = "request_logs.prune_before";
        // The ids first, then the deletes: diesel's delete takes no ordered, limited
        // subquery.
        with_conn!(self, write, ctx, |conn| {
            let ids: Vec<i64> = request_logs::table
                .select(request_logs::id)
                .filter(request_logs::created_at.lt(db_time(before)))
                .order(request_logs::created_at.asc())
                .limit(limit)
                .load(conn)
                .await?;
            let mut deleted = 0;
            for slice in ids.chunks(PRUNE_ROWS_PER_DELETE) {
                deleted +=
                    diesel::delete(request_logs::table.filter(request_logs::id.eq_any(slice)))
                        .execute(conn)
                        .await?;
            }
            Ok(deleted)
        })
    }

    /// Deletes request logs created before `before` (retention); returns how many.
    pub async fn delete_request_logs_before(&self, before: DateTime<Utc>) -> Result<usize, Error> {
        let ctx = "request_logs.delete_before";
        with_conn!(self, write, ctx, |conn| diesel::delete(
            request_logs::table.filter(request_logs::created_at.lt(db_time(before)))
        )
        .execute(conn)
        .await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::sqlite::Sqlite;

    /// On SQLite every row of every batch runs one prepared statement: diesel prepares
    /// (parses) it once and then takes it from its cache, which a multi-row insert of a
    /// varying number of rows would not allow.
    #[test]
    fn sqlite_rows_reuse_one_cached_statement() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};

        use diesel::connection::{Instrumentation, InstrumentationEvent};
        use diesel_migrations::MigrationHarness;

        let mut conn = diesel::SqliteConnection::establish(":memory:").unwrap();
        conn.run_pending_migrations(crate::sql::conn::SQLITE_MIGRATIONS)
            .unwrap();
        let (prepared, started) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (p, q) = (Arc::clone(&prepared), Arc::clone(&started));
        let counter = move |event: InstrumentationEvent<'_>| match event {
            InstrumentationEvent::CacheQuery { .. } => {
                p.fetch_add(1, Ordering::Relaxed);
            }
            InstrumentationEvent::StartQuery { .. } => {
                q.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        };
        let instrumentation: Box<dyn Instrumentation> = Box::new(counter);
        conn.set_instrumentation(instrumentation);

        let now: DateTime<Utc> = "2025-01-01T00:00:00Z".parse().unwrap();
        let batch = |n: usize| -> Vec<LogInsert> {
            (0..n)
                .map(|i| {
                    let mut log = NewRequestLog::new(now, format!("r{i}"), 200, 1);
                    // Some values set, some not: the SQL must not depend on which.
                    if i % 2 == 0 {
                        log.model = Some("m".to_owned());
                    }
                    LogInsert::new(&log)
                })
                .collect()
        };
        assert_eq!(insert_rows_sqlite(&mut conn, &batch(3)).unwrap(), 3);
        assert_eq!(insert_rows_sqlite(&mut conn, &batch(5)).unwrap(), 5);
        assert_eq!(
            AtomicUsize::load(&started, Ordering::Relaxed),
            8,
            "one statement per row"
        );
        assert_eq!(
            AtomicUsize::load(&prepared, Ordering::Relaxed),
            1,
            "prepared once, then taken from the cache"
        );
        // Two full chunks and one row, twice: the chunk's statement is prepared once too.
        let chunked = 2 * INSERT_BETWEEN_YIELDS + 1;
        for _ in 0..2 {
            assert_eq!(
                insert_rows_sqlite(&mut conn, &batch(chunked)).unwrap(),
                chunked
            );
        }
        assert_eq!(AtomicUsize::load(&started, Ordering::Relaxed), 8 + 2 * 3);
        assert_eq!(AtomicUsize::load(&prepared, Ordering::Relaxed), 2);
        let count: i64 =
            diesel::RunQueryDsl::get_result(request_logs::table.count(), &mut conn).unwrap();
        assert_eq!(count, i64::try_from(8 + 2 * chunked).unwrap());
    }

    /// `COLUMNS` must be the binds per row, and `POSTGRES_INSERT` must take one array per
    /// column.
    #[test]
    fn columns_is_the_number_of_binds_per_row() {
        assert!(POSTGRES_INSERT.contains(&format!("${COLUMNS}::")));
        assert!(!POSTGRES_INSERT.contains(&format!("${}::", COLUMNS + 1)));
        let now: DateTime<Utc> = "2025-01-01T00:00:00Z".parse().unwrap();
        let rows = [LogInsert::new(&NewRequestLog::new(now, "r", 200, 1))];
        let sql = diesel::debug_query::<Sqlite, _>(&SqliteInsert(&rows)).to_string();
        let statement = sql.split("-- binds").next().unwrap_or_default();
        assert_eq!(statement.matches('?').count(), COLUMNS, "{sql}");
        assert_eq!(SQLITE_INSERT_HEAD.matches(", ").count() + 1, COLUMNS);
    }

    /// Every column of every row reads back as written, through a full multi-row chunk
    /// and the single-row statements of the rest, with values and with `NULL`s.
    #[test]
    fn sqlite_rows_read_back_as_written() {
        use aigw_domain::ProviderId;
        use diesel_migrations::MigrationHarness;

        let mut conn = diesel::SqliteConnection::establish(":memory:").unwrap();
        conn.run_pending_migrations(crate::sql::conn::SQLITE_MIGRATIONS)
            .unwrap();
        let start: DateTime<Utc> = "2025-01-01T00:00:00.123456Z".parse().unwrap();
        let count = INSERT_BETWEEN_YIELDS + 7;
        let logs: Vec<NewRequestLog> = (0..count)
            .map(|i| {
                let n = i64::try_from(i).unwrap();
                let at = start + chrono::Duration::microseconds(n * 1_001);
                let mut log =
                    NewRequestLog::new(at, format!("req-{i}"), 200 + i32::from(i % 2 == 1), n);
                if i % 3 != 0 {
                    log.api_key_id = Some(ApiKeyId::new());
                    log.provider_id = Some(ProviderId::new(format!("p{i}")).unwrap());
                    log.model = Some(format!("model-{i}"));
                    log.upstream_model = Some(format!("upstream-{i}"));
                    log.account_id = Some(AccountId::new());
                    log.proxy_id = Some(ProxyId::new(n + 7));
                    log.ttfb_ms = Some(n + 1);
                    log.input_tokens = Some(n + 2);
                    log.output_tokens = Some(n + 3);
                    log.cached_tokens = Some(n + 4);
                    log.attempt = 2;
                    log.switched_from_account_id = Some(AccountId::new());
                    log.stream = true;
                    log.error_kind = Some(format!("kind-{i}"));
                    log.error_message = Some(format!("message 'quoted' {i}"));
                    log.fallback_base_url = Some(format!("https://fallback-{i}.example"));
                }
                log
            })
            .collect();
        let rows: Vec<LogInsert> = logs.iter().map(LogInsert::new).collect();
        assert_eq!(insert_rows_sqlite(&mut conn, &rows).unwrap(), count);

        let read: Vec<LogRow> = diesel::RunQueryDsl::load(
            request_logs::table
                .select(LogRow::as_select())
                .order(request_logs::id),
            &mut conn,
        )
        .unwrap();
        assert_eq!(read.len(), count);
        for (log, row) in logs.iter().zip(read) {
            let back = row.into_domain("test").unwrap();
            let written = (
                (
                    log.created_at,
                    &log.request_id,
                    log.api_key_id,
                    &log.provider_id,
                ),
                (
                    &log.model,
                    &log.upstream_model,
                    log.account_id,
                    log.proxy_id,
                ),
                (log.status_code, log.latency_ms),
                (
                    log.ttfb_ms,
                    log.input_tokens,
                    log.output_tokens,
                    log.cached_tokens,
                ),
                log.attempt,
                log.switched_from_account_id,
                log.stream,
                (&log.error_kind, &log.error_message, &log.fallback_base_url),
            );
            let read_back = (
                (
                    back.created_at,
                    &back.request_id,
                    back.api_key_id,
                    &back.provider_id,
                ),
                (
                    &back.model,
                    &back.upstream_model,
                    back.account_id,
                    back.proxy_id,
                ),
                (back.status_code, back.latency_ms),
                (
                    back.ttfb_ms,
                    back.input_tokens,
                    back.output_tokens,
                    back.cached_tokens,
                ),
                back.attempt,
                back.switched_from_account_id,
                back.stream,
                (
                    &back.error_kind,
                    &back.error_message,
                    &back.fallback_base_url,
                ),
            );
            assert_eq!(written, read_back);
        }
    }
}
