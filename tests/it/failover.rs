//! Accounts under pressure: failover on 429/5xx/connect failures with
//! cooldowns, no penalty for client errors, 503 with Retry-After when every
//! account is cooling down, no splice after a stream started, and traffic
//! that always goes through the account's assigned proxy.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use aigateway::domain::{NewProxy, ProxyUrl};
use aigw_mock_upstream::{Fault, MockProxy, Reply};
use serde_json::json;

use crate::support::{Deployment, TestGateway, sse_events};

fn chat(model: &str, stream: bool) -> serde_json::Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
}

async fn rate_limited_account_fails_over_and_rejoins_after_retry_after(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_api_key_account("openai", "acct-a").await;
    gw.add_api_key_account("openai", "acct-b").await;
    gw.mock.set_fault("acct-a", Fault::rate_limited(2).once());
    // Send until A has taken its 429; every request must still succeed.
    let mut limited_at = None;
    for _ in 0..4 {
        let resp = gw
            .post("/v1/chat/completions", &key, chat("gpt-4o", false))
            .await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        if gw.mock.count_for("acct-a") == 1 {
            limited_at = Some(Instant::now());
            break;
        }
    }
    let limited_at = limited_at.expect("acct-a was never selected");
    // While A cools down, everything goes to B.
    while limited_at.elapsed() < Duration::from_millis(1500) {
        let resp = gw
            .post("/v1/chat/completions", &key, chat("gpt-4o", false))
            .await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(
            gw.mock.count_for("acct-a"),
            1,
            "A got traffic while cooling down"
        );
    }
    // After its Retry-After, A rejoins by itself.
    let deadline = limited_at + Duration::from_secs(5);
    while gw.mock.count_for("acct-a") < 2 {
        assert!(Instant::now() < deadline, "A never rejoined");
        let resp = gw
            .post("/v1/chat/completions", &key, chat("gpt-4o", false))
            .await;
        assert_eq!(resp.status, 200);
    }
    assert!(
        limited_at.elapsed() >= Duration::from_millis(1900),
        "A rejoined before its Retry-After"
    );
}

async fn server_errors_fail_over_and_client_errors_do_not(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_api_key_account("anthropic", "acct-a").await;
    gw.add_api_key_account("anthropic", "acct-b").await;
    let body = json!({"model": "claude-sonnet-4-5", "max_tokens": 16,
                      "messages": [{"role": "user", "content": "hi"}]});
    // A 400 is the request's fault: returned as is, no retry, no cooldown.
    let (a_before, b_before) = (gw.mock.count_for("acct-a"), gw.mock.count_for("acct-b"));
    gw.mock.set_default_fault(Fault::bad_request().once());
    let resp = gw.post("/v1/messages", &key, body.clone()).await;
    assert_eq!(resp.status, 400, "{}", resp.text());
    assert_eq!(resp.json()["type"], "error");
    assert_eq!(resp.json()["error"]["type"], "invalid_request_error");
    let after = gw.mock.count_for("acct-a") + gw.mock.count_for("acct-b");
    assert_eq!(after, a_before + b_before + 1, "a 400 must not be retried");
    // Both accounts keep serving at once.
    for _ in 0..4 {
        let resp = gw.post("/v1/messages", &key, body.clone()).await;
        assert_eq!(resp.status, 200);
    }
    assert!(gw.mock.count_for("acct-a") >= a_before + 2);
    assert!(gw.mock.count_for("acct-b") >= b_before + 2);
    // A 500 on A is answered from B, and A then cools down.
    let a0 = gw.mock.count_for("acct-a");
    gw.mock.set_fault("acct-a", Fault::server_error());
    for _ in 0..4 {
        let resp = gw.post("/v1/messages", &key, body.clone()).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
    }
    assert_eq!(
        gw.mock.count_for("acct-a"),
        a0 + 1,
        "A is tried once, then cools down"
    );
}

async fn all_accounts_cooling_down_gives_503_with_retry_after(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_api_key_account("openai", "acct-a").await;
    gw.add_api_key_account("openai", "acct-b").await;
    gw.mock.set_default_fault(Fault::rate_limited(30));
    // The request that hits both gets the last upstream error, in its format.
    let resp = gw
        .post("/v1/chat/completions", &key, chat("gpt-4o", false))
        .await;
    assert_eq!(resp.status, 429, "{}", resp.text());
    assert!(
        resp.json()["error"]["message"].is_string(),
        "{}",
        resp.text()
    );
    let upstream_calls = gw.mock.total_requests();
    // The next one finds every account cooling down.
    let resp = gw
        .post("/v1/chat/completions", &key, chat("gpt-4o", false))
        .await;
    assert_eq!(resp.status, 503, "{}", resp.text());
    let retry_after: u64 = resp.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (25..=30).contains(&retry_after),
        "retry-after {retry_after}"
    );
    assert_eq!(
        gw.mock.total_requests(),
        upstream_calls,
        "nothing sent upstream"
    );
}

async fn connect_failure_fails_over(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    // A proxy that refuses connections takes the first account; a live one the second.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let live = MockProxy::start(None).await.unwrap();
    let repo = gw.runtime.repository();
    let mut p1 = NewProxy::new(ProxyUrl::new(format!("http://{dead}")));
    p1.max_accounts = 1;
    p1.priority = 10;
    repo.insert_proxy(&p1).await.unwrap();
    repo.insert_proxy(&NewProxy::new(ProxyUrl::new(live.url())))
        .await
        .unwrap();
    gw.add_api_key_account("openai", "behind-dead").await;
    gw.add_api_key_account("openai", "behind-live").await;
    for _ in 0..4 {
        let resp = gw
            .post("/v1/chat/completions", &key, chat("gpt-4o", false))
            .await;
        assert_eq!(resp.status, 200, "{}", resp.text());
    }
    assert_eq!(gw.mock.count_for("behind-dead"), 0);
    assert_eq!(gw.mock.count_for("behind-live"), 4);
    assert!(
        live.tunnels() >= 1,
        "traffic did not go through the live proxy"
    );
}

async fn traffic_goes_through_the_assigned_proxy_never_direct(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    let proxy = MockProxy::start(Some(("user", "s3cret"))).await.unwrap();
    let repo = gw.runtime.repository();
    let mut new = NewProxy::new(ProxyUrl::new(proxy.url()));
    new.max_accounts = 1;
    repo.insert_proxy(&new).await.unwrap();
    gw.add_api_key_account("openai", "proxied").await;
    for _ in 0..3 {
        let resp = gw
            .post("/v1/chat/completions", &key, chat("gpt-4o", false))
            .await;
        assert_eq!(resp.status, 200, "{}", resp.text());
    }
    assert_eq!(gw.mock.count_for("proxied"), 3);
    assert!(proxy.tunnels() >= 1);
    let peers: Vec<_> = gw
        .mock
        .requests_for("proxied")
        .iter()
        .map(|r| r.peer)
        .collect();
    let tunnel_sockets: Vec<_> = proxy.tunnel_log().iter().map(|t| t.outbound).collect();
    for peer in &peers {
        assert!(
            tunnel_sockets.contains(peer),
            "request from {peer} did not come through the proxy ({tunnel_sockets:?})"
        );
    }

    // The only proxy is full: a second account has nowhere to go and, with
    // overflow "reject", is not used; its requests never reach the upstream.
    gw.add_api_key_account("anthropic", "no-room").await;
    let before = gw.mock.total_requests();
    let resp = gw
        .post(
            "/v1/messages",
            &key,
            json!({"model": "claude-sonnet-4-5", "max_tokens": 8,
                   "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(resp.status, 503, "{}", resp.text());
    assert_eq!(gw.mock.total_requests(), before);
}

/// Accounts created through the API while proxies exist: from the moment
/// they serve, every upstream request of each arrives through a tunnel of the
/// proxy it is assigned to, on every instance, never straight from a gateway.
async fn accounts_created_next_to_proxies_never_go_direct(d: Deployment) {
    new_accounts_only_use_their_tunnels(d, |_| {}).await;
}

/// With `overflow = "direct"` an account without a proxy connects directly,
/// so a snapshot read between an account's insert and its assignment (here
/// the refresher reads all the time) would send it direct although a proxy
/// has room: a new account is inserted with its proxy.
async fn new_accounts_get_their_proxy_before_any_snapshot_sees_them(d: Deployment) {
    new_accounts_only_use_their_tunnels(d, |settings| {
        settings.proxy_overflow = aigateway::services::snapshot::ProxyOverflow::Direct;
        settings.snapshot_refresh = Duration::from_millis(1);
    })
    .await;
}

async fn new_accounts_only_use_their_tunnels(
    d: Deployment,
    adjust: impl FnOnce(&mut aigateway::services::RuntimeSettings),
) {
    let Some(gw) = TestGateway::start_with(d, adjust).await else {
        return;
    };
    let peer = match d {
        Deployment::ScaleOut => Some(Arc::new(gw.start_peer().await)),
        Deployment::Embedded => None,
    };
    let gw = Arc::new(gw);
    let instances: Vec<Arc<TestGateway>> = std::iter::once(gw.clone()).chain(peer).collect();
    let api = crate::api::Api::new(&gw);
    let admin = api.admin().await;
    let proxies = [
        MockProxy::start(None).await.unwrap(),
        MockProxy::start(None).await.unwrap(),
    ];
    let mut proxy_ids = Vec::new();
    for proxy in &proxies {
        let resp = api
            .post(
                "/api/v1/proxies",
                &admin,
                json!({"url": proxy.url(), "max_accounts": 1}),
            )
            .await;
        assert_eq!(resp.status, 201, "{}", resp.text());
        proxy_ids.push(resp.json()["id"].as_i64().unwrap());
    }
    let key: Arc<str> = gw.issue_key().await.into();
    // Every instance knows the key before the accounts exist.
    for instance in &instances {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let resp = instance
                .post("/v1/chat/completions", &key, chat("gpt-4o", false))
                .await;
            if resp.status != 401 {
                assert_eq!(resp.status, 503, "{}", resp.text());
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the key never reached an instance"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // Both accounts are created at once while every instance takes
    // requests, 20 at a time, from before the creation until a second after.
    let labels = ["tunnel-a", "tunnel-b"];
    let created: OnceLock<Instant> = OnceLock::new();
    let create = |label: &'static str| {
        let api = &api;
        let admin = &admin;
        async move {
            let body = json!({"provider_id": "openai", "label": label,
                              "auth_data": {"type": "api_key", "api_key": label}});
            let resp = api.post("/api/v1/accounts", admin, body).await;
            assert_eq!(resp.status, 201, "{}", resp.text());
            resp.json()["id"].as_str().unwrap().to_owned()
        }
    };
    let burst = async {
        let mut served = 0;
        while created
            .get()
            .is_none_or(|at| at.elapsed() < Duration::from_secs(1))
        {
            let tasks: Vec<_> = (0..20)
                .map(|i| {
                    let instance = instances[i % instances.len()].clone();
                    let key = key.clone();
                    tokio::spawn(async move {
                        instance
                            .post("/v1/chat/completions", &key, chat("gpt-4o", false))
                            .await
                    })
                })
                .collect();
            for task in tasks {
                let resp = task.await.unwrap();
                assert!(
                    resp.status == 200 || resp.status == 503,
                    "{}: {}",
                    resp.status,
                    resp.text()
                );
                served += usize::from(resp.status == 200);
            }
        }
        served
    };
    let ((a, b), served) = tokio::join!(
        async {
            let ids = tokio::join!(create(labels[0]), create(labels[1]));
            let _ = created.set(Instant::now());
            ids
        },
        burst
    );
    assert!(served > 0, "no request was served");

    // Each account ends on its own proxy, and each of its requests came out
    // of a proxy's tunnel: of its own, or, when both creations took the last
    // place of one proxy at the same moment, of the one it briefly shared
    // before the newer moved on. Never straight from a gateway.
    let tunnels: Vec<_> = proxies
        .iter()
        .flat_map(|p| p.tunnel_log())
        .map(|t| t.outbound)
        .collect();
    let mut assigned = Vec::new();
    for (id, label) in [(a, labels[0]), (b, labels[1])] {
        let account = api
            .get(&format!("/api/v1/accounts/{id}"), &admin)
            .await
            .json();
        let proxy_id = account["proxy_id"]
            .as_i64()
            .unwrap_or_else(|| panic!("{label} has no proxy: {account}"));
        assert!(proxy_ids.contains(&proxy_id));
        assigned.push(proxy_id);
        let requests = gw.mock.requests_for(label);
        assert!(!requests.is_empty(), "{label} served nothing");
        for request in requests {
            assert!(
                tunnels.contains(&request.peer),
                "a request of {label} came from {}, not through a proxy {tunnels:?}",
                request.peer
            );
        }
    }
    assert_ne!(assigned[0], assigned[1], "both accounts on one proxy");
}

/// An account activated next to a proxy with room is behind it from its first
/// request, even with `overflow = "direct"` and a refresher reading all the
/// time.
async fn activated_accounts_get_their_proxy_in_the_same_write(d: Deployment) {
    let Some(gw) = TestGateway::start_with(d, |settings| {
        settings.proxy_overflow = aigateway::services::snapshot::ProxyOverflow::Direct;
        settings.snapshot_refresh = Duration::from_millis(1);
    })
    .await
    else {
        return;
    };
    let api = crate::api::Api::new(&gw);
    let admin = api.admin().await;
    let proxy = MockProxy::start(None).await.unwrap();
    let resp = api
        .post("/api/v1/proxies", &admin, json!({"url": proxy.url()}))
        .await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    let key = gw.issue_key().await;
    let body = json!({"provider_id": "openai", "label": "dormant", "is_active": false,
                      "auth_data": {"type": "api_key", "api_key": "dormant"}});
    let resp = api.post("/api/v1/accounts", &admin, body).await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    let path = format!("/api/v1/accounts/{}", resp.json()["id"].as_str().unwrap());

    let activated: OnceLock<Instant> = OnceLock::new();
    let activate = async {
        let resp = api.put(&path, &admin, json!({"is_active": true})).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        let _ = activated.set(Instant::now());
    };
    let requests = async {
        while activated
            .get()
            .is_none_or(|at| at.elapsed() < Duration::from_millis(500))
        {
            let resp = gw
                .post("/v1/chat/completions", &key, chat("gpt-4o", false))
                .await;
            assert!(resp.status == 200 || resp.status == 503, "{}", resp.text());
        }
    };
    tokio::join!(activate, requests);
    let tunnels: Vec<_> = proxy.tunnel_log().iter().map(|t| t.outbound).collect();
    let sent = gw.mock.requests_for("dormant");
    assert!(!sent.is_empty(), "the activated account served nothing");
    for request in sent {
        assert!(
            tunnels.contains(&request.peer),
            "a request came from {}, not through the proxy {tunnels:?}",
            request.peer
        );
    }
}

/// Accounts that connected directly (no proxy existed) and then got a proxy:
/// the direct client goes with its pooled connections on every instance, and
/// every later request of theirs arrives through the proxy's tunnels.
async fn pooled_direct_connections_go_once_accounts_get_proxies(d: Deployment) {
    use aigateway::services::client_pool::Egress;

    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let peer = match d {
        Deployment::ScaleOut => Some(gw.start_peer().await),
        Deployment::Embedded => None,
    };
    let instances: Vec<&TestGateway> = std::iter::once(&gw).chain(peer.as_ref()).collect();
    let key = gw.issue_key().await;
    gw.add_api_key_account("openai", "was-direct").await;
    for instance in &instances {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let resp = instance
                .post("/v1/chat/completions", &key, chat("gpt-4o", false))
                .await;
            if resp.status == 200 {
                break;
            }
            assert!(Instant::now() < deadline, "{}", resp.text());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(instance.runtime.gateway().pool().contains(&Egress::Direct));
    }

    let api = crate::api::Api::new(&gw);
    let admin = api.admin().await;
    let proxy = MockProxy::start(None).await.unwrap();
    let resp = api
        .post("/api/v1/proxies", &admin, json!({"url": proxy.url()}))
        .await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    for instance in &instances {
        let deadline = Instant::now() + Duration::from_secs(5);
        while instance.runtime.gateway().pool().contains(&Egress::Direct) {
            assert!(
                Instant::now() < deadline,
                "the direct client outlived the last direct account"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let before = gw.mock.count_for("was-direct");
    for instance in &instances {
        for _ in 0..3 {
            let resp = instance
                .post("/v1/chat/completions", &key, chat("gpt-4o", false))
                .await;
            assert_eq!(resp.status, 200, "{}", resp.text());
        }
    }
    let tunnels: Vec<_> = proxy.tunnel_log().iter().map(|t| t.outbound).collect();
    let later = &gw.mock.requests_for("was-direct")[before..];
    assert_eq!(later.len(), 3 * instances.len());
    for request in later {
        assert!(
            tunnels.contains(&request.peer),
            "a request came from {} instead of the proxy's tunnels {tunnels:?}",
            request.peer
        );
    }
}

async fn stream_failing_after_first_event_ends_with_an_error_event(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_api_key_account("anthropic", "cut").await;
    gw.add_api_key_account("anthropic", "fine").await;
    gw.mock
        .set_reply("cut", Reply::text("one two three four five six seven"));
    gw.mock
        .set_fault("cut", Fault::StreamCut { after_events: 4 });
    let body = json!({"model": "claude-sonnet-4-5", "max_tokens": 64, "stream": true,
                      "messages": [{"role": "user", "content": "hi"}]});
    let mut saw_cut = false;
    for _ in 0..2 {
        let fine_before = gw.mock.count_for("fine");
        let cut_before = gw.mock.count_for("cut");
        let resp = gw.post("/v1/messages", &key, body.clone()).await;
        assert_eq!(resp.status, 200);
        if gw.mock.count_for("cut") > cut_before {
            saw_cut = true;
            let events = sse_events(&resp.text());
            let names: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
            assert_eq!(names.first(), Some(&"message_start"), "{names:?}");
            assert_eq!(names.last(), Some(&"error"), "{names:?}");
            assert!(!names.contains(&"message_stop"), "{names:?}");
            assert_eq!(
                gw.mock.count_for("fine"),
                fine_before,
                "a second upstream response was spliced in"
            );
        }
    }
    assert!(saw_cut);
}

/// A provider whose base URL cannot be reached is served from its next base
/// URL by the same account, which is not cooled down for it.
async fn an_unreachable_base_url_falls_back_to_the_next(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_api_key_account("openai", "fallback-key").await;
    let api = crate::api::Api::new(&gw);
    let admin = api.admin().await;
    let live = api.get("/api/v1/providers/openai", &admin).await.json()["base_url"]
        .as_str()
        .unwrap()
        .to_owned();
    // A port nothing listens on: connections are refused.
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let changed = api
        .put(
            "/api/v1/providers/openai",
            &admin,
            json!({"base_url": format!("http://{dead}/v1"), "fallback_base_urls": [live]}),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text());
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]});
    for stream in [false, true, false] {
        let mut body = body.clone();
        body["stream"] = json!(stream);
        let resp = gw.post("/v1/chat/completions", &key, body).await;
        assert_eq!(resp.status, 200, "stream {stream}: {}", resp.text());
    }
    // Every request reached the upstream through the fallback, and the
    // account was never cooled down for the dead URL (one account only).
    assert_eq!(gw.mock.count_for("fallback-key"), 3);
    let metrics = gw
        .request(http::Method::GET, "/metrics", &[], "")
        .await
        .text();
    assert!(
        metrics.contains("aigw_base_url_fallbacks_total{provider=\"openai\"} 3"),
        "{metrics}"
    );
    // Each request's log names the fallback URL that served it.
    let flushed = gw.stop_and_flush().await;
    let logs = flushed
        .repo
        .list_request_logs(
            &aigateway::domain::RequestLogFilter::default(),
            aigateway::domain::Page {
                limit: 10,
                offset: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!(logs.data.len(), 3);
    for log in &logs.data {
        assert_eq!(log.status_code, 200);
        assert_eq!(
            log.fallback_base_url.as_deref(),
            Some(live.as_str()),
            "{log:?}"
        );
    }
}

deployment_tests!(
    an_unreachable_base_url_falls_back_to_the_next,
    rate_limited_account_fails_over_and_rejoins_after_retry_after,
    server_errors_fail_over_and_client_errors_do_not,
    all_accounts_cooling_down_gives_503_with_retry_after,
    connect_failure_fails_over,
    traffic_goes_through_the_assigned_proxy_never_direct,
    accounts_created_next_to_proxies_never_go_direct,
    new_accounts_get_their_proxy_before_any_snapshot_sees_them,
    activated_accounts_get_their_proxy_in_the_same_write,
    pooled_direct_connections_go_once_accounts_get_proxies,
    stream_failing_after_first_event_ends_with_an_error_event,
);

/// A cooldown set on one instance is honoured by its peers, which share
/// PostgreSQL and Redis: the peer never sends the limited account a request
/// during the Retry-After window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooldown_on_one_instance_is_honoured_by_its_peer() {
    let Some(gw) = TestGateway::start(Deployment::ScaleOut).await else {
        return;
    };
    let peer = gw.start_peer().await;
    let key = gw.issue_key().await;
    let a: aigateway::domain::AccountId = gw
        .add_api_key_account("openai", "acct-a")
        .await
        .parse()
        .unwrap();
    gw.add_api_key_account("openai", "acct-b").await;
    // The peer sees the key and the accounts once it has rebuilt its snapshot.
    let deadline = Instant::now() + Duration::from_secs(5);
    while peer.runtime.gateway().authenticate(Some(&key)).is_err()
        || peer
            .runtime
            .gateway()
            .snapshot()
            .load()
            .provider(&"openai".parse().unwrap())
            .is_none_or(|p| p.accounts.len() < 2)
    {
        assert!(Instant::now() < deadline, "the peer never reloaded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gw.mock.set_fault("acct-a", Fault::rate_limited(30).once());
    for _ in 0..4 {
        let resp = gw
            .post("/v1/chat/completions", &key, chat("gpt-4o", false))
            .await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        if gw.mock.count_for("acct-a") == 1 {
            break;
        }
    }
    assert_eq!(gw.mock.count_for("acct-a"), 1, "acct-a was never selected");
    // The announcement crosses Redis pub/sub; wait for it, bounded.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let left = peer.runtime.gateway().cooldowns().remaining(a, "gpt-4o");
        if let Some(left) = left {
            assert!(left > Duration::from_secs(25), "{left:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the peer never heard of the cooldown"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for _ in 0..10 {
        let resp = peer
            .post("/v1/chat/completions", &key, chat("gpt-4o", false))
            .await;
        assert_eq!(resp.status, 200, "{}", resp.text());
    }
    assert_eq!(
        gw.mock.count_for("acct-a"),
        1,
        "the peer sent traffic to an account cooling down"
    );
    peer.stop().await;
}
