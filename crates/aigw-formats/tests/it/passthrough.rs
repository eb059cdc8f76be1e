//! Same-format requests keep every byte except the model (and OpenAI stream usage).

use aigw_domain::Format;
use aigw_formats::{ResponseContext, UpstreamTarget, translate_request, translate_response};
use bytes::Bytes;

fn pass(format: Format, body: &str, model: &str, stream: bool) -> String {
    let out = translate_request(
        format,
        format,
        body.as_bytes(),
        &UpstreamTarget::new(model, stream),
    )
    .unwrap();
    String::from_utf8(out.to_vec()).unwrap()
}

#[test]
fn only_the_model_changes_and_values_keep_their_bytes() {
    // Number spellings, escapes, key order and unknown fields all survive.
    let body = r#"{"a":1.50,"model":"alias","messages":[{"role":"user","content":"\u00e9\n"}],"z":{"b":2,"a":1e3},"temperature":0.70}"#;
    let out = pass(Format::OpenAiChat, body, "gpt-4o-2024-08-06", false);
    assert_eq!(
        out,
        r#"{"a":1.50,"model":"gpt-4o-2024-08-06","messages":[{"role":"user","content":"\u00e9\n"}],"z":{"b":2,"a":1e3},"temperature":0.70}"#
    );
}

#[test]
fn whitespace_between_members_may_go_but_values_stay() {
    let body = "{ \"model\" : \"a\" ,\n \"max_tokens\": 10, \"messages\": [ {\"role\":\"user\", \"content\":\"x\"} ] }";
    let out = pass(Format::AnthropicMessages, body, "claude-x", true);
    assert_eq!(
        out,
        r#"{"model":"claude-x","max_tokens":10,"messages":[ {"role":"user", "content":"x"} ]}"#
    );
}

#[test]
fn openai_streams_get_include_usage() {
    let out = pass(
        Format::OpenAiChat,
        r#"{"model":"a","stream":true,"messages":[]}"#,
        "b",
        true,
    );
    assert_eq!(
        out,
        r#"{"model":"b","stream":true,"messages":[],"stream_options":{"include_usage":true}}"#
    );
    let out = pass(
        Format::OpenAiChat,
        r#"{"model":"a","stream":true,"stream_options":{"include_obfuscation":false},"messages":[]}"#,
        "b",
        true,
    );
    assert_eq!(
        out,
        r#"{"model":"b","stream":true,"stream_options":{"include_obfuscation":false,"include_usage":true},"messages":[]}"#
    );
    let out = pass(
        Format::OpenAiChat,
        r#"{"model":"a","stream_options":null,"messages":[]}"#,
        "b",
        true,
    );
    assert_eq!(
        out,
        r#"{"model":"b","stream_options":{"include_usage":true},"messages":[]}"#
    );
}

#[test]
fn anthropic_streams_are_not_given_openai_options() {
    let out = pass(
        Format::AnthropicMessages,
        r#"{"model":"a","stream":true,"max_tokens":1,"messages":[]}"#,
        "b",
        true,
    );
    assert!(!out.contains("stream_options"), "{out}");
}

#[test]
fn escaped_keys_and_models_are_written_as_valid_json() {
    let out = pass(
        Format::OpenAiChat,
        r#"{"mo\u0064el":"a","\"k\"":1,"messages":[]}"#,
        "we\"ird",
        false,
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["model"], "we\"ird");
    assert_eq!(v["\"k\""], 1);
}

#[test]
fn a_non_object_body_is_refused() {
    let err = translate_request(
        Format::OpenAiChat,
        Format::OpenAiChat,
        b"[1]",
        &UpstreamTarget::new("m", false),
    )
    .unwrap_err();
    assert!(err.is_client_error(), "{err:?}");
}

#[test]
fn same_format_responses_are_returned_without_copy() {
    let body = Bytes::from_static(br#"{"id":"x","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7},"extra":true}"#);
    let ctx = ResponseContext {
        model: "m",
        request_id: "r",
        created: 0,
        tool_namespaces: &[],
    };
    let (out, usage) =
        translate_response(Format::OpenAiChat, Format::OpenAiChat, body.clone(), &ctx).unwrap();
    assert_eq!(out.as_ptr(), body.as_ptr(), "the same buffer comes back");
    assert_eq!((usage.input_tokens, usage.output_tokens), (3, 4));
}

/// Whenever `forwards_unchanged` says the client's bytes can go as they are,
/// the rewrite would have produced the same document; and it says no whenever
/// the rewrite changes something.
#[test]
fn forwarding_unchanged_agrees_with_the_rewrite() {
    let cases: &[(Format, &str, &str, bool)] = &[
        (
            Format::OpenAiChat,
            r#"{"model":"m","messages":[]}"#,
            "m",
            true,
        ),
        (
            Format::OpenAiChat,
            r#"{"model":"m","messages":[]}"#,
            "up",
            false,
        ),
        (
            Format::OpenAiChat,
            r#"{"model":"m","messages":[],"stream":true}"#,
            "m",
            false,
        ),
        (
            Format::OpenAiChat,
            r#"{"model":"m","messages":[],"stream":true,"stream_options":{"include_usage":true}}"#,
            "m",
            true,
        ),
        (
            Format::OpenAiChat,
            r#"{"model":"m","messages":[],"stream":true,"stream_options":{"include_usage":false}}"#,
            "m",
            false,
        ),
        (
            Format::OpenAiChat,
            r#"{"model":"\u006d","messages":[]}"#,
            "m",
            true,
        ),
        (
            Format::AnthropicMessages,
            r#"{"model":"c","max_tokens":5,"messages":[],"stream":true}"#,
            "c",
            true,
        ),
        (
            Format::AnthropicMessages,
            r#"{"model":"c","max_tokens":5,"messages":[]}"#,
            "d",
            false,
        ),
        (
            Format::OpenAiResponses,
            r#"{"model":"g","input":"hi","stream":true,"store":false}"#,
            "g",
            true,
        ),
        (
            Format::OpenAiResponses,
            r#"{"model":"g","input":[]}"#,
            "h",
            false,
        ),
    ];
    for &(format, body, model, unchanged) in cases {
        let meta = aigw_formats::RequestMeta::parse(format, body.as_bytes()).unwrap();
        let target = UpstreamTarget::new(model, meta.stream);
        assert_eq!(
            meta.forwards_unchanged(format, &target),
            unchanged,
            "{body} → {model}"
        );
        let rewritten = translate_request(format, format, body.as_bytes(), &target).unwrap();
        let same = serde_json::from_slice::<serde_json::Value>(&rewritten).unwrap()
            == serde_json::from_str::<serde_json::Value>(body).unwrap();
        assert_eq!(same, unchanged, "{body} → {model}");
        let other = match format {
            Format::OpenAiChat => Format::AnthropicMessages,
            _ => Format::OpenAiChat,
        };
        assert!(!meta.forwards_unchanged(other, &target));
    }
}

#[test]
fn responses_requests_get_the_target_stream_flag() {
    // An upstream that only streams is asked for a stream; the rest keeps its bytes.
    let body =
        r#"{"model":"a","input":[{"role":"user","content":"x"}],"stream":false,"store":false}"#;
    assert_eq!(
        pass(Format::OpenAiResponses, body, "b", true),
        r#"{"model":"b","input":[{"role":"user","content":"x"}],"stream":true,"store":false}"#
    );
    assert_eq!(
        pass(
            Format::OpenAiResponses,
            r#"{"model":"a","input":"x"}"#,
            "b",
            true
        ),
        r#"{"model":"b","input":"x","stream":true}"#
    );
    assert_eq!(
        pass(
            Format::OpenAiResponses,
            r#"{"model":"a","input":"x"}"#,
            "b",
            false
        ),
        r#"{"model":"b","input":"x"}"#
    );
    let meta =
        aigw_formats::RequestMeta::parse(Format::OpenAiResponses, br#"{"model":"a","input":"x"}"#)
            .unwrap();
    assert!(!meta.forwards_unchanged(Format::OpenAiResponses, &UpstreamTarget::new("a", true)));
}

#[test]
fn a_forced_store_replaces_or_joins_the_clients() {
    let store = |body: &str| {
        let out = translate_request(
            Format::OpenAiResponses,
            Format::OpenAiResponses,
            body.as_bytes(),
            &UpstreamTarget::new("b", true).with_store(false),
        )
        .unwrap();
        String::from_utf8(out.to_vec()).unwrap()
    };
    assert_eq!(
        store(r#"{"model":"a","store":true,"input":"x","stream":true}"#),
        r#"{"model":"b","store":false,"input":"x","stream":true}"#
    );
    assert_eq!(
        store(r#"{"model":"a","input":"x"}"#),
        r#"{"model":"b","input":"x","stream":true,"store":false}"#
    );
    // Other formats have no `store` to force.
    let chat = translate_request(
        Format::OpenAiChat,
        Format::OpenAiChat,
        br#"{"model":"a","messages":[],"store":true}"#,
        &UpstreamTarget::new("b", false).with_store(false),
    )
    .unwrap();
    assert_eq!(&chat[..], br#"{"model":"b","messages":[],"store":true}"#);
    let meta = aigw_formats::RequestMeta::parse(
        Format::OpenAiResponses,
        br#"{"model":"b","input":"x","stream":true}"#,
    )
    .unwrap();
    assert!(meta.forwards_unchanged(Format::OpenAiResponses, &UpstreamTarget::new("b", true)));
    assert!(!meta.forwards_unchanged(
        Format::OpenAiResponses,
        &UpstreamTarget::new("b", true).with_store(false)
    ));
}
