//! Account health from traffic: consecutive failures take an account `down`
//! on every instance, a half-open probe (exactly one request on the whole
//! gateway, after a wait that doubles with each failed probe) brings it
//! back, and the stored counters match what the upstream saw. Limits stated
//! by upstreams (rate-limit and subscription headers, usage-limit errors)
//! cool an account down until the stated reset and show in the quota view.

use std::time::Duration;

use aigateway::domain::{AccountId, HealthStatus};
use aigw_mock_upstream::Fault;
use aigw_test_support::wait_until;
use serde_json::json;

use crate::support::{Deployment, TestGateway};

fn chat() -> serde_json::Value {
    json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
}

/// A gateway whose health reacts fast: `degraded` after 2 consecutive
/// failures, `down` after 3, probes after 1 s then 2 s; failed attempts
/// cool down for no time, and stats are written every 20 ms.
async fn start(d: Deployment) -> Option<TestGateway> {
    TestGateway::start_with(d, |s| {
        s.stats.health = aigateway::services::health::HealthSettings {
            degraded_after: 2,
            down_after: 3,
            probe_after: Duration::from_secs(1),
            probe_max: Duration::from_secs(2),
        };
        s.stats.flush_interval = Duration::from_millis(20);
        s.gateway.failover.server_error_cooldown = Duration::ZERO;
        s.snapshot_refresh = Duration::from_millis(200);
    })
    .await
}

/// Sends `n` requests at once to each instance; every one must succeed.
async fn burst(instances: &[&TestGateway], key: &str, n: usize) {
    let mut all = Vec::new();
    for gw in instances {
        for _ in 0..n {
            all.push(gw.post("/v1/chat/completions", key, chat()));
        }
    }
    for resp in futures_util::future::join_all(all).await {
        assert_eq!(resp.status, 200, "{}", resp.text());
    }
}

/// Waits until the probe of down account `a` is due, then sends a burst
/// from every instance: exactly one request reaches A, its `seen`-th.
async fn probe_once(instances: &[&TestGateway], key: &str, a: AccountId, probe: &str, seen: usize) {
    let gw = instances[0];
    wait_until(
        Duration::from_secs(4),
        &format!("{probe} to be due"),
        async || gw.runtime.gateway().cooldowns().down().waiting(a).is_none(),
    )
    .await;
    burst(instances, key, 6).await;
    assert_eq!(
        gw.mock.count_for("acct-a"),
        seen,
        "{probe}: not exactly one probe"
    );
}

async fn stored(gw: &TestGateway, a: AccountId) -> aigateway::domain::Account {
    gw.runtime.repository().get_account(a).await.unwrap()
}

async fn down_account_is_probed_once_and_heals(gw: TestGateway, peer: Option<TestGateway>) {
    let key = gw.issue_key().await;
    let a: AccountId = gw
        .add_api_key_account("openai", "acct-a")
        .await
        .parse()
        .unwrap();
    gw.add_api_key_account("openai", "acct-b").await;
    let mut instances = vec![&gw];
    if let Some(peer) = &peer {
        wait_until(
            Duration::from_secs(5),
            "the peer to load the accounts",
            async || {
                peer.runtime.gateway().authenticate(Some(&key)).is_ok()
                    && peer
                        .runtime
                        .gateway()
                        .snapshot()
                        .load()
                        .provider(&"openai".parse().unwrap())
                        .is_some_and(|p| p.accounts.len() == 2)
            },
        )
        .await;
        instances.push(peer);
    }
    let down_everywhere = async |instances: &[&TestGateway]| {
        instances
            .iter()
            .all(|i| i.runtime.gateway().cooldowns().down().is_down(a))
    };

    // Three failures in a row, each answered from B: A goes down.
    gw.mock.set_fault("acct-a", Fault::server_error());
    while gw.mock.count_for("acct-a") < 3 {
        let resp = gw.post("/v1/chat/completions", &key, chat()).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
    }
    wait_until(
        Duration::from_secs(5),
        "A down on every instance",
        async || down_everywhere(&instances).await,
    )
    .await;
    let account = stored(&gw, a).await;
    assert_eq!(account.health_status, HealthStatus::Down);
    assert_eq!(account.failure_count, 3);
    assert_eq!(gw.mock.count_for("acct-a"), 3);
    assert!(account.last_error_at.is_some());
    assert!(account.last_error_msg.is_some());
    // Down: no traffic, from any instance, until the probe is due.
    let view = gw.runtime.gateway().cooldowns().down().view(a).unwrap();
    assert_eq!(view.probe_wait, Duration::from_secs(1));
    burst(&instances, &key, 4).await;
    assert_eq!(gw.mock.count_for("acct-a"), 3, "a down account got traffic");
    // An instance that starts now, and heard no notice, reads it from the
    // stored health.
    if peer.is_some() {
        let late = gw.start_peer().await;
        wait_until(
            Duration::from_secs(5),
            "the late instance to know A is down",
            async || late.runtime.gateway().cooldowns().down().is_down(a),
        )
        .await;
        late.stop().await;
    }

    // The first probe fails: exactly one request reaches A, and the wait doubles.
    probe_once(&instances, &key, a, "the first probe", 4).await;
    wait_until(
        Duration::from_secs(5),
        "the doubled wait everywhere",
        async || {
            instances.iter().all(|i| {
                i.runtime
                    .gateway()
                    .cooldowns()
                    .down()
                    .view(a)
                    .is_some_and(|v| v.probe_wait == Duration::from_secs(2))
            })
        },
    )
    .await;
    assert_eq!(stored(&gw, a).await.failure_count, 4);
    let health = gw.runtime.gateway().cooldowns().down().view(a).unwrap();
    assert!(health.next_probe_at > chrono::Utc::now() + chrono::Duration::milliseconds(1000));

    // The next probe succeeds: A is healthy again, everywhere.
    gw.mock.clear_fault("acct-a");
    probe_once(&instances, &key, a, "the second probe", 5).await;
    wait_until(
        Duration::from_secs(5),
        "A healthy on every instance",
        async || {
            instances
                .iter()
                .all(|i| !i.runtime.gateway().cooldowns().down().is_down(a))
        },
    )
    .await;
    let account = stored(&gw, a).await;
    assert_eq!(account.health_status, HealthStatus::Healthy);
    assert_eq!(account.failure_count, 0);
    assert!(account.last_success_at.is_some());
    // Back in the rotation.
    for _ in 0..4 {
        let resp = gw.post("/v1/chat/completions", &key, chat()).await;
        assert_eq!(resp.status, 200);
    }
    assert!(gw.mock.count_for("acct-a") > 5, "A never rejoined");
    let seen = gw.mock.count_for("acct-a");
    if let Some(peer) = peer {
        peer.stop().await;
    }
    let flushed = gw.stop_and_flush().await;
    let account = flushed.repo.get_account(a).await.unwrap();
    assert_eq!(account.usage_count as usize, seen, "every attempt is a use");
    assert_eq!(account.failure_count, 0);
    assert!(account.last_used_at.is_some());
}

async fn an_account_failing_goes_down_and_heals_through_one_probe(d: Deployment) {
    let Some(gw) = start(d).await else {
        return;
    };
    down_account_is_probed_once_and_heals(gw, None).await;
}

/// Scale-out: two instances on one PostgreSQL and one Redis take the
/// account out together, and only one of them probes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_account_leaves_every_instance_and_one_probe_brings_it_back() {
    let Some(gw) = start(Deployment::ScaleOut).await else {
        return;
    };
    let peer = gw.start_peer().await;
    down_account_is_probed_once_and_heals(gw, Some(peer)).await;
}

/// A client's 400 is not the account's fault: it never counts.
async fn client_errors_do_not_count_against_the_account(d: Deployment) {
    let Some(gw) = start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    let a: AccountId = gw
        .add_api_key_account("openai", "acct-a")
        .await
        .parse()
        .unwrap();
    gw.mock.set_fault("acct-a", Fault::bad_request());
    for _ in 0..5 {
        let resp = gw.post("/v1/chat/completions", &key, chat()).await;
        assert_eq!(resp.status, 400);
    }
    let flushed = gw.stop_and_flush().await;
    let account = flushed.repo.get_account(a).await.unwrap();
    assert_eq!(account.failure_count, 0);
    assert_eq!(account.health_status, HealthStatus::Healthy);
    assert_eq!(account.last_error_at, None);
}

deployment_tests!(
    an_account_failing_goes_down_and_heals_through_one_probe,
    client_errors_do_not_count_against_the_account,
);
