//! What one flush writes (a batch: request-log rows plus the proxy-stats and
//! account-usage sums of the same events), and the bounded backlog of batches
//! waiting for the database.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use aigw_domain::{AccountId, NewRequestLog, ProviderId, ProxyId, ProxyStatsDelta, StatsBatchId};
use chrono::NaiveDate;
use tokio::time::Instant;

use super::event::{StatsEvent, millis};

/// The `proxy_stats` unique key: proxy, provider, UTC day.
pub(crate) type ProxyKey = (ProxyId, Option<ProviderId>, NaiveDate);

/// Sums to add to one `proxy_stats` row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ProxySums {
    pub(crate) requests: i64,
    pub(crate) successes: i64,
    pub(crate) errors: i64,
    pub(crate) latency_ms: i64,
}

/// The writes of a group of events, aggregated, with what is still to do.
/// A stage is emptied as it is written, so a retry after a partial failure
/// resumes where it stopped. A stage whose commit was in flight when its
/// connection died is reported as failed although it may have committed: its
/// rows stay, and the retry finds the stage's marker (written in the same
/// transaction under the batch's `id`) and skips it, so that it is never
/// counted twice.
#[derive(Debug)]
pub(crate) struct PendingBatch {
    /// Names the batch's writes in the database's stage markers.
    pub(crate) id: StatsBatchId,
    /// Whether a write of this batch was attempted: from then on its
    /// content is tied to its id (another batch merged into it would be
    /// taken for written when a stage's marker shows up).
    pub(crate) attempted: bool,
    /// Events in the batch (what the backlog's capacity counts).
    pub(crate) events: usize,
    /// Request-log rows not yet written.
    pub(crate) logs: VecDeque<NewRequestLog>,
    /// The position of the first row of `logs` among the batch's rows, which
    /// names a row's marker once the rows are written one by one.
    pub(crate) logs_done: usize,
    /// Proxy-stats sums not yet written.
    pub(crate) proxy: BTreeMap<ProxyKey, ProxySums>,
    /// Account uses not yet recorded.
    pub(crate) accounts: BTreeMap<AccountId, i64>,
    /// Failures the repository could not classify, so far, per stage
    /// (request logs, proxy stats, account usage).
    pub(crate) unclassified: [u32; 3],
    /// Write the request logs one row per statement, to isolate a row the
    /// database refuses.
    pub(crate) split_logs: bool,
    /// Write the proxy-stats sums one key per statement, for the same reason.
    pub(crate) split_proxy: bool,
}

/// Events converted to rows between two yields to the runtime. A whole
/// batch's conversion is about a millisecond of CPU or more; done in one
/// poll of the writer task, it would hold up every request waiting on the
/// same worker thread for that long.
const CONVERT_BETWEEN_YIELDS: usize = 64;

impl PendingBatch {
    /// Like [`from_events`](Self::from_events), yielding to the runtime
    /// every [`CONVERT_BETWEEN_YIELDS`] events: what the writer task uses,
    /// as it shares its worker threads with requests.
    pub(crate) async fn from_events_yielding(events: &[StatsEvent]) -> Self {
        let mut batch = Self::empty(events.len());
        for chunk in events.chunks(CONVERT_BETWEEN_YIELDS) {
            for event in chunk {
                batch.add(event);
            }
            if batch.events < events.len() {
                tokio::task::yield_now().await;
            }
        }
        batch
    }

    /// The writes of `events`, under a fresh batch id.
    pub(crate) fn from_events(events: &[StatsEvent]) -> Self {
        let mut batch = Self::empty(events.len());
        for event in events {
            batch.add(event);
        }
        batch
    }

    fn empty(capacity: usize) -> Self {
        Self {
            id: StatsBatchId::new(),
            attempted: false,
            events: 0,
            logs: VecDeque::with_capacity(capacity),
            logs_done: 0,
            proxy: BTreeMap::new(),
            accounts: BTreeMap::new(),
            unclassified: [0; 3],
            split_logs: false,
            split_proxy: false,
        }
    }

    fn add(&mut self, event: &StatsEvent) {
        self.events += 1;
        self.logs.push_back(event.to_log());
        if let Some(proxy) = event.proxy_id {
            let key = (proxy, event.provider_id.clone(), event.at.date_naive());
            let sums = self.proxy.entry(key).or_default();
            sums.requests += 1;
            if event.failed() {
                sums.errors += 1;
            } else {
                sums.successes += 1;
            }
            sums.latency_ms = sums.latency_ms.saturating_add(millis(event.latency));
        }
        if let Some(account) = event.account_id.filter(|_| !event.counts_tokens) {
            *self.accounts.entry(account).or_default() += 1;
        }
    }

    /// Whether no write of this batch has been attempted yet, so that
    /// another batch may be merged into it.
    fn untouched(&self) -> bool {
        !self.attempted
    }

    /// Adds `other`'s writes to this batch (both untouched).
    fn absorb(&mut self, other: PendingBatch) {
        self.events += other.events;
        self.logs.extend(other.logs);
        for (key, sums) in other.proxy {
            let mine = self.proxy.entry(key).or_default();
            mine.requests += sums.requests;
            mine.successes += sums.successes;
            mine.errors += sums.errors;
            mine.latency_ms = mine.latency_ms.saturating_add(sums.latency_ms);
        }
        for (account, uses) in other.accounts {
            *self.accounts.entry(account).or_default() += uses;
        }
    }

    /// Whether every stage is written.
    pub(crate) fn is_done(&self) -> bool {
        self.logs.is_empty() && self.proxy.is_empty() && self.accounts.is_empty()
    }

    /// The proxy-stats deltas still to write.
    #[cfg(test)]
    pub(crate) fn proxy_deltas(&self) -> Vec<ProxyStatsDelta> {
        deltas(&self.proxy)
    }
}

/// The repository's deltas for `sums`.
pub(crate) fn deltas(sums: &BTreeMap<ProxyKey, ProxySums>) -> Vec<ProxyStatsDelta> {
    sums.iter().map(|(key, sums)| delta(key, sums)).collect()
}

/// The repository's delta for one key.
pub(crate) fn delta(key: &ProxyKey, sums: &ProxySums) -> ProxyStatsDelta {
    ProxyStatsDelta {
        proxy_id: key.0,
        provider_id: key.1.clone(),
        date: key.2,
        request_count: sums.requests,
        success_count: sums.successes,
        error_count: sums.errors,
        total_latency_ms: sums.latency_ms,
    }
}

/// Batches waiting for the database, oldest first, bounded in events, with
/// the retry schedule (exponential backoff between `min` and `max`).
#[derive(Debug)]
pub(crate) struct Backlog {
    batches: VecDeque<PendingBatch>,
    events: usize,
    capacity: usize,
    merge_limit: usize,
    backoff: Duration,
    backoff_min: Duration,
    backoff_max: Duration,
    retry_at: Option<Instant>,
}

impl Backlog {
    /// A backlog that keeps at most `capacity` events once a write has
    /// failed; batches smaller than `merge_limit` events are merged while
    /// they wait, so a long outage does not end in many small writes.
    pub(crate) fn new(
        capacity: usize,
        merge_limit: usize,
        backoff_min: Duration,
        backoff_max: Duration,
    ) -> Self {
        Self {
            batches: VecDeque::new(),
            events: 0,
            capacity,
            merge_limit,
            backoff: backoff_min,
            backoff_min,
            backoff_max: backoff_max.max(backoff_min),
            retry_at: None,
        }
    }

    /// Events waiting.
    pub(crate) fn len(&self) -> usize {
        self.events
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// Queues `batch` behind the others.
    pub(crate) fn push(&mut self, batch: PendingBatch) {
        if batch.events == 0 {
            return;
        }
        self.events += batch.events;
        if let Some(last) = self.batches.back_mut()
            && last.untouched()
            && last.events + batch.events <= self.merge_limit
        {
            last.absorb(batch);
            return;
        }
        self.batches.push_back(batch);
    }

    /// The oldest batch, to write next.
    pub(crate) fn front_mut(&mut self) -> Option<&mut PendingBatch> {
        self.batches.front_mut()
    }

    /// Removes the oldest batch (written, or abandoned); returns its events.
    pub(crate) fn pop_front(&mut self) -> usize {
        let events = self.batches.pop_front().map_or(0, |b| b.events);
        self.events -= events;
        events
    }

    /// Drops the oldest batches until at most `capacity` events wait;
    /// returns how many events were dropped. Called after a write attempt,
    /// so that a healthy database never sees a batch dropped unattempted.
    pub(crate) fn enforce_capacity(&mut self) -> usize {
        let mut dropped = 0;
        while self.events > self.capacity && !self.batches.is_empty() {
            dropped += self.pop_front();
        }
        dropped
    }

    /// Takes every batch out, oldest first (to journal them).
    pub(crate) fn take_all(&mut self) -> VecDeque<PendingBatch> {
        self.events = 0;
        std::mem::take(&mut self.batches)
    }

    /// Whether a write may be attempted at `now`.
    pub(crate) fn due(&self, now: Instant) -> bool {
        self.retry_at.is_none_or(|at| now >= at)
    }

    /// When the next retry is due, if one is scheduled.
    pub(crate) fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }

    /// A write failed at `now`: wait the current backoff, then double it.
    pub(crate) fn failed(&mut self, now: Instant) {
        self.retry_at = Some(now + self.backoff);
        self.backoff = (self.backoff * 2).min(self.backoff_max);
    }

    /// Writes succeed again: retry at once next time.
    pub(crate) fn succeeded(&mut self) {
        self.retry_at = None;
        self.backoff = self.backoff_min;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration as StdDuration;

    use chrono::{DateTime, Utc};

    use super::*;
    use crate::stats::event::StatsFailure;

    fn event(at: &str, proxy: Option<i64>, account: Option<AccountId>, status: u16) -> StatsEvent {
        let at: DateTime<Utc> = at.parse().unwrap();
        let mut e = StatsEvent::new(at, "r");
        e.provider_id = Some(ProviderId::new("openai").unwrap());
        e.proxy_id = proxy.map(ProxyId::new);
        e.account_id = account;
        e.status = status;
        e.latency = StdDuration::from_millis(100);
        e
    }

    /// The writer converts a batch in slices, giving the worker thread back
    /// between them, so that requests on that thread never wait for a whole
    /// batch's conversion; the result is the same as in one go.
    #[tokio::test]
    async fn a_batch_is_converted_in_slices_that_yield_to_other_tasks() {
        let a = AccountId::new();
        let events: Vec<_> = (0..1000)
            .map(|i| event("2025-06-01T10:00:00Z", Some(i % 3), Some(a), 200))
            .collect();
        let mut conversion = std::pin::pin!(PendingBatch::from_events_yielding(&events));
        let mut yields = 0;
        let batch = loop {
            match futures_util::poll!(conversion.as_mut()) {
                std::task::Poll::Ready(batch) => break batch,
                std::task::Poll::Pending => yields += 1,
            }
        };
        assert_eq!(yields, 1000 / CONVERT_BETWEEN_YIELDS);
        let whole = PendingBatch::from_events(&events);
        assert_eq!(batch.events, whole.events);
        assert_eq!(batch.logs.len(), whole.logs.len());
        assert_eq!(batch.proxy, whole.proxy);
        assert_eq!(batch.accounts, whole.accounts);
    }

    #[test]
    fn a_token_count_is_logged_but_is_no_use_of_the_account() {
        let a = AccountId::new();
        let mut count = event("2025-06-01T10:00:00Z", None, Some(a), 200);
        count.counts_tokens = true;
        let generation = event("2025-06-01T10:00:01Z", None, Some(a), 200);
        let batch = PendingBatch::from_events(&[count.clone(), count, generation]);
        assert_eq!(batch.logs.len(), 3);
        assert_eq!(batch.accounts.get(&a), Some(&1));
    }

    #[test]
    fn sums_are_kept_per_proxy_provider_and_utc_day() {
        let a = AccountId::new();
        let b = AccountId::new();
        let mut failed = event("2025-06-01T23:59:59Z", Some(1), Some(a), 200);
        failed.error = Some(StatsFailure::new("upstream_stream", "cut"));
        let events = [
            event("2025-06-01T10:00:00Z", Some(1), Some(a), 200),
            event("2025-06-01T11:00:00Z", Some(1), Some(b), 503),
            failed,
            event("2025-06-02T00:00:00Z", Some(1), Some(a), 200),
            event("2025-06-01T12:00:00Z", Some(2), None, 200),
            event("2025-06-01T12:00:00Z", None, Some(b), 0),
        ];
        let batch = PendingBatch::from_events(&events);
        assert_eq!(batch.events, 6);
        assert_eq!(batch.logs.len(), 6);
        let deltas = batch.proxy_deltas();
        let day1 = NaiveDate::from_ymd_opt(2025, 6, 1).unwrap();
        let day2 = NaiveDate::from_ymd_opt(2025, 6, 2).unwrap();
        let find = |proxy: i64, day: NaiveDate| {
            deltas
                .iter()
                .find(|d| d.proxy_id == ProxyId::new(proxy) && d.date == day)
                .map(|d| {
                    (
                        d.request_count,
                        d.success_count,
                        d.error_count,
                        d.total_latency_ms,
                    )
                })
        };
        assert_eq!(deltas.len(), 3);
        assert_eq!(find(1, day1), Some((3, 1, 2, 300)));
        assert_eq!(find(1, day2), Some((1, 1, 0, 100)));
        assert_eq!(find(2, day1), Some((1, 1, 0, 100)));
        assert_eq!(batch.accounts.get(&a), Some(&3));
        assert_eq!(batch.accounts.get(&b), Some(&2));
    }

    fn backlog(capacity: usize) -> Backlog {
        Backlog::new(
            capacity,
            4,
            StdDuration::from_millis(100),
            StdDuration::from_millis(350),
        )
    }

    fn batch_of(n: usize) -> PendingBatch {
        let events: Vec<_> = (0..n)
            .map(|_| event("2025-06-01T10:00:00Z", Some(1), None, 200))
            .collect();
        PendingBatch::from_events(&events)
    }

    #[test]
    fn small_untouched_batches_merge_up_to_the_limit() {
        let mut backlog = backlog(100);
        backlog.push(batch_of(2));
        backlog.push(batch_of(2));
        backlog.push(batch_of(1));
        assert_eq!(backlog.len(), 5);
        let first = backlog.front_mut().unwrap();
        assert_eq!(first.events, 4);
        assert_eq!(first.logs.len(), 4);
        assert_eq!(first.proxy.values().next().unwrap().requests, 4);
        assert_eq!(backlog.pop_front(), 4);
        assert_eq!(backlog.pop_front(), 1);
        assert!(backlog.is_empty());
    }

    #[test]
    fn an_attempted_batch_is_not_merged_into() {
        let mut backlog = backlog(100);
        backlog.push(batch_of(2));
        // A failed attempt writes nothing that shows here, but its commit
        // may have happened: the batch's id now stands for these two rows.
        backlog.front_mut().unwrap().attempted = true;
        backlog.push(batch_of(1));
        assert_eq!(backlog.pop_front(), 2);
        assert_eq!(backlog.front_mut().unwrap().logs.len(), 1);
    }

    #[test]
    fn every_batch_has_its_own_id_and_a_merge_keeps_the_first() {
        let (a, b) = (batch_of(1), batch_of(1));
        assert_ne!(a.id, b.id);
        let first = a.id;
        let mut backlog = backlog(100);
        backlog.push(a);
        backlog.push(b);
        let merged = backlog.front_mut().unwrap();
        assert_eq!((merged.id, merged.events), (first, 2));
    }

    #[test]
    fn over_capacity_the_oldest_batches_are_dropped() {
        let mut backlog = backlog(5);
        for _ in 0..4 {
            backlog.push(batch_of(3));
        }
        assert_eq!(backlog.len(), 12);
        assert_eq!(backlog.enforce_capacity(), 9);
        assert_eq!(backlog.len(), 3);
        assert_eq!(backlog.enforce_capacity(), 0);
    }

    #[test]
    fn backoff_doubles_to_the_maximum_and_resets_on_success() {
        let mut backlog = backlog(5);
        let now = Instant::now();
        assert!(backlog.due(now));
        backlog.failed(now);
        assert_eq!(
            backlog.retry_at(),
            Some(now + StdDuration::from_millis(100))
        );
        assert!(!backlog.due(now));
        backlog.failed(now);
        assert_eq!(
            backlog.retry_at(),
            Some(now + StdDuration::from_millis(200))
        );
        backlog.failed(now);
        assert_eq!(
            backlog.retry_at(),
            Some(now + StdDuration::from_millis(350))
        );
        backlog.failed(now);
        assert_eq!(
            backlog.retry_at(),
            Some(now + StdDuration::from_millis(350))
        );
        backlog.succeeded();
        assert!(backlog.due(now));
        backlog.failed(now);
        assert_eq!(
            backlog.retry_at(),
            Some(now + StdDuration::from_millis(100))
        );
    }
}
