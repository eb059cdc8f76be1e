//! The proxy pool: CRUD, health and failure counters, load recount, and daily stats.

use std::collections::BTreeMap;

use aigw_domain::{
    HealthStatus, NewProxy, Page, Paged, ProviderId, Proxy, ProxyFilter, ProxyId, ProxyPatch,
    ProxyProtocol, ProxyStats, ProxyStatsDelta, ProxyStatsFilter, ProxyUrl,
};
use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;

use super::accounts::RECOUNT_PROXY_ACCOUNTS;
use super::convert::{opt_time, parse, provider_id, time};
use super::repository::{PRUNE_ROWS_PER_DELETE, SqlRepository};
use super::schema::{proxy_pool, proxy_stats};
use super::secrets::{open_proxy_url, seal_proxy_url};
use super::stats_batches::{StageWrite, StatsStage};
use super::types::{DbTime, now};
use crate::Error;
use crate::crypto::Keyring;

const ENTITY: &str = "proxy";

#[derive(Queryable, Selectable)]
#[diesel(table_name = proxy_pool)]
pub(crate) struct ProxyRow {
    id: i64,
    url: String,
    protocol: String,
    is_active: bool,
    health_status: String,
    max_accounts: i64,
    current_accounts: i64,
    last_used_at: Option<DbTime>,
    usage_count: i64,
    priority: i32,
    weight: i32,
    consecutive_failures: i32,
    max_failures: i32,
    success_rate: f64,
    avg_latency_ms: i64,
    last_checked_at: Option<DbTime>,
    marked_down_at: Option<DbTime>,
    created_at: DbTime,
    updated_at: DbTime,
    credentials: Option<String>,
    last_latency_ms: Option<i64>,
}

impl ProxyRow {
    pub(crate) fn into_domain(
        self,
        ctx: &'static str,
        keyring: Option<&Keyring>,
    ) -> Result<Proxy, Error> {
        let url = open_proxy_url(keyring, ctx, self.id, self.url, self.credentials)?;
        Ok(Proxy {
            id: ProxyId::new(self.id),
            url: ProxyUrl::new(url),
            protocol: parse::<ProxyProtocol>(ctx, "proxy_pool.protocol", &self.protocol)?,
            is_active: self.is_active,
            health_status: parse(ctx, "proxy_pool.health_status", &self.health_status)?,
            max_accounts: self.max_accounts,
            current_accounts: self.current_accounts,
            last_used_at: opt_time(self.last_used_at),
            usage_count: self.usage_count,
            priority: self.priority,
            weight: self.weight,
            consecutive_failures: self.consecutive_failures,
            max_failures: self.max_failures,
            success_rate: self.success_rate,
            avg_latency_ms: self.avg_latency_ms,
            last_checked_at: opt_time(self.last_checked_at),
            last_latency_ms: self.last_latency_ms,
            marked_down_at: opt_time(self.marked_down_at),
            created_at: time(self.created_at),
            updated_at: time(self.updated_at),
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = proxy_pool, treat_none_as_default_value = false)]
struct ProxyInsert {
    url: String,
    credentials: Option<String>,
    protocol: &'static str,
    is_active: bool,
    health_status: &'static str,
    max_accounts: i64,
    current_accounts: i64,
    usage_count: i64,
    priority: i32,
    weight: i32,
    consecutive_failures: i32,
    max_failures: i32,
    success_rate: f64,
    avg_latency_ms: i64,
    created_at: DbTime,
    updated_at: DbTime,
}

#[derive(AsChangeset)]
#[diesel(table_name = proxy_pool)]
struct ProxyChanges {
    url: Option<String>,
    credentials: Option<Option<String>>,
    protocol: Option<&'static str>,
    is_active: Option<bool>,
    health_status: Option<&'static str>,
    marked_down_at: Option<Option<DbTime>>,
    max_accounts: Option<i64>,
    priority: Option<i32>,
    weight: Option<i32>,
    max_failures: Option<i32>,
    updated_at: DbTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = proxy_stats)]
struct ProxyStatsRow {
    proxy_id: i64,
    provider_id: String,
    date: NaiveDate,
    request_count: i64,
    success_count: i64,
    error_count: i64,
    total_latency_ms: i64,
}

impl ProxyStatsRow {
    fn into_domain(self, ctx: &'static str) -> Result<ProxyStats, Error> {
        Ok(ProxyStats {
            proxy_id: ProxyId::new(self.proxy_id),
            provider_id: stats_provider(ctx, self.provider_id)?,
            date: self.date,
            request_count: self.request_count,
            success_count: self.success_count,
            error_count: self.error_count,
            total_latency_ms: self.total_latency_ms,
        })
    }
}

/// `proxy_stats.provider_id` stores unattributed traffic as `''` so the unique key holds.
fn stats_provider(ctx: &'static str, text: String) -> Result<Option<ProviderId>, Error> {
    if text.is_empty() {
        Ok(None)
    } else {
        provider_id(ctx, "proxy_stats.provider_id", text).map(Some)
    }
}

#[derive(Insertable)]
#[diesel(table_name = proxy_stats, treat_none_as_default_value = false)]
struct ProxyStatsInsert {
    proxy_id: i64,
    provider_id: String,
    date: NaiveDate,
    request_count: i64,
    success_count: i64,
    error_count: i64,
    total_latency_ms: i64,
}

macro_rules! proxy_filter {
    ($query:expr, $filter:expr) => {{
        let filter: &ProxyFilter = $filter;
        let mut query = $query;
        if let Some(active) = filter.is_active {
            query = query.filter(proxy_pool::is_active.eq(active));
        }
        if let Some(health) = filter.health_status {
            query = query.filter(proxy_pool::health_status.eq(health.as_str()));
        }
        query
    }};
}

macro_rules! stats_filter {
    ($query:expr, $filter:expr) => {{
        let filter: &ProxyStatsFilter = $filter;
        let mut query = $query;
        if let Some(proxy) = filter.proxy_id {
            query = query.filter(proxy_stats::proxy_id.eq(proxy.get()));
        }
        if let Some(provider) = &filter.provider_id {
            let key = provider.as_ref().map_or("", ProviderId::as_str);
            query = query.filter(proxy_stats::provider_id.eq(key));
        }
        if let Some(from) = filter.from {
            query = query.filter(proxy_stats::date.ge(from));
        }
        if let Some(to) = filter.to {
            query = query.filter(proxy_stats::date.le(to));
        }
        query
    }};
}

/// When a health change sets `marked_down_at`: now when going down, cleared otherwise.
fn marked_down(health: HealthStatus, at: DbTime) -> Option<DbTime> {
    (health == HealthStatus::Down).then_some(at)
}

impl SqlRepository {
    /// Adds a proxy; [`Error::Conflict`] if the URL is already in the pool.
    pub async fn insert_proxy(&self, new: &NewProxy) -> Result<Proxy, Error> {
        let ctx = "proxies.insert";
        let at = DbTime(now());
        let (url, credentials) = seal_proxy_url(self.keyring(), ctx, new.url.expose())?;
        let row = ProxyInsert {
            url,
            credentials,
            protocol: new.effective_protocol().as_str(),
            is_active: new.is_active,
            health_status: HealthStatus::Healthy.as_str(),
            max_accounts: new.max_accounts,
            current_accounts: 0,
            usage_count: 0,
            priority: new.priority,
            weight: new.weight,
            consecutive_failures: 0,
            max_failures: new.max_failures,
            success_rate: 100.0,
            avg_latency_ms: 0,
            created_at: at,
            updated_at: at,
        };
        with_conn!(self, write, ctx, |conn| diesel::insert_into(
            proxy_pool::table
        )
        .values(&row)
        .returning(ProxyRow::as_returning())
        .get_result(conn)
        .await)?
        .into_domain(ctx, self.keyring())
    }

    /// The proxy with this id.
    pub async fn get_proxy(&self, id: ProxyId) -> Result<Proxy, Error> {
        let ctx = "proxies.get";
        with_conn!(self, read, ctx, |conn| proxy_pool::table
            .find(id.get())
            .select(ProxyRow::as_select())
            .first(conn)
            .await
            .optional())?
        .ok_or_else(|| Error::not_found(ENTITY, id))?
        .into_domain(ctx, self.keyring())
    }

    /// Proxies matching `filter` in fill order: highest priority first, then least loaded,
    /// then oldest.
    pub async fn list_proxies(
        &self,
        filter: &ProxyFilter,
        page: Page,
    ) -> Result<Paged<Proxy>, Error> {
        let ctx = "proxies.list";
        let page = page.clamped();
        let (total, rows) = with_conn!(self, read, ctx, |conn| {
            let total: i64 = proxy_filter!(proxy_pool::table.into_boxed(), filter)
                .count()
                .get_result(conn)
                .await?;
            let rows = proxy_filter!(proxy_pool::table.into_boxed(), filter)
                .order((
                    proxy_pool::priority.desc(),
                    proxy_pool::current_accounts.asc(),
                    proxy_pool::id.asc(),
                ))
                .limit(page.limit)
                .offset(page.offset)
                .select(ProxyRow::as_select())
                .load(conn)
                .await?;
            Ok((total, rows))
        })?;
        Ok(Paged {
            data: rows
                .into_iter()
                .map(|r| r.into_domain(ctx, self.keyring()))
                .collect::<Result<_, _>>()?,
            total,
            limit: page.limit,
            offset: page.offset,
        })
    }

    /// Applies `patch`; fields it leaves `None` are untouched. Setting the health also sets
    /// `marked_down_at` (now when `down`, cleared otherwise).
    pub async fn update_proxy(&self, id: ProxyId, patch: &ProxyPatch) -> Result<Proxy, Error> {
        let ctx = "proxies.update";
        let at = DbTime(now());
        let sealed = patch
            .url
            .as_ref()
            .map(|u| seal_proxy_url(self.keyring(), ctx, u.expose()))
            .transpose()?;
        let (url, credentials) = match sealed {
            Some((url, credentials)) => (Some(url), Some(credentials)),
            None => (None, None),
        };
        let changes = ProxyChanges {
            url,
            credentials,
            protocol: patch.protocol.map(ProxyProtocol::as_str),
            is_active: patch.is_active,
            health_status: patch.health_status.map(HealthStatus::as_str),
            marked_down_at: patch.health_status.map(|h| marked_down(h, at)),
            max_accounts: patch.max_accounts,
            priority: patch.priority,
            weight: patch.weight,
            max_failures: patch.max_failures,
            updated_at: at,
        };
        with_conn!(self, write, ctx, |conn| diesel::update(
            proxy_pool::table.find(id.get())
        )
        .set(&changes)
        .returning(ProxyRow::as_returning())
        .get_result(conn)
        .await
        .optional())?
        .ok_or_else(|| Error::not_found(ENTITY, id))?
        .into_domain(ctx, self.keyring())
    }

    /// Removes a proxy: its accounts run without one (`proxy_id` set to NULL) and its
    /// stats are deleted.
    pub async fn delete_proxy(&self, id: ProxyId) -> Result<(), Error> {
        let ctx = "proxies.delete";
        let deleted = with_conn!(self, write, ctx, |conn| diesel::delete(
            proxy_pool::table.find(id.get())
        )
        .execute(conn)
        .await)?;
        if deleted == 0 {
            return Err(Error::not_found(ENTITY, id));
        }
        Ok(())
    }

    /// Sets every proxy's `current_accounts` from a count of the active accounts assigned
    /// to it (never a blind ±1, so drift heals). Returns how many proxies changed.
    pub async fn recount_proxy_accounts(&self) -> Result<usize, Error> {
        let ctx = "proxies.recount";
        with_conn!(self, write, ctx, |conn| diesel::sql_query(
            RECOUNT_PROXY_ACCOUNTS
        )
        .execute(conn)
        .await)
    }

    /// Records the outcome of a health check: the health, `last_checked_at = now`, and
    /// `marked_down_at` (now when `down`, cleared otherwise).
    pub async fn set_proxy_health(&self, id: ProxyId, health: HealthStatus) -> Result<(), Error> {
        let ctx = "proxies.set_health";
        let at = DbTime(now());
        let updated = with_conn!(self, write, ctx, |conn| diesel::update(
            proxy_pool::table.find(id.get())
        )
        .set((
            proxy_pool::health_status.eq(health.as_str()),
            proxy_pool::last_checked_at.eq(Some(at)),
            proxy_pool::marked_down_at.eq(marked_down(health, at)),
        ))
        .execute(conn)
        .await)?;
        if updated == 0 {
            return Err(Error::not_found(ENTITY, id));
        }
        Ok(())
    }

    /// Records a health probe: `last_checked_at = now`; on success (`latency` given)
    /// `consecutive_failures = 0`, `last_latency_ms` and the moving averages of latency and
    /// success rate updated; on failure `consecutive_failures + 1` and `last_latency_ms`
    /// cleared. Returns the proxy as it is after the write, for the caller's health decision.
    pub async fn record_proxy_probe(
        &self,
        id: ProxyId,
        latency: Option<std::time::Duration>,
    ) -> Result<Proxy, Error> {
        let ctx = "proxies.record_probe";
        let at = DbTime(now());
        let current = self.get_proxy(id).await?;
        // Moving averages over the recent probes (weight 1/4 on the newest), so one slow or
        // failed probe shows without hiding the trend.
        let ok = latency.is_some();
        let success_rate = current.success_rate * 0.75 + if ok { 25.0 } else { 0.0 };
        let ms = latency.map(|l| i64::try_from(l.as_millis()).unwrap_or(i64::MAX));
        let avg_latency_ms = match (ms, current.last_checked_at) {
            (Some(ms), Some(_)) if current.avg_latency_ms > 0 => {
                (current.avg_latency_ms.saturating_mul(3).saturating_add(ms)) / 4
            }
            (Some(ms), _) => ms,
            (None, _) => current.avg_latency_ms,
        };
        // One expression for both outcomes, so concurrent failures counted
        // from traffic are never lost: 0 after a success, + 1 after a failure.
        let failures = (proxy_pool::consecutive_failures + 1) * i32::from(!ok);
        let result = with_conn!(self, write, ctx, |conn| diesel::update(
            proxy_pool::table.find(id.get())
        )
        .set((
            proxy_pool::last_checked_at.eq(Some(at)),
            proxy_pool::last_latency_ms.eq(ms),
            proxy_pool::success_rate.eq(success_rate),
            proxy_pool::avg_latency_ms.eq(avg_latency_ms),
            proxy_pool::consecutive_failures.eq(failures),
        ))
        .returning(ProxyRow::as_returning())
        .get_result(conn)
        .await
        .optional())?;
        result
            .ok_or_else(|| Error::not_found(ENTITY, id))?
            .into_domain(ctx, self.keyring())
    }

    /// Adds `failures` tunnel failures seen on real traffic to `consecutive_failures` and
    /// returns the proxy as it is after the write.
    pub async fn add_proxy_failures(&self, id: ProxyId, failures: i32) -> Result<Proxy, Error> {
        let ctx = "proxies.add_failures";
        with_conn!(self, write, ctx, |conn| diesel::update(
            proxy_pool::table.find(id.get())
        )
        .set(
            proxy_pool::consecutive_failures.eq(proxy_pool::consecutive_failures + failures.max(0)),
        )
        .returning(ProxyRow::as_returning())
        .get_result(conn)
        .await
        .optional())?
        .ok_or_else(|| Error::not_found(ENTITY, id))?
        .into_domain(ctx, self.keyring())
    }

    /// Records a request that went through the proxy: `usage_count + 1`,
    /// `last_used_at = now`, and `consecutive_failures` reset on success or `+ 1` on
    /// failure. Returns the new `consecutive_failures`, for the caller to compare with
    /// `max_failures`.
    pub async fn record_proxy_result(&self, id: ProxyId, success: bool) -> Result<i32, Error> {
        let ctx = "proxies.record_result";
        let at = DbTime(now());
        let result = with_conn!(self, write, ctx, |conn| {
            let target = diesel::update(proxy_pool::table.find(id.get()));
            let common = (
                proxy_pool::usage_count.eq(proxy_pool::usage_count + 1_i64),
                proxy_pool::last_used_at.eq(Some(at)),
            );
            if success {
                target
                    .set((common, proxy_pool::consecutive_failures.eq(0)))
                    .returning(proxy_pool::consecutive_failures)
                    .get_result::<i32>(conn)
                    .await
                    .optional()
            } else {
                target
                    .set((
                        common,
                        proxy_pool::consecutive_failures.eq(proxy_pool::consecutive_failures + 1),
                    ))
                    .returning(proxy_pool::consecutive_failures)
                    .get_result::<i32>(conn)
                    .await
                    .optional()
            }
        })?;
        result.ok_or_else(|| Error::not_found(ENTITY, id))
    }

    /// Adds `deltas` to the daily proxy stats, creating rows on first use, with
    /// `INSERT … ON CONFLICT (proxy_id, provider_id, date) DO UPDATE SET n = n + excluded.n`:
    /// concurrent writers (several instances) never lose a count or create a duplicate.
    /// Deltas for the same key are summed first, and keys are written in sorted order so
    /// concurrent batches lock rows in the same order and cannot deadlock.
    pub async fn upsert_proxy_stats(&self, deltas: &[ProxyStatsDelta]) -> Result<(), Error> {
        self.upsert_stats(None, deltas).await.map(|_| ())
    }

    /// Like [`SqlRepository::upsert_proxy_stats`], for the stats writer: writes the marker
    /// of `stage` in the same transaction, and adds nothing when it is there already (the
    /// sums were committed before).
    pub async fn upsert_proxy_stats_once(
        &self,
        stage: &StatsStage,
        deltas: &[ProxyStatsDelta],
    ) -> Result<StageWrite<()>, Error> {
        Ok(if self.upsert_stats(Some(stage), deltas).await? {
            StageWrite::Written(())
        } else {
            StageWrite::AlreadyWritten
        })
    }

    /// The upsert, with or without a stage marker; `false` when the marker was there.
    async fn upsert_stats(
        &self,
        stage: Option<&StatsStage>,
        deltas: &[ProxyStatsDelta],
    ) -> Result<bool, Error> {
        let ctx = "proxy_stats.upsert";
        let mut merged: BTreeMap<(i64, String, NaiveDate), [i64; 4]> = BTreeMap::new();
        for d in deltas {
            let key = (
                d.proxy_id.get(),
                d.provider_id
                    .as_ref()
                    .map_or_else(String::new, |p| p.as_str().to_owned()),
                d.date,
            );
            let sums = merged.entry(key).or_default();
            sums[0] += d.request_count;
            sums[1] += d.success_count;
            sums[2] += d.error_count;
            sums[3] += d.total_latency_ms;
        }
        if merged.is_empty() {
            return Ok(true);
        }
        let rows: Vec<ProxyStatsInsert> = merged
            .into_iter()
            .map(
                |((proxy_id, provider_id, date), [req, ok, err, lat])| ProxyStatsInsert {
                    proxy_id,
                    provider_id,
                    date,
                    request_count: req,
                    success_count: ok,
                    error_count: err,
                    total_latency_ms: lat,
                },
            )
            .collect();
        with_tx!(self, ctx, |conn| {
            if let Some(stage) = stage
                && !claim_stage!(conn, stage)
            {
                return Ok(false);
            }
            for row in &rows {
                diesel::insert_into(proxy_stats::table)
                    .values(row)
                    .on_conflict((
                        proxy_stats::proxy_id,
                        proxy_stats::provider_id,
                        proxy_stats::date,
                    ))
                    .do_update()
                    .set((
                        proxy_stats::request_count
                            .eq(proxy_stats::request_count + excluded(proxy_stats::request_count)),
                        proxy_stats::success_count
                            .eq(proxy_stats::success_count + excluded(proxy_stats::success_count)),
                        proxy_stats::error_count
                            .eq(proxy_stats::error_count + excluded(proxy_stats::error_count)),
                        proxy_stats::total_latency_ms
                            .eq(proxy_stats::total_latency_ms
                                + excluded(proxy_stats::total_latency_ms)),
                    ))
                    .execute(conn)
                    .await?;
            }
            Ok(true)
        })
    }

    /// Deletes at most `limit` daily proxy-stats rows of days before `before`, oldest
    /// first, in short statements of a few hundred rows (retention); returns how many.
    pub async fn prune_proxy_stats_before(
        &self,
        before: NaiveDate,
        limit: i64,
    ) -> Result<usize, Error> {
        let ctx = "proxy_stats.prune_before";
        // The ids first, then the deletes: diesel's delete takes no ordered, limited
        // subquery.
        with_conn!(self, write, ctx, |conn| {
            let ids: Vec<i64> = proxy_stats::table
                .select(proxy_stats::id)
                .filter(proxy_stats::date.lt(before))
                .order(proxy_stats::date.asc())
                .limit(limit)
                .load(conn)
                .await?;
            let mut deleted = 0;
            for slice in ids.chunks(PRUNE_ROWS_PER_DELETE) {
                deleted += diesel::delete(proxy_stats::table.filter(proxy_stats::id.eq_any(slice)))
                    .execute(conn)
                    .await?;
            }
            Ok(deleted)
        })
    }

    /// Daily proxy stats matching `filter`, newest day first.
    pub async fn list_proxy_stats(
        &self,
        filter: &ProxyStatsFilter,
        page: Page,
    ) -> Result<Paged<ProxyStats>, Error> {
        let ctx = "proxy_stats.list";
        let page = page.clamped();
        let (total, rows) = with_conn!(self, read, ctx, |conn| {
            let total: i64 = stats_filter!(proxy_stats::table.into_boxed(), filter)
                .count()
                .get_result(conn)
                .await?;
            let rows = stats_filter!(proxy_stats::table.into_boxed(), filter)
                .order((
                    proxy_stats::date.desc(),
                    proxy_stats::proxy_id.asc(),
                    proxy_stats::provider_id.asc(),
                ))
                .limit(page.limit)
                .offset(page.offset)
                .select(ProxyStatsRow::as_select())
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
}
