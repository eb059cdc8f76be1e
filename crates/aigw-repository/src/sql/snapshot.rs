//! Everything the in-memory routing snapshot is built from, loaded in one consistent read.

use aigw_domain::{Account, ApiKey, ModelMapping, Provider, Proxy, User};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::accounts::{AccountRow, into_accounts};
use super::mappings::MappingRow;
use super::providers::ProviderRow;
use super::proxies::ProxyRow;
use super::repository::SqlRepository;
use super::schema::{accounts, api_keys, model_mappings, providers, proxy_pool, users};
use super::users::{ApiKeyRow, UserRow};
use crate::Error;

/// The rows the gateway's routing snapshot needs: all of them, active or not, so the
/// snapshot can answer "inactive" as well as "unknown".
#[derive(Debug, Clone, Default)]
pub struct SnapshotData {
    /// Every provider, by id.
    pub providers: Vec<Provider>,
    /// Every account, by id.
    pub accounts: Vec<Account>,
    /// Every proxy, by id.
    pub proxies: Vec<Proxy>,
    /// Every model mapping, highest priority first, then by alias.
    pub model_mappings: Vec<ModelMapping>,
    /// Every API key, by id.
    pub api_keys: Vec<ApiKey>,
    /// Every user (owners of keys and mappings), by id.
    pub users: Vec<User>,
}

impl SqlRepository {
    /// Loads the providers, accounts, proxies, mappings, API keys and users in six queries
    /// inside one read-only transaction, so they are mutually consistent. Account, proxy
    /// and provider base-URL credentials come back decrypted (the snapshot holds them in memory, so requests
    /// never decrypt); a value the keyring cannot open fails the load with
    /// [`Error::Secret`] rather than leave an account unusable.
    pub async fn load_snapshot(&self) -> Result<SnapshotData, Error> {
        let ctx = "snapshot.load";
        let (p, a, x, m, k, u) = with_read_tx!(self, ctx, |conn| {
            let p = providers::table
                .order(providers::id.asc())
                .select(ProviderRow::as_select())
                .load(conn)
                .await?;
            let a = accounts::table
                .order(accounts::id.asc())
                .select(AccountRow::as_select())
                .load(conn)
                .await?;
            let x = proxy_pool::table
                .order(proxy_pool::id.asc())
                .select(ProxyRow::as_select())
                .load(conn)
                .await?;
            let m = model_mappings::table
                .order((model_mappings::priority.desc(), model_mappings::alias.asc()))
                .select(MappingRow::as_select())
                .load(conn)
                .await?;
            let k = api_keys::table
                .order(api_keys::id.asc())
                .select(ApiKeyRow::as_select())
                .load(conn)
                .await?;
            let u = users::table
                .order(users::id.asc())
                .select(UserRow::as_select())
                .load(conn)
                .await?;
            Ok((p, a, x, m, k, u))
        })?;
        Ok(SnapshotData {
            providers: p
                .into_iter()
                .map(|r| r.into_domain(ctx, self.keyring()))
                .collect::<Result<_, _>>()?,
            accounts: into_accounts(ctx, a, self.keyring())?,
            proxies: x
                .into_iter()
                .map(|r| r.into_domain(ctx, self.keyring()))
                .collect::<Result<_, _>>()?,
            model_mappings: m
                .into_iter()
                .map(|r| r.into_domain(ctx))
                .collect::<Result<_, _>>()?,
            api_keys: k.into_iter().map(ApiKeyRow::into_domain).collect(),
            users: u
                .into_iter()
                .map(|r| r.into_domain(ctx))
                .collect::<Result<_, _>>()?,
        })
    }
}
