//! Gateway-wide settings shared by every instance (key/value text), such as the
//! generated JWT signing secret.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::SqlRepository;
use super::schema::settings;
use crate::Error;

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
}
