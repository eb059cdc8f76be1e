//! Every bad input gets its documented status and an error in the client's
//! own format, and nothing reaches the upstream.

use http::Method;

use crate::support::{Deployment, Resp, TestGateway};

const PATHS: [&str; 2] = ["/v1/chat/completions", "/v1/messages"];

/// Checks the error shape of `path`'s client format and returns the error type.
fn error_type(path: &str, resp: &Resp) -> String {
    let body = resp.json();
    assert_eq!(
        resp.headers["content-type"], "application/json",
        "{path}: {body}"
    );
    if path == "/v1/messages" {
        assert_eq!(body["type"], "error", "{path}: {body}");
        assert!(body["error"]["message"].is_string(), "{path}: {body}");
        body["error"]["type"].as_str().unwrap().to_owned()
    } else {
        assert!(body["error"]["message"].is_string(), "{path}: {body}");
        body["error"]["type"].as_str().unwrap().to_owned()
    }
}

async fn send(gw: &TestGateway, path: &str, key: &str, body: &str) -> Resp {
    let auth = format!("Bearer {key}");
    let headers: Vec<(&str, &str)> = if path == "/v1/messages" {
        vec![("x-api-key", key)]
    } else {
        vec![("authorization", &auth)]
    };
    gw.request(Method::POST, path, &headers, body.to_owned())
        .await
}

async fn bad_input_gets_documented_status_and_shape(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_api_key_account("openai", "ok-account").await;
    for path in PATHS {
        let valid_extra = if path == "/v1/messages" {
            r#","max_tokens":16"#
        } else {
            ""
        };
        // Invalid JSON.
        let resp = send(&gw, path, &key, "{not json").await;
        assert_eq!(resp.status, 400, "{path}");
        assert_eq!(
            error_type(path, &resp),
            "invalid_request_error",
            "{path}: {}",
            resp.text()
        );
        // Missing model: the message names the field.
        let resp = send(
            &gw,
            path,
            &key,
            &format!(r#"{{"messages":[{{"role":"user","content":"x"}}]{valid_extra}}}"#),
        )
        .await;
        assert_eq!(resp.status, 400, "{path}");
        error_type(path, &resp);
        assert!(resp.text().contains("model"), "{path}: {}", resp.text());
        // Wrong type.
        let resp = send(
            &gw,
            path,
            &key,
            &format!(r#"{{"model":"gpt-4o","messages":"nope"{valid_extra}}}"#),
        )
        .await;
        assert_eq!(resp.status, 400, "{path}");
        assert!(resp.text().contains("messages"), "{path}: {}", resp.text());
        // Unknown model.
        let resp = send(
            &gw,
            path,
            &key,
            &format!(
                r#"{{"model":"no-such-model","messages":[{{"role":"user","content":"x"}}]{valid_extra}}}"#
            ),
        )
        .await;
        assert_eq!(resp.status, 404, "{path}");
        assert_eq!(
            error_type(path, &resp),
            if path == "/v1/messages" {
                "not_found_error"
            } else {
                "invalid_request_error"
            }
        );
        if path != "/v1/messages" {
            assert_eq!(resp.json()["error"]["code"], "model_not_found");
        }
        // Routed, but the provider has no account.
        let resp = send(
            &gw,
            path,
            &key,
            &format!(
                r#"{{"model":"claude-sonnet-4-5","messages":[{{"role":"user","content":"x"}}]{valid_extra}}}"#
            ),
        )
        .await;
        assert_eq!(resp.status, 503, "{path}: {}", resp.text());
        error_type(path, &resp);
        // Missing and wrong client keys.
        let resp = gw
            .request(Method::POST, path, &[], r#"{"model":"gpt-4o"}"#)
            .await;
        assert_eq!(resp.status, 401, "{path}");
        assert_eq!(error_type(path, &resp), "authentication_error", "{path}");
        let resp = send(&gw, path, "ak_wrong", r#"{"model":"gpt-4o"}"#).await;
        assert_eq!(resp.status, 401, "{path}");
        // Over the body limit (1 MiB in the harness), declared and undeclared.
        let big = format!(
            r#"{{"model":"gpt-4o","messages":[{{"role":"user","content":"{}"}}]}}"#,
            "x".repeat(2 * 1024 * 1024)
        );
        // The gateway answers 413 from the declared length and reads the
        // rest of the body only to discard it, so the client still writing
        // it reads the answer; nothing goes upstream.
        let resp = gw
            .try_post_raw(path, &key, big)
            .await
            .expect("the 413 reaches a client still writing its body");
        assert_eq!(resp.status, 413, "{path}");
        error_type(path, &resp);
    }
    assert_eq!(
        gw.mock.total_requests(),
        0,
        "bad input must not reach the upstream"
    );
    gw.stop().await;
}

async fn revoked_key_is_refused(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_api_key_account("openai", "acct").await;
    let body = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}"#;
    assert_eq!(
        send(&gw, "/v1/chat/completions", &key, body).await.status,
        200
    );
    let repo = gw.runtime.repository();
    let hash = aigateway::services::admin::key_hash(&key);
    let stored = repo.get_api_key_by_hash(&hash).await.unwrap();
    repo.update_api_key(
        stored.id,
        &aigateway::domain::ApiKeyPatch {
            is_active: Some(false),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    gw.runtime.reload().await.unwrap();
    assert_eq!(
        send(&gw, "/v1/chat/completions", &key, body).await.status,
        401
    );
}

async fn models_lists_served_models_in_openai_shape(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    let auth = format!("Bearer {key}");
    let resp = gw
        .request(Method::GET, "/v1/models", &[("authorization", &auth)], "")
        .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["object"], "list");
    assert_eq!(resp.json()["data"].as_array().unwrap().len(), 0);
    gw.add_api_key_account("openai", "acct").await;
    let resp = gw
        .request(Method::GET, "/v1/models", &[("authorization", &auth)], "")
        .await;
    let data = resp.json()["data"].as_array().unwrap().clone();
    assert!(
        data.iter()
            .any(|m| m["id"] == "gpt-4o" && m["owned_by"] == "openai")
    );
    assert!(data.iter().all(|m| m["object"] == "model"));
    let resp = gw.request(Method::GET, "/v1/models", &[], "").await;
    assert_eq!(resp.status, 401);
}

async fn health_reports_the_deployment(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let resp = gw.request(Method::GET, "/health", &[], "").await;
    assert_eq!(resp.status, 200);
    let body = resp.json();
    assert_eq!(body["status"], "ok");
    let expected = match d {
        Deployment::Embedded => "sqlite",
        Deployment::ScaleOut => "postgres",
    };
    assert_eq!(body["database"], expected);
}

async fn metrics_count_requests_failovers_and_gauges(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_api_key_account("openai", "m-a").await;
    gw.add_api_key_account("openai", "m-b").await;
    gw.mock
        .set_fault("m-a", aigw_mock_upstream::Fault::server_error());
    let body = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}"#;
    for _ in 0..3 {
        assert_eq!(
            send(&gw, "/v1/chat/completions", &key, body).await.status,
            200
        );
    }
    let resp = gw.request(Method::GET, "/metrics", &[], "").await;
    assert_eq!(resp.status, 200);
    assert!(
        resp.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = resp.text();
    assert!(
        text.contains(r#"aigw_requests_total{provider="openai",model="gpt-4o",status_class="2xx",client_format="openai"} 3"#),
        "{text}"
    );
    assert!(
        text.contains(r#"aigw_failovers_total{reason="server_error"} 1"#),
        "{text}"
    );
    assert!(
        text.contains("aigw_upstream_ttfb_seconds_count{provider=\"openai\"} 4"),
        "{text}"
    );
    assert!(
        text.contains("aigw_shared_state_fallback_active 0"),
        "{text}"
    );
}

async fn unknown_paths_and_methods_under_v1_answer_in_the_client_format(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    let auth = format!("Bearer {key}");
    // (method, path, anthropic-version?, status, Allow, shape of path)
    let cases = [
        (
            Method::GET,
            "/v1/nope",
            false,
            404,
            None,
            "/v1/chat/completions",
        ),
        (
            Method::POST,
            "/v1",
            false,
            404,
            None,
            "/v1/chat/completions",
        ),
        (
            Method::GET,
            "/v1/responses",
            false,
            405,
            Some("POST"),
            "/v1/chat/completions",
        ),
        (
            Method::POST,
            "/v1/messages/batches",
            false,
            404,
            None,
            "/v1/messages",
        ),
        (Method::GET, "/v1/nope", true, 404, None, "/v1/messages"),
        (
            Method::GET,
            "/v1/chat/completions",
            false,
            405,
            Some("POST"),
            "/v1/chat/completions",
        ),
        (
            Method::GET,
            "/v1/messages",
            false,
            405,
            Some("POST"),
            "/v1/messages",
        ),
        (
            Method::POST,
            "/v1/models",
            false,
            405,
            Some("GET"),
            "/v1/chat/completions",
        ),
        (
            Method::DELETE,
            "/v1/models",
            true,
            405,
            Some("GET"),
            "/v1/messages",
        ),
    ];
    for (method, path, anthropic, status, allow, shape) in cases {
        let mut headers = vec![("authorization", auth.as_str())];
        if anthropic {
            headers.push(("anthropic-version", "2023-06-01"));
        }
        let resp = gw.request(method.clone(), path, &headers, "{}").await;
        assert_eq!(resp.status, status, "{method} {path}: {}", resp.text());
        let ty = error_type(shape, &resp);
        let expected = if status == 404 {
            "not_found_error"
        } else {
            "invalid_request_error"
        };
        assert_eq!(ty, expected, "{method} {path}: {}", resp.text());
        if shape == "/v1/chat/completions" {
            assert!(resp.json().get("type").is_none(), "{method} {path}");
        }
        assert_eq!(
            resp.headers.get("allow").map(|v| v.to_str().unwrap()),
            allow,
            "{method} {path}"
        );
    }
    // Outside /v1 the management shape stays.
    let resp = gw.request(Method::GET, "/nope", &[], "").await;
    assert_eq!(resp.status, 404);
    assert_eq!(resp.json()["error"], "not found");
    assert_eq!(gw.mock.total_requests(), 0);
}

async fn wrong_types_name_the_field_translated_or_forwarded(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_api_key_account("openai", "types-openai").await;
    gw.add_api_key_account("anthropic", "types-anthropic").await;
    for path in PATHS {
        // One upstream of the client's own format (forwarded), one not.
        for model in ["gpt-4o", "claude-sonnet-4-5"] {
            let body = format!(
                r#"{{"model":"{model}","max_tokens":16,"messages":[{{"role":7,"content":"x"}}]}}"#
            );
            let resp = send(&gw, path, &key, &body).await;
            assert_eq!(resp.status, 400, "{path} {model}: {}", resp.text());
            assert_eq!(error_type(path, &resp), "invalid_request_error");
            let message = resp.json()["error"]["message"].as_str().unwrap().to_owned();
            assert!(
                message.contains("`messages[0].role`")
                    && message.contains("expected a string")
                    && !message.contains("malformed JSON"),
                "{path} {model}: {message}"
            );
        }
    }
    // A field inside a content block of a translated body.
    let body = r#"{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":[{"type":"text","text":7}]}]}"#;
    let resp = send(&gw, "/v1/chat/completions", &key, body).await;
    assert_eq!(resp.status, 400, "{}", resp.text());
    let message = resp.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("`messages[0].content[0].text`") && message.contains("expected a string"),
        "{message}"
    );
    assert_eq!(gw.mock.total_requests(), 0);
}

deployment_tests!(
    unknown_paths_and_methods_under_v1_answer_in_the_client_format,
    wrong_types_name_the_field_translated_or_forwarded,
    metrics_count_requests_failovers_and_gauges,
    bad_input_gets_documented_status_and_shape,
    revoked_key_is_refused,
    models_lists_served_models_in_openai_shape,
    health_reports_the_deployment,
);
