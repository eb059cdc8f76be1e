//! Accounts: CRUD, listing, atomic usage and health counters, proxy assignment.

use aigw_domain::{
    Account, AccountFilter, AccountHealthChange, AccountHealthDelta, AccountId, AccountPatch,
    AuthData, HealthStatus, HealthThresholds, NewAccount, Page, Paged, ProviderId, ProxyId,
};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::convert::{
    account_id, db_time, opt_db_time, opt_time, parse, provider_id, time, user_id,
};
use super::repository::SqlRepository;
use super::schema::accounts;
use super::secrets::{open_auth, seal_auth};
use super::stats_batches::{StageWrite, StatsStage};
use super::types::{DbJson, DbTime, DbUuid, now};
use crate::Error;
use crate::crypto::Keyring;

const ENTITY: &str = "account";

/// Sets every proxy's `current_accounts` to the number of active accounts assigned to it,
/// touching only rows whose count is wrong. The same SQL on both backends, without binds.
pub(crate) const RECOUNT_PROXY_ACCOUNTS: &str = "UPDATE proxy_pool SET current_accounts = \
     (SELECT COUNT(*) FROM accounts WHERE accounts.proxy_id = proxy_pool.id AND accounts.is_active) \
     WHERE current_accounts <> \
     (SELECT COUNT(*) FROM accounts WHERE accounts.proxy_id = proxy_pool.id AND accounts.is_active)";

#[derive(Queryable, Selectable)]
#[diesel(table_name = accounts)]
pub(crate) struct AccountRow {
    id: DbUuid,
    provider_id: String,
    label: String,
    auth_data: DbJson,
    metadata: DbJson,
    is_active: bool,
    proxy_id: Option<i64>,
    expires_at: Option<DbTime>,
    last_used_at: Option<DbTime>,
    usage_count: i64,
    health_status: String,
    failure_count: i64,
    last_error_at: Option<DbTime>,
    last_error_msg: Option<String>,
    last_success_at: Option<DbTime>,
    created_by: Option<DbUuid>,
    created_at: DbTime,
    updated_at: DbTime,
    weight: i32,
}

impl AccountRow {
    pub(crate) fn into_domain(
        self,
        ctx: &'static str,
        keyring: Option<&Keyring>,
    ) -> Result<Account, Error> {
        let auth_data = open_auth(keyring, ctx, self.id.0, self.auth_data)?;
        Ok(Account {
            id: account_id(self.id),
            provider_id: provider_id(ctx, "accounts.provider_id", self.provider_id)?,
            label: self.label,
            auth_data,
            metadata: self.metadata.0,
            is_active: self.is_active,
            proxy_id: self.proxy_id.map(ProxyId::new),
            expires_at: opt_time(self.expires_at),
            last_used_at: opt_time(self.last_used_at),
            usage_count: self.usage_count,
            health_status: parse(ctx, "accounts.health_status", &self.health_status)?,
            failure_count: self.failure_count,
            last_error_at: opt_time(self.last_error_at),
            last_error_msg: self.last_error_msg,
            last_success_at: opt_time(self.last_success_at),
            created_by: self.created_by.map(user_id),
            // A weight below 1 cannot be written; read one as 1 all the same.
            weight: u32::try_from(self.weight).unwrap_or(1).max(1),
            created_at: time(self.created_at),
            updated_at: time(self.updated_at),
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = accounts, treat_none_as_default_value = false)]
struct AccountInsert<'a> {
    id: DbUuid,
    provider_id: &'a str,
    label: &'a str,
    auth_data: DbJson,
    metadata: DbJson,
    is_active: bool,
    proxy_id: Option<i64>,
    expires_at: Option<DbTime>,
    usage_count: i64,
    health_status: &'static str,
    failure_count: i64,
    created_by: Option<DbUuid>,
    created_at: DbTime,
    updated_at: DbTime,
    weight: i32,
}

#[derive(AsChangeset)]
#[diesel(table_name = accounts)]
struct AccountChanges<'a> {
    label: Option<&'a str>,
    auth_data: Option<DbJson>,
    metadata: Option<DbJson>,
    is_active: Option<bool>,
    proxy_id: Option<Option<i64>>,
    expires_at: Option<Option<DbTime>>,
    health_status: Option<&'static str>,
    weight: Option<i32>,
    updated_at: DbTime,
}

/// An account weight as stored (the services bound it far below `i32::MAX`).
fn weight_column(weight: u32) -> i32 {
    i32::try_from(weight).unwrap_or(i32::MAX)
}

macro_rules! account_filter {
    ($query:expr, $filter:expr) => {{
        let filter: &AccountFilter = $filter;
        let mut query = $query;
        if let Some(provider) = &filter.provider_id {
            query = query.filter(accounts::provider_id.eq(provider.as_str()));
        }
        if let Some(active) = filter.is_active {
            query = query.filter(accounts::is_active.eq(active));
        }
        if let Some(health) = filter.health_status {
            query = query.filter(accounts::health_status.eq(health.as_str()));
        }
        if let Some(proxy) = filter.proxy_id {
            query = query.filter(accounts::proxy_id.eq(proxy.get()));
        }
        if let Some(user) = filter.created_by {
            query = query.filter(accounts::created_by.eq(DbUuid(user.into())));
        }
        if let Some(from) = filter.created.from {
            query = query.filter(accounts::created_at.ge(db_time(from)));
        }
        if let Some(to) = filter.created.to {
            query = query.filter(accounts::created_at.lt(db_time(to)));
        }
        query
    }};
}

fn key(id: AccountId) -> DbUuid {
    DbUuid(*id.as_uuid())
}

impl SqlRepository {
    /// Creates an account with a fresh id, zero counters and `healthy` health. Its
    /// `expires_at` defaults to the OAuth token's expiry. If it is active and on a proxy,
    /// the proxy's `current_accounts` is recounted in the same transaction.
    pub async fn insert_account(&self, new: &NewAccount) -> Result<Account, Error> {
        let ctx = "accounts.insert";
        let at = DbTime(now());
        let id = key(AccountId::new());
        let row = AccountInsert {
            id,
            provider_id: new.provider_id.as_str(),
            label: &new.label,
            auth_data: seal_auth(self.keyring(), ctx, id.0, &new.auth_data)?,
            metadata: DbJson(new.metadata.clone()),
            is_active: new.is_active,
            proxy_id: new.proxy_id.map(ProxyId::get),
            expires_at: opt_db_time(new.expires_at.or_else(|| new.auth_data.expires_at())),
            usage_count: 0,
            health_status: HealthStatus::Healthy.as_str(),
            failure_count: 0,
            created_by: new.created_by.map(|u| DbUuid(u.into())),
            created_at: at,
            updated_at: at,
            weight: weight_column(new.weight),
        };
        let recount = new.proxy_id.is_some();
        with_tx!(self, ctx, |conn| {
            let created = diesel::insert_into(accounts::table)
                .values(&row)
                .returning(AccountRow::as_returning())
                .get_result(conn)
                .await?;
            if recount {
                diesel::sql_query(RECOUNT_PROXY_ACCOUNTS)
                    .execute(conn)
                    .await?;
            }
            Ok(created)
        })?
        .into_domain(ctx, self.keyring())
    }

    /// The account with this id.
    pub async fn get_account(&self, id: AccountId) -> Result<Account, Error> {
        let ctx = "accounts.get";
        with_conn!(self, read, ctx, |conn| accounts::table
            .find(key(id))
            .select(AccountRow::as_select())
            .first(conn)
            .await
            .optional())?
        .ok_or_else(|| Error::not_found(ENTITY, id))?
        .into_domain(ctx, self.keyring())
    }

    /// Accounts matching `filter`, newest first.
    pub async fn list_accounts(
        &self,
        filter: &AccountFilter,
        page: Page,
    ) -> Result<Paged<Account>, Error> {
        let ctx = "accounts.list";
        let page = page.clamped();
        let (total, rows) = with_conn!(self, read, ctx, |conn| {
            let total: i64 = account_filter!(accounts::table.into_boxed(), filter)
                .count()
                .get_result(conn)
                .await?;
            let rows = account_filter!(accounts::table.into_boxed(), filter)
                .order((accounts::created_at.desc(), accounts::id.desc()))
                .limit(page.limit)
                .offset(page.offset)
                .select(AccountRow::as_select())
                .load(conn)
                .await?;
            Ok((total, rows))
        })?;
        Ok(Paged {
            data: into_accounts(ctx, rows, self.keyring())?,
            total,
            limit: page.limit,
            offset: page.offset,
        })
    }

    /// Every active account, of one provider or of all, ordered by id (a stable order for
    /// round-robin).
    pub async fn list_active_accounts(
        &self,
        provider: Option<&ProviderId>,
    ) -> Result<Vec<Account>, Error> {
        let ctx = "accounts.list_active";
        let rows = with_conn!(self, read, ctx, |conn| {
            let mut query = accounts::table
                .filter(accounts::is_active.eq(true))
                .into_boxed();
            if let Some(provider) = provider {
                query = query.filter(accounts::provider_id.eq(provider.as_str()));
            }
            query
                .order(accounts::id.asc())
                .select(AccountRow::as_select())
                .load(conn)
                .await
        })?;
        into_accounts(ctx, rows, self.keyring())
    }

    /// Applies `patch`; fields it leaves `None` are untouched (counters never change here).
    /// A change of proxy or active flag recounts proxy loads in the same transaction.
    pub async fn update_account(
        &self,
        id: AccountId,
        patch: &AccountPatch,
    ) -> Result<Account, Error> {
        let ctx = "accounts.update";
        let changes = AccountChanges {
            label: patch.label.as_deref(),
            auth_data: patch
                .auth_data
                .as_ref()
                .map(|a| seal_auth(self.keyring(), ctx, key(id).0, a))
                .transpose()?,
            metadata: patch.metadata.clone().map(DbJson),
            is_active: patch.is_active,
            proxy_id: patch.proxy_id.map(|p| p.map(ProxyId::get)),
            expires_at: patch.expires_at.map(opt_db_time),
            health_status: patch.health_status.map(HealthStatus::as_str),
            weight: patch.weight.map(weight_column),
            updated_at: DbTime(now()),
        };
        let recount = patch.proxy_id.is_some() || patch.is_active.is_some();
        with_tx!(self, ctx, |conn| {
            let updated = diesel::update(accounts::table.find(key(id)))
                .set(&changes)
                .returning(AccountRow::as_returning())
                .get_result(conn)
                .await
                .optional()?;
            if updated.is_some() && recount {
                diesel::sql_query(RECOUNT_PROXY_ACCOUNTS)
                    .execute(conn)
                    .await?;
            }
            Ok(updated)
        })?
        .ok_or_else(|| Error::not_found(ENTITY, id))?
        .into_domain(ctx, self.keyring())
    }

    /// Deletes an account (its quota patterns go with it) and recounts its proxy's load.
    pub async fn delete_account(&self, id: AccountId) -> Result<(), Error> {
        let ctx = "accounts.delete";
        let deleted = with_tx!(self, ctx, |conn| {
            let proxy: Option<Option<i64>> = diesel::delete(accounts::table.find(key(id)))
                .returning(accounts::proxy_id)
                .get_result(conn)
                .await
                .optional()?;
            if matches!(proxy, Some(Some(_))) {
                diesel::sql_query(RECOUNT_PROXY_ACCOUNTS)
                    .execute(conn)
                    .await?;
            }
            Ok(proxy.is_some())
        })?;
        if !deleted {
            return Err(Error::not_found(ENTITY, id));
        }
        Ok(())
    }

    /// Records `requests` more uses: `usage_count = usage_count + requests` and
    /// `last_used_at = now`, in one statement, so concurrent callers never lose a count.
    pub async fn record_account_usage(&self, id: AccountId, requests: i64) -> Result<(), Error> {
        let ctx = "accounts.record_usage";
        let at = DbTime(now());
        let updated = with_conn!(self, write, ctx, |conn| diesel::update(
            accounts::table.find(key(id))
        )
        .set((
            accounts::usage_count.eq(accounts::usage_count + requests),
            accounts::last_used_at.eq(Some(at)),
        ))
        .execute(conn)
        .await)?;
        found(updated, id)
    }

    /// Records the uses of one stats batch for many accounts (`usage_count += n`,
    /// `last_used_at = now`) in one transaction, together with the marker of `stage`;
    /// writes nothing when the marker is there already (the uses were committed before).
    /// Accounts are updated in id order, so that concurrent batches lock rows in the same
    /// order and cannot deadlock. Returns the accounts that no longer exist (their uses
    /// are dropped; the others are recorded).
    pub async fn record_accounts_usage_once(
        &self,
        stage: &StatsStage,
        uses: &[(AccountId, i64)],
    ) -> Result<StageWrite<Vec<AccountId>>, Error> {
        let ctx = "accounts.record_usage_batch";
        if uses.is_empty() {
            return Ok(StageWrite::Written(Vec::new()));
        }
        let mut uses = uses.to_vec();
        uses.sort_unstable_by_key(|&(id, _)| id);
        let at = DbTime(now());
        let missing = with_tx!(self, ctx, |conn| {
            if !claim_stage!(conn, stage) {
                return Ok(None);
            }
            let mut missing = Vec::new();
            for &(id, requests) in &uses {
                let updated = diesel::update(accounts::table.find(key(id)))
                    .set((
                        accounts::usage_count.eq(accounts::usage_count + requests),
                        accounts::last_used_at.eq(Some(at)),
                    ))
                    .execute(conn)
                    .await?;
                if updated == 0 {
                    missing.push(id);
                }
            }
            Ok(Some(missing))
        })?;
        Ok(missing.map_or(StageWrite::AlreadyWritten, StageWrite::Written))
    }

    /// Records a success: health `healthy`, `failure_count = 0`, `last_success_at = now`.
    pub async fn record_account_success(&self, id: AccountId) -> Result<(), Error> {
        let ctx = "accounts.record_success";
        let at = DbTime(now());
        let updated = with_conn!(self, write, ctx, |conn| diesel::update(
            accounts::table.find(key(id))
        )
        .set((
            accounts::health_status.eq(HealthStatus::Healthy.as_str()),
            accounts::failure_count.eq(0_i64),
            accounts::last_success_at.eq(Some(at)),
        ))
        .execute(conn)
        .await)?;
        found(updated, id)
    }

    /// Records a failure: `failure_count = failure_count + 1`, `last_error_at = now` and the
    /// message. Returns the new `failure_count`, for the caller's health decision.
    pub async fn record_account_failure(&self, id: AccountId, message: &str) -> Result<i64, Error> {
        let ctx = "accounts.record_failure";
        let at = DbTime(now());
        with_conn!(self, write, ctx, |conn| diesel::update(
            accounts::table.find(key(id))
        )
        .set((
            accounts::failure_count.eq(accounts::failure_count + 1_i64),
            accounts::last_error_at.eq(Some(at)),
            accounts::last_error_msg.eq(Some(message)),
        ))
        .returning(accounts::failure_count)
        .get_result::<i64>(conn)
        .await
        .optional())?
        .ok_or_else(|| Error::not_found(ENTITY, id))
    }

    /// Applies one stats batch's outcomes to many accounts' health, in one transaction, in
    /// id order (so concurrent writers lock rows in the same order): a success resets
    /// `failure_count` to the failures after it and sets `last_success_at`; failures add to
    /// it and set `last_error_at`/`last_error_msg`; `health_status` follows the new count
    /// through `thresholds`. Returns each existing account's health before and after
    /// (accounts deleted meanwhile are skipped).
    pub async fn record_accounts_health(
        &self,
        deltas: &[AccountHealthDelta],
        thresholds: &HealthThresholds,
    ) -> Result<Vec<AccountHealthChange>, Error> {
        let ctx = "accounts.record_health_batch";
        if deltas.is_empty() {
            return Ok(Vec::new());
        }
        let mut deltas = deltas.to_vec();
        deltas.sort_unstable_by_key(|d| d.account_id);
        let at = DbTime(now());
        let rows = with_tx!(self, ctx, |conn| {
            let mut rows = Vec::with_capacity(deltas.len());
            for delta in &deltas {
                let current: Option<(String, i64)> = accounts::table
                    .find(key(delta.account_id))
                    .select((accounts::health_status, accounts::failure_count))
                    .first(conn)
                    .await
                    .optional()?;
                let Some((before, count)) = current else {
                    continue;
                };
                let failures = if delta.last_success_at.is_some() {
                    delta.failures
                } else {
                    count.saturating_add(delta.failures)
                };
                let after = thresholds.status(failures);
                diesel::update(accounts::table.find(key(delta.account_id)))
                    .set((
                        accounts::failure_count.eq(failures),
                        accounts::health_status.eq(after.as_str()),
                    ))
                    .execute(conn)
                    .await?;
                if let Some(success) = delta.last_success_at {
                    diesel::update(accounts::table.find(key(delta.account_id)))
                        .set(accounts::last_success_at.eq(Some(DbTime(success))))
                        .execute(conn)
                        .await?;
                }
                if let Some((error_at, message)) = &delta.last_error {
                    diesel::update(accounts::table.find(key(delta.account_id)))
                        .set((
                            accounts::last_error_at.eq(Some(DbTime(*error_at))),
                            accounts::last_error_msg.eq(Some(message.replace('\0', ""))),
                        ))
                        .execute(conn)
                        .await?;
                }
                if before != after.as_str() {
                    diesel::update(accounts::table.find(key(delta.account_id)))
                        .set(accounts::updated_at.eq(at))
                        .execute(conn)
                        .await?;
                }
                rows.push((delta.account_id, before, after, failures));
            }
            Ok(rows)
        })?;
        rows.into_iter()
            .map(|(account_id, before, after, failure_count)| {
                Ok(AccountHealthChange {
                    account_id,
                    before: parse(ctx, "accounts.health_status", &before)?,
                    after,
                    failure_count,
                })
            })
            .collect()
    }

    /// Sets an account's health.
    pub async fn set_account_health(
        &self,
        id: AccountId,
        health: HealthStatus,
    ) -> Result<(), Error> {
        let ctx = "accounts.set_health";
        let at = DbTime(now());
        let updated = with_conn!(self, write, ctx, |conn| diesel::update(
            accounts::table.find(key(id))
        )
        .set((
            accounts::health_status.eq(health.as_str()),
            accounts::updated_at.eq(at),
        ))
        .execute(conn)
        .await)?;
        found(updated, id)
    }

    /// Stores refreshed credentials and keeps the `expires_at` column in step with them.
    pub async fn update_account_credentials(
        &self,
        id: AccountId,
        auth_data: &AuthData,
    ) -> Result<(), Error> {
        let ctx = "accounts.update_credentials";
        let at = DbTime(now());
        let stored = seal_auth(self.keyring(), ctx, key(id).0, auth_data)?;
        let expires = opt_db_time(auth_data.expires_at());
        let updated = with_conn!(self, write, ctx, |conn| diesel::update(
            accounts::table.find(key(id))
        )
        .set((
            accounts::auth_data.eq(&stored),
            accounts::expires_at.eq(expires),
            accounts::updated_at.eq(at),
        ))
        .execute(conn)
        .await)?;
        found(updated, id)
    }

    /// Moves an account to another provider, credential, proxy and counters kept (a data
    /// migration, as when ChatGPT OAuth accounts leave `openai` for `codex`).
    pub async fn set_account_provider(
        &self,
        id: AccountId,
        provider: &ProviderId,
    ) -> Result<(), Error> {
        let ctx = "accounts.set_provider";
        let at = DbTime(now());
        let updated = with_conn!(self, write, ctx, |conn| diesel::update(
            accounts::table.find(key(id))
        )
        .set((
            accounts::provider_id.eq(provider.as_str()),
            accounts::updated_at.eq(at),
        ))
        .execute(conn)
        .await)?;
        found(updated, id)
    }

    /// Assigns an account to a proxy (or to none) and recounts proxy loads, in one
    /// transaction.
    pub async fn set_account_proxy(
        &self,
        id: AccountId,
        proxy: Option<ProxyId>,
    ) -> Result<(), Error> {
        let ctx = "accounts.set_proxy";
        let at = DbTime(now());
        let proxy = proxy.map(ProxyId::get);
        let updated = with_tx!(self, ctx, |conn| {
            let updated = diesel::update(accounts::table.find(key(id)))
                .set((accounts::proxy_id.eq(proxy), accounts::updated_at.eq(at)))
                .execute(conn)
                .await?;
            if updated > 0 {
                diesel::sql_query(RECOUNT_PROXY_ACCOUNTS)
                    .execute(conn)
                    .await?;
            }
            Ok(updated)
        })?;
        found(updated, id)
    }
}

fn found(updated: usize, id: AccountId) -> Result<(), Error> {
    if updated == 0 {
        Err(Error::not_found(ENTITY, id))
    } else {
        Ok(())
    }
}

pub(crate) fn into_accounts(
    ctx: &'static str,
    rows: Vec<AccountRow>,
    keyring: Option<&Keyring>,
) -> Result<Vec<Account>, Error> {
    rows.into_iter()
        .map(|r| r.into_domain(ctx, keyring))
        .collect()
}
