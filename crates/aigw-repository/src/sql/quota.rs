//! Learned quota patterns per (account, model): CRUD and listing.

use aigw_domain::{
    AccountId, AccountQuotaPattern, NewQuotaPattern, Page, Paged, QuotaObservation,
    QuotaPatternFilter, QuotaPatternId, QuotaPatternPatch,
};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::convert::{account_id, opt_db_time, opt_time, time};
use super::repository::SqlRepository;
use super::schema::account_quota_pattern as qp;
use super::schema::accounts;
use super::types::{DbTime, DbUuid, now};
use crate::Error;

const ENTITY: &str = "quota pattern";

#[derive(Queryable, Selectable)]
#[diesel(table_name = qp)]
struct QuotaRow {
    id: i64,
    account_id: DbUuid,
    model: String,
    est_request_limit: Option<i64>,
    est_token_limit: Option<i64>,
    confidence: f64,
    sample_count: i64,
    last_exhausted_at: Option<DbTime>,
    last_reset_at: Option<DbTime>,
    created_at: DbTime,
    updated_at: DbTime,
    limit_window: Option<String>,
    remaining: Option<i64>,
    used_percent: Option<f64>,
    resets_at: Option<DbTime>,
}

impl QuotaRow {
    fn into_domain(self) -> AccountQuotaPattern {
        AccountQuotaPattern {
            id: QuotaPatternId::new(self.id),
            account_id: account_id(self.account_id),
            model: self.model,
            est_request_limit: self.est_request_limit,
            est_token_limit: self.est_token_limit,
            confidence: self.confidence,
            sample_count: self.sample_count,
            last_exhausted_at: opt_time(self.last_exhausted_at),
            last_reset_at: opt_time(self.last_reset_at),
            created_at: time(self.created_at),
            updated_at: time(self.updated_at),
            limit_window: self.limit_window,
            remaining: self.remaining,
            used_percent: self.used_percent,
            resets_at: opt_time(self.resets_at),
        }
    }
}

/// A new pattern: one an operator creates, or the first one an upstream's
/// statement about an account's limits writes (the stated columns set).
#[derive(Insertable)]
#[diesel(table_name = qp, treat_none_as_default_value = false)]
struct QuotaInsert<'a> {
    account_id: DbUuid,
    model: &'a str,
    est_request_limit: Option<i64>,
    est_token_limit: Option<i64>,
    confidence: f64,
    sample_count: i64,
    last_exhausted_at: Option<DbTime>,
    last_reset_at: Option<DbTime>,
    created_at: DbTime,
    updated_at: DbTime,
    limit_window: Option<&'a str>,
    remaining: Option<i64>,
    used_percent: Option<f64>,
    resets_at: Option<DbTime>,
}

#[derive(AsChangeset)]
#[diesel(table_name = qp)]
struct QuotaChanges {
    est_request_limit: Option<Option<i64>>,
    est_token_limit: Option<Option<i64>>,
    confidence: Option<f64>,
    sample_count: Option<i64>,
    last_exhausted_at: Option<Option<DbTime>>,
    last_reset_at: Option<Option<DbTime>>,
    updated_at: DbTime,
}

macro_rules! quota_filter {
    ($query:expr, $filter:expr) => {{
        let filter: &QuotaPatternFilter = $filter;
        let mut query = $query;
        if let Some(account) = filter.account_id {
            query = query.filter(qp::account_id.eq(DbUuid(*account.as_uuid())));
        }
        if let Some(model) = &filter.model {
            query = query.filter(qp::model.eq(model.as_str()));
        }
        query
    }};
}

/// The columns an observation sets; `None` leaves a column as it is.
#[derive(AsChangeset)]
#[diesel(table_name = qp)]
struct ObservedChanges {
    est_request_limit: Option<i64>,
    est_token_limit: Option<i64>,
    limit_window: Option<String>,
    remaining: Option<i64>,
    used_percent: Option<f64>,
    resets_at: Option<DbTime>,
    last_exhausted_at: Option<DbTime>,
    confidence: f64,
    updated_at: DbTime,
}

impl SqlRepository {
    /// Records what upstream answers stated about accounts' limits, one pattern per
    /// (account, model), in one transaction: the stated limits, window, remaining, share
    /// used and reset replace the stored ones (what is not stated is kept), the sample
    /// count grows by one, the confidence is 1 (stated, not estimated), and a used-up
    /// window sets `last_exhausted_at`. Patterns of accounts deleted meanwhile are
    /// skipped. Returns how many patterns were written.
    pub async fn record_quota_observations(
        &self,
        observations: &[QuotaObservation],
    ) -> Result<usize, Error> {
        let ctx = "quota_patterns.observe";
        if observations.is_empty() {
            return Ok(0);
        }
        let mut observations = observations.to_vec();
        observations.sort_by(|a, b| (a.account_id, &a.model).cmp(&(b.account_id, &b.model)));
        let at = DbTime(now());
        with_tx!(self, ctx, |conn| {
            let mut written = 0;
            for o in &observations {
                let account = DbUuid(*o.account_id.as_uuid());
                let existing: Option<i64> = qp::table
                    .filter(qp::account_id.eq(account))
                    .filter(qp::model.eq(&o.model))
                    .select(qp::id)
                    .first(conn)
                    .await
                    .optional()?;
                if let Some(id) = existing {
                    let changes = ObservedChanges {
                        est_request_limit: o.request_limit,
                        est_token_limit: o.token_limit,
                        limit_window: o.limit_window.clone(),
                        remaining: o.remaining,
                        used_percent: o.used_percent,
                        resets_at: o.resets_at.map(DbTime),
                        last_exhausted_at: o.exhausted_at.map(DbTime),
                        confidence: 1.0,
                        updated_at: at,
                    };
                    diesel::update(qp::table.find(id))
                        .set((&changes, qp::sample_count.eq(qp::sample_count + 1_i64)))
                        .execute(conn)
                        .await?;
                    written += 1;
                    continue;
                }
                let exists: Option<DbUuid> = accounts::table
                    .find(account)
                    .select(accounts::id)
                    .first(conn)
                    .await
                    .optional()?;
                if exists.is_none() {
                    continue;
                }
                let row = QuotaInsert {
                    account_id: account,
                    model: &o.model,
                    est_request_limit: o.request_limit,
                    est_token_limit: o.token_limit,
                    confidence: 1.0,
                    sample_count: 1,
                    last_exhausted_at: o.exhausted_at.map(DbTime),
                    last_reset_at: None,
                    created_at: at,
                    updated_at: at,
                    limit_window: o.limit_window.as_deref(),
                    remaining: o.remaining,
                    used_percent: o.used_percent,
                    resets_at: o.resets_at.map(DbTime),
                };
                diesel::insert_into(qp::table)
                    .values(&row)
                    .execute(conn)
                    .await?;
                written += 1;
            }
            Ok(written)
        })
    }

    /// Creates a pattern; [`Error::Conflict`] if the (account, model) pair has one,
    /// [`Error::ForeignKey`] if the account does not exist.
    pub async fn insert_quota_pattern(
        &self,
        new: &NewQuotaPattern,
    ) -> Result<AccountQuotaPattern, Error> {
        let ctx = "quota_patterns.insert";
        let at = DbTime(now());
        let row = QuotaInsert {
            account_id: DbUuid(*new.account_id.as_uuid()),
            model: &new.model,
            est_request_limit: new.est_request_limit,
            est_token_limit: new.est_token_limit,
            confidence: new.confidence,
            sample_count: new.sample_count,
            last_exhausted_at: opt_db_time(new.last_exhausted_at),
            last_reset_at: opt_db_time(new.last_reset_at),
            created_at: at,
            updated_at: at,
            limit_window: None,
            remaining: None,
            used_percent: None,
            resets_at: None,
        };
        with_conn!(self, write, ctx, |conn| diesel::insert_into(qp::table)
            .values(&row)
            .returning(QuotaRow::as_returning())
            .get_result(conn)
            .await)
        .map(QuotaRow::into_domain)
    }

    /// The pattern of `account` for `model`.
    pub async fn get_quota_pattern(
        &self,
        account: AccountId,
        model: &str,
    ) -> Result<AccountQuotaPattern, Error> {
        let ctx = "quota_patterns.get";
        with_conn!(self, read, ctx, |conn| qp::table
            .filter(qp::account_id.eq(DbUuid(*account.as_uuid())))
            .filter(qp::model.eq(model))
            .select(QuotaRow::as_select())
            .first(conn)
            .await
            .optional())?
        .map(QuotaRow::into_domain)
        .ok_or_else(|| Error::not_found(ENTITY, format!("{account}/{model}")))
    }

    /// Patterns matching `filter`, by account then model.
    pub async fn list_quota_patterns(
        &self,
        filter: &QuotaPatternFilter,
        page: Page,
    ) -> Result<Paged<AccountQuotaPattern>, Error> {
        let ctx = "quota_patterns.list";
        let page = page.clamped();
        let (total, rows) = with_conn!(self, read, ctx, |conn| {
            let total: i64 = quota_filter!(qp::table.into_boxed(), filter)
                .count()
                .get_result(conn)
                .await?;
            let rows = quota_filter!(qp::table.into_boxed(), filter)
                .order((qp::account_id.asc(), qp::model.asc()))
                .limit(page.limit)
                .offset(page.offset)
                .select(QuotaRow::as_select())
                .load(conn)
                .await?;
            Ok((total, rows))
        })?;
        Ok(Paged {
            data: rows.into_iter().map(QuotaRow::into_domain).collect(),
            total,
            limit: page.limit,
            offset: page.offset,
        })
    }

    /// Applies `patch`; fields it leaves `None` are untouched.
    pub async fn update_quota_pattern(
        &self,
        id: QuotaPatternId,
        patch: &QuotaPatternPatch,
    ) -> Result<AccountQuotaPattern, Error> {
        let ctx = "quota_patterns.update";
        let changes = QuotaChanges {
            est_request_limit: patch.est_request_limit,
            est_token_limit: patch.est_token_limit,
            confidence: patch.confidence,
            sample_count: patch.sample_count,
            last_exhausted_at: patch.last_exhausted_at.map(opt_db_time),
            last_reset_at: patch.last_reset_at.map(opt_db_time),
            updated_at: DbTime(now()),
        };
        with_conn!(self, write, ctx, |conn| diesel::update(
            qp::table.find(id.get())
        )
        .set(&changes)
        .returning(QuotaRow::as_returning())
        .get_result(conn)
        .await
        .optional())?
        .map(QuotaRow::into_domain)
        .ok_or_else(|| Error::not_found(ENTITY, id))
    }

    /// Deletes a pattern.
    pub async fn delete_quota_pattern(&self, id: QuotaPatternId) -> Result<(), Error> {
        let ctx = "quota_patterns.delete";
        let deleted = with_conn!(self, write, ctx, |conn| diesel::delete(
            qp::table.find(id.get())
        )
        .execute(conn)
        .await)?;
        if deleted == 0 {
            return Err(Error::not_found(ENTITY, id));
        }
        Ok(())
    }
}
