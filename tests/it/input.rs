//! Input the gateway does not trust: model names that would change an
//! upstream URL, oversized names, names that must not become metric labels
//! or shared keys of their own, and upstream error text that echoes the
//! account's credential.

use aigateway::domain::{Page, RequestLogFilter};
use aigw_mock_upstream::{Endpoint, Fault};
use http::{Method, StatusCode};
use serde_json::json;

use crate::support::{Deployment, TestGateway};

async fn a_gemini_model_name_cannot_change_the_upstream_url(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_api_key_account("gemini", "gem-url").await;
    let names = [
        ("gemini-x#frag", "gemini-x%23frag"),
        (
            "gemini-x?key=injected&a=",
            "gemini-x%3Fkey%3Dinjected%26a%3D",
        ),
        (
            "gemini-x/../../../files?pageSize=1&",
            "gemini-x%2F..%2F..%2F..%2Ffiles%3FpageSize%3D1%26",
        ),
        ("gemini-x%3F", "gemini-x%253F"),
    ];
    for stream in [false, true] {
        for (model, encoded) in names {
            gw.mock.clear();
            let resp = gw
                .post(
                    "/v1/chat/completions",
                    &key,
                    json!({"model": model, "stream": stream,
                           "messages": [{"role": "user", "content": "hi"}]}),
                )
                .await;
            let seen = gw.mock.requests();
            assert_eq!(seen.len(), 1, "{model}: {}", resp.text());
            let req = &seen[0];
            let action = if stream {
                "streamGenerateContent"
            } else {
                "generateContent"
            };
            assert_eq!(
                req.path,
                format!("/v1beta/models/{encoded}:{action}"),
                "{model}"
            );
            let expected_query = stream.then_some("alt=sse");
            assert_eq!(req.query.as_deref(), expected_query, "{model}");
            let endpoint = if stream {
                Endpoint::GeminiStream
            } else {
                Endpoint::GeminiGenerate
            };
            assert_eq!(req.endpoint, endpoint, "{model}");
            assert_eq!(req.account_key.as_deref(), Some("gem-url"), "{model}");
        }
    }
    gw.stop().await;
}

async fn an_oversized_model_name_is_refused_naming_the_field(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_api_key_account("openai", "long-names").await;
    let model = format!("gpt-{}", "x".repeat(10 * 1024));
    for path in ["/v1/chat/completions", "/v1/messages"] {
        let resp = gw
            .post(
                path,
                &key,
                json!({"model": model, "max_tokens": 8,
                       "messages": [{"role": "user", "content": "hi"}]}),
            )
            .await;
        assert_eq!(resp.status, 400, "{path}: {}", resp.text());
        let body = resp.json();
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("`model`"), "{path}: {message}");
        assert!(message.contains("256 bytes"), "{path}: {message}");
        assert!(
            !message.contains(&model[..300]),
            "{path}: the name is echoed"
        );
        if path == "/v1/messages" {
            assert_eq!(body["type"], "error");
            assert_eq!(body["error"]["type"], "invalid_request_error");
        } else {
            assert_eq!(body["error"]["param"], "model");
        }
    }
    assert_eq!(gw.mock.total_requests(), 0);
    let flushed = gw.stop_and_flush().await;
    let logs = flushed
        .repo
        .list_request_logs(
            &RequestLogFilter::default(),
            Page {
                limit: 10,
                offset: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!(logs.total, 2, "both refusals are logged");
    assert!(
        logs.data
            .iter()
            .all(|l| l.model.as_ref().is_none_or(|m| m.len() <= 256)),
        "a request log kept a model name longer than the bound"
    );
}

async fn client_chosen_model_names_share_metrics_and_counters(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_api_key_account("openai", "many-names").await;
    let n = 20;
    for i in 0..n {
        // Routed by the `gpt-` prefix, but no provider lists it.
        let resp = gw
            .post(
                "/v1/chat/completions",
                &key,
                json!({"model": format!("gpt-zz-{i}"),
                       "messages": [{"role": "user", "content": "hi"}]}),
            )
            .await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        // Routed nowhere.
        let resp = gw
            .post(
                "/v1/chat/completions",
                &key,
                json!({"model": format!("nowhere-{i}"),
                       "messages": [{"role": "user", "content": "hi"}]}),
            )
            .await;
        assert_eq!(resp.status, 404, "{}", resp.text());
    }
    // A listed model keeps its own label.
    let resp = gw
        .post(
            "/v1/chat/completions",
            &key,
            json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());

    let text = gw.request(Method::GET, "/metrics", &[], "").await.text();
    assert!(!text.contains("gpt-zz-"), "{text}");
    assert!(!text.contains("nowhere-"), "{text}");
    assert!(
        text.contains(&format!(
            r#"aigw_requests_total{{provider="openai",model="other",status_class="2xx",client_format="openai"}} {n}"#
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            r#"aigw_requests_total{{provider="none",model="other",status_class="4xx",client_format="openai"}} {n}"#
        )),
        "{text}"
    );
    assert!(
        text.contains(r#"aigw_requests_total{provider="openai",model="gpt-4o",status_class="2xx",client_format="openai"} 1"#),
        "{text}"
    );

    // The unlisted names shared the provider's one counter; none got its own.
    let state = gw.runtime.gateway().state();
    assert_eq!(state.incr("rr:openai").await.unwrap(), n + 1);
    assert_eq!(state.incr("rr:openai:gpt-zz-0").await.unwrap(), 1);
    assert_eq!(state.incr("rr:openai:gpt-4o").await.unwrap(), 2);
    gw.stop().await;
}

/// Whether `text` holds any run of 8 bytes of `secret`.
fn leaks(text: &str, secret: &str) -> bool {
    secret
        .as_bytes()
        .windows(8)
        .any(|w| text.as_bytes().windows(8).any(|t| t == w))
}

async fn upstream_error_text_never_carries_the_accounts_credential(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    let openai_key = "sk-proj-Zq8Xv2Lm9Rt4Wn6Yb1Kc3Hd5";
    let anthropic_key = "sk-ant-api03-Pf7Gj2Qs9Ux4Ve6Na1Mb8Tc";
    gw.add_api_key_account("openai", openai_key).await;
    gw.add_api_key_account("anthropic", anthropic_key).await;
    let openai_echo = format!(
        r#"{{"error":{{"message":"Incorrect API key provided: Bearer {openai_key}. Or was it {}?","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}}}"#,
        &openai_key[4..20]
    );
    let anthropic_echo = format!(
        r#"{{"type":"error","error":{{"type":"invalid_request_error","message":"bad header x-api-key: {anthropic_key}"}}}}"#
    );
    let chat = |model: &str| {
        json!({"model": model, "max_tokens": 16,
               "messages": [{"role": "user", "content": "hi"}]})
    };
    // A 400 is the request's fault and goes back, with the key hidden,
    // forwarded verbatim or translated.
    gw.mock.set_fault(
        openai_key,
        Fault::status_with_body(StatusCode::BAD_REQUEST, openai_echo.clone()),
    );
    gw.mock.set_fault(
        anthropic_key,
        Fault::status_with_body(StatusCode::BAD_REQUEST, anthropic_echo.clone()),
    );
    for path in ["/v1/chat/completions", "/v1/messages"] {
        for (model, secret) in [("gpt-4o", openai_key), ("claude-sonnet-4-5", anthropic_key)] {
            let resp = gw.post(path, &key, chat(model)).await;
            assert_eq!(resp.status, 400, "{path} {model}: {}", resp.text());
            let text = resp.text();
            assert!(!leaks(&text, secret), "{path} {model}: {text}");
            assert!(text.contains("[redacted]"), "{path} {model}: {text}");
            let message = resp.json()["error"]["message"].as_str().unwrap().to_owned();
            assert!(
                message.contains("Incorrect API key") || message.contains("bad header"),
                "{path} {model}: the rest of the message is kept: {message}"
            );
        }
    }
    // A refused credential is the gateway's concern: a generic error, in
    // either format, whatever the upstream said.
    gw.mock.set_fault(
        openai_key,
        Fault::status_with_body(StatusCode::UNAUTHORIZED, openai_echo),
    );
    gw.mock.set_fault(
        anthropic_key,
        Fault::status_with_body(StatusCode::FORBIDDEN, anthropic_echo),
    );
    for (path, model, secret) in [
        ("/v1/chat/completions", "gpt-4o", openai_key),
        ("/v1/messages", "claude-sonnet-4-5", anthropic_key),
    ] {
        let resp = gw.post(path, &key, chat(model)).await;
        assert_eq!(resp.status, 502, "{path}: {}", resp.text());
        let text = resp.text();
        assert!(!leaks(&text, secret), "{path}: {text}");
        assert!(
            !text.contains("Incorrect API key") && !text.contains("bad header"),
            "{path}: {text}"
        );
        assert!(
            text.contains("could not be authenticated"),
            "{path}: {text}"
        );
        if path == "/v1/messages" {
            assert_eq!(resp.json()["type"], "error");
            assert_eq!(resp.json()["error"]["type"], "api_error");
        } else {
            assert_eq!(resp.json()["error"]["type"], "server_error");
        }
    }
    let flushed = gw.stop_and_flush().await;
    let logs = flushed
        .repo
        .list_request_logs(
            &RequestLogFilter::default(),
            Page {
                limit: 100,
                offset: 0,
            },
        )
        .await
        .unwrap();
    assert!(logs.total >= 6, "{}", logs.total);
    for log in &logs.data {
        let message = log.error_message.as_deref().unwrap_or_default();
        assert!(
            !leaks(message, openai_key) && !leaks(message, anthropic_key),
            "{message}"
        );
    }
}

/// An error event that arrives after the first byte of a stream has gone to
/// the client is passed on with the account's credential hidden, forwarded
/// as it came or translated.
async fn a_mid_stream_error_event_never_carries_the_accounts_credential(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    let anthropic_key = "sk-ant-api03-Hm4Rw8Zt2Lq6Xc9Vb3Nd7Pj";
    gw.add_api_key_account("anthropic", anthropic_key).await;
    let event = format!(
        "event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"overloaded_error\",\"message\":\"key {anthropic_key} is overloaded\"}}}}\n\n"
    );
    gw.mock.set_fault(
        anthropic_key,
        // Just before the last event: the text has reached the client in
        // every format by then.
        Fault::StreamRawEvent {
            after_events: usize::MAX,
            event: event.into(),
        },
    );
    let body = json!({"model": "claude-sonnet-4-5", "max_tokens": 16, "stream": true,
                      "messages": [{"role": "user", "content": "hi"}]});
    for path in ["/v1/messages", "/v1/chat/completions"] {
        let resp = gw.post(path, &key, body.clone()).await;
        assert_eq!(resp.status, 200, "{path}: {}", resp.text());
        let text = resp.text();
        assert!(
            text.contains("is overloaded"),
            "{path}: the error event arrives: {text}"
        );
        assert!(!leaks(&text, anthropic_key), "{path}: {text}");
        assert!(text.contains("[redacted]"), "{path}: {text}");
    }
    gw.stop().await;
}

deployment_tests!(
    upstream_error_text_never_carries_the_accounts_credential,
    a_mid_stream_error_event_never_carries_the_accounts_credential,
    a_gemini_model_name_cannot_change_the_upstream_url,
    an_oversized_model_name_is_refused_naming_the_field,
    client_chosen_model_names_share_metrics_and_counters,
);
