//! Runs the gateway's account selection over a snapshot the embedder builds
//! itself, with no database: the providers and accounts are values, the
//! round-robin counter lives in the in-process shared state. This is the
//! path the data plane takes for every request (route the model, then pick
//! an account by the provider's strategy, skipping accounts that cool down
//! and those a failed attempt already tried).
//!
//! Run: `cargo run --example select_account`. `cargo test --example
//! select_account` (and `cargo test --workspace`) runs the same steps as a
//! test.

use std::time::Duration;

use aigateway::domain::{
    Account, AccountId, AuthData, NewAccount, Provider, ProviderId, Secret, SelectionStrategy,
};
use aigateway::repository::SnapshotData;
use aigateway::repository::state::{SharedState, StateConfig};
use aigateway::services::builtin::builtin_providers;
use aigateway::services::cooldown::{CooldownReason, Cooldowns};
use aigateway::services::pins::PinQueue;
use aigateway::services::routing::{RuleTable, default_rules};
use aigateway::services::selector::{Selector, Turn};
use aigateway::services::snapshot::{ProxyOverflow, Snapshot};
use anyhow::Context as _;

/// The model every pick is for: the default rules route `gpt-` to `openai`.
const MODEL: &str = "gpt-4o";

/// The labels of the accounts chosen, in order, in each scene.
#[derive(Debug)]
struct Picks {
    /// Round-robin over `a`, `b` and `c`.
    round_robin: Vec<String>,
    /// The same while `b` cools down for the model.
    with_cooldown: Vec<String>,
    /// A retry after `a` failed in the same request.
    retry_after_a: String,
    /// Weighted, `a` with weight 3 and `b` with weight 1.
    weighted: Vec<String>,
}

/// An API-key account of `provider` labelled `label`, weighing `weight`.
fn account(provider: &ProviderId, label: &str, weight: u32) -> Account {
    let mut new = NewAccount::new(
        provider.clone(),
        label,
        AuthData::ApiKey {
            api_key: Secret::new(format!("sk-{label}")),
        },
    );
    new.weight = weight;
    Account::from_new(AccountId::new(), new, chrono::Utc::now())
}

/// A snapshot with the built-in `openai` provider (selecting by `strategy`)
/// and one account per `(label, weight)`.
fn snapshot(strategy: SelectionStrategy, accounts: &[(&str, u32)]) -> anyhow::Result<Snapshot> {
    let mut openai = builtin_providers()
        .into_iter()
        .find(|p| p.id.as_str() == "openai")
        .context("openai is a built-in provider")?;
    openai.selection_strategy = strategy;
    let id = openai.id.clone();
    let data = SnapshotData {
        providers: vec![Provider::from_new(openai, chrono::Utc::now())],
        accounts: accounts
            .iter()
            .map(|&(label, weight)| account(&id, label, weight))
            .collect(),
        ..SnapshotData::default()
    };
    let rules = RuleTable::new(&default_rules())?;
    // No proxies are configured, so every account connects directly.
    Ok(Snapshot::build(data, rules, ProxyOverflow::Reject))
}

/// A selector counting in a fresh in-process shared state.
async fn selector() -> anyhow::Result<Selector> {
    let state = SharedState::from_config(&StateConfig::in_process()).await?;
    // Pins are only queued for providers with session affinity; nothing
    // here writes them, so the receiving end is not needed.
    let (pins, _written) = PinQueue::new();
    Ok(Selector::new(state, pins, Duration::from_secs(3600)))
}

/// `n` picks for [`MODEL`], as new requests make them.
async fn picks(
    selector: &Selector,
    snapshot: &Snapshot,
    cooldowns: &Cooldowns,
    tried: &[AccountId],
    n: usize,
) -> anyhow::Result<Vec<String>> {
    let candidates = snapshot.route(MODEL, None);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let selection = selector
            .select(&candidates, cooldowns, tried, Turn::Take, None)
            .await
            .context("no usable account")?;
        labels.push(selection.chosen.account.label.clone());
    }
    Ok(labels)
}

/// The id of the account labelled `label` in `snapshot`'s rotation for [`MODEL`].
fn id_of(snapshot: &Snapshot, label: &str) -> anyhow::Result<AccountId> {
    snapshot
        .route(MODEL, None)
        .iter()
        .flat_map(|c| c.entry.rotation.iter())
        .find(|r| r.account.label == label)
        .map(|r| r.account.id)
        .with_context(|| format!("account {label} is in the rotation"))
}

async fn run() -> anyhow::Result<Picks> {
    let selector = selector().await?;
    let cooldowns = Cooldowns::default();

    let three = snapshot(
        SelectionStrategy::RoundRobin,
        &[("a", 1), ("b", 1), ("c", 1)],
    )?;
    let round_robin = picks(&selector, &three, &cooldowns, &[], 6).await?;

    // A 429 on `b` would put it in cooldown for the model: it is skipped
    // until the cooldown ends.
    cooldowns.set(
        id_of(&three, "b")?,
        Some(MODEL),
        Duration::from_secs(60),
        CooldownReason::RateLimited,
    );
    let with_cooldown = picks(&selector, &three, &cooldowns, &[], 4).await?;

    // Failover: the next attempt of a request names what it already tried.
    let tried = [id_of(&three, "a")?];
    let retry_after_a = picks(&selector, &three, &cooldowns, &tried, 1)
        .await?
        .concat();

    let weighted = snapshot(SelectionStrategy::Weighted, &[("a", 3), ("b", 1)])?;
    let weighted = picks(&selector, &weighted, &Cooldowns::default(), &[], 8).await?;

    Ok(Picks {
        round_robin,
        with_cooldown,
        retry_after_a,
        weighted,
    })
}

#[expect(
    clippy::print_stdout,
    reason = "the example shows the accounts it picked"
)]
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let picks = run().await?;
    println!("round-robin:          {}", picks.round_robin.join(" "));
    println!("b cooling down:       {}", picks.with_cooldown.join(" "));
    println!("retry after a failed: {}", picks.retry_after_a);
    println!("weighted a=3 b=1:     {}", picks.weighted.join(" "));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(labels: &[String], label: &str) -> usize {
        labels.iter().filter(|l| *l == label).count()
    }

    #[tokio::test]
    async fn accounts_are_picked_by_strategy_around_cooldowns_and_failures() {
        let picks = run().await.unwrap();

        // Each account once per turn of the rotation, in a fixed order.
        let first_turn = &picks.round_robin[..3];
        assert_eq!(&picks.round_robin[3..], first_turn);
        for label in ["a", "b", "c"] {
            assert_eq!(count(first_turn, label), 1, "{:?}", picks.round_robin);
        }

        assert_eq!(
            count(&picks.with_cooldown, "b"),
            0,
            "{:?}",
            picks.with_cooldown
        );
        assert_eq!(
            count(&picks.with_cooldown, "a"),
            2,
            "{:?}",
            picks.with_cooldown
        );
        assert_eq!(
            count(&picks.with_cooldown, "c"),
            2,
            "{:?}",
            picks.with_cooldown
        );

        // `a` failed and `b` cools down: only `c` is left.
        assert_eq!(picks.retry_after_a, "c");

        assert_eq!(count(&picks.weighted, "a"), 6, "{:?}", picks.weighted);
        assert_eq!(count(&picks.weighted, "b"), 2, "{:?}", picks.weighted);
    }
}
