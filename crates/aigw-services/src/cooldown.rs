//! Cooldowns: accounts (for one model, or for every model) that must not be
//! selected until a moment passes, after a rate limit, an upstream fault or
//! an authentication failure.
//!
//! The table is read on every selection, so the common case (nothing cooling
//! down) costs one atomic load and no lock. Entries expire by time; a
//! cooled-down account rejoins by itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aigw_domain::AccountId;
use parking_lot::RwLock;

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

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    account: AccountId,
    /// Empty for an account-wide cooldown.
    model: String,
}

/// The cooldown table of this instance.
#[derive(Debug, Default)]
pub struct Cooldowns {
    /// The lock guards map operations only, never an await.
    entries: RwLock<HashMap<Key, (Instant, CooldownReason)>>,
    /// Entries in the map, expired or not: zero means nothing to check.
    len: AtomicUsize,
}

impl Cooldowns {
    /// Puts `account` (for `model`, or for every model when `None`) in
    /// cooldown for `duration`. A longer cooldown already in place is kept.
    pub fn set(
        &self,
        account: AccountId,
        model: Option<&str>,
        duration: Duration,
        reason: CooldownReason,
    ) {
        let until = Instant::now() + duration;
        let key = Key {
            account,
            model: model.unwrap_or_default().to_owned(),
        };
        let mut entries = self.entries.write();
        let entry = entries.entry(key).or_insert((until, reason));
        if entry.0 < until {
            *entry = (until, reason);
        }
        self.len.store(entries.len(), Ordering::Release);
    }

    /// How long `account` must still wait before serving `model`, if at all.
    pub fn remaining(&self, account: AccountId, model: &str) -> Option<Duration> {
        if self.len.load(Ordering::Acquire) == 0 {
            return None;
        }
        let now = Instant::now();
        let entries = self.entries.read();
        let left = |model: &str| {
            entries
                .get(&Key {
                    account,
                    model: model.to_owned(),
                })
                .and_then(|(until, _)| until.checked_duration_since(now))
                .filter(|d| !d.is_zero())
        };
        match (left(model), left("")) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether `account` may serve `model` now.
    pub fn is_usable(&self, account: AccountId, model: &str) -> bool {
        self.remaining(account, model).is_none()
    }

    /// Lifts every cooldown of `account` (e.g. after its credential changed).
    pub fn clear_account(&self, account: AccountId) {
        let mut entries = self.entries.write();
        entries.retain(|k, _| k.account != account);
        self.len.store(entries.len(), Ordering::Release);
    }

    /// Drops expired entries; called from a background task, not per request.
    pub fn purge_expired(&self) {
        let now = Instant::now();
        let mut entries = self.entries.write();
        entries.retain(|_, (until, _)| *until > now);
        self.len.store(entries.len(), Ordering::Release);
    }

    /// The cooldowns in force, for operators.
    pub fn active(&self) -> Vec<CooldownEntry> {
        let now = Instant::now();
        self.entries
            .read()
            .iter()
            .filter_map(|(k, (until, reason))| {
                let remaining = until.checked_duration_since(now)?;
                Some(CooldownEntry {
                    account: k.account,
                    model: (!k.model.is_empty()).then(|| k.model.clone()),
                    reason: *reason,
                    remaining,
                })
            })
            .collect()
    }
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
}
