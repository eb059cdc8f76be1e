//! The `codex` provider: ChatGPT-plan OAuth accounts on the Codex backend,
//! which only streams. Every client format reaches it; a whole answer is read
//! back from its stream; each call names the account's ChatGPT account; a plan
//! usage limit cools the account down until its reset; and `openai` accounts
//! holding ChatGPT grants move to `codex` at start.

use std::time::Duration;

use aigateway::domain::{AccountId, AuthData, OAuthCredentials, Secret};
use aigw_mock_upstream::{Endpoint, Fault, Reply};
use serde_json::{Value, json};

use crate::support::{Deployment, TestGateway, sse_events};

/// A ChatGPT grant whose access token is `token` (the mock's account key),
/// acting for ChatGPT account `account`.
pub fn chatgpt_grant(token: &str, account: &str) -> AuthData {
    AuthData::Oauth(Box::new(OAuthCredentials {
        access_token: Some(Secret::new(token)),
        refresh_token: Some(Secret::new(format!("refresh-{token}"))),
        expires_at: Some(chrono::Utc::now() + chrono::Duration::days(1)),
        account_id: Some(account.to_owned()),
        ..OAuthCredentials::default()
    }))
}

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

async fn a_codex_account_serves_chat_whole_and_responses_streamed(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_account_with("codex", "plus", chatgpt_grant("codex-at-1", "acct-e2e"))
        .await;
    gw.mock
        .set_reply("codex-at-1", Reply::text("from the codex backend"));

    // A Chat client that wants one whole answer: the backend only streams,
    // so the gateway asks for a stream and reads it back whole.
    let resp = gw
        .post("/v1/chat/completions", &key, chat("gpt-5-codex"))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let body = resp.json();
    assert_eq!(body["object"], "chat.completion", "{body}");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "from the codex backend"
    );
    assert!(
        body["usage"]["prompt_tokens"].as_u64().unwrap() > 0,
        "{body}"
    );

    let sent = gw.mock.requests_to(Endpoint::CodexResponses);
    assert_eq!(sent.len(), 1);
    let request = &sent[0];
    assert_eq!(request.path, "/backend-api/codex/responses");
    assert_eq!(request.headers["chatgpt-account-id"], "acct-e2e");
    assert_eq!(request.headers["openai-beta"], "responses=experimental");
    assert_eq!(request.headers["originator"], "codex_cli_rs");
    assert_eq!(request.headers["accept"], "text/event-stream");
    assert_eq!(request.headers["authorization"], "Bearer codex-at-1");
    let upstream: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(upstream["stream"], true, "{upstream}");
    assert_eq!(upstream["store"], false, "{upstream}");
    assert_eq!(upstream["model"], "gpt-5-codex");

    // A Responses client, streamed and whole: its body goes as it came,
    // with `store: false` forced.
    for stream in [true, false] {
        let resp = gw
            .post(
                "/v1/responses",
                &key,
                json!({"model": "gpt-5.1-codex", "input": "hello", "stream": stream,
                       "store": true, "instructions": "be brief"}),
            )
            .await;
        assert_eq!(resp.status, 200, "stream={stream}: {}", resp.text());
        let done = if stream {
            let events = sse_events(&resp.text());
            assert_eq!(events[0].0, "response.created");
            let text: String = events
                .iter()
                .filter(|(name, _)| name == "response.output_text.delta")
                .map(|(_, data)| data["delta"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(text, "from the codex backend");
            events.last().unwrap().1["response"].clone()
        } else {
            resp.json()
        };
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(
            done["output"][0]["content"][0]["text"],
            "from the codex backend"
        );
        let sent = gw.mock.requests_to(Endpoint::CodexResponses);
        let upstream: Value = serde_json::from_slice(&sent.last().unwrap().body).unwrap();
        assert_eq!(upstream["store"], false, "{upstream}");
        assert_eq!(upstream["stream"], true, "{upstream}");
        assert_eq!(upstream["instructions"], "be brief", "{upstream}");
    }
}

async fn a_usage_limit_cools_the_account_until_its_reset(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    let limited: AccountId = gw
        .add_account_with("codex", "limited", chatgpt_grant("codex-limited", "a1"))
        .await
        .parse()
        .unwrap();
    gw.add_account_with("codex", "fresh", chatgpt_grant("codex-fresh", "a2"))
        .await;
    gw.mock.set_fault("codex-limited", Fault::usage_limit(1800));
    // Round-robin reaches the limited account within two requests; each
    // request still succeeds, on the other account.
    for _ in 0..2 {
        let resp = gw
            .post("/v1/chat/completions", &key, chat("gpt-5-codex"))
            .await;
        assert_eq!(resp.status, 200, "{}", resp.text());
    }
    assert_eq!(gw.mock.count_for("codex-limited"), 1);
    // Account-wide, until the reset the upstream named.
    let gateway = gw.runtime.gateway();
    for model in ["gpt-5-codex", "gpt-5.1-codex-max"] {
        let left = gateway
            .cooldowns()
            .remaining(limited, model)
            .expect("the limited account cools down");
        assert!(
            left > Duration::from_secs(1790) && left <= Duration::from_secs(1800),
            "{left:?}"
        );
    }
    for _ in 0..4 {
        let resp = gw
            .post("/v1/chat/completions", &key, chat("gpt-5-codex"))
            .await;
        assert_eq!(resp.status, 200, "{}", resp.text());
    }
    assert_eq!(
        gw.mock.count_for("codex-limited"),
        1,
        "a limited account was called again before its reset"
    );
    assert_eq!(gw.mock.count_for("codex-fresh"), 6);
}

/// An `openai` account holding a ChatGPT grant (sealed at rest) moves to the
/// `codex` provider when a gateway starts on the database; API-key accounts
/// and grants of other token endpoints stay.
async fn chatgpt_accounts_move_from_openai_to_codex_at_start(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let chatgpt: AccountId = gw
        .add_account_with("openai", "chatgpt", chatgpt_grant("old-at", "acct-old"))
        .await
        .parse()
        .unwrap();
    let mut elsewhere = OAuthCredentials {
        access_token: Some(Secret::new("other-at")),
        token_url: Some("https://login.example.com/token".to_owned()),
        ..OAuthCredentials::default()
    };
    elsewhere.refresh_token = Some(Secret::new("other-rt"));
    let other: AccountId = gw
        .add_account_with("openai", "other", AuthData::Oauth(Box::new(elsewhere)))
        .await
        .parse()
        .unwrap();
    let keyed: AccountId = gw
        .add_api_key_account("openai", "sk-stays")
        .await
        .parse()
        .unwrap();

    let peer = gw.start_peer().await;
    let repo = peer.runtime.repository();
    let provider = |id| async move { repo.get_account(id).await.unwrap().provider_id };
    assert_eq!(provider(chatgpt).await.as_str(), "codex");
    assert_eq!(provider(other).await.as_str(), "openai");
    assert_eq!(provider(keyed).await.as_str(), "openai");

    // The moved account serves Codex models, with its ChatGPT account.
    let key = peer.issue_key().await;
    let resp = peer
        .post("/v1/chat/completions", &key, chat("gpt-5-codex"))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let sent = peer.mock.requests_to(Endpoint::CodexResponses);
    assert_eq!(
        sent.last().unwrap().headers["chatgpt-account-id"],
        "acct-old"
    );
    peer.stop().await;
}

/// Claude Code counts its prompt on every turn: for a model on the Codex
/// backend, which has no counter, the gateway estimates it with OpenAI's
/// tokenizer and sends nothing upstream.
async fn a_count_for_a_codex_model_is_estimated(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_account_with("codex", "plus", chatgpt_grant("codex-count", "acct-c"))
        .await;
    let resp = gw
        .request(
            http::Method::POST,
            "/v1/messages/count_tokens",
            &[
                ("x-api-key", key.as_str()),
                ("anthropic-version", "2023-06-01"),
                ("content-type", "application/json"),
            ],
            json!({"model": "gpt-5-codex",
                   "messages": [{"role": "user", "content": "count these words please"}]})
            .to_string(),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        resp.headers
            .get("x-aigateway-token-count")
            .and_then(|v| v.to_str().ok()),
        Some("estimate")
    );
    assert!(resp.json()["input_tokens"].as_u64().unwrap() > 0);
    assert_eq!(gw.mock.count_for("codex-count"), 0);
    gw.stop().await;
}

deployment_tests!(
    a_count_for_a_codex_model_is_estimated,
    a_codex_account_serves_chat_whole_and_responses_streamed,
    a_usage_limit_cools_the_account_until_its_reset,
    chatgpt_accounts_move_from_openai_to_codex_at_start,
);
