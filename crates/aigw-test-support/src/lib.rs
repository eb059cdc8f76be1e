//! Test fixtures shared by every aigateway test suite (a dev-dependency only):
//! the URLs of the test services, the rule for an unreachable service (skip, or
//! fail when `AIGW_TEST_REQUIRE_SERVICES=1`), fresh databases (a temp SQLite
//! file, a PostgreSQL database of the test's own) and Redis key prefixes,
//! tests generated once per backend, and polling with a deadline.
//!
//! A fixture that cannot be set up fails the test that asked for it, so this
//! crate panics where library code would return an error.
#![deny(missing_docs)]
#![allow(
    clippy::panic,
    clippy::expect_used,
    reason = "test support: a fixture that cannot be set up fails the test that asked for it"
)]

mod cases;
mod macros;
mod poll;
mod postgres;
mod redis;
mod services;
mod sql;

pub use cases::{Arg, Fixture};
pub use poll::{eventually, wait_until};
pub use postgres::{PgDatabase, PgError, database_url, postgres_address};
pub use redis::{redis_available, redis_config, redis_state, unique_prefix};
pub use services::{
    postgres_url, reachable, redis_url, services_required, skip_or_fail, unreachable,
};
pub use sql::{Postgres, PostgresUrl, Sqlite, SqliteUrl, sql_options, with_postgres_database};
