//! OAuth accounts on the request path: an expiring token is refreshed once
//! for any number of concurrent requests, and an upstream 401 forces one
//! refresh and one retry.

use std::sync::Arc;

use aigateway::domain::{AuthData, OAuthCredentials, Secret};
use aigw_mock_upstream::Fault;
use serde_json::json;

use crate::support::{Deployment, TestGateway};

async fn add_oauth_account(gw: &TestGateway, label: &str, expires_in: chrono::Duration) {
    gw.add_account_with(
        "anthropic",
        label,
        AuthData::Oauth(Box::new(OAuthCredentials {
            access_token: Some(Secret::new(format!("stale-{label}"))),
            refresh_token: Some(Secret::new(format!("refresh-{label}"))),
            expires_at: Some(chrono::Utc::now() + expires_in),
            token_url: Some(format!("{}/oauth/token", gw.mock.base_url())),
            client_id: Some("test-client".to_owned()),
            ..OAuthCredentials::default()
        })),
    )
    .await;
}

fn body() -> serde_json::Value {
    json!({"model": "claude-sonnet-4-5", "max_tokens": 16,
           "messages": [{"role": "user", "content": "hi"}]})
}

async fn expiring_token_is_refreshed_once_for_concurrent_requests(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    // Expires within the 5-minute skew: due for refresh.
    add_oauth_account(&gw, "oa", chrono::Duration::minutes(1)).await;
    let gw = Arc::new(gw);
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let gw = gw.clone();
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            gw.post("/v1/messages", &key, body()).await.status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(gw.mock.oauth().calls_for("refresh-oa"), 1);
    let fresh = gw.mock.oauth().last_access_token_for("refresh-oa").unwrap();
    assert_eq!(
        gw.mock.count_for(&fresh),
        100,
        "every request used the refreshed token"
    );
    assert_eq!(gw.mock.count_for("stale-oa"), 0);
}

async fn upstream_401_forces_one_refresh_and_one_retry(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    add_oauth_account(&gw, "ob", chrono::Duration::hours(2)).await;
    gw.mock.set_fault("stale-ob", Fault::unauthorized());
    let resp = gw.post("/v1/messages", &key, body()).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(gw.mock.count_for("stale-ob"), 1);
    assert_eq!(gw.mock.oauth().calls_for("refresh-ob"), 1);
    let fresh = gw.mock.oauth().last_access_token_for("refresh-ob").unwrap();
    assert_eq!(gw.mock.count_for(&fresh), 1);
}

deployment_tests!(
    expiring_token_is_refreshed_once_for_concurrent_requests,
    upstream_401_forces_one_refresh_and_one_retry,
);
