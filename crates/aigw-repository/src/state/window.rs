//! Windowed attempt counters: how many attempts a key made in its current
//! fixed window, and when that window ends (for `Retry-After`).

use std::time::Duration;

/// The attempts counted against a key in its current window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowCount {
    /// Attempts so far, the one just counted included.
    pub count: u64,
    /// How long until the window ends and the count starts again from zero.
    pub resets_in: Duration,
}
