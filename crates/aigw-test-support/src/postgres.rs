//! PostgreSQL databases of a test's own: created on the test server under a
//! random name, dropped when the test is done with them (even after a panic).

use std::net::SocketAddr;
use std::time::Duration;

use tokio_postgres::tls::NoTlsStream;
use tokio_postgres::{Client, Connection, NoTls, Socket};

use crate::services::{postgres_url, unreachable};

/// How long the server has to accept the admin connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the test server could not create or drop a database.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The server did not accept a connection in time.
    #[error("no answer within {0:?}")]
    NoAnswer(Duration),
    /// The server refused the connection or the statement.
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
    /// The admin connection ended before the statement was answered.
    #[error("the admin connection closed")]
    Closed,
}

type AdminConnection = Connection<Socket, NoTlsStream>;

async fn connect_admin() -> Result<(Client, AdminConnection), PgError> {
    let url = postgres_url();
    tokio::time::timeout(CONNECT_TIMEOUT, tokio_postgres::connect(&url, NoTls))
        .await
        .map_err(|_| PgError::NoAnswer(CONNECT_TIMEOUT))?
        .map_err(PgError::from)
}

/// Runs `sql` on the admin connection, driving the connection on this task
/// (no task is spawned for it).
async fn execute(admin: (Client, AdminConnection), sql: &str) -> Result<(), PgError> {
    let (client, connection) = admin;
    tokio::select! {
        done = client.batch_execute(sql) => done.map_err(PgError::from),
        ended = connection => Err(ended.err().map_or(PgError::Closed, PgError::from)),
    }
}

/// The address of the test server, from [`postgres_url`]: for a forwarder
/// that stands between a test and the server.
pub async fn postgres_address() -> SocketAddr {
    let url = url::Url::parse(&postgres_url()).expect("valid AIGW_TEST_DATABASE_URL");
    let host = url.host_str().unwrap_or("127.0.0.1").to_owned();
    let port = url.port().unwrap_or(5432);
    tokio::net::lookup_host((host.as_str(), port))
        .await
        .expect("resolve the PostgreSQL host")
        .next()
        .expect("an address of the PostgreSQL host")
}

/// The URL of database `name` on the test server (whether it exists or not).
pub fn database_url(name: &str) -> String {
    let mut url = url::Url::parse(&postgres_url()).expect("valid AIGW_TEST_DATABASE_URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// A PostgreSQL database created for one test on the test server, dropped by
/// [`PgDatabase::remove`] or, failing that, when this is dropped.
#[derive(Debug)]
pub struct PgDatabase {
    name: String,
    removed: bool,
}

impl PgDatabase {
    /// Creates `<prefix>_<random>`, or returns `None` after reporting (see
    /// [`unreachable`](crate::unreachable)) when the server does not answer.
    /// A server that answers but refuses the database fails the test.
    pub async fn create(prefix: &str) -> Option<Self> {
        let admin = match connect_admin().await {
            Ok(admin) => admin,
            Err(error) => {
                unreachable("postgres", &error.to_string());
                return None;
            }
        };
        Some(
            Self::create_on(admin, prefix)
                .await
                .expect("create the test database"),
        )
    }

    /// Creates `<prefix>_<random>`, returning every failure: for benches,
    /// which skip rather than follow the tests' rule.
    pub async fn try_create(prefix: &str) -> Result<Self, PgError> {
        Self::create_on(connect_admin().await?, prefix).await
    }

    async fn create_on(admin: (Client, AdminConnection), prefix: &str) -> Result<Self, PgError> {
        let name = format!("{prefix}_{:016x}", rand::random::<u64>());
        execute(admin, &format!("CREATE DATABASE {name}")).await?;
        Ok(Self {
            name,
            removed: false,
        })
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL of this database on the test server.
    pub fn url(&self) -> String {
        database_url(&self.name)
    }

    /// The URL of this database through `address` on 127.0.0.1 (a forwarder
    /// in front of the server).
    pub fn url_through(&self, address: SocketAddr) -> String {
        let mut url = url::Url::parse(&self.url()).expect("valid AIGW_TEST_DATABASE_URL");
        url.set_host(Some("127.0.0.1"))
            .expect("a URL with a host takes another");
        url.set_port(Some(address.port()))
            .expect("a URL with a host takes a port");
        url.to_string()
    }

    /// Drops the database now (its connections are closed by force).
    pub async fn remove(mut self) -> Result<(), PgError> {
        self.removed = true;
        execute(connect_admin().await?, &self.drop_statement()).await
    }

    fn drop_statement(&self) -> String {
        format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        let sql = self.drop_statement();
        // From a thread of its own: the test's runtime may be shutting down,
        // and a current-thread runtime cannot be blocked on from inside.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                let _ = runtime.block_on(async { execute(connect_admin().await?, &sql).await });
            }
        })
        .join();
    }
}
