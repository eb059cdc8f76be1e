//! `POST /v1/responses`: the OpenAI Responses API in, every upstream kind
//! out, whole and streamed, with the Responses event grammar, tool round
//! trips, instructions as the upstream's system prompt, usage in the request
//! log, and 400s in the OpenAI error shape.

use aigateway::domain::{Page, RequestLogFilter};
use aigw_mock_upstream::{Endpoint, Reply, Usage};
use serde_json::{Value, json};

use crate::support::{Deployment, TestGateway, sse_events};

/// A provider and a model the default rules route to it.
const UPSTREAMS: &[(&str, &str)] = &[
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-sonnet-4-5"),
    ("gemini", "gemini-1.5-flash"),
    ("antigravity", "gemini-2.5-pro"),
];

/// The text of a whole Responses object's message items.
fn output_text(body: &Value) -> String {
    body["output"]
        .as_array()
        .expect("output array")
        .iter()
        .filter(|item| item["type"] == "message")
        .flat_map(|item| item["content"].as_array().into_iter().flatten())
        .filter(|part| part["type"] == "output_text")
        .map(|part| part["text"].as_str().unwrap_or_default())
        .collect()
}

/// Checks the stream's grammar (each event's `type` matches its SSE name,
/// sequence numbers count up from 0, created first and completed last) and
/// returns the streamed text and the completed response.
fn check_stream(case: &str, events: &[(String, Value)]) -> (String, Value) {
    assert!(!events.is_empty(), "{case}: no events");
    for (i, (name, data)) in events.iter().enumerate() {
        assert_eq!(data["type"].as_str(), Some(name.as_str()), "{case}: {data}");
        assert_eq!(
            data["sequence_number"].as_u64(),
            Some(i as u64),
            "{case}: sequence number of {data}"
        );
    }
    assert_eq!(events[0].0, "response.created", "{case}");
    assert_eq!(events.last().unwrap().0, "response.completed", "{case}");
    let mut text = String::new();
    for (name, data) in events {
        match name.as_str() {
            "response.output_text.delta" => {
                assert!(data["item_id"].is_string(), "{case}: {data}");
                assert!(data["output_index"].is_u64(), "{case}: {data}");
                assert!(data["content_index"].is_u64(), "{case}: {data}");
                text.push_str(data["delta"].as_str().unwrap());
            }
            "error" | "response.failed" => panic!("{case}: {data}"),
            _ => {}
        }
    }
    let done = events.last().unwrap().1["response"].clone();
    assert_eq!(done["status"], "completed", "{case}: {done}");
    assert_eq!(output_text(&done), text, "{case}: completed output");
    (text, done)
}

async fn text_to_every_upstream_whole_and_streamed(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    for (i, (provider, _)) in UPSTREAMS.iter().enumerate() {
        let account = format!("resp-{provider}");
        gw.add_account_for(provider, &account).await;
        gw.mock.set_reply(
            &account,
            Reply::text(format!("reply from {provider}"))
                .with_usage(Usage::new(20 + i as u32, 5 + i as u32)),
        );
    }
    for (i, (provider, model)) in UPSTREAMS.iter().enumerate() {
        for stream in [false, true] {
            let case = format!("{provider} stream={stream}");
            let resp = gw
                .post(
                    "/v1/responses",
                    &key,
                    json!({"model": model, "input": "hello", "stream": stream}),
                )
                .await;
            assert_eq!(resp.status, 200, "{case}: {}", resp.text());
            let (text, done) = if stream {
                assert_eq!(resp.headers["content-type"], "text/event-stream", "{case}");
                check_stream(&case, &sse_events(&resp.text()))
            } else {
                let body = resp.json();
                (output_text(&body), body)
            };
            assert_eq!(text, format!("reply from {provider}"), "{case}");
            assert_eq!(done["object"], "response", "{case}: {done}");
            assert!(
                done["id"].as_str().unwrap().starts_with("resp_"),
                "{case}: {done}"
            );
            assert_eq!(done["model"], *model, "{case}");
            assert_eq!(done["usage"]["input_tokens"], 20 + i as u64, "{case}");
            assert_eq!(done["usage"]["output_tokens"], 5 + i as u64, "{case}");
            assert_eq!(done["usage"]["total_tokens"], 25 + 2 * i as u64, "{case}");
        }
    }
    gw.stop().await;
}

/// A function call comes back from an Anthropic upstream as a
/// `function_call` item; the next turn's `function_call_output` reaches it
/// as a `tool_result` for the same call, and `instructions` as `system`.
async fn tool_round_trip_to_anthropic(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_api_key_account("anthropic", "resp-tools").await;
    gw.mock.set_reply(
        "resp-tools",
        Reply::tool_call("get_weather", json!({"city": "Paris"})),
    );
    let tools = json!([{
        "type": "function",
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}
    }]);
    for stream in [false, true] {
        let case = format!("stream={stream}");
        let resp = gw
            .post(
                "/v1/responses",
                &key,
                json!({
                    "model": "claude-sonnet-4-5",
                    "instructions": "You are terse.",
                    "input": [{"role": "user", "content": [{"type": "input_text", "text": "weather?"}]}],
                    "tools": tools,
                    "stream": stream
                }),
            )
            .await;
        assert_eq!(resp.status, 200, "{case}: {}", resp.text());
        let done = if stream {
            let events = sse_events(&resp.text());
            let args: String = events
                .iter()
                .filter(|e| e.0 == "response.function_call_arguments.delta")
                .map(|e| e.1["delta"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(
                serde_json::from_str::<Value>(&args).unwrap(),
                json!({"city": "Paris"}),
                "{case}"
            );
            check_stream(&case, &events).1
        } else {
            resp.json()
        };
        let call = done["output"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["type"] == "function_call")
            .unwrap_or_else(|| panic!("{case}: no function_call in {done}"))
            .clone();
        assert_eq!(call["name"], "get_weather", "{case}");
        assert_eq!(
            serde_json::from_str::<Value>(call["arguments"].as_str().unwrap()).unwrap(),
            json!({"city": "Paris"}),
            "{case}"
        );
        let call_id = call["call_id"].as_str().unwrap().to_owned();
        let upstream = gw.mock.requests_for("resp-tools").pop().unwrap();
        let sent = upstream.json().unwrap();
        assert_eq!(
            system_text(&sent["system"]),
            "You are terse.",
            "{case}: instructions as the system prompt: {sent}"
        );

        // The next turn: the call and its output go back.
        gw.mock.set_reply("resp-tools", Reply::text("It is sunny."));
        let resp = gw
            .post(
                "/v1/responses",
                &key,
                json!({
                    "model": "claude-sonnet-4-5",
                    "input": [
                        {"role": "user", "content": "weather?"},
                        {"type": "function_call", "call_id": call_id, "name": "get_weather",
                         "arguments": "{\"city\":\"Paris\"}"},
                        {"type": "function_call_output", "call_id": call_id, "output": "sunny, 21C"}
                    ],
                    "tools": tools,
                    "stream": stream
                }),
            )
            .await;
        assert_eq!(resp.status, 200, "{case}: {}", resp.text());
        let text = if stream {
            check_stream(&case, &sse_events(&resp.text())).0
        } else {
            output_text(&resp.json())
        };
        assert_eq!(text, "It is sunny.", "{case}");
        let sent = gw
            .mock
            .requests_for("resp-tools")
            .pop()
            .unwrap()
            .json()
            .unwrap();
        let messages = sent["messages"].as_array().unwrap();
        let tool_use = messages
            .iter()
            .flat_map(|m| m["content"].as_array().into_iter().flatten())
            .find(|b| b["type"] == "tool_use")
            .unwrap_or_else(|| panic!("{case}: no tool_use in {sent}"));
        assert_eq!(tool_use["id"], call_id.as_str(), "{case}");
        let result = messages
            .iter()
            .flat_map(|m| m["content"].as_array().into_iter().flatten())
            .find(|b| b["type"] == "tool_result")
            .unwrap_or_else(|| panic!("{case}: no tool_result in {sent}"));
        assert_eq!(result["tool_use_id"], call_id.as_str(), "{case}");
        assert!(
            result.to_string().contains("sunny, 21C"),
            "{case}: {result}"
        );
        gw.mock.set_reply(
            "resp-tools",
            Reply::tool_call("get_weather", json!({"city": "Paris"})),
        );
    }
    gw.stop().await;
}

/// Anthropic's `system`: a string or a list of text blocks.
fn system_text(system: &Value) -> String {
    match system {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .map(|b| b["text"].as_str().unwrap_or_default())
            .collect(),
        _ => String::new(),
    }
}

async fn usage_reaches_the_request_log(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_api_key_account("openai", "resp-usage").await;
    gw.mock.set_reply(
        "resp-usage",
        Reply::text("counted").with_usage(Usage::new(31, 9)),
    );
    for stream in [false, true] {
        let resp = gw
            .post(
                "/v1/responses",
                &key,
                json!({"model": "gpt-4o", "input": "hi", "stream": stream}),
            )
            .await;
        assert_eq!(resp.status, 200, "{}", resp.text());
    }
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
    assert_eq!(logs.total, 2, "{:?}", logs.data);
    for log in &logs.data {
        assert_eq!(log.status_code, 200);
        assert_eq!(log.input_tokens, Some(31), "{log:?}");
        assert_eq!(log.output_tokens, Some(9), "{log:?}");
    }
}

async fn bad_input_is_a_400_in_the_openai_shape(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_api_key_account("openai", "resp-bad").await;
    let cases = [
        (json!({"model": "gpt-4o", "input": 7}), "input"),
        (json!({"model": 7, "input": "hi"}), "model"),
        (
            json!({"model": "gpt-4o", "input": "hi", "stream": "yes"}),
            "stream",
        ),
        (
            json!({"model": "gpt-4o", "input": "hi", "previous_response_id": 5}),
            "previous_response_id",
        ),
    ];
    for (body, field) in cases {
        let resp = gw.post("/v1/responses", &key, body.clone()).await;
        assert_eq!(resp.status, 400, "{body}: {}", resp.text());
        let err = resp.json();
        assert_eq!(err["error"]["type"], "invalid_request_error", "{err}");
        assert_eq!(err["error"]["param"], field, "{body}: {err}");
        assert!(
            err["error"]["message"].as_str().unwrap().contains(field),
            "{err}"
        );
    }
    assert_eq!(gw.mock.count_for("resp-bad"), 0, "nothing went upstream");
    // The path is in the data plane's table: a wrong method is a 405.
    let auth = format!("Bearer {key}");
    let resp = gw
        .request(
            http::Method::GET,
            "/v1/responses",
            &[("authorization", &auth)],
            "",
        )
        .await;
    assert_eq!(resp.status, 405, "{}", resp.text());
    assert_eq!(resp.headers["allow"], "POST");
    assert_eq!(resp.json()["error"]["type"], "invalid_request_error");
    gw.stop().await;
}

/// A stored response lives on the account that made it, which this gateway
/// does not track: a follow-up is refused with a 400 saying why, and is
/// never sent anywhere.
/// The id of a Responses reply, whole or streamed.
fn reply_id(resp: &crate::support::Resp, stream: bool) -> String {
    let done = if stream {
        sse_events(&resp.text()).last().unwrap().1["response"].clone()
    } else {
        resp.json()
    };
    done["id"].as_str().expect("a response id").to_owned()
}

/// The account key of the last request the mock received.
fn last_account(gw: &TestGateway) -> String {
    gw.mock
        .requests()
        .last()
        .unwrap()
        .account_key
        .clone()
        .unwrap()
}

/// A follow-up naming a stored response goes to the account that produced
/// it, among three, whole and streamed, on OpenAI and on Codex; an id the
/// gateway does not know, one made with `store: false`, one whose account is
/// cooling down or gone, and one for an upstream that keeps no responses are
/// 400s saying why, never another account.
async fn previous_response_id_follows_its_account(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    let accounts = ["pin-1", "pin-2", "pin-3"];
    for account in accounts {
        gw.add_api_key_account("openai", account).await;
    }
    let ask = |previous: Option<&str>, stream: bool| {
        let mut body = json!({"model": "gpt-4o", "input": "and then?", "stream": stream});
        if let Some(previous) = previous {
            body["previous_response_id"] = json!(previous);
        }
        body
    };
    for stream in [false, true] {
        let first = gw.post("/v1/responses", &key, ask(None, stream)).await;
        assert_eq!(first.status, 200, "{}", first.text());
        let id = reply_id(&first, stream);
        let owner = last_account(&gw);
        let before: Vec<usize> = accounts.iter().map(|a| gw.mock.count_for(a)).collect();
        let mut previous = id;
        for turn in 0..4 {
            let resp = gw
                .post("/v1/responses", &key, ask(Some(&previous), stream))
                .await;
            // The mock answers 400 unless the id was made by the same key.
            assert_eq!(resp.status, 200, "turn {turn}: {}", resp.text());
            assert_eq!(last_account(&gw), owner, "turn {turn}");
            previous = reply_id(&resp, stream);
        }
        for (i, account) in accounts.iter().enumerate() {
            let more = if *account == owner { 4 } else { 0 };
            assert_eq!(gw.mock.count_for(account), before[i] + more, "{account}");
        }
    }

    let refused = |resp: crate::support::Resp, why: &str| {
        assert_eq!(resp.status, 400, "{}", resp.text());
        let err = resp.json();
        assert_eq!(err["error"]["type"], "invalid_request_error", "{err}");
        assert_eq!(err["error"]["param"], "previous_response_id", "{err}");
        let message = err["error"]["message"].as_str().unwrap();
        assert!(message.contains(why), "{message}");
        assert!(message.contains("input"), "{message}");
    };
    let total = gw.mock.requests().len();
    refused(
        gw.post("/v1/responses", &key, ask(Some("resp_unknown"), false))
            .await,
        "unknown or expired",
    );

    // A response the client asked not to store is not pinned: the upstream
    // keeps nothing to continue, so a follow-up naming it is refused here.
    for stream in [false, true] {
        let mut unstored = ask(None, stream);
        unstored["store"] = json!(false);
        let resp = gw.post("/v1/responses", &key, unstored).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        let id = reply_id(&resp, stream);
        refused(
            gw.post("/v1/responses", &key, ask(Some(&id), stream)).await,
            "`store: false`",
        );
    }
    let total = total + 2;
    assert_eq!(gw.mock.requests().len(), total, "no follow-up was sent");

    // The owner is rate limited: the follow-up gets the upstream's 429, the
    // account cools down, and the next follow-up is told so.
    let first = gw.post("/v1/responses", &key, ask(None, false)).await;
    let id = reply_id(&first, false);
    let owner = last_account(&gw);
    gw.mock
        .set_fault(&owner, aigw_mock_upstream::Fault::rate_limited(30).once());
    let limited = gw.post("/v1/responses", &key, ask(Some(&id), false)).await;
    assert_eq!(limited.status, 429, "{}", limited.text());
    refused(
        gw.post("/v1/responses", &key, ask(Some(&id), true)).await,
        "cooling down",
    );
    assert_eq!(
        gw.mock.requests().len(),
        total + 2,
        "no other account was asked"
    );

    // The owner is gone.
    let owner_id = gw
        .runtime
        .repository()
        .list_active_accounts(None)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.label == owner)
        .unwrap()
        .id;
    gw.runtime
        .repository()
        .delete_account(owner_id)
        .await
        .unwrap();
    gw.runtime.reload().await.unwrap();
    refused(
        gw.post("/v1/responses", &key, ask(Some(&id), false)).await,
        "no longer serves",
    );

    // Anthropic keeps no Responses: nothing to continue there.
    gw.add_api_key_account("anthropic", "pin-claude").await;
    refused(
        gw.post(
            "/v1/responses",
            &key,
            json!({"model": "claude-sonnet-4-5", "input": "x", "previous_response_id": id}),
        )
        .await,
        "does not keep responses",
    );
    assert_eq!(gw.mock.requests().len(), total + 2);

    // Codex accounts are pinned the same way.
    for (token, chatgpt) in [("pin-cx-1", "cx-a"), ("pin-cx-2", "cx-b")] {
        gw.add_account_with("codex", token, crate::codex::chatgpt_grant(token, chatgpt))
            .await;
    }
    let codex = |previous: Option<&str>| {
        let mut body = json!({"model": "gpt-5-codex", "input": "hi", "stream": true});
        if let Some(previous) = previous {
            body["previous_response_id"] = json!(previous);
        }
        body
    };
    let first = gw.post("/v1/responses", &key, codex(None)).await;
    assert_eq!(first.status, 200, "{}", first.text());
    let id = reply_id(&first, true);
    let owner = last_account(&gw);
    for _ in 0..3 {
        let resp = gw.post("/v1/responses", &key, codex(Some(&id))).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(last_account(&gw), owner);
    }
    // Every pin was queued and written: none dropped.
    let metrics = gw
        .request(http::Method::GET, "/metrics", &[], "")
        .await
        .text();
    assert!(
        metrics
            .lines()
            .any(|l| l == "aigw_response_pins_dropped_total 0"),
        "{metrics}"
    );
    // Scale-out: another instance knows the pin too (it is in Redis).
    if d == Deployment::ScaleOut {
        let peer = gw.start_peer().await;
        let resp = peer.post("/v1/responses", &key, codex(Some(&id))).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(last_account(&gw), owner);
        peer.stop().await;
    }
    gw.stop().await;
}

/// A turn in the shape Codex CLI (0.171) sends: developer messages, function
/// tools with `strict: false`, a `namespace` tool grouping its sub-agent
/// functions, a finished call of one of them and its output, reasoning with
/// `include: ["reasoning.encrypted_content"]`, `store: false`,
/// `prompt_cache_key` and `client_metadata`.
fn codex_turn(model: &str, stream: bool) -> Value {
    let schema = json!({"type": "object", "properties": {"id": {"type": "string"}},
                        "required": ["id"], "additionalProperties": false});
    json!({
        "model": model,
        "stream": stream,
        "input": [
            {"type": "message", "id": "msg_1", "role": "developer",
             "content": [{"type": "input_text", "text": "You are a coding agent."}]},
            {"type": "message", "id": "msg_2", "role": "user",
             "content": [{"type": "input_text", "text": "<environment_context>cwd=/src</environment_context>"}]},
            {"type": "message", "id": "msg_3", "role": "user",
             "content": [{"type": "input_text", "text": "Close agent a1."}]},
            {"type": "function_call", "call_id": "call_1", "namespace": "multi_agent_v1",
             "name": "list_agents", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "a1: running"}
        ],
        "tools": [
            {"type": "function", "name": "exec_command", "description": "Run a command.",
             "strict": false,
             "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}},
                            "required": ["cmd"], "additionalProperties": false}},
            {"type": "namespace", "name": "multi_agent_v1",
             "description": "Tools for spawning and managing sub-agents.",
             "tools": [
                {"type": "function", "name": "list_agents", "description": "List agents.",
                 "strict": false, "parameters": {"type": "object", "properties": {}}},
                {"type": "function", "name": "close_agent", "description": "Close an agent.",
                 "strict": false, "parameters": schema}
             ]}
        ],
        "tool_choice": "auto",
        "parallel_tool_calls": true,
        "reasoning": {"summary": "auto"},
        "store": false,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "0a1b2c3d",
        "client_metadata": {"originator": "codex_exec"}
    })
}

/// Codex CLI's namespaced tools reach upstreams without namespaces as
/// `{namespace}__{name}`, and a call of one comes back in its namespace,
/// whole and streamed.
async fn codex_namespaced_tools_round_trip_on_every_upstream(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    // OpenAI itself keeps namespaces (native Responses); GLM stands for the
    // OpenAI-compatible upstreams that have none.
    let upstreams = [
        ("glm", "glm-4.6"),
        ("anthropic", "claude-sonnet-4-5"),
        ("gemini", "gemini-1.5-flash"),
        ("antigravity", "gemini-2.5-pro"),
    ];
    for (provider, model) in upstreams {
        let account = format!("codex-ns-{provider}");
        gw.add_account_for(provider, &account).await;
        gw.mock.set_reply(
            &account,
            Reply::tool_call("multi_agent_v1__close_agent", json!({"id": "a1"})),
        );
        for stream in [false, true] {
            let case = format!("{provider} stream={stream}");
            let resp = gw
                .post("/v1/responses", &key, codex_turn(model, stream))
                .await;
            assert_eq!(resp.status, 200, "{case}: {}", resp.text());
            let done = if stream {
                let events = sse_events(&resp.text());
                let added = events
                    .iter()
                    .find(|e| {
                        e.0 == "response.output_item.added"
                            && e.1["item"]["type"] == "function_call"
                    })
                    .unwrap_or_else(|| panic!("{case}: no function_call added"));
                assert_eq!(added.1["item"]["namespace"], "multi_agent_v1", "{case}");
                check_stream(&case, &events).1
            } else {
                resp.json()
            };
            let call = done["output"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["type"] == "function_call")
                .unwrap_or_else(|| panic!("{case}: no function_call in {done}"))
                .clone();
            assert_eq!(call["name"], "close_agent", "{case}: {call}");
            assert_eq!(call["namespace"], "multi_agent_v1", "{case}: {call}");
            let sent = gw.mock.requests_for(&account).pop().unwrap();
            let sent = String::from_utf8(sent.body.to_vec()).unwrap();
            for name in ["multi_agent_v1__close_agent", "multi_agent_v1__list_agents"] {
                assert!(
                    sent.contains(name),
                    "{case}: {name} declared or called: {sent}"
                );
            }
            assert!(sent.contains("exec_command"), "{case}");
        }
    }
    gw.stop().await;
}

/// Codex CLI's cached web search cannot run anywhere but an OpenAI Responses
/// upstream: a 400 naming the tool and how to turn it off.
async fn codex_web_search_is_refused_with_the_way_out(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_api_key_account("anthropic", "codex-ws").await;
    let mut body = codex_turn("claude-sonnet-4-5", false);
    body["tools"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "web_search", "external_web_access": false}));
    let resp = gw.post("/v1/responses", &key, body).await;
    assert_eq!(resp.status, 400, "{}", resp.text());
    let err = resp.json();
    assert_eq!(err["error"]["param"], "tools[2].type", "{err}");
    let message = err["error"]["message"].as_str().unwrap();
    assert!(message.contains("web_search = \"disabled\""), "{message}");
    assert_eq!(gw.mock.count_for("codex-ws"), 0);
    gw.stop().await;
}

/// A Responses request with fields only the Responses API has, which a
/// translation to Chat Completions would lose.
fn rich_responses_request(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "hello"}]}],
        "instructions": "be brief",
        "stream": stream,
        "store": true,
        "truncation": "auto",
        "include": ["reasoning.encrypted_content"],
        "text": {"verbosity": "low"},
        "tools": [{"type": "web_search"}],
        "metadata": {"ticket": "t-1"},
    })
}

/// The built-in `openai` provider serves the Responses API: a Responses
/// client's request goes to `{base}/responses` as it came (model aside),
/// whole and streamed. Another OpenAI-compatible provider (GLM) gets it
/// translated to Chat Completions until an admin says it serves Responses.
async fn responses_go_natively_to_openai_and_translated_elsewhere(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_api_key_account("openai", "sk-native").await;
    gw.mock.set_reply("sk-native", Reply::text("native answer"));
    for stream in [false, true] {
        let sent = rich_responses_request("gpt-4o", stream);
        let resp = gw.post("/v1/responses", &key, sent.clone()).await;
        assert_eq!(resp.status, 200, "stream={stream}: {}", resp.text());
        let done = if stream {
            check_stream("native", &sse_events(&resp.text())).1
        } else {
            resp.json()
        };
        assert_eq!(output_text(&done), "native answer", "{done}");
        let upstream = gw.mock.requests_to(Endpoint::OpenAiResponses);
        let received: Value = serde_json::from_slice(&upstream.last().unwrap().body).unwrap();
        assert_eq!(received, sent, "the request went on untouched");
    }
    assert!(gw.mock.requests_to(Endpoint::OpenAiChat).is_empty());

    // GLM speaks Chat Completions only: the request is translated.
    gw.add_api_key_account("glm", "glm-key").await;
    let plain = json!({"model": "glm-4.6", "input": "hi", "instructions": "be brief"});
    let resp = gw.post("/v1/responses", &key, plain.clone()).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let chat = gw.mock.requests_to(Endpoint::OpenAiChat);
    assert_eq!(chat.len(), 1);
    assert!(chat[0].path.ends_with("/api/paas/v4/chat/completions"));
    let responses_calls = gw.mock.requests_to(Endpoint::OpenAiResponses).len();

    // An admin says GLM serves Responses: it now gets them natively.
    let api = crate::api::Api::new(&gw);
    let admin = api.admin().await;
    let changed = api
        .put(
            "/api/v1/providers/glm",
            &admin,
            json!({"native_responses": true}),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text());
    assert_eq!(changed.json()["native_responses"], true);
    let listed = api.get("/api/v1/providers/openai", &admin).await.json();
    assert_eq!(listed["native_responses"], true, "{listed}");
    let resp = gw.post("/v1/responses", &key, plain).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let native = gw.mock.requests_to(Endpoint::OpenAiResponses);
    assert_eq!(native.len(), responses_calls + 1);
    assert!(
        native
            .last()
            .unwrap()
            .path
            .ends_with("/api/paas/v4/responses")
    );
    assert_eq!(gw.mock.requests_to(Endpoint::OpenAiChat).len(), 1);

    // Only OpenAI-compatible providers can say so.
    let refused = api
        .put(
            "/api/v1/providers/anthropic",
            &admin,
            json!({"native_responses": true}),
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.text());
    assert!(
        refused.text().contains("native_responses"),
        "{}",
        refused.text()
    );
}

deployment_tests!(
    codex_namespaced_tools_round_trip_on_every_upstream,
    codex_web_search_is_refused_with_the_way_out,
    responses_go_natively_to_openai_and_translated_elsewhere,
    text_to_every_upstream_whole_and_streamed,
    tool_round_trip_to_anthropic,
    usage_reaches_the_request_log,
    bad_input_is_a_400_in_the_openai_shape,
    previous_response_id_follows_its_account,
);
