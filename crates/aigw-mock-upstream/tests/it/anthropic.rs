//! Anthropic Messages: JSON and the SSE event sequence, scripted thinking and tool use,
//! cache-aware usage, validation.

use aigw_mock_upstream::{MockUpstream, Reply, Usage};
use serde_json::{Value, json};

use crate::support::{ANTHROPIC, client, messages, post, sse};

#[tokio::test]
async fn a_message_echoes_the_last_user_text() {
    let mock = MockUpstream::start().await.unwrap();
    let url = format!("{}/v1/messages", mock.base_url());
    let mut body = messages("ignored", false);
    body["messages"] = json!([
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "bonjour"}]}
    ]);
    let resp = post(
        &client(),
        &url,
        &[("x-api-key", "sk-ant-1"), ANTHROPIC],
        &body,
    )
    .await;

    assert_eq!(resp.status, 200);
    assert!(resp.header("request-id").unwrap().starts_with("req_"));
    let v = resp.json();
    let id = v["id"].as_str().unwrap();
    assert!(id.starts_with("msg_01") && id.len() == 28, "{id}");
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["model"], "claude-sonnet-4-5");
    assert_eq!(
        v["content"],
        json!([{"type": "text", "text": "echo: bonjour"}])
    );
    assert_eq!(v["stop_reason"], "end_turn");
    assert!(v["stop_sequence"].is_null());
    assert!(v["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert_eq!(v["usage"]["cache_read_input_tokens"], 0);
    assert_eq!(v["usage"]["cache_creation_input_tokens"], 0);
    assert_eq!(v["usage"]["output_tokens"], 2);
}

#[tokio::test]
async fn a_stream_follows_the_messages_event_sequence() {
    let mock = MockUpstream::start().await.unwrap();
    let url = format!("{}/v1/messages", mock.base_url());
    let resp = post(
        &client(),
        &url,
        &[("x-api-key", "sk-ant-1"), ANTHROPIC],
        &messages("a b c", true),
    )
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("text/event-stream"));

    let events = sse(&resp.body);
    let names: Vec<&str> = events.iter().map(|e| e.name.as_deref().unwrap()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    for event in &events {
        assert_eq!(event.json()["type"], event.name.as_deref().unwrap());
    }
    let start = events[0].json();
    assert!(
        start["message"]["id"]
            .as_str()
            .unwrap()
            .starts_with("msg_01")
    );
    assert_eq!(start["message"]["content"], json!([]));
    assert!(start["message"]["stop_reason"].is_null());
    assert_eq!(
        events[1].json()["content_block"],
        json!({"type": "text", "text": ""})
    );
    let text: String = events
        .iter()
        .filter(|e| e.name.as_deref() == Some("content_block_delta"))
        .map(|e| {
            let d = e.json();
            assert_eq!(d["delta"]["type"], "text_delta");
            d["delta"]["text"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(text, "echo: a b c");
    let delta = events[8].json();
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], 4);
}

#[tokio::test]
async fn scripted_thinking_and_tool_use_render_with_cache_usage() {
    let mock = MockUpstream::start().await.unwrap();
    let reply = Reply::text("Let me check.")
        .with_thinking("user wants weather")
        .with_thinking_signature("sig-123")
        .with_tool_call("get_weather", json!({"city": "Oslo"}))
        .with_usage(Usage {
            prompt_tokens: 100,
            completion_tokens: 30,
            cached_tokens: 60,
            cache_creation_tokens: 15,
            reasoning_tokens: 5,
        });
    mock.set_reply("sk-ant-tools", reply);
    let url = format!("{}/v1/messages", mock.base_url());
    let headers = [("x-api-key", "sk-ant-tools"), ANTHROPIC];

    let v = post(&client(), &url, &headers, &messages("weather?", false))
        .await
        .json();
    let content = v["content"].as_array().unwrap();
    assert_eq!(
        content[0],
        json!({"type": "thinking", "thinking": "user wants weather", "signature": "sig-123"})
    );
    assert_eq!(content[1], json!({"type": "text", "text": "Let me check."}));
    assert_eq!(content[2]["type"], "tool_use");
    assert!(content[2]["id"].as_str().unwrap().starts_with("toolu_01"));
    assert_eq!(content[2]["input"], json!({"city": "Oslo"}));
    assert_eq!(v["stop_reason"], "tool_use");
    assert_eq!(v["usage"]["input_tokens"], 25);
    assert_eq!(v["usage"]["cache_read_input_tokens"], 60);
    assert_eq!(v["usage"]["cache_creation_input_tokens"], 15);
    assert_eq!(v["usage"]["output_tokens"], 30);

    let events = sse(
        &post(&client(), &url, &headers, &messages("weather?", true))
            .await
            .body,
    );
    let mut thinking = String::new();
    let mut signature = String::new();
    let mut json_parts = Vec::new();
    let mut starts = Vec::new();
    for event in &events {
        let d = event.json();
        match event.name.as_deref().unwrap() {
            "content_block_start" => {
                starts.push(d["content_block"]["type"].as_str().unwrap().to_owned())
            }
            "content_block_delta" => match d["delta"]["type"].as_str().unwrap() {
                "thinking_delta" => thinking.push_str(d["delta"]["thinking"].as_str().unwrap()),
                "signature_delta" => signature.push_str(d["delta"]["signature"].as_str().unwrap()),
                "input_json_delta" => {
                    json_parts.push(d["delta"]["partial_json"].as_str().unwrap().to_owned())
                }
                "text_delta" => {}
                other => panic!("unexpected delta {other}"),
            },
            _ => {}
        }
    }
    assert_eq!(starts, ["thinking", "text", "tool_use"]);
    assert_eq!(thinking, "user wants weather");
    assert_eq!(signature, "sig-123");
    assert!(json_parts.len() >= 2);
    assert_eq!(
        serde_json::from_str::<Value>(&json_parts.concat()).unwrap(),
        json!({"city": "Oslo"})
    );
    let start = events[0].json();
    assert_eq!(start["message"]["usage"]["cache_read_input_tokens"], 60);
    let message_delta = events
        .iter()
        .find(|e| e.name.as_deref() == Some("message_delta"))
        .unwrap()
        .json();
    assert_eq!(message_delta["delta"]["stop_reason"], "tool_use");
    assert_eq!(message_delta["usage"]["output_tokens"], 30);
}

#[tokio::test]
async fn validation_follows_the_real_api() {
    let mock = MockUpstream::start().await.unwrap();
    let url = format!("{}/v1/messages", mock.base_url());
    let resp = post(
        &client(),
        &url,
        &[("x-api-key", "k")],
        &messages("x", false),
    )
    .await;
    assert_eq!(resp.status, 400);
    let v = resp.json();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("anthropic-version")
    );

    let mut body = messages("x", false);
    body.as_object_mut().unwrap().remove("max_tokens");
    let resp = post(&client(), &url, &[("x-api-key", "k"), ANTHROPIC], &body).await;
    assert_eq!(resp.status, 400);
    assert!(
        resp.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_tokens")
    );

    let resp = post(&client(), &url, &[ANTHROPIC], &messages("x", false)).await;
    assert_eq!(resp.status, 401);
    assert_eq!(resp.json()["error"]["type"], "authentication_error");
}

#[tokio::test]
async fn count_tokens_answers_an_estimate() {
    let mock = MockUpstream::start().await.unwrap();
    let url = format!("{}/v1/messages/count_tokens", mock.base_url());
    let v = post(
        &client(),
        &url,
        &[("x-api-key", "k"), ANTHROPIC],
        &messages("count me", false),
    )
    .await
    .json();
    assert!(v["input_tokens"].as_u64().unwrap() > 0);
}
