//! Claude Code's requests through the gateway: its `anthropic-beta` values
//! reach an Anthropic upstream merged with the gateway's own, and its
//! `gemini-claude-*` models reach Antigravity under the upstream's ids.

use aigateway::domain::{AuthData, OAuthCredentials, Secret};
use http::Method;
use serde_json::json;

use crate::support::{Deployment, TestGateway, sse_events};

/// An OAuth account whose token is good for a day (no refresh on the way).
pub(crate) async fn add_oauth_account(gw: &TestGateway, provider: &str, token: &str) {
    gw.add_account_with(
        provider,
        token,
        AuthData::Oauth(Box::new(OAuthCredentials {
            access_token: Some(Secret::new(token)),
            refresh_token: Some(Secret::new(format!("refresh-{token}"))),
            expires_at: Some(chrono::Utc::now() + chrono::Duration::days(1)),
            project_id: Some("proj-cc".to_owned()),
            ..OAuthCredentials::default()
        })),
    )
    .await;
}

/// A turn in the shape Claude Code (2.1) sends: a billing line and cached
/// blocks in `system`, a tool, adaptive thinking steered by
/// `output_config.effort`, `context_management`, `metadata.user_id` as a JSON
/// string, a PDF, and a system message in the middle of the conversation.
pub(crate) fn claude_code_body(model: &str, stream: bool) -> serde_json::Value {
    json!({
        "model": model,
        "max_tokens": 32000,
        "stream": stream,
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.0; cc_entrypoint=sdk-cli;"},
            {"type": "text", "text": "You are a coding agent.",
             "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "Work in the user's repository.",
             "cache_control": {"type": "ephemeral"}}
        ],
        "tools": [{"name": "Bash", "description": "Run a command.",
                   "input_schema": {"type": "object",
                                    "properties": {"command": {"type": "string"}},
                                    "required": ["command"]}}],
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "high"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "metadata": {"user_id": "{\"device_id\":\"d1\",\"account_uuid\":\"\",\"session_id\":\"s1\"}"},
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "<system-reminder>Today is a Sunday.</system-reminder>"},
                {"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                                 "data": "JVBERi0xLjQKJSVFT0YK"}},
                {"type": "text", "text": "Summarise this.", "cache_control": {"type": "ephemeral"}}
            ]},
            {"role": "system", "content": "Agent types available: Explore, Plan."}
        ]
    })
}

/// The betas Claude Code 2.1 sends with every turn.
const CLAUDE_CODE_BETAS: &str = "claude-code-20250219,interleaved-thinking-2025-05-14,\
thinking-token-count-2026-05-13,context-management-2025-06-27,prompt-caching-scope-2026-01-05,\
mid-conversation-system-2026-04-07,effort-2025-11-24";

async fn post_as_claude_code(
    gw: &TestGateway,
    key: &str,
    body: serde_json::Value,
) -> crate::support::Resp {
    let headers = [
        ("x-api-key", key),
        ("content-type", "application/json"),
        ("anthropic-version", "2023-06-01"),
        ("anthropic-beta", CLAUDE_CODE_BETAS),
    ];
    gw.request(Method::POST, "/v1/messages", &headers, body.to_string())
        .await
}

async fn client_betas_reach_anthropic_merged_with_the_gateways(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    add_oauth_account(&gw, "anthropic", "cc-anthropic").await;
    let resp = post_as_claude_code(&gw, &key, claude_code_body("claude-sonnet-4-5", false)).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let sent = gw.mock.last_request().expect("the upstream was called");
    assert_eq!(
        sent.headers["anthropic-beta"],
        format!("{CLAUDE_CODE_BETAS},oauth-2025-04-20")
    );
    assert_eq!(sent.headers["anthropic-version"], "2023-06-01");
    let body: serde_json::Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(body["system"][1]["cache_control"]["type"], "ephemeral");
    assert_eq!(body["thinking"]["type"], "adaptive");
    assert_eq!(body["messages"][1]["role"], "system", "sent as it came");
    assert_eq!(body["context_management"]["edits"][0]["keep"], "all");
}

/// Claude Code's turn, whole and streamed, reaches every other upstream with
/// its mid-conversation system message in the upstream's system prompt.
async fn claude_codes_turn_reaches_every_upstream(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_api_key_account("openai", "cc-openai").await;
    gw.add_api_key_account("gemini", "cc-gemini").await;
    add_oauth_account(&gw, "antigravity", "cc-antigravity").await;
    for model in [
        "gpt-4o",
        "gemini-2.5-pro",
        "gemini-claude-opus-4-5-thinking",
    ] {
        for stream in [false, true] {
            let resp = post_as_claude_code(&gw, &key, claude_code_body(model, stream)).await;
            assert_eq!(resp.status, 200, "{model} stream {stream}: {}", resp.text());
            if stream {
                let events = sse_events(&resp.text());
                assert_eq!(events.last().map(|e| e.0.as_str()), Some("message_stop"));
            } else {
                assert_eq!(resp.json()["type"], "message");
            }
            let sent = gw.mock.last_request().expect("the upstream was called");
            let body: serde_json::Value = serde_json::from_slice(&sent.body).unwrap();
            let system = if model == "gpt-4o" {
                body["messages"][0].clone()
            } else {
                // Gemini ids go to Antigravity too when it has an account.
                let gemini = body.get("request").unwrap_or(&body);
                gemini["systemInstruction"].clone()
            };
            assert!(
                system.to_string().contains("Agent types available"),
                "{model}: the system message is in the system prompt: {body}"
            );
        }
    }
}

async fn gemini_claude_alias_reaches_antigravity_as_its_upstream_id(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    add_oauth_account(&gw, "antigravity", "cc-antigravity").await;
    for stream in [false, true] {
        let resp = post_as_claude_code(
            &gw,
            &key,
            claude_code_body("gemini-claude-sonnet-4-5", stream),
        )
        .await;
        assert_eq!(resp.status, 200, "stream {stream}: {}", resp.text());
        if stream {
            let events = sse_events(&resp.text());
            assert_eq!(events.last().map(|e| e.0.as_str()), Some("message_stop"));
        } else {
            assert_eq!(resp.json()["model"], "gemini-claude-sonnet-4-5");
        }
        let sent = gw.mock.last_request().expect("the upstream was called");
        let body: serde_json::Value = serde_json::from_slice(&sent.body).unwrap();
        assert_eq!(body["model"], "claude-sonnet-4-5");
        let request = &body["request"];
        // Adaptive thinking at `output_config.effort` "high".
        assert_eq!(
            request["generationConfig"]["thinkingConfig"]["thinkingBudget"],
            16384
        );
        assert_eq!(
            request["contents"][0]["parts"][1]["inlineData"]["mimeType"],
            "application/pdf"
        );
        // Betas mean nothing to Antigravity.
        assert!(sent.headers.get("anthropic-beta").is_none());
    }
}

async fn unknown_gemini_claude_alias_is_a_404_in_the_anthropic_shape(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    add_oauth_account(&gw, "antigravity", "cc-antigravity").await;
    let resp = post_as_claude_code(&gw, &key, claude_code_body("gemini-claude-nope", false)).await;
    assert_eq!(resp.status, 404, "{}", resp.text());
    let body = resp.json();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "not_found_error");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("gemini-claude-nope"), "{message}");
    assert_eq!(gw.mock.total_requests(), 0);
}

async fn seeded_mappings_stay_as_admins_leave_them(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let repo = gw.runtime.repository();
    let opus = repo
        .get_model_mapping_by_alias("gemini-claude-opus-4-5", None)
        .await
        .expect("seeded");
    assert_eq!(opus.model_name, "claude-opus-4-5");
    assert_eq!(opus.provider_id.as_str(), "antigravity");
    assert_eq!(opus.owner_id, None);
    repo.delete_model_mapping(opus.id).await.unwrap();
    let sonnet = repo
        .get_model_mapping_by_alias("gemini-claude-sonnet-4-5", None)
        .await
        .unwrap();
    let patch = aigateway::domain::ModelMappingPatch {
        model_name: Some("claude-sonnet-4-5-custom".to_owned()),
        ..Default::default()
    };
    repo.update_model_mapping(sonnet.id, &patch).await.unwrap();

    // Another start on the same database seeds nothing again.
    let peer = gw.start_peer().await;
    let repo = peer.runtime.repository();
    assert!(
        repo.get_model_mapping_by_alias("gemini-claude-opus-4-5", None)
            .await
            .is_err(),
        "a deleted built-in mapping is not re-created"
    );
    assert_eq!(
        repo.get_model_mapping_by_alias("gemini-claude-sonnet-4-5", None)
            .await
            .unwrap()
            .model_name,
        "claude-sonnet-4-5-custom"
    );
    peer.stop().await;
}

deployment_tests!(
    seeded_mappings_stay_as_admins_leave_them,
    client_betas_reach_anthropic_merged_with_the_gateways,
    claude_codes_turn_reaches_every_upstream,
    gemini_claude_alias_reaches_antigravity_as_its_upstream_id,
    unknown_gemini_claude_alias_is_a_404_in_the_anthropic_shape,
);
