//! Gemini generateContent / streamGenerateContent and the Antigravity v1internal envelope.

use aigw_mock_upstream::{MockUpstream, Reply, Usage};
use serde_json::{Value, json};

use crate::support::{client, contents, envelope, post, sse};

#[tokio::test]
async fn generate_content_echoes_with_usage_metadata() {
    let mock = MockUpstream::start().await.unwrap();
    let url = format!(
        "{}/v1beta/models/gemini-2.5-flash:generateContent",
        mock.base_url()
    );
    let resp = post(
        &client(),
        &url,
        &[("x-goog-api-key", "AIza-1")],
        &contents("hola"),
    )
    .await;

    assert_eq!(resp.status, 200);
    let v = resp.json();
    let candidate = &v["candidates"][0];
    assert_eq!(candidate["content"]["role"], "model");
    assert_eq!(
        candidate["content"]["parts"],
        json!([{"text": "echo: hola"}])
    );
    assert_eq!(candidate["finishReason"], "STOP");
    assert_eq!(v["modelVersion"], "gemini-2.5-flash");
    assert!(!v["responseId"].as_str().unwrap().is_empty());
    let meta = &v["usageMetadata"];
    assert_eq!(meta["candidatesTokenCount"], 2);
    assert_eq!(
        meta["totalTokenCount"].as_u64().unwrap(),
        meta["promptTokenCount"].as_u64().unwrap() + 2
    );
    assert_eq!(mock.requests_for("AIza-1").len(), 1);
}

#[tokio::test]
async fn the_key_may_come_in_the_query() {
    let mock = MockUpstream::start().await.unwrap();
    let url = format!(
        "{}/v1beta/models/gemini-2.5-pro:generateContent?key=AIza-q",
        mock.base_url()
    );
    let resp = post(&client(), &url, &[], &contents("x")).await;
    assert_eq!(resp.status, 200);
    assert_eq!(mock.count_for("AIza-q"), 1);
}

#[tokio::test]
async fn stream_generate_content_with_alt_sse_sends_data_events() {
    let mock = MockUpstream::start().await.unwrap();
    let url = format!(
        "{}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        mock.base_url()
    );
    let resp = post(
        &client(),
        &url,
        &[("x-goog-api-key", "AIza-1")],
        &contents("uno dos tres"),
    )
    .await;
    assert_eq!(resp.header("content-type"), Some("text/event-stream"));
    let chunks: Vec<Value> = sse(&resp.body).iter().map(|e| e.json()).collect();
    assert_eq!(chunks.len(), 4);
    let text: String = chunks
        .iter()
        .map(|c| {
            c["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(text, "echo: uno dos tres");
    let (last, rest) = chunks.split_last().unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 4);
    assert!(
        rest.iter()
            .all(|c| c["candidates"][0].get("finishReason").is_none())
    );
    assert!(
        rest.iter()
            .all(|c| c["usageMetadata"]["promptTokenCount"].as_u64().unwrap() > 0)
    );
}

#[tokio::test]
async fn stream_generate_content_without_alt_sse_is_a_json_array() {
    let mock = MockUpstream::start().await.unwrap();
    let url = format!(
        "{}/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        mock.base_url()
    );
    let resp = post(
        &client(),
        &url,
        &[("x-goog-api-key", "AIza-1")],
        &contents("a b"),
    )
    .await;
    let chunks = resp.json();
    let chunks = chunks.as_array().unwrap();
    assert_eq!(chunks.len(), 3);
    assert_eq!(chunks[2]["candidates"][0]["finishReason"], "STOP");
}

#[tokio::test]
async fn scripted_thoughts_and_function_calls_render_as_parts() {
    let mock = MockUpstream::start().await.unwrap();
    mock.set_reply(
        "AIza-tools",
        Reply::tool_call("lookup", json!({"q": "rust"}))
            .with_tool_call("lookup", json!({"q": "tokio"}))
            .with_thinking("two lookups")
            .with_usage(Usage {
                prompt_tokens: 50,
                completion_tokens: 20,
                cached_tokens: 10,
                cache_creation_tokens: 0,
                reasoning_tokens: 8,
            }),
    );
    let base = mock.base_url();
    let v = post(
        &client(),
        &format!("{base}/v1beta/models/gemini-2.5-pro:generateContent"),
        &[("x-goog-api-key", "AIza-tools")],
        &contents("search"),
    )
    .await
    .json();
    let parts = v["candidates"][0]["content"]["parts"].as_array().unwrap();
    assert_eq!(parts[0]["thought"], true);
    assert_eq!(parts[0]["text"], "two lookups");
    assert!(parts[0]["thoughtSignature"].is_string());
    assert_eq!(
        parts[1],
        json!({"functionCall": {"name": "lookup", "args": {"q": "rust"}}})
    );
    assert_eq!(parts[2]["functionCall"]["args"], json!({"q": "tokio"}));
    assert_eq!(v["candidates"][0]["finishReason"], "STOP");
    let meta = &v["usageMetadata"];
    assert_eq!(meta["candidatesTokenCount"], 12);
    assert_eq!(meta["thoughtsTokenCount"], 8);
    assert_eq!(meta["cachedContentTokenCount"], 10);

    let resp = post(
        &client(),
        &format!("{base}/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"),
        &[("x-goog-api-key", "AIza-tools")],
        &contents("search"),
    )
    .await;
    let chunks: Vec<Value> = sse(&resp.body).iter().map(|e| e.json()).collect();
    let calls: Vec<&Value> = chunks
        .iter()
        .flat_map(|c| c["candidates"][0]["content"]["parts"].as_array().unwrap())
        .filter(|p| p.get("functionCall").is_some())
        .collect();
    assert_eq!(calls.len(), 2, "function calls arrive whole");
    assert_eq!(
        chunks.last().unwrap()["usageMetadata"]["thoughtsTokenCount"],
        8
    );
}

#[tokio::test]
async fn antigravity_wraps_gemini_bodies_in_response() {
    let mock = MockUpstream::start().await.unwrap();
    let base = mock.base_url();
    let headers = [("authorization", "Bearer ya29.token")];
    let v = post(
        &client(),
        &format!("{base}/v1internal:generateContent"),
        &headers,
        &envelope("hey"),
    )
    .await
    .json();
    assert!(v["traceId"].is_string());
    let inner = &v["response"];
    assert_eq!(
        inner["candidates"][0]["content"]["parts"][0]["text"],
        "echo: hey"
    );
    assert_eq!(inner["modelVersion"], "gemini-2.5-pro");

    let resp = post(
        &client(),
        &format!("{base}/v1internal:streamGenerateContent?alt=sse"),
        &headers,
        &envelope("hey you"),
    )
    .await;
    let events = sse(&resp.body);
    assert_eq!(events.len(), 3);
    let text: String = events
        .iter()
        .map(|e| {
            e.json()["response"]["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(text, "echo: hey you");
    assert_eq!(
        events[2].json()["response"]["candidates"][0]["finishReason"],
        "STOP"
    );

    let recorded = mock.requests_for("ya29.token");
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded[0].json().unwrap()["project"], "mock-project");
}

#[tokio::test]
async fn bad_requests_get_google_errors() {
    let mock = MockUpstream::start().await.unwrap();
    let base = mock.base_url();
    let resp = post(
        &client(),
        &format!("{base}/v1beta/models/gemini-2.5-flash:generateContent"),
        &[("x-goog-api-key", "k")],
        &json!({"contents": []}),
    )
    .await;
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json()["error"]["status"], "INVALID_ARGUMENT");
    assert_eq!(resp.json()["error"]["code"], 400);

    let resp = post(
        &client(),
        &format!("{base}/v1internal:generateContent"),
        &[],
        &envelope("x"),
    )
    .await;
    assert_eq!(resp.status, 401);
    assert_eq!(resp.json()["error"]["status"], "UNAUTHENTICATED");
}
