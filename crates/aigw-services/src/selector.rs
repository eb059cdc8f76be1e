//! Account selection: round-robin over a provider's usable accounts, one
//! sequence per (provider, upstream model) shared by every instance.
//!
//! The counter is the shared state's atomic `incr` (Redis `INCR`, or an
//! in-process atomic in the embedded deployment): that is the only round trip
//! selection makes. The pick is `accounts[(counter - 1) mod n]`. Models the
//! provider does not list share one counter per provider, so the number of
//! counters is bounded by configuration, never by what clients send.

use std::sync::atomic::{AtomicU64, Ordering};

use aigw_domain::AccountId;
use aigw_repository::state::SharedState;

use crate::cooldown::Cooldowns;
use crate::snapshot::{ProviderEntry, Routable, RouteCandidate};

/// The account chosen for one attempt.
#[derive(Debug, Clone, Copy)]
pub struct Selection<'a> {
    /// The provider serving the attempt.
    pub entry: &'a ProviderEntry,
    /// The account to use, with its outbound route.
    pub chosen: &'a Routable,
    /// The model name to send upstream.
    pub upstream_model: &'a str,
}

/// The key of the round-robin counter of one (provider, upstream model).
pub fn counter_key(provider: &str, model: &str) -> String {
    let mut key = String::with_capacity(4 + provider.len() + model.len());
    key.push_str("rr:");
    key.push_str(provider);
    key.push(':');
    key.push_str(model);
    key
}

/// The key of the round-robin counter that every model a provider does not
/// list shares. It cannot equal a per-model key: those have a second `:`.
pub fn other_counter_key(provider: &str) -> String {
    format!("rr:{provider}")
}

/// Whether a selection takes the next turn of the rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// A request that uses the account: it advances the shared counter.
    Take,
    /// A request that costs the account nothing (a token count): it leaves
    /// the shared sequence where it is, so the next real request still goes
    /// to the account whose turn it is, and makes no round trip. Such
    /// requests rotate over the accounts on this instance's own counter.
    Leave,
}

/// Round-robin selection over the shared counters.
#[derive(Debug)]
pub struct RoundRobin {
    state: SharedState,
    /// Used only if the shared store cannot count at all, so selection still rotates.
    local: AtomicU64,
    /// The rotation of the selections that leave the shared turn alone.
    aside: AtomicU64,
}

impl RoundRobin {
    /// Selection counting in `state`.
    pub fn new(state: SharedState) -> Self {
        Self {
            state,
            local: AtomicU64::new(0),
            aside: AtomicU64::new(0),
        }
    }

    /// The next value of the counter `key` (1 first).
    pub async fn next(&self, key: &str) -> u64 {
        match self.state.incr(key).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "round-robin counter unavailable; rotating locally");
                self.local.fetch_add(1, Ordering::Relaxed) + 1
            }
        }
    }

    /// Picks the account for the next attempt: the first candidate with a
    /// usable account (not tried yet in this request, not cooling down for
    /// the model), then the next in its rotation. One counter increment
    /// when the selection takes its `turn`, none otherwise; nothing is
    /// allocated for a known model.
    pub async fn select<'a>(
        &self,
        candidates: &[RouteCandidate<'a>],
        cooldowns: &Cooldowns,
        tried: &[AccountId],
        turn: Turn,
    ) -> Option<Selection<'a>> {
        let filter = Filter { cooldowns, tried };
        let candidate = candidates
            .iter()
            .find(|c| filter.any_usable(&c.entry.rotation, c.upstream_model))?;
        let counter = match turn {
            Turn::Take => {
                self.next(candidate.entry.counter_key(candidate.upstream_model))
                    .await
            }
            Turn::Leave => self.aside.fetch_add(1, Ordering::Relaxed) + 1,
        };
        let chosen = filter.pick(&candidate.entry.rotation, candidate.upstream_model, counter)?;
        Some(Selection {
            entry: candidate.entry,
            chosen,
            upstream_model: candidate.upstream_model,
        })
    }
}

/// Which accounts of a rotation may take this attempt.
struct Filter<'f> {
    cooldowns: &'f Cooldowns,
    tried: &'f [AccountId],
}

impl Filter<'_> {
    /// Whether nothing is filtered out: the common case, a first attempt
    /// with nothing cooling down anywhere.
    fn keeps_all(&self) -> bool {
        self.tried.is_empty() && self.cooldowns.is_empty()
    }

    fn usable(&self, r: &Routable, model: &str) -> bool {
        !self.tried.contains(&r.account.id) && self.cooldowns.is_usable(r.account.id, model)
    }

    fn any_usable(&self, rotation: &[Routable], model: &str) -> bool {
        if self.keeps_all() {
            return !rotation.is_empty();
        }
        rotation.iter().any(|r| self.usable(r, model))
    }

    /// The usable account a counter value picks: `usable[(counter - 1) mod
    /// n]`, found without collecting the usable ones (an index when every
    /// account is usable, two scans otherwise).
    fn pick<'a>(
        &self,
        rotation: &'a [Routable],
        model: &str,
        counter: u64,
    ) -> Option<&'a Routable> {
        let index = |n: usize| usize::try_from((counter.max(1) - 1) % n as u64).ok();
        if self.keeps_all() {
            if rotation.is_empty() {
                return None;
            }
            return rotation.get(index(rotation.len())?);
        }
        let n = rotation.iter().filter(|r| self.usable(r, model)).count();
        if n == 0 {
            return None;
        }
        rotation
            .iter()
            .filter(|r| self.usable(r, model))
            .nth(index(n)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_key_names_provider_and_model() {
        assert_eq!(counter_key("openai", "gpt-4o"), "rr:openai:gpt-4o");
        assert_eq!(other_counter_key("openai"), "rr:openai");
    }

    fn rotation(n: usize) -> Vec<Routable> {
        (0..n)
            .map(|i| Routable {
                account: std::sync::Arc::new(aigw_domain::Account::from_new(
                    AccountId::new(),
                    aigw_domain::NewAccount::new(
                        "openai".parse().unwrap(),
                        format!("a{i}"),
                        aigw_domain::AuthData::ApiKey {
                            api_key: aigw_domain::Secret::new("k"),
                        },
                    ),
                    chrono::Utc::now(),
                )),
                route: crate::client_pool::Route::Direct,
            })
            .collect()
    }

    #[test]
    fn picks_rotate_over_usable_accounts_only() {
        let cooldowns = Cooldowns::default();
        let accounts = rotation(3);
        let ids: Vec<_> = accounts.iter().map(|r| r.account.id).collect();
        let all = Filter {
            cooldowns: &cooldowns,
            tried: &[],
        };
        let picked: Vec<_> = (1..=6)
            .map(|n| all.pick(&accounts, "m", n).unwrap().account.id)
            .collect();
        assert_eq!(picked, [ids[0], ids[1], ids[2], ids[0], ids[1], ids[2]]);
        assert!(all.pick(&[], "m", 1).is_none());

        cooldowns.set(
            ids[1],
            Some("m"),
            std::time::Duration::from_secs(60),
            crate::cooldown::CooldownReason::RateLimited,
        );
        let tried = [ids[2]];
        let some = Filter {
            cooldowns: &cooldowns,
            tried: &tried,
        };
        assert!(some.any_usable(&accounts, "m"));
        for n in 1..=4 {
            assert_eq!(some.pick(&accounts, "m", n).unwrap().account.id, ids[0]);
        }
        // Another model is not cooling down on ids[1].
        assert_eq!(some.pick(&accounts, "other", 2).unwrap().account.id, ids[1]);
        let none = Filter {
            cooldowns: &cooldowns,
            tried: &ids,
        };
        assert!(!none.any_usable(&accounts, "m"));
        assert!(none.pick(&accounts, "m", 1).is_none());
    }
}
