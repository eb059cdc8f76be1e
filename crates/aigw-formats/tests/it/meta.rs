//! `RequestMeta::parse`: the data plane's first look at a client body.

use aigw_domain::Format;
use aigw_formats::{FormatError, RequestMeta};

#[test]
fn openai_meta_reads_model_stream_and_include_usage() {
    let body = br#"{"model":"gpt-4o","messages":[],"stream":true,"stream_options":{"include_usage":true},"x":1}"#;
    let meta = RequestMeta::parse(Format::OpenAiChat, body).unwrap();
    assert_eq!(meta.model, "gpt-4o");
    assert!(meta.stream);
    assert!(meta.include_usage);
}

#[test]
fn include_usage_is_false_without_a_stream() {
    let body = br#"{"model":"m","messages":[],"stream_options":{"include_usage":true}}"#;
    let meta = RequestMeta::parse(Format::OpenAiChat, body).unwrap();
    assert!(!meta.stream && !meta.include_usage);
}

#[test]
fn anthropic_meta_requires_max_tokens() {
    let ok = RequestMeta::parse(
        Format::AnthropicMessages,
        br#"{"model":"c","max_tokens":5,"messages":[],"stream":true}"#,
    )
    .unwrap();
    assert!(ok.stream);
    let err = RequestMeta::parse(Format::AnthropicMessages, br#"{"model":"c","messages":[]}"#)
        .unwrap_err();
    assert_eq!(err.path(), Some("max_tokens"), "{err}");
}

fn field_error(format: Format, body: &str) -> (String, String) {
    match RequestMeta::parse(format, body.as_bytes()).unwrap_err() {
        FormatError::InvalidField { path, message } => (path, message),
        other => panic!("expected InvalidField for {body}, got {other:?}"),
    }
}

#[test]
fn errors_name_the_field() {
    let (path, message) = field_error(Format::OpenAiChat, r#"{"messages":[]}"#);
    assert_eq!(path, "model");
    assert!(message.contains("missing field"), "{message}");

    let (path, message) = field_error(Format::OpenAiChat, r#"{"model":42,"messages":[]}"#);
    assert_eq!(path, "model");
    assert!(message.contains("expected a string"), "{message}");

    let (path, _) = field_error(Format::OpenAiChat, r#"{"model":"m","messages":{}}"#);
    assert_eq!(path, "messages");

    let (path, _) = field_error(
        Format::OpenAiChat,
        r#"{"model":"m","messages":[],"stream":"yes"}"#,
    );
    assert_eq!(path, "stream");

    let (path, _) = field_error(
        Format::OpenAiChat,
        r#"{"model":"m","messages":[],"stream_options":{"include_usage":1}}"#,
    );
    assert_eq!(path, "stream_options.include_usage");

    let (path, _) = field_error(
        Format::AnthropicMessages,
        r#"{"model":"m","messages":[],"max_tokens":-1}"#,
    );
    assert_eq!(path, "max_tokens");
}

#[test]
fn malformed_json_reports_the_position() {
    let err = RequestMeta::parse(Format::OpenAiChat, b"{\"model\": \"m\",\n \"messages\": [}")
        .unwrap_err();
    match err {
        FormatError::MalformedJson { line, .. } => assert_eq!(line, 2),
        other => panic!("expected MalformedJson, got {other:?}"),
    }
    assert!(matches!(
        RequestMeta::parse(
            Format::OpenAiChat,
            br#"{"model":"m","messages":[]} trailing"#
        ),
        Err(FormatError::MalformedJson { .. })
    ));
    assert!(matches!(
        RequestMeta::parse(Format::OpenAiChat, b""),
        Err(FormatError::MalformedJson { .. })
    ));
}

#[test]
fn empty_model_and_non_client_formats_are_refused() {
    let err =
        RequestMeta::parse(Format::OpenAiChat, br#"{"model":"  ","messages":[]}"#).unwrap_err();
    assert_eq!(err.path(), Some("model"));
    assert!(matches!(
        RequestMeta::parse(Format::Gemini, br#"{"contents":[]}"#),
        Err(FormatError::FormatRole { .. })
    ));
}

#[test]
fn unknown_fields_and_blocks_do_not_fail_the_first_look() {
    let body = br#"{"model":"c","max_tokens":1,"messages":[{"role":"user","content":[{"type":"future_block"}]}],"new_param":{}}"#;
    assert!(RequestMeta::parse(Format::AnthropicMessages, body).is_ok());
}

#[test]
fn responses_meta_reads_model_stream_and_previous_response_id() {
    let body = br#"{"model":"gpt-5-codex","instructions":"x","input":[{"type":"reasoning","summary":[]}],"stream":true,"store":false,"previous_response_id":"resp_1","future":{}}"#;
    let meta = RequestMeta::parse(Format::OpenAiResponses, body).unwrap();
    assert_eq!(meta.model, "gpt-5-codex");
    assert!(meta.stream && !meta.include_usage);
    assert_eq!(meta.previous_response_id.as_deref(), Some("resp_1"));
    let meta =
        RequestMeta::parse(Format::OpenAiResponses, br#"{"model":"m","input":"hi"}"#).unwrap();
    assert!(!meta.stream && meta.previous_response_id.is_none());
    for (body, path) in [
        (&br#"{"input":"hi"}"#[..], "model"),
        (br#"{"model":"m","input":5}"#, "input"),
        (br#"{"model":"m","input":"x","stream":"yes"}"#, "stream"),
        (
            br#"{"model":"m","input":"x","previous_response_id":7}"#,
            "previous_response_id",
        ),
    ] {
        let err = RequestMeta::parse(Format::OpenAiResponses, body).unwrap_err();
        assert_eq!(err.path(), Some(path), "{err}");
    }
}

#[test]
fn a_model_name_is_bounded_and_free_of_control_characters() {
    for format in [Format::OpenAiChat, Format::AnthropicMessages] {
        let body = |model: &str| {
            serde_json::json!({"model": model, "max_tokens": 1, "messages": []}).to_string()
        };
        let longest = "m".repeat(aigw_formats::MAX_MODEL_BYTES);
        let meta = RequestMeta::parse(format, body(&longest).as_bytes()).unwrap();
        assert_eq!(meta.model, longest);
        for bad in [
            "m".repeat(aigw_formats::MAX_MODEL_BYTES + 1),
            "m".repeat(10 * 1024),
            "gpt-4o\n".to_owned(),
            "gpt\u{0}4o".to_owned(),
        ] {
            let err = RequestMeta::parse(format, body(&bad).as_bytes()).unwrap_err();
            assert!(
                matches!(&err, FormatError::InvalidValue { path, .. } if path == "model"),
                "{format:?} {}: {err:?}",
                bad.len()
            );
        }
    }
}

#[test]
fn a_role_of_the_wrong_type_is_refused_even_when_forwarded_untouched() {
    for (format, extra) in [
        (Format::OpenAiChat, ""),
        (Format::AnthropicMessages, r#","max_tokens":1"#),
    ] {
        let (path, message) = field_error(
            format,
            &format!(
                r#"{{"model":"m","messages":[{{"role":"user","content":"x"}},{{"role":7,"content":"x"}}]{extra}}}"#
            ),
        );
        assert_eq!(path, "messages[1].role");
        assert_eq!(message, "invalid type: integer `7`, expected a string");
        // The value itself is the upstream's to judge.
        let body =
            format!(r#"{{"model":"m","messages":[{{"role":"oracle","content":"x"}}]{extra}}}"#);
        RequestMeta::parse(format, body.as_bytes()).unwrap();
    }
}
