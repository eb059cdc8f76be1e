//! The stats pipeline: every request and every failed attempt produces one
//! [`StatsEvent`]; events go through one bounded queue to one writer task
//! that batches them into `request_logs`, the daily `proxy_stats`, the
//! accounts' usage counts and the live counters of the shared state.
//!
//! Recording never blocks or fails the request: [`StatsRecorder::record`] is
//! a synchronous `try_send`, and a full queue drops the event and counts it.
//! The writer flushes at most every `flush_interval` or every `batch_size`
//! events. While the database is unreachable it keeps a bounded backlog and
//! retries with exponential backoff; what it must drop, it counts. On
//! shutdown ([`StatsHandle::shutdown`]) the queue is closed, drained and
//! written, within a deadline. Every dropped event shows in
//! [`StatsMetrics`].
//!
//! A batch's writes grow with what its events touch, not with their number:
//! the live counters get one update per scope (proxy, account, provider), id
//! and UTC day, with the batch's sums; the SQL store gets three transactions,
//! run at once: the request-log rows, the proxy-stats sums per proxy,
//! provider and day, and the account uses (one `UPDATE` per distinct
//! account).
//!
//! Each of the three is written exactly once, even when a commit succeeds
//! but is reported as failed (the connection died while it was in flight)
//! and the batch is retried: every batch has an id, and each transaction
//! writes a marker `(batch id, stage)` with its rows. A retry that finds the
//! marker skips the stage ([`StatsMetrics::replays_skipped`]); a stage split
//! into one-row writes (after the database refused a row) marks each row.
//! Markers older than a day are deleted by the writer, at most once an hour.
//!
//! Account health and learned limits are current state rather than counts:
//! after the live counters, the writer coalesces a batch's attempt outcomes
//! per account into one transaction of health updates (announcing accounts
//! that went `down` or came back, see `health.rs`), and the limits answers
//! stated into quota patterns (at most once per account every few seconds).
//! Neither is journaled or retried; a failure is counted
//! ([`StatsMetrics::health_failures`]) and the next outcome writes again.
//!
//! With a [`Journal`] ([`StatsRecorder::start_with_journal`]), a batch the
//! database cannot take goes to local disk instead of the in-memory backlog,
//! and so does every batch while writes keep failing; the journal is replayed
//! through the same markers (so a batch replayed twice counts once) when the
//! database is back, and after a restart. Only a full journal drops events.

mod batch;
mod config;
mod event;
mod journal;
mod metrics;
mod queue;
mod spill;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use aigw_repository::SqlRepository;
use aigw_repository::state::SharedState;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use config::StatsConfig;
pub use event::{MAX_ERROR_MESSAGE, StatsEvent, StatsFailure, TokenUsage};
pub use journal::{FsyncPolicy, Journal, JournalConfig, JournalError};
pub use metrics::{FlushReport, StatsMetrics};

use metrics::Counters;
use queue::{EventSender, SendError};

use crate::health::DownAccounts;
use writer::Writer;

/// Records stats events from the request path. Cheap to clone; every clone
/// feeds the same writer.
#[derive(Debug, Clone)]
pub struct StatsRecorder {
    tx: EventSender,
    counters: Arc<Counters>,
    /// The `down` accounts the writer decides from the outcomes it sees.
    down: DownAccounts,
}

/// Controls the writer task: stop it with [`StatsHandle::shutdown`].
/// Dropping the handle instead detaches the writer: it keeps writing until
/// every recorder is dropped, then drains within `shutdown_timeout`.
#[derive(Debug)]
pub struct StatsHandle {
    stop: Option<oneshot::Sender<Instant>>,
    task: JoinHandle<FlushReport>,
    counters: Arc<Counters>,
}

impl StatsRecorder {
    /// Starts the writer task on the current tokio runtime and returns the
    /// recorder to hand to the request path, and the handle to stop it.
    pub fn start(
        repository: SqlRepository,
        state: SharedState,
        config: StatsConfig,
    ) -> (StatsRecorder, StatsHandle) {
        Self::spawn(repository, state, config, None)
    }

    /// Like [`StatsRecorder::start`], with `journal` keeping what the
    /// database cannot take; what it holds already (left by an earlier
    /// process) is replayed first.
    pub fn start_with_journal(
        repository: SqlRepository,
        state: SharedState,
        config: StatsConfig,
        journal: Journal,
    ) -> (StatsRecorder, StatsHandle) {
        Self::spawn(repository, state, config, Some(journal))
    }

    fn spawn(
        repository: SqlRepository,
        state: SharedState,
        config: StatsConfig,
        journal: Option<Journal>,
    ) -> (StatsRecorder, StatsHandle) {
        let config = config.normalized();
        let (tx, rx) = queue::queue(config.queue_capacity, config.batch_size);
        let (stop_tx, stop_rx) = oneshot::channel();
        let counters = Arc::new(Counters::default());
        let down = DownAccounts::default();
        let writer = Writer::new(
            repository,
            state,
            config,
            rx,
            stop_rx,
            Arc::clone(&counters),
            journal,
        )
        .with_down(down.clone());
        #[expect(
            clippy::disallowed_methods,
            reason = "the one stats writer, started once per runtime"
        )]
        let task = tokio::spawn(writer.run());
        let recorder = StatsRecorder {
            tx,
            counters: Arc::clone(&counters),
            down,
        };
        let handle = StatsHandle {
            stop: Some(stop_tx),
            task,
            counters,
        };
        (recorder, handle)
    }

    /// Queues `event` for the writer. Never blocks and never fails the
    /// caller: when the queue is full (or the writer has stopped) the event
    /// is dropped and counted.
    pub fn record(&self, event: StatsEvent) {
        match self.tx.try_send(event) {
            Ok(()) => Counters::add(&self.counters.enqueued, 1),
            Err(SendError::Full) => {
                let dropped = self
                    .counters
                    .dropped_queue_full
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    + 1;
                // Logged at 1, 2, 4, 8, … drops: visible, without a log line
                // per request when the writer falls behind.
                if dropped.is_power_of_two() {
                    tracing::warn!(dropped, "stats queue full; events dropped");
                }
            }
            Err(SendError::Closed) => Counters::add(&self.counters.dropped_closed, 1),
        }
    }

    /// The pipeline's counters now.
    pub fn metrics(&self) -> StatsMetrics {
        self.counters.metrics()
    }

    /// The `down` accounts, as the writer decides them from the outcomes
    /// it is sent (and as other instances announce them).
    pub fn down_accounts(&self) -> &DownAccounts {
        &self.down
    }
}

impl StatsHandle {
    /// The pipeline's counters now.
    pub fn metrics(&self) -> StatsMetrics {
        self.counters.metrics()
    }

    /// Stops the writer: new events are refused (and counted), everything
    /// queued and backlogged is written, retrying while the database is
    /// unreachable, until `timeout` from now; what is still unwritten then
    /// is dropped and counted.
    pub async fn shutdown(mut self, timeout: Duration) -> FlushReport {
        if let Some(stop) = self.stop.take() {
            // An error means the writer already ended; its report follows.
            let _ = stop.send(Instant::now() + timeout);
        }
        match (&mut self.task).await {
            Ok(report) => report,
            Err(error) => {
                tracing::error!(%error, "stats writer task failed");
                FlushReport {
                    drained: false,
                    written_rows: 0,
                    dropped: 0,
                    metrics: self.counters.metrics(),
                }
            }
        }
    }
}
