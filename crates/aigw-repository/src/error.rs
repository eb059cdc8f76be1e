//! Errors of the SQL repository, typed so callers can map them to HTTP without reading text.

use std::time::Duration;

use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::crypto::SecretError;

/// A SQL repository operation failed. `context` names the operation, e.g. `accounts.insert`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The row does not exist.
    #[error("{entity} `{id}` not found")]
    NotFound {
        /// The entity, e.g. "account".
        entity: &'static str,
        /// The id or key that was looked up.
        id: String,
    },
    /// A unique constraint rejected the write.
    #[error("{context}: already exists ({constraint})")]
    Conflict {
        /// The operation.
        context: &'static str,
        /// The violated constraint, or the database's message naming it.
        constraint: String,
    },
    /// A foreign key rejected the write: a referenced row is missing, or the row is still
    /// referenced.
    #[error("{context}: violates a reference ({detail})")]
    ForeignKey {
        /// The operation.
        context: &'static str,
        /// The database's description.
        detail: String,
    },
    /// The database could not be reached (connect, pool or lost-connection failure).
    #[error("{context}: database unavailable: {source}")]
    Unavailable {
        /// The operation.
        context: &'static str,
        /// Why.
        #[source]
        source: Unavailable,
    },
    /// Any other failure of a query.
    #[error("{context}: query failed: {source}")]
    Query {
        /// The operation.
        context: &'static str,
        /// The diesel error.
        #[source]
        source: DieselError,
    },
    /// A stored row cannot be turned into a domain value (bad enum text or JSON).
    #[error("{context}: stored row is invalid: {reason}")]
    InvalidRow {
        /// The operation.
        context: &'static str,
        /// What is wrong, naming the column.
        reason: String,
    },
    /// The database URL has an unsupported form. The URL is not repeated, since it may
    /// carry a password.
    #[error(
        "unsupported database URL scheme `{scheme}`: expected sqlite://PATH, sqlite::memory: or postgres://…"
    )]
    UnsupportedUrl {
        /// The scheme found (text before the first `:`).
        scheme: String,
    },
    /// A stored secret cannot be opened: it needs a key this repository does not hold, or
    /// it was altered. `row` names the row and column (e.g. ``account `…` auth_data``);
    /// `reason` names the key id needed, never the secret. (The reason is part of the
    /// message rather than a `source`, so a printed error chain does not repeat it.)
    #[error("{context}: {row} {reason}")]
    Secret {
        /// The operation.
        context: &'static str,
        /// Which stored value.
        row: String,
        /// Why it cannot be opened.
        reason: SecretError,
    },
    /// The operation re-encrypts secrets but the repository was opened without a key.
    #[error("{context}: no secret key is configured")]
    NoSecretKey {
        /// The operation.
        context: &'static str,
    },
    /// Running the schema migrations failed.
    #[error("migrating the {backend} schema failed: {source}")]
    Migration {
        /// `sqlite` or `postgres`.
        backend: &'static str,
        /// The migration harness's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Why the database could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    /// Opening a connection failed.
    #[error("{}", describe_connection(.0))]
    Connect(#[from] diesel::ConnectionError),
    /// The connection pool failed to hand out a connection.
    #[error("{}", describe_pool(.0))]
    Pool(#[from] diesel_async::pooled_connection::deadpool::PoolError),
    /// The connection pool could not be built.
    #[error("{0}")]
    PoolBuild(#[from] diesel_async::pooled_connection::deadpool::BuildError),
    /// No connection became free in time.
    #[error("no connection within {0:?}")]
    Timeout(Duration),
    /// The connection broke during the query.
    #[error("connection lost: {0}")]
    Lost(DieselError),
    /// The PostgreSQL server's address does not accept connections. (The driver reports
    /// only "error connecting to server"; a plain TCP connect recovers the reason.)
    #[error("cannot reach {address}: {source}")]
    Unreachable {
        /// `host:port`, without credentials.
        address: String,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
    /// The SQLite file's folder does not exist.
    #[error("folder `{0}` of the SQLite database does not exist")]
    MissingFolder(String),
    /// The SQLite file could not be created or made private to its owner.
    #[error("cannot create or restrict `{path}`: {source}")]
    FileMode {
        /// The file.
        path: String,
        /// The file-system error.
        #[source]
        source: std::io::Error,
    },
    /// A blocking database task could not finish.
    #[error("database task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The connection error with its causes on one line (the pool's error type drops
/// `source()`, so the causes are rendered here).
fn describe_connection(error: &diesel::ConnectionError) -> String {
    match error {
        diesel::ConnectionError::CouldntSetupConfiguration(inner) => with_causes(inner),
        other => with_causes(other),
    }
}

fn describe_pool(error: &diesel_async::pooled_connection::deadpool::PoolError) -> String {
    use diesel_async::pooled_connection::PoolError as Backend;
    use diesel_async::pooled_connection::deadpool::PoolError;
    match error {
        PoolError::Backend(Backend::ConnectionError(e)) => describe_connection(e),
        PoolError::Backend(Backend::QueryError(e)) => e.to_string(),
        other => other.to_string(),
    }
}

/// `error: cause: cause …`, skipping a cause whose text its parent already shows.
fn with_causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        next = cause.source();
    }
    text
}

impl Error {
    /// A low-cardinality label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "not_found",
            Self::Conflict { .. } => "conflict",
            Self::ForeignKey { .. } => "foreign_key",
            Self::Unavailable { .. } => "unavailable",
            Self::Query { .. } => "query",
            Self::InvalidRow { .. } => "invalid_row",
            Self::UnsupportedUrl { .. } => "unsupported_url",
            Self::Migration { .. } => "migration",
            Self::Secret { .. } => "secret",
            Self::NoSecretKey { .. } => "no_secret_key",
        }
    }

    /// Whether the row was not found.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }

    /// Whether the database could not be reached; such failures are worth retrying later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    pub(crate) fn not_found(entity: &'static str, id: impl ToString) -> Self {
        Self::NotFound {
            entity,
            id: id.to_string(),
        }
    }

    pub(crate) fn invalid_row(context: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidRow {
            context,
            reason: reason.into(),
        }
    }

    pub(crate) fn unavailable(context: &'static str, source: impl Into<Unavailable>) -> Self {
        Self::Unavailable {
            context,
            source: source.into(),
        }
    }

    /// Classifies a diesel error raised by the operation `context`.
    pub(crate) fn from_diesel(context: &'static str, error: DieselError) -> Self {
        match error {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                Self::Conflict {
                    context,
                    constraint: info
                        .constraint_name()
                        .map_or_else(|| info.message().to_owned(), str::to_owned),
                }
            }
            DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
                Self::ForeignKey {
                    context,
                    detail: info
                        .constraint_name()
                        .map_or_else(|| info.message().to_owned(), str::to_owned),
                }
            }
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            )
            | DieselError::BrokenTransactionManager => Self::Unavailable {
                context,
                source: Unavailable::Lost(error),
            },
            other => Self::Query {
                context,
                source: other,
            },
        }
    }
}

/// Maps a diesel error of the operation `context` (for `map_err`).
pub(crate) fn db(context: &'static str) -> impl FnOnce(DieselError) -> Error {
    move |error| Error::from_diesel(context, error)
}
