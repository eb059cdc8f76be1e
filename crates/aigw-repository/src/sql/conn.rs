//! Backend selection by URL, connection pools, and the embedded migrations.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use diesel::{ConnectionError, SqliteConnection};
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, SimpleAsyncConnection as _};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::Error;
use crate::crypto::Keyring;
use crate::error::{Unavailable, db};

/// The SQLite connection type: diesel's synchronous connection run on tokio's blocking pool.
pub(crate) type SqliteConn = SyncConnectionWrapper<SqliteConnection>;

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
pub(crate) const SQLITE_MIGRATIONS: EmbeddedMigrations =
    embed_migrations!("../../migrations/sqlite");

/// An arbitrary constant naming the advisory lock that serialises concurrent migrations.
const MIGRATION_LOCK_KEY: i64 = 0x6169_6777_6d69_6772; // "aigwmigr"

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

/// Which database a repository talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SqlBackend {
    /// An embedded SQLite file (or memory).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl SqlBackend {
    /// `sqlite` or `postgres`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

impl std::fmt::Display for SqlBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The closed set of backends; queries dispatch with `match`, see `with_conn!`.
#[derive(Clone)]
pub(crate) enum Backend {
    Postgres(PgBackend),
    Sqlite(SqliteBackend),
}

#[derive(Clone)]
pub(crate) struct PgBackend {
    pool: Pool<AsyncPgConnection>,
    acquire_timeout: Duration,
    /// Kept for the migration connection; never printed (it may carry a password).
    url: Arc<str>,
}

#[derive(Clone)]
pub(crate) struct SqliteBackend {
    /// Pool of exactly one connection: the only writer (see the module docs of `sql`).
    writer: Pool<SqliteConn>,
    /// `query_only` connections; the writer pool itself for `sqlite::memory:`.
    reader: Pool<SqliteConn>,
    acquire_timeout: Duration,
}

enum Target {
    Postgres,
    SqliteFile(PathBuf),
    SqliteMemory,
}

fn parse_url(url: &str) -> Result<Target, Error> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Target::Postgres);
    }
    if url == "sqlite::memory:" {
        return Ok(Target::SqliteMemory);
    }
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let path = rest.strip_prefix("//").unwrap_or(rest);
        if !path.is_empty() {
            return Ok(Target::SqliteFile(PathBuf::from(path)));
        }
    }
    let scheme = url.split_once(':').map_or(url, |(scheme, _)| scheme);
    Err(Error::UnsupportedUrl {
        scheme: scheme.chars().take(32).collect(),
    })
}

/// Takes a connection from `pool`, failing with [`Error::Unavailable`] after `timeout`.
/// (A macro rather than a generic fn: the pool's trait bounds are long and private.)
macro_rules! acquire {
    ($pool:expr, $timeout:expr, $ctx:expr) => {
        match tokio::time::timeout($timeout, $pool.get()).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(Error::unavailable($ctx, e)),
            Err(_) => Err(Error::unavailable($ctx, Unavailable::Timeout($timeout))),
        }
    };
}

impl PgBackend {
    pub(crate) async fn get(&self, ctx: &'static str) -> Result<Object<AsyncPgConnection>, Error> {
        acquire!(self.pool, self.acquire_timeout, ctx)
    }
}

impl SqliteBackend {
    pub(crate) async fn read(&self, ctx: &'static str) -> Result<Object<SqliteConn>, Error> {
        acquire!(self.reader, self.acquire_timeout, ctx)
    }

    pub(crate) async fn write(&self, ctx: &'static str) -> Result<Object<SqliteConn>, Error> {
        acquire!(self.writer, self.acquire_timeout, ctx)
    }
}

fn sqlite_pool(path: &str, pragmas: String, size: usize) -> Result<Pool<SqliteConn>, Error> {
    let mut config = ManagerConfig::<SqliteConn>::default();
    // A local file cannot drop the connection, so a liveness query per checkout is waste.
    config.recycling_method = RecyclingMethod::Fast;
    config.custom_setup = Box::new(move |url| {
        let pragmas = pragmas.clone();
        Box::pin(async move {
            let mut conn = SqliteConn::establish(url).await?;
            conn.batch_execute(&pragmas)
                .await
                .map_err(ConnectionError::CouldntSetupConfiguration)?;
            Ok(conn)
        })
    });
    let manager = AsyncDieselConnectionManager::new_with_config(path, config);
    Pool::builder(manager)
        .max_size(size)
        .build()
        .map_err(|e| Error::unavailable("sqlite.pool", e))
}

/// Makes `path` readable and writable by its owner only (0600), creating it empty first
/// when `create` is set and it does not exist yet, so that it is never visible to others,
/// not even for a moment. A missing file is left missing when `create` is not set.
#[cfg(unix)]
fn private_file(path: &Path, create: bool) -> Result<(), Error> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let failed = |source: std::io::Error| {
        Error::unavailable(
            "sqlite.open",
            Unavailable::FileMode {
                path: path.display().to_string(),
                source,
            },
        )
    };
    if create {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(failed(e)),
        }
    }
    match std::fs::metadata(path) {
        Ok(meta) if meta.permissions().mode() & 0o777 == 0o600 => Ok(()),
        // A file written by an older version, or a side file: tighten it.
        Ok(_) => {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(failed)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !create => Ok(()),
        Err(e) => Err(failed(e)),
    }
}

#[cfg(not(unix))]
fn private_file(_path: &Path, _create: bool) -> Result<(), Error> {
    Ok(())
}

/// Replaces a failed first connection's error with the socket error of a plain TCP connect
/// to the server, when that fails too: the driver's error loses the reason ("Connection
/// refused", "No route to host"). Any other failure (authentication, missing database)
/// already names its reason and is returned unchanged.
async fn explain_unreachable(url: &str, timeout: Duration, error: Error) -> Error {
    let Some(address) = url::Url::parse(url).ok().and_then(|u| {
        let host = u
            .host_str()?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        Some((host, u.port().unwrap_or(5432)))
    }) else {
        return error;
    };
    let shown = format!("{}:{}", address.0, address.1);
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(address)).await {
        Ok(Ok(_)) => error,
        Ok(Err(source)) => Error::unavailable(
            "postgres.connect",
            Unavailable::Unreachable {
                address: shown,
                source,
            },
        ),
        Err(_) => Error::unavailable(
            "postgres.connect",
            Unavailable::Unreachable {
                address: shown,
                source: std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"),
            },
        ),
    }
}

impl Backend {
    pub(crate) fn kind(&self) -> SqlBackend {
        match self {
            Self::Postgres(_) => SqlBackend::Postgres,
            Self::Sqlite(_) => SqlBackend::Sqlite,
        }
    }

    pub(crate) async fn connect(url: &str, options: &SqlOptions) -> Result<Self, Error> {
        match parse_url(url)? {
            Target::Postgres => Self::connect_postgres(url, options).await,
            Target::SqliteFile(path) => Self::connect_sqlite(Some(&path), options).await,
            Target::SqliteMemory => Self::connect_sqlite(None, options).await,
        }
    }

    async fn connect_postgres(url: &str, options: &SqlOptions) -> Result<Self, Error> {
        let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(url);
        let pool = Pool::builder(manager)
            .max_size(options.max_connections.max(1))
            .build()
            .map_err(|e| Error::unavailable("postgres.pool", e))?;
        let backend = PgBackend {
            pool,
            acquire_timeout: options.acquire_timeout,
            url: Arc::from(url),
        };
        // Fail now, before the caller binds a port, if the server cannot be reached.
        match backend.get("postgres.connect").await {
            Ok(conn) => drop(conn),
            Err(error) => {
                return Err(explain_unreachable(url, options.acquire_timeout, error).await);
            }
        }
        Ok(Self::Postgres(backend))
    }

    async fn connect_sqlite(path: Option<&Path>, options: &SqlOptions) -> Result<Self, Error> {
        let busy_ms = options.sqlite_busy_timeout.as_millis();
        let common = format!(
            "PRAGMA busy_timeout = {busy_ms}; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;"
        );
        let Some(path) = path else {
            let pool = sqlite_pool(":memory:", common, 1)?;
            let backend = SqliteBackend {
                writer: pool.clone(),
                reader: pool,
                acquire_timeout: options.acquire_timeout,
            };
            drop(backend.write("sqlite.open").await?);
            return Ok(Self::Sqlite(backend));
        };

        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty())
            && !folder.is_dir()
        {
            return Err(Error::unavailable(
                "sqlite.open",
                Unavailable::MissingFolder(folder.display().to_string()),
            ));
        }
        // The file holds password hashes and sealed secrets: private to its owner from
        // the first byte, whatever the umask.
        private_file(path, true)?;
        let file = path.to_string_lossy().into_owned();
        // WAL lets readers work while the writer commits; the mode is stored in the file.
        let writer = sqlite_pool(&file, format!("{common} PRAGMA journal_mode = WAL;"), 1)?;
        let backend_writer = SqliteBackend {
            writer: writer.clone(),
            reader: writer.clone(),
            acquire_timeout: options.acquire_timeout,
        };
        // Open the writer first so the file exists and is in WAL mode before readers open it.
        drop(backend_writer.write("sqlite.open").await?);
        // The writer keeps the WAL and shared-memory files open from here on, so they
        // exist now. SQLite gives them the database file's mode; setting it here as
        // well does not depend on that, nor on the umask.
        for suffix in ["-wal", "-shm"] {
            let mut side = path.as_os_str().to_owned();
            side.push(suffix);
            private_file(Path::new(&side), false)?;
        }
        let reader = sqlite_pool(
            &file,
            format!("{common} PRAGMA query_only = ON;"),
            options.sqlite_readers.max(1),
        )?;
        let backend = SqliteBackend {
            writer,
            reader,
            acquire_timeout: options.acquire_timeout,
        };
        drop(backend.read("sqlite.open").await?);
        Ok(Self::Sqlite(backend))
    }

    pub(crate) async fn migrate(&self) -> Result<usize, Error> {
        const CTX: &str = "migrate";
        match self {
            Self::Sqlite(sqlite) => {
                // On the writer: for `sqlite::memory:` it is the only connection to the database.
                let mut conn = sqlite.write(CTX).await?;
                let outcome = conn
                    .spawn_blocking(|c| {
                        Ok(c.run_pending_migrations(SQLITE_MIGRATIONS)
                            .map(|done| done.len()))
                    })
                    .await
                    .map_err(db(CTX))?;
                outcome.map_err(|source| Error::Migration {
                    backend: "sqlite",
                    source,
                })
            }
            Self::Postgres(pg) => {
                let url = Arc::clone(&pg.url);
                // diesel's migration harness is synchronous; run it on the blocking pool over
                // a wrapper that drives the async connection from there.
                tokio::task::spawn_blocking(move || {
                    let mut conn = <AsyncConnectionWrapper<AsyncPgConnection> as diesel::Connection>::establish(&url)
                        .map_err(|e| Error::unavailable(CTX, e))?;
                    // Serialises instances starting together; released when the
                    // connection closes at the end of this block.
                    diesel::RunQueryDsl::execute(
                        diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")),
                        &mut conn,
                    )
                    .map_err(db(CTX))?;
                    conn.run_pending_migrations(PG_MIGRATIONS)
                        .map(|done| done.len())
                        .map_err(|source| Error::Migration {
                            backend: "postgres",
                            source,
                        })
                })
                .await
                .map_err(|e| Error::unavailable(CTX, e))?
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_select_the_backend() {
        assert!(matches!(
            parse_url("postgres://u@h/db"),
            Ok(Target::Postgres)
        ));
        assert!(matches!(
            parse_url("postgresql://h/db"),
            Ok(Target::Postgres)
        ));
        assert!(matches!(
            parse_url("sqlite::memory:"),
            Ok(Target::SqliteMemory)
        ));
        assert!(
            matches!(parse_url("sqlite://aigateway.db"), Ok(Target::SqliteFile(p)) if p == Path::new("aigateway.db"))
        );
        assert!(
            matches!(parse_url("sqlite:///var/lib/a.db"), Ok(Target::SqliteFile(p)) if p == Path::new("/var/lib/a.db"))
        );
        assert!(
            matches!(parse_url("sqlite:a.db"), Ok(Target::SqliteFile(p)) if p == Path::new("a.db"))
        );
    }

    #[test]
    fn unknown_scheme_is_named_without_the_rest_of_the_url() {
        let err = parse_url("mysql://root:hunter2@h/db").err().unwrap();
        assert!(matches!(&err, Error::UnsupportedUrl { scheme } if scheme == "mysql"));
        assert!(!err.to_string().contains("hunter2"));
        assert!(parse_url("sqlite://").is_err());
    }

    /// The bundled SQLite is built multi-threaded (`.cargo/config.toml`): a
    /// connection takes no mutex of its own on every call, which a
    /// request-log row paid once per bound value.
    #[test]
    fn sqlite_is_built_multi_threaded() {
        #[derive(diesel::QueryableByName)]
        struct CompileOption {
            #[diesel(sql_type = diesel::sql_types::Text)]
            compile_options: String,
        }
        let mut conn = <SqliteConnection as diesel::Connection>::establish(":memory:").unwrap();
        let options: Vec<CompileOption> = diesel::RunQueryDsl::load(
            diesel::sql_query("SELECT compile_options FROM pragma_compile_options"),
            &mut conn,
        )
        .unwrap();
        let threadsafe: Vec<&str> = options
            .iter()
            .map(|o| o.compile_options.as_str())
            .filter(|o| o.starts_with("THREADSAFE="))
            .collect();
        assert_eq!(threadsafe, ["THREADSAFE=2"]);
    }
}
