//! The secret columns: sealing on write, opening on read, and re-sealing stored values
//! under the current key (rotation, and sealing values written before encryption).
//!
//! | value | column | sealed form | clear form (no keyring, or written before) |
//! |---|---|---|---|
//! | account credentials | `accounts.auth_data` | a JSON string holding the sealed text | the credential's JSON object |
//! | proxy `user:password` | `proxy_pool.credentials` | the sealed text; `url` keeps the URL without them | NULL; `url` holds the whole URL |
//! | provider base URL `user:password` | `providers.credentials` | the sealed text; `base_url` keeps the URL without them | NULL; `base_url` holds the whole URL |
//! | provider fallback URL `user:password` | `providers.fallback_base_urls` | the element `{"url": <without them>, "credentials": <sealed>}` | the element is the whole URL |
//! | secret settings (the JWT signing secret, see [`SEALED_SETTINGS`]) | `settings.value` | the sealed text | the value |
//!
//! Both layouts need no other schema change, and a reader tells them apart by shape, so
//! rows written before encryption stay readable. The proxy URL without its credentials
//! is what the unique constraint on `proxy_pool.url` compares: one pool entry per
//! proxy endpoint.

use aigw_domain::AuthData;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::repository::SqlRepository;
use super::schema::{accounts, providers, proxy_pool, settings};
use super::types::{DbJson, DbUuid};
use crate::Error;
use crate::crypto::{Keyring, SecretError, is_sealed, sealed_key_id};

/// The `settings` key of the generated JWT signing secret of management sessions.
pub const JWT_SECRET_SETTING: &str = "auth.jwt_secret";

/// The settings whose values are secrets, sealed at rest and re-sealed by a key
/// rotation. Anyone who can read the JWT secret can sign an admin's session token.
pub const SEALED_SETTINGS: &[&str] = &[JWT_SECRET_SETTING];

/// Rows read and re-written per transaction by a re-sealing pass.
const BATCH: i64 = 200;

/// Writes each `(key, old, new)` of `$writes` in one transaction: `$value` becomes
/// `new` in the row of `$table` whose `$key` is `key`, only if it still holds `old`
/// (never undo a concurrent write such as a token refresh). Evaluates to the number
/// of rows written.
macro_rules! write_unchanged {
    ($self:ident, $ctx:expr, $writes:expr, $table:path, $key:path, $value:path) => {
        with_tx!($self, $ctx, |conn| {
            let mut written = 0_u64;
            for (key, old, new) in $writes {
                let n = diesel::update($table.filter($key.eq(key)).filter($value.eq(old)))
                    .set($value.eq(new))
                    .execute(conn)
                    .await?;
                written += n as u64;
            }
            Ok(written)
        })
    };
}

/// [`write_unchanged!`] for a URL stored apart from its sealed credentials: each
/// `(key, (old url, old credentials), (url, credentials))` of `$writes`.
macro_rules! write_unchanged_url {
    ($self:ident, $ctx:expr, $writes:expr, $table:path, $key:path, $url:path, $credentials:path) => {
        with_tx!($self, $ctx, |conn| {
            let mut written = 0_u64;
            for (key, (old_url, old_credentials), (url, credentials)) in $writes {
                let target = $table.filter($key.eq(key)).filter($url.eq(old_url));
                let changes = ($url.eq(url), $credentials.eq(credentials));
                let n = match old_credentials {
                    Some(old) => {
                        diesel::update(target.filter($credentials.eq(old)))
                            .set(changes)
                            .execute(conn)
                            .await?
                    }
                    None => {
                        diesel::update(target.filter($credentials.is_null()))
                            .set(changes)
                            .execute(conn)
                            .await?
                    }
                };
                written += n as u64;
            }
            Ok(written)
        })
    };
}

fn account_aad(id: Uuid) -> Vec<u8> {
    format!("accounts.auth_data:{}", id.hyphenated()).into_bytes()
}

fn proxy_aad(url: &str) -> Vec<u8> {
    format!("proxy_pool.credentials:{url}").into_bytes()
}

fn provider_aad(id: &str, url: &str) -> Vec<u8> {
    format!("providers.credentials:{id}:{url}").into_bytes()
}

fn provider_row(id: &str) -> String {
    format!("provider `{id}` base_url credentials")
}

fn setting_aad(key: &str) -> Vec<u8> {
    format!("settings.value:{key}").into_bytes()
}

fn setting_row(key: &str) -> String {
    format!("setting `{key}`")
}

fn account_row(id: Uuid) -> String {
    format!("account `{id}` auth_data")
}

fn proxy_row(id: i64) -> String {
    format!("proxy `{id}` credentials")
}

/// Opens `sealed`, naming `row` and the key it needs when that fails.
fn open(
    keyring: Option<&Keyring>,
    ctx: &'static str,
    row: impl FnOnce() -> String,
    sealed: &str,
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let opened = match keyring {
        Some(keyring) => keyring.open(sealed, aad),
        None => Err(match sealed_key_id(sealed) {
            Ok(key_id) => SecretError::NoKeyring {
                key_id: key_id.to_owned(),
            },
            Err(e) => e,
        }),
    };
    opened.map_err(|reason| Error::Secret {
        context: ctx,
        row: row(),
        reason,
    })
}

/// What `accounts.auth_data` stores for `auth` of account `id`.
pub(crate) fn seal_auth(
    keyring: Option<&Keyring>,
    ctx: &'static str,
    id: Uuid,
    auth: &AuthData,
) -> Result<DbJson, Error> {
    seal_auth_json(keyring, ctx, id, auth.to_storage_json())
}

fn seal_auth_json(
    keyring: Option<&Keyring>,
    ctx: &'static str,
    id: Uuid,
    json: Value,
) -> Result<DbJson, Error> {
    let Some(keyring) = keyring else {
        return Ok(DbJson(json));
    };
    // Serialising a `Value` cannot fail (its map keys are strings).
    let plain = Zeroizing::new(serde_json::to_vec(&json).unwrap_or_default());
    keyring
        .seal(&plain, &account_aad(id))
        .map(|sealed| DbJson(Value::String(sealed)))
        .map_err(|reason| Error::Secret {
            context: ctx,
            row: account_row(id),
            reason,
        })
}

/// The credentials stored in `accounts.auth_data` of account `id`, sealed or clear.
pub(crate) fn open_auth(
    keyring: Option<&Keyring>,
    ctx: &'static str,
    id: Uuid,
    stored: DbJson,
) -> Result<AuthData, Error> {
    let invalid =
        |e: serde_json::Error| Error::invalid_row(ctx, format!("column `accounts.auth_data`: {e}"));
    let json = match stored.0 {
        Value::String(sealed) => {
            let plain = open(keyring, ctx, || account_row(id), &sealed, &account_aad(id))?;
            serde_json::from_slice(&plain).map_err(invalid)?
        }
        // Clear: written before encryption, or by a repository without a keyring.
        clear => clear,
    };
    AuthData::from_storage_json(json).map_err(invalid)
}

/// Splits `scheme://user:password@host…` into the URL without the user info and the
/// user info. Only the authority is looked at; the last `@` ends the user info, since a
/// password may contain `@`.
pub(crate) fn split_userinfo(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => (
            format!("{scheme}://{host}{tail}"),
            Some(userinfo.to_owned()),
        ),
        None => (url.to_owned(), None),
    }
}

/// The inverse of [`split_userinfo`].
fn join_userinfo(url: &str, userinfo: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{userinfo}@{rest}"),
        None => url.to_owned(),
    }
}

/// What `proxy_pool.url` and `proxy_pool.credentials` store for the proxy URL `full`.
pub(crate) fn seal_proxy_url(
    keyring: Option<&Keyring>,
    ctx: &'static str,
    full: &str,
) -> Result<(String, Option<String>), Error> {
    let Some(keyring) = keyring else {
        return Ok((full.to_owned(), None));
    };
    let (url, userinfo) = split_userinfo(full);
    let Some(userinfo) = userinfo.map(Zeroizing::new) else {
        return Ok((url, None));
    };
    let sealed = keyring
        .seal(userinfo.as_bytes(), &proxy_aad(&url))
        .map_err(|reason| Error::Secret {
            context: ctx,
            row: format!("proxy `{url}` credentials"),
            reason,
        })?;
    Ok((url, Some(sealed)))
}

/// The whole proxy URL of proxy `id` from its stored columns.
pub(crate) fn open_proxy_url(
    keyring: Option<&Keyring>,
    ctx: &'static str,
    id: i64,
    url: String,
    credentials: Option<String>,
) -> Result<String, Error> {
    let Some(sealed) = credentials else {
        return Ok(url);
    };
    let plain = open(keyring, ctx, || proxy_row(id), &sealed, &proxy_aad(&url))?;
    let userinfo = std::str::from_utf8(&plain)
        .map_err(|_| Error::invalid_row(ctx, "column `proxy_pool.credentials`: not UTF-8 text"))?;
    Ok(join_userinfo(&url, userinfo))
}

/// What `providers.base_url` and `providers.credentials` store for the base URL `full`
/// of provider `id`: with a keyring, the URL without its user info and the user info
/// sealed; without one, the whole URL in clear.
pub(crate) fn seal_provider_url(
    keyring: Option<&Keyring>,
    ctx: &'static str,
    id: &str,
    full: &str,
) -> Result<(String, Option<String>), Error> {
    let Some(keyring) = keyring else {
        return Ok((full.to_owned(), None));
    };
    let (url, userinfo) = split_userinfo(full);
    let Some(userinfo) = userinfo.map(Zeroizing::new) else {
        return Ok((url, None));
    };
    let sealed = keyring
        .seal(userinfo.as_bytes(), &provider_aad(id, &url))
        .map_err(|reason| Error::Secret {
            context: ctx,
            row: provider_row(id),
            reason,
        })?;
    Ok((url, Some(sealed)))
}

/// The whole base URL of provider `id` from its stored columns.
pub(crate) fn open_provider_url(
    keyring: Option<&Keyring>,
    ctx: &'static str,
    id: &str,
    url: String,
    credentials: Option<String>,
) -> Result<String, Error> {
    let Some(sealed) = credentials else {
        return Ok(url);
    };
    let plain = open(
        keyring,
        ctx,
        || provider_row(id),
        &sealed,
        &provider_aad(id, &url),
    )?;
    let userinfo = std::str::from_utf8(&plain)
        .map_err(|_| Error::invalid_row(ctx, "column `providers.credentials`: not UTF-8 text"))?;
    Ok(join_userinfo(&url, userinfo))
}

/// One element of `providers.fallback_base_urls`: a whole URL in clear, or (written
/// with a keyring, when it has user info) the URL without it beside the sealed user info.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum StoredUrl {
    Clear(String),
    Sealed { url: String, credentials: String },
}

impl StoredUrl {
    fn seal(
        keyring: Option<&Keyring>,
        ctx: &'static str,
        id: &str,
        full: &str,
    ) -> Result<Self, Error> {
        let (url, credentials) = seal_provider_url(keyring, ctx, id, full)?;
        Ok(match credentials {
            Some(credentials) => Self::Sealed { url, credentials },
            None => Self::Clear(url),
        })
    }
}

fn stored_urls(ctx: &'static str, value: Value) -> Result<Vec<StoredUrl>, Error> {
    serde_json::from_value(value)
        .map_err(|e| Error::invalid_row(ctx, format!("column `providers.fallback_base_urls`: {e}")))
}

fn stored_urls_json(urls: &[StoredUrl]) -> DbJson {
    DbJson(Value::Array(
        urls.iter()
            .map(|u| match u {
                StoredUrl::Clear(url) => Value::String(url.clone()),
                StoredUrl::Sealed { url, credentials } => {
                    serde_json::json!({"url": url, "credentials": credentials})
                }
            })
            .collect(),
    ))
}

/// What `providers.fallback_base_urls` stores for the fallback URLs `urls` of provider
/// `id`: each sealed like the base URL ([`seal_provider_url`]).
pub(crate) fn seal_fallback_urls(
    keyring: Option<&Keyring>,
    ctx: &'static str,
    id: &str,
    urls: &[String],
) -> Result<DbJson, Error> {
    let stored = urls
        .iter()
        .map(|full| StoredUrl::seal(keyring, ctx, id, full))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(stored_urls_json(&stored))
}

/// The whole fallback URLs of provider `id` from `providers.fallback_base_urls`.
pub(crate) fn open_fallback_urls(
    keyring: Option<&Keyring>,
    ctx: &'static str,
    id: &str,
    stored: DbJson,
) -> Result<Vec<String>, Error> {
    stored_urls(ctx, stored.0)?
        .into_iter()
        .map(|u| match u {
            StoredUrl::Clear(url) => Ok(url),
            StoredUrl::Sealed { url, credentials } => {
                open_provider_url(keyring, ctx, id, url, Some(credentials))
            }
        })
        .collect()
}

/// What `settings.value` stores for the secret setting `key`: sealed with a keyring,
/// clear without one.
pub(crate) fn seal_setting(
    keyring: Option<&Keyring>,
    ctx: &'static str,
    key: &str,
    value: &str,
) -> Result<String, Error> {
    let Some(keyring) = keyring else {
        return Ok(value.to_owned());
    };
    keyring
        .seal(value.as_bytes(), &setting_aad(key))
        .map_err(|reason| Error::Secret {
            context: ctx,
            row: setting_row(key),
            reason,
        })
}

/// The value of the secret setting `key` from what `settings.value` stores, sealed or
/// clear (written before encryption).
pub(crate) fn open_setting(
    keyring: Option<&Keyring>,
    ctx: &'static str,
    key: &str,
    stored: &str,
) -> Result<Zeroizing<String>, Error> {
    if !is_sealed(stored) {
        return Ok(Zeroizing::new(stored.to_owned()));
    }
    let plain = open(keyring, ctx, || setting_row(key), stored, &setting_aad(key))?;
    let text = std::str::from_utf8(&plain)
        .map_err(|_| Error::invalid_row(ctx, "column `settings.value`: not UTF-8 text"))?;
    Ok(Zeroizing::new(text.to_owned()))
}

/// What a re-sealing pass did. Counts only, never values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResealReport {
    /// Account credentials (re)written under the current key.
    pub accounts_sealed: u64,
    /// Account credentials that already were under the current key.
    pub accounts_current: u64,
    /// Proxy credentials (re)written under the current key.
    pub proxies_sealed: u64,
    /// Proxy credentials that already were under the current key.
    pub proxies_current: u64,
    /// Provider base-URL credentials (re)written under the current key.
    pub providers_sealed: u64,
    /// Provider base-URL credentials that already were under the current key.
    pub providers_current: u64,
    /// Secret settings (the JWT signing secret) (re)written under the current key.
    pub settings_sealed: u64,
    /// Secret settings that already were under the current key.
    pub settings_current: u64,
    /// Values left under an older key (a pass that seals clear values only).
    pub left_on_older_keys: u64,
    /// Rows that changed while the pass ran and were left as they were; running the pass
    /// again picks them up.
    pub changed_concurrently: u64,
}

/// Which stored values a pass re-seals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Clear values only.
    Clear,
    /// Every value not under the current key.
    NotCurrent,
}

/// What to do with one stored value.
enum Plan<T> {
    Current,
    OlderKey,
    Reseal(T),
}

impl<T> Plan<T> {
    /// The plan for the value `sealed` of `row`: left alone under the current key, or
    /// under an older one in a pass over clear values; else `reseal` opens and seals it
    /// again.
    fn for_sealed(
        keyring: &Keyring,
        scope: Scope,
        ctx: &'static str,
        sealed: &str,
        row: impl FnOnce() -> String,
        reseal: impl FnOnce() -> Result<T, Error>,
    ) -> Result<Self, Error> {
        let key_id = sealed_key_id(sealed).map_err(|reason| Error::Secret {
            context: ctx,
            row: row(),
            reason,
        })?;
        if key_id == keyring.current_id().as_str() {
            Ok(Self::Current)
        } else if scope == Scope::Clear {
            Ok(Self::OlderKey)
        } else {
            reseal().map(Self::Reseal)
        }
    }
}

impl SqlRepository {
    /// Re-encrypts every account credential and proxy credential that is not under the
    /// keyring's current key (clear values included), reading older values with the
    /// previous keys. Rows are re-written in batches, one transaction per batch, and each
    /// only if it still holds the value that was read, so a concurrent write (a token
    /// refresh) is never overwritten and a crash never leaves a half-written row.
    /// Fails with [`Error::Secret`] naming the first row whose key the keyring lacks.
    pub async fn rotate_secrets(&self) -> Result<ResealReport, Error> {
        self.reseal(Scope::NotCurrent, "secrets.rotate").await
    }

    /// Seals the values stored in clear (written before encryption) under the current key
    /// and leaves sealed values alone. Cheap when there is nothing to do: run at start.
    pub async fn seal_clear_secrets(&self) -> Result<ResealReport, Error> {
        self.reseal(Scope::Clear, "secrets.seal_clear").await
    }

    async fn reseal(&self, scope: Scope, ctx: &'static str) -> Result<ResealReport, Error> {
        let Some(keyring) = self.keyring.as_ref() else {
            return Err(Error::NoSecretKey { context: ctx });
        };
        let mut report = ResealReport::default();
        self.reseal_accounts(keyring, scope, ctx, &mut report)
            .await?;
        self.reseal_proxies(keyring, scope, ctx, &mut report)
            .await?;
        self.reseal_providers(keyring, scope, ctx, &mut report)
            .await?;
        self.reseal_provider_fallbacks(keyring, scope, ctx, &mut report)
            .await?;
        self.reseal_settings(keyring, scope, ctx, &mut report)
            .await?;
        Ok(report)
    }

    /// Re-seals provider base-URL credentials. Providers are few (a row per upstream
    /// service), so one read and at most one transaction.
    async fn reseal_providers(
        &self,
        keyring: &Keyring,
        scope: Scope,
        ctx: &'static str,
        report: &mut ResealReport,
    ) -> Result<(), Error> {
        type Stored = (String, Option<String>);
        let rows: Vec<(String, String, Option<String>)> = with_conn!(self, read, ctx, |conn| {
            providers::table
                .select((providers::id, providers::base_url, providers::credentials))
                .order(providers::id.asc())
                .load(conn)
                .await
        })?;
        let mut writes: Vec<(String, Stored, Stored)> = Vec::new();
        for (id, url, credentials) in rows {
            let plan = match &credentials {
                Some(sealed) => Plan::for_sealed(
                    keyring,
                    scope,
                    ctx,
                    sealed,
                    || provider_row(&id),
                    || {
                        let full = Zeroizing::new(open_provider_url(
                            Some(keyring),
                            ctx,
                            &id,
                            url.clone(),
                            Some(sealed.clone()),
                        )?);
                        seal_provider_url(Some(keyring), ctx, &id, &full)
                    },
                )?,
                None => match split_userinfo(&url) {
                    (_, None) => continue,
                    (_, Some(_)) => Plan::Reseal(seal_provider_url(Some(keyring), ctx, &id, &url)?),
                },
            };
            match plan {
                Plan::Current => report.providers_current += 1,
                Plan::OlderKey => report.left_on_older_keys += 1,
                Plan::Reseal(new) => writes.push((id, (url, credentials), new)),
            }
        }
        if writes.is_empty() {
            return Ok(());
        }
        let written = write_unchanged_url!(
            self,
            ctx,
            &writes,
            providers::table,
            providers::id,
            providers::base_url,
            providers::credentials
        )?;
        report.providers_sealed += written;
        report.changed_concurrently += writes.len() as u64 - written;
        Ok(())
    }

    /// Re-seals the credentials in provider fallback URLs, counted with the base URLs'.
    /// A row is re-written only if its fallback URLs are still the ones read.
    async fn reseal_provider_fallbacks(
        &self,
        keyring: &Keyring,
        scope: Scope,
        ctx: &'static str,
        report: &mut ResealReport,
    ) -> Result<(), Error> {
        let rows: Vec<(String, DbJson)> = with_conn!(self, read, ctx, |conn| {
            providers::table
                .select((providers::id, providers::fallback_base_urls))
                .order(providers::id.asc())
                .load(conn)
                .await
        })?;
        let mut writes: Vec<(String, DbJson, DbJson)> = Vec::new();
        for (id, stored) in rows {
            let mut changed = false;
            let mut next = Vec::new();
            for item in stored_urls(ctx, stored.0.clone())? {
                let item = match item {
                    StoredUrl::Clear(full) if split_userinfo(&full).1.is_some() => {
                        changed = true;
                        StoredUrl::seal(Some(keyring), ctx, &id, &full)?
                    }
                    StoredUrl::Sealed { url, credentials } => {
                        let plan = Plan::for_sealed(
                            keyring,
                            scope,
                            ctx,
                            &credentials,
                            || provider_row(&id),
                            || {
                                let full = Zeroizing::new(open_provider_url(
                                    Some(keyring),
                                    ctx,
                                    &id,
                                    url.clone(),
                                    Some(credentials.clone()),
                                )?);
                                StoredUrl::seal(Some(keyring), ctx, &id, &full)
                            },
                        )?;
                        match plan {
                            Plan::Current => {
                                report.providers_current += 1;
                                StoredUrl::Sealed { url, credentials }
                            }
                            Plan::OlderKey => {
                                report.left_on_older_keys += 1;
                                StoredUrl::Sealed { url, credentials }
                            }
                            Plan::Reseal(resealed) => {
                                changed = true;
                                resealed
                            }
                        }
                    }
                    clear @ StoredUrl::Clear(_) => clear,
                };
                next.push(item);
            }
            if changed {
                writes.push((id, stored, stored_urls_json(&next)));
            }
        }
        if writes.is_empty() {
            return Ok(());
        }
        let written = write_unchanged!(
            self,
            ctx,
            &writes,
            providers::table,
            providers::id,
            providers::fallback_base_urls
        )?;
        report.providers_sealed += written;
        report.changed_concurrently += writes.len() as u64 - written;
        Ok(())
    }

    /// Re-seals the secret settings: the few rows named by [`SEALED_SETTINGS`], so one
    /// read and at most one short transaction.
    async fn reseal_settings(
        &self,
        keyring: &Keyring,
        scope: Scope,
        ctx: &'static str,
        report: &mut ResealReport,
    ) -> Result<(), Error> {
        let rows: Vec<(String, String)> = with_conn!(self, read, ctx, |conn| {
            settings::table
                .select((settings::key, settings::value))
                .filter(settings::key.eq_any(SEALED_SETTINGS))
                .order(settings::key.asc())
                .load(conn)
                .await
        })?;
        let mut writes: Vec<(String, String, String)> = Vec::new();
        for (key, stored) in rows {
            let plan = if is_sealed(&stored) {
                Plan::for_sealed(
                    keyring,
                    scope,
                    ctx,
                    &stored,
                    || setting_row(&key),
                    || {
                        let plain = open_setting(Some(keyring), ctx, &key, &stored)?;
                        seal_setting(Some(keyring), ctx, &key, &plain)
                    },
                )?
            } else {
                Plan::Reseal(seal_setting(Some(keyring), ctx, &key, &stored)?)
            };
            match plan {
                Plan::Current => report.settings_current += 1,
                Plan::OlderKey => report.left_on_older_keys += 1,
                Plan::Reseal(new) => writes.push((key, stored, new)),
            }
        }
        if writes.is_empty() {
            return Ok(());
        }
        let written = write_unchanged!(
            self,
            ctx,
            &writes,
            settings::table,
            settings::key,
            settings::value
        )?;
        report.settings_sealed += written;
        report.changed_concurrently += writes.len() as u64 - written;
        Ok(())
    }

    async fn reseal_accounts(
        &self,
        keyring: &Keyring,
        scope: Scope,
        ctx: &'static str,
        report: &mut ResealReport,
    ) -> Result<(), Error> {
        let mut after: Option<DbUuid> = None;
        loop {
            let rows: Vec<(DbUuid, DbJson)> = with_conn!(self, read, ctx, |conn| {
                let mut query = accounts::table
                    .select((accounts::id, accounts::auth_data))
                    .order(accounts::id.asc())
                    .limit(BATCH)
                    .into_boxed();
                if let Some(last) = after {
                    query = query.filter(accounts::id.gt(last));
                }
                query.load(conn).await
            })?;
            let Some((last, _)) = rows.last() else {
                return Ok(());
            };
            after = Some(*last);
            let mut writes = Vec::new();
            for (id, stored) in rows {
                let plan = match &stored.0 {
                    Value::String(sealed) if is_sealed(sealed) => Plan::for_sealed(
                        keyring,
                        scope,
                        ctx,
                        sealed,
                        || account_row(id.0),
                        || {
                            let plain = open(
                                Some(keyring),
                                ctx,
                                || account_row(id.0),
                                sealed,
                                &account_aad(id.0),
                            )?;
                            let json: Value = serde_json::from_slice(&plain).map_err(|e| {
                                Error::invalid_row(ctx, format!("column `accounts.auth_data`: {e}"))
                            })?;
                            seal_auth_json(Some(keyring), ctx, id.0, json)
                        },
                    )?,
                    clear => Plan::Reseal(seal_auth_json(Some(keyring), ctx, id.0, clear.clone())?),
                };
                match plan {
                    Plan::Current => report.accounts_current += 1,
                    Plan::OlderKey => report.left_on_older_keys += 1,
                    Plan::Reseal(new) => writes.push((id, stored, new)),
                }
            }
            if writes.is_empty() {
                continue;
            }
            let written = write_unchanged!(
                self,
                ctx,
                &writes,
                accounts::table,
                accounts::id,
                accounts::auth_data
            )?;
            report.accounts_sealed += written;
            report.changed_concurrently += writes.len() as u64 - written;
        }
    }

    async fn reseal_proxies(
        &self,
        keyring: &Keyring,
        scope: Scope,
        ctx: &'static str,
        report: &mut ResealReport,
    ) -> Result<(), Error> {
        type Stored = (String, Option<String>);
        let mut after: i64 = i64::MIN;
        loop {
            let rows: Vec<(i64, String, Option<String>)> = with_conn!(self, read, ctx, |conn| {
                proxy_pool::table
                    .select((proxy_pool::id, proxy_pool::url, proxy_pool::credentials))
                    .filter(proxy_pool::id.gt(after))
                    .order(proxy_pool::id.asc())
                    .limit(BATCH)
                    .load(conn)
                    .await
            })?;
            let Some((last, _, _)) = rows.last() else {
                return Ok(());
            };
            after = *last;
            let mut writes: Vec<(i64, Stored, Stored)> = Vec::new();
            for (id, url, credentials) in rows {
                let plan = match &credentials {
                    Some(sealed) => Plan::for_sealed(
                        keyring,
                        scope,
                        ctx,
                        sealed,
                        || proxy_row(id),
                        || {
                            let full = Zeroizing::new(open_proxy_url(
                                Some(keyring),
                                ctx,
                                id,
                                url.clone(),
                                Some(sealed.clone()),
                            )?);
                            seal_proxy_url(Some(keyring), ctx, &full)
                        },
                    )?,
                    None => match split_userinfo(&url) {
                        // No credentials at all: nothing to protect.
                        (_, None) => continue,
                        (_, Some(_)) => Plan::Reseal(seal_proxy_url(Some(keyring), ctx, &url)?),
                    },
                };
                match plan {
                    Plan::Current => report.proxies_current += 1,
                    Plan::OlderKey => report.left_on_older_keys += 1,
                    Plan::Reseal(new) => writes.push((id, (url, credentials), new)),
                }
            }
            if writes.is_empty() {
                continue;
            }
            let written = write_unchanged_url!(
                self,
                ctx,
                &writes,
                proxy_pool::table,
                proxy_pool::id,
                proxy_pool::url,
                proxy_pool::credentials
            )?;
            report.proxies_sealed += written;
            report.changed_concurrently += writes.len() as u64 - written;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretKey;

    #[test]
    fn userinfo_splits_from_the_authority_only() {
        assert_eq!(
            split_userinfo("http://user:p@ss@10.0.0.1:8080/path?q=a@b"),
            (
                "http://10.0.0.1:8080/path?q=a@b".to_owned(),
                Some("user:p@ss".to_owned())
            )
        );
        assert_eq!(
            split_userinfo("socks5://10.0.0.1:1080"),
            ("socks5://10.0.0.1:1080".to_owned(), None)
        );
        assert_eq!(split_userinfo("not a url"), ("not a url".to_owned(), None));
        assert_eq!(
            join_userinfo("http://10.0.0.1:8080/x", "user:p@ss"),
            "http://user:p@ss@10.0.0.1:8080/x"
        );
    }

    #[test]
    fn proxy_urls_round_trip_sealed_and_clear() {
        let keyring = Keyring::new(SecretKey::generate());
        for full in [
            "http://u:canary@h:1",
            "socks5://h:2",
            "http://only-user@h:3",
        ] {
            let (url, credentials) = seal_proxy_url(Some(&keyring), "t", full).unwrap();
            assert!(!url.contains("canary") && !url.contains('@'), "{url}");
            assert_eq!(credentials.is_some(), full.contains('@'));
            let opened = open_proxy_url(Some(&keyring), "t", 1, url, credentials).unwrap();
            assert_eq!(opened, full);
            let (url, credentials) = seal_proxy_url(None, "t", full).unwrap();
            assert_eq!((url.as_str(), credentials), (full, None));
        }
    }

    #[test]
    fn sealed_credentials_need_the_key() {
        let keyring = Keyring::new(SecretKey::generate());
        let (url, credentials) =
            seal_proxy_url(Some(&keyring), "t", "http://u:canary@h:1").unwrap();
        let err = open_proxy_url(None, "t", 7, url.clone(), credentials.clone()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("proxy `7` credentials"), "{text}");
        assert!(text.contains(keyring.current_id().as_str()), "{text}");
        assert!(!text.contains("canary"), "{text}");
        let other = Keyring::new(SecretKey::generate());
        assert!(matches!(
            open_proxy_url(Some(&other), "t", 7, url, credentials),
            Err(Error::Secret {
                reason: SecretError::UnknownKey { .. },
                ..
            })
        ));
    }
}
