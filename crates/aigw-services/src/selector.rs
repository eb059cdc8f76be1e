//! Account selection: which of a provider's usable accounts serves an
//! attempt, by the provider's strategy, with optional session affinity.
//!
//! - `round_robin`: one sequence per (provider, upstream model) shared by
//!   every instance. The counter is the shared state's atomic `incr` (Redis
//!   `INCR`, or an in-process atomic in the embedded deployment): the only
//!   round trip selection makes. The pick is `usable[(counter - 1) mod n]`.
//!   Models the provider does not list share one counter per provider, so
//!   the number of counters is bounded by configuration, never by what
//!   clients send.
//! - `fill_first`: the first usable account in the rotation's stable order
//!   (by account id); no round trip at all.
//! - `weighted`: the same shared counter, mapped into a cycle built when the
//!   snapshot is loaded ([`crate::rotation::weighted_cycle`]) in which each account appears
//!   as often as its weight, its turns spread evenly; every instance agrees
//!   without other shared state.
//!
//! Session affinity (a provider switch on top of any strategy) keeps a
//! conversation ([`aigw_formats::ConversationKey`], mixed with the client
//! key) on the account that served its previous turn. Its read is folded
//! into the counter call ([`SharedState::pin_or_claim`]): still one round
//! trip. A pin's TTL is renewed by every turn that reads it. When there is
//! no pin, the same step takes the counter value and stores it as the
//! conversation's claim, so that a turn arriving before the pin is written
//! picks the same account from it; the strategy picks and the pin (the
//! account's id) is queued for the runtime's background writer, never
//! awaited here. When the pinned account is not usable (cooling down,
//! removed, tried already in this request), the conversation moves, with no
//! second round trip, to the usable account that scores highest for it by
//! rendezvous hashing (fill-first: the first usable account), and the new
//! pin replaces the old; when the move comes from a failed attempt of the
//! same request, the new pin is written before the retry goes out (see
//! [`crate::pins`]). The choice depends only on the conversation and on
//! which accounts are usable, so an instance that has not seen the new pin
//! yet makes the same move: the conversation moves once and stays on its new
//! account, and the conversations of a failing account spread over the others.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aigw_domain::{AccountId, ApiKeyId, ProviderId, SelectionStrategy};
use aigw_formats::ConversationKey;
use aigw_repository::state::{PinOrCount, SharedState};

use crate::cooldown::Cooldowns;
use crate::pins::{Pin, PinQueue};
use crate::snapshot::{ProviderEntry, Routable, RouteCandidate};

/// The account chosen for one attempt.
#[derive(Debug, Clone, Copy)]
pub struct Selection<'a> {
    /// The provider serving the attempt.
    pub entry: &'a ProviderEntry,
    /// The account to use, with its egress.
    pub chosen: &'a Routable,
    /// The model name to send upstream.
    pub upstream_model: &'a str,
}

/// Whether a selection takes the next turn of the rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// A request that uses the account: it advances the shared counter.
    Take,
    /// A request that costs the account nothing (a token count): it leaves
    /// the shared sequence where it is, so the next real request still goes
    /// to the account whose turn it is, and makes no round trip. Such
    /// requests rotate over the accounts on this instance's own counter,
    /// and leave conversation pins alone.
    Leave,
}

/// A conversation, as session affinity keys it: the client's conversation
/// mixed with its client key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conversation(u128);

impl Conversation {
    /// The conversation `key` of the client holding `api_key` (none when
    /// client keys are not required).
    pub fn new(key: ConversationKey, api_key: Option<ApiKeyId>) -> Self {
        let client: &[u8] = match &api_key {
            Some(id) => id.as_uuid().as_bytes(),
            None => b"",
        };
        Self(key.mixed_with(client).value())
    }
}

/// The shared-state key of a conversation's pin on one provider:
/// `aff:{provider}:{32 hex digits}`, built on the stack.
struct PinKey {
    buf: [u8; PinKey::CAPACITY],
    len: usize,
}

impl PinKey {
    const CAPACITY: usize = 4 + ProviderId::MAX_LEN + 1 + 32;

    fn new(provider: &ProviderId, conversation: Conversation) -> Option<Self> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let provider = provider.as_str().as_bytes();
        let len = 4 + provider.len() + 1 + 32;
        let mut buf = [0u8; Self::CAPACITY];
        buf.get_mut(..4)?.copy_from_slice(b"aff:");
        buf.get_mut(4..4 + provider.len())?
            .copy_from_slice(provider);
        *buf.get_mut(4 + provider.len())? = b':';
        let digits = buf.get_mut(5 + provider.len()..len)?;
        for (i, digit) in digits.iter_mut().enumerate() {
            let nibble = (conversation.0 >> (124 - 4 * i)) & 0xf;
            *digit = HEX[nibble as usize];
        }
        Some(Self { buf, len })
    }

    fn as_str(&self) -> &str {
        self.buf
            .get(..self.len)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }
}

/// Selection over the shared counters, with session affinity.
#[derive(Debug)]
pub struct Selector {
    state: SharedState,
    /// Used only if the shared store cannot count at all, so selection still rotates.
    local: AtomicU64,
    /// The rotation of the selections that leave the shared turn alone, and
    /// of conversations moving off an unusable pinned account.
    aside: AtomicU64,
    /// How long a conversation stays pinned after its last turn.
    affinity_ttl: Duration,
    /// Where new conversation pins go to be written.
    pins: PinQueue,
}

impl Selector {
    /// Selection counting in `state`, queueing conversation pins on `pins`
    /// that last `affinity_ttl` after a conversation's last turn.
    pub fn new(state: SharedState, pins: PinQueue, affinity_ttl: Duration) -> Self {
        Self {
            state,
            local: AtomicU64::new(0),
            aside: AtomicU64::new(0),
            affinity_ttl,
            pins,
        }
    }

    /// The queue pins are written from.
    pub fn pins(&self) -> &PinQueue {
        &self.pins
    }

    /// The next value of the counter `key` (1 first).
    pub async fn next(&self, key: &str) -> u64 {
        match self.state.incr(key).await {
            Ok(n) => n,
            Err(e) => self.unavailable(&e),
        }
    }

    fn unavailable(&self, e: &aigw_repository::state::StateError) -> u64 {
        tracing::warn!(error = %e, "round-robin counter unavailable; rotating locally");
        self.local.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn aside(&self) -> u64 {
        self.aside.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Picks the account for the next attempt: the first candidate with a
    /// usable account (not tried yet in this request, not cooling down for
    /// the model), then one of its accounts by its provider's strategy, or
    /// the conversation's pinned account. At most one shared-state round
    /// trip; nothing is allocated for a known model unless a new pin is
    /// queued.
    pub async fn select<'a>(
        &self,
        candidates: &[RouteCandidate<'a>],
        cooldowns: &Cooldowns,
        tried: &[AccountId],
        turn: Turn,
        conversation: Option<Conversation>,
    ) -> Option<Selection<'a>> {
        let filter = Filter { cooldowns, tried };
        let candidate = candidates
            .iter()
            .find(|c| filter.any_usable(&c.entry.rotation, c.upstream_model))?;
        let entry = candidate.entry;
        let model = candidate.upstream_model;
        let strategy = entry.provider.selection_strategy;
        let counter_key =
            (strategy != SelectionStrategy::FillFirst).then(|| entry.counter_key(model));
        let pin = match (turn, conversation) {
            (Turn::Take, Some(c)) if entry.provider.session_affinity => {
                PinKey::new(&entry.provider.id, c)
            }
            _ => None,
        };
        let selection = |chosen| Selection {
            entry,
            chosen,
            upstream_model: model,
        };
        let counter = match (turn, &pin) {
            (Turn::Leave, _) => Some(self.aside()),
            (Turn::Take, Some(pin)) => {
                // A retry in the same request: the pin named an account that
                // just failed, so the conversation moves, and its new pin is
                // written before the retry goes out, so that its next turn
                // follows it on any instance, even one that has not heard of
                // the failure yet. (A retry is off the fast path already.)
                let retry = !tried.is_empty();
                let turn = if retry {
                    PinTurn::Move
                } else {
                    self.follow_pin(entry, &filter, model, pin, counter_key)
                        .await
                };
                match turn {
                    PinTurn::Chosen(chosen) => return chosen.map(selection),
                    PinTurn::Move => {
                        let chosen = move_conversation(entry, &filter, model, pin)?;
                        let new_pin = self.pin_of(pin, chosen);
                        if retry {
                            self.pins.write_now(&self.state, new_pin).await;
                        } else {
                            self.pins.remember(new_pin);
                        }
                        return Some(selection(chosen));
                    }
                    PinTurn::Counter(n) => Some(n),
                }
            }
            (Turn::Take, None) => self.count(counter_key).await,
        };
        let chosen = strategy_pick(
            strategy,
            entry,
            &entry.rotation,
            &filter,
            model,
            counter.unwrap_or(1),
        )?;
        if let Some(pin) = pin {
            self.pins.remember(self.pin_of(&pin, chosen));
        }
        Some(selection(chosen))
    }

    /// The next value of the strategy's counter, if it rotates.
    async fn count(&self, counter_key: Option<&str>) -> Option<u64> {
        match counter_key {
            Some(key) => Some(self.next(key).await),
            None => None,
        }
    }

    /// A conversation's turn: its pinned account while usable, else a
    /// counter value for the strategy, from the same round trip that read
    /// the pin.
    async fn follow_pin<'a>(
        &self,
        entry: &'a ProviderEntry,
        filter: &Filter<'_>,
        model: &str,
        pin: &PinKey,
        counter_key: Option<&str>,
    ) -> PinTurn<'a> {
        // This instance's own pin, queued and not written yet, is the newest
        // (the turn before may have moved the conversation a moment ago).
        if let Some(account) = self.pins.unwritten(pin.as_str()) {
            return Self::follow_account(entry, filter, model, account);
        }
        let found = self
            .state
            .pin_or_claim(pin.as_str(), self.affinity_ttl, counter_key)
            .await;
        match found {
            Ok(PinOrCount::Pinned(json)) => match PinValue::parse(&json) {
                Some(PinValue::Account(account)) => {
                    Self::follow_account(entry, filter, model, account)
                }
                // A turn that claimed the conversation has not written its
                // pin yet: its counter value picks the same account, and its
                // pin is the one written.
                Some(PinValue::Claim(n)) => {
                    let strategy = entry.provider.selection_strategy;
                    PinTurn::Chosen(strategy_pick(
                        strategy,
                        entry,
                        &entry.rotation,
                        filter,
                        model,
                        n,
                    ))
                }
                None => PinTurn::Counter(self.aside()),
            },
            Ok(PinOrCount::Counted(n)) => PinTurn::Counter(n),
            Err(e) => PinTurn::Counter(self.unavailable(&e)),
        }
    }

    /// The pinned `account` while it is usable; else a move off it.
    fn follow_account<'a>(
        entry: &'a ProviderEntry,
        filter: &Filter<'_>,
        model: &str,
        account: AccountId,
    ) -> PinTurn<'a> {
        match pinned(entry, filter, model, account) {
            Some(chosen) => PinTurn::Chosen(Some(chosen)),
            None => PinTurn::Move,
        }
    }

    /// The pin naming `chosen`'s account for `pin`'s conversation.
    fn pin_of(&self, pin: &PinKey, chosen: &Routable) -> Pin {
        Pin {
            key: pin.as_str().to_owned(),
            account: chosen.account.id,
            ttl: self.affinity_ttl,
        }
    }
}

/// Where a conversation whose pinned account cannot serve it moves. The new
/// account depends only on the conversation and on which accounts are
/// usable (see [`successor`]), not on a counter: an instance whose copy of
/// the pin is older (the turn that moved the conversation ran on another
/// instance, and its pin is not written yet) moves it to the same account,
/// so it moves once. No round trip.
fn move_conversation<'a>(
    entry: &'a ProviderEntry,
    filter: &Filter<'_>,
    model: &str,
    pin: &PinKey,
) -> Option<&'a Routable> {
    match entry.provider.selection_strategy {
        SelectionStrategy::FillFirst => filter.first(&entry.rotation, model),
        SelectionStrategy::Weighted => successor(&entry.rotation, filter, model, pin, true),
        SelectionStrategy::RoundRobin => successor(&entry.rotation, filter, model, pin, false),
    }
}

/// Where a conversation goes when its pinned account cannot serve it: the
/// usable account that scores highest for the conversation (rendezvous
/// hashing, with hashes that are the same in every process; `weighted`
/// scales each account's score by its weight, so moved conversations follow
/// the weights too). Every instance that sees the same accounts usable picks
/// the same one, and the conversations of an account that fails spread over
/// the others.
fn successor<'a>(
    rotation: &'a [Routable],
    filter: &Filter<'_>,
    model: &str,
    pin: &PinKey,
    weighted: bool,
) -> Option<&'a Routable> {
    let conversation = fnv1a(pin.as_str().as_bytes());
    let score = |r: &Routable| {
        let hash = mix(conversation ^ fnv1a(r.account.id.as_uuid().as_bytes()));
        // A uniform draw in (0, 1), from the top 53 bits.
        #[expect(clippy::cast_precision_loss, reason = "53 bits fit an f64 exactly")]
        let draw = ((hash >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let weight = if weighted {
            f64::from(r.account.weight.max(1))
        } else {
            1.0
        };
        weight / -draw.ln()
    };
    rotation
        .iter()
        .filter(|r| filter.usable(r, model))
        .max_by(|a, b| score(a).total_cmp(&score(b)))
}

/// FNV-1a, 64 bits: a hash that does not change between processes.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The splitmix64 finaliser: spreads every input bit over the output.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// What a conversation's pin decided: the account (none when no account
/// is usable), a move off the pinned account, or the counter value the
/// strategy picks with.
enum PinTurn<'a> {
    Chosen(Option<&'a Routable>),
    Move,
    Counter(u64),
}

/// The usable account `strategy` picks for the counter value `counter`.
fn strategy_pick<'a>(
    strategy: SelectionStrategy,
    entry: &ProviderEntry,
    rotation: &'a [Routable],
    filter: &Filter<'_>,
    model: &str,
    counter: u64,
) -> Option<&'a Routable> {
    match strategy {
        SelectionStrategy::RoundRobin => filter.pick(rotation, model, counter),
        SelectionStrategy::FillFirst => filter.first(rotation, model),
        SelectionStrategy::Weighted => {
            filter.pick_weighted(rotation, entry.weighted_cycle(), model, counter)
        }
    }
}

/// What a conversation's pin holds: the account of its last turn (a JSON
/// string), or the claim of a first turn whose pin is not written yet (its
/// counter value, a JSON number).
enum PinValue {
    Account(AccountId),
    Claim(u64),
}

impl PinValue {
    fn parse(json: &str) -> Option<Self> {
        if json.starts_with('"') {
            serde_json::from_str(json).ok().map(Self::Account)
        } else {
            json.parse().ok().map(Self::Claim)
        }
    }
}

/// The pinned account if it is still in the rotation and usable.
fn pinned<'a>(
    entry: &'a ProviderEntry,
    filter: &Filter<'_>,
    model: &str,
    account: AccountId,
) -> Option<&'a Routable> {
    let chosen = entry.rotation.get(entry.position(account)?)?;
    filter.usable(chosen, model).then_some(chosen)
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
        self.nth_usable(rotation, model, index(n)?)
    }

    /// The `i`-th usable account, or the last usable one when fewer are
    /// usable now than were counted: usability can change between two
    /// scans (another request claims a `down` account's probe, a cooldown
    /// starts), and an account that is still usable must be picked rather
    /// than none.
    fn nth_usable<'a>(
        &self,
        rotation: &'a [Routable],
        model: &str,
        i: usize,
    ) -> Option<&'a Routable> {
        rotation
            .iter()
            .filter(|r| self.usable(r, model))
            .take(i.saturating_add(1))
            .last()
    }

    /// The first usable account in rotation order.
    fn first<'a>(&self, rotation: &'a [Routable], model: &str) -> Option<&'a Routable> {
        if self.keeps_all() {
            return rotation.first();
        }
        rotation.iter().find(|r| self.usable(r, model))
    }

    /// The account at `(counter - 1) mod len` of the weighted `cycle`, or the
    /// next usable one after it in the cycle.
    fn pick_weighted<'a>(
        &self,
        rotation: &'a [Routable],
        cycle: &[u32],
        model: &str,
        counter: u64,
    ) -> Option<&'a Routable> {
        if cycle.is_empty() {
            // A snapshot built before the strategy changed: plain rotation.
            return self.pick(rotation, model, counter);
        }
        let start = usize::try_from((counter.max(1) - 1) % cycle.len() as u64).ok()?;
        let (after, before) = (cycle.get(start..)?, cycle.get(..start)?);
        after
            .iter()
            .chain(before)
            .filter_map(|&p| rotation.get(usize::try_from(p).ok()?))
            .find(|r| self.keeps_all() || self.usable(r, model))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rotation::weighted_cycle;

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
                egress: crate::client_pool::Egress::Direct,
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

    /// The race behind a spurious 503: three accounts usable when counted,
    /// one claimed by another request before the pick. The pick falls back
    /// to a usable account instead of finding none.
    #[test]
    fn a_pick_after_an_account_turned_unusable_still_finds_one() {
        let cooldowns = Cooldowns::default();
        let accounts = rotation(3);
        let ids: Vec<_> = accounts.iter().map(|r| r.account.id).collect();
        let tried = [ids[0]];
        let filter = Filter {
            cooldowns: &cooldowns,
            tried: &tried,
        };
        // Counted three usable, index 2; only two are usable now.
        assert_eq!(
            filter.nth_usable(&accounts, "m", 2).unwrap().account.id,
            ids[2]
        );
        assert_eq!(
            filter.nth_usable(&accounts, "m", 0).unwrap().account.id,
            ids[1]
        );
        let none = Filter {
            cooldowns: &cooldowns,
            tried: &ids,
        };
        assert!(none.nth_usable(&accounts, "m", 2).is_none());
    }

    #[test]
    fn fill_first_takes_the_first_usable_account() {
        let cooldowns = Cooldowns::default();
        let accounts = rotation(3);
        let ids: Vec<_> = accounts.iter().map(|r| r.account.id).collect();
        let all = Filter {
            cooldowns: &cooldowns,
            tried: &[],
        };
        assert_eq!(all.first(&accounts, "m").unwrap().account.id, ids[0]);
        cooldowns.set(
            ids[0],
            Some("m"),
            std::time::Duration::from_secs(60),
            crate::cooldown::CooldownReason::RateLimited,
        );
        let cooling = Filter {
            cooldowns: &cooldowns,
            tried: &[],
        };
        assert_eq!(cooling.first(&accounts, "m").unwrap().account.id, ids[1]);
        let tried = [ids[1]];
        let both = Filter {
            cooldowns: &cooldowns,
            tried: &tried,
        };
        assert_eq!(both.first(&accounts, "m").unwrap().account.id, ids[2]);
    }

    #[test]
    fn weighted_picks_skip_unusable_accounts_in_cycle_order() {
        let cooldowns = Cooldowns::default();
        let accounts = rotation(2);
        let ids: Vec<_> = accounts.iter().map(|r| r.account.id).collect();
        let cycle = weighted_cycle([3, 1].into_iter());
        let all = Filter {
            cooldowns: &cooldowns,
            tried: &[],
        };
        let picked: Vec<_> = (1..=8)
            .map(|n| {
                all.pick_weighted(&accounts, &cycle, "m", n)
                    .unwrap()
                    .account
                    .id
            })
            .collect();
        assert_eq!(picked.iter().filter(|&&id| id == ids[0]).count(), 6);
        assert_eq!(picked.iter().filter(|&&id| id == ids[1]).count(), 2);
        let tried = [ids[0]];
        let without = Filter {
            cooldowns: &cooldowns,
            tried: &tried,
        };
        for n in 1..=4 {
            let id = without
                .pick_weighted(&accounts, &cycle, "m", n)
                .unwrap()
                .account
                .id;
            assert_eq!(id, ids[1]);
        }
    }

    #[test]
    fn a_moved_conversation_goes_where_every_instance_would_send_it() {
        let provider: ProviderId = "openai".parse().unwrap();
        let accounts = rotation(4);
        let cooldowns = Cooldowns::default();
        let mut reversed = accounts.clone();
        reversed.reverse();
        let mut landed = std::collections::HashMap::new();
        for n in 0..2000u128 {
            let pin = PinKey::new(&provider, Conversation(n * 0x9e37_79b9_7f4a_7c15)).unwrap();
            // The account that failed is tried already.
            let failed = [accounts[usize::try_from(n % 4).unwrap()].account.id];
            let filter = Filter {
                cooldowns: &cooldowns,
                tried: &failed,
            };
            let moved = successor(&accounts, &filter, "m", &pin, false)
                .unwrap()
                .account
                .id;
            assert_ne!(moved, failed[0]);
            // Another instance's rotation, listed in another order, agrees.
            let elsewhere = successor(&reversed, &filter, "m", &pin, false)
                .unwrap()
                .account
                .id;
            assert_eq!(moved, elsewhere);
            *landed.entry(moved).or_insert(0u32) += 1;
        }
        // The conversations of failed accounts spread over the others.
        assert_eq!(landed.len(), 4);
        assert!(
            landed.values().all(|&n| (350..=650).contains(&n)),
            "{landed:?}"
        );
        // Nothing usable: nowhere to go.
        let all: Vec<_> = accounts.iter().map(|r| r.account.id).collect();
        let none = Filter {
            cooldowns: &cooldowns,
            tried: &all,
        };
        let pin = PinKey::new(&provider, Conversation(7)).unwrap();
        assert!(successor(&accounts, &none, "m", &pin, false).is_none());
    }

    #[test]
    fn weighted_moves_follow_the_weights() {
        let provider: ProviderId = "openai".parse().unwrap();
        let mut accounts = rotation(3);
        for (r, weight) in accounts.iter_mut().zip([6, 3, 1]) {
            std::sync::Arc::make_mut(&mut r.account).weight = weight;
        }
        let cooldowns = Cooldowns::default();
        let filter = Filter {
            cooldowns: &cooldowns,
            tried: &[],
        };
        let mut landed = [0u32; 3];
        for n in 0..5000u128 {
            let pin = PinKey::new(&provider, Conversation(n * 0x9e37_79b9_7f4a_7c15)).unwrap();
            let moved = successor(&accounts, &filter, "m", &pin, true).unwrap();
            let at = accounts
                .iter()
                .position(|r| r.account.id == moved.account.id)
                .unwrap();
            landed[at] += 1;
        }
        // 60%, 30% and 10% of 5,000, give or take.
        assert!((2750..=3250).contains(&landed[0]), "{landed:?}");
        assert!((1250..=1750).contains(&landed[1]), "{landed:?}");
        assert!((350..=650).contains(&landed[2]), "{landed:?}");
    }

    #[test]
    fn pin_keys_name_provider_and_conversation() {
        let provider: ProviderId = "anthropic".parse().unwrap();
        let conversation = Conversation(0x0123_4567_89ab_cdef_0011_2233_4455_6677);
        let key = PinKey::new(&provider, conversation).unwrap();
        assert_eq!(
            key.as_str(),
            "aff:anthropic:0123456789abcdef0011223344556677"
        );
        let long: ProviderId = "p".repeat(ProviderId::MAX_LEN).parse().unwrap();
        assert!(PinKey::new(&long, conversation).unwrap().as_str().len() == PinKey::CAPACITY);
    }
}
