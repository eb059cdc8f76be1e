//! Account selection strategies and session affinity, end to end: the
//! providers and accounts API fields, conversations that keep their account
//! across turns and instances (and move once when it is rate-limited),
//! fill-first and weighted distributions counted at the mock upstream.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use aigateway::domain::{AccountId, ProviderId, SelectionStrategy};
use aigw_mock_upstream::Fault;
use http::Method;
use serde_json::{Value, json};

use crate::api::Api;
use crate::support::{Deployment, Resp, TestGateway};

/// A gateway and, in the scale-out deployment, a second instance sharing its
/// PostgreSQL database, Redis and mock upstream.
struct Instances {
    gw: TestGateway,
    peer: Option<TestGateway>,
}

impl Instances {
    async fn start(d: Deployment) -> Option<Self> {
        let gw = TestGateway::start(d).await?;
        let peer = match d {
            Deployment::ScaleOut => Some(gw.start_peer().await),
            Deployment::Embedded => None,
        };
        Some(Self { gw, peer })
    }

    /// The instance that serves request `i`: they alternate.
    fn at(&self, i: usize) -> &TestGateway {
        match &self.peer {
            Some(peer) if i % 2 == 1 => peer,
            _ => &self.gw,
        }
    }

    /// Waits until every instance's snapshot satisfies `ready` for `provider`.
    async fn wait_for(
        &self,
        key: &str,
        provider: &str,
        ready: impl Fn(&aigateway::services::snapshot::ProviderEntry) -> bool,
    ) {
        let id: ProviderId = provider.parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        for gw in std::iter::once(&self.gw).chain(self.peer.as_ref()) {
            let gateway = gw.runtime.gateway();
            while gateway.authenticate(Some(key)).is_err()
                || gateway
                    .snapshot()
                    .load()
                    .provider(&id)
                    .is_none_or(|p| !ready(p))
            {
                assert!(Instant::now() < deadline, "an instance never reloaded");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    async fn stop(self) {
        if let Some(peer) = self.peer {
            peer.stop().await;
        }
        self.gw.stop().await;
    }
}

/// Changes `provider` through the providers API and returns its view.
async fn set_provider(gw: &TestGateway, provider: &str, change: Value) -> Value {
    let api = Api::new(gw);
    let admin = api.admin().await;
    let resp = api
        .put(&format!("/api/v1/providers/{provider}"), &admin, change)
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.json()
}

/// The conversation a recorded upstream body belongs to: the `conv-NN` tag
/// of its first user message.
fn tag_of(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let at = text.find("conv-")?;
    text.get(at..at + 7).map(str::to_owned)
}

/// The accounts (mock keys) each conversation's requests reached, in
/// arrival order.
fn accounts_by_conversation(gw: &TestGateway) -> BTreeMap<String, Vec<String>> {
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in gw.mock.requests() {
        if let (Some(tag), Some(key)) = (tag_of(&r.body), r.account_key) {
            seen.entry(tag).or_default().push(key);
        }
    }
    seen
}

/// Turn `turn` (from 0) of conversation `n` in client shape `n % 5`:
/// Claude Code (legacy and JSON `metadata.user_id`, the latter with its
/// session header), Codex (`prompt_cache_key` and `session_id` header),
/// an OpenAI SDK client with `user`, and a client that names nothing.
async fn send_turn(gw: &TestGateway, key: &str, n: usize, turn: usize) -> Resp {
    let tag = format!("conv-{n:02}");
    let session = format!("8c1d2e3f-0000-4000-8000-0000000000{n:02}");
    let mut messages = vec![json!({"role": "user", "content": format!("{tag}: start")})];
    for t in 1..=turn {
        messages.push(json!({"role": "assistant", "content": format!("answer {t}")}));
        messages.push(json!({"role": "user", "content": format!("turn {t}")}));
    }
    let bearer = format!("Bearer {key}");
    let (path, headers, body): (&str, Vec<(&str, String)>, Value) = match n % 5 {
        0 => (
            "/v1/messages",
            vec![("x-api-key", key.to_owned())],
            json!({
                "model": "claude-sonnet-4-5", "max_tokens": 64, "system": "You are Claude Code.",
                "metadata": {"user_id": format!("user_5d0c_account__session_{session}")},
                "messages": messages,
            }),
        ),
        1 => (
            "/v1/messages",
            vec![
                ("x-api-key", key.to_owned()),
                ("x-claude-code-session-id", session.clone()),
            ],
            json!({
                "model": "claude-sonnet-4-5", "max_tokens": 64, "system": "You are Claude Code.",
                "metadata": {"user_id": json!({"device_id": "d", "account_uuid": "", "session_id": session}).to_string()},
                "messages": messages,
            }),
        ),
        2 => (
            "/v1/responses",
            vec![("authorization", bearer), ("session_id", session.clone())],
            json!({
                "model": "gpt-4o", "instructions": "You are Codex.", "store": false,
                "prompt_cache_key": session, "input": messages,
            }),
        ),
        3 => (
            "/v1/chat/completions",
            vec![("authorization", bearer)],
            json!({"model": "gpt-4o", "user": format!("user-{n}"), "messages": messages}),
        ),
        _ => {
            messages.insert(0, json!({"role": "system", "content": "be brief"}));
            (
                "/v1/chat/completions",
                vec![("authorization", bearer)],
                json!({"model": "gpt-4o", "messages": messages}),
            )
        }
    };
    let mut headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    headers.push(("content-type", "application/json"));
    gw.request(Method::POST, path, &headers, body.to_string())
        .await
}

/// Turns on session affinity for `openai` and `anthropic` through the API,
/// with four accounts each, and waits for every instance to see it.
async fn affinity_setup(at: &Instances) -> String {
    let gw = &at.gw;
    let key = gw.issue_key().await;
    for i in 0..4 {
        gw.add_api_key_account("openai", &format!("oa-{i}")).await;
        gw.add_api_key_account("anthropic", &format!("an-{i}"))
            .await;
    }
    for provider in ["openai", "anthropic"] {
        let view = set_provider(gw, provider, json!({"session_affinity": true})).await;
        assert_eq!(view["session_affinity"], true, "{view}");
        assert_eq!(view["selection_strategy"], "round_robin", "{view}");
        at.wait_for(&key, provider, |p| {
            p.provider.session_affinity && p.rotation.len() == 4
        })
        .await;
    }
    key
}

async fn conversations_keep_their_account_across_turns_and_instances(d: Deployment) {
    let Some(at) = Instances::start(d).await else {
        return;
    };
    let key = affinity_setup(&at).await;
    // 20 conversations of 5 turns, interleaved, each turn on the other instance.
    let mut i = 0;
    for turn in 0..5 {
        for n in 0..20 {
            let resp = send_turn(at.at(i), &key, n, turn).await;
            assert_eq!(resp.status, 200, "conv {n} turn {turn}: {}", resp.text());
            i += 1;
        }
    }
    let seen = accounts_by_conversation(&at.gw);
    assert_eq!(seen.len(), 20, "{seen:?}");
    let mut used: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (tag, accounts) in &seen {
        assert_eq!(accounts.len(), 5, "{tag}: {accounts:?}");
        let first = &accounts[0];
        assert!(
            accounts.iter().all(|a| a == first),
            "{tag} moved between accounts: {accounts:?}"
        );
        used.entry(&first[..2]).or_default().insert(first);
    }
    // New conversations still rotate over every account.
    assert_eq!(used["oa"].len(), 4, "{used:?}");
    assert_eq!(used["an"].len(), 4, "{used:?}");
    at.stop().await;
}

async fn a_rate_limited_pinned_account_moves_its_conversation_once(d: Deployment) {
    let Some(at) = Instances::start(d).await else {
        return;
    };
    let key = affinity_setup(&at).await;
    // Conversations 3 and 8 (OpenAI with `user`) start on two accounts.
    for n in [3, 8] {
        let resp = send_turn(at.at(n), &key, n, 0).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
    }
    let seen = accounts_by_conversation(&at.gw);
    let limited = seen["conv-03"][0].clone();
    let other = seen["conv-08"][0].clone();
    assert_ne!(limited, other);
    gw_fault(&at.gw, &limited);
    for turn in 1..5 {
        for n in [3, 8] {
            let resp = send_turn(at.at(turn + n), &key, n, turn).await;
            assert_eq!(resp.status, 200, "{}", resp.text());
        }
    }
    let seen = accounts_by_conversation(&at.gw);
    // conv-03: its account twice (the 429), then one other account for good.
    let moved = &seen["conv-03"];
    assert_eq!(moved.len(), 6, "{moved:?}");
    assert_eq!(moved[..2], [limited.clone(), limited.clone()], "{moved:?}");
    let new = &moved[2];
    assert_ne!(new, &limited);
    assert!(moved[2..].iter().all(|a| a == new), "{moved:?}");
    // conv-08 never noticed.
    assert!(seen["conv-08"].iter().all(|a| a == &other), "{seen:?}");
    at.stop().await;
}

fn gw_fault(gw: &TestGateway, key: &str) {
    gw.mock.set_fault(key, Fault::rate_limited(60).once());
}

fn chat(i: usize) -> Value {
    json!({"model": "gpt-4o", "messages": [{"role": "user", "content": format!("request {i}")}]})
}

async fn fill_first_uses_one_account_until_it_cools_down(d: Deployment) {
    let Some(at) = Instances::start(d).await else {
        return;
    };
    let gw = &at.gw;
    let key = gw.issue_key().await;
    let mut accounts: Vec<(AccountId, String)> = Vec::new();
    for i in 0..3 {
        let name = format!("ff-{i}");
        let id = gw.add_api_key_account("openai", &name).await;
        accounts.push((id.parse().unwrap(), name));
    }
    // The stable order is by account id.
    accounts.sort();
    let view = set_provider(gw, "openai", json!({"selection_strategy": "fill_first"})).await;
    assert_eq!(view["selection_strategy"], "fill_first", "{view}");
    at.wait_for(&key, "openai", |p| {
        p.provider.selection_strategy == SelectionStrategy::FillFirst
    })
    .await;
    let (first, second, third) = (&accounts[0].1, &accounts[1].1, &accounts[2].1);
    for i in 0..6 {
        let resp = at.at(i).post("/v1/chat/completions", &key, chat(i)).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
    }
    assert_eq!(gw.mock.count_for(first), 6);
    assert_eq!(gw.mock.count_for(second) + gw.mock.count_for(third), 0);
    // The first cools down after a 429: the next account fills up.
    gw_fault(gw, first);
    let resp = gw.post("/v1/chat/completions", &key, chat(6)).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    // The cooldown reaches the peer through Redis; wait for it, bounded.
    if let Some(peer) = &at.peer {
        let deadline = Instant::now() + Duration::from_secs(5);
        while peer
            .runtime
            .gateway()
            .cooldowns()
            .remaining(accounts[0].0, "gpt-4o")
            .is_none()
        {
            assert!(
                Instant::now() < deadline,
                "the peer never heard of the cooldown"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    for i in 7..13 {
        let resp = at.at(i).post("/v1/chat/completions", &key, chat(i)).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
    }
    assert_eq!(gw.mock.count_for(first), 7, "6 served and one 429");
    assert_eq!(gw.mock.count_for(second), 7);
    assert_eq!(gw.mock.count_for(third), 0);
    at.stop().await;
}

async fn weighted_accounts_share_traffic_by_weight(d: Deployment) {
    let Some(at) = Instances::start(d).await else {
        return;
    };
    let gw = &at.gw;
    let key = gw.issue_key().await;
    let heavy = gw.add_api_key_account("openai", "w-heavy").await;
    gw.add_api_key_account("openai", "w-light").await;
    let api = Api::new(gw);
    let admin = api.admin().await;
    let path = format!("/api/v1/accounts/{heavy}");
    let refused = api.put(&path, &admin, json!({"weight": 0})).await;
    assert_eq!(refused.status, 422, "{}", refused.text());
    assert!(refused.text().contains("weight"), "{}", refused.text());
    let changed = api.put(&path, &admin, json!({"weight": 3})).await;
    assert_eq!(changed.status, 200, "{}", changed.text());
    assert_eq!(changed.json()["weight"], 3);
    assert_eq!(api.get(&path, &admin).await.json()["weight"], 3);
    let view = set_provider(gw, "openai", json!({"selection_strategy": "weighted"})).await;
    assert_eq!(view["selection_strategy"], "weighted", "{view}");
    at.wait_for(&key, "openai", |p| {
        p.provider.selection_strategy == SelectionStrategy::Weighted
            && p.rotation.iter().any(|r| r.account.weight == 3)
    })
    .await;
    // Ten full cycles of 3 + 1, alternating instances on one shared sequence.
    for i in 0..40 {
        let resp = at.at(i).post("/v1/chat/completions", &key, chat(i)).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
    }
    assert_eq!(gw.mock.count_for("w-heavy"), 30);
    assert_eq!(gw.mock.count_for("w-light"), 10);
    at.stop().await;
}

/// Without affinity the same conversation rotates: the pin is what keeps it.
async fn without_affinity_a_conversation_rotates(d: Deployment) {
    let Some(at) = Instances::start(d).await else {
        return;
    };
    let gw = &at.gw;
    let key = gw.issue_key().await;
    for i in 0..4 {
        gw.add_api_key_account("openai", &format!("oa-{i}")).await;
    }
    at.wait_for(&key, "openai", |p| p.rotation.len() == 4).await;
    for turn in 0..4 {
        let resp = send_turn(at.at(turn), &key, 3, turn).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
    }
    let seen = accounts_by_conversation(gw);
    let accounts: BTreeSet<_> = seen["conv-03"].iter().collect();
    assert_eq!(accounts.len(), 4, "{seen:?}");
    at.stop().await;
}

deployment_tests!(
    conversations_keep_their_account_across_turns_and_instances,
    a_rate_limited_pinned_account_moves_its_conversation_once,
    fill_first_uses_one_account_until_it_cools_down,
    weighted_accounts_share_traffic_by_weight,
    without_affinity_a_conversation_rotates,
);
