//! `POST /v1/messages/count_tokens`, as Claude Code calls it on every turn:
//! the upstream's own count where it has a counter (Anthropic, Gemini), the
//! gateway's tokenizer count elsewhere, each saying which in
//! `x-aigateway-token-count`; and Anthropic's model list.

use aigw_mock_upstream::Endpoint;
use http::Method;
use serde_json::json;

use crate::claude_code::{add_oauth_account, claude_code_body};
use crate::support::{Deployment, Resp, TestGateway};

const COUNT: &str = "/v1/messages/count_tokens";

/// A count body in Claude Code's shape: its turn without `max_tokens` and
/// `stream`.
fn count_body(model: &str) -> serde_json::Value {
    let mut body = claude_code_body(model, false);
    let top = body.as_object_mut().unwrap();
    top.remove("max_tokens");
    top.remove("stream");
    body
}

async fn count(gw: &TestGateway, key: &str, body: &serde_json::Value) -> Resp {
    let headers = [
        ("x-api-key", key),
        ("content-type", "application/json"),
        ("anthropic-version", "2023-06-01"),
        (
            "anthropic-beta",
            "claude-code-20250219,token-counting-2024-11-01",
        ),
    ];
    gw.request(Method::POST, COUNT, &headers, body.to_string())
        .await
}

fn counted_by(resp: &Resp) -> &str {
    resp.headers
        .get("x-aigateway-token-count")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

async fn anthropic_upstream_counts_the_body_as_sent_with_the_clients_betas(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_api_key_account("anthropic", "ct-anthropic").await;
    let body = count_body("claude-sonnet-4-5");
    let resp = count(&gw, &key, &body).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(counted_by(&resp), "exact");
    let sent = gw.mock.requests_to(Endpoint::AnthropicCountTokens);
    assert_eq!(sent.len(), 1);
    let sent = &sent[0];
    // The body goes as it came; the mock counts a quarter of its bytes.
    assert_eq!(sent.body, body.to_string().as_bytes());
    assert_eq!(resp.json(), json!({"input_tokens": sent.body.len() / 4}));
    assert_eq!(
        sent.headers["anthropic-beta"],
        "claude-code-20250219,token-counting-2024-11-01"
    );
    assert_eq!(sent.headers["anthropic-version"], "2023-06-01");
    assert_eq!(gw.mock.requests_to(Endpoint::AnthropicMessages).len(), 0);
}

async fn gemini_upstream_counts_the_translated_request(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_api_key_account("gemini", "ct-gemini").await;
    let resp = count(&gw, &key, &count_body("gemini-1.5-flash")).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(counted_by(&resp), "exact");
    let sent = gw.mock.requests_to(Endpoint::GeminiCountTokens);
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0]
            .path
            .ends_with("/models/gemini-1.5-flash:countTokens")
    );
    assert_eq!(resp.json(), json!({"input_tokens": sent[0].body.len() / 4}));
    // The whole request is counted: system instruction and tools too.
    let counted: serde_json::Value = serde_json::from_slice(&sent[0].body).unwrap();
    let request = &counted["generateContentRequest"];
    assert_eq!(request["model"], "models/gemini-1.5-flash");
    assert_eq!(
        request["contents"][0]["parts"][2]["text"],
        "Summarise this."
    );
    assert!(
        request["systemInstruction"]
            .to_string()
            .contains("You are a coding agent.")
    );
    assert_eq!(
        request["tools"][0]["functionDeclarations"][0]["name"],
        "Bash"
    );
}

async fn openai_upstream_gets_a_tokenizer_estimate(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_api_key_account("openai", "ct-openai").await;
    let system = "You are a careful reviewer of Rust code. ".repeat(40);
    let user = "Please explain how the borrow checker treats two-phase borrows, \
                with examples of code it accepts and code it rejects. "
        .repeat(30);
    let body = json!({
        "model": "gpt-4o",
        "system": system,
        "messages": [{"role": "user", "content": user}]
    });
    let resp = count(&gw, &key, &body).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(counted_by(&resp), "estimate");
    let estimate = resp.json()["input_tokens"].as_u64().unwrap();
    let bpe = tiktoken_rs::o200k_base().unwrap();
    let reference = (bpe.encode_ordinary(&system).len() + bpe.encode_ordinary(&user).len()) as f64;
    let off = (estimate as f64 - reference).abs() / reference;
    assert!(off < 0.10, "estimate {estimate}, tiktoken {reference}");
    assert_eq!(gw.mock.total_requests(), 0, "nothing is sent upstream");

    // Tool definitions are part of the prompt.
    let mut with_tool = body.clone();
    with_tool["tools"] = json!([{
        "name": "read_file",
        "description": "Read a file of the workspace and return its text.",
        "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}
    }]);
    let resp = count(&gw, &key, &with_tool).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let with_tool = resp.json()["input_tokens"].as_u64().unwrap();
    assert!(with_tool > estimate + 10, "{with_tool} vs {estimate}");
}

async fn antigravity_upstream_gets_an_estimate_without_a_call(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    add_oauth_account(&gw, "antigravity", "ct-antigravity").await;
    let resp = count(&gw, &key, &count_body("gemini-claude-sonnet-4-5")).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(counted_by(&resp), "estimate");
    assert!(resp.json()["input_tokens"].as_u64().unwrap() > 20);
    assert_eq!(gw.mock.total_requests(), 0);
}

async fn bad_input_and_bad_keys_get_anthropic_errors(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_api_key_account("anthropic", "ct-bad").await;
    for (body, field) in [
        (json!({"model": "claude-sonnet-4-5"}), "messages"),
        (
            json!({"model": "claude-sonnet-4-5", "messages": "hello"}),
            "messages",
        ),
        (
            json!({"model": 7, "messages": [{"role": "user", "content": "hi"}]}),
            "model",
        ),
        (
            json!({"model": "claude-sonnet-4-5", "messages": [{"role": 1, "content": "hi"}]}),
            "messages[0].role",
        ),
    ] {
        let resp = count(&gw, &key, &body).await;
        assert_eq!(resp.status, 400, "{body}: {}", resp.text());
        let error = resp.json();
        assert_eq!(error["type"], "error");
        assert_eq!(error["error"]["type"], "invalid_request_error");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(&format!("`{field}`")), "{message}");
    }
    let resp = count(&gw, "sk-not-a-key", &count_body("claude-sonnet-4-5")).await;
    assert_eq!(resp.status, 401);
    assert_eq!(resp.json()["type"], "error");
    assert_eq!(resp.json()["error"]["type"], "authentication_error");
    assert_eq!(gw.mock.total_requests(), 0);
}

async fn a_count_does_not_take_an_accounts_turn(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_api_key_account("anthropic", "ct-rr-a").await;
    gw.add_api_key_account("anthropic", "ct-rr-b").await;
    let message = json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "hi"}]
    });
    let mut served = Vec::new();
    let send_message = async || {
        let resp = gw.post("/v1/messages", &key, message.clone()).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        let last = gw.mock.last_request().unwrap();
        assert_eq!(last.endpoint, Endpoint::AnthropicMessages);
        last.account_key.unwrap()
    };
    served.push(send_message().await);
    served.push(send_message().await);
    assert_ne!(served[0], served[1]);
    for _ in 0..3 {
        let resp = count(&gw, &key, &count_body("claude-sonnet-4-5")).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
    }
    served.push(send_message().await);
    served.push(send_message().await);
    assert_eq!(
        served[2..],
        served[..2],
        "the rotation went on where it was"
    );
    assert_eq!(gw.mock.requests_to(Endpoint::AnthropicCountTokens).len(), 3);
}

async fn models_answer_in_anthropics_shape_when_asked(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_api_key_account("anthropic", "ct-models").await;
    let anthropic = [
        ("x-api-key", key.as_str()),
        ("anthropic-version", "2023-06-01"),
    ];
    let resp = gw.request(Method::GET, "/v1/models", &anthropic, "").await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let list = resp.json();
    let data = list["data"].as_array().unwrap();
    assert!(!data.is_empty());
    assert!(list.get("object").is_none());
    assert_eq!(list["has_more"], false);
    assert_eq!(list["first_id"], data[0]["id"]);
    assert_eq!(list["last_id"], data[data.len() - 1]["id"]);
    let sonnet = data
        .iter()
        .find(|m| m["id"] == "claude-sonnet-4-5")
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(sonnet["type"], "model");
    assert_eq!(sonnet["display_name"], "claude-sonnet-4-5");
    let created = sonnet["created_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(created).is_ok(),
        "{created}"
    );

    // Without `anthropic-version`: OpenAI's shape, the key in `x-api-key` too.
    let resp = gw
        .request(Method::GET, "/v1/models", &[("x-api-key", &key)], "")
        .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["object"], "list");
    assert_eq!(resp.json()["data"][0]["object"], "model");

    // A bad key gets Anthropic's error shape when the client speaks it.
    let bad = [
        ("x-api-key", "sk-nope"),
        ("anthropic-version", "2023-06-01"),
    ];
    let resp = gw.request(Method::GET, "/v1/models", &bad, "").await;
    assert_eq!(resp.status, 401);
    assert_eq!(resp.json()["error"]["type"], "authentication_error");
}

deployment_tests!(
    anthropic_upstream_counts_the_body_as_sent_with_the_clients_betas,
    gemini_upstream_counts_the_translated_request,
    openai_upstream_gets_a_tokenizer_estimate,
    antigravity_upstream_gets_an_estimate_without_a_call,
    bad_input_and_bad_keys_get_anthropic_errors,
    a_count_does_not_take_an_accounts_turn,
    models_answer_in_anthropics_shape_when_asked,
);
