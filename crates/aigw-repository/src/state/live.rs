//! Live counters: requests and failures per proxy, account or provider and
//! per UTC day, with an absolute expiry at the end of the day plus a grace.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

/// What a live counter counts for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LiveScope {
    /// An outbound HTTP proxy.
    Proxy,
    /// An upstream account.
    Account,
    /// A provider.
    Provider,
}

impl LiveScope {
    /// The name used in keys.
    pub fn as_str(self) -> &'static str {
        match self {
            LiveScope::Proxy => "proxy",
            LiveScope::Account => "account",
            LiveScope::Provider => "provider",
        }
    }
}

impl fmt::Display for LiveScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Requests and failures of one scope and id on one UTC day.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveCounts {
    /// Requests recorded (failed ones included).
    pub requests: u64,
    /// Requests that failed.
    pub failures: u64,
}

/// When the counters of `day` expire: the end of that UTC day plus `grace`.
/// Absolute, so that recording again never extends it (a sliding expiry
/// would keep "today" alive forever under steady traffic).
pub(crate) fn expires_at(day: NaiveDate, grace: Duration) -> DateTime<Utc> {
    let next_midnight = day
        .succ_opt()
        .and_then(|next| next.and_hms_opt(0, 0, 0))
        .map(|midnight| midnight.and_utc())
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let grace = TimeDelta::from_std(grace).unwrap_or(TimeDelta::MAX);
    next_midnight
        .checked_add_signed(grace)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_expire_at_the_end_of_their_utc_day_plus_grace() {
        let day = NaiveDate::from_ymd_opt(2025, 12, 31).unwrap();
        let expiry = expires_at(day, Duration::from_secs(3600));
        assert_eq!(expiry.to_rfc3339(), "2026-01-01T01:00:00+00:00");
    }
}
