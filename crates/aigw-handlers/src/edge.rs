//! The HTTP edge's limits (connection cap, timeouts, lingering close) and
//! what it counts (accept failures, refusals at the cap, idle connections
//! closed to make room, timeouts, lingering closes), read by `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How the server behaves around its connections. The defaults are close to
/// nginx's: it waits 60 s for a request head or a body chunk and keeps idle
/// connections 75 s; a gateway's clients are programs, so heads get 30 s.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// After the shutdown future resolves, how long requests being served
    /// may still run before their connections are dropped. Idle connections
    /// and ones still sending a request are closed at once.
    pub shutdown_grace: Duration,
    /// Client connections open at once. At the cap, the connections idle
    /// the longest are closed to make room; when none is idle, the new
    /// connection is closed at once.
    pub max_connections: usize,
    /// A new connection must send a whole request head within this; so must
    /// a kept-alive one from the first byte of its next request.
    pub header_timeout: Duration,
    /// Longest silence while a request body arrives (then 408).
    pub body_idle_timeout: Duration,
    /// Longest time to receive a whole request body (then 408).
    pub body_timeout: Duration,
    /// How long a connection may wait for its next request.
    pub keep_alive_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            shutdown_grace: Duration::from_secs(30),
            max_connections: 10_000,
            header_timeout: Duration::from_secs(30),
            body_idle_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(300),
            keep_alive_timeout: Duration::from_secs(75),
        }
    }
}

/// Counters of the edge. Relaxed atomics: each is an independent tally.
#[derive(Debug, Default)]
pub(crate) struct EdgeCounters {
    /// Client connections open now.
    pub(crate) open: AtomicU64,
    /// `accept` calls that failed (out of file descriptors, aborted handshakes).
    pub(crate) accept_errors: AtomicU64,
    /// Connections closed at once because the cap was reached and none was idle.
    pub(crate) refused: AtomicU64,
    /// Idle connections closed to make room for new ones.
    pub(crate) evicted: AtomicU64,
    /// Connections closed because a request head did not arrive in time.
    pub(crate) header_timeouts: AtomicU64,
    /// Requests answered 408 because their body did not arrive in time.
    pub(crate) body_timeouts: AtomicU64,
    /// Kept-alive connections closed after waiting too long for a request.
    pub(crate) keep_alive_timeouts: AtomicU64,
    /// Refusals (413) sent while the rest of the body was read and discarded.
    pub(crate) lingering_closes: AtomicU64,
}

impl EdgeCounters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn get(counter: &AtomicU64) -> f64 {
        counter.load(Ordering::Relaxed) as f64
    }
}

/// How long, and how much, of a refused request body is still read and
/// discarded after the refusal is sent (nginx's lingering close): a client
/// that writes its whole body before reading (as the OpenAI and Anthropic
/// SDKs do) would otherwise get a reset instead of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Linger {
    /// The longest time spent discarding; zero closes at once.
    pub timeout: Duration,
    /// The most bytes discarded.
    pub max_bytes: u64,
}

impl Default for Linger {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            max_bytes: 64 * 1024 * 1024,
        }
    }
}
