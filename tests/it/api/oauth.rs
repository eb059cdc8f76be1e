//! OAuth onboarding end to end, against the mock OAuth server: init → the
//! provider's redirect → the gateway's callback creates an account that
//! serves a request; a reused or tampered state is refused; the callback page
//! escapes what it shows; the pasted-URL exchange and the manual refresh;
//! OAuth tokens never appear in an API answer.

use std::collections::HashMap;

use bytes::Bytes;
use http::Method;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;

use super::Api;
use crate::support::{Deployment, OAUTH_CALLBACK, OAUTH_ORIGIN, Resp, TestGateway};

/// Follows the authorisation URL as the browser would and returns the
/// query of the redirect to the callback.
async fn approve(auth_url: &str) -> HashMap<String, String> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let resp = client
        .request(
            http::Request::get(auth_url)
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(OAUTH_CALLBACK), "{location}");
    url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

async fn callback(gw: &TestGateway, query: &str) -> Resp {
    gw.request(
        Method::GET,
        &format!("/api/v1/oauth/callback?{query}"),
        &[],
        Bytes::new(),
    )
    .await
}

fn encode(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// Fails if a response body carries an OAuth token the mock issued.
fn assert_no_tokens(what: &str, resp: &Resp) {
    let text = resp.text();
    for marker in ["ya29.mock-", "mock-rt-", "mock-code-"] {
        assert!(
            !text.contains(marker),
            "{what} returned an OAuth secret ({marker}): {text}"
        );
    }
}

async fn callback_creates_a_usable_account_once(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let api = Api::new(&gw);
    let admin = api.admin().await;
    // Shown on the callback page: it must come out escaped.
    gw.mock
        .oauth()
        .set_email("<script>alert('x')</script>@example.com");

    let providers = api
        .call(Method::GET, "/api/v1/oauth/providers", None, None)
        .await;
    assert_eq!(providers.status, 200);
    let ids: Vec<_> = providers.json()["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["antigravity", "codex", "claude"]);

    let started = api
        .post("/api/v1/oauth/init", &admin, json!({"provider": "claude"}))
        .await;
    assert_eq!(started.status, 200, "{}", started.text());
    let started = started.json();
    let state = started["state"].as_str().unwrap().to_owned();
    assert!(started["expires_at"].is_string());
    let back = approve(started["auth_url"].as_str().unwrap()).await;
    assert_eq!(back["state"], state);
    let code = back["code"].clone();
    let query = format!("code={}&state={}", encode(&code), encode(&state));

    // A tampered state is refused and does not spend the real one.
    let tampered = callback(
        &gw,
        &format!("code={}&state={}x", encode(&code), encode(&state)),
    )
    .await;
    assert_eq!(tampered.status, 400);
    assert!(tampered.text().contains("invalid or expired OAuth state"));

    let page = callback(&gw, &query).await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert_eq!(
        page.headers["content-type"].to_str().unwrap(),
        "text/html; charset=utf-8"
    );
    assert!(page.headers.contains_key("content-security-policy"));
    let html = page.text();
    assert!(
        !html.contains("<script>alert"),
        "an interpolated value was not escaped: {html}"
    );
    assert!(html.contains("&lt;script&gt;alert(&#x27;x&#x27;)&lt;&#x2F;script&gt;@example.com"));
    assert_eq!(
        html.matches("<script>").count(),
        1,
        "only the page's script"
    );
    assert!(html.contains(&format!(
        "data-origin=\"{}\"",
        OAUTH_ORIGIN.replace('/', "&#x2F;")
    )));
    assert!(!html.contains("'*'"));
    assert_no_tokens("the callback page", &page);

    // The same state again: refused.
    let reused = callback(&gw, &query).await;
    assert_eq!(reused.status, 400);
    assert!(reused.text().contains("invalid or expired OAuth state"));
    // No state at all: the API's JSON error.
    let bare = callback(&gw, "code=x").await;
    assert_eq!(bare.status, 400);
    assert_eq!(bare.json()["error"], "state: is required");

    // The account exists, with a masked credential only, and serves a request.
    let accounts = api.get("/api/v1/accounts", &admin).await;
    assert_no_tokens("the account list", &accounts);
    let list = accounts.json();
    let account = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["provider_id"] == "anthropic")
        .expect("the onboarded account")
        .clone();
    let account_id = account["id"].as_str().unwrap().to_owned();
    assert_eq!(account["is_active"], true);
    let key = gw.issue_key().await;
    let resp = gw
        .post(
            "/v1/messages",
            &key,
            json!({"model": "claude-sonnet-4-5", "max_tokens": 8,
                   "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let token = gw.mock.oauth().last_access_token_for(&code).unwrap();
    assert_eq!(gw.mock.count_for(&token), 1, "the onboarded token was used");

    // A manual refresh by the owner (the admin) calls the token endpoint.
    let calls = gw.mock.oauth().total_calls();
    let refreshed = api
        .post(
            "/api/v1/oauth/refresh",
            &admin,
            json!({"account_id": account_id}),
        )
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text());
    assert!(refreshed.json()["expires_at"].is_string());
    assert_no_tokens("the refresh answer", &refreshed);
    assert_eq!(gw.mock.oauth().total_calls(), calls + 1);
    assert_logs_free_of_tokens();
    let one = api
        .get(&format!("/api/v1/accounts/{account_id}"), &admin)
        .await;
    assert_no_tokens("the account", &one);
    let health = api
        .get(&format!("/api/v1/accounts/{account_id}/health"), &admin)
        .await;
    assert_eq!(health.status, 200);
    assert_no_tokens("the account's health", &health);
}

async fn exchange_and_refresh_check_who_asks(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let api = Api::new(&gw);
    let admin = api.admin().await;
    let (_, alice) = api.user(&admin, "alice", "provider").await;
    let (_, bob) = api.user(&admin, "bob", "provider").await;

    let missing = api
        .post(
            "/api/v1/oauth/init",
            &alice,
            json!({"provider": "antigravity"}),
        )
        .await;
    assert_eq!(missing.status, 400);
    assert!(
        missing.json()["error"]
            .as_str()
            .unwrap()
            .contains("project_id")
    );
    let unknown = api
        .post("/api/v1/oauth/init", &alice, json!({"provider": "nope"}))
        .await;
    assert_eq!(unknown.status, 400);

    let started = api
        .post(
            "/api/v1/oauth/init",
            &alice,
            json!({"provider": "antigravity", "project_id": "proj-7", "flow_type": "manual"}),
        )
        .await
        .json();
    assert_eq!(started["flow_type"], "manual");
    let back = approve(started["auth_url"].as_str().unwrap()).await;
    let pasted = format!(
        "{OAUTH_CALLBACK}?state={}&code={}&scope=x",
        encode(&back["state"]),
        encode(&back["code"])
    );
    let bad = api
        .post(
            "/api/v1/oauth/exchange",
            &alice,
            json!({"callback_url": "nonsense"}),
        )
        .await;
    assert_eq!(bad.status, 400);
    let done = api
        .post(
            "/api/v1/oauth/exchange",
            &alice,
            json!({"callback_url": pasted}),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.text());
    assert_no_tokens("the exchange answer", &done);
    let body = done.json();
    assert_eq!(body["success"], true);
    assert_eq!(body["account"]["provider_id"], "antigravity");
    assert_eq!(body["account"]["label"], "mock-user@example.com");
    assert_eq!(
        body["account"]["auth_data"]["project_id"], "proj-7",
        "the project id is kept where the provider reads it"
    );
    let account_id = body["account"]["id"].as_str().unwrap().to_owned();
    let again = api
        .post(
            "/api/v1/oauth/exchange",
            &alice,
            json!({"callback_url": pasted}),
        )
        .await;
    assert_eq!(again.status, 400, "a state works once");

    // Bob may neither refresh nor see Alice's account; Alice and admins may.
    let as_bob = api
        .post(
            "/api/v1/oauth/refresh",
            &bob,
            json!({"account_id": account_id}),
        )
        .await;
    assert_eq!(as_bob.status, 404);
    let health = api
        .get(&format!("/api/v1/accounts/{account_id}/health"), &bob)
        .await;
    assert_eq!(health.status, 404);
    let as_alice = api
        .post(
            "/api/v1/oauth/refresh",
            &alice,
            json!({"account_id": account_id}),
        )
        .await;
    assert_eq!(as_alice.status, 200, "{}", as_alice.text());
    let unknown = api
        .post(
            "/api/v1/oauth/refresh",
            &admin,
            json!({"account_id": "00000000-0000-0000-0000-000000000000"}),
        )
        .await;
    assert_eq!(unknown.status, 404);
    // An API-key account cannot be refreshed.
    let plain = gw.add_api_key_account("openai", "sk-plain").await;
    let not_oauth = api
        .post(
            "/api/v1/oauth/refresh",
            &admin,
            json!({"account_id": plain}),
        )
        .await;
    assert_eq!(not_oauth.status, 400);
    super::assert_logs_free_of_canary();
    assert_logs_free_of_tokens();
}

/// Fails if a captured log line carries an OAuth token, refresh token or
/// authorisation code the mock issued (to this test or any other).
fn assert_logs_free_of_tokens() {
    let logs = super::captured_logs();
    let logs = logs.lock();
    let text = String::from_utf8_lossy(&logs);
    for marker in ["ya29.mock-", "mock-rt-", "mock-code-"] {
        if let Some(line) = text.lines().find(|l| l.contains(marker)) {
            panic!("a log line carries an OAuth secret: {line}");
        }
    }
}

/// The Codex flow creates a `codex` account holding the id token's ChatGPT
/// account, and that account serves a Codex model with it.
async fn the_codex_flow_creates_a_codex_account(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let api = Api::new(&gw);
    let admin = api.admin().await;
    gw.mock.oauth().set_chatgpt_account_id("chatgpt-onboarded");
    let started = api
        .post("/api/v1/oauth/init", &admin, json!({"provider": "codex"}))
        .await;
    assert_eq!(started.status, 200, "{}", started.text());
    let started = started.json();
    let back = approve(started["auth_url"].as_str().unwrap()).await;
    let query = format!(
        "code={}&state={}",
        encode(&back["code"]),
        encode(&back["state"])
    );
    let page = callback(&gw, &query).await;
    assert_eq!(page.status, 200, "{}", page.text());

    let list = api.get("/api/v1/accounts", &admin).await.json();
    let accounts = list["data"].as_array().unwrap();
    assert_eq!(accounts.len(), 1, "{list}");
    assert_eq!(accounts[0]["provider_id"], "codex", "{list}");

    let key = gw.issue_key().await;
    let resp = gw
        .post(
            "/v1/chat/completions",
            &key,
            json!({"model": "gpt-5-codex", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let sent = gw
        .mock
        .requests_to(aigw_mock_upstream::Endpoint::CodexResponses);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].headers["chatgpt-account-id"], "chatgpt-onboarded");
}

deployment_tests!(
    the_codex_flow_creates_a_codex_account,
    callback_creates_a_usable_account_once,
    exchange_and_refresh_check_who_asks,
);
