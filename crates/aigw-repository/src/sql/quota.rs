//! Learned quota patterns per (account, model): CRUD and listing.

use aigw_domain::{
    AccountId, AccountQuotaPattern, NewQuotaPattern, Page, Paged, QuotaPatternFilter,
    QuotaPatternId, QuotaPatternPatch,
};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::SqlRepository;
use super::convert::{account_id, opt_db_time, opt_time, time};
use super::schema::account_quota_pattern as qp;
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
        }
    }
}

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

impl SqlRepository {
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
