//! Gateway-wide settings shared by every instance (key/value text), such as the
//! generated JWT signing secret. The values named by [`SEALED_SETTINGS`](super::secrets::SEALED_SETTINGS) are secrets:
//! they are sealed with the repository's keyring like account credentials (see
//! `secrets.rs`), and read and written only through the `*_secret_setting` methods.

use aigw_domain::Secret;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::repository::SqlRepository;
use super::schema::settings;
use super::secrets::{open_setting, seal_setting};
use crate::Error;
use crate::crypto::is_sealed;

impl SqlRepository {
    /// The value stored under `key`, if any.
    pub async fn get_setting(&self, key: &str) -> Result<Option<String>, Error> {
        let ctx = "settings.get";
        with_conn!(self, read, ctx, |conn| settings::table
            .find(key)
            .select(settings::value)
            .first::<String>(conn)
            .await
            .optional())
    }

    /// Stores `value` under `key` unless a value is already there, and returns the value
    /// that is stored afterwards: when several instances start at once, all of them
    /// end up with the one value that won.
    pub async fn init_setting(&self, key: &str, value: &str) -> Result<String, Error> {
        let ctx = "settings.init";
        with_conn!(self, write, ctx, |conn| diesel::insert_into(
            settings::table
        )
        .values((settings::key.eq(key), settings::value.eq(value)))
        .on_conflict(settings::key)
        .do_nothing()
        .execute(conn)
        .await)?;
        self.get_setting(key)
            .await?
            .ok_or_else(|| Error::not_found("setting", key))
    }

    /// The secret stored under `key` (one of [`SEALED_SETTINGS`](super::secrets::SEALED_SETTINGS)), storing `fresh` first
    /// if there is none: like [`SqlRepository::init_setting`], every instance ends up
    /// with the one value that won. The value is sealed at rest when the repository has
    /// a keyring; a value stored in clear (before encryption) is read and re-sealed in
    /// place. A sealed value needs the keyring: without it (or without its key) this
    /// fails with [`Error::Secret`].
    pub async fn init_secret_setting(&self, key: &str, fresh: &str) -> Result<Secret, Error> {
        let ctx = "settings.init_secret";
        let keyring = self.keyring.as_ref();
        let sealed = seal_setting(keyring, ctx, key, fresh)?;
        let stored = self.init_setting(key, &sealed).await?;
        let value = open_setting(keyring, ctx, key, &stored)?;
        if keyring.is_some() && !is_sealed(&stored) {
            let resealed = seal_setting(keyring, ctx, key, &value)?;
            // Only if it still holds the clear value: another instance may have sealed it.
            with_conn!(self, write, ctx, |conn| diesel::update(
                settings::table
                    .filter(settings::key.eq(key))
                    .filter(settings::value.eq(&stored))
            )
            .set(settings::value.eq(&resealed))
            .execute(conn)
            .await)?;
        }
        Ok(Secret::new(value.as_str()))
    }
}
