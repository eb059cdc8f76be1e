//! Errors of the shared-state store, classified so the fallback can tell an
//! unreachable Redis (serve from the in-process store) from a real fault.

use std::time::Duration;

use fred::error::{Error as RedisError, ErrorKind as RedisErrorKind};

/// A shared-state operation failed.
///
/// The in-process store only fails on [`StateError::Codec`]; the Redis store
/// can fail in every way; the fallback store hides
/// [unavailability](StateError::is_unavailable) behind the in-process store.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The configuration cannot work (the message names the field).
    #[error("invalid shared-state configuration: {0}")]
    InvalidConfig(&'static str),
    /// The Redis URL does not parse. The URL itself is not repeated because
    /// it may carry a password.
    #[error("invalid Redis URL: {}", .0.details())]
    InvalidRedisUrl(#[source] RedisError),
    /// Redis did not become reachable within the connect timeout.
    #[error("Redis unreachable within {0:?}")]
    Unreachable(Duration),
    /// A Redis command failed (connection, timeout or a server error).
    #[error("Redis command failed: {0}")]
    Redis(#[from] RedisError),
    /// Redis answered with something this store never writes.
    #[error("unexpected Redis reply: {0}")]
    UnexpectedReply(&'static str),
    /// A cached value could not be encoded to or decoded from JSON.
    #[error("cannot encode or decode a cached value: {0}")]
    Codec(#[from] serde_json::Error),
}

impl StateError {
    /// The same failure again, for each caller that shared the failed call.
    pub(super) fn same_again(&self) -> StateError {
        match self {
            StateError::InvalidConfig(field) => StateError::InvalidConfig(field),
            StateError::InvalidRedisUrl(e) => StateError::InvalidRedisUrl(e.clone()),
            StateError::Unreachable(after) => StateError::Unreachable(*after),
            StateError::Redis(e) => StateError::Redis(e.clone()),
            StateError::UnexpectedReply(what) => StateError::UnexpectedReply(what),
            StateError::Codec(e) => StateError::Codec(serde::de::Error::custom(e)),
        }
    }

    /// A low-cardinality label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            StateError::InvalidConfig(_) => "invalid_config",
            StateError::InvalidRedisUrl(_) => "invalid_redis_url",
            StateError::Unreachable(_) => "unreachable",
            StateError::Redis(e) if is_unavailable(e) => "redis_unavailable",
            StateError::Redis(_) => "redis",
            StateError::UnexpectedReply(_) => "unexpected_reply",
            StateError::Codec(_) => "codec",
        }
    }

    /// Whether the failure means "Redis cannot serve right now" (down,
    /// unreachable, too slow, overloaded, loading, refusing writes), as opposed
    /// to a bug or bad data. The fallback store answers these from the
    /// in-process store instead of failing the request.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StateError::Unreachable(_) => true,
            StateError::Redis(e) => is_unavailable(e),
            StateError::InvalidConfig(_)
            | StateError::InvalidRedisUrl(_)
            | StateError::UnexpectedReply(_)
            | StateError::Codec(_) => false,
        }
    }
}

/// Server replies that mean the server exists but cannot serve: they arrive
/// as generic errors, so only their prefix tells them apart from a script or
/// argument bug.
const UNAVAILABLE_REPLY_PREFIXES: &[&str] = &[
    "LOADING",
    "BUSY",
    "MASTERDOWN",
    "MISCONF",
    "READONLY",
    "OOM",
    "TRYAGAIN",
    "CLUSTERDOWN",
];

/// How fred reports, without a dedicated error kind, a command it could not
/// deliver because no connection was usable (stopped client, connection
/// lost mid-command, reconnect in progress).
const CONNECTION_LOST_DETAILS: &[&str] = &[
    "Client is not initialized",
    "Failed to send command",
    "Failed to route command",
    "Max attempts exceeded",
    "Too many failed write attempts",
    "Missing expected connection",
];

fn is_unavailable(error: &RedisError) -> bool {
    match error.kind() {
        RedisErrorKind::IO
        | RedisErrorKind::Timeout
        | RedisErrorKind::Canceled
        | RedisErrorKind::Backpressure
        | RedisErrorKind::Auth
        | RedisErrorKind::Routing
        | RedisErrorKind::Cluster
        | RedisErrorKind::Protocol => true,
        RedisErrorKind::Unknown => {
            let details = error.details();
            CONNECTION_LOST_DETAILS
                .iter()
                .any(|text| details.contains(text))
                || UNAVAILABLE_REPLY_PREFIXES
                    .iter()
                    .any(|prefix| details.starts_with(prefix))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_failures_are_unavailable() {
        let timeout = StateError::Redis(RedisError::new(
            RedisErrorKind::Timeout,
            "Request timed out.",
        ));
        assert!(timeout.is_unavailable());
        assert_eq!(timeout.kind(), "redis_unavailable");
        let io = StateError::Redis(RedisError::new(RedisErrorKind::IO, "broken pipe"));
        assert!(io.is_unavailable());
        let loading = StateError::Redis(RedisError::new(
            RedisErrorKind::Unknown,
            "LOADING Redis is loading the dataset in memory",
        ));
        assert!(loading.is_unavailable());
        let unroutable = StateError::Redis(RedisError::new(
            RedisErrorKind::Unknown,
            "Failed to route command.",
        ));
        assert!(unroutable.is_unavailable());
    }

    #[test]
    fn faults_of_our_own_are_not_unavailable() {
        let script = StateError::Redis(RedisError::new(
            RedisErrorKind::Unknown,
            "ERR Error running script",
        ));
        assert!(!script.is_unavailable());
        let wrong_type = StateError::Redis(RedisError::new(
            RedisErrorKind::InvalidArgument,
            "WRONGTYPE Operation against a key holding the wrong kind of value",
        ));
        assert!(!wrong_type.is_unavailable());
        assert!(!StateError::UnexpectedReply("negative counter").is_unavailable());
    }
}
