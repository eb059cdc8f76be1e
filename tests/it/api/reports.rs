//! Stats, request logs, the error log, account health and the quota view,
//! after real traffic: the numbers add up, filters and caps hold, bad
//! parameters get a 400 naming them, unknown ids a 404, and owners see only
//! their own accounts.

use std::time::{Duration, Instant};

use aigateway::repository::state::ErrorLogEntry;
use aigw_mock_upstream::Fault;
use serde_json::{Value, json};

use super::Api;
use crate::support::{Deployment, TestGateway};

fn chat() -> Value {
    json!({"model": "gpt-4o", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]})
}

/// Polls `GET path` until `done` holds for its JSON, within 10 s.
async fn poll(api: &Api<'_>, path: &str, token: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let resp = api.get(path, token).await;
        assert_eq!(resp.status, 200, "{path}: {}", resp.text());
        let body = resp.json();
        if done(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{path} never got there: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn error_of(api: &Api<'_>, path: &str, token: &str) -> (u16, String) {
    let resp = api.get(path, token).await;
    let status = resp.status.as_u16();
    (
        status,
        resp.json()["error"].as_str().unwrap_or_default().to_owned(),
    )
}

async fn stats_logs_health_and_quota_after_traffic(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let api = Api::new(&gw);
    let admin = api.admin().await;
    let (_, provider_user) = api.user(&admin, "reports-provider", "provider").await;
    let account = gw.add_api_key_account("openai", "sk-reports").await;
    let key = gw.issue_key().await;
    assert_eq!(
        gw.post("/v1/chat/completions", &key, chat()).await.status,
        200
    );
    assert_eq!(
        gw.post("/v1/chat/completions", &key, chat()).await.status,
        200
    );
    gw.mock
        .set_fault("sk-reports", Fault::rate_limited(600).once());
    assert_eq!(
        gw.post("/v1/chat/completions", &key, chat()).await.status,
        429
    );

    // Request logs: written by the stats pipeline, newest first.
    let logs = poll(&api, "/api/v1/logs", &admin, |b| b["total"] == 3).await;
    assert_eq!(logs["data"][0]["status_code"], 429, "newest first");
    assert_eq!(logs["limit"], 100);
    let page = api
        .get("/api/v1/logs?limit=100000&offset=1", &admin)
        .await
        .json();
    assert_eq!(
        (page["limit"].as_i64(), page["offset"].as_i64()),
        (Some(500), Some(1))
    );
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    let client_errors = api.get("/api/v1/logs?status=4xx", &admin).await.json();
    assert_eq!(client_errors["total"], 1);
    let ok_only = api
        .get(
            &format!(
                "/api/v1/logs?status=200&account_id={account}&provider_id=openai&model=gpt-4o"
            ),
            &admin,
        )
        .await
        .json();
    assert_eq!(ok_only["total"], 2);
    let future = api
        .get("/api/v1/logs?from=2999-01-01T00:00:00Z", &admin)
        .await
        .json();
    assert_eq!(future["total"], 0);
    assert_eq!(
        error_of(&api, "/api/v1/logs?status=teapot", &admin).await,
        (
            400,
            "status: must be a status code or a class like 4xx".to_owned()
        )
    );
    assert_eq!(
        error_of(&api, "/api/v1/logs?from=yesterday", &admin).await,
        (400, "from: must be an RFC 3339 time".to_owned())
    );
    assert_eq!(error_of(&api, "/api/v1/logs?limit=0", &admin).await.0, 400);

    // Stats per model and per account.
    let models = api.get("/api/v1/stats/models?days=7", &admin).await.json();
    assert_eq!(models["days"], 7);
    let row = &models["data"][0];
    assert_eq!(
        (row["provider_id"].as_str(), row["model"].as_str()),
        (Some("openai"), Some("gpt-4o"))
    );
    assert_eq!(
        (row["requests"].as_i64(), row["errors"].as_i64()),
        (Some(3), Some(1))
    );
    assert!(row["avg_latency_ms"].is_number());
    assert_eq!(
        api.get("/api/v1/stats/models?days=100000", &admin)
            .await
            .json()["days"],
        90
    );
    assert_eq!(
        error_of(&api, "/api/v1/stats/models?days=0", &admin)
            .await
            .0,
        400
    );
    assert_eq!(
        error_of(&api, "/api/v1/stats/models?dayz=1", &admin)
            .await
            .0,
        400
    );
    let accounts = api.get("/api/v1/stats/accounts", &admin).await.json();
    assert_eq!(accounts["data"][0]["account_id"], account.as_str());
    assert_eq!(accounts["data"][0]["label"], "sk-reports");
    assert_eq!(accounts["data"][0]["requests"], 3);
    let theirs = api.get("/api/v1/stats/accounts", &provider_user).await;
    assert_eq!(theirs.status, 200);
    assert_eq!(theirs.json()["data"], json!([]), "not their account");

    // Proxy stats: 404 for an unknown proxy, an empty window for a new one.
    assert_eq!(
        error_of(&api, "/api/v1/stats/proxies/999999", &admin)
            .await
            .0,
        404
    );
    let proxy = api
        .post(
            "/api/v1/proxies",
            &admin,
            json!({"url": "http://127.0.0.1:9"}),
        )
        .await;
    assert_eq!(proxy.status, 201, "{}", proxy.text());
    let proxy_id = proxy.json()["id"].as_i64().unwrap();
    let stats = api
        .get(&format!("/api/v1/stats/proxies/{proxy_id}?days=3"), &admin)
        .await
        .json();
    assert_eq!(
        (stats["proxy_id"].as_i64(), stats["days"].as_i64()),
        (Some(proxy_id), Some(3))
    );
    assert_eq!(stats["stats"], json!([]));

    // Health: the 429 put the account in a cooldown this instance reports.
    let health = api
        .get(&format!("/api/v1/auth-manager/accounts/{account}"), &admin)
        .await
        .json();
    let cooldowns = health["cooldowns"].as_array().unwrap();
    assert_eq!(cooldowns.len(), 1, "{health}");
    assert_eq!(cooldowns[0]["reason"], "rate_limited");
    assert!(cooldowns[0]["until"].is_string());
    assert_eq!(health["model_states"]["gpt-4o"]["is_blocked"], true);
    let all = api
        .get("/api/v1/auth-manager/accounts", &admin)
        .await
        .json();
    assert_eq!(all["total"], 1);
    let summary = api.get("/api/v1/auth-manager/health", &admin).await.json();
    assert_eq!(summary["total"], 1);
    assert!(summary["provider_stats"]["openai"].is_object());
    assert_eq!(
        error_of(
            &api,
            "/api/v1/auth-manager/accounts/00000000-0000-0000-0000-000000000000",
            &admin
        )
        .await
        .0,
        404
    );
    assert_eq!(
        api.get(
            &format!("/api/v1/accounts/{account}/health"),
            &provider_user
        )
        .await
        .status,
        404,
        "someone else's account"
    );

    // Quota: the cooling-down model is exhausted on the one account; never negative.
    let quota = api
        .get("/api/v1/quota/providers/openai/summary", &admin)
        .await
        .json();
    assert_eq!(quota["total_accounts"], 1);
    assert_eq!(quota["models"]["gpt-4o"]["exhausted"], 1);
    assert_eq!(quota["models"]["gpt-4o"]["available"], 0);
    assert_eq!(quota["models"]["gpt-4.1"]["available"], 1);
    assert!(quota["health"].is_string());
    assert_eq!(
        error_of(
            &api,
            "/api/v1/quota/providers/no-such-provider/summary",
            &admin
        )
        .await
        .0,
        404
    );
    let per_account = api
        .get(&format!("/api/v1/quota/accounts/{account}"), &admin)
        .await
        .json();
    assert_eq!(per_account["models"]["gpt-4o"]["requests_today"], 3);
    assert_eq!(per_account["models"]["gpt-4o"]["is_exhausted"], true);
    let listed = api
        .get("/api/v1/quota/accounts?provider_id=openai", &admin)
        .await
        .json();
    assert_eq!(listed["accounts"].as_array().unwrap().len(), 1);
}

async fn error_log_list_range_and_cleanup(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let api = Api::new(&gw);
    let admin = api.admin().await;
    let state = gw.runtime.admin().gateway().state().clone();
    let old = chrono::Utc::now() - chrono::Duration::hours(30);
    state
        .error_log_append(&ErrorLogEntry::new("oauth", "refresh_token", "old failure").at(old))
        .await
        .unwrap();
    state
        .error_log_append(&ErrorLogEntry::new("oauth", "refresh_token", "new failure"))
        .await
        .unwrap();

    let list = api.get("/api/v1/logs/errors", &admin).await.json();
    assert_eq!(list["total"], 2);
    assert_eq!(list["logs"][0]["message"], "new failure", "newest first");
    let recent = api.get("/api/v1/logs/errors/range", &admin).await.json();
    assert_eq!(
        recent["logs"].as_array().unwrap().len(),
        1,
        "the last 24 hours"
    );
    assert!(recent["from"].is_string() && recent["to"].is_string());
    let from =
        (old - chrono::Duration::minutes(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let wide = api
        .get(
            &format!("/api/v1/logs/errors/range?from={from}&limit=1"),
            &admin,
        )
        .await
        .json();
    assert_eq!(wide["logs"].as_array().unwrap().len(), 1, "the limit holds");
    assert_eq!(
        error_of(&api, "/api/v1/logs/errors/range?from=last-week", &admin).await,
        (400, "from: must be an RFC 3339 time".to_owned())
    );
    assert_eq!(
        error_of(&api, "/api/v1/logs/errors/range?to=soon", &admin).await,
        (400, "to: must be an RFC 3339 time".to_owned())
    );
    assert_eq!(
        error_of(
            &api,
            "/api/v1/logs/errors/range?from=2025-02-01T00:00:00Z&to=2025-01-01T00:00:00Z",
            &admin
        )
        .await,
        (400, "from: must not be after to".to_owned())
    );

    let cleaned = api
        .post("/api/v1/logs/errors/cleanup", &admin, json!({}))
        .await;
    assert_eq!(cleaned.status, 200);
    assert_eq!(cleaned.json()["removed"], 1);
    assert_eq!(
        api.get("/api/v1/logs/errors", &admin).await.json()["total"],
        1
    );
}

deployment_tests!(
    stats_logs_health_and_quota_after_traffic,
    error_log_list_range_and_cleanup,
);
