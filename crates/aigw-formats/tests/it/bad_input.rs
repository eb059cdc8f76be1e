//! Bad client input gives typed errors naming the JSON path, for every pair; never a panic.

use aigw_domain::Format;
use aigw_formats::{FormatError, UpstreamTarget, translate_request};

const UPSTREAMS: [Format; 4] = [
    Format::OpenAiChat,
    Format::AnthropicMessages,
    Format::Gemini,
    Format::Antigravity,
];

fn translate(client: Format, upstream: Format, body: &str) -> Result<bytes::Bytes, FormatError> {
    translate_request(
        client,
        upstream,
        body.as_bytes(),
        &UpstreamTarget::new("m", false),
    )
}

/// Cross-format translations (same-format ones only look at the top level).
fn cross(client: Format) -> impl Iterator<Item = Format> {
    UPSTREAMS.into_iter().filter(move |u| *u != client)
}

#[test]
fn malformed_json_is_a_syntax_error_everywhere() {
    for client in [Format::OpenAiChat, Format::AnthropicMessages] {
        for upstream in UPSTREAMS {
            for body in [
                "",
                "{",
                "{\"model\":",
                "nul",
                "{\"model\" \"m\"}",
                "{\"model\":\"m\",}",
            ] {
                let err = translate(client, upstream, body).unwrap_err();
                assert!(
                    matches!(err, FormatError::MalformedJson { .. }),
                    "{client:?}->{upstream:?} {body:?}: {err:?}"
                );
            }
        }
    }
}

#[test]
fn trailing_garbage_after_a_valid_body_is_a_syntax_error() {
    let bodies = [
        (Format::OpenAiChat, r#"{"model":"m","messages":[]}}"#),
        (
            Format::AnthropicMessages,
            r#"{"model":"m","max_tokens":1,"messages":[]} x"#,
        ),
    ];
    for (client, body) in bodies {
        for upstream in UPSTREAMS {
            let err = translate(client, upstream, body).unwrap_err();
            assert!(
                matches!(err, FormatError::MalformedJson { .. }),
                "{client:?}->{upstream:?}: {err:?}"
            );
        }
    }
}

fn assert_path(client: Format, body: &str, path: &str) {
    for upstream in cross(client) {
        let err = translate(client, upstream, body).unwrap_err();
        assert_eq!(err.path(), Some(path), "{client:?}->{upstream:?}: {err}");
        assert!(err.is_client_error());
        assert!(
            err.to_string().contains(path),
            "message names the path: {err}"
        );
    }
}

#[test]
fn openai_wrong_types_and_missing_fields_name_the_path() {
    let c = Format::OpenAiChat;
    assert_path(c, r#"{"messages":[]}"#, "model");
    assert_path(c, r#"{"model":"m"}"#, "messages");
    assert_path(
        c,
        r#"{"model":"m","messages":[{"content":"x"}]}"#,
        "messages[0].role",
    );
    assert_path(
        c,
        r#"{"model":"m","messages":[{"role":"wizard","content":"x"}]}"#,
        "messages[0].role",
    );
    assert_path(
        c,
        r#"{"model":"m","messages":[{"role":"user","content":5}]}"#,
        "messages[0].content",
    );
    assert_path(
        c,
        r#"{"model":"m","messages":[{"role":"user","content":["x"]}]}"#,
        "messages[0].content[0]",
    );
    assert_path(
        c,
        r#"{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":"hot"}"#,
        "temperature",
    );
    assert_path(
        c,
        r#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":-5}"#,
        "max_tokens",
    );
    assert_path(
        c,
        r#"{"model":"m","messages":[{"role":"tool","content":"x"}]}"#,
        "messages[0].tool_call_id",
    );
    assert_path(
        c,
        r#"{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"arguments":"{}"}}]}]}"#,
        "messages[0].tool_calls[0].function.name",
    );
    assert_path(
        c,
        r#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,@@@"}}]}]}"#,
        "messages[0].content[0].image_url.url",
    );
    assert_path(
        c,
        r#"{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":1}}]}"#,
        "tools[0].function.name",
    );
    // A number where an enum's string belongs is the field's fault, not bad JSON.
    assert_path(
        c,
        r#"{"model":"m","messages":[],"reasoning_effort":1}"#,
        "reasoning_effort",
    );
}

#[test]
fn anthropic_wrong_types_and_missing_fields_name_the_path() {
    let c = Format::AnthropicMessages;
    assert_path(c, r#"{"model":"m","messages":[]}"#, "max_tokens");
    assert_path(
        c,
        r#"{"model":"m","max_tokens":1,"messages":[{"role":"system","content":"x"}]}"#,
        "messages[0].role",
    );
    assert_path(
        c,
        r#"{"model":"m","max_tokens":1,"messages":[{"role":"user","content":{"text":"x"}}]}"#,
        "messages[0].content",
    );
    assert_path(
        c,
        r#"{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"text","text":3}]}]}"#,
        "messages[0].content[0]",
    );
    assert_path(
        c,
        r#"{"model":"m","max_tokens":1,"system":[{"type":"text"}],"messages":[]}"#,
        "system[0].text",
    );
    assert_path(
        c,
        r#"{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"%%%"}}]}]}"#,
        "messages[0].content[0].source.data",
    );
    assert_path(
        c,
        r#"{"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":[1]}]}]}"#,
        "messages[0].content[0].input",
    );
    assert_path(
        c,
        r#"{"model":"m","max_tokens":1,"messages":[],"thinking":{"type":"enabled"}}"#,
        "thinking.budget_tokens",
    );
}

#[test]
fn openai_image_url_to_gemini_is_unsupported_not_dropped() {
    let body = r#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}"#;
    for upstream in [Format::Gemini, Format::Antigravity] {
        let err = translate(Format::OpenAiChat, upstream, body).unwrap_err();
        assert!(matches!(err, FormatError::Unsupported { .. }), "{err:?}");
        assert_eq!(err.path(), Some("messages[0].content[0].image_url.url"));
    }
    assert!(translate(Format::OpenAiChat, Format::AnthropicMessages, body).is_ok());
}
