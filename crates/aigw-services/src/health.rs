//! Account health from traffic: the thresholds that make an account
//! `degraded` and `down`, the half-open probe schedule of a `down` account,
//! and the table of `down` accounts each instance selects against.
//!
//! The stats writer decides health (it sees every attempt's outcome, in
//! batches) and writes it to the database; the data plane only reads the
//! table here. An account that goes `down` is announced to every instance
//! (the writer publishes an [`Invalidation::AccountHealth`] notice), which
//! then keeps it out of selection until its next probe is due. Then exactly
//! one real request on the whole gateway goes to it: the instance that
//! selects it first claims the probe locally (so its own concurrent requests
//! skip it) and in the shared state (a lock with a TTL, so other instances
//! skip it); the claim is only ever taken on this path, never for a healthy
//! account. A success restores the account everywhere; a failure doubles
//! the wait before the next probe, up to `probe_max`.
//!
//! [`Invalidation::AccountHealth`]: aigw_repository::state::Invalidation::AccountHealth

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aigw_domain::{AccountId, HealthStatus, HealthThresholds};
use chrono::{DateTime, Utc};
use parking_lot::RwLock;

/// How traffic outcomes turn into account health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthSettings {
    /// Consecutive failures from which an account is `degraded` (still
    /// selected).
    pub degraded_after: u32,
    /// Consecutive failures from which an account is `down` (left out of
    /// selection on every instance until a probe succeeds).
    pub down_after: u32,
    /// The wait before the first probe of a `down` account.
    pub probe_after: Duration,
    /// The longest wait between probes (the wait doubles after each failed
    /// probe up to this).
    pub probe_max: Duration,
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self {
            degraded_after: 3,
            down_after: 10,
            probe_after: Duration::from_secs(30),
            probe_max: Duration::from_secs(600),
        }
    }
}

impl HealthSettings {
    /// The thresholds as the repository applies them.
    pub fn thresholds(&self) -> HealthThresholds {
        HealthThresholds {
            degraded_after: i64::from(self.degraded_after),
            down_after: i64::from(self.down_after),
        }
    }

    /// The health after `failures` consecutive failures.
    pub fn status(&self, failures: i64) -> HealthStatus {
        self.thresholds().status(failures)
    }

    /// How long a `down` account with `failures` consecutive failures waits
    /// for its next probe: `probe_after` when it has just gone down, doubled
    /// for each failure since (each one a failed probe), at most `probe_max`.
    pub fn probe_wait(&self, failures: i64) -> Duration {
        let failed_probes = failures.saturating_sub(i64::from(self.down_after.max(1)));
        let doublings = u32::try_from(failed_probes.clamp(0, 31)).unwrap_or(31);
        self.probe_after
            .saturating_mul(1_u32 << doublings)
            .min(self.probe_max.max(self.probe_after))
    }
}

/// Whether an attempt's outcome says something about its account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountOutcome {
    /// The account served the attempt: it heals.
    Success,
    /// The attempt failed through the account's fault (rate limit, server
    /// error, refused credential, unreachable upstream), not the client's.
    Failure,
}

/// One `down` account: when its next probe is due and how long a claimed
/// probe holds (the current wait), both in Unix milliseconds / milliseconds
/// so that every instance agrees whatever its monotonic clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DownEntry {
    next_probe_ms: i64,
    wait_ms: i64,
    /// When this instance learnt it (Unix milliseconds).
    marked_ms: i64,
}

/// The `down` accounts this instance knows of. Cheap to clone; clones share
/// the table. Read on every selection: when nothing is down, one atomic load.
#[derive(Debug, Clone, Default)]
pub struct DownAccounts {
    inner: Arc<DownInner>,
}

#[derive(Debug, Default)]
struct DownInner {
    /// The lock guards map operations only, never an await.
    entries: RwLock<HashMap<AccountId, DownEntry>>,
    /// When each account was last restored here (Unix milliseconds), so
    /// that a snapshot read before that cannot bring it back down.
    restored: RwLock<HashMap<AccountId, i64>>,
    len: AtomicUsize,
}

/// A `down` account as reported to operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownView {
    /// When its next probe may go out.
    pub next_probe_at: DateTime<Utc>,
    /// The wait between probes now.
    pub probe_wait: Duration,
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl DownAccounts {
    /// Whether no account is down (one atomic load).
    pub fn is_empty(&self) -> bool {
        self.inner.len.load(Ordering::Acquire) == 0
    }

    /// Records `account` as down, its next probe due at `next_probe_ms`
    /// (Unix milliseconds), a claimed probe holding for `wait`.
    pub fn mark_down(&self, account: AccountId, next_probe_ms: i64, wait: Duration) {
        let mut entries = self.inner.entries.write();
        entries.insert(
            account,
            DownEntry {
                next_probe_ms,
                wait_ms: millis(wait),
                marked_ms: now_ms(),
            },
        );
        self.inner.len.store(entries.len(), Ordering::Release);
    }

    /// Puts `account` back into selection; whether it was down.
    pub fn restore(&self, account: AccountId) -> bool {
        self.inner.restored.write().insert(account, now_ms());
        let mut entries = self.inner.entries.write();
        let was = entries.remove(&account).is_some();
        self.inner.len.store(entries.len(), Ordering::Release);
        was
    }

    /// Whether `account` is down.
    pub fn is_down(&self, account: AccountId) -> bool {
        !self.is_empty() && self.inner.entries.read().contains_key(&account)
    }

    /// How long `account` still waits for its probe: `None` when it is not
    /// down or its probe is due.
    pub fn waiting(&self, account: AccountId) -> Option<Duration> {
        if self.is_empty() {
            return None;
        }
        let entry = *self.inner.entries.read().get(&account)?;
        let left = entry.next_probe_ms.saturating_sub(now_ms());
        u64::try_from(left)
            .ok()
            .filter(|&ms| ms > 0)
            .map(Duration::from_millis)
    }

    /// Claims the due probe of `account` on this instance: its next probe
    /// moves one wait later, so that this instance's other requests skip it.
    /// Returns the claim's hold (the wait) when this caller won it; `None`
    /// when the account is not down or its probe is not due (or was just
    /// claimed by another request).
    pub fn claim_local(&self, account: AccountId) -> Option<Duration> {
        let now = now_ms();
        let mut entries = self.inner.entries.write();
        let entry = entries.get_mut(&account)?;
        if entry.next_probe_ms > now {
            return None;
        }
        entry.next_probe_ms = now.saturating_add(entry.wait_ms);
        Some(Duration::from_millis(
            u64::try_from(entry.wait_ms).unwrap_or(0),
        ))
    }

    /// The down account's next probe and current wait, for operators.
    pub fn view(&self, account: AccountId) -> Option<DownView> {
        if self.is_empty() {
            return None;
        }
        let entry = *self.inner.entries.read().get(&account)?;
        Some(DownView {
            next_probe_at: DateTime::from_timestamp_millis(entry.next_probe_ms)?,
            probe_wait: Duration::from_millis(u64::try_from(entry.wait_ms).unwrap_or(0)),
        })
    }

    /// Brings the table in line with stored health read by a snapshot
    /// (at start, and as a safety net for a lost notice): an account stored
    /// `down` and unknown here is added with `schedule`'s next probe and
    /// wait; one known here but stored as not `down` is restored. A row
    /// changed no later than what this instance learnt since (a snapshot
    /// read while the writer was storing the change) is left alone.
    pub fn reconcile<'a>(
        &self,
        accounts: impl Iterator<Item = &'a aigw_domain::Account>,
        schedule: impl Fn(&aigw_domain::Account) -> (i64, Duration),
    ) {
        let restored = self.inner.restored.read();
        let mut entries = self.inner.entries.write();
        for account in accounts {
            let changed_ms = account.updated_at.timestamp_millis();
            let down = account.health_status == HealthStatus::Down;
            match entries.get(&account.id) {
                Some(entry) if !down && changed_ms > entry.marked_ms => {
                    entries.remove(&account.id);
                }
                None if down && restored.get(&account.id).is_none_or(|&at| changed_ms > at) => {
                    let (next_probe_ms, wait) = schedule(account);
                    entries.insert(
                        account.id,
                        DownEntry {
                            next_probe_ms,
                            wait_ms: millis(wait),
                            marked_ms: now_ms(),
                        },
                    );
                }
                _ => {}
            }
        }
        self.inner.len.store(entries.len(), Ordering::Release);
    }
}

/// The shared-state key of the probe claim of `account`.
pub fn probe_key(account: AccountId) -> String {
    format!("health:probe:{account}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_and_probe_backoff() {
        let s = HealthSettings {
            degraded_after: 2,
            down_after: 4,
            probe_after: Duration::from_secs(10),
            probe_max: Duration::from_secs(35),
        };
        assert_eq!(s.status(0), HealthStatus::Healthy);
        assert_eq!(s.status(1), HealthStatus::Healthy);
        assert_eq!(s.status(2), HealthStatus::Degraded);
        assert_eq!(s.status(4), HealthStatus::Down);
        assert_eq!(s.status(40), HealthStatus::Down);
        assert_eq!(s.probe_wait(4), Duration::from_secs(10));
        assert_eq!(s.probe_wait(5), Duration::from_secs(20));
        assert_eq!(s.probe_wait(6), Duration::from_secs(35));
        assert_eq!(s.probe_wait(1000), Duration::from_secs(35));
    }

    #[test]
    fn a_due_probe_is_claimed_once() {
        let down = DownAccounts::default();
        let a = AccountId::new();
        assert!(down.is_empty());
        assert_eq!(down.claim_local(a), None, "not down");
        down.mark_down(a, now_ms() + 60_000, Duration::from_secs(60));
        assert!(down.is_down(a));
        assert!(down.waiting(a).is_some());
        assert_eq!(down.claim_local(a), None, "not due");
        down.mark_down(a, now_ms() - 1, Duration::from_secs(60));
        assert_eq!(down.waiting(a), None);
        assert_eq!(down.claim_local(a), Some(Duration::from_secs(60)));
        assert_eq!(down.claim_local(a), None, "claimed already");
        assert!(down.waiting(a).is_some());
        assert!(down.restore(a));
        assert!(down.is_empty());
    }
}
