//! Where the dashboard lives and how long its sessions last: what the HTTP
//! layer and the session store both need.

use std::time::Duration;

/// The path prefix every dashboard page lives under.
pub const PREFIX: &str = "/ui";

/// The largest form body the dashboard reads.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// How long dashboard sessions last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DashboardSettings {
    /// A session unused for this long ends.
    pub idle_timeout: Duration,
    /// A session ends this long after sign-in, however busy.
    pub absolute_timeout: Duration,
}

impl Default for DashboardSettings {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(30 * 60),
            absolute_timeout: Duration::from_secs(12 * 3600),
        }
    }
}
