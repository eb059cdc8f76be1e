//! Two instances sharing PostgreSQL and Redis behave as one gateway: a key
//! revoked on one is refused by the other within one second, and an
//! account created on one serves requests on the other within one second.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::Api;
use crate::support::{Deployment, Resp, TestGateway};

fn chat() -> Value {
    json!({"model": "gpt-4o", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]})
}

/// Sends the request until `done` holds for its answer, for at most `within`;
/// returns the last answer and how long it took.
async fn poll_until(
    gw: &TestGateway,
    key: &str,
    within: Duration,
    done: impl Fn(&Resp) -> bool,
) -> (Resp, Duration) {
    let start = Instant::now();
    loop {
        let resp = gw.post("/v1/chat/completions", key, chat()).await;
        if done(&resp) || start.elapsed() > within {
            return (resp, start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_on_one_instance_reach_the_other_within_a_second() {
    let Some(one) = TestGateway::start(Deployment::ScaleOut).await else {
        return;
    };
    let two = one.start_peer().await;
    let api_one = Api::new(&one);
    let api_two = Api::new(&two);
    let admin = api_one.admin().await;
    let key = api_one
        .post("/api/v1/api-keys", &admin, json!({}))
        .await
        .json();
    let raw = key["key"].as_str().unwrap().to_owned();

    // The new key reaches the peer; with no account yet it has nothing to
    // serve with.
    let (resp, took) = poll_until(&two, &raw, Duration::from_secs(1), |r| r.status != 401).await;
    assert_eq!(resp.status, 503, "after {took:?}: {}", resp.text());

    // An account created through instance one serves on instance two.
    let resp = api_one
        .post(
            "/api/v1/accounts",
            &admin,
            json!({"provider_id": "openai", "label": "shared",
                   "auth_data": {"type": "api_key", "api_key": "sk-shared-account-1"}}),
        )
        .await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    let (resp, took) = poll_until(&two, &raw, Duration::from_secs(1), |r| r.status == 200).await;
    assert_eq!(resp.status, 200, "after {took:?}: {}", resp.text());
    assert!(one.mock.count_for("sk-shared-account-1") >= 1);

    // A key revoked through instance one is refused by instance two: at once
    // on the management API, within a second on the data plane.
    let path = format!("/api/v1/api-keys/{}", key["id"].as_str().unwrap());
    assert_eq!(api_one.delete(&path, &admin).await.status, 204);
    assert_eq!(api_two.get("/api/v1/auth/me", &raw).await.status, 401);
    let (resp, took) = poll_until(&two, &raw, Duration::from_secs(1), |r| r.status == 401).await;
    assert_eq!(resp.status, 401, "after {took:?}: {}", resp.text());

    two.stop().await;
}

/// A credential replaced through one instance is used by the other at once:
/// the other instance drops the old access token it holds in memory instead
/// of sending it until it expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_replaced_on_one_instance_is_used_by_the_other() {
    let Some(one) = TestGateway::start(Deployment::ScaleOut).await else {
        return;
    };
    let two = one.start_peer().await;
    let api_one = Api::new(&one);
    let admin = api_one.admin().await;
    let key = api_one
        .post("/api/v1/api-keys", &admin, json!({}))
        .await
        .json();
    let raw = key["key"].as_str().unwrap().to_owned();
    let oauth = |token: &str, refresh: &str| {
        json!({"type": "oauth", "access_token": token, "refresh_token": refresh,
               "expires_at": "2099-01-01T00:00:00Z"})
    };
    let resp = api_one
        .post(
            "/api/v1/accounts",
            &admin,
            json!({"provider_id": "openai", "label": "rotating",
                   "auth_data": oauth("tok-old-credential", "rt-old")}),
        )
        .await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    let id = resp.json()["id"].as_str().unwrap().to_owned();
    // Instance two serves with the old token, which it now holds in memory.
    let (resp, took) = poll_until(&two, &raw, Duration::from_secs(1), |r| r.status == 200).await;
    assert_eq!(resp.status, 200, "after {took:?}: {}", resp.text());
    assert!(one.mock.count_for("tok-old-credential") >= 1);

    let resp = api_one
        .put(
            &format!("/api/v1/accounts/{id}"),
            &admin,
            json!({"auth_data": oauth("tok-new-credential", "rt-new")}),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let (resp, took) = poll_until(&two, &raw, Duration::from_secs(1), |_| {
        one.mock.count_for("tok-new-credential") >= 1
    })
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert!(
        one.mock.count_for("tok-new-credential") >= 1,
        "instance two still sends the old token after {took:?}"
    );
    let old = one.mock.count_for("tok-old-credential");
    for _ in 0..5 {
        assert_eq!(
            two.post("/v1/chat/completions", &raw, chat()).await.status,
            200
        );
    }
    assert_eq!(one.mock.count_for("tok-old-credential"), old);
    two.stop().await;
}
