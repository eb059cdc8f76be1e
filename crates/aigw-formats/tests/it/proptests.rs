//! Property tests: arbitrary JSON-ish input never panics a request translator.

use aigw_domain::Format;
use aigw_formats::{RequestMeta, UpstreamTarget, translate_request};
use proptest::prelude::*;
use serde_json::{Value, json};

const UPSTREAMS: [Format; 5] = [
    Format::OpenAiChat,
    Format::AnthropicMessages,
    Format::OpenAiResponses,
    Format::Gemini,
    Format::Antigravity,
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        (-1.0e6f64..1.0e6).prop_map(|f| json!(f)),
        prop_oneof![
            Just("user".to_owned()),
            Just("assistant".to_owned()),
            Just("tool".to_owned()),
            Just("system".to_owned()),
            Just("text".to_owned()),
            Just("image".to_owned()),
            Just("image_url".to_owned()),
            Just("tool_use".to_owned()),
            Just("tool_result".to_owned()),
            Just("thinking".to_owned()),
            Just("data:image/png;base64,aGk=".to_owned()),
            Just("{\"a\":1}".to_owned()),
            ".{0,8}",
        ]
        .prop_map(Value::String),
    ]
}

/// JSON whose keys are mostly the ones the translators look at, so the
/// generator reaches deep into the typed paths instead of failing at the top.
fn json_value() -> impl Strategy<Value = Value> {
    let keys = prop_oneof![
        Just("role"),
        Just("content"),
        Just("type"),
        Just("text"),
        Just("source"),
        Just("data"),
        Just("media_type"),
        Just("url"),
        Just("image_url"),
        Just("tool_calls"),
        Just("id"),
        Just("function"),
        Just("name"),
        Just("arguments"),
        Just("tool_call_id"),
        Just("input"),
        Just("tool_use_id"),
        Just("is_error"),
        Just("thinking"),
        Just("signature"),
        Just("budget_tokens"),
        Just("tools"),
        Just("tool_choice"),
        Just("parameters"),
        Just("input_schema"),
        Just("stop"),
    ];
    leaf().prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..6).prop_map(|kv| Value::Object(
                kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
            )),
        ]
    })
}

fn request(client: Format) -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(json_value(), 0..5),
        json_value(),
        any::<bool>(),
    )
        .prop_map(move |(messages, extra, stream)| {
            let mut body = json!({"model": "m", "messages": messages, "stream": stream});
            if client == Format::AnthropicMessages {
                body["max_tokens"] = json!(100);
            }
            if let Value::Object(extra) = extra {
                for (k, v) in extra {
                    body[k] = v;
                }
            }
            body
        })
}

/// Well-shaped OpenAI messages with random choices in every field the
/// translators branch on, so deep paths (tool ids, images, arguments) are reached.
fn openai_message() -> impl Strategy<Value = Value> {
    let role = prop_oneof![
        Just("system"),
        Just("developer"),
        Just("user"),
        Just("assistant"),
        Just("tool")
    ];
    let url = prop_oneof![
        Just("data:image/png;base64,aGVsbG8="),
        Just("data:image/png;base64,@@"),
        Just("data:,x"),
        Just("https://example.com/a.png"),
        Just(""),
    ];
    let part = prop_oneof![
        ".{0,6}".prop_map(|t| json!({"type": "text", "text": t})),
        url.prop_map(|u| json!({"type": "image_url", "image_url": {"url": u}})),
        Just(json!({"type": "input_audio", "input_audio": {}})),
    ];
    let content = prop_oneof![
        Just(Value::Null),
        ".{0,6}".prop_map(Value::String),
        prop::collection::vec(part, 0..3).prop_map(Value::Array),
    ];
    let args = prop_oneof![
        Just(""),
        Just("{}"),
        Just("{\"a\":[1]}"),
        Just("["),
        Just("1"),
        Just("null")
    ];
    let call = (prop_oneof![Just("c1"), Just("c2"), Just("")], prop_oneof![Just("f"), Just("g")], args)
        .prop_map(|(id, name, args)| json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}}));
    (
        role,
        content,
        prop::option::of(prop::collection::vec(call, 0..3)),
        prop::option::of(prop_oneof![Just("c1"), Just("c2"), Just("zz")]),
    )
        .prop_map(|(role, content, calls, call_id)| {
            let mut m = json!({"role": role, "content": content});
            if let Some(calls) = calls {
                m["tool_calls"] = Value::Array(calls);
            }
            if let Some(id) = call_id {
                m["tool_call_id"] = json!(id);
            }
            m
        })
}

/// Well-shaped Anthropic messages with random blocks.
fn anthropic_message() -> impl Strategy<Value = Value> {
    let id = prop_oneof![Just("t1"), Just("t2"), Just("a.b:c"), Just("")];
    let image = prop_oneof![
        Just(json!({"type": "base64", "media_type": "image/png", "data": "aGVsbG8="})),
        Just(json!({"type": "base64", "media_type": "image/jpg", "data": "!!"})),
        Just(json!({"type": "url", "url": "https://example.com/a.png"})),
    ];
    let leaf_block = prop_oneof![
        ".{0,6}".prop_map(|t| json!({"type": "text", "text": t})),
        image
            .clone()
            .prop_map(|s| json!({"type": "image", "source": s})),
    ];
    let block = prop_oneof![
        ".{0,6}".prop_map(|t| json!({"type": "text", "text": t})),
        image.prop_map(|s| json!({"type": "image", "source": s})),
        (id.clone(), prop_oneof![Just(json!({})), Just(json!({"a": 1})), Just(json!([1])), Just(json!(null))])
            .prop_map(|(id, input)| json!({"type": "tool_use", "id": id, "name": "f", "input": input})),
        (id, prop_oneof![
            Just(Value::Null),
            ".{0,6}".prop_map(Value::String),
            prop::collection::vec(leaf_block, 0..3).prop_map(Value::Array),
        ], any::<bool>())
            .prop_map(|(id, content, err)| json!({"type": "tool_result", "tool_use_id": id, "content": content, "is_error": err})),
        (".{0,6}", prop_oneof![Just(""), Just("sig")])
            .prop_map(|(t, s)| json!({"type": "thinking", "thinking": t, "signature": s})),
        Just(json!({"type": "redacted_thinking", "data": "xx"})),
    ];
    let content = prop_oneof![
        ".{0,6}".prop_map(Value::String),
        prop::collection::vec(block, 0..4).prop_map(Value::Array)
    ];
    (prop_oneof![Just("user"), Just("assistant")], content)
        .prop_map(|(role, content)| json!({"role": role, "content": content}))
}

/// Top-level options of `client`, some of them invalid.
fn options(client: Format) -> impl Strategy<Value = Value> {
    let tool_choice = match client {
        Format::AnthropicMessages => prop_oneof![
            Just(json!({"type": "auto"})),
            Just(json!({"type": "any"})),
            Just(json!({"type": "tool", "name": "f"})),
            Just(json!({"type": "none"})),
            Just(json!({"type": "auto", "disable_parallel_tool_use": true})),
            Just(json!("auto")),
        ]
        .boxed(),
        _ => prop_oneof![
            Just(json!("auto")),
            Just(json!("required")),
            Just(json!("none")),
            Just(json!({"type": "function", "function": {"name": "f"}})),
            Just(json!({"type": "any"})),
        ]
        .boxed(),
    };
    (
        prop::option::of(tool_choice),
        prop::option::of(prop_oneof![Just("low"), Just("high"), Just("none"), Just("bogus")]),
        prop::option::of(0u32..40_000),
        prop::option::of(prop_oneof![Just(json!([""])), Just(json!(["a", " "])), Just(json!("x")), Just(json!(3))]),
        any::<bool>(),
    )
        .prop_map(move |(tool_choice, effort, budget, stop, parallel)| {
            let mut o = match client {
                Format::AnthropicMessages => json!({"tools": [{"name": "f", "input_schema": {"type": "object"}}]}),
                _ => json!({
                    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
                    "parallel_tool_calls": parallel
                }),
            };
            if let Some(c) = tool_choice {
                o["tool_choice"] = c;
            }
            match (client, effort, budget) {
                (Format::AnthropicMessages, _, Some(b)) => {
                    o["thinking"] = json!({"type": "enabled", "budget_tokens": b});
                    o["max_tokens"] = json!(b / 2 + 1);
                }
                (Format::AnthropicMessages, _, None) => {}
                (_, Some(e), b) => {
                    o["reasoning_effort"] = json!(e);
                    if let Some(b) = b {
                        o["max_completion_tokens"] = json!(b);
                    }
                }
                (_, None, _) => {}
            }
            if let Some(s) = stop {
                let key = if client == Format::AnthropicMessages { "stop_sequences" } else { "stop" };
                o[key] = s;
            }
            o
        })
}

fn shaped(client: Format) -> impl Strategy<Value = Value> {
    let messages = match client {
        Format::AnthropicMessages => prop::collection::vec(anthropic_message(), 0..6).boxed(),
        _ => prop::collection::vec(openai_message(), 0..6).boxed(),
    };
    (messages, options(client)).prop_map(move |(messages, options)| {
        let mut body = json!({"model": "m", "max_tokens": 1000, "messages": messages});
        if let Value::Object(options) = options {
            for (k, v) in options {
                body[k] = v;
            }
        }
        body
    })
}

/// A Gemini part of any kind, some with values of the wrong type.
fn gemini_part() -> impl Strategy<Value = Value> {
    prop_oneof![
        json_value().prop_map(|v| json!({"text": v})),
        "[a-z ]{0,8}".prop_map(|t| json!({"text": t})),
        "[a-z ]{0,8}".prop_map(|t| json!({"text": t, "thought": true, "thoughtSignature": "sig"})),
        Just(json!({"thought": true, "thoughtSignature": "sig"})),
        (json_value(), prop::option::of("[a-c]{1,2}")).prop_map(|(args, id)| {
            json!({"functionCall": {"id": id, "name": "f", "args": args}, "thoughtSignature": "sig"})
        }),
        (json_value(), prop::option::of("[a-c]{1,2}")).prop_map(|(response, id)| {
            json!({"functionResponse": {"id": id, "name": "f", "response": response}})
        }),
        Just(json!({"inlineData": {"mimeType": "image/png", "data": "aGk="}})),
        Just(json!({"inlineData": {"mimeType": "application/pdf", "data": "aGk="}})),
        Just(json!({"fileData": {"fileUri": "gs://b/x.png"}})),
    ]
}

/// A Gemini request: turns of either role, and any mix of options.
fn gemini_request() -> impl Strategy<Value = Value> {
    let content = (
        prop_oneof![Just(json!("user")), Just(json!("model")), Just(Value::Null)],
        prop::collection::vec(gemini_part(), 0..4),
    )
        .prop_map(|(role, parts)| json!({"role": role, "parts": parts}));
    let thinking = prop_oneof![
        Just(json!({"includeThoughts": true})),
        (-2i64..40000).prop_map(|b| json!({"thinkingBudget": b})),
        Just(json!({"thinkingLevel": "LOW"})),
        json_value().prop_map(|v| json!({"thinkingLevel": v})),
    ];
    let config = (
        prop::option::of(thinking),
        prop::option::of(0u32..3),
        prop::option::of(prop_oneof![
            Just("application/json"),
            Just("text/plain"),
            Just("text/x.enum")
        ]),
        prop::option::of(json_value()),
    )
        .prop_map(|(thinking, candidates, mime, schema)| {
            json!({"thinkingConfig": thinking, "candidateCount": candidates,
                "responseMimeType": mime, "responseSchema": schema})
        });
    let tools = prop_oneof![
        Just(
            json!([{"functionDeclarations": [{"name": "f", "parameters": {"type": "OBJECT", "nullable": true}}]}])
        ),
        Just(json!([{"googleSearch": {}}])),
        json_value(),
    ];
    let mode = prop_oneof![Just("AUTO"), Just("ANY"), Just("NONE"), Just("VALIDATED")];
    (
        prop::collection::vec(content, 0..6),
        prop::option::of(config),
        prop::option::of(tools),
        prop::option::of((mode, prop::collection::vec("[f-g]", 0..3))),
    )
        .prop_map(|(contents, config, tools, choice)| {
            let mut body = json!({"contents": contents});
            if let Some(config) = config {
                body["generationConfig"] = config;
            }
            if let Some(tools) = tools {
                body["tools"] = tools;
            }
            if let Some((mode, names)) = choice {
                body["toolConfig"] =
                    json!({"functionCallingConfig": {"mode": mode, "allowedFunctionNames": names}});
            }
            body
        })
}

fn run_all(client: Format, bytes: &[u8]) {
    let _ = RequestMeta::parse(client, bytes);
    let _ = RequestMeta::parse_gemini("m", false, bytes);
    for upstream in UPSTREAMS {
        for stream in [false, true] {
            if let Ok(out) =
                translate_request(client, upstream, bytes, &UpstreamTarget::new("m", stream))
            {
                // Whatever comes out is valid JSON.
                serde_json::from_slice::<Value>(&out).unwrap();
            }
        }
    }
}

proptest! {
    // 256 cases by default keeps `cargo test` fast; PROPTEST_CASES=n runs a longer session.
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn openai_requests_never_panic(body in request(Format::OpenAiChat)) {
        run_all(Format::OpenAiChat, &serde_json::to_vec(&body).unwrap());
    }

    #[test]
    fn anthropic_requests_never_panic(body in request(Format::AnthropicMessages)) {
        run_all(Format::AnthropicMessages, &serde_json::to_vec(&body).unwrap());
    }

    #[test]
    fn shaped_openai_requests_never_panic(body in shaped(Format::OpenAiChat)) {
        run_all(Format::OpenAiChat, &serde_json::to_vec(&body).unwrap());
    }

    #[test]
    fn shaped_anthropic_requests_never_panic(body in shaped(Format::AnthropicMessages)) {
        run_all(Format::AnthropicMessages, &serde_json::to_vec(&body).unwrap());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        run_all(Format::OpenAiChat, &bytes);
        run_all(Format::AnthropicMessages, &bytes);
        run_all(Format::Gemini, &bytes);
    }

    #[test]
    fn gemini_requests_never_panic(body in gemini_request()) {
        run_all(Format::Gemini, &serde_json::to_vec(&body).unwrap());
    }

    #[test]
    fn arbitrary_json_as_gemini_never_panics(body in request(Format::OpenAiChat)) {
        run_all(Format::Gemini, &serde_json::to_vec(&body).unwrap());
    }
}
