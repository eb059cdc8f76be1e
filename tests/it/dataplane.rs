//! Every client format against every upstream kind, whole and streamed;
//! round-robin across accounts; streams that arrive as events; client
//! disconnects that reach the upstream.

use std::time::Duration;

use aigw_mock_upstream::{Fault, Reply, Usage};
use http::Method;
use http_body_util::BodyExt;
use serde_json::json;

use crate::support::{Deployment, TestGateway, sse_events};

/// An upstream kind, the provider id, and a model the default rules route there.
const UPSTREAMS: &[(&str, &str)] = &[
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-sonnet-4-5"),
    ("gemini", "gemini-1.5-flash"),
    ("antigravity", "gemini-2.5-pro"),
];

fn client_body(path: &str, model: &str, text: &str, stream: bool) -> serde_json::Value {
    if path == "/v1/messages" {
        json!({
            "model": model,
            "max_tokens": 256,
            "stream": stream,
            "messages": [{"role": "user", "content": text}]
        })
    } else {
        let mut body = json!({
            "model": model,
            "stream": stream,
            "messages": [{"role": "user", "content": text}]
        });
        if stream {
            body["stream_options"] = json!({"include_usage": true});
        }
        body
    }
}

/// The text, and (input, output) usage, of a whole response in the client's format.
fn whole_text(path: &str, body: &serde_json::Value) -> (String, u64, u64) {
    if path == "/v1/messages" {
        assert_eq!(body["type"], "message", "{body}");
        assert_eq!(body["role"], "assistant", "{body}");
        let text = body["content"]
            .as_array()
            .expect("content array")
            .iter()
            .filter(|b| b["type"] == "text")
            .map(|b| b["text"].as_str().unwrap_or_default())
            .collect();
        (
            text,
            body["usage"]["input_tokens"].as_u64().unwrap_or_default(),
            body["usage"]["output_tokens"].as_u64().unwrap_or_default(),
        )
    } else {
        assert_eq!(body["object"], "chat.completion", "{body}");
        let text = body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        (
            text,
            body["usage"]["prompt_tokens"].as_u64().unwrap_or_default(),
            body["usage"]["completion_tokens"]
                .as_u64()
                .unwrap_or_default(),
        )
    }
}

/// The text and (input, output) usage of a streamed response, checking the
/// client grammar's framing on the way.
fn streamed_text(path: &str, events: &[(String, serde_json::Value)]) -> (String, u64, u64) {
    let mut text = String::new();
    let (mut input, mut output) = (0, 0);
    if path == "/v1/messages" {
        assert_eq!(events.first().map(|e| e.0.as_str()), Some("message_start"));
        assert_eq!(events.last().map(|e| e.0.as_str()), Some("message_stop"));
        for (name, data) in events {
            match name.as_str() {
                "message_start" => {
                    input = data["message"]["usage"]["input_tokens"]
                        .as_u64()
                        .unwrap_or_default();
                }
                "content_block_delta" if data["delta"]["type"] == "text_delta" => {
                    text.push_str(data["delta"]["text"].as_str().unwrap_or_default());
                }
                "message_delta" => {
                    output = data["usage"]["output_tokens"].as_u64().unwrap_or_default();
                    if let Some(i) = data["usage"]["input_tokens"].as_u64() {
                        input = input.max(i);
                    }
                }
                "error" => panic!("error event: {data}"),
                _ => {}
            }
        }
    } else {
        assert_eq!(events.last().map(|e| e.0.as_str()), Some("done"));
        for (_, data) in events.iter().filter(|e| e.0 != "done") {
            assert_eq!(data["object"], "chat.completion.chunk", "{data}");
            if let Some(t) = data["choices"][0]["delta"]["content"].as_str() {
                text.push_str(t);
            }
            if data["usage"].is_object() {
                input = data["usage"]["prompt_tokens"].as_u64().unwrap_or_default();
                output = data["usage"]["completion_tokens"]
                    .as_u64()
                    .unwrap_or_default();
            }
        }
    }
    (text, input, output)
}

async fn every_client_against_every_upstream(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    for (i, (provider, _)) in UPSTREAMS.iter().enumerate() {
        let account_key = format!("acct-{provider}");
        gw.add_account_for(provider, &account_key).await;
        gw.mock.set_reply(
            &account_key,
            Reply::text(format!("reply from {provider}")).with_usage(Usage {
                prompt_tokens: 11 + i as u32,
                completion_tokens: 7 + i as u32,
                ..Usage::default()
            }),
        );
    }
    for (i, (provider, model)) in UPSTREAMS.iter().enumerate() {
        for path in ["/v1/chat/completions", "/v1/messages"] {
            for stream in [false, true] {
                let case = format!("{path} -> {provider}, stream={stream}");
                let before = gw.mock.count_for(&format!("acct-{provider}"));
                let resp = gw
                    .post(path, &key, client_body(path, model, "hello", stream))
                    .await;
                assert_eq!(resp.status, 200, "{case}: {}", resp.text());
                let (text, input, output) = if stream {
                    assert_eq!(resp.headers["content-type"], "text/event-stream", "{case}");
                    streamed_text(path, &sse_events(&resp.text()))
                } else {
                    whole_text(path, &resp.json())
                };
                assert_eq!(text, format!("reply from {provider}"), "{case}");
                assert_eq!(input, 11 + i as u64, "{case}: input tokens");
                assert_eq!(output, 7 + i as u64, "{case}: output tokens");
                assert_eq!(
                    gw.mock.count_for(&format!("acct-{provider}")),
                    before + 1,
                    "{case}: one upstream call"
                );
                assert!(resp.headers.contains_key("x-request-id"), "{case}");
            }
        }
    }
    gw.stop().await;
}

async fn tool_calls_reach_both_clients(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    for (provider, model) in UPSTREAMS {
        let account_key = format!("tools-{provider}");
        gw.add_account_for(provider, &account_key).await;
        gw.mock.set_reply(
            &account_key,
            Reply::tool_call("get_weather", json!({"city": "Paris", "unit": "c"}))
                .with_tool_call("get_time", json!({"tz": "Europe/Paris"})),
        );
        for stream in [false, true] {
            let case = format!("{provider} stream={stream}");
            // OpenAI client.
            let resp = gw
                .post(
                    "/v1/chat/completions",
                    &key,
                    client_body("/v1/chat/completions", model, "weather?", stream),
                )
                .await;
            assert_eq!(resp.status, 200, "{case}: {}", resp.text());
            let mut calls: Vec<(String, String)> = Vec::new();
            let mut finish = String::new();
            if stream {
                let events = sse_events(&resp.text());
                for (_, e) in events.iter().filter(|e| e.0 != "done") {
                    if let Some(f) = e["choices"][0]["finish_reason"].as_str() {
                        finish = f.to_owned();
                    }
                    for tc in e["choices"][0]["delta"]["tool_calls"]
                        .as_array()
                        .into_iter()
                        .flatten()
                    {
                        let idx = tc["index"].as_u64().unwrap() as usize;
                        if calls.len() <= idx {
                            calls.resize(idx + 1, Default::default());
                        }
                        if let Some(n) = tc["function"]["name"].as_str() {
                            calls[idx].0 = n.to_owned();
                        }
                        if let Some(a) = tc["function"]["arguments"].as_str() {
                            calls[idx].1.push_str(a);
                        }
                    }
                }
            } else {
                let body = resp.json();
                finish = body["choices"][0]["finish_reason"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                for tc in body["choices"][0]["message"]["tool_calls"]
                    .as_array()
                    .unwrap()
                {
                    calls.push((
                        tc["function"]["name"].as_str().unwrap().to_owned(),
                        tc["function"]["arguments"].as_str().unwrap().to_owned(),
                    ));
                }
            }
            assert_eq!(finish, "tool_calls", "{case}");
            assert_eq!(calls.len(), 2, "{case}: {calls:?}");
            assert_eq!(calls[0].0, "get_weather", "{case}");
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&calls[0].1).unwrap(),
                json!({"city": "Paris", "unit": "c"}),
                "{case}"
            );
            assert_eq!(calls[1].0, "get_time", "{case}");

            // Anthropic client.
            let resp = gw
                .post(
                    "/v1/messages",
                    &key,
                    client_body("/v1/messages", model, "weather?", stream),
                )
                .await;
            assert_eq!(resp.status, 200, "{case}: {}", resp.text());
            let (names, stop_reason) = if stream {
                let events = sse_events(&resp.text());
                let mut names = Vec::new();
                let mut args: Vec<String> = Vec::new();
                let mut stop = String::new();
                for (name, e) in &events {
                    match name.as_str() {
                        "content_block_start" if e["content_block"]["type"] == "tool_use" => {
                            names.push(e["content_block"]["name"].as_str().unwrap().to_owned());
                            args.push(String::new());
                        }
                        "content_block_delta" if e["delta"]["type"] == "input_json_delta" => {
                            args.last_mut()
                                .unwrap()
                                .push_str(e["delta"]["partial_json"].as_str().unwrap());
                        }
                        "message_delta" => {
                            stop = e["delta"]["stop_reason"].as_str().unwrap().to_owned();
                        }
                        _ => {}
                    }
                }
                assert_eq!(
                    serde_json::from_str::<serde_json::Value>(&args[0]).unwrap(),
                    json!({"city": "Paris", "unit": "c"}),
                    "{case}"
                );
                (names, stop)
            } else {
                let body = resp.json();
                let blocks = body["content"].as_array().unwrap();
                let uses: Vec<_> = blocks.iter().filter(|b| b["type"] == "tool_use").collect();
                assert_eq!(
                    uses[0]["input"],
                    json!({"city": "Paris", "unit": "c"}),
                    "{case}"
                );
                (
                    uses.iter()
                        .map(|b| b["name"].as_str().unwrap().to_owned())
                        .collect(),
                    body["stop_reason"].as_str().unwrap().to_owned(),
                )
            };
            assert_eq!(names, ["get_weather", "get_time"], "{case}");
            assert_eq!(stop_reason, "tool_use", "{case}");
        }
    }
    gw.stop().await;
}

async fn round_robin_spreads_evenly(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    let accounts: Vec<String> = (0..7).map(|i| format!("rr-{i}")).collect();
    for a in &accounts {
        gw.add_api_key_account("openai", a).await;
    }
    gw.mock.set_recording(false);
    let total = 7_000;
    let body = client_body("/v1/chat/completions", "gpt-4o-mini", "hi", false).to_string();
    let auth = format!("Bearer {key}");
    let concurrency = 16;
    let mut tasks = Vec::new();
    let gw = std::sync::Arc::new(gw);
    for worker in 0..concurrency {
        let gw = gw.clone();
        let body = body.clone();
        let auth = auth.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = worker;
            while n < total {
                let resp = gw
                    .request(
                        Method::POST,
                        "/v1/chat/completions",
                        &[
                            ("authorization", &auth),
                            ("content-type", "application/json"),
                        ],
                        body.clone(),
                    )
                    .await;
                assert_eq!(resp.status, 200, "{}", resp.text());
                n += concurrency;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let counts: Vec<usize> = accounts.iter().map(|a| gw.mock.count_for(a)).collect();
    assert_eq!(counts.iter().sum::<usize>(), total, "{counts:?}");
    for (a, c) in accounts.iter().zip(&counts) {
        assert!(c.abs_diff(1000) <= 1, "{a} got {c} of {total}: {counts:?}");
    }
}

async fn streams_arrive_as_events_not_one_block(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_api_key_account("anthropic", "slow").await;
    gw.mock
        .set_reply("slow", Reply::text("one two three four five six"));
    gw.mock.set_fault(
        "slow",
        Fault::SlowStream {
            per_event: Duration::from_millis(150),
        },
    );
    for path in ["/v1/chat/completions", "/v1/messages"] {
        let body = client_body(path, "claude-sonnet-4-5", "hi", true).to_string();
        let auth = format!("Bearer {key}");
        let headers: Vec<(&str, &str)> = if path == "/v1/messages" {
            vec![("x-api-key", key.as_str())]
        } else {
            vec![("authorization", auth.as_str())]
        };
        let started = tokio::time::Instant::now();
        let resp = gw.send(Method::POST, path, &headers, body).await;
        assert_eq!(resp.status(), 200);
        let mut body = resp.into_body();
        let first = loop {
            let frame = body.frame().await.expect("a frame").expect("frame ok");
            if let Ok(data) = frame.into_data()
                && !data.is_empty()
            {
                break started.elapsed();
            }
        };
        while let Some(frame) = body.frame().await {
            frame.expect("frame ok");
        }
        let total = started.elapsed();
        // The slow stream spreads its events over more than a second; the
        // first must reach the client well before the last is produced.
        assert!(
            total >= Duration::from_millis(900) && first + Duration::from_millis(600) < total,
            "{path}: first event after {first:?}, stream done after {total:?}"
        );
    }
}

async fn client_disconnect_closes_the_upstream(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_api_key_account("openai", "dc").await;
    gw.mock
        .set_reply("dc", Reply::text("a b c d e f g h i j k l m n o p"));
    gw.mock.set_fault(
        "dc",
        Fault::SlowStream {
            per_event: Duration::from_millis(200),
        },
    );
    let before = gw.mock.disconnects();
    let auth = format!("Bearer {key}");
    let resp = gw
        .send(
            Method::POST,
            "/v1/chat/completions",
            &[("authorization", &auth)],
            client_body("/v1/chat/completions", "gpt-4o", "hi", true).to_string(),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let _ = body.frame().await;
    drop(body);
    assert!(
        gw.mock
            .wait_disconnects(before + 1, Duration::from_secs(1))
            .await,
        "the upstream stream was not closed within a second of the client leaving"
    );
}

async fn finished_streams_keep_their_upstream_connection(d: Deployment) {
    // A stream's reader stops at the end marker, before the chunked encoding's last chunk;
    // the upstream connection must still go back to the pool rather than close, or every
    // streamed request pays a new connection (and, over TLS, a handshake).
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_api_key_account("openai", "oa").await;
    gw.add_api_key_account("anthropic", "an").await;
    for (path, model) in [
        ("/v1/chat/completions", "gpt-4o"),
        ("/v1/messages", "claude-sonnet-4-5"),
    ] {
        let before = gw.mock.connections();
        for _ in 0..5 {
            let body = client_body(path, model, "hi", true);
            let resp = gw.post(path, &key, body).await;
            assert_eq!(resp.status, 200, "{path}: {}", resp.text());
            assert!(!sse_events(&resp.text()).is_empty(), "{path}");
        }
        // One connection serves all five; a second is tolerated should the last chunk of one
        // stream ever arrive after its reader let go (closing them would open one per stream).
        let opened = gw.mock.connections() - before;
        assert!(
            opened <= 2,
            "{path}: five streams opened {opened} upstream connections"
        );
    }
}

deployment_tests!(
    every_client_against_every_upstream,
    tool_calls_reach_both_clients,
    round_robin_spreads_evenly,
    streams_arrive_as_events_not_one_block,
    client_disconnect_closes_the_upstream,
    finished_streams_keep_their_upstream_connection,
);
