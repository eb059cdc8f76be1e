//! What a pin-or-claim finds: a session-affinity pin, or a freshly claimed
//! counter value.

/// What [`SharedState::pin_or_claim`](super::SharedState::pin_or_claim) found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PinOrCount {
    /// The pinned value, as cached (JSON text: the caller's pin, or an
    /// earlier claim's counter value); its TTL was renewed.
    Pinned(std::sync::Arc<str>),
    /// No pin: the counter's new value (0 without a counter), now claimed.
    Counted(u64),
}
