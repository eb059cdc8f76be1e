//! OpenAI Chat Completions: JSON and SSE shapes, scripted replies, models, errors, h2c.

use aigw_mock_upstream::{Finish, MockUpstream, Reply, Usage};
use serde_json::{Value, json};

use crate::support::{ANTHROPIC, chat, chat_stream, client, get, h2c_client, post, sse};

#[tokio::test]
async fn a_chat_completion_echoes_the_last_user_text() {
    let mock = MockUpstream::start().await.unwrap();
    let url = format!("{}/v1/chat/completions", mock.base_url());
    let mut body = chat("hello world");
    body["messages"]
        .as_array_mut()
        .unwrap()
        .push(json!({"role": "assistant", "content": "earlier answer"}));
    body["messages"].as_array_mut().unwrap().push(json!({
        "role": "user",
        "content": [{"type": "text", "text": "second"}, {"type": "text", "text": "turn"}]
    }));
    let resp = post(&client(), &url, &[("authorization", "Bearer sk-a")], &body).await;

    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert!(resp.header("x-request-id").unwrap().starts_with("req_"));
    let v = resp.json();
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(v["object"], "chat.completion");
    assert!(v["created"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(v["model"], "gpt-4o");
    let choice = &v["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], "echo: second\nturn");
    assert_eq!(choice["finish_reason"], "stop");
    let usage = &v["usage"];
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
    );
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 0);
    assert_eq!(usage["completion_tokens_details"]["reasoning_tokens"], 0);
}

#[tokio::test]
async fn a_stream_sends_role_content_finish_usage_and_done() {
    let mock = MockUpstream::start().await.unwrap();
    let url = format!("{}/v1/chat/completions", mock.base_url());
    let resp = post(
        &client(),
        &url,
        &[("authorization", "Bearer sk-a")],
        &chat_stream("one two three"),
    )
    .await;

    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("text/event-stream"));
    let events = sse(&resp.body);
    assert!(events.iter().all(|e| e.name.is_none()));
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| e.json())
        .collect();
    assert!(
        chunks.len() >= 5,
        "role, pieces, finish and usage chunks expected"
    );
    let id = chunks[0]["id"].as_str().unwrap();
    assert!(
        chunks
            .iter()
            .all(|c| c["id"] == id && c["object"] == "chat.completion.chunk")
    );
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");

    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "echo: one two three");

    let (usage_chunk, rest) = chunks.split_last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert!(usage_chunk["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    assert!(
        rest.iter()
            .all(|c| c["usage"].is_null() && c.get("usage").is_some())
    );
    assert_eq!(rest.last().unwrap()["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn without_include_usage_no_chunk_carries_usage() {
    let mock = MockUpstream::start().await.unwrap();
    let url = format!("{}/v1/chat/completions", mock.base_url());
    let mut body = chat("hi");
    body["stream"] = Value::Bool(true);
    let resp = post(&client(), &url, &[("authorization", "Bearer sk-a")], &body).await;
    let events = sse(&resp.body);
    assert_eq!(events.last().unwrap().data, "[DONE]");
    for event in &events[..events.len() - 1] {
        let chunk = event.json();
        assert!(chunk.get("usage").is_none());
        assert_eq!(chunk["choices"].as_array().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn any_base_path_ending_in_chat_completions_is_served() {
    let mock = MockUpstream::start().await.unwrap();
    let url = format!("{}/api/paas/v4/chat/completions", mock.base_url());
    let resp = post(
        &client(),
        &url,
        &[("authorization", "Bearer glm-key")],
        &chat("ni hao"),
    )
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.json()["choices"][0]["message"]["content"],
        "echo: ni hao"
    );
    assert_eq!(
        mock.requests_for("glm-key")[0].path,
        "/api/paas/v4/chat/completions"
    );
}

fn weather_reply() -> Reply {
    Reply::default()
        .with_thinking("need the weather in two cities")
        .with_tool_call("get_weather", json!({"city": "Paris", "unit": "celsius"}))
        .with_tool_call_id("call_fixed", "get_time", json!({"tz": "Europe/Zürich"}))
        .with_usage(Usage {
            prompt_tokens: 120,
            completion_tokens: 40,
            cached_tokens: 100,
            cache_creation_tokens: 0,
            reasoning_tokens: 12,
        })
}

#[tokio::test]
async fn scripted_parallel_tool_calls_render_in_a_completion() {
    let mock = MockUpstream::start().await.unwrap();
    mock.set_reply("sk-tools", weather_reply());
    let url = format!("{}/v1/chat/completions", mock.base_url());
    let v = post(
        &client(),
        &url,
        &[("authorization", "Bearer sk-tools")],
        &chat("weather?"),
    )
    .await
    .json();

    let message = &v["choices"][0]["message"];
    assert!(message["content"].is_null());
    assert_eq!(
        message["reasoning_content"],
        "need the weather in two cities"
    );
    let calls = message["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2);
    assert!(calls[0]["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(calls[0]["type"], "function");
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(calls[0]["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"city": "Paris", "unit": "celsius"}));
    assert_eq!(calls[1]["id"], "call_fixed");
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(v["usage"]["prompt_tokens"], 120);
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 100);
    assert_eq!(
        v["usage"]["completion_tokens_details"]["reasoning_tokens"],
        12
    );
    assert_eq!(v["usage"]["total_tokens"], 160);

    // Another key still gets the echo.
    let other = post(
        &client(),
        &url,
        &[("authorization", "Bearer sk-plain")],
        &chat("x"),
    )
    .await
    .json();
    assert_eq!(other["choices"][0]["message"]["content"], "echo: x");
}

#[tokio::test]
async fn scripted_tool_call_arguments_stream_in_fragments() {
    let mock = MockUpstream::start().await.unwrap();
    mock.set_reply("sk-tools", weather_reply());
    let url = format!("{}/v1/chat/completions", mock.base_url());
    let resp = post(
        &client(),
        &url,
        &[("authorization", "Bearer sk-tools")],
        &chat_stream("weather?"),
    )
    .await;
    let events = sse(&resp.body);
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| e.json())
        .collect();

    let mut reasoning = String::new();
    let mut args = [String::new(), String::new()];
    let mut names = [None, None];
    let mut fragments = [0, 0];
    for chunk in &chunks {
        let delta = &chunk["choices"][0]["delta"];
        reasoning.push_str(delta["reasoning_content"].as_str().unwrap_or(""));
        for call in delta["tool_calls"].as_array().into_iter().flatten() {
            let i = call["index"].as_u64().unwrap() as usize;
            if let Some(name) = call["function"]["name"].as_str() {
                names[i] = Some((name.to_owned(), call["id"].as_str().unwrap().to_owned()));
            }
            let piece = call["function"]["arguments"].as_str().unwrap();
            if !piece.is_empty() {
                fragments[i] += 1;
            }
            args[i].push_str(piece);
        }
    }
    assert_eq!(reasoning, "need the weather in two cities");
    assert_eq!(names[0].as_ref().unwrap().0, "get_weather");
    assert_eq!(
        names[1].as_ref().unwrap(),
        &("get_time".to_owned(), "call_fixed".to_owned())
    );
    assert!(
        fragments.iter().all(|n| *n >= 2),
        "arguments must arrive in several fragments: {fragments:?}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&args[0]).unwrap(),
        json!({"city": "Paris", "unit": "celsius"})
    );
    assert_eq!(
        serde_json::from_str::<Value>(&args[1]).unwrap(),
        json!({"tz": "Europe/Zürich"})
    );
    let finish = chunks
        .iter()
        .find_map(|c| c["choices"][0]["finish_reason"].as_str());
    assert_eq!(finish, Some("tool_calls"));
    assert_eq!(chunks.last().unwrap()["usage"]["completion_tokens"], 40);
}

#[tokio::test]
async fn a_default_reply_applies_to_keys_without_their_own() {
    let mock = MockUpstream::start().await.unwrap();
    mock.set_default_reply(Reply::text("canned").with_finish(Finish::Length));
    mock.set_reply("sk-special", Reply::text("special"));
    let url = format!("{}/v1/chat/completions", mock.base_url());
    let a = post(
        &client(),
        &url,
        &[("authorization", "Bearer sk-any")],
        &chat("x"),
    )
    .await
    .json();
    assert_eq!(a["choices"][0]["message"]["content"], "canned");
    assert_eq!(a["choices"][0]["finish_reason"], "length");
    let b = post(
        &client(),
        &url,
        &[("authorization", "Bearer sk-special")],
        &chat("x"),
    )
    .await
    .json();
    assert_eq!(b["choices"][0]["message"]["content"], "special");
    mock.clear_replies();
    let c = post(
        &client(),
        &url,
        &[("authorization", "Bearer sk-any")],
        &chat("x"),
    )
    .await
    .json();
    assert_eq!(c["choices"][0]["message"]["content"], "echo: x");
}

#[tokio::test]
async fn requests_without_a_key_or_valid_body_get_openai_errors() {
    let mock = MockUpstream::start().await.unwrap();
    let url = format!("{}/v1/chat/completions", mock.base_url());
    let resp = post(&client(), &url, &[], &chat("x")).await;
    assert_eq!(resp.status, 401);
    assert_eq!(resp.json()["error"]["code"], "invalid_api_key");

    let resp = post(
        &client(),
        &url,
        &[("authorization", "Bearer k")],
        &json!({"messages": []}),
    )
    .await;
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json()["error"]["type"], "invalid_request_error");
    assert!(
        resp.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("model")
    );

    let resp = get(&client(), &format!("{}/nowhere", mock.base_url()), &[]).await;
    assert_eq!(resp.status, 404);
}

#[tokio::test]
async fn the_models_list_takes_each_providers_shape() {
    let mock = MockUpstream::start().await.unwrap();
    mock.set_models(["gpt-4o", "claude-sonnet-4-5"]);
    let base = mock.base_url();
    let openai = get(
        &client(),
        &format!("{base}/v1/models"),
        &[("authorization", "Bearer k")],
    )
    .await
    .json();
    assert_eq!(openai["object"], "list");
    assert_eq!(
        openai["data"][0],
        json!({"id": "gpt-4o", "object": "model", "created": openai["data"][0]["created"], "owned_by": "openai"})
    );
    assert_eq!(openai["data"][1]["owned_by"], "anthropic");

    let anthropic = get(
        &client(),
        &format!("{base}/v1/models"),
        &[("x-api-key", "k"), ANTHROPIC],
    )
    .await
    .json();
    assert_eq!(anthropic["data"][1]["type"], "model");
    assert_eq!(anthropic["last_id"], "claude-sonnet-4-5");
    assert_eq!(anthropic["has_more"], false);

    let gemini = get(
        &client(),
        &format!("{base}/v1beta/models"),
        &[("x-goog-api-key", "k")],
    )
    .await
    .json();
    assert_eq!(gemini["models"][0]["name"], "models/gpt-4o");
}

#[tokio::test]
async fn h2c_clients_are_served() {
    let mock = MockUpstream::start().await.unwrap();
    let url = format!("{}/v1/chat/completions", mock.base_url());
    let client = h2c_client();
    let resp = post(
        &client,
        &url,
        &[("authorization", "Bearer sk-h2")],
        &chat_stream("over h2"),
    )
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(sse(&resp.body).last().unwrap().data, "[DONE]");
    let recorded = mock.requests_for("sk-h2");
    assert_eq!(recorded[0].version, http::Version::HTTP_2);
}
