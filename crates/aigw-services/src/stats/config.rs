//! How the stats pipeline buffers and writes.

use std::time::Duration;

use crate::health::HealthSettings;

/// How the stats pipeline buffers and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsConfig {
    /// Events the queue holds; beyond it, events are dropped and counted.
    pub queue_capacity: usize,
    /// Events per batch: a full batch is written at once.
    pub batch_size: usize,
    /// The longest an event waits in a partial batch before it is written.
    pub flush_interval: Duration,
    /// Events kept while the database is unreachable; beyond it the oldest
    /// are dropped and counted.
    pub backlog_capacity: usize,
    /// The first wait before retrying a failed write.
    pub retry_backoff_min: Duration,
    /// The longest wait between retries (the wait doubles up to it). It is
    /// also how late the writer may notice that the database is back.
    pub retry_backoff_max: Duration,
    /// The longest one batch's write may take before it counts as failed
    /// (and the batch is retried, or journaled): a connection that died
    /// silently must not hold the writer until TCP gives up.
    pub write_timeout: Duration,
    /// How long the drain may take when the writer stops without an
    /// explicit [`StatsHandle::shutdown`](super::StatsHandle::shutdown) (every recorder and the handle
    /// dropped).
    pub shutdown_timeout: Duration,
    /// How attempt outcomes turn into account health.
    pub health: HealthSettings,
}

impl Default for StatsConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 65_536,
            batch_size: 1_000,
            flush_interval: Duration::from_secs(1),
            backlog_capacity: 200_000,
            retry_backoff_min: Duration::from_millis(200),
            retry_backoff_max: Duration::from_secs(1),
            write_timeout: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(10),
            health: HealthSettings::default(),
        }
    }
}

impl StatsConfig {
    /// The configuration with every size at least 1 (a zero-sized queue or
    /// batch cannot work) and a non-zero backoff (a zero one would spin).
    pub(super) fn normalized(mut self) -> Self {
        self.queue_capacity = self.queue_capacity.max(1);
        self.batch_size = self.batch_size.max(1);
        self.backlog_capacity = self.backlog_capacity.max(1);
        self.retry_backoff_min = self.retry_backoff_min.max(Duration::from_millis(1));
        self.retry_backoff_max = self.retry_backoff_max.max(self.retry_backoff_min);
        self.write_timeout = self.write_timeout.max(Duration::from_millis(1));
        self
    }
}
