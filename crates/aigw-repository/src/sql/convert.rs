//! Conversions between database rows and domain values, shared by every entity module.

use std::fmt::Display;
use std::str::FromStr;

use aigw_domain::{AccountId, ApiKeyId, ProviderId, UserId};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::types::{DbJson, DbTime, DbUuid};
use crate::Error;

/// Parses a text column into a domain enum or id, naming the column on failure.
pub(crate) fn parse<T>(ctx: &'static str, column: &str, text: &str) -> Result<T, Error>
where
    T: FromStr,
    T::Err: Display,
{
    text.parse()
        .map_err(|e| Error::invalid_row(ctx, format!("column `{column}`: {e}")))
}

/// Parses a JSON column, naming the column on failure.
pub(crate) fn from_json<T: DeserializeOwned>(
    ctx: &'static str,
    column: &str,
    value: DbJson,
) -> Result<T, Error> {
    serde_json::from_value(value.0)
        .map_err(|e| Error::invalid_row(ctx, format!("column `{column}`: {e}")))
}

/// A JSON array of strings.
pub(crate) fn string_array<'a>(items: impl IntoIterator<Item = &'a str>) -> DbJson {
    DbJson(Value::Array(
        items
            .into_iter()
            .map(|s| Value::String(s.to_owned()))
            .collect(),
    ))
}

pub(crate) fn provider_id(
    ctx: &'static str,
    column: &str,
    text: String,
) -> Result<ProviderId, Error> {
    ProviderId::new(text).map_err(|e| Error::invalid_row(ctx, format!("column `{column}`: {e}")))
}

pub(crate) fn opt_provider_id(
    ctx: &'static str,
    column: &str,
    text: Option<String>,
) -> Result<Option<ProviderId>, Error> {
    text.map(|t| provider_id(ctx, column, t)).transpose()
}

pub(crate) fn time(t: DbTime) -> DateTime<Utc> {
    t.0
}

pub(crate) fn opt_time(t: Option<DbTime>) -> Option<DateTime<Utc>> {
    t.map(|t| t.0)
}

/// A timestamp to store, truncated to the stored precision so it reads back equal.
pub(crate) fn db_time(t: DateTime<Utc>) -> DbTime {
    DbTime(super::types::stored(t))
}

pub(crate) fn opt_db_time(t: Option<DateTime<Utc>>) -> Option<DbTime> {
    t.map(db_time)
}

pub(crate) fn account_id(u: DbUuid) -> AccountId {
    AccountId::from_uuid(u.0)
}

pub(crate) fn user_id(u: DbUuid) -> UserId {
    UserId::from_uuid(u.0)
}

pub(crate) fn api_key_id(u: DbUuid) -> ApiKeyId {
    ApiKeyId::from_uuid(u.0)
}
