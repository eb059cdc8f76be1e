//! Bad client input gives typed errors naming the JSON path, for every pair; never a panic.

use aigw_domain::Format;
use aigw_formats::{FormatError, UpstreamTarget, translate_request};

const UPSTREAMS: [Format; 5] = [
    Format::OpenAiChat,
    Format::AnthropicMessages,
    Format::OpenAiResponses,
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
    for client in [
        Format::OpenAiChat,
        Format::AnthropicMessages,
        Format::OpenAiResponses,
    ] {
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
        (Format::OpenAiResponses, r#"{"model":"m","input":"x"}]"#),
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
        r#"{"model":"m","max_tokens":1,"messages":[{"role":"tool","content":"x"}]}"#,
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
        "messages[0].content[0].text",
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
fn openai_image_url_to_antigravity_is_unsupported_not_dropped() {
    let body = r#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}"#;
    let err = translate(Format::OpenAiChat, Format::Antigravity, body).unwrap_err();
    assert!(matches!(err, FormatError::Unsupported { .. }), "{err:?}");
    assert_eq!(err.path(), Some("messages[0].content[0].image_url.url"));
    // Gemini fetches the URL itself, as `fileData`.
    assert!(translate(Format::OpenAiChat, Format::Gemini, body).is_ok());
    assert!(translate(Format::OpenAiChat, Format::AnthropicMessages, body).is_ok());
}

#[test]
fn responses_wrong_types_and_missing_fields_name_the_path() {
    let c = Format::OpenAiResponses;
    let cases = [
        (r#"{"input":"x"}"#, "model"),
        (r#"{"model":"m","input":5}"#, "input"),
        (r#"{"model":"m","instructions":5}"#, "instructions"),
        (
            r#"{"model":"m","input":[{"role":"wizard","content":"x"}]}"#,
            "input[0].role",
        ),
        (
            r#"{"model":"m","input":[{"content":"x"}]}"#,
            "input[0].role",
        ),
        (
            r#"{"model":"m","input":[{"role":"user","content":5}]}"#,
            "input[0].content",
        ),
        (
            r#"{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":3}]}]}"#,
            "input[0].content[0].text",
        ),
        (
            r#"{"model":"m","input":[{"role":"user","content":[{"type":"input_image","image_url":"data:image/png;base64,@@@"}]}]}"#,
            "input[0].content[0].image_url",
        ),
        (
            r#"{"model":"m","input":[{"type":"function_call","call_id":"c","name":"f","arguments":"[1]"}]}"#,
            "input[0].arguments",
        ),
        (
            r#"{"model":"m","input":[{"type":"function_call","call_id":"c","arguments":"{}"}]}"#,
            "input[0].name",
        ),
        (
            r#"{"model":"m","input":[{"type":"function_call","name":"f","arguments":{}}]}"#,
            "input[0].arguments",
        ),
        (
            r#"{"model":"m","input":[{"type":"function_call_output","output":"x"}]}"#,
            "input[0].call_id",
        ),
        (
            r#"{"model":"m","input":[{"type":"function_call_output","call_id":"c"}]}"#,
            "input[0].output",
        ),
        (
            r#"{"model":"m","input":[{"type":"reasoning","summary":"x"}]}"#,
            "input[0].summary",
        ),
        (
            r#"{"model":"m","input":[{"type":"reasoning","encrypted_content":1}]}"#,
            "input[0].encrypted_content",
        ),
        (
            r#"{"model":"m","input":"x","tools":[{"name":"f"}]}"#,
            "tools[0].type",
        ),
        (
            r#"{"model":"m","input":"x","tools":[{"type":"function"}]}"#,
            "tools[0].name",
        ),
        (
            r#"{"model":"m","input":"x","tools":[{"type":"function","name":"f","strict":"no"}]}"#,
            "tools[0].strict",
        ),
        (
            r#"{"model":"m","input":"x","tool_choice":"sometimes"}"#,
            "tool_choice",
        ),
        (
            r#"{"model":"m","input":"x","tool_choice":{"type":"function"}}"#,
            "tool_choice.name",
        ),
        (
            r#"{"model":"m","input":"x","parallel_tool_calls":"yes"}"#,
            "parallel_tool_calls",
        ),
        (
            r#"{"model":"m","input":"x","max_output_tokens":-1}"#,
            "max_output_tokens",
        ),
        (
            r#"{"model":"m","input":"x","temperature":"hot"}"#,
            "temperature",
        ),
        (r#"{"model":"m","input":"x","top_p":[]}"#, "top_p"),
        (
            r#"{"model":"m","input":"x","reasoning":{"effort":"extreme"}}"#,
            "reasoning.effort",
        ),
        (
            r#"{"model":"m","input":"x","reasoning":{"summary":1}}"#,
            "reasoning.summary",
        ),
        (
            r#"{"model":"m","input":"x","text":{"format":{"type":"yaml"}}}"#,
            "text.format.type",
        ),
        (
            r#"{"model":"m","input":"x","text":{"format":{"type":"json_schema"}}}"#,
            "text.format.name",
        ),
        (
            r#"{"model":"m","input":"x","metadata":{"k":1}}"#,
            "metadata.k",
        ),
        (r#"{"model":"m","input":"x","user":1}"#, "user"),
        (
            r#"{"model":"m","input":"x","prompt_cache_key":1}"#,
            "prompt_cache_key",
        ),
        (r#"{"model":"m","input":"x","store":"no"}"#, "store"),
        (
            r#"{"model":"m","input":"x","include":"reasoning.encrypted_content"}"#,
            "include",
        ),
        (r#"{"model":"m","input":"x","stream":"yes"}"#, "stream"),
        (
            r#"{"model":"m","input":"x","previous_response_id":5}"#,
            "previous_response_id",
        ),
    ];
    for (body, path) in cases {
        assert_path(c, body, path);
    }
}

#[test]
fn responses_items_and_tools_other_upstreams_cannot_run_are_named() {
    let body = r#"{"model":"m","input":[{"type":"item_reference","id":"msg_1"}]}"#;
    for upstream in cross(Format::OpenAiResponses) {
        let err = translate(Format::OpenAiResponses, upstream, body).unwrap_err();
        assert!(matches!(err, FormatError::Unsupported { .. }), "{err:?}");
        assert_eq!(err.path(), Some("input[0].type"));
        assert!(err.to_string().contains("`item_reference`"), "{err}");
    }
    let body = r#"{"model":"m","input":"x","tools":[{"type":"custom","name":"apply_patch"}]}"#;
    let err = translate(Format::OpenAiResponses, Format::AnthropicMessages, body).unwrap_err();
    assert_eq!(err.path(), Some("tools[0].type"));
    assert!(err.to_string().contains("`custom` tools"), "{err}");
    let body = r#"{"model":"m","input":"x","tool_choice":{"type":"web_search_preview"}}"#;
    let err = translate(Format::OpenAiResponses, Format::Gemini, body).unwrap_err();
    assert_eq!(err.path(), Some("tool_choice.type"));
    assert!(err.to_string().contains("`web_search_preview`"), "{err}");
}

#[test]
fn wrong_types_name_the_field_and_the_expected_type() {
    let cases = [
        (
            Format::OpenAiChat,
            r#"{"model":"m","messages":[{"role":7,"content":"x"}]}"#,
            "messages[0].role",
            "invalid type: integer `7`, expected a string",
        ),
        (
            Format::AnthropicMessages,
            r#"{"model":"m","max_tokens":1,"messages":[{"role":7,"content":"x"}]}"#,
            "messages[0].role",
            "invalid type: integer `7`, expected a string",
        ),
        (
            Format::OpenAiChat,
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"reasoning_effort":[]}"#,
            "reasoning_effort",
            "invalid type: array, expected a string",
        ),
        (
            Format::AnthropicMessages,
            r#"{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":7}]}]}"#,
            "messages[0].content[0].type",
            "invalid type: integer `7`, expected a string",
        ),
        (
            Format::AnthropicMessages,
            r#"{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"text","text":7}]}]}"#,
            "messages[0].content[0].text",
            "invalid type: integer `7`, expected a string",
        ),
        (
            Format::OpenAiChat,
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":true}]}]}"#,
            "messages[0].content[0].text",
            "invalid type: boolean `true`, expected a string",
        ),
        (
            Format::OpenAiChat,
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":7}"#,
            "tool_choice",
            "invalid type: integer `7`, expected `none`, `auto`, `required` or an object naming a function",
        ),
        (
            Format::OpenAiChat,
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"function","function":{"name":1}}}"#,
            "tool_choice.function.name",
            "invalid type: integer `1`, expected a string",
        ),
        (
            Format::OpenAiChat,
            r#"{"model":"m","messages":[7]}"#,
            "messages[0]",
            "invalid type: integer `7`, expected an object",
        ),
        (
            Format::AnthropicMessages,
            r#"{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],"temperature":"hot"}"#,
            "temperature",
            "invalid type: string \"hot\", expected a number",
        ),
    ];
    for (client, body, path, message) in cases {
        for upstream in cross(client) {
            let err = translate(client, upstream, body).unwrap_err();
            match &err {
                FormatError::InvalidField {
                    path: p,
                    message: m,
                } => {
                    assert_eq!(p, path, "{client:?}->{upstream:?} {body}: {err}");
                    assert_eq!(m, message, "{client:?}->{upstream:?} {body}: {err}");
                }
                other => panic!("{client:?}->{upstream:?} {body}: {other:?}"),
            }
        }
    }
}

#[test]
fn an_anthropic_system_message_holds_text_only() {
    let ok = r#"{"model":"m","max_tokens":8,"messages":[
        {"role":"user","content":"hi"},
        {"role":"system","content":[{"type":"text","text":"be brief"}]}]}"#;
    for upstream in cross(Format::AnthropicMessages) {
        let out = translate(Format::AnthropicMessages, upstream, ok)
            .unwrap_or_else(|e| panic!("{upstream:?}: {e}"));
        let out = String::from_utf8(out.to_vec()).unwrap();
        assert!(out.contains("be brief"), "{upstream:?}: {out}");
    }
    assert_path(
        Format::AnthropicMessages,
        r#"{"model":"m","max_tokens":8,"messages":[
            {"role":"user","content":"hi"},
            {"role":"system","content":[{"type":"image","source":{"type":"url","url":"https://x/y.png"}}]}]}"#,
        "messages[1].content[0]",
    );
}
