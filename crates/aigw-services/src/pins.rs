//! Account pins in the shared state, written off the request path:
//!
//! - response pins: which upstream account produced each OpenAI Responses
//!   id, so that a follow-up naming it in `previous_response_id` goes to that
//!   same account, the only one where the stored response lives;
//! - conversation pins (session affinity, see [`crate::selector`]): which
//!   account served a conversation's last turn.
//!
//! Pins live in the shared state (in process, or on Redis for every
//! instance), one entry per response or conversation with a TTL. Reading a
//! pin is the one shared-state round trip of its request. Writing one never
//! blocks a request: the data plane queues it (bounded; a full queue drops
//! the pin, counted and logged) and the runtime's propagator task writes it.
//! Until that write is done, a queued pin is also kept in this instance's
//! memory, so a follow-up or a conversation's next turn that arrives here at
//! once finds it. The one exception is a conversation moved off an account
//! that just failed in the same request: that request writes the new pin
//! before it tries the new account ([`PinQueue::write_now`]), so the
//! conversation's next turn finds it on any instance, whether or not that
//! instance has heard of the failure yet.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aigw_domain::AccountId;
use aigw_repository::state::{SharedState, StateError};
use parking_lot::Mutex;
use tokio::sync::mpsc;

/// Pins queued and not yet written, at most.
const OUTBOX: usize = 4096;
/// Pins written in one go by the propagator before it looks at other work.
const BATCH: usize = 256;
/// Response ids longer than this are not pinned (real ones are ~50 bytes).
const MAX_ID_BYTES: usize = 256;

/// One shared-state key and the account it names, for a while.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// The shared-state key (`resp:…` or `aff:…`).
    pub key: String,
    /// The account.
    pub account: AccountId,
    /// How long the pin lasts.
    pub ttl: Duration,
}

/// The queue of pins to write. Cheap to clone; clones share the queue.
#[derive(Debug, Clone)]
pub struct PinQueue {
    outbox: mpsc::Sender<Pin>,
    dropped: Arc<AtomicU64>,
    /// Response pins queued and not yet written (at most [`OUTBOX`]). The
    /// lock is held only to insert, look up or remove.
    unwritten: Arc<Mutex<HashMap<String, AccountId>>>,
}

fn response_key(response_id: &str) -> String {
    let mut key = String::with_capacity(5 + response_id.len());
    key.push_str("resp:");
    key.push_str(response_id);
    key
}

impl PinQueue {
    /// A queue, and its receiving end for the writer.
    pub fn new() -> (Self, mpsc::Receiver<Pin>) {
        let (outbox, rx) = mpsc::channel(OUTBOX);
        (
            Self {
                outbox,
                dropped: Arc::new(AtomicU64::new(0)),
                unwritten: Arc::new(Mutex::new(HashMap::new())),
            },
            rx,
        )
    }

    /// Queues `response_id` as produced by `account`, for `ttl`; never waits.
    pub(crate) fn remember_response(&self, response_id: &str, account: AccountId, ttl: Duration) {
        if response_id.is_empty() || response_id.len() > MAX_ID_BYTES {
            return;
        }
        self.remember(Pin {
            key: response_key(response_id),
            account,
            ttl,
        });
    }

    /// Queues `pin` and keeps it in this instance's memory until it is
    /// written, so that a request arriving here at once finds it; never
    /// waits. A full queue drops the pin, counted and logged.
    pub(crate) fn remember(&self, pin: Pin) {
        // In memory first, so that the writer cannot remove it before it is in.
        self.unwritten.lock().insert(pin.key.clone(), pin.account);
        if let Err(full) = self.outbox.try_send(pin) {
            self.forget(&full.into_inner());
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(dropped, "pin queue full; an account pin was not written");
        }
    }

    /// Takes `pin` out of this instance's memory (it was written, or
    /// dropped) unless a newer pin of its key replaced it meanwhile.
    fn forget(&self, pin: &Pin) {
        let mut unwritten = self.unwritten.lock();
        if unwritten.get(&pin.key) == Some(&pin.account) {
            unwritten.remove(&pin.key);
        }
    }

    /// Writes `pin` now and waits for it; an older pin of its key, queued
    /// earlier and not written yet, is then never written over it. A failed write is logged: the
    /// conversation's next turn then moves it again, to the same account.
    pub(crate) async fn write_now(&self, state: &SharedState, pin: Pin) {
        self.unwritten.lock().insert(pin.key.clone(), pin.account);
        if let Err(e) = state.cache_set(&pin.key, &pin.account, pin.ttl).await {
            tracing::warn!(error = %e, "could not pin a moved conversation to its account");
        }
        self.forget(&pin);
    }

    /// Whether `pin` is still the newest of its key not written yet: an
    /// older queued pin whose key was pinned again since is not written.
    fn is_newest(&self, pin: &Pin) -> bool {
        self.unwritten.lock().get(&pin.key) == Some(&pin.account)
    }

    /// The account of `key`'s pin queued here and not written yet.
    pub(crate) fn unwritten(&self, key: &str) -> Option<AccountId> {
        self.unwritten.lock().get(key).copied()
    }

    /// Pins dropped because the queue was full (or its writer gone).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The account that produced `response_id`, if it is pinned and not expired:
/// from this instance's queue while the pin is not written yet, else from
/// the shared state.
pub(crate) async fn lookup(
    queue: &PinQueue,
    state: &SharedState,
    response_id: &str,
) -> Result<Option<AccountId>, StateError> {
    if response_id.is_empty() || response_id.len() > MAX_ID_BYTES {
        return Ok(None);
    }
    let key = response_key(response_id);
    match queue.unwritten(&key) {
        Some(account) => Ok(Some(account)),
        None => state.cache_get::<AccountId>(&key).await,
    }
}

/// Writes `first` and whatever else is already queued (up to a batch), each
/// for its TTL, in queue order; a pin whose key was pinned again since (a
/// later pin queued, or written at once) is skipped. A failed
/// write is logged and the pin lost: a response follow-up then gets a 400
/// saying the id is unknown, never another account; a conversation is
/// pinned again by its next turn.
pub async fn write_pins(
    queue: &PinQueue,
    state: &SharedState,
    first: Pin,
    rx: &mut mpsc::Receiver<Pin>,
) {
    let mut next = Some(first);
    let mut written = 0;
    while let Some(pin) = next.take() {
        if queue.is_newest(&pin) {
            if let Err(e) = state.cache_set(&pin.key, &pin.account, pin.ttl).await {
                tracing::warn!(error = %e, "could not pin a key to its account");
            }
            queue.forget(&pin);
        }
        written += 1;
        if written < BATCH {
            next = rx.try_recv().ok();
        }
    }
}

#[cfg(test)]
mod tests {
    use aigw_repository::state::StateConfig;

    use super::*;

    /// Pins of the conversation `key`, for a minute.
    fn conversation_pin(key: &str) -> impl Fn(AccountId) -> Pin {
        move |account| Pin {
            key: key.to_owned(),
            account,
            ttl: Duration::from_secs(60),
        }
    }

    /// The account `key` names in the shared state.
    async fn written(state: &SharedState, key: &str) -> Option<AccountId> {
        state.cache_get::<AccountId>(key).await.unwrap()
    }

    async fn in_process() -> SharedState {
        SharedState::from_config(&StateConfig::in_process())
            .await
            .unwrap()
    }

    /// A follow-up that arrives before the propagator wrote its pin
    /// still finds the account: the pin is in this instance's memory until
    /// the write is done, and in the shared state after.
    #[tokio::test]
    async fn a_response_pin_is_found_before_and_after_it_is_written() {
        let state = in_process().await;
        let (queue, mut rx) = PinQueue::new();
        let account = AccountId::new();
        queue.remember_response("resp_1", account, Duration::from_secs(60));
        assert_eq!(
            state.cache_get::<AccountId>("resp:resp_1").await.unwrap(),
            None
        );
        assert_eq!(
            lookup(&queue, &state, "resp_1").await.unwrap(),
            Some(account)
        );
        let first = rx.recv().await.unwrap();
        write_pins(&queue, &state, first, &mut rx).await;
        assert!(queue.unwritten.lock().is_empty());
        assert_eq!(
            lookup(&queue, &state, "resp_1").await.unwrap(),
            Some(account)
        );
        assert_eq!(lookup(&queue, &state, "resp_2").await.unwrap(), None);
    }

    /// A conversation moved twice before the writer ran: the newer pin stays
    /// in memory until it is written itself, so a turn arriving here in
    /// between never sees the older one.
    #[tokio::test]
    async fn the_newest_unwritten_pin_of_a_key_is_kept_until_it_is_written() {
        let state = in_process().await;
        let (queue, mut rx) = PinQueue::new();
        let (first, second) = (AccountId::new(), AccountId::new());
        let pin = conversation_pin("aff:openai:0123");
        queue.remember(pin(first));
        assert_eq!(queue.unwritten("aff:openai:0123"), Some(first));
        queue.remember(pin(second));
        assert_eq!(queue.unwritten("aff:openai:0123"), Some(second));
        // The writer takes the older pin alone, as if the newer one came later.
        let older = rx.try_recv().unwrap();
        let (other, mut other_rx) = mpsc::channel(1);
        drop(other);
        write_pins(&queue, &state, older, &mut other_rx).await;
        assert_eq!(queue.unwritten("aff:openai:0123"), Some(second));
        let newer = rx.try_recv().unwrap();
        write_pins(&queue, &state, newer, &mut rx).await;
        assert_eq!(queue.unwritten("aff:openai:0123"), None);
        assert_eq!(written(&state, "aff:openai:0123").await, Some(second));
    }

    /// A conversation moved by a failed attempt is written at once; the
    /// pin its first turn queued, written later by the propagator, does not
    /// undo the move.
    #[tokio::test]
    async fn a_pin_written_at_once_is_not_undone_by_an_older_queued_one() {
        let state = in_process().await;
        let (queue, mut rx) = PinQueue::new();
        let (failed, moved) = (AccountId::new(), AccountId::new());
        let pin = conversation_pin("aff:openai:4567");
        queue.remember(pin(failed));
        queue.write_now(&state, pin(moved)).await;
        assert_eq!(queue.unwritten("aff:openai:4567"), None);
        let older = rx.try_recv().unwrap();
        write_pins(&queue, &state, older, &mut rx).await;
        assert_eq!(written(&state, "aff:openai:4567").await, Some(moved));
    }
}
