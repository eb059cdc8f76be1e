//! A monotonic counter that tests wait on with a deadline instead of sleeping.

use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// Counts events (requests, disconnects, tunnels) and wakes anyone waiting for a total.
#[derive(Debug, Default)]
pub(crate) struct Counter {
    value: AtomicU64,
    changed: Notify,
}

impl Counter {
    /// Adds one and wakes the waiters; returns the new total.
    pub(crate) fn incr(&self) -> u64 {
        let now = self.value.fetch_add(1, Ordering::AcqRel) + 1;
        self.changed.notify_waiters();
        now
    }

    pub(crate) fn get(&self) -> u64 {
        self.value.load(Ordering::Acquire)
    }

    /// Waits until the total reaches `n` or `timeout` passes; returns whether it did.
    pub(crate) async fn wait_at_least(&self, n: u64, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Register interest before reading the value so an increment between
            // the read and the await cannot be missed.
            let mut notified = pin!(self.changed.notified());
            notified.as_mut().enable();
            if self.get() >= n {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.get() >= n;
            }
        }
    }
}
