//! Proxy assignment: fill-first and persistent.
//!
//! Proxies are ordered by priority (highest first), then id. An account gets
//! the first active, not-down proxy with room (`max_accounts` 0 = unlimited)
//! when it is created or activated, and keeps it, stored on the account, until
//! that proxy is disabled, deleted or marked down, or a recalculation is asked
//! for. Nothing here runs per request. `current_accounts` is always recounted
//! from the accounts themselves, never incremented blindly, so it cannot drift.

use std::collections::HashMap;

use aigw_domain::{Account, AccountId, HealthStatus, Proxy, ProxyId};
use aigw_repository::Error as RepositoryError;
use aigw_repository::SqlRepository;

fn can_carry(proxy: &Proxy) -> bool {
    proxy.is_active
        && proxy.health_status != HealthStatus::Down
        && crate::client_pool::ValidProxyUrl::parse(proxy.url.expose()).is_ok()
}

/// The proxies in assignment order.
fn ordered(proxies: &[Proxy]) -> Vec<&Proxy> {
    let mut usable: Vec<&Proxy> = proxies.iter().filter(|p| can_carry(p)).collect();
    usable.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.id.cmp(&b.id)));
    usable
}

/// The fill-first choice for one more account, given how many active
/// accounts each proxy carries now.
fn choose(order: &[&Proxy], load: &HashMap<ProxyId, i64>) -> Option<ProxyId> {
    order
        .iter()
        .find(|p| p.max_accounts <= 0 || load.get(&p.id).copied().unwrap_or(0) < p.max_accounts)
        .map(|p| p.id)
}

fn needs_proxy(account: &Account, usable: &HashMap<ProxyId, &Proxy>) -> bool {
    account.is_active && account.proxy_id.is_none_or(|id| !usable.contains_key(&id))
}

/// Assigns a proxy to every active account that has none, or whose proxy
/// can no longer carry traffic; with `recalculate`, reassigns every active
/// account from scratch. Returns how many accounts changed proxy.
///
/// Accounts left without room keep no proxy: with `[proxy] overflow =
/// "reject"` the snapshot then treats them as unusable.
pub async fn assign_proxies(
    repository: &SqlRepository,
    recalculate: bool,
) -> Result<usize, RepositoryError> {
    let data = repository.load_snapshot().await?;
    if data.proxies.is_empty() {
        return Ok(0);
    }
    let order = ordered(&data.proxies);
    let usable: HashMap<ProxyId, &Proxy> = order.iter().map(|p| (p.id, *p)).collect();
    let mut load: HashMap<ProxyId, i64> = HashMap::new();
    let mut pending: Vec<&Account> = Vec::new();
    for account in &data.accounts {
        if (recalculate && account.is_active) || needs_proxy(account, &usable) {
            pending.push(account);
        } else if let (true, Some(id)) = (account.is_active, account.proxy_id) {
            *load.entry(id).or_default() += 1;
        }
    }
    let mut changed = 0;
    let mut updates: Vec<(AccountId, Option<ProxyId>)> = Vec::new();
    for account in pending {
        let choice = match choose(&order, &load) {
            Some(id) => {
                *load.entry(id).or_default() += 1;
                Some(id)
            }
            // No proxy has room: an account keeps the proxy it has, even a
            // down or disabled one, so it stays unusable rather than going
            // direct under `overflow = "direct"`. Only an account that never
            // had a proxy (or whose proxy was deleted) is left without one.
            None => account.proxy_id,
        };
        if choice != account.proxy_id {
            updates.push((account.id, choice));
        }
    }
    for (account, proxy) in updates {
        repository.set_account_proxy(account, proxy).await?;
        changed += 1;
    }
    repository.recount_proxy_accounts().await?;
    if changed > 0 {
        tracing::info!(changed, "proxy assignments updated");
    }
    Ok(changed)
}

/// The loads of the usable proxies: how many active accounts each carries.
fn loads(accounts: &[Account], usable: &HashMap<ProxyId, &Proxy>) -> HashMap<ProxyId, i64> {
    let mut load: HashMap<ProxyId, i64> = HashMap::new();
    for account in accounts.iter().filter(|a| a.is_active) {
        if let Some(id) = account.proxy_id.filter(|id| usable.contains_key(id)) {
            *load.entry(id).or_default() += 1;
        }
    }
    load
}

/// The proxy an account about to be created gets (fill-first), so that it is
/// inserted with it: no snapshot, on any instance, can then read the new
/// account before its assignment, when it would be unusable or, with
/// `overflow = "direct"`, connect directly although a proxy has room.
pub async fn proxy_for_new_account(
    repository: &SqlRepository,
) -> Result<Option<ProxyId>, RepositoryError> {
    let data = repository.load_snapshot().await?;
    let order = ordered(&data.proxies);
    let usable: HashMap<ProxyId, &Proxy> = order.iter().map(|p| (p.id, *p)).collect();
    Ok(choose(&order, &loads(&data.accounts, &usable)))
}

/// Checks the proxy a new account was inserted with: when a creation at the
/// same moment filled it too (both chose its last place), the accounts past
/// its `max_accounts`, in creation order, move to the next proxy with room,
/// or to none. Whichever creation's check sees the excess moves them, so the
/// limit holds however the two interleave. Accounts stay behind a proxy
/// meanwhile, never direct.
pub async fn settle_new_account(
    repository: &SqlRepository,
    id: AccountId,
) -> Result<(), RepositoryError> {
    let data = repository.load_snapshot().await?;
    let Some(proxy) = data
        .accounts
        .iter()
        .find(|a| a.id == id)
        .and_then(|a| a.proxy_id)
    else {
        return Ok(());
    };
    let order = ordered(&data.proxies);
    let usable: HashMap<ProxyId, &Proxy> = order.iter().map(|p| (p.id, *p)).collect();
    let Some(limit) = usable.get(&proxy).map(|p| p.max_accounts) else {
        return Ok(());
    };
    let mut load = loads(&data.accounts, &usable);
    if limit <= 0 || load.get(&proxy).copied().unwrap_or(0) <= limit {
        return Ok(());
    }
    // The accounts on the proxy in creation order (ids are time-ordered):
    // the ones past the limit move. That may be the other creation rather
    // than this one: a creation stamped earlier can be inserted later, and
    // its own check, run first, saw no excess.
    let mut on_proxy: Vec<&Account> = data
        .accounts
        .iter()
        .filter(|a| a.is_active && a.proxy_id == Some(proxy))
        .collect();
    on_proxy.sort_by_key(|a| (a.created_at, a.id));
    let keeps = usize::try_from(limit).unwrap_or(usize::MAX);
    let others: Vec<&Proxy> = order.into_iter().filter(|p| p.id != proxy).collect();
    for moving in on_proxy.iter().skip(keeps) {
        if let Some(n) = load.get_mut(&proxy) {
            *n -= 1;
        }
        let next = choose(&others, &load);
        if let Some(next) = next {
            *load.entry(next).or_default() += 1;
        }
        repository.set_account_proxy(moving.id, next).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aigw_domain::{ProxyProtocol, ProxyUrl};
    use chrono::Utc;

    fn proxy(id: i64, priority: i32, max: i64) -> Proxy {
        let now = Utc::now();
        Proxy {
            id: ProxyId::new(id),
            url: ProxyUrl::new(format!("http://127.0.0.1:{}", 3000 + id)),
            protocol: ProxyProtocol::Http,
            is_active: true,
            health_status: HealthStatus::Healthy,
            max_accounts: max,
            current_accounts: 0,
            last_used_at: None,
            usage_count: 0,
            priority,
            weight: 1,
            consecutive_failures: 0,
            max_failures: 3,
            success_rate: 100.0,
            avg_latency_ms: 0,
            last_checked_at: None,
            last_latency_ms: None,
            marked_down_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn fill_first_by_priority_then_id() {
        let proxies = vec![proxy(1, 0, 2), proxy(2, 5, 1), proxy(3, 5, 0)];
        let order = ordered(&proxies);
        let mut load = HashMap::new();
        let mut picks = Vec::new();
        for _ in 0..4 {
            let id = choose(&order, &load).unwrap();
            *load.entry(id).or_default() += 1;
            picks.push(id.get());
        }
        // Priority 5 first (id 2 holds one, then id 3 is unlimited).
        assert_eq!(picks, [2, 3, 3, 3]);
    }

    #[test]
    fn down_disabled_and_invalid_proxies_are_skipped_and_full_means_none() {
        let mut down = proxy(1, 9, 0);
        down.health_status = HealthStatus::Down;
        let mut off = proxy(2, 9, 0);
        off.is_active = false;
        let mut bad = proxy(3, 9, 0);
        bad.url = ProxyUrl::new("ftp://nope");
        let full = proxy(4, 0, 1);
        let proxies = vec![down, off, bad, full];
        let order = ordered(&proxies);
        assert_eq!(order.len(), 1);
        let mut load = HashMap::new();
        load.insert(ProxyId::new(4), 1);
        assert_eq!(choose(&order, &load), None);
    }
}
