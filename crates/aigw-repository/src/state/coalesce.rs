//! Concurrent increments of one Redis counter, claimed together.
//!
//! The round-robin counter is the one shared-state round trip of most
//! requests. Under load many requests want the next value of the same
//! counter at once; each `INCR` on its own costs a command through the
//! connection and a command in Redis. Here, while one caller's `INCRBY` is
//! in flight, the callers that arrive for the same counter queue up, and the
//! next round trip claims a value for each of them in one `INCRBY n`.
//!
//! Nothing about the values changes: every caller gets its own value of the
//! shared counter, claimed after it asked, so values stay unique across
//! instances and a lone caller (nothing in flight) makes its own round trip
//! at once, as before. Only concurrent callers of one instance share a round
//! trip, and each waits at most for the one in flight and its own.
//!
//! The caller that claims is the queue's *leader*. When its round trip ends
//! it hands the values out and passes the lead to the first caller still
//! waiting. A leader that goes away mid-flight (its request cancelled) hands
//! the lead on in its drop, and the callers of its claim ask again: no
//! caller is left waiting on a round trip nobody makes.

use std::collections::{HashMap, VecDeque};
use std::future::Future;

use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::error::StateError;

/// The queues of the counters being incremented now, by counter key. A key
/// is removed when its last caller is served, so the map holds only counters
/// in use.
#[derive(Debug, Default)]
pub(super) struct Coalescer {
    queues: Mutex<HashMap<String, Queue>>,
}

#[derive(Debug, Default)]
struct Queue {
    /// A caller's claim is in flight, or the lead is being handed to a waiter.
    leading: bool,
    /// Callers waiting for the next claim, oldest first.
    waiting: VecDeque<oneshot::Sender<Grant>>,
}

/// What a waiting caller is told.
#[derive(Debug)]
enum Grant {
    /// Its value.
    Value(u64),
    /// It leads now: it claims for itself and for everyone waiting.
    Lead,
    /// The claim that included it failed with this error.
    Failed(StateError),
}

enum Role {
    Lead,
    Wait(oneshot::Receiver<Grant>),
}

impl Coalescer {
    /// The next value of the counter `key`. `claim(n)` raises the counter by
    /// `n` in one round trip and returns its new value; the caller gets one
    /// of the `n` values it claimed.
    pub(super) async fn next<F, Fut>(&self, key: &str, claim: F) -> Result<u64, StateError>
    where
        F: Fn(u64) -> Fut,
        Fut: Future<Output = Result<u64, StateError>>,
    {
        loop {
            match self.join(key) {
                Role::Lead => return self.lead(key, &claim).await,
                Role::Wait(grant) => {
                    let mut waiting = Waiting {
                        coalescer: self,
                        key,
                        grant: Some(grant),
                    };
                    match waiting.recv().await {
                        Some(Grant::Value(value)) => return Ok(value),
                        Some(Grant::Failed(error)) => return Err(error),
                        Some(Grant::Lead) => return self.lead(key, &claim).await,
                        // Its leader went away before the values were handed
                        // out: this caller asks again.
                        None => {}
                    }
                }
            }
        }
    }

    /// Takes the lead of `key`'s queue if nobody has it, else queues up.
    fn join(&self, key: &str) -> Role {
        let mut queues = self.queues.lock();
        let queue = match queues.get_mut(key) {
            Some(queue) => queue,
            None => queues.entry(key.to_owned()).or_default(),
        };
        if queue.leading {
            let (tx, rx) = oneshot::channel();
            queue.waiting.push_back(tx);
            Role::Wait(rx)
        } else {
            queue.leading = true;
            Role::Lead
        }
    }

    /// Claims a value for this caller and for everyone waiting, hands theirs
    /// out, and passes the lead on (also when this future is dropped).
    async fn lead<F, Fut>(&self, key: &str, claim: &F) -> Result<u64, StateError>
    where
        F: Fn(u64) -> Fut,
        Fut: Future<Output = Result<u64, StateError>>,
    {
        let _lead = Lead {
            coalescer: self,
            key,
        };
        let batch = self.take_waiting(key);
        let count = 1 + batch.len() as u64;
        match claim(count).await {
            Ok(last) => {
                let first = last.saturating_sub(count - 1);
                for (value, waiter) in (first + 1..).zip(batch) {
                    // A waiter gone meanwhile leaves its value unused.
                    let _ = waiter.send(Grant::Value(value));
                }
                Ok(first)
            }
            Err(error) => {
                for waiter in batch {
                    let _ = waiter.send(Grant::Failed(error.same_again()));
                }
                Err(error)
            }
        }
    }

    fn take_waiting(&self, key: &str) -> VecDeque<oneshot::Sender<Grant>> {
        self.queues
            .lock()
            .get_mut(key)
            .map(|queue| std::mem::take(&mut queue.waiting))
            .unwrap_or_default()
    }

    /// Passes the lead of `key` to the oldest caller still waiting, or
    /// leaves the queue leaderless (and removes it when nobody waits).
    fn hand_on(&self, key: &str) {
        let mut queues = self.queues.lock();
        let Some(queue) = queues.get_mut(key) else {
            return;
        };
        while let Some(next) = queue.waiting.pop_front() {
            if next.send(Grant::Lead).is_ok() {
                return;
            }
        }
        queues.remove(key);
    }

    /// Counters with callers queued or a claim in flight (for tests).
    #[cfg(test)]
    fn queued(&self) -> usize {
        self.queues.lock().len()
    }
}

/// A caller's place in a queue. Dropped before its grant is read (its
/// request cancelled), it closes the channel and passes on a lead that was
/// already sent to it, so the lead is never lost with it.
struct Waiting<'a> {
    coalescer: &'a Coalescer,
    key: &'a str,
    grant: Option<oneshot::Receiver<Grant>>,
}

impl Waiting<'_> {
    async fn recv(&mut self) -> Option<Grant> {
        let grant = match &mut self.grant {
            Some(rx) => rx.await.ok(),
            None => None,
        };
        self.grant = None;
        grant
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Some(mut rx) = self.grant.take() {
            rx.close();
            if let Ok(Grant::Lead) = rx.try_recv() {
                self.coalescer.hand_on(self.key);
            }
        }
    }
}

/// The lead of one queue; passes it on when dropped.
struct Lead<'a> {
    coalescer: &'a Coalescer,
    key: &'a str,
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        self.coalescer.hand_on(self.key);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::time::Duration;

    use super::*;

    /// A counter whose `INCRBY` takes a while and records the sizes of the claims.
    #[derive(Default)]
    struct SlowCounter {
        value: AtomicU64,
        claims: Mutex<Vec<u64>>,
        fail: AtomicBool,
    }

    impl SlowCounter {
        async fn claim(&self, n: u64) -> Result<u64, StateError> {
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.claims.lock().push(n);
            if self.fail.load(Ordering::SeqCst) {
                return Err(StateError::UnexpectedReply("test failure"));
            }
            Ok(self.value.fetch_add(n, Ordering::SeqCst) + n)
        }
    }

    async fn next(c: &Coalescer, counter: &SlowCounter) -> Result<u64, StateError> {
        c.next("k", |n| counter.claim(n)).await
    }

    /// A caller as a task of its own, so that it can be cancelled.
    #[expect(
        clippy::disallowed_methods,
        reason = "a test's callers are tasks so that one can be aborted mid-claim"
    )]
    fn spawn_next(
        c: &Arc<Coalescer>,
        counter: &Arc<SlowCounter>,
    ) -> tokio::task::JoinHandle<Result<u64, StateError>> {
        let (c, counter) = (c.clone(), counter.clone());
        tokio::spawn(async move { next(&c, &counter).await })
    }

    #[tokio::test(start_paused = true)]
    async fn a_lone_caller_claims_one_value_at_once() {
        let c = Coalescer::default();
        let counter = SlowCounter::default();
        assert_eq!(next(&c, &counter).await.ok(), Some(1));
        assert_eq!(next(&c, &counter).await.ok(), Some(2));
        assert_eq!(*counter.claims.lock(), vec![1, 1]);
        assert_eq!(c.queued(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_round_trips_and_each_gets_its_own_value() {
        let c = Coalescer::default();
        let counter = SlowCounter::default();
        let calls = (0..50).map(|_| next(&c, &counter));
        let values: Vec<u64> = futures_util::future::join_all(calls)
            .await
            .into_iter()
            .filter_map(Result::ok)
            .collect();
        let distinct: BTreeSet<u64> = values.iter().copied().collect();
        assert_eq!(distinct, (1..=50).collect::<BTreeSet<_>>());
        // The first caller claims alone; the 49 that queued meanwhile share
        // the next round trip.
        assert_eq!(*counter.claims.lock(), vec![1, 49]);
        assert_eq!(c.queued(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_claim_fails_everyone_in_it_and_the_next_caller_claims_again() {
        let c = Coalescer::default();
        let counter = SlowCounter::default();
        counter.fail.store(true, Ordering::SeqCst);
        let results = futures_util::future::join_all((0..5).map(|_| next(&c, &counter))).await;
        assert!(results.iter().all(Result::is_err), "{results:?}");
        counter.fail.store(false, Ordering::SeqCst);
        assert_eq!(next(&c, &counter).await.ok(), Some(1));
        assert_eq!(c.queued(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_leader_cancelled_mid_flight_hands_the_lead_on() {
        let c = Arc::new(Coalescer::default());
        let counter = Arc::new(SlowCounter::default());
        let leader = spawn_next(&c, &counter);
        tokio::time::sleep(Duration::from_millis(5)).await;
        let waiters: Vec<_> = (0..3).map(|_| spawn_next(&c, &counter)).collect();
        tokio::time::sleep(Duration::from_millis(5)).await;
        leader.abort();
        let mut values = BTreeSet::new();
        for waiter in waiters {
            let value = tokio::time::timeout(Duration::from_secs(1), waiter).await;
            assert!(matches!(value, Ok(Ok(Ok(_)))), "{value:?}");
            if let Ok(Ok(Ok(v))) = value {
                values.insert(v);
            }
        }
        assert_eq!(values.len(), 3, "{values:?}");
        assert_eq!(c.queued(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_cancelled_with_the_lead_in_hand_passes_it_on() {
        let c = Coalescer::default();
        let counter = SlowCounter::default();
        let Role::Lead = c.join("k") else {
            panic!("the first caller leads");
        };
        let Role::Wait(grant) = c.join("k") else {
            panic!("the second caller waits");
        };
        let waiting = Waiting {
            coalescer: &c,
            key: "k",
            grant: Some(grant),
        };
        let Role::Wait(later) = c.join("k") else {
            panic!("the third caller waits");
        };
        // The leader finishes and hands the lead to the second caller, which
        // is cancelled before it reads it: the third gets the lead.
        c.hand_on("k");
        drop(waiting);
        let later = tokio::time::timeout(Duration::from_secs(1), later).await;
        assert!(matches!(later, Ok(Ok(Grant::Lead))), "{later:?}");
        assert_eq!(c.lead("k", &|n| counter.claim(n)).await.ok(), Some(1));
        assert_eq!(c.queued(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn callers_of_a_cancelled_claim_ask_again() {
        let c = Arc::new(Coalescer::default());
        let counter = Arc::new(SlowCounter::default());
        let spawn = || spawn_next(&c, &counter);
        // The first leader claims alone; the second takes the lead with two
        // callers in its claim and is cancelled in flight.
        let first = spawn();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let second = spawn();
        let third = spawn();
        let fourth = spawn();
        assert!(matches!(first.await, Ok(Ok(1))));
        tokio::time::sleep(Duration::from_millis(5)).await;
        second.abort();
        let third = tokio::time::timeout(Duration::from_secs(1), third).await;
        let fourth = tokio::time::timeout(Duration::from_secs(1), fourth).await;
        assert!(matches!(third, Ok(Ok(Ok(_)))), "{third:?}");
        assert!(matches!(fourth, Ok(Ok(Ok(_)))), "{fourth:?}");
        assert_eq!(c.queued(), 0);
    }
}
