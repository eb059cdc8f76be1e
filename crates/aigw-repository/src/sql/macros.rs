//! Macros that expand one diesel query body once per backend connection type.

/// Runs `$body` (an expression of type `QueryResult<T>` that may `.await` and use `?`, as
/// it is evaluated inside an async block) with `$conn`
/// bound to a connection of the repository's backend, and maps the diesel error with the
/// operation name `$ctx`. `$access` is `read` or `write`: on SQLite it picks the reader pool
/// or the single writer; on PostgreSQL both use the one pool.
macro_rules! with_conn {
    ($repo:expr, $access:ident, $ctx:expr, |$conn:ident| $body:expr) => {{
        let ctx: &'static str = $ctx;
        match &$repo.backend {
            $crate::sql::conn::Backend::Postgres(pg) => {
                let mut pooled = pg.get(ctx).await?;
                let $conn: &mut ::diesel_async::AsyncPgConnection = &mut pooled;
                let result: ::diesel::QueryResult<_> = async { $body }.await;
                result.map_err($crate::error::db(ctx))
            }
            $crate::sql::conn::Backend::Sqlite(sqlite) => {
                let mut pooled = sqlite.$access(ctx).await?;
                let $conn: &mut $crate::sql::conn::SqliteConn = &mut pooled;
                let result: ::diesel::QueryResult<_> = async { $body }.await;
                result.map_err($crate::error::db(ctx))
            }
        }
    }};
}

/// Like [`with_conn!`] with `write` access, but runs `$body` inside a transaction. On SQLite
/// the transaction starts with `BEGIN IMMEDIATE`, taking the write lock up front, so it
/// cannot fail half-way with `SQLITE_BUSY` when another process holds the file.
macro_rules! with_tx {
    ($repo:expr, $ctx:expr, |$conn:ident| $body:expr) => {{
        let ctx: &'static str = $ctx;
        match &$repo.backend {
            $crate::sql::conn::Backend::Postgres(pg) => {
                let mut pooled = pg.get(ctx).await?;
                let conn: &mut ::diesel_async::AsyncPgConnection = &mut pooled;
                let result: ::diesel::QueryResult<_> =
                    ::diesel_async::AsyncConnection::transaction(conn, async |$conn| $body).await;
                result.map_err($crate::error::db(ctx))
            }
            $crate::sql::conn::Backend::Sqlite(sqlite) => {
                let mut pooled = sqlite.write(ctx).await?;
                let conn: &mut $crate::sql::conn::SqliteConn = &mut pooled;
                let result: ::diesel::QueryResult<_> =
                    conn.immediate_transaction(async |$conn| $body).await;
                result.map_err($crate::error::db(ctx))
            }
        }
    }};
}

/// Like [`with_conn!`] with `read` access, but runs `$body` in one read-only transaction so
/// that several queries see the same committed state: `REPEATABLE READ READ ONLY` on
/// PostgreSQL, a deferred (read) transaction on a SQLite reader, which WAL pins to one
/// snapshot.
macro_rules! with_read_tx {
    ($repo:expr, $ctx:expr, |$conn:ident| $body:expr) => {{
        let ctx: &'static str = $ctx;
        match &$repo.backend {
            $crate::sql::conn::Backend::Postgres(pg) => {
                let mut pooled = pg.get(ctx).await?;
                let conn: &mut ::diesel_async::AsyncPgConnection = &mut pooled;
                let result: ::diesel::QueryResult<_> = conn
                    .build_transaction()
                    .repeatable_read()
                    .read_only()
                    .run(async |$conn| $body)
                    .await;
                result.map_err($crate::error::db(ctx))
            }
            $crate::sql::conn::Backend::Sqlite(sqlite) => {
                let mut pooled = sqlite.read(ctx).await?;
                let conn: &mut $crate::sql::conn::SqliteConn = &mut pooled;
                let result: ::diesel::QueryResult<_> =
                    ::diesel_async::AsyncConnection::transaction(conn, async |$conn| $body).await;
                result.map_err($crate::error::db(ctx))
            }
        }
    }};
}

/// Inside a `with_tx!` body: writes the marker of the stats stage `$stage` (a
/// `&StatsStage`) and evaluates to whether the stage is to be written now; `false` means
/// it was committed before (or, for a part of a stage, its whole stage was), so the
/// transaction must write nothing else. See `stats_batches.rs`; `claim_stage_sync` is the
/// twin for the synchronous SQLite connection.
macro_rules! claim_stage {
    ($conn:expr, $stage:expr) => {{
        let stage: &$crate::sql::StatsStage = $stage;
        let whole_done = match stage.part_of() {
            Some(whole) => {
                ::diesel::select(::diesel::dsl::exists(
                    $crate::sql::schema::stats_batches::table.find((stage.batch_key(), whole)),
                ))
                .get_result::<bool>(&mut *$conn)
                .await?
            }
            None => false,
        };
        !whole_done
            && ::diesel::insert_into($crate::sql::schema::stats_batches::table)
                .values(stage.marker())
                .on_conflict_do_nothing()
                .execute(&mut *$conn)
                .await?
                == 1
    }};
}
