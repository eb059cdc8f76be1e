//! SQL types shared by both backends, each with its own encoding per backend, so one
//! `table!` schema and one query body serve PostgreSQL and SQLite.
//!
//! | SQL type | PostgreSQL | SQLite | Rust wrapper |
//! |---|---|---|---|
//! | [`UtcTimestamp`] | `TIMESTAMPTZ` | `TEXT`, RFC 3339 UTC with 6 fraction digits | [`DbTime`] |
//! | [`JsonDoc`] | `JSONB` | `TEXT` | [`DbJson`] |
//! | [`UuidType`] | `UUID` | `TEXT`, hyphenated | [`DbUuid`] |
//!
//! The SQLite timestamp text is fixed width, so comparing and ordering the text compares
//! and orders the instants: range filters and `ORDER BY created_at` work unchanged.

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::Pg;
use diesel::query_builder::QueryId;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::{Jsonb, SqlType, Text, Timestamptz};
use diesel::sqlite::Sqlite;
use std::io::Write;
use uuid::Uuid;

/// A UTC instant: `TIMESTAMPTZ` on PostgreSQL, RFC 3339 text on SQLite.
#[derive(Debug, Clone, Copy, SqlType, QueryId)]
#[diesel(postgres_type(oid = 1184, array_oid = 1185))]
#[diesel(sqlite_type(name = "Text"))]
pub struct UtcTimestamp;

/// A JSON document: `JSONB` on PostgreSQL, text on SQLite.
#[derive(Debug, Clone, Copy, SqlType, QueryId)]
#[diesel(postgres_type(oid = 3802, array_oid = 3807))]
#[diesel(sqlite_type(name = "Text"))]
pub struct JsonDoc;

/// A UUID: `UUID` on PostgreSQL, hyphenated text on SQLite.
#[derive(Debug, Clone, Copy, SqlType, QueryId)]
#[diesel(postgres_type(oid = 2950, array_oid = 2951))]
#[diesel(sqlite_type(name = "Text"))]
pub struct UuidType;

/// A [`UtcTimestamp`] value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, AsExpression, FromSqlRow)]
#[diesel(sql_type = UtcTimestamp)]
pub struct DbTime(pub DateTime<Utc>);

/// A [`JsonDoc`] value.
#[derive(Debug, Clone, PartialEq, AsExpression, FromSqlRow)]
#[diesel(sql_type = JsonDoc)]
pub struct DbJson(pub serde_json::Value);

/// A [`UuidType`] value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = UuidType)]
pub struct DbUuid(pub Uuid);

/// The SQLite text form: fixed width, so text order is time order.
const SQLITE_TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

/// The current time at the precision both backends store (microseconds), so a value read
/// back equals the value written.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Truncates an instant to the stored precision.
pub fn stored(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

impl From<DateTime<Utc>> for DbTime {
    fn from(t: DateTime<Utc>) -> Self {
        Self(t)
    }
}

impl From<Uuid> for DbUuid {
    fn from(u: Uuid) -> Self {
        Self(u)
    }
}

impl ToSql<UtcTimestamp, Pg> for DbTime {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <DateTime<Utc> as ToSql<Timestamptz, Pg>>::to_sql(&self.0, out)
    }
}

impl FromSql<UtcTimestamp, Pg> for DbTime {
    fn from_sql(bytes: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        <DateTime<Utc> as FromSql<Timestamptz, Pg>>::from_sql(bytes).map(Self)
    }
}

impl ToSql<UtcTimestamp, Sqlite> for DbTime {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(sqlite_time_text(&self.0));
        Ok(IsNull::No)
    }
}

/// `t` in [`SQLITE_TIME_FORMAT`]. Written digit by digit for the years 0 to 9999: the
/// stats writer stores one timestamp per request log, and chrono's formatter, which
/// interprets the format string on every call, was a tenth of the SQLite insert's CPU.
/// Other years and leap seconds go through chrono.
fn sqlite_time_text(t: &DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    // The fields of the naive UTC value directly: `DateTime`'s accessors apply the
    // (zero) offset again for every field.
    let t = &t.naive_utc();
    let (year, nanos) = (t.year(), t.nanosecond());
    let Ok(year) = u32::try_from(year) else {
        return t.format(SQLITE_TIME_FORMAT).to_string();
    };
    if year > 9999 || nanos >= 1_000_000_000 {
        return t.format(SQLITE_TIME_FORMAT).to_string();
    }
    let mut text = [0u8; 27];
    let mut put = |at: usize, width: usize, mut value: u32| {
        for slot in text[at..at + width].iter_mut().rev() {
            // A digit: `value % 10` is below 10.
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, t.month());
    put(8, 2, t.day());
    put(11, 2, t.hour());
    put(14, 2, t.minute());
    put(17, 2, t.second());
    put(20, 6, nanos / 1_000);
    for (at, separator) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (26, b'Z'),
    ] {
        text[at] = separator;
    }
    // Every byte is an ASCII digit or separator: the text is UTF-8 as it is,
    // copied once.
    String::from_utf8_lossy(&text).into_owned()
}

impl FromSql<UtcTimestamp, Sqlite> for DbTime {
    fn from_sql(value: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        let text = <String as FromSql<Text, Sqlite>>::from_sql(value)?;
        parse_sqlite_time(&text).map(Self)
    }
}

/// Parses the text this module writes, any RFC 3339 text, and SQLite's own
/// `YYYY-MM-DD HH:MM:SS[.fff]` (what `CURRENT_TIMESTAMP` gives, in UTC).
fn parse_sqlite_time(text: &str) -> deserialize::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
        .map(|naive| naive.and_utc())
        .map_err(|e| format!("invalid timestamp `{text}`: {e}").into())
}

impl ToSql<JsonDoc, Pg> for DbJson {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <serde_json::Value as ToSql<Jsonb, Pg>>::to_sql(&self.0, out)
    }
}

impl FromSql<JsonDoc, Pg> for DbJson {
    fn from_sql(bytes: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        <serde_json::Value as FromSql<Jsonb, Pg>>::from_sql(bytes).map(Self)
    }
}

impl ToSql<JsonDoc, Sqlite> for DbJson {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(serde_json::to_string(&self.0)?);
        Ok(IsNull::No)
    }
}

impl FromSql<JsonDoc, Sqlite> for DbJson {
    fn from_sql(value: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        let text = <String as FromSql<Text, Sqlite>>::from_sql(value)?;
        Ok(Self(serde_json::from_str(&text)?))
    }
}

impl ToSql<UuidType, Pg> for DbUuid {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        out.write_all(self.0.as_bytes())?;
        Ok(IsNull::No)
    }
}

impl FromSql<UuidType, Pg> for DbUuid {
    fn from_sql(bytes: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        Ok(Self(Uuid::from_slice(bytes.as_bytes())?))
    }
}

impl ToSql<UuidType, Sqlite> for DbUuid {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        // Encoded into a buffer and copied once, at its exact length: `to_string` goes
        // through the formatter and grows its string, and diesel then shrinks it to a
        // boxed slice. The stats writer stores up to three of these per request log.
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        out.set_value(self.0.hyphenated().encode_lower(&mut text).to_owned());
        Ok(IsNull::No)
    }
}

impl FromSql<UuidType, Sqlite> for DbUuid {
    fn from_sql(value: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        let text = <String as FromSql<Text, Sqlite>>::from_sql(value)?;
        Ok(Self(Uuid::parse_str(&text)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_time_text_is_fixed_width_and_sortable() {
        let a = "2024-01-02T03:04:05Z".parse::<DateTime<Utc>>().unwrap();
        let b = a + chrono::Duration::microseconds(1);
        let (ta, tb) = (
            a.format(SQLITE_TIME_FORMAT).to_string(),
            b.format(SQLITE_TIME_FORMAT).to_string(),
        );
        assert_eq!(ta, "2024-01-02T03:04:05.000000Z");
        assert_eq!(ta.len(), tb.len());
        assert!(ta < tb);
        assert_eq!(parse_sqlite_time(&ta).unwrap(), a);
        assert_eq!(parse_sqlite_time(&tb).unwrap(), b);
    }

    #[test]
    fn the_fast_sqlite_time_text_is_chronos() {
        let mut t = "0000-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let end = "9999-12-31T23:59:59.999999999Z"
            .parse::<DateTime<Utc>>()
            .unwrap();
        // About 7,000 instants across the whole range, with every field varying.
        let step = chrono::Duration::seconds(45_678_901) + chrono::Duration::nanoseconds(123_457);
        while t < end {
            assert_eq!(
                sqlite_time_text(&t),
                t.format(SQLITE_TIME_FORMAT).to_string()
            );
            t += step;
        }
        for text in [
            "2024-02-29T23:59:59.999999999Z",
            "-0001-06-01T00:00:00Z",
            "+10000-01-01T00:00:00Z",
        ] {
            let t = text.parse::<DateTime<Utc>>().unwrap();
            assert_eq!(
                sqlite_time_text(&t),
                t.format(SQLITE_TIME_FORMAT).to_string()
            );
        }
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
            .unwrap()
            .and_utc();
        assert_eq!(
            sqlite_time_text(&leap),
            leap.format(SQLITE_TIME_FORMAT).to_string()
        );
    }

    #[test]
    fn sqlite_native_time_text_parses_as_utc() {
        let t = parse_sqlite_time("2024-01-02 03:04:05").unwrap();
        assert_eq!(t, "2024-01-02T03:04:05Z".parse::<DateTime<Utc>>().unwrap());
        assert!(parse_sqlite_time("yesterday").is_err());
    }

    #[test]
    fn now_is_truncated_to_microseconds() {
        assert_eq!(now().timestamp_subsec_nanos() % 1000, 0);
    }
}
