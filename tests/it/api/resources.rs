//! Each resource's happy path and error statuses: users, API keys,
//! providers, accounts, proxies, model mappings.

use serde_json::{Value, json};

use super::{Api, CANARY};
use crate::support::{Deployment, TestGateway};

fn chat(model: &str) -> Value {
    json!({"model": model, "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]})
}

async fn users_crud_and_errors(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let api = Api::new(&gw);
    let admin = api.admin().await;
    let me = api.get("/api/v1/auth/me", &admin).await.json();

    let resp = api
        .post(
            "/api/v1/users",
            &admin,
            json!({"username": "dave", "password": "dave-password", "role": "user"}),
        )
        .await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    let dave = resp.json()["id"].as_str().unwrap().to_owned();

    let dup = api
        .post(
            "/api/v1/users",
            &admin,
            json!({"username": "dave", "password": "other-password", "role": "user"}),
        )
        .await;
    assert_eq!(dup.status, 409);
    let short = api
        .post(
            "/api/v1/users",
            &admin,
            json!({"username": "erin", "password": "short", "role": "user"}),
        )
        .await;
    assert_eq!(short.status, 422);
    assert!(
        short.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("password:")
    );
    let role = api
        .post(
            "/api/v1/users",
            &admin,
            json!({"username": "erin", "password": "erin-password", "role": "root"}),
        )
        .await;
    assert_eq!(role.status, 400);
    assert!(role.json()["error"].as_str().unwrap().starts_with("role:"));

    let list = api.get("/api/v1/users?limit=1", &admin).await;
    assert_eq!(list.status, 200);
    let list = list.json();
    assert_eq!(list["total"], 2);
    assert_eq!(list["limit"], 1);
    assert_eq!(list["offset"], 0);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let capped = api.get("/api/v1/users?limit=100000", &admin).await.json();
    assert_eq!(capped["limit"], 200);
    assert_eq!(api.get("/api/v1/users?limit=x", &admin).await.status, 400);

    // PUT is partial: only the role changes.
    let resp = api
        .put(
            &format!("/api/v1/users/{dave}"),
            &admin,
            json!({"role": "provider"}),
        )
        .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["role"], "provider");
    assert_eq!(resp.json()["is_active"], true);
    assert_eq!(resp.json()["username"], "dave");

    let own = format!("/api/v1/users/{}", me["id"].as_str().unwrap());
    assert_eq!(api.delete(&own, &admin).await.status, 409);
    assert_eq!(
        api.put(&own, &admin, json!({"is_active": false}))
            .await
            .status,
        409
    );
    let dave_path = format!("/api/v1/users/{dave}");
    assert_eq!(api.delete(&dave_path, &admin).await.status, 204);
    assert_eq!(api.get(&dave_path, &admin).await.status, 404);
    assert_eq!(
        api.get("/api/v1/users/not-a-uuid", &admin).await.status,
        404
    );
}

async fn api_keys_are_shown_once_owned_and_revoked(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let api = Api::new(&gw);
    let admin = api.admin().await;
    let (_, alice) = api.user(&admin, "alice", "user").await;
    let (_, bob) = api.user(&admin, "bob", "user").await;
    gw.add_api_key_account("openai", "sk-upstream-keys").await;

    let resp = api
        .post("/api/v1/api-keys", &alice, json!({"label": "laptop"}))
        .await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    let created = resp.json();
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with("ak_"));
    assert!(key.starts_with(created["key_prefix"].as_str().unwrap()));

    // The key works on the data plane and the management API.
    assert_eq!(
        gw.post("/v1/chat/completions", &key, chat("gpt-4o"))
            .await
            .status,
        200
    );
    assert_eq!(
        api.get("/api/v1/auth/me", &key).await.json()["username"],
        "alice"
    );

    // Listed once, without the key; bob sees none of alice's.
    let list = api.get("/api/v1/api-keys", &alice).await;
    assert!(!list.text().contains(&key));
    assert_eq!(list.json()["total"], 1);
    assert_eq!(api.get("/api/v1/api-keys", &bob).await.json()["total"], 0);
    assert_eq!(api.get("/api/v1/api-keys", &admin).await.json()["total"], 1);
    let path = format!("/api/v1/api-keys/{id}");
    assert_eq!(api.delete(&path, &bob).await.status, 404);

    assert_eq!(api.delete(&path, &alice).await.status, 204);
    assert_eq!(
        gw.post("/v1/chat/completions", &key, chat("gpt-4o"))
            .await
            .status,
        401
    );
    assert_eq!(api.get("/api/v1/auth/me", &key).await.status, 401);

    // A non-admin cannot issue keys for someone else.
    let admin_id = api.get("/api/v1/auth/me", &admin).await.json()["id"].clone();
    let resp = api
        .post("/api/v1/api-keys", &alice, json!({"user_id": admin_id}))
        .await;
    assert_eq!(resp.status, 403);
}

async fn access_keys_are_regenerated_and_masked(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let api = Api::new(&gw);
    let admin = api.admin().await;
    assert_eq!(api.get("/api/v1/auth/my-key", &admin).await.status, 404);
    let first = api
        .post("/api/v1/auth/regenerate-key", &admin, json!({}))
        .await;
    assert_eq!(first.status, 200, "{}", first.text());
    let first = first.json()["key"].as_str().unwrap().to_owned();
    assert!(first.starts_with("uk_"));
    let masked = api.get("/api/v1/auth/my-key", &first).await;
    assert_eq!(masked.status, 200);
    let masked = masked.json()["key"].as_str().unwrap().to_owned();
    assert_eq!(
        masked,
        format!("{}...{}", &first[..7], &first[first.len() - 4..])
    );
    assert_eq!(
        api.get("/api/v1/auth/my-key/full", &admin).await.status,
        410
    );

    let second = api
        .post("/api/v1/auth/regenerate-key", &first, json!({}))
        .await;
    let second = second.json()["key"].as_str().unwrap().to_owned();
    assert_eq!(api.get("/api/v1/auth/me", &first).await.status, 401);
    let resp = gw
        .request(
            http::Method::GET,
            "/api/v1/auth/me",
            &[("x-access-key", &second)],
            "",
        )
        .await;
    assert_eq!(resp.status, 200);

    // Password change: the old one stops working.
    let wrong = api
        .put(
            "/api/v1/auth/password",
            &admin,
            json!({"current_password": "nope-nope", "new_password": "new-password-1"}),
        )
        .await;
    assert_eq!(wrong.status, 422);
    let short = api
        .put(
            "/api/v1/auth/password",
            &admin,
            json!({"current_password": crate::support::ADMIN_PASSWORD, "new_password": "short"}),
        )
        .await;
    assert_eq!(short.status, 422);
    assert!(
        short.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("new_password:")
    );
    let ok = api
        .put(
            "/api/v1/auth/password",
            &admin,
            json!({"current_password": crate::support::ADMIN_PASSWORD, "new_password": "new-password-1"}),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    api.login("admin", "new-password-1").await;
}

async fn providers_list_create_update_delete(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let api = Api::new(&gw);
    let admin = api.admin().await;
    let (_, user) = api.user(&admin, "uma", "user").await;

    let list = api.get("/api/v1/providers", &user).await;
    assert_eq!(list.status, 200);
    let ids: Vec<String> = list.json()["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(ids.contains(&"openai".to_owned()), "{ids:?}");
    assert_eq!(api.get("/api/v1/providers/openai", &user).await.status, 200);
    assert_eq!(api.get("/api/v1/providers/nope", &user).await.status, 404);

    let custom = json!({"id": "local-vllm", "name": "Local vLLM", "kind": "openai",
                        "base_url": format!("{}/v1", gw.mock.base_url()), "models": ["local-model"]});
    assert_eq!(
        api.post("/api/v1/providers", &user, custom.clone())
            .await
            .status,
        403
    );
    let resp = api.post("/api/v1/providers", &admin, custom.clone()).await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    assert_eq!(
        resp.json()["supported_auth_types"],
        json!(["api_key", "bearer"])
    );
    assert_eq!(
        api.post("/api/v1/providers", &admin, custom).await.status,
        409
    );
    let bad = api
        .post(
            "/api/v1/providers",
            &admin,
            json!({"id": "x", "name": "x", "kind": "openai", "base_url": "ftp://h"}),
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(
        bad.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("base_url:")
    );
    let bad = api
        .post(
            "/api/v1/providers",
            &admin,
            json!({"id": "x", "name": "x", "kind": "cohere", "base_url": "http://h"}),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"].as_str().unwrap().starts_with("kind:"));

    // Partial update: models stay when only the name changes.
    let resp = api
        .put(
            "/api/v1/providers/local-vllm",
            &admin,
            json!({"name": "vLLM"}),
        )
        .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["models"], json!(["local-model"]));
    assert_eq!(resp.json()["name"], "vLLM");

    assert_eq!(
        api.delete("/api/v1/providers/openai", &admin).await.status,
        409
    );
    assert_eq!(
        api.delete("/api/v1/providers/local-vllm", &admin)
            .await
            .status,
        204
    );

    // Credentials in a base URL (an upstream behind basic auth) are never
    // shown, to admins or users; the data plane reads the whole URL.
    let full = format!("http://gw-user:{CANARY}@127.0.0.1:9/v1");
    let basic = json!({"id": "basic-auth", "name": "Basic", "kind": "openai", "base_url": full,
                       "fallback_base_urls": [format!("http://{CANARY}@127.0.0.1:10/v1")]});
    let resp = api.post("/api/v1/providers", &admin, basic).await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    assert_eq!(resp.json()["base_url"], "http://****@127.0.0.1:9/v1");
    for token in [&user, &admin] {
        let shown = api.get("/api/v1/providers/basic-auth", token).await;
        assert_eq!(shown.json()["base_url"], "http://****@127.0.0.1:9/v1");
        assert_eq!(
            shown.json()["fallback_base_urls"],
            json!(["http://****@127.0.0.1:10/v1"])
        );
        assert_eq!(api.get("/api/v1/providers", token).await.status, 200);
    }
    let stored = gw
        .runtime
        .repository()
        .get_provider(&aigateway::domain::ProviderId::new("basic-auth").unwrap())
        .await
        .unwrap();
    assert_eq!(stored.base_url, full);
    assert_eq!(
        api.get("/api/v1/providers/local-vllm", &admin).await.status,
        404
    );
}

async fn accounts_are_owned_validated_masked_and_used(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let api = Api::new(&gw);
    let admin = api.admin().await;
    let (_, pat) = api.user(&admin, "pat", "provider").await;
    let (_, quinn) = api.user(&admin, "quinn", "provider").await;
    let (_, user) = api.user(&admin, "ursula", "user").await;
    let client_key = gw.issue_key().await;

    let upstream_key = format!("sk-{CANARY}-acct-0001");
    let body = json!({"provider_id": "openai", "label": "team",
                      "auth_data": {"type": "api_key", "api_key": upstream_key}});
    assert_eq!(
        api.post("/api/v1/accounts", &user, body.clone())
            .await
            .status,
        403
    );
    let resp = api.post("/api/v1/accounts", &pat, body).await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    let account = resp.json();
    let id = account["id"].as_str().unwrap().to_owned();
    assert_eq!(account["auth_data"]["type"], "api_key");
    assert_eq!(account["auth_data"]["last4"], "0001");

    // The account serves requests at once, with its key upstream.
    let resp = gw
        .post("/v1/chat/completions", &client_key, chat("gpt-4o"))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(gw.mock.count_for(&upstream_key), 1);

    // Ownership: quinn does not see it; the admin does.
    let path = format!("/api/v1/accounts/{id}");
    assert_eq!(api.get(&path, &quinn).await.status, 404);
    assert_eq!(api.get("/api/v1/accounts", &quinn).await.json()["total"], 0);
    assert_eq!(api.get("/api/v1/accounts", &pat).await.json()["total"], 1);
    assert_eq!(api.get(&path, &admin).await.status, 200);
    assert_eq!(api.delete(&path, &quinn).await.status, 404);

    // Validation against the provider and the credential's fields.
    let oauth_for_gemini = json!({"provider_id": "gemini", "label": "g",
        "auth_data": {"type": "oauth", "refresh_token": "r"}});
    let resp = api.post("/api/v1/accounts", &pat, oauth_for_gemini).await;
    assert_eq!(resp.status, 422);
    assert!(
        resp.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("auth_data.type:")
    );
    let missing = json!({"provider_id": "openai", "label": "m", "auth_data": {"type": "api_key"}});
    let resp = api.post("/api/v1/accounts", &pat, missing).await;
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json()["error"], "auth_data.api_key: is required");
    let unknown = json!({"provider_id": "nope", "label": "m",
        "auth_data": {"type": "api_key", "api_key": "k"}});
    assert_eq!(
        api.post("/api/v1/accounts", &pat, unknown).await.status,
        422
    );

    // Partial update keeps the credential; deactivating takes it out of rotation.
    let resp = api.put(&path, &pat, json!({"label": "renamed"})).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["label"], "renamed");
    assert_eq!(resp.json()["auth_data"]["last4"], "0001");
    let resp = api.put(&path, &pat, json!({"is_active": false})).await;
    assert_eq!(resp.json()["is_active"], false);
    let resp = gw
        .post("/v1/chat/completions", &client_key, chat("gpt-4o"))
        .await;
    assert_eq!(resp.status, 503, "{}", resp.text());

    // An OAuth credential: the refresh token is never shown.
    let oauth = json!({"provider_id": "anthropic", "label": "o", "auth_data": {
        "type": "oauth", "access_token": format!("at-{CANARY}-9999"),
        "refresh_token": format!("rt-{CANARY}-8888"),
        "expires_at": "2099-01-01T00:00:00Z"}});
    let resp = api.post("/api/v1/accounts", &pat, oauth).await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    let summary = &resp.json()["auth_data"];
    assert_eq!(summary["type"], "oauth");
    assert_eq!(summary["has_refresh_token"], true);
    assert_eq!(summary["last4"], "9999");
    assert_eq!(summary["expires_at"], "2099-01-01T00:00:00Z");

    assert_eq!(api.delete(&path, &pat).await.status, 204);
    assert_eq!(api.get(&path, &admin).await.status, 404);
    let checked = super::assert_logs_free_of_canary();
    assert!(checked > 0, "the log capture saw nothing");
}

/// The original gateway's API and dashboard send `auth_data` without a
/// `type` (the kind follows from the fields), its dashboard as a JSON string
/// holding the object, and `metadata` the same way: all are taken, on create
/// and on update, and the account they make serves requests.
async fn accounts_take_the_original_gateways_shapes(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let api = Api::new(&gw);
    let admin = api.admin().await;
    let client_key = gw.issue_key().await;

    // The original's API: `{"api_key": …}`.
    let first_key = format!("sk-{CANARY}-orig-0001");
    let body = json!({"provider_id": "openai", "label": "from-api",
                      "auth_data": {"api_key": first_key}});
    let resp = api.post("/api/v1/accounts", &admin, body).await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    let id = resp.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(resp.json()["auth_data"]["type"], "api_key");
    assert_eq!(resp.json()["auth_data"]["last4"], "0001");
    let resp = gw
        .post("/v1/chat/completions", &client_key, chat("gpt-4o"))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(gw.mock.count_for(&first_key), 1);

    // The original's dashboard: both fields as JSON strings.
    let dashboard_key = format!("sk-{CANARY}-dash-0002");
    let auth_text = json!({"api_key": dashboard_key}).to_string();
    let body = json!({"provider_id": "glm", "label": "from-dashboard",
                      "auth_data": auth_text, "metadata": "{\"team\":\"blue\"}"});
    let resp = api.post("/api/v1/accounts", &admin, body).await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    assert_eq!(resp.json()["auth_data"]["type"], "api_key");
    assert_eq!(resp.json()["metadata"], json!({"team": "blue"}));

    // An OAuth grant as the original's OAuth flow stores it, with an
    // RFC 3339 expiry carrying an offset, and fields it has no room for.
    let grant = json!({
        "access_token": format!("at-{CANARY}-7777"),
        "refresh_token": format!("rt-{CANARY}-6666"),
        "token_type": "Bearer",
        "expires_at": "2099-01-01T08:00:00+08:00",
        "expires_in": 3599,
        "id_token": format!("id-{CANARY}"),
        "account_id": "acct-1",
        "email": "someone@example.com"
    });
    let body = json!({"provider_id": "anthropic", "label": "grant", "auth_data": grant});
    let resp = api.post("/api/v1/accounts", &admin, body).await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    let summary = &resp.json()["auth_data"];
    assert_eq!(summary["type"], "oauth");
    assert_eq!(summary["has_refresh_token"], true);
    assert_eq!(summary["last4"], "7777");
    assert_eq!(summary["expires_at"], "2099-01-01T00:00:00Z");
    // The same as the dashboard's string, with the expiry in Unix seconds.
    let grant_text = json!({"access_token": format!("at-{CANARY}-5555"),
                            "refresh_token": format!("rt-{CANARY}-4444"),
                            "expires_at": 4070908800_i64})
    .to_string();
    let body = json!({"provider_id": "anthropic", "label": "grant-2", "auth_data": grant_text});
    let resp = api.post("/api/v1/accounts", &admin, body).await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    assert_eq!(
        resp.json()["auth_data"]["expires_at"],
        "2099-01-01T00:00:00Z"
    );

    // An update in the original's shape replaces the credential.
    let second_key = format!("sk-{CANARY}-orig-0003");
    let path = format!("/api/v1/accounts/{id}");
    let resp = api
        .put(&path, &admin, json!({"auth_data": {"api_key": second_key}}))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["auth_data"]["last4"], "0003");
    let resp = gw
        .post("/v1/chat/completions", &client_key, chat("gpt-4o"))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(gw.mock.count_for(&second_key), 1);
    assert_eq!(gw.mock.count_for(&first_key), 1);

    // Nothing fits: a 400 naming the accepted forms, quoting nothing.
    for auth_data in [
        json!({"secret": format!("x-{CANARY}")}),
        json!(format!("not json {CANARY}")),
        json!({"type": "magic", "api_key": format!("x-{CANARY}")}),
    ] {
        let body = json!({"provider_id": "openai", "label": "bad", "auth_data": auth_data});
        let resp = api.post("/api/v1/accounts", &admin, body).await;
        assert_eq!(resp.status, 400, "{}", resp.text());
        let error = resp.json()["error"].as_str().unwrap().to_owned();
        assert!(error.starts_with("auth_data: "), "{error}");
        assert!(
            error.contains("accepted forms") || error.contains("accepted types"),
            "{error}"
        );
    }
    let resp = api
        .put(&path, &admin, json!({"auth_data": {"nothing": "here"}}))
        .await;
    assert_eq!(resp.status, 400, "{}", resp.text());
    let checked = super::assert_logs_free_of_canary();
    assert!(checked > 0, "the log capture saw nothing");
}

async fn proxies_validate_assign_and_recalculate(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let api = Api::new(&gw);
    let admin = api.admin().await;
    for bad in ["ftp://h:1", "http://", "socks5://h:1/path", "not a url"] {
        let resp = api
            .post("/api/v1/proxies", &admin, json!({"url": bad}))
            .await;
        assert_eq!(resp.status, 422, "{bad}: {}", resp.text());
        assert!(resp.json()["error"].as_str().unwrap().starts_with("url:"));
    }
    let mismatch = json!({"url": "socks5://127.0.0.1:1080", "protocol": "http"});
    assert_eq!(
        api.post("/api/v1/proxies", &admin, mismatch).await.status,
        422
    );
    let resp = api
        .post(
            "/api/v1/proxies",
            &admin,
            json!({"url": format!("http://bob:{CANARY}@127.0.0.1:3128"), "max_accounts": 1}),
        )
        .await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    let proxy = resp.json();
    assert_eq!(proxy["url"], "http://bob:****@127.0.0.1:3128");
    assert_eq!(proxy["protocol"], "http");
    let pid = proxy["id"].as_i64().unwrap();
    let dup = json!({"url": format!("http://bob:{CANARY}@127.0.0.1:3128")});
    assert_eq!(api.post("/api/v1/proxies", &admin, dup).await.status, 409);

    let a = gw.add_api_key_account("openai", "sk-proxy-a").await;
    let b = gw.add_api_key_account("gemini", "sk-proxy-b").await;
    let assignments = api.get("/api/v1/proxies/assignments", &admin).await.json();
    assert_eq!(assignments["assignments"][pid.to_string()], json!([a]));
    assert_eq!(assignments["unassigned"], json!([b]));
    let gemini = api
        .get("/api/v1/proxies/assignments?provider=gemini", &admin)
        .await
        .json();
    assert_eq!(gemini["assignments"][pid.to_string()], json!([]));

    // Room for both after raising the limit, and a recalculation.
    let path = format!("/api/v1/proxies/{pid}");
    let resp = api.put(&path, &admin, json!({"max_accounts": 0})).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["priority"], 0, "omitted fields are unchanged");
    let resp = api
        .post("/api/v1/proxies/recalculate", &admin, json!({}))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let assignments = api.get("/api/v1/proxies/assignments", &admin).await.json();
    let mut carried: Vec<String> = assignments["assignments"][pid.to_string()]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    carried.sort();
    let mut both = vec![a.clone(), b.clone()];
    both.sort();
    assert_eq!(carried, both);
    assert_eq!(api.get(&path, &admin).await.json()["current_accounts"], 2);

    assert_eq!(api.delete(&path, &admin).await.status, 204);
    assert_eq!(api.get(&path, &admin).await.status, 404);
    assert_eq!(api.get("/api/v1/proxies/nope", &admin).await.status, 404);
}

async fn mappings_are_owned_and_routed(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let api = Api::new(&gw);
    let admin = api.admin().await;
    let (alice_id, alice) = api.user(&admin, "alice", "user").await;
    let (_, bob) = api.user(&admin, "bob", "user").await;
    gw.add_api_key_account("openai", "sk-mapping").await;
    let key_of = |token: String| {
        let api = &api;
        async move {
            let resp = api.post("/api/v1/api-keys", &token, json!({})).await;
            resp.json()["key"].as_str().unwrap().to_owned()
        }
    };
    let alice_key = key_of(alice.clone()).await;
    let bob_key = key_of(bob.clone()).await;

    let mine = json!({"alias": "my-fast", "provider_id": "openai", "model_name": "gpt-4o-mini"});
    let resp = api
        .post("/api/v1/model-mappings", &alice, mine.clone())
        .await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    assert!(resp.json()["owner_id"].is_string());
    // Aliases are per owner: bob holds `my-fast` too, without learning of
    // alice's; only alice's second one collides.
    let his = json!({"alias": "my-fast", "provider_id": "openai", "model_name": "gpt-4o"});
    let resp = api.post("/api/v1/model-mappings", &bob, his).await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    assert_eq!(
        api.post("/api/v1/model-mappings", &alice, mine)
            .await
            .status,
        409
    );
    let global =
        json!({"alias": "g", "provider_id": "openai", "model_name": "gpt-4o", "is_global": true});
    assert_eq!(
        api.post("/api/v1/model-mappings", &bob, global.clone())
            .await
            .status,
        403
    );
    let resp = api.post("/api/v1/model-mappings", &admin, global).await;
    assert_eq!(resp.status, 201);
    assert!(resp.json()["owner_id"].is_null());
    // A global `my-fast` does not displace the users' own.
    let shadowed = json!({"alias": "my-fast", "provider_id": "openai",
                          "model_name": "gpt-4-turbo", "is_global": true});
    assert_eq!(
        api.post("/api/v1/model-mappings", &admin, shadowed)
            .await
            .status,
        201
    );

    // Routing resolves the key owner's alias first, then the global one.
    let sent_model = || {
        let sent: Value = serde_json::from_slice(&gw.mock.last_request().unwrap().body).unwrap();
        sent["model"].as_str().unwrap().to_owned()
    };
    for (key, model) in [(&alice_key, "gpt-4o-mini"), (&bob_key, "gpt-4o")] {
        let resp = gw.post("/v1/chat/completions", key, chat("my-fast")).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(sent_model(), model);
    }
    assert_eq!(
        gw.post("/v1/chat/completions", &bob_key, chat("g"))
            .await
            .status,
        200
    );

    // On the API too: the caller's own, else the global; `?owner=` picks.
    let get = |path: String, token: String| {
        let api = &api;
        async move { api.get(&path, &token).await }
    };
    let resp = get("/api/v1/model-mappings/my-fast".into(), bob.clone()).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["model_name"], "gpt-4o");
    let resp = get("/api/v1/model-mappings/my-fast".into(), admin.clone()).await;
    assert_eq!(resp.json()["model_name"], "gpt-4-turbo");
    let resp = get(
        format!("/api/v1/model-mappings/my-fast?owner={alice_id}"),
        admin.clone(),
    )
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["model_name"], "gpt-4o-mini");
    let resp = get(
        format!("/api/v1/model-mappings/my-fast?owner={alice_id}"),
        bob.clone(),
    )
    .await;
    assert_eq!(resp.status, 404, "someone else's mapping is not found");
    let resp = get(
        "/api/v1/model-mappings/my-fast?owner=global".into(),
        bob.clone(),
    )
    .await;
    assert_eq!(resp.json()["model_name"], "gpt-4-turbo");
    let resp = get(
        "/api/v1/model-mappings/my-fast?owner=nobody".into(),
        bob.clone(),
    )
    .await;
    assert_eq!(resp.status, 400);
    // Besides the built-in global ones.
    let builtin = aigateway::services::runtime::ANTIGRAVITY_ALIASES.len();
    assert_eq!(
        api.get("/api/v1/model-mappings", &bob).await.json()["total"],
        3 + builtin
    );
    assert_eq!(
        api.get("/api/v1/model-mappings", &admin).await.json()["total"],
        4 + builtin
    );
    assert_eq!(
        api.put("/api/v1/model-mappings/g", &bob, json!({"priority": 5}))
            .await
            .status,
        403
    );

    // A partial update keeps the rest; disabling stops routing at once, and
    // the global alias serves alice again.
    let resp = api
        .put(
            "/api/v1/model-mappings/my-fast",
            &alice,
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["model_name"], "gpt-4o-mini");
    assert_eq!(resp.json()["enabled"], false);
    let resp = gw
        .post("/v1/chat/completions", &alice_key, chat("my-fast"))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(sent_model(), "gpt-4-turbo");

    let bad = api
        .post(
            "/api/v1/model-mappings",
            &alice,
            json!({"alias": "x", "provider_id": "nope", "model_name": "m"}),
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(
        api.delete(
            &format!("/api/v1/model-mappings/my-fast?owner={alice_id}"),
            &bob
        )
        .await
        .status,
        404
    );
    assert_eq!(
        api.delete("/api/v1/model-mappings/my-fast", &alice)
            .await
            .status,
        204
    );
    let resp = api.get("/api/v1/model-mappings/my-fast", &alice).await;
    assert_eq!(resp.json()["model_name"], "gpt-4-turbo", "the global one");
    let resp = get("/api/v1/model-mappings/my-fast".into(), bob.clone()).await;
    assert_eq!(resp.json()["model_name"], "gpt-4o", "bob's is untouched");
}

deployment_tests!(
    users_crud_and_errors,
    api_keys_are_shown_once_owned_and_revoked,
    access_keys_are_regenerated_and_masked,
    providers_list_create_update_delete,
    accounts_are_owned_validated_masked_and_used,
    accounts_take_the_original_gateways_shapes,
    proxies_validate_assign_and_recalculate,
    mappings_are_owned_and_routed,
);
