//! The SQL repository: one async API over PostgreSQL (diesel-async + deadpool) and SQLite
//! (diesel's `SqliteConnection` behind diesel-async's `SyncConnectionWrapper`).
//!
//! # One schema, one query body, two backends
//!
//! The schema (`schema.rs`) is written once with SQL types that encode per backend
//! (`types.rs`: TIMESTAMPTZ/JSONB/UUID on PostgreSQL, text on SQLite). A query is written
//! once inside `with_conn!`, `with_tx!` or `with_read_tx!` (`macros.rs`), which expand the
//! same body for each backend's connection type; diesel infers the backend from the
//! connection, so every query is type-checked against both. Row ↔ domain conversion happens outside the macro and is
//! therefore compiled once. The only backend-specific query is the request-log batch
//! insert on SQLite (see `logs.rs`).
//!
//! # SQLite connections
//!
//! SQLite allows one writer at a time. Instead of letting writers collide on the file lock
//! (and fail with `SQLITE_BUSY` when a deferred transaction tries to upgrade), the
//! repository owns exactly one writer connection, handed out by a pool of size 1 that acts
//! as an async mutex, plus a small pool of `query_only` reader connections. With WAL,
//! readers see the last committed state and never block the writer. `busy_timeout` still
//! covers other processes (for example `aigateway migrate`) sharing the file.
//! `sqlite::memory:` uses the writer for reads too, since every in-memory connection is a
//! separate database.

#[macro_use]
mod macros;

mod accounts;
mod conn;
mod convert;
mod logs;
mod mappings;
mod providers;
mod proxies;
mod quota;
mod reports;
mod repository;
mod schema;
mod secrets;
#[cfg(feature = "test-support")]
mod seed;
mod settings;
mod snapshot;
mod stats_batches;
pub mod types;
mod users;

pub use conn::{SqlBackend, SqlOptions};
pub use reports::{AccountModelUsage, AccountUsage, DailyModelUsage, UsageQuery, UsageTotals};
pub use repository::SqlRepository;
pub use secrets::{JWT_SECRET_SETTING, ResealReport, SEALED_SETTINGS};
#[cfg(feature = "test-support")]
pub use seed::SeedLogs;
pub use snapshot::SnapshotData;
pub use stats_batches::{StageWrite, StatsStage};
