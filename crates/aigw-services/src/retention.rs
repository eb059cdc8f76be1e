//! Retention: one owned background task that deletes request logs, daily
//! proxy stats and error-log entries past their configured age, so that a
//! busy gateway does not fill its disk.
//!
//! Rows go in bounded steps (`batch_rows` per step, deleted a few hundred
//! per statement, with a pause between steps), so the database's writer,
//! which the stats writer needs too (SQLite has exactly one), is never held
//! for long. A pass runs at
//! start and then every `interval`; a failed pass is counted and retried at
//! the next. The per-day live counters expire by themselves in the shared
//! state (`StateConfig::live_counter_grace`).

use std::time::Duration;

use aigw_repository::SqlRepository;
use aigw_repository::state::SharedState;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::Gateway;

/// What is kept, and how the pruning paces itself. A `None` age keeps that
/// data for ever.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionSettings {
    /// Request logs older than this are deleted.
    pub request_logs: Option<Duration>,
    /// Error-log entries older than this are deleted.
    pub error_logs: Option<Duration>,
    /// Daily proxy stats of days older than this are deleted.
    pub proxy_stats: Option<Duration>,
    /// How often a pass runs.
    pub interval: Duration,
    /// Rows deleted per step (in statements of a few hundred rows).
    pub batch_rows: usize,
    /// The pause between two steps of a pass.
    pub batch_pause: Duration,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        const DAY: u64 = 24 * 3600;
        Self {
            request_logs: Some(Duration::from_secs(30 * DAY)),
            error_logs: Some(Duration::from_secs(30 * DAY)),
            proxy_stats: Some(Duration::from_secs(400 * DAY)),
            interval: Duration::from_secs(3600),
            batch_rows: 5_000,
            batch_pause: Duration::from_millis(100),
        }
    }
}

/// The retention task; stop it with [`RetentionHandle::shutdown`].
#[derive(Debug)]
pub struct RetentionHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Where a pass prunes, and what it counts.
struct Pruner {
    repository: SqlRepository,
    state: SharedState,
    settings: RetentionSettings,
    /// Its metrics count what is deleted.
    gateway: Gateway,
    stop: watch::Receiver<bool>,
}

/// Starts the retention task on the current runtime; `gateway`'s metrics
/// count what it deletes.
pub fn start(
    repository: SqlRepository,
    state: SharedState,
    settings: RetentionSettings,
    gateway: Gateway,
) -> RetentionHandle {
    let (stop_tx, stop) = watch::channel(false);
    let pruner = Pruner {
        repository,
        state,
        settings,
        gateway,
        stop,
    };
    #[expect(
        clippy::disallowed_methods,
        reason = "the one retention task, started once per runtime"
    )]
    let task = tokio::spawn(pruner.run());
    RetentionHandle {
        stop: stop_tx,
        task,
    }
}

impl RetentionHandle {
    /// Stops the task; a statement in progress ends first (it is short).
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.task.await {
            tracing::error!(%error, "retention task failed");
        }
    }
}

impl Pruner {
    async fn run(mut self) {
        loop {
            self.pass().await;
            let mut stop = self.stop.clone();
            tokio::select! {
                () = tokio::time::sleep(self.settings.interval) => {}
                _ = stop.wait_for(|stop| *stop) => return,
            }
        }
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// One pass over every data set.
    async fn pass(&mut self) {
        let now = chrono::Utc::now();
        if let Some(age) = self.settings.request_logs.and_then(to_delta) {
            let before = now - age;
            let repo = self.repository.clone();
            self.prune("request_logs", |limit| {
                let repo = repo.clone();
                async move { repo.prune_request_logs_before(before, limit).await }
            })
            .await;
        }
        if let Some(age) = self.settings.proxy_stats.and_then(to_delta) {
            let before = (now - age).date_naive();
            let repo = self.repository.clone();
            self.prune("proxy_stats", |limit| {
                let repo = repo.clone();
                async move { repo.prune_proxy_stats_before(before, limit).await }
            })
            .await;
        }
        if let Some(age) = self.settings.error_logs
            && !self.stopping()
        {
            match self.state.error_log_trim_older_than(age).await {
                Ok(trimmed) => self.gateway.metrics().pruned("error_logs", trimmed),
                Err(error) => {
                    self.gateway.metrics().prune_failed("error_logs");
                    tracing::warn!(%error, "error log not trimmed; retried at the next pass");
                }
            }
        }
    }

    /// Deletes `data` in steps of `batch_rows` until a step deletes fewer
    /// (nothing is left), pausing between steps; stops early on shutdown.
    async fn prune<F, Fut>(&mut self, data: &'static str, mut step: F)
    where
        F: FnMut(i64) -> Fut,
        Fut: Future<Output = Result<usize, aigw_repository::Error>>,
    {
        let limit = i64::try_from(self.settings.batch_rows.max(1)).unwrap_or(i64::MAX);
        let mut total = 0_u64;
        while !self.stopping() {
            match step(limit).await {
                Ok(deleted) => {
                    let deleted = deleted as u64;
                    total += deleted;
                    self.gateway.metrics().pruned(data, deleted);
                    if deleted < limit as u64 {
                        break;
                    }
                }
                Err(error) => {
                    self.gateway.metrics().prune_failed(data);
                    tracing::warn!(%error, data, "retention step failed; retried at the next pass");
                    break;
                }
            }
            let mut stop = self.stop.clone();
            tokio::select! {
                () = tokio::time::sleep(self.settings.batch_pause) => {}
                _ = stop.wait_for(|stop| *stop) => break,
            }
        }
        if total > 0 {
            tracing::info!(data, rows = total, "rows past their retention deleted");
        }
    }
}

fn to_delta(age: Duration) -> Option<chrono::TimeDelta> {
    chrono::TimeDelta::from_std(age).ok()
}
