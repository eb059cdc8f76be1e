//! The repository handle and its connection settings; the queries are
//! `impl SqlRepository` blocks in the sibling modules, one per table group.

use super::conn::{Backend, SqlBackend, SqlOptions};
use crate::Error;
use crate::crypto::Keyring;
use crate::error::db;

/// Rows a retention step deletes per statement. A step of thousands of rows in one
/// statement would hold a CPU for tens of milliseconds without a break, and a request's
/// worker preempted on that CPU would wait behind it.
pub(super) const PRUNE_ROWS_PER_DELETE: usize = 256;

/// The SQL repository. Cheap to clone: clones share the connection pools.
#[derive(Clone)]
pub struct SqlRepository {
    pub(super) backend: Backend,
    pub(super) keyring: Option<Keyring>,
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

    /// Hands back memory the database connection keeps between writes: on SQLite,
    /// the writer's page cache (up to 2 MiB once a few thousand rows have gone
    /// through it), through `PRAGMA shrink_memory`; the next write reads the pages
    /// it needs again. On PostgreSQL the cache lives in the server: nothing to do.
    /// For when writes have stopped for a while, not between writes under load.
    pub async fn release_memory(&self) -> Result<(), Error> {
        use diesel_async::SimpleAsyncConnection as _;

        const CTX: &str = "release_memory";
        match &self.backend {
            Backend::Postgres(_) => Ok(()),
            Backend::Sqlite(sqlite) => {
                let mut conn = sqlite.write(CTX).await?;
                conn.batch_execute("PRAGMA shrink_memory")
                    .await
                    .map_err(db(CTX))
            }
        }
    }
}
