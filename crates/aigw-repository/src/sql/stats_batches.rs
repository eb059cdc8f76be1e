//! Markers of the stats writer's committed stages (`stats_batches`), which make each stage
//! of a stats batch happen at most once.
//!
//! A stage (a batch's request logs, its proxy-stats sums or its account usage) is written
//! in one transaction together with its marker row `(batch_id, stage)`. The marker goes in
//! first, with `ON CONFLICT DO NOTHING`: when it is already there, the stage was committed
//! before, by an attempt whose commit was reported as failed (the connection died while
//! the commit was in flight), and the stage's rows are not written again. A part of a
//! split stage (one request-log row, one proxy-stats key) is skipped as well when the
//! whole stage's marker exists.

use aigw_domain::StatsBatchId;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::convert::db_time;
use super::repository::SqlRepository;
use super::schema::stats_batches;
use super::types::{DbTime, DbUuid, now};
use crate::Error;

/// One stage of one stats batch, or one part of a stage that is written piece by piece:
/// what a marker row names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsStage {
    batch: StatsBatchId,
    name: String,
    part_of: Option<&'static str>,
}

impl StatsStage {
    /// The whole stage `stage` (`logs`, `proxy_stats`, `account_usage`) of `batch`.
    pub fn whole(batch: StatsBatchId, stage: &'static str) -> Self {
        Self {
            batch,
            name: stage.to_owned(),
            part_of: None,
        }
    }

    /// The part `part` of stage `stage` of `batch`, written on its own (after the whole
    /// stage was refused). It is skipped if the whole stage is marked, too.
    pub fn part(batch: StatsBatchId, stage: &'static str, part: impl std::fmt::Display) -> Self {
        Self {
            batch,
            name: format!("{stage}/{part}"),
            part_of: Some(stage),
        }
    }

    /// The batch.
    pub fn batch(&self) -> StatsBatchId {
        self.batch
    }

    /// The marker's stage name (`logs`, or `logs/17` for a part).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn batch_key(&self) -> DbUuid {
        DbUuid(*self.batch.as_uuid())
    }

    /// The whole stage this is a part of, if it is a part.
    pub(crate) fn part_of(&self) -> Option<&'static str> {
        self.part_of
    }

    pub(crate) fn marker(&self) -> Marker<'_> {
        Marker {
            batch_id: self.batch_key(),
            stage: &self.name,
            created_at: DbTime(now()),
        }
    }
}

/// What a write of a stage did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageWrite<T> {
    /// The stage was written now; what the write returned.
    Written(T),
    /// The stage's marker was there already: it had been committed before (or, for a
    /// part, its whole stage had), and nothing was written.
    AlreadyWritten,
}

/// A marker row.
#[derive(Insertable)]
#[diesel(table_name = stats_batches)]
pub(crate) struct Marker<'a> {
    batch_id: DbUuid,
    stage: &'a str,
    created_at: DbTime,
}

/// Inside a write transaction on the synchronous SQLite connection: writes the marker of
/// `stage` and returns whether the stage is to be written now (`false`: it was written
/// before). The async twin is `claim_stage!`.
pub(crate) fn claim_stage_sync(
    conn: &mut diesel::SqliteConnection,
    stage: &StatsStage,
) -> QueryResult<bool> {
    if let Some(whole) = stage.part_of() {
        let done: bool = diesel::RunQueryDsl::get_result(
            diesel::select(diesel::dsl::exists(
                stats_batches::table.find((stage.batch_key(), whole)),
            )),
            conn,
        )?;
        if done {
            return Ok(false);
        }
    }
    let inserted = diesel::RunQueryDsl::execute(
        diesel::insert_into(stats_batches::table)
            .values(stage.marker())
            .on_conflict_do_nothing(),
        conn,
    )?;
    Ok(inserted == 1)
}

impl SqlRepository {
    /// Whether `stage` (or the whole stage it is a part of) is marked as written.
    pub async fn stats_stage_written(&self, stage: &StatsStage) -> Result<bool, Error> {
        let ctx = "stats_batches.written";
        let own = stage.name.as_str();
        let whole = stage.part_of.unwrap_or(own);
        with_conn!(self, read, ctx, |conn| diesel::select(diesel::dsl::exists(
            stats_batches::table
                .filter(stats_batches::batch_id.eq(stage.batch_key()))
                .filter(stats_batches::stage.eq_any([own, whole]))
        ))
        .get_result::<bool>(conn)
        .await)
    }

    /// Deletes stage markers created before `before`; returns how many. A marker only has
    /// to outlive the retries of its batch, which end long before a day has passed.
    pub async fn delete_stats_stages_before(&self, before: DateTime<Utc>) -> Result<usize, Error> {
        let ctx = "stats_batches.delete_before";
        with_conn!(self, write, ctx, |conn| diesel::delete(
            stats_batches::table.filter(stats_batches::created_at.lt(db_time(before)))
        )
        .execute(conn)
        .await)
    }
}
