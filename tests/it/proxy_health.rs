//! Proxy health: probes mark a proxy that stops accepting connections
//! `down` and bring it back, tunnel failures on traffic count too, accounts
//! move to a healthy proxy, and no account ever goes direct meanwhile.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aigateway::domain::ProviderId;
use aigateway::services::RuntimeSettings;
use aigateway::services::proxy_health::ProxyHealthSettings;
use aigateway::services::snapshot::ProxyOverflow;
use aigw_mock_upstream::MockProxy;
use serde_json::{Value, json};

use crate::api::Api;
use crate::support::{Deployment, TestGateway};

fn chat() -> Value {
    json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
}

const INTERVAL: Duration = Duration::from_millis(300);

fn probing(settings: &mut RuntimeSettings) {
    settings.proxy_health = ProxyHealthSettings {
        interval: Some(INTERVAL),
        timeout: Duration::from_secs(2),
        recover_after: 2,
        target: None,
    };
}

fn not_probing(settings: &mut RuntimeSettings) {
    settings.proxy_health = ProxyHealthSettings {
        interval: None,
        ..ProxyHealthSettings::default()
    };
    account_back_at_once(settings);
}

/// A failed attempt through a refusing proxy cools the account down too;
/// the tests are about the proxy, so the account comes back at once.
fn account_back_at_once(settings: &mut RuntimeSettings) {
    settings.gateway.failover.unreachable_cooldown = Duration::from_millis(100);
}

async fn add_proxy(api: &Api<'_>, admin: &str, proxy: &MockProxy, priority: i32) -> i64 {
    let resp = api
        .post(
            "/api/v1/proxies",
            admin,
            json!({"url": proxy.url(), "priority": priority, "max_failures": 2}),
        )
        .await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    resp.json()["id"].as_i64().unwrap()
}

async fn proxy_view(api: &Api<'_>, admin: &str, id: i64) -> Value {
    let resp = api.get(&format!("/api/v1/proxies/{id}"), admin).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.json()
}

async fn wait_health(api: &Api<'_>, admin: &str, id: i64, health: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let view = proxy_view(api, admin, id).await;
        if view["health_status"] == health {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "proxy {id} did not become {health} within {within:?}: {view}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn account_proxy(api: &Api<'_>, admin: &str, account: &str) -> Option<i64> {
    let resp = api.get(&format!("/api/v1/accounts/{account}"), admin).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.json()["proxy_id"].as_i64()
}

/// Every request the mock saw from `labels` came out of a tunnel of one of
/// `proxies`: none came straight from a gateway.
fn all_through(gw: &TestGateway, labels: &[&str], proxies: &[&MockProxy]) {
    let sockets: Vec<_> = proxies
        .iter()
        .flat_map(|p| p.tunnel_log())
        .map(|t| t.outbound)
        .collect();
    for label in labels {
        for request in gw.mock.requests_for(label) {
            assert!(
                sockets.contains(&request.peer),
                "a request of {label} from {} came through no proxy",
                request.peer
            );
        }
    }
}

/// Whether `gw`'s snapshot has the OpenAI account `label` in its rotation.
fn routable(gw: &TestGateway, label: &str) -> bool {
    let openai: ProviderId = "openai".parse().unwrap();
    gw.runtime
        .gateway()
        .snapshot()
        .load()
        .provider(&openai)
        .is_some_and(|p| p.rotation.iter().any(|r| r.account.label == label))
}

/// Sends chat completions until one is served (200) within `within`; the
/// statuses before it must be among `meanwhile`.
async fn until_served(gw: &TestGateway, key: &str, within: Duration, meanwhile: &[u16]) {
    let deadline = Instant::now() + within;
    loop {
        let resp = gw.post("/v1/chat/completions", key, chat()).await;
        if resp.status == 200 {
            return;
        }
        assert!(
            Instant::now() < deadline && meanwhile.contains(&resp.status.as_u16()),
            "{}: {}",
            resp.status,
            resp.text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A proxy that stops accepting connections is marked down by the probes,
/// its accounts move to the other proxy and keep working on every instance,
/// an admin update leaves its health alone, and good probes bring it back.
async fn a_proxy_that_stops_accepting_is_marked_down_and_comes_back(d: Deployment) {
    let Some(gw) = TestGateway::start_with(d, probing).await else {
        return;
    };
    let peer = match d {
        Deployment::ScaleOut => Some(Arc::new(gw.start_peer().await)),
        Deployment::Embedded => None,
    };
    let gw = Arc::new(gw);
    let instances: Vec<Arc<TestGateway>> = std::iter::once(gw.clone()).chain(peer).collect();
    let api = Api::new(&gw);
    let admin = api.admin().await;
    let first = MockProxy::start(None).await.unwrap();
    let second = MockProxy::start(None).await.unwrap();
    let first_id = add_proxy(&api, &admin, &first, 10).await;
    let second_id = add_proxy(&api, &admin, &second, 0).await;
    let a = gw.add_api_key_account("openai", "behind-a").await;
    let b = gw.add_api_key_account("openai", "behind-b").await;
    assert_eq!(account_proxy(&api, &admin, &a).await, Some(first_id));
    assert_eq!(account_proxy(&api, &admin, &b).await, Some(first_id));
    // The first probes measure both proxies.
    for id in [first_id, second_id] {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let view = proxy_view(&api, &admin, id).await;
            if view["last_latency_ms"].is_i64() {
                assert_eq!(view["health_status"], "healthy", "{view}");
                assert!(view["last_checked_at"].is_string(), "{view}");
                break;
            }
            assert!(Instant::now() < deadline, "never probed: {view}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    first.set_refusing(true);
    let refused_at = Instant::now();
    // Two failed probes (max_failures 2) take it down: two intervals, plus
    // slack for a loaded machine.
    wait_health(
        &api,
        &admin,
        first_id,
        "down",
        INTERVAL * 2 + Duration::from_secs(4),
    )
    .await;
    eprintln!("marked down after {:?}", refused_at.elapsed());
    let view = proxy_view(&api, &admin, first_id).await;
    assert!(view["last_latency_ms"].is_null(), "{view}");
    assert!(
        view["consecutive_failures"].as_i64().unwrap() >= 2,
        "{view}"
    );
    // The accounts move right after the health is written.
    let deadline = Instant::now() + Duration::from_secs(5);
    for account in [&a, &b] {
        while account_proxy(&api, &admin, account).await != Some(second_id) {
            assert!(Instant::now() < deadline, "{account} did not move");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // An admin update keeps the health the probes found.
    let resp = api
        .put(
            &format!("/api/v1/proxies/{first_id}"),
            &admin,
            json!({"weight": 3}),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["health_status"], "down");

    // Every instance serves through the other proxy.
    let key = gw.issue_key().await;
    // A peer may not know the new key yet (401) until its snapshot reloads.
    for instance in &instances {
        until_served(instance, &key, Duration::from_secs(10), &[401, 502, 503]).await;
    }
    let tunnels = second.tunnels();
    for i in 0..6 {
        let resp = instances[i % instances.len()]
            .post("/v1/chat/completions", &key, chat())
            .await;
        assert_eq!(resp.status, 200, "{}", resp.text());
    }
    assert!(second.tunnels() > tunnels || second.connections() > 0);
    all_through(&gw, &["behind-a", "behind-b"], &[&first, &second]);

    // Back after two good probes in a row.
    first.set_refusing(false);
    wait_health(
        &api,
        &admin,
        first_id,
        "healthy",
        INTERVAL * 2 + Duration::from_secs(4),
    )
    .await;
    let view = proxy_view(&api, &admin, first_id).await;
    assert_eq!(view["consecutive_failures"], 0, "{view}");
    assert!(view["last_latency_ms"].is_i64(), "{view}");
    assert_eq!(view["weight"], 3);
}

/// With probing off, tunnel failures on real traffic count: the proxy is
/// marked down at `max_failures` and its accounts move to the other proxy.
async fn tunnel_failures_on_traffic_mark_a_proxy_down(d: Deployment) {
    let Some(gw) = TestGateway::start_with(d, not_probing).await else {
        return;
    };
    let api = Api::new(&gw);
    let admin = api.admin().await;
    let first = MockProxy::start(None).await.unwrap();
    let second = MockProxy::start(None).await.unwrap();
    let first_id = add_proxy(&api, &admin, &first, 10).await;
    let second_id = add_proxy(&api, &admin, &second, 0).await;
    let a = gw.add_api_key_account("openai", "traffic-a").await;
    let key = gw.issue_key().await;
    first.set_refusing(true);
    until_served(&gw, &key, Duration::from_secs(10), &[502, 503]).await;
    assert!(first.refused() >= 2, "{}", first.refused());
    assert_eq!(
        proxy_view(&api, &admin, first_id).await["health_status"],
        "down"
    );
    assert_eq!(account_proxy(&api, &admin, &a).await, Some(second_id));
    all_through(&gw, &["traffic-a"], &[&first, &second]);
    // No probe ran: no latency was measured.
    assert!(proxy_view(&api, &admin, first_id).await["last_latency_ms"].is_null());
}

/// The only proxy goes down with `overflow = "direct"`: its accounts have
/// nowhere to go and are not used; they never connect directly.
async fn accounts_of_a_down_proxy_with_nowhere_to_go_never_go_direct(d: Deployment) {
    let Some(gw) = TestGateway::start_with(d, |settings| {
        probing(settings);
        account_back_at_once(settings);
        settings.proxy_overflow = ProxyOverflow::Direct;
    })
    .await
    else {
        return;
    };
    let api = Api::new(&gw);
    let admin = api.admin().await;
    let only = MockProxy::start(None).await.unwrap();
    let only_id = add_proxy(&api, &admin, &only, 0).await;
    let a = gw.add_api_key_account("openai", "stranded").await;
    let key = gw.issue_key().await;
    let resp = gw.post("/v1/chat/completions", &key, chat()).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    only.set_refusing(true);
    wait_health(&api, &admin, only_id, "down", Duration::from_secs(5)).await;
    assert_eq!(account_proxy(&api, &admin, &a).await, Some(only_id));
    let tunnels = only.tunnels();
    // The health is written before the instance rebuilds its snapshot.
    // Until then the account still goes through its proxy: over the tunnel
    // its first request left open (200: the proxy refuses only new
    // connections), or through a new connection the proxy refuses (502, and
    // a short cool-down: 503). Every request is checked, not the timing:
    // none ever reaches the upstream but out of the proxy's tunnel, and once
    // the snapshot leaves the account out, every one is refused unsent.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut left_out = 0;
    while left_out < 3 {
        let in_rotation = routable(&gw, "stranded");
        let reached = gw.mock.count_for("stranded");
        let resp = gw.post("/v1/chat/completions", &key, chat()).await;
        all_through(&gw, &["stranded"], &[&only]);
        if in_rotation {
            assert!(
                [200, 502, 503].contains(&resp.status.as_u16()) && Instant::now() < deadline,
                "{}: {}",
                resp.status,
                resp.text()
            );
        } else {
            assert_eq!(resp.status, 503, "{}", resp.text());
            assert_eq!(gw.mock.count_for("stranded"), reached);
            left_out += 1;
        }
    }
    // No tunnel opened while the proxy was down.
    assert_eq!(only.tunnels(), tunnels);
    // Back, and used again through the proxy.
    only.set_refusing(false);
    wait_health(&api, &admin, only_id, "healthy", Duration::from_secs(5)).await;
    until_served(&gw, &key, Duration::from_secs(5), &[502, 503]).await;
    all_through(&gw, &["stranded"], &[&only]);
}

deployment_tests!(
    a_proxy_that_stops_accepting_is_marked_down_and_comes_back,
    tunnel_failures_on_traffic_mark_a_proxy_down,
    accounts_of_a_down_proxy_with_nowhere_to_go_never_go_direct,
);
