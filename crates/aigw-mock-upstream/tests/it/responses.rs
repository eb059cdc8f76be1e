//! OpenAI Responses and the ChatGPT Codex backend: whole and streamed
//! responses, what the Codex backend refuses, `previous_response_id` per
//! account, and the usage-limit fault.

use aigw_mock_upstream::{Fault, MockUpstream, Reply};
use serde_json::json;

use crate::support::{client, post, sse};

const CODEX: &[(&str, &str)] = &[
    ("authorization", "Bearer at-1"),
    ("chatgpt-account-id", "acct-1"),
];

#[tokio::test]
async fn a_response_whole_and_streamed() {
    let mock = MockUpstream::start().await.unwrap();
    let url = format!("{}/v1/responses", mock.base_url());
    mock.set_reply("sk-a", Reply::text("hello there"));
    let resp = post(
        &client(),
        &url,
        &[("authorization", "Bearer sk-a")],
        &json!({"model": "gpt-5", "input": "hi"}),
    )
    .await;
    assert_eq!(resp.status, 200);
    let v = resp.json();
    assert!(v["id"].as_str().unwrap().starts_with("resp_"), "{v}");
    assert_eq!(v["object"], "response");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["output"][0]["content"][0]["text"], "hello there");

    let resp = post(
        &client(),
        &url,
        &[("authorization", "Bearer sk-a")],
        &json!({"model": "gpt-5", "input": "hi", "stream": true}),
    )
    .await;
    assert_eq!(resp.header("content-type"), Some("text/event-stream"));
    let events = sse(&resp.body);
    assert_eq!(events[0].name.as_deref(), Some("response.created"));
    let last = events.last().unwrap();
    assert_eq!(last.name.as_deref(), Some("response.completed"));
    assert_eq!(
        last.json()["response"]["output"][0]["content"][0]["text"],
        "hello there"
    );
}

#[tokio::test]
async fn the_codex_backend_streams_only_without_storing_for_a_named_account() {
    let mock = MockUpstream::start().await.unwrap();
    let url = format!("{}/backend-api/codex/responses", mock.base_url());
    let ok = json!({"model": "gpt-5-codex", "input": "hi", "stream": true, "store": false});
    let resp = post(&client(), &url, CODEX, &ok).await;
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    assert_eq!(
        sse(&resp.body).last().unwrap().name.as_deref(),
        Some("response.completed")
    );

    for (body, headers, detail) in [
        (
            json!({"model": "m", "input": "hi", "store": false}),
            CODEX,
            "Stream must be set to true",
        ),
        (
            json!({"model": "m", "input": "hi", "stream": true}),
            CODEX,
            "Store must be set to false",
        ),
        (ok.clone(), &CODEX[..1], "Missing chatgpt-account-id header"),
    ] {
        let resp = post(&client(), &url, headers, &body).await;
        assert_eq!(resp.status, 400, "{detail}");
        assert_eq!(resp.json()["detail"], detail);
    }
}

#[tokio::test]
async fn a_previous_response_works_only_for_the_account_that_made_it() {
    let mock = MockUpstream::start().await.unwrap();
    let url = format!("{}/v1/responses", mock.base_url());
    let first = post(
        &client(),
        &url,
        &[("authorization", "Bearer sk-a")],
        &json!({"model": "gpt-5", "input": "hi"}),
    )
    .await
    .json();
    let id = first["id"].as_str().unwrap();
    let follow = json!({"model": "gpt-5", "input": "more", "previous_response_id": id});
    let same = post(
        &client(),
        &url,
        &[("authorization", "Bearer sk-a")],
        &follow,
    )
    .await;
    assert_eq!(same.status, 200);
    let other = post(
        &client(),
        &url,
        &[("authorization", "Bearer sk-b")],
        &follow,
    )
    .await;
    assert_eq!(other.status, 400);
    assert_eq!(other.json()["error"]["code"], "previous_response_not_found");
}

#[tokio::test]
async fn the_usage_limit_fault_names_its_reset() {
    let mock = MockUpstream::start().await.unwrap();
    let url = format!("{}/backend-api/codex/responses", mock.base_url());
    mock.set_fault("at-1", Fault::usage_limit(3600));
    let body = json!({"model": "gpt-5-codex", "input": "hi", "stream": true, "store": false});
    let resp = post(&client(), &url, CODEX, &body).await;
    assert_eq!(resp.status, 429);
    let error = &resp.json()["error"];
    assert_eq!(error["type"], "usage_limit_reached");
    assert_eq!(error["resets_in_seconds"], 3600);
    assert!(error["resets_at"].as_u64().unwrap() > 1_700_000_000);
}
