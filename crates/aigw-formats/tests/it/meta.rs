//! `RequestMeta::parse`: the data plane's first look at a client body.

use aigw_domain::Format;
use aigw_formats::{ConversationKey, FormatError, RequestMeta};

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
fn responses_meta_reads_model_stream_store_and_previous_response_id() {
    let body = br#"{"model":"gpt-5-codex","instructions":"x","input":[{"type":"reasoning","summary":[]}],"stream":true,"store":false,"previous_response_id":"resp_1","future":{}}"#;
    let meta = RequestMeta::parse(Format::OpenAiResponses, body).unwrap();
    assert_eq!(meta.model, "gpt-5-codex");
    assert!(meta.stream && !meta.include_usage);
    assert_eq!(meta.previous_response_id.as_deref(), Some("resp_1"));
    assert!(meta.unstored);
    let meta =
        RequestMeta::parse(Format::OpenAiResponses, br#"{"model":"m","input":"hi"}"#).unwrap();
    assert!(!meta.stream && meta.previous_response_id.is_none() && !meta.unstored);
    let stored = br#"{"model":"m","input":"hi","store":true}"#;
    assert!(
        !RequestMeta::parse(Format::OpenAiResponses, stored)
            .unwrap()
            .unstored
    );
    for (body, path) in [
        (&br#"{"input":"hi"}"#[..], "model"),
        (br#"{"model":"m","input":5}"#, "input"),
        (br#"{"model":"m","input":"x","stream":"yes"}"#, "stream"),
        (br#"{"model":"m","input":"x","store":"no"}"#, "store"),
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

// ------------------------------------------------------- conversation keys

/// The client body of a recorded fixture (its `input`), with `edit` applied.
fn fixture_body(name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/").to_owned() + name;
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut fixture: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut input = fixture["input"].take();
    edit(&mut input);
    serde_json::to_vec(&input).unwrap()
}

fn conversation(format: Format, body: &[u8]) -> Option<ConversationKey> {
    let meta = RequestMeta::parse(format, body).unwrap();
    meta.conversation.map(|source| source.key(body))
}

#[test]
fn claude_code_conversations_are_keyed_by_their_session() {
    // Claude Code before v2.1.78: `user_<hash>_account_<uuid>_session_<uuid>`.
    let legacy = fixture_body(
        "anthropic-responses/request.claude_code_stream.json",
        |_| {},
    );
    let session = "6e1b6b3c-1f3a-4c5e-9d2b-0b8f1c2d3e4f";
    assert_eq!(
        conversation(Format::AnthropicMessages, &legacy),
        ConversationKey::named(session)
    );
    // Another turn of the same session (the tool loop fixture) has the same key.
    let tool_loop = fixture_body(
        "anthropic-responses/request.claude_code_tool_loop.json",
        |_| {},
    );
    assert_eq!(
        conversation(Format::AnthropicMessages, &tool_loop),
        ConversationKey::named(session)
    );
    // Claude Code since v2.1.78: the user id is a JSON text.
    let json_shape = fixture_body("anthropic-responses/request.claude_code_stream.json", |b| {
        b["metadata"]["user_id"] = serde_json::json!(format!(
            r#"{{"device_id":"5f0c","account_uuid":"","session_id":"{session}"}}"#
        ));
    });
    assert_eq!(
        conversation(Format::AnthropicMessages, &json_shape),
        ConversationKey::named(session)
    );
    // Another session of the same user is another conversation.
    let other = fixture_body("anthropic-responses/request.claude_code_stream.json", |b| {
        b["metadata"]["user_id"] =
            serde_json::json!("user_2f9c0a_account__session_11111111-2222-3333-4444-555555555555");
    });
    assert_ne!(
        conversation(Format::AnthropicMessages, &other),
        ConversationKey::named(session)
    );
}

#[test]
fn codex_conversations_are_keyed_by_prompt_cache_key() {
    let body = fixture_body("responses-anthropic/request.codex_multi_turn.json", |_| {});
    assert_eq!(
        conversation(Format::OpenAiResponses, &body),
        ConversationKey::named("0199a7c2-5d0f-7b43-9a1e-3c2f1e0d9b8a")
    );
    // The same id in Codex's `session_id` header gives the same key.
    assert_eq!(
        ConversationKey::named("0199a7c2-5d0f-7b43-9a1e-3c2f1e0d9b8a"),
        ConversationKey::named(" 0199a7c2-5d0f-7b43-9a1e-3c2f1e0d9b8a ")
    );
}

#[test]
fn openai_conversations_use_prompt_cache_key_then_user() {
    let both = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"prompt_cache_key":"pk","user":"u"}"#;
    assert_eq!(
        conversation(Format::OpenAiChat, both),
        ConversationKey::named("pk")
    );
    let user = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"user":"u"}"#;
    assert_eq!(
        conversation(Format::OpenAiChat, user),
        ConversationKey::named("u")
    );
    // A non-string `user` names nothing and is still no error here.
    let odd = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"user":7}"#;
    assert_ne!(
        conversation(Format::OpenAiChat, odd),
        ConversationKey::named("7")
    );
    assert!(conversation(Format::OpenAiChat, odd).is_some());
}

#[test]
fn unnamed_conversations_are_keyed_by_their_first_turns() {
    let turn1 = br#"{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"plan a trip"}]}"#;
    let turn3 = br#"{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"plan a trip"},{"role":"assistant","content":"where?"},{"role":"user","content":"Rome"}]}"#;
    let other = br#"{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"plan a party"}]}"#;
    let first = conversation(Format::OpenAiChat, turn1);
    assert!(first.is_some());
    assert_eq!(first, conversation(Format::OpenAiChat, turn3));
    assert_ne!(first, conversation(Format::OpenAiChat, other));
    // Anthropic: `system` is part of the first turns.
    let a1 =
        br#"{"model":"c","max_tokens":5,"system":"s1","messages":[{"role":"user","content":"x"}]}"#;
    let a2 =
        br#"{"model":"c","max_tokens":5,"system":"s2","messages":[{"role":"user","content":"x"}]}"#;
    assert_ne!(
        conversation(Format::AnthropicMessages, a1),
        conversation(Format::AnthropicMessages, a2)
    );
    // Responses: a string input is the first user message.
    let r1 = br#"{"model":"m","instructions":"i","input":"hello"}"#;
    let r1b = br#"{"model":"m","instructions":"i","input":"hello","stream":true}"#;
    let r1c = br#"{"model":"m","instructions":"i","input":"hell\u006f!"}"#;
    let r2 = br#"{"model":"m","instructions":"i","input":[{"role":"user","content":"hello"},{"type":"function_call_output","call_id":"c","output":"x"}]}"#;
    let r3 = br#"{"model":"m","instructions":"i","input":[{"role":"user","content":"hello"},{"role":"assistant","content":"hi"},{"role":"user","content":"more"}]}"#;
    let r4 = br#"{"model":"m","instructions":"j","input":[{"role":"user","content":"hello"}]}"#;
    let k1 = conversation(Format::OpenAiResponses, r1);
    assert!(k1.is_some());
    assert_eq!(k1, conversation(Format::OpenAiResponses, r1b));
    assert!(conversation(Format::OpenAiResponses, r1c).is_some());
    assert_ne!(k1, conversation(Format::OpenAiResponses, r1c));
    let k2 = conversation(Format::OpenAiResponses, r2);
    assert!(k2.is_some());
    assert_eq!(k2, conversation(Format::OpenAiResponses, r3));
    assert_ne!(k2, conversation(Format::OpenAiResponses, r4));
    // The role of every message is still checked, past the first turns too.
    let bad = br#"{"model":"m","messages":[{"role":"user","content":"a"},{"role":5}]}"#;
    let err = RequestMeta::parse(Format::OpenAiChat, bad).unwrap_err();
    assert_eq!(err.path(), Some("messages[1].role"), "{err}");
    let bad_first = br#"{"model":"m","messages":[{"content":"a"}]}"#;
    let err = RequestMeta::parse(Format::OpenAiChat, bad_first).unwrap_err();
    assert_eq!(err.path(), Some("messages[0].role"), "{err}");
}

#[test]
fn gemini_cli_conversations_are_keyed_by_session_or_first_turns() {
    // Gemini CLI on an API key sends the plain Gemini body: no session id.
    let body = fixture_body("gemini-openai/request.gemini_cli_tool_loop.json", |_| {});
    let key = RequestMeta::parse_gemini("gemini-2.5-pro", true, &body)
        .unwrap()
        .conversation
        .map(|source| source.key(&body));
    assert!(key.is_some());
    // A later turn (one more content) keeps the key; another first prompt does not.
    let later = fixture_body("gemini-openai/request.gemini_cli_tool_loop.json", |b| {
        b["contents"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"role": "model", "parts": [{"text": "Done."}]}));
    });
    let other = fixture_body("gemini-openai/request.gemini_cli_tool_loop.json", |b| {
        b["contents"][0]["parts"][0]["text"] = serde_json::json!("What is in LICENSE?");
    });
    let parse = |b: &[u8]| {
        let meta = RequestMeta::parse_gemini("m", false, b).unwrap();
        meta.conversation.map(|source| source.key(b))
    };
    assert_eq!(parse(&later), key);
    assert_ne!(parse(&other), key);
    // Gemini CLI's Code Assist requests carry `session_id` in the request.
    let code_assist = fixture_body("gemini-openai/request.gemini_cli_tool_loop.json", |b| {
        b["session_id"] = serde_json::json!("a2f1c3d4-session");
    });
    assert_eq!(
        parse(&code_assist),
        ConversationKey::named("a2f1c3d4-session")
    );
}
