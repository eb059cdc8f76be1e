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
mod schema;
mod secrets;
#[cfg(feature = "test-support")]
mod seed;
mod settings;
mod snapshot;
mod stats_batches;
pub mod types;
mod users;

use std::time::Duration;

pub use conn::SqlBackend;
pub use reports::{AccountModelUsage, AccountUsage, DailyModelUsage, UsageQuery, UsageTotals};
pub use secrets::ResealReport;
#[cfg(feature = "test-support")]
pub use seed::SeedLogs;
pub use settings::{JWT_SECRET_SETTING, SEALED_SETTINGS};
pub use snapshot::SnapshotData;
pub use stats_batches::{StageWrite, StatsStage};

use crate::Error;
use crate::crypto::Keyring;
use conn::Backend;

/// Connection settings of the SQL repository.
#[derive(Debug, Clone)]
pub struct SqlOptions {
    /// Most PostgreSQL connections held at once.
    pub max_connections: usize,
    /// SQLite reader connections (the writer is always one).
    pub sqlite_readers: usize,
    /// How long to wait for a connection before failing with [`Error::Unavailable`];
    /// also bounds the first connection attempt.
    pub acquire_timeout: Duration,
    /// How long SQLite waits on a lock held by another process.
    pub sqlite_busy_timeout: Duration,
    /// The keys account and proxy credentials are sealed with. `None` (the default)
    /// stores them in clear and refuses to read sealed ones; see the crate docs.
    pub keyring: Option<Keyring>,
}

impl Default for SqlOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            sqlite_readers: 4,
            acquire_timeout: Duration::from_secs(5),
            sqlite_busy_timeout: Duration::from_secs(5),
            keyring: None,
        }
    }
}

/// The SQL repository. Cheap to clone: clones share the connection pools.
#[derive(Clone)]
pub struct SqlRepository {
    backend: Backend,
    keyring: Option<Keyring>,
}

impl std::fmt::Debug for SqlRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlRepository")
            .field("backend", &self.backend.kind())
            .field("keyring", &self.keyring)
            .finish()
    }
}

impl SqlRepository {
    /// Connects with default options. See [`SqlRepository::connect_with`].
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::connect_with(url, SqlOptions::default()).await
    }

    /// Connects to `sqlite://PATH` (`sqlite:PATH` too), `sqlite::memory:`, or
    /// `postgres://…` (`postgresql://…`). One connection is opened at once, so an
    /// unreachable database or a SQLite path in a missing folder fails here with
    /// [`Error::Unavailable`] rather than on first use. Migrations are not run: call
    /// [`SqlRepository::migrate`].
    pub async fn connect_with(url: &str, options: SqlOptions) -> Result<Self, Error> {
        let backend = Backend::connect(url, &options).await?;
        Ok(Self {
            backend,
            keyring: options.keyring,
        })
    }

    /// Which backend this repository uses.
    pub fn backend(&self) -> SqlBackend {
        self.backend.kind()
    }

    /// The keys secrets are sealed with, if any.
    pub fn keyring(&self) -> Option<&Keyring> {
        self.keyring.as_ref()
    }

    /// Applies the embedded migrations that have not run yet; returns how many ran.
    /// Safe to call from several instances at once on PostgreSQL (an advisory lock
    /// serialises them).
    pub async fn migrate(&self) -> Result<usize, Error> {
        self.backend.migrate().await
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), Error> {
        use diesel::dsl::sql;
        use diesel::sql_types::Integer;
        use diesel_async::RunQueryDsl;

        let ctx = "ping";
        with_conn!(self, read, ctx, |conn| diesel::select(sql::<Integer>("1"))
            .get_result::<i32>(conn)
            .await)?;
        Ok(())
    }
}
