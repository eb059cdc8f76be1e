//! Property tests: arbitrary JSON-ish input never panics a request translator.

use aigw_domain::Format;
use aigw_formats::{RequestMeta, UpstreamTarget, translate_request};
use proptest::prelude::*;
use serde_json::{Value, json};

const UPSTREAMS: [Format; 4] = [
    Format::OpenAiChat,
    Format::AnthropicMessages,
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

fn run_all(client: Format, bytes: &[u8]) {
    let _ = RequestMeta::parse(client, bytes);
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
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn openai_requests_never_panic(body in request(Format::OpenAiChat)) {
        run_all(Format::OpenAiChat, &serde_json::to_vec(&body).unwrap());
    }

    #[test]
    fn anthropic_requests_never_panic(body in request(Format::AnthropicMessages)) {
        run_all(Format::AnthropicMessages, &serde_json::to_vec(&body).unwrap());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        run_all(Format::OpenAiChat, &bytes);
        run_all(Format::AnthropicMessages, &bytes);
    }
}
