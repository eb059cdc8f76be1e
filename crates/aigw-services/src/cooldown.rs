//! Cooldowns: accounts (for one model, or for every model) that must not be
//! selected until a moment passes, after a rate limit, an upstream fault or
//! an authentication failure.
//!
//! The table is read on every selection, so the common case (nothing cooling
//! down) costs one atomic load and no lock. Entries expire by time; a
//! cooled-down account rejoins by itself.
//!
//! Each instance keeps its own table; a cooldown set here is also sent to
//! the other instances (through the shared state's invalidation channel, by
//! the runtime's background task), so an account rate-limited on one
//! instance is avoided by all of them without a lookup per request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aigw_domain::AccountId;
use parking_lot::RwLock;
use tokio::sync::mpsc;

use crate::health::DownAccounts;

/// Why an account is cooling down (a metric label and an operator hint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CooldownReason {
    /// 429 or a rate-limit error event.
    RateLimited,
    /// A quota that resets on a long window.
    QuotaExhausted,
    /// 5xx, 529, an error event of that kind, or a broken stream.
    ServerError,
    /// Connect failure or timeout before the first byte.
    Unreachable,
    /// 401/403, or a failed token refresh.
    AuthFailed,
}

impl CooldownReason {
    /// A short, stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RateLimited => "rate_limited",
            Self::QuotaExhausted => "quota_exhausted",
            Self::ServerError => "server_error",
            Self::Unreachable => "unreachable",
            Self::AuthFailed => "auth_failed",
        }
    }
}

impl std::str::FromStr for CooldownReason {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        Ok(match s {
            "rate_limited" => Self::RateLimited,
            "quota_exhausted" => Self::QuotaExhausted,
            "server_error" => Self::ServerError,
            "unreachable" => Self::Unreachable,
            "auth_failed" => Self::AuthFailed,
            _ => return Err(()),
        })
    }
}

/// One cooldown as reported to operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CooldownEntry {
    /// The account.
    pub account: AccountId,
    /// The model, or `None` for every model.
    pub model: Option<String>,
    /// Why.
    pub reason: CooldownReason,
    /// How long is left.
    pub remaining: Duration,
}

/// A cooldown set on this instance, for the other instances to apply too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CooldownNotice {
    /// The account.
    pub account: AccountId,
    /// The model, or `None` for every model.
    pub model: Option<String>,
    /// When it ends, in Unix milliseconds.
    pub until_ms: i64,
    /// Why.
    pub reason: CooldownReason,
}

/// One account's cooldowns: a handful at most (one per model it was
/// limited on, plus an account-wide one), so a vector beats a map and a
/// lookup by `&str` allocates nothing.
type AccountCooldowns = Vec<(Box<str>, Instant, CooldownReason)>;

/// The cooldown table of this instance.
#[derive(Debug, Default)]
pub struct Cooldowns {
    /// Keyed by account; an empty model name is an account-wide cooldown.
    /// The lock guards map operations only, never an await.
    entries: RwLock<HashMap<AccountId, AccountCooldowns>>,
    /// Entries in the map, expired or not: zero means nothing to check.
    len: AtomicUsize,
    /// Where cooldowns set here are announced to other instances, if
    /// anyone listens (the runtime's propagator publishes them).
    outbox: Option<mpsc::Sender<CooldownNotice>>,
    /// Notices that did not fit in the outbox.
    dropped_notices: AtomicU64,
    /// Accounts that are `down`: skipped like an account-wide cooldown
    /// until their probe is due (see `health.rs`).
    down: DownAccounts,
}

/// Notices waiting to be published before new ones are dropped.
const OUTBOX_CAPACITY: usize = 1024;

impl Cooldowns {
    /// A table that announces what it sets on the returned receiver.
    pub fn with_outbox() -> (Self, mpsc::Receiver<CooldownNotice>) {
        let (tx, rx) = mpsc::channel(OUTBOX_CAPACITY);
        let table = Self {
            outbox: Some(tx),
            ..Self::default()
        };
        (table, rx)
    }

    /// The table that also skips the accounts `down` holds until their
    /// probe is due.
    pub fn with_down(mut self, down: DownAccounts) -> Self {
        self.down = down;
        self
    }

    /// The `down` accounts this table skips.
    pub fn down(&self) -> &DownAccounts {
        &self.down
    }

    /// Puts `account` (for `model`, or for every model when `None`) in
    /// cooldown for `duration`, and announces it to the other instances. A
    /// longer cooldown already in place is kept.
    pub fn set(
        &self,
        account: AccountId,
        model: Option<&str>,
        duration: Duration,
        reason: CooldownReason,
    ) {
        let changed = self.set_until(account, model, Instant::now() + duration, reason);
        if let (true, Some(outbox)) = (changed, &self.outbox) {
            let until_ms = chrono::Utc::now()
                .timestamp_millis()
                .saturating_add(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX));
            let notice = CooldownNotice {
                account,
                model: model.map(str::to_owned),
                until_ms,
                reason,
            };
            if outbox.try_send(notice).is_err() {
                self.dropped_notices.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Applies a cooldown another instance set, without announcing it again.
    /// One that has already ended is ignored.
    pub fn apply_notice(&self, notice: &CooldownNotice) {
        let left = notice
            .until_ms
            .saturating_sub(chrono::Utc::now().timestamp_millis());
        let Ok(left) = u64::try_from(left) else {
            return;
        };
        if left == 0 {
            return;
        }
        let until = Instant::now() + Duration::from_millis(left);
        self.set_until(
            notice.account,
            notice.model.as_deref(),
            until,
            notice.reason,
        );
    }

    /// Sets a cooldown ending at `until`; whether it changed the table.
    fn set_until(
        &self,
        account: AccountId,
        model: Option<&str>,
        until: Instant,
        reason: CooldownReason,
    ) -> bool {
        let model = model.unwrap_or_default();
        let mut entries = self.entries.write();
        let list = entries.entry(account).or_default();
        let changed = match list.iter_mut().find(|(m, _, _)| &**m == model) {
            Some(entry) if entry.1 >= until => false,
            Some(entry) => {
                entry.1 = until;
                entry.2 = reason;
                true
            }
            None => {
                list.push((model.into(), until, reason));
                true
            }
        };
        self.len.store(count(&entries), Ordering::Release);
        changed
    }

    /// How long `account` must still wait before serving `model`, if at all
    /// (a `down` account waits for its next probe).
    pub fn remaining(&self, account: AccountId, model: &str) -> Option<Duration> {
        let down = self.down.waiting(account);
        if self.len.load(Ordering::Acquire) == 0 {
            return down;
        }
        let now = Instant::now();
        let entries = self.entries.read();
        let cooling = entries
            .get(&account)
            .into_iter()
            .flatten()
            .filter(|(m, _, _)| m.is_empty() || &**m == model)
            .filter_map(|(_, until, _)| until.checked_duration_since(now))
            .filter(|d| !d.is_zero())
            .max();
        cooling.max(down)
    }

    /// Whether no cooldown is recorded at all and no account is down (two
    /// atomic loads).
    pub fn is_empty(&self) -> bool {
        self.len.load(Ordering::Acquire) == 0 && self.down.is_empty()
    }

    /// Whether `account` may serve `model` now.
    pub fn is_usable(&self, account: AccountId, model: &str) -> bool {
        self.remaining(account, model).is_none()
    }

    /// Lifts every cooldown of `account` (e.g. after its credential changed).
    pub fn clear_account(&self, account: AccountId) {
        let mut entries = self.entries.write();
        entries.remove(&account);
        self.len.store(count(&entries), Ordering::Release);
    }

    /// Drops expired entries; called from a background task, not per request.
    pub fn purge_expired(&self) {
        let now = Instant::now();
        let mut entries = self.entries.write();
        entries.retain(|_, list| {
            list.retain(|(_, until, _)| *until > now);
            !list.is_empty()
        });
        self.len.store(count(&entries), Ordering::Release);
    }

    /// The cooldowns in force, for operators.
    pub fn active(&self) -> Vec<CooldownEntry> {
        let now = Instant::now();
        self.entries
            .read()
            .iter()
            .flat_map(|(account, list)| list.iter().map(move |entry| (*account, entry)))
            .filter_map(|(account, (model, until, reason))| {
                let remaining = until.checked_duration_since(now)?;
                Some(CooldownEntry {
                    account,
                    model: (!model.is_empty()).then(|| model.to_string()),
                    reason: *reason,
                    remaining,
                })
            })
            .collect()
    }

    /// Notices dropped because the outbox was full.
    pub fn dropped_notices(&self) -> u64 {
        self.dropped_notices.load(Ordering::Relaxed)
    }
}

fn count(entries: &HashMap<AccountId, AccountCooldowns>) -> usize {
    entries.values().map(Vec::len).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_and_account_wide_cooldowns() {
        let table = Cooldowns::default();
        let a = AccountId::new();
        assert!(table.is_usable(a, "m"));
        table.set(
            a,
            Some("m"),
            Duration::from_secs(60),
            CooldownReason::RateLimited,
        );
        assert!(!table.is_usable(a, "m"));
        assert!(table.is_usable(a, "other"));
        table.set(
            a,
            None,
            Duration::from_secs(120),
            CooldownReason::AuthFailed,
        );
        assert!(!table.is_usable(a, "other"));
        assert!(table.remaining(a, "m").unwrap() > Duration::from_secs(60));
        table.clear_account(a);
        assert!(table.is_usable(a, "m"));
    }

    #[test]
    fn expired_cooldowns_rejoin_and_a_longer_one_wins() {
        let table = Cooldowns::default();
        let a = AccountId::new();
        table.set(a, Some("m"), Duration::ZERO, CooldownReason::ServerError);
        assert!(table.is_usable(a, "m"));
        table.set(
            a,
            Some("m"),
            Duration::from_secs(30),
            CooldownReason::ServerError,
        );
        table.set(
            a,
            Some("m"),
            Duration::from_secs(1),
            CooldownReason::RateLimited,
        );
        let left = table.remaining(a, "m").unwrap();
        assert!(left > Duration::from_secs(20), "{left:?}");
        table.purge_expired();
        assert_eq!(table.active().len(), 1);
    }

    #[test]
    fn local_cooldowns_are_announced_and_remote_ones_applied_silently() {
        let (table, mut notices) = Cooldowns::with_outbox();
        let a = AccountId::new();
        table.set(
            a,
            Some("m"),
            Duration::from_secs(30),
            CooldownReason::RateLimited,
        );
        let notice = notices.try_recv().expect("announced");
        assert_eq!(notice.account, a);
        assert_eq!(notice.model.as_deref(), Some("m"));
        let left = notice.until_ms - chrono::Utc::now().timestamp_millis();
        assert!((28_000..=30_000).contains(&left), "{left}");
        // A shorter one changes nothing and is not announced.
        table.set(
            a,
            Some("m"),
            Duration::from_secs(1),
            CooldownReason::ServerError,
        );
        assert!(notices.try_recv().is_err());

        let (other, mut other_notices) = Cooldowns::with_outbox();
        other.apply_notice(&notice);
        assert!(!other.is_usable(a, "m"));
        assert!(other.is_usable(a, "n"));
        assert!(other_notices.try_recv().is_err(), "re-announced");
        // A notice that already ended is ignored.
        let b = AccountId::new();
        other.apply_notice(&CooldownNotice {
            account: b,
            model: None,
            until_ms: chrono::Utc::now().timestamp_millis() - 1,
            reason: CooldownReason::AuthFailed,
        });
        assert!(other.is_usable(b, "m"));
        assert_eq!("rate_limited".parse(), Ok(CooldownReason::RateLimited));
    }
}
