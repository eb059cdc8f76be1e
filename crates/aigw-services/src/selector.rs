//! Account selection: round-robin over a provider's usable accounts, one
//! sequence per (provider, upstream model) shared by every instance.
//!
//! The counter is the shared state's atomic `incr` (Redis `INCR`, or an
//! in-process atomic in the embedded deployment): that is the only round trip
//! selection makes. The pick is `accounts[(counter - 1) mod n]`.

use std::sync::Arc;

use aigw_domain::Account;

use crate::routing::RouteCandidate;
use crate::snapshot::{ProviderEntry, Snapshot};

/// The account chosen for one attempt.
#[derive(Debug, Clone)]
pub struct Selection<'s> {
    /// The provider serving the attempt.
    pub provider: &'s ProviderEntry,
    /// The account to use.
    pub account: Arc<Account>,
    /// The model name to send upstream.
    pub upstream_model: &'s str,
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

/// The first candidate with at least one usable account, and those accounts.
///
/// `usable` decides per account (not cooling down, its proxy usable, …);
/// the accounts it keeps are written to `scratch`, which the caller reuses
/// across attempts so selection does not allocate per pick.
pub fn first_usable<'s, F>(
    snapshot: &'s Snapshot,
    candidates: &'s [RouteCandidate],
    mut usable: F,
    scratch: &mut Vec<Arc<Account>>,
) -> Option<(&'s ProviderEntry, &'s str)>
where
    F: FnMut(&Account, &str) -> bool,
{
    for candidate in candidates {
        let Some(entry) = snapshot.provider(&candidate.provider) else {
            continue;
        };
        scratch.clear();
        scratch.extend(
            entry
                .accounts
                .iter()
                .filter(|a| usable(a, &candidate.upstream_model))
                .cloned(),
        );
        if !scratch.is_empty() {
            return Some((entry, candidate.upstream_model.as_str()));
        }
    }
    None
}

/// The account a counter value picks from `usable` (non-empty).
pub fn pick(usable: &[Arc<Account>], counter: u64) -> Option<Arc<Account>> {
    if usable.is_empty() {
        return None;
    }
    let n = usable.len() as u64;
    let index = (counter.max(1) - 1) % n;
    usable.get(usize::try_from(index).ok()?).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_key_names_provider_and_model() {
        assert_eq!(counter_key("openai", "gpt-4o"), "rr:openai:gpt-4o");
    }

    #[test]
    fn pick_from_no_accounts_is_none() {
        let accounts: Vec<Arc<Account>> = Vec::new();
        assert!(pick(&accounts, 1).is_none());
    }
}
