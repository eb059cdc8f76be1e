//! Response pinning: which upstream account produced each OpenAI Responses
//! id, so that a follow-up naming it in `previous_response_id` goes to that
//! same account, the only one where the stored response lives.
//!
//! Pins live in the shared state (in process, or on Redis for every
//! instance), one entry per response with a TTL. Reading a pin is the one
//! shared-state round trip of a pinned request (it takes no round-robin
//! turn). Writing one never blocks a request: the data plane queues it
//! (bounded; a full queue drops the pin, counted and logged) and the
//! runtime's background task writes it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aigw_domain::AccountId;
use aigw_repository::state::{SharedState, StateError};
use tokio::sync::mpsc;

/// Pins queued and not yet written, at most.
const OUTBOX: usize = 4096;
/// Pins written in one go by the background task before it looks at other work.
const BATCH: usize = 256;
/// Response ids longer than this are not pinned (real ones are ~50 bytes).
const MAX_ID_BYTES: usize = 256;

/// One response and the account that produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponsePin {
    /// The upstream's response id (`resp_…`).
    pub response_id: String,
    /// The account it lives on.
    pub account: AccountId,
}

/// The data plane's side of pinning: queue pins, look them up.
#[derive(Debug)]
pub(crate) struct ResponsePins {
    outbox: mpsc::Sender<ResponsePin>,
    dropped: AtomicU64,
}

fn key(response_id: &str) -> String {
    let mut key = String::with_capacity(5 + response_id.len());
    key.push_str("resp:");
    key.push_str(response_id);
    key
}

impl ResponsePins {
    /// Pins, and the receiving end of their queue for the writer.
    pub(crate) fn new() -> (Self, mpsc::Receiver<ResponsePin>) {
        let (outbox, rx) = mpsc::channel(OUTBOX);
        (
            Self {
                outbox,
                dropped: AtomicU64::new(0),
            },
            rx,
        )
    }

    /// Queues `response_id` as produced by `account`; never waits.
    pub(crate) fn remember(&self, response_id: &str, account: AccountId) {
        if response_id.is_empty() || response_id.len() > MAX_ID_BYTES {
            return;
        }
        let pin = ResponsePin {
            response_id: response_id.to_owned(),
            account,
        };
        if self.outbox.try_send(pin).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(
                dropped,
                "response pin queue full; a response id was not pinned"
            );
        }
    }

    /// Pins dropped because the queue was full (or its writer gone).
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The account that produced `response_id`, if it is pinned and not expired.
pub(crate) async fn lookup(
    state: &SharedState,
    response_id: &str,
) -> Result<Option<AccountId>, StateError> {
    if response_id.is_empty() || response_id.len() > MAX_ID_BYTES {
        return Ok(None);
    }
    state.cache_get::<AccountId>(&key(response_id)).await
}

/// Writes `first` and whatever else is already queued (up to a batch), each
/// for `ttl`. A failed write is logged and the pin lost: its follow-up gets
/// a 400 saying the id is unknown, never another account.
pub async fn write_pins(
    state: &SharedState,
    first: ResponsePin,
    rx: &mut mpsc::Receiver<ResponsePin>,
    ttl: Duration,
) {
    let mut next = Some(first);
    let mut written = 0;
    while let Some(pin) = next.take() {
        if let Err(e) = state
            .cache_set(&key(&pin.response_id), &pin.account, ttl)
            .await
        {
            tracing::warn!(error = %e, "could not pin a response id to its account");
        }
        written += 1;
        if written < BATCH {
            next = rx.try_recv().ok();
        }
    }
}
