//! The in-memory snapshot the hot path reads: providers, routing rules,
//! model mappings, active accounts per provider and client keys.
//!
//! It is immutable and swapped whole ([`SnapshotStore`]): a request loads one
//! `Arc<Snapshot>` and sees a consistent picture without any lock or SQL.
//! Writers rebuild it from the repository after every change, on an
//! invalidation message from another instance, and periodically.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aigw_domain::{
    Account, AccountId, ApiKey, HealthStatus, ModelMapping, Provider, ProviderId, ProviderKind,
    ProxyId, SelectionStrategy, UserId,
};
use aigw_repository::SnapshotData;
use arc_swap::ArcSwap;
// The snapshot's maps, read on every request: foldhash instead of the standard
// SipHash, which cost a few hundred instructions per lookup. Its seed is random per
// process; the keys are the operator's (ids, model names, key digests), not a
// client's free choice.
use foldhash::HashMap as FastMap;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use crate::client_pool::Egress;
use crate::rotation::{counter_key, other_counter_key, weighted_cycle};
use crate::routing::RuleTable;

/// What to do with an account that has no proxy while proxies are configured
/// (every proxy was full or down when it was assigned).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProxyOverflow {
    /// The account is not used: requests get 503 if no other account can serve.
    #[default]
    Reject,
    /// The account connects directly, by the operator's explicit choice.
    Direct,
}

/// A client key as the data plane needs it.
#[derive(Debug, Clone)]
pub struct ClientKey {
    /// The key's row.
    pub key: ApiKey,
}

/// An account the data plane may send through, with its egress
/// resolved when the snapshot was built.
#[derive(Debug, Clone)]
pub struct Routable {
    /// The account.
    pub account: Arc<Account>,
    /// How its connections leave: directly or through its proxy.
    pub egress: Egress,
}

/// An active provider with its usable accounts.
#[derive(Debug)]
pub struct ProviderEntry {
    /// The provider's row, with config overrides applied.
    pub provider: Provider,
    /// Its active accounts, sorted by id so every instance rotates in the same order.
    pub accounts: Arc<[Arc<Account>]>,
    /// The accounts whose egress is usable (proxy active, up and valid, or
    /// direct where allowed), in the same order: the round-robin rotation.
    /// Resolved here so a pick is an index, not a lookup per account.
    pub rotation: Box<[Routable]>,
    /// The round-robin counter key of every model this provider is known to
    /// serve (its model list and the mappings to it), built once so a pick
    /// does not format one.
    counter_keys: FastMap<String, Box<str>>,
    /// The one counter every other model name shares (see [`other_counter_key`]).
    other_counter_key: Box<str>,
    /// The rotation's position of each of its accounts, so that a
    /// conversation's pinned account is found without a scan.
    positions: FastMap<AccountId, usize>,
    /// The `weighted` strategy's cycle: rotation positions, each account
    /// as often as its weight, spread evenly (empty for other strategies).
    weighted: Box<[u32]>,
}

impl ProviderEntry {
    /// Where `account` is in the rotation, if it is there.
    pub fn position(&self, account: AccountId) -> Option<usize> {
        self.positions.get(&account).copied()
    }

    /// The `weighted` strategy's cycle of rotation positions.
    pub fn weighted_cycle(&self) -> &[u32] {
        &self.weighted
    }

    /// The round-robin counter key of `model` on this provider: its own for
    /// a known model, the provider's shared one for any other. Model names a
    /// prefix rule lets through are the client's choice; one counter each
    /// would let clients create shared-state keys without bound.
    pub fn counter_key(&self, model: &str) -> &str {
        self.counter_keys
            .get(model)
            .unwrap_or(&self.other_counter_key)
    }

    /// Whether `model` is one this provider is known to serve: in its model
    /// list, or the target of a mapping to it.
    pub fn knows(&self, model: &str) -> bool {
        self.counter_keys.contains_key(model)
    }
}

/// A place a request may be served: a provider of the snapshot and the model
/// name to send it. Borrows the snapshot and the request.
#[derive(Debug, Clone, Copy)]
pub struct RouteCandidate<'a> {
    /// The provider to use.
    pub entry: &'a ProviderEntry,
    /// The model name as the upstream knows it.
    pub upstream_model: &'a str,
}

/// The candidates of one request: one for a mapping, one per matching prefix
/// rule otherwise; inline, so routing does not allocate.
pub type RouteCandidates<'a> = smallvec::SmallVec<[RouteCandidate<'a>; 2]>;

/// Everything the request path reads, frozen at one moment.
#[derive(Debug, Default)]
pub struct Snapshot {
    providers: FastMap<ProviderId, ProviderEntry>,
    rules: RuleTable,
    /// Enabled mappings by alias, the best first: owned before global, then
    /// by priority (highest first).
    mappings: FastMap<String, Vec<ModelMapping>>,
    /// Active client keys by the SHA-256 of the key.
    client_keys: FastMap<[u8; 32], ClientKey>,
    /// The egress of every proxy that may carry traffic (active, not down,
    /// with a valid URL). A proxy missing here makes its accounts unusable.
    proxy_egresses: FastMap<ProxyId, Egress>,
    /// Whether any proxy is configured at all.
    proxies_configured: bool,
    overflow: ProxyOverflow,
    /// Whether any account of the rotation connects directly.
    direct_in_use: bool,
}

/// The egress of accounts that use no proxy.
static DIRECT: Egress = Egress::Direct;

impl Snapshot {
    /// Builds a snapshot from repository rows and the configured rule table.
    /// Inactive rows are left out, so the hot path never filters them.
    pub fn build(source: SnapshotData, rules: RuleTable, overflow: ProxyOverflow) -> Self {
        let mut accounts_by_provider: HashMap<ProviderId, Vec<Arc<Account>>> = HashMap::new();
        for account in source.accounts.into_iter().filter(|a| a.is_active) {
            accounts_by_provider
                .entry(account.provider_id.clone())
                .or_default()
                .push(Arc::new(account));
        }
        let mut mappings: FastMap<String, Vec<ModelMapping>> = FastMap::default();
        for mapping in source.model_mappings.into_iter().filter(|m| m.enabled) {
            mappings
                .entry(mapping.alias.clone())
                .or_default()
                .push(mapping);
        }
        for list in mappings.values_mut() {
            list.sort_by(|a, b| {
                b.owner_id
                    .is_some()
                    .cmp(&a.owner_id.is_some())
                    .then(b.priority.cmp(&a.priority))
                    .then(a.id.cmp(&b.id))
            });
        }

        // A key works only while its owner is active too: disabling a user
        // revokes every key they hold.
        let active_users: HashSet<UserId> = source
            .users
            .iter()
            .filter(|u| u.is_active)
            .map(|u| u.id)
            .collect();
        let client_keys = source
            .api_keys
            .into_iter()
            .filter(|k| k.is_active && active_users.contains(&k.user_id))
            .filter_map(|key| {
                let mut digest = [0u8; 32];
                hex::decode_to_slice(&key.key_hash, &mut digest).ok()?;
                Some((digest, ClientKey { key }))
            })
            .collect();

        let proxies_configured = !source.proxies.is_empty();
        let proxy_egresses: FastMap<ProxyId, Egress> = source
            .proxies
            .into_iter()
            .filter(|p| p.is_active && p.health_status != HealthStatus::Down)
            .filter_map(|p| match Egress::for_proxy_url(Some(p.url.expose())) {
                Ok(egress) => Some((p.id, egress)),
                Err(e) => {
                    // Never a direct fallback: the proxy's accounts stay unusable.
                    tracing::warn!(proxy = %p.id, error = %e, "proxy URL unusable; its accounts are not used");
                    None
                }
            })
            .collect();
        let egresses = EgressTable {
            proxy_egresses: &proxy_egresses,
            proxies_configured,
            overflow,
        };

        let providers: FastMap<ProviderId, ProviderEntry> = source
            .providers
            .into_iter()
            .filter(|p| p.is_active)
            .map(|provider| {
                let mut accounts = accounts_by_provider
                    .remove(&provider.id)
                    .unwrap_or_default();
                accounts.sort_by_key(|a| a.id);
                let rotation = accounts
                    .iter()
                    .filter_map(|account| {
                        Some(Routable {
                            account: Arc::clone(account),
                            egress: egresses.of(account)?.clone(),
                        })
                    })
                    .collect();
                let mapped = mappings
                    .values()
                    .flatten()
                    .filter(|m| m.provider_id == provider.id)
                    .map(|m| m.model_name.as_str());
                let counter_keys = provider
                    .models
                    .iter()
                    .map(String::as_str)
                    .chain(mapped)
                    .map(|model| {
                        let key = counter_key(provider.id.as_str(), model).into_boxed_str();
                        (model.to_owned(), key)
                    })
                    .collect();
                let other_counter_key = other_counter_key(provider.id.as_str()).into_boxed_str();
                let rotation: Box<[Routable]> = rotation;
                let positions = rotation
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (r.account.id, i))
                    .collect();
                let weighted = if provider.selection_strategy == SelectionStrategy::Weighted {
                    weighted_cycle(rotation.iter().map(|r| r.account.weight))
                } else {
                    Box::default()
                };
                (
                    provider.id.clone(),
                    ProviderEntry {
                        provider,
                        accounts: accounts.into(),
                        rotation,
                        counter_keys,
                        other_counter_key,
                        positions,
                        weighted,
                    },
                )
            })
            .collect();

        let direct_in_use = providers
            .values()
            .flat_map(|entry| entry.rotation.iter())
            .any(|r| r.egress == Egress::Direct);
        Self {
            providers,
            rules,
            mappings,
            client_keys,
            proxy_egresses,
            proxies_configured,
            overflow,
            direct_in_use,
        }
    }

    /// The egress of `account`, or `None` when it must not be used:
    /// its proxy is disabled, down, deleted or invalid, or it has no proxy
    /// while proxies are configured and overflow is `reject`.
    pub fn account_egress(&self, account: &Account) -> Option<&Egress> {
        EgressTable {
            proxy_egresses: &self.proxy_egresses,
            proxies_configured: self.proxies_configured,
            overflow: self.overflow,
        }
        .of(account)
    }

    /// Every egress the snapshot's accounts may use (for pruning the client
    /// pool). The direct egress is one only while some account connects
    /// directly: once every account has a proxy, the direct client and its
    /// pooled connections go, so none of them can carry an account that has
    /// since been given a proxy.
    pub fn egresses(&self) -> impl Iterator<Item = &Egress> {
        self.proxy_egresses
            .values()
            .chain(self.direct_in_use.then_some(&DIRECT))
    }

    /// The active provider `id`, if any.
    pub fn provider(&self, id: &ProviderId) -> Option<&ProviderEntry> {
        self.providers.get(id)
    }

    /// Every active provider.
    pub fn providers(&self) -> impl Iterator<Item = &ProviderEntry> {
        self.providers.values()
    }

    /// Every enabled mapping visible to `user` (global ones and the user's own).
    pub fn mappings_for(&self, user: Option<UserId>) -> impl Iterator<Item = &ModelMapping> {
        self.mappings
            .values()
            .filter_map(move |list| list.iter().find(|m| visible(m, user)))
    }

    /// Where `model` may be served for a request by `user`, best first.
    ///
    /// A mapping of the alias wins outright; otherwise every matching prefix
    /// rule whose provider is active is a candidate, in rule order.
    pub fn route<'a>(&'a self, model: &'a str, user: Option<UserId>) -> RouteCandidates<'a> {
        let mut candidates = RouteCandidates::new();
        if let Some(mapping) = self
            .mappings
            .get(model)
            .and_then(|list| list.iter().find(|m| visible(m, user)))
        {
            // A mapping to an inactive provider routes nowhere; falling back to
            // prefix rules would silently send the alias somewhere else.
            if let Some(entry) = self.providers.get(&mapping.provider_id) {
                candidates.push(RouteCandidate {
                    entry,
                    upstream_model: &mapping.model_name,
                });
            }
            return candidates;
        }
        candidates.extend(
            self.rules
                .providers_for(model)
                .filter_map(|p| self.providers.get(p))
                // Google's upstreams know no `gemini-claude-*` ids: those
                // public aliases reach Antigravity only through a mapping,
                // and an unmapped one would only draw an upstream 400 there
                // (or from Gemini, whose `gemini-*` rule it also matches).
                .filter(|entry| {
                    !model.starts_with(ANTIGRAVITY_ALIAS_PREFIX)
                        || !matches!(
                            entry.provider.kind,
                            ProviderKind::Antigravity | ProviderKind::Gemini
                        )
                })
                .map(|entry| RouteCandidate {
                    entry,
                    upstream_model: model,
                }),
        );
        candidates
    }

    /// The active client key whose SHA-256 is `digest`, compared in constant
    /// time once found (the map lookup itself is by a digest the caller
    /// cannot steer).
    pub fn client_key(&self, presented: &str) -> Option<&ClientKey> {
        let digest = hash_key(presented);
        // The map holds each key's digest decoded once, when the snapshot was built.
        let (stored, found) = self.client_keys.get_key_value(&digest)?;
        bool::from(subtle::ConstantTimeEq::ct_eq(&stored[..], &digest[..])).then_some(found)
    }
}

/// Resolves an account's egress from the proxies of a snapshot.
struct EgressTable<'a> {
    proxy_egresses: &'a FastMap<ProxyId, Egress>,
    proxies_configured: bool,
    overflow: ProxyOverflow,
}

impl<'a> EgressTable<'a> {
    fn of(&self, account: &Account) -> Option<&'a Egress> {
        match account.proxy_id {
            Some(id) => self.proxy_egresses.get(&id),
            None if self.proxies_configured && self.overflow == ProxyOverflow::Reject => None,
            None => Some(&DIRECT),
        }
    }
}

/// The prefix of the public aliases of Antigravity's Claude models.
const ANTIGRAVITY_ALIAS_PREFIX: &str = "gemini-claude-";

fn visible(mapping: &ModelMapping, user: Option<UserId>) -> bool {
    match mapping.owner_id {
        None => true,
        Some(owner) => Some(owner) == user,
    }
}

/// The SHA-256 of a presented key: what the database stores (hex) and the
/// snapshot indexes.
pub fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// The current snapshot, swapped whole on every rebuild.
///
/// Rebuilds run concurrently (the refresher, and every management write on
/// its own request), so one that read the database earlier can finish later.
/// Each rebuild therefore takes a [`LoadTicket`] before it reads, and
/// [`SnapshotStore::install`] never replaces a snapshot with one read before
/// it: otherwise an account could briefly get back an older egress (direct,
/// or no longer its proxy) after the database gave it a new one.
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    current: Arc<ArcSwap<Snapshot>>,
    /// The last ticket handed out.
    tickets: Arc<AtomicU64>,
    /// The ticket of the installed snapshot. Held only to compare and swap,
    /// never across an `.await`.
    installed: Arc<Mutex<u64>>,
}

/// Taken before a snapshot's rows are read: later tickets read later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LoadTicket(u64);

impl Default for SnapshotStore {
    fn default() -> Self {
        Self::new(Snapshot::default())
    }
}

impl SnapshotStore {
    /// A store holding `initial`.
    pub fn new(initial: Snapshot) -> Self {
        Self {
            current: Arc::new(ArcSwap::from_pointee(initial)),
            tickets: Arc::new(AtomicU64::new(0)),
            installed: Arc::new(Mutex::new(0)),
        }
    }

    /// The ticket of a rebuild about to read the database.
    pub fn ticket(&self) -> LoadTicket {
        LoadTicket(self.tickets.fetch_add(1, Ordering::SeqCst) + 1)
    }

    /// Installs `snapshot`, read under `ticket`, unless a snapshot read
    /// after it is installed already. Returns whether it was installed.
    pub fn install(&self, ticket: LoadTicket, snapshot: Snapshot) -> bool {
        let snapshot = Arc::new(snapshot);
        let mut installed = self.installed.lock();
        if ticket.0 <= *installed {
            return false;
        }
        *installed = ticket.0;
        self.current.store(snapshot);
        true
    }

    /// The current snapshot. Holding the `Arc` across an await is fine: it
    /// pins that version, never a lock.
    pub fn load(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Replaces the snapshot with one read now; requests already running
    /// keep the one they loaded.
    pub fn store(&self, snapshot: Snapshot) {
        let ticket = self.ticket();
        self.install(ticket, snapshot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aigw_domain::{AuthData, NewAccount, Proxy, ProxyUrl, Secret};
    use chrono::Utc;

    fn data(proxies: usize, assign: bool) -> SnapshotData {
        let openai = crate::builtin::builtin_providers()
            .into_iter()
            .find(|p| p.id.as_str() == "openai")
            .unwrap();
        let now = Utc::now();
        let proxies: Vec<Proxy> = (0..proxies)
            .map(|i| Proxy {
                id: ProxyId::new(i as i64 + 1),
                url: ProxyUrl::new(format!("http://127.0.0.1:{}", 3000 + i)),
                protocol: aigw_domain::ProxyProtocol::Http,
                is_active: true,
                health_status: HealthStatus::Healthy,
                max_accounts: 1,
                current_accounts: 0,
                last_used_at: None,
                usage_count: 0,
                priority: 0,
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
            })
            .collect();
        let accounts = (0..2)
            .map(|i| {
                let mut new = NewAccount::new(
                    openai.id.clone(),
                    format!("a{i}"),
                    AuthData::ApiKey {
                        api_key: Secret::new("k"),
                    },
                );
                new.proxy_id = proxies.get(i).filter(|_| assign).map(|p| p.id);
                Account::from_new(aigw_domain::AccountId::new(), new, now)
            })
            .collect();
        SnapshotData {
            providers: vec![Provider::from_new(openai, now)],
            accounts,
            proxies,
            ..SnapshotData::default()
        }
    }

    fn build(data: SnapshotData, overflow: ProxyOverflow) -> Snapshot {
        let rules = RuleTable::new(&crate::routing::default_rules()).unwrap();
        Snapshot::build(data, rules, overflow)
    }

    fn rotation_egresses(snapshot: &Snapshot) -> Vec<Egress> {
        let openai = ProviderId::new("openai").unwrap();
        let entry = snapshot.provider(&openai).unwrap();
        entry.rotation.iter().map(|r| r.egress.clone()).collect()
    }

    #[test]
    fn accounts_without_a_proxy_while_proxies_exist_are_not_routable() {
        let unassigned = build(data(2, false), ProxyOverflow::Reject);
        assert!(rotation_egresses(&unassigned).is_empty());
        assert!(!unassigned.egresses().any(|r| *r == Egress::Direct));

        let assigned = build(data(2, true), ProxyOverflow::Reject);
        let egresses = rotation_egresses(&assigned);
        assert_eq!(egresses.len(), 2);
        assert!(egresses.iter().all(|r| r.proxy().is_some()), "{egresses:?}");

        // Overflow "direct" is the operator's explicit choice.
        let overflow = build(data(2, false), ProxyOverflow::Direct);
        assert_eq!(
            rotation_egresses(&overflow),
            [Egress::Direct, Egress::Direct]
        );
        assert!(overflow.egresses().any(|r| *r == Egress::Direct));
    }

    /// The pool keeps a client for the direct egress only while an account
    /// connects directly, so connections pooled before the accounts got
    /// their proxies are dropped with it.
    #[test]
    fn the_direct_egress_is_kept_only_while_an_account_uses_it() {
        let direct = build(data(0, false), ProxyOverflow::Reject);
        assert_eq!(rotation_egresses(&direct), [Egress::Direct, Egress::Direct]);
        assert_eq!(direct.egresses().collect::<Vec<_>>(), [&Egress::Direct]);

        let proxied = build(data(2, true), ProxyOverflow::Reject);
        assert_eq!(proxied.egresses().count(), 2);
        assert!(!proxied.egresses().any(|r| *r == Egress::Direct));
    }

    /// A rebuild that read the database earlier but finishes later must not
    /// replace what a later read installed.
    #[test]
    fn an_older_read_never_replaces_a_newer_snapshot() {
        let store = SnapshotStore::default();
        let older = store.ticket();
        let newer = store.ticket();
        assert!(store.install(newer, build(data(2, true), ProxyOverflow::Reject)));
        assert!(!store.install(older, build(data(0, false), ProxyOverflow::Reject)));
        let current = store.load();
        assert!(
            rotation_egresses(&current)
                .iter()
                .all(|r| r.proxy().is_some())
        );
        // A later read still gets in.
        assert!(store.install(store.ticket(), build(data(0, false), ProxyOverflow::Reject)));
        assert_eq!(
            rotation_egresses(&store.load()),
            [Egress::Direct, Egress::Direct]
        );
    }
}
