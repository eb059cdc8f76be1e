//! The stats pipeline's counters: what was queued, written, retried and
//! dropped, so that nothing is lost without a number saying so.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters shared by the recorders and the writer. Relaxed atomics:
/// each counter is independent, and readers only need eventually exact values.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) enqueued: AtomicU64,
    /// Events the writer took from the queue (dropped ones included); the
    /// queue depth is `enqueued - received`.
    pub(crate) received: AtomicU64,
    pub(crate) dropped_queue_full: AtomicU64,
    pub(crate) dropped_closed: AtomicU64,
    pub(crate) dropped_backlog_full: AtomicU64,
    pub(crate) dropped_shutdown: AtomicU64,
    pub(crate) rejected_rows: AtomicU64,
    pub(crate) rejected_updates: AtomicU64,
    pub(crate) flushed_rows: AtomicU64,
    pub(crate) flushes: AtomicU64,
    pub(crate) flush_failures: AtomicU64,
    pub(crate) memory_releases: AtomicU64,
    pub(crate) replays_skipped: AtomicU64,
    pub(crate) live_updates: AtomicU64,
    pub(crate) live_failures: AtomicU64,
    pub(crate) health_failures: AtomicU64,
    pub(crate) backlog_len: AtomicU64,
    pub(crate) dropped_journal_full: AtomicU64,
    pub(crate) dropped_journal_expired: AtomicU64,
    pub(crate) journal_corrupt_records: AtomicU64,
    pub(crate) journal_errors: AtomicU64,
    pub(crate) journal_appended_batches: AtomicU64,
    pub(crate) journal_appended_events: AtomicU64,
    /// Of those, events moved there because the writer fell behind the queue.
    pub(crate) journal_overflow_events: AtomicU64,
    pub(crate) journal_replayed_batches: AtomicU64,
    pub(crate) journal_replayed_events: AtomicU64,
    pub(crate) journal_bytes: AtomicU64,
    pub(crate) journal_pending_bytes: AtomicU64,
    /// Unix milliseconds of the oldest record still to replay; 0 for none.
    pub(crate) journal_oldest_ms: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub(crate) fn set(counter: &AtomicU64, n: usize) {
        counter.store(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub(crate) fn add64(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn set64(counter: &AtomicU64, n: u64) {
        counter.store(n, Ordering::Relaxed);
    }

    /// Events waiting in the queue now.
    pub(crate) fn queue_depth(&self) -> u64 {
        let received = self.received.load(Ordering::Relaxed);
        self.enqueued
            .load(Ordering::Relaxed)
            .saturating_sub(received)
    }

    pub(crate) fn metrics(&self) -> StatsMetrics {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        // `received` is read first: read after `enqueued`, it could pass it.
        let received = get(&self.received);
        StatsMetrics {
            enqueued: get(&self.enqueued),
            dropped_queue_full: get(&self.dropped_queue_full),
            dropped_closed: get(&self.dropped_closed),
            dropped_backlog_full: get(&self.dropped_backlog_full),
            dropped_shutdown: get(&self.dropped_shutdown),
            rejected_rows: get(&self.rejected_rows),
            rejected_updates: get(&self.rejected_updates),
            flushed_rows: get(&self.flushed_rows),
            flushes: get(&self.flushes),
            flush_failures: get(&self.flush_failures),
            memory_releases: get(&self.memory_releases),
            replays_skipped: get(&self.replays_skipped),
            live_updates: get(&self.live_updates),
            live_failures: get(&self.live_failures),
            health_failures: get(&self.health_failures),
            queue_depth: get(&self.enqueued).saturating_sub(received),
            backlog_len: get(&self.backlog_len),
            dropped_journal_full: get(&self.dropped_journal_full),
            dropped_journal_expired: get(&self.dropped_journal_expired),
            journal_corrupt_records: get(&self.journal_corrupt_records),
            journal_errors: get(&self.journal_errors),
            journal_appended_batches: get(&self.journal_appended_batches),
            journal_appended_events: get(&self.journal_appended_events),
            journal_overflow_events: get(&self.journal_overflow_events),
            journal_replayed_batches: get(&self.journal_replayed_batches),
            journal_replayed_events: get(&self.journal_replayed_events),
            journal_bytes: get(&self.journal_bytes),
            journal_pending_bytes: get(&self.journal_pending_bytes),
            journal_oldest_unix_ms: get(&self.journal_oldest_ms),
        }
    }
}

/// A reading of the stats pipeline's counters, for `/metrics`. Counters only
/// grow; `queue_depth` and `backlog_len` are gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsMetrics {
    /// Events accepted into the queue.
    pub enqueued: u64,
    /// Events dropped because the queue was full (the request went on unslowed).
    pub dropped_queue_full: u64,
    /// Events recorded after shutdown began, dropped.
    pub dropped_closed: u64,
    /// Events whose writes were abandoned because the backlog (kept while the
    /// database is unreachable) was full; the oldest go first.
    pub dropped_backlog_full: u64,
    /// Events still unwritten when the shutdown deadline passed.
    pub dropped_shutdown: u64,
    /// Request-log rows the database refused for good (after the batch was
    /// split to isolate them).
    pub rejected_rows: u64,
    /// Proxy-stats deltas and account-usage updates the database refused for
    /// good, e.g. because the proxy or account was deleted meanwhile.
    pub rejected_updates: u64,
    /// Request-log rows written.
    pub flushed_rows: u64,
    /// Batches written completely.
    pub flushes: u64,
    /// Write attempts that failed and will be retried.
    pub flush_failures: u64,
    /// Times the writer, finding no event for a whole flush interval after
    /// writing, had the database hand back the cache its writes filled.
    pub memory_releases: u64,
    /// Stages of batches (or parts of split stages) that a retry found
    /// committed already, by an attempt whose commit was reported as failed:
    /// skipped, so that nothing is counted twice.
    pub replays_skipped: u64,
    /// Live-counter updates sent to the shared state: one per scope, id and
    /// UTC day in a batch (a batch's events are summed first).
    pub live_updates: u64,
    /// Live-counter updates the shared state refused (not retried: the live
    /// counters are a same-day view, the SQL rows are the record).
    pub live_failures: u64,
    /// Account outcomes whose health (or learned limit) update the database
    /// refused or did not answer in time (not retried: health is current
    /// state, and the next outcome writes it again).
    pub health_failures: u64,
    /// Events waiting in the queue.
    pub queue_depth: u64,
    /// Events waiting in the writer's backlog for the database.
    pub backlog_len: u64,
    /// Events dropped because the journal was at its size limit.
    pub dropped_journal_full: u64,
    /// Events dropped from the journal because they were older than its age
    /// limit when their turn to be replayed came.
    pub dropped_journal_expired: u64,
    /// Journal records that failed their checksum or were cut short (a torn
    /// write); each ends its segment, which is skipped, never replayed.
    pub journal_corrupt_records: u64,
    /// Journal file operations that failed (the batch then stays in memory).
    pub journal_errors: u64,
    /// Batches written to the journal because the database could not take them.
    pub journal_appended_batches: u64,
    /// Events in those batches.
    pub journal_appended_events: u64,
    /// Of those, events the writer moved from the queue to the journal
    /// because it fell behind (a slow or unreachable database), rather than
    /// let the queue fill and drop them.
    pub journal_overflow_events: u64,
    /// Journal batches written to the database (replayed).
    pub journal_replayed_batches: u64,
    /// Events in those batches.
    pub journal_replayed_events: u64,
    /// Bytes of the journal's segments on disk (gauge).
    pub journal_bytes: u64,
    /// Bytes of the journal still to replay (gauge).
    pub journal_pending_bytes: u64,
    /// When the oldest record still to replay was journaled, in Unix
    /// milliseconds; 0 when nothing waits (gauge).
    pub journal_oldest_unix_ms: u64,
}

impl StatsMetrics {
    /// Every event that was dropped, whatever the reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_queue_full
            + self.dropped_closed
            + self.dropped_backlog_full
            + self.dropped_shutdown
            + self.dropped_journal_full
            + self.dropped_journal_expired
    }

    /// Seconds since the oldest record still in the journal was written
    /// there, at `now_unix_ms`; 0 when the journal has nothing to replay.
    pub fn journal_oldest_age_seconds(&self, now_unix_ms: i64) -> f64 {
        if self.journal_oldest_unix_ms == 0 {
            return 0.0;
        }
        let now = u64::try_from(now_unix_ms).unwrap_or(0);
        now.saturating_sub(self.journal_oldest_unix_ms) as f64 / 1000.0
    }
}

/// What the shutdown drain achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushReport {
    /// Everything queued or backlogged was written before the deadline.
    pub drained: bool,
    /// Request-log rows written during the drain.
    pub written_rows: u64,
    /// Events still unwritten at the deadline, dropped (also counted in
    /// [`StatsMetrics::dropped_shutdown`]).
    pub dropped: u64,
    /// The counters after the drain.
    pub metrics: StatsMetrics,
}
