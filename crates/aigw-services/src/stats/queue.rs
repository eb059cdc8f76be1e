//! The queue between the request path and the stats writer.
//!
//! A bounded multi-producer queue that wakes its one consumer only when a
//! whole batch is waiting (or when it closes), never per event: the writer
//! takes partial batches on its own timer; and once more when the queue is
//! half full, for a writer busy with a slow write to move the excess to its
//! journal (see [`EventReceiver::recv_deep`]). A channel that woke the writer
//! on every send would cost each request a task wake-up, often of a parked
//! worker thread (a futex call and a context switch), for a write that
//! happens once per batch anyway.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::event::StatsEvent;

/// Why [`EventSender::try_send`] refused an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendError {
    /// The queue holds its capacity.
    Full,
    /// The writer stopped taking events.
    Closed,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Signalled when a batch is ready, the queue closes, or the last
    /// sender goes.
    ready: Notify,
    /// Signalled when the queue reaches `deep`, closes, or loses its last
    /// sender.
    deepened: Notify,
    capacity: usize,
    /// Queued events that make a batch: the consumer is woken at this length.
    batch: usize,
    /// Half the capacity (at least a batch): the length at which a busy
    /// consumer should move events elsewhere before the queue fills.
    deep: usize,
    senders: AtomicUsize,
}

#[derive(Debug)]
struct State {
    events: Vec<StatsEvent>,
    closed: bool,
}

/// Creates a queue holding at most `capacity` events, whose consumer is
/// woken once `batch` events wait.
pub(crate) fn queue(capacity: usize, batch: usize) -> (EventSender, EventReceiver) {
    let capacity = capacity.max(1);
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            events: Vec::new(),
            closed: false,
        }),
        ready: Notify::new(),
        deepened: Notify::new(),
        capacity,
        batch: batch.clamp(1, capacity),
        deep: (capacity / 2).max(batch).clamp(1, capacity),
        senders: AtomicUsize::new(1),
    });
    (
        EventSender {
            shared: Arc::clone(&shared),
        },
        EventReceiver { shared },
    )
}

/// The producing side: cheap to clone, never blocks.
#[derive(Debug)]
pub(crate) struct EventSender {
    shared: Arc<Shared>,
}

impl EventSender {
    /// Queues `event`, or says why not. Wakes the consumer only when this
    /// event completes a batch or makes the queue deep.
    pub(crate) fn try_send(&self, event: StatsEvent) -> Result<(), SendError> {
        let mut state = self.shared.state.lock();
        if state.closed {
            return Err(SendError::Closed);
        }
        if state.events.len() >= self.shared.capacity {
            return Err(SendError::Full);
        }
        state.events.push(event);
        let len = state.events.len();
        drop(state);
        if len == self.shared.batch {
            self.shared.ready.notify_one();
        }
        if len == self.shared.deep {
            self.shared.deepened.notify_one();
        }
        Ok(())
    }
}

impl Clone for EventSender {
    fn clone(&self) -> Self {
        self.shared.senders.fetch_add(1, Ordering::Relaxed);
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Drop for EventSender {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.ready.notify_one();
            self.shared.deepened.notify_one();
        }
    }
}

/// The consuming side, owned by the writer.
#[derive(Debug)]
pub(crate) struct EventReceiver {
    shared: Arc<Shared>,
}

impl EventReceiver {
    /// Waits until a batch is queued, or the queue is closed or has lost
    /// every sender, then moves up to `limit` events into `into`. Returns 0
    /// only when no more events will come (closed or no sender left, and
    /// empty) or when `limit` is 0.
    pub(crate) async fn recv_many(&self, into: &mut Vec<StatsEvent>, limit: usize) -> usize {
        let shared = &*self.shared;
        wait_for(&shared.ready, shared, shared.batch, into, limit).await
    }

    /// Like [`recv_many`](Self::recv_many), but waits until the queue is
    /// half full: for a consumer busy with a slow write, which moves what it
    /// takes here somewhere else rather than let the queue fill.
    pub(crate) async fn recv_deep(&self, into: &mut Vec<StatsEvent>, limit: usize) -> usize {
        let shared = &*self.shared;
        wait_for(&shared.deepened, shared, shared.deep, into, limit).await
    }

    /// Moves up to `limit` queued events into `into` without waiting.
    pub(crate) fn try_recv_many(&mut self, into: &mut Vec<StatsEvent>, limit: usize) -> usize {
        take(&mut self.shared.state.lock().events, into, limit)
    }

    /// Refuses further events; those queued can still be taken.
    pub(crate) fn close(&mut self) {
        self.shared.state.lock().closed = true;
    }

    /// The length at which [`recv_deep`](Self::recv_deep) returns.
    #[cfg(test)]
    pub(crate) fn deep(&self) -> usize {
        self.shared.deep
    }
}

impl Drop for EventReceiver {
    fn drop(&mut self) {
        self.close();
    }
}

/// Waits on `signal` until `len` events are queued (or the queue has ended),
/// then moves up to `limit` of them into `into`.
async fn wait_for(
    signal: &Notify,
    shared: &Shared,
    len: usize,
    into: &mut Vec<StatsEvent>,
    limit: usize,
) -> usize {
    loop {
        let notified = signal.notified();
        tokio::pin!(notified);
        // Registered before the check, so a length reached in between is
        // not missed.
        notified.as_mut().enable();
        {
            let mut state = shared.state.lock();
            let ended = state.closed || shared.senders.load(Ordering::Acquire) == 0;
            if state.events.len() >= len || ended {
                return take(&mut state.events, into, limit);
            }
        }
        notified.await;
    }
}

/// Moves up to `limit` events from the front of `queued` to `into`.
fn take(queued: &mut Vec<StatsEvent>, into: &mut Vec<StatsEvent>, limit: usize) -> usize {
    let n = queued.len().min(limit);
    if n == queued.len() && into.is_empty() {
        // The common case: the whole queue becomes the batch, no copying,
        // and the queue keeps the batch's empty buffer for what comes next.
        std::mem::swap(queued, into);
    } else {
        into.extend(queued.drain(..n));
    }
    n
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn sample_event(id: &str) -> StatsEvent {
        StatsEvent::new(chrono::Utc::now(), id)
    }

    #[tokio::test]
    async fn the_consumer_wakes_for_a_batch_not_for_each_event() {
        let (tx, rx) = queue(10, 3);
        let mut got = Vec::new();
        tx.try_send(sample_event("a")).unwrap();
        tx.try_send(sample_event("b")).unwrap();
        let early = tokio::time::timeout(Duration::from_millis(50), rx.recv_many(&mut got, 10));
        assert!(early.await.is_err(), "two events are not a batch");
        tx.try_send(sample_event("c")).unwrap();
        assert_eq!(rx.recv_many(&mut got, 10).await, 3);
        let ids: Vec<&str> = got.iter().map(|e| &*e.request_id).collect();
        assert_eq!(ids, ["a", "b", "c"]);
    }

    #[tokio::test]
    async fn a_deep_wait_returns_only_once_the_queue_is_half_full() {
        let (tx, rx) = queue(8, 2);
        assert_eq!(rx.deep(), 4);
        let mut got = Vec::new();
        for id in ["a", "b", "c"] {
            tx.try_send(sample_event(id)).unwrap();
        }
        let early = tokio::time::timeout(Duration::from_millis(50), rx.recv_deep(&mut got, 2));
        assert!(early.await.is_err(), "three of eight is not deep");
        tx.try_send(sample_event("d")).unwrap();
        assert_eq!(rx.recv_deep(&mut got, 2).await, 2, "at most the limit");
        let ids: Vec<&str> = got.iter().map(|e| &*e.request_id).collect();
        assert_eq!(ids, ["a", "b"], "oldest first");
    }

    #[tokio::test]
    async fn partial_batches_are_taken_without_waiting() {
        let (tx, mut rx) = queue(10, 5);
        let mut got = Vec::new();
        assert_eq!(rx.try_recv_many(&mut got, 10), 0);
        for id in ["a", "b", "c"] {
            tx.try_send(sample_event(id)).unwrap();
        }
        assert_eq!(rx.try_recv_many(&mut got, 2), 2);
        assert_eq!(rx.try_recv_many(&mut got, 2), 1);
        assert_eq!(got.len(), 3);
        assert_eq!(&*got[2].request_id, "c");
    }

    #[tokio::test]
    async fn a_full_queue_refuses_and_a_closed_one_ends_the_consumer() {
        let (tx, mut rx) = queue(2, 2);
        tx.try_send(sample_event("a")).unwrap();
        tx.try_send(sample_event("b")).unwrap();
        assert_eq!(tx.try_send(sample_event("c")), Err(SendError::Full));
        rx.close();
        assert_eq!(tx.try_send(sample_event("d")), Err(SendError::Closed));
        let mut got = Vec::new();
        assert_eq!(
            rx.recv_many(&mut got, 10).await,
            2,
            "what was queued is kept"
        );
        assert_eq!(rx.recv_many(&mut got, 10).await, 0, "then the end");
    }

    #[tokio::test]
    async fn the_consumer_wakes_when_the_last_sender_goes() {
        let (tx, rx) = queue(10, 5);
        let other = tx.clone();
        tx.try_send(sample_event("a")).unwrap();
        drop(tx);
        let waiter = async {
            let mut got = Vec::new();
            let n = rx.recv_many(&mut got, 10).await;
            (n, rx.recv_many(&mut got, 10).await)
        };
        let dropper = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop(other);
        };
        let ((first, second), ()) = tokio::join!(waiter, dropper);
        assert_eq!((first, second), (1, 0));
    }
}
