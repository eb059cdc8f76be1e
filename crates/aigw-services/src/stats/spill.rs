//! The writer's handle on the journal: every journal operation runs on
//! tokio's blocking pool (file IO and fsync never stall a runtime worker),
//! and its outcome is counted and published as gauges.

use std::sync::Arc;

use chrono::Utc;
use parking_lot::Mutex;

use super::batch::PendingBatch;
use super::journal::{Appended, Journal, JournalBatch, JournalError, Position};
use super::metrics::Counters;

/// The journal, as the writer task uses it.
pub(crate) struct Spill {
    /// Locked only inside blocking-pool closures, never across an `.await`;
    /// the writer is the only user, so the lock is never contended.
    journal: Arc<Mutex<Journal>>,
    counters: Arc<Counters>,
    /// A batch read back from the journal whose write failed: retried
    /// before the next record is read, keeping what its earlier attempts
    /// achieved.
    replaying: Option<(PendingBatch, Position)>,
    /// Whether the journal had a record to replay after the last operation.
    pending: bool,
    /// Whether appends may be waiting for an fsync.
    unsynced: bool,
}

impl Spill {
    pub(crate) fn new(journal: Journal, counters: Arc<Counters>) -> Self {
        publish(&journal, &counters);
        let pending = journal.has_pending();
        Self {
            journal: Arc::new(Mutex::new(journal)),
            counters,
            replaying: None,
            pending,
            unsynced: false,
        }
    }

    /// Whether a batch waits in the journal.
    pub(crate) fn has_pending(&self) -> bool {
        self.replaying.is_some() || self.pending
    }

    /// Runs `op` on the journal on the blocking pool; `None` if that task
    /// failed.
    async fn run<T: Send + 'static>(
        &mut self,
        op: impl FnOnce(&mut Journal) -> T + Send + 'static,
    ) -> Option<T> {
        let journal = Arc::clone(&self.journal);
        let counters = Arc::clone(&self.counters);
        let outcome = tokio::task::spawn_blocking(move || {
            let mut journal = journal.lock();
            let out = op(&mut journal);
            publish(&journal, &counters);
            (out, journal.has_pending())
        })
        .await;
        match outcome {
            Ok((out, pending)) => {
                self.pending = pending;
                Some(out)
            }
            Err(error) => {
                tracing::error!(%error, "stats journal task failed");
                Counters::add(&self.counters.journal_errors, 1);
                None
            }
        }
    }

    /// Appends `batches` in order. Returns those the journal could not
    /// write (a file error), for the caller to keep in memory; a full
    /// journal drops the batch and counts its events.
    pub(crate) async fn append(&mut self, batches: Vec<PendingBatch>) -> Vec<PendingBatch> {
        if batches.is_empty() {
            return batches;
        }
        self.unsynced = true;
        let outcome = self
            .run(move |journal| {
                let now = Utc::now();
                let mut kept = Vec::new();
                let mut outcome = Appended::Written(0);
                let mut error = None;
                let mut full_events = 0;
                let mut written = (0, 0);
                for batch in batches {
                    if error.is_some() {
                        kept.push(batch);
                        continue;
                    }
                    match journal.append(&JournalBatch::of(&batch), now) {
                        Ok(Appended::Written(_)) => {
                            written.0 += 1;
                            written.1 += batch.events;
                        }
                        Ok(Appended::Full) => {
                            outcome = Appended::Full;
                            full_events += batch.events;
                        }
                        Err(e) => {
                            error = Some(e);
                            kept.push(batch);
                        }
                    }
                }
                (kept, outcome, full_events, written, error)
            })
            .await;
        let Some((kept, outcome, full_events, (batches, events), error)) = outcome else {
            return Vec::new();
        };
        Counters::add(&self.counters.journal_appended_batches, batches);
        Counters::add(&self.counters.journal_appended_events, events);
        if outcome == Appended::Full {
            Counters::add(&self.counters.dropped_journal_full, full_events);
            tracing::warn!(
                dropped = full_events,
                "stats journal full while the database is unreachable; events dropped"
            );
        }
        if let Some(error) = error {
            self.journal_error(&error);
        }
        kept
    }

    /// The next batch to replay: the one whose write failed last, or the
    /// oldest record in the journal.
    pub(crate) async fn next(&mut self) -> Option<(PendingBatch, Position)> {
        if let Some(replaying) = self.replaying.take() {
            return Some(replaying);
        }
        if !self.pending {
            return None;
        }
        let counters = Arc::clone(&self.counters);
        let outcome = self
            .run(move |journal| {
                let next = journal.next(Utc::now());
                let skipped = journal.take_skipped();
                Counters::add64(&counters.journal_corrupt_records, skipped.corrupt);
                Counters::add64(&counters.dropped_journal_expired, skipped.expired_events);
                if skipped.corrupt > 0 {
                    tracing::warn!(
                        records = skipped.corrupt,
                        "corrupt stats journal records skipped (torn write or bad checksum)"
                    );
                }
                if skipped.expired_events > 0 {
                    tracing::warn!(
                        dropped = skipped.expired_events,
                        "stats journal records past their age dropped"
                    );
                }
                next
            })
            .await?;
        match outcome {
            Ok(next) => next.map(|r| (r.batch.into_pending(), r.end)),
            Err(error) => {
                self.journal_error(&error);
                None
            }
        }
    }

    /// Keeps `batch` (written in part, or not at all) for the next replay.
    pub(crate) fn retry_later(&mut self, batch: PendingBatch, end: Position) {
        self.replaying = Some((batch, end));
    }

    /// The batch ending at `end` is written: the journal moves past it.
    pub(crate) async fn consumed(&mut self, end: Position) {
        if let Some(Err(error)) = self.run(move |journal| journal.consumed(end)).await {
            self.journal_error(&error);
        }
    }

    /// Forces appended records to disk, always or only when the interval
    /// policy's interval has passed.
    pub(crate) async fn sync(&mut self, always: bool) {
        if !self.unsynced {
            return;
        }
        let outcome = self
            .run(move |journal| {
                if always {
                    journal.sync().map(|()| true)
                } else {
                    journal.sync_due()
                }
            })
            .await;
        match outcome {
            Some(Ok(synced)) => self.unsynced = !synced,
            Some(Err(error)) => self.journal_error(&error),
            None => {}
        }
    }

    fn journal_error(&self, error: &JournalError) {
        Counters::add(&self.counters.journal_errors, 1);
        tracing::error!(%error, "stats journal operation failed");
    }
}

/// Publishes the journal's gauges.
fn publish(journal: &Journal, counters: &Counters) {
    let gauges = journal.gauges();
    Counters::set64(&counters.journal_bytes, gauges.bytes);
    Counters::set64(&counters.journal_pending_bytes, gauges.pending_bytes);
    let oldest = gauges
        .oldest
        .map_or(0, |at| u64::try_from(at.timestamp_millis()).unwrap_or(0));
    Counters::set64(&counters.journal_oldest_ms, oldest);
}
