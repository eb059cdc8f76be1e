//! The Gemini client format: bad input named by path, the same-format
//! passthrough and the Antigravity envelope, countTokens, Google error
//! bodies, and a tool loop with signed reasoning carried through a Gemini
//! client and back to an upstream, whole and streamed.

use aigw_domain::Format;
use aigw_formats::stream::{StreamContext, StreamTranslator};
use aigw_formats::{
    AntigravityEnvelope, ErrorKind, FormatError, RequestMeta, ResponseContext, UpstreamTarget,
    error_body, gemini_count_reply, gemini_count_request, translate_request, translate_response,
};
use bytes::{Bytes, BytesMut};
use serde_json::{Value, json};

const OTHERS: [Format; 3] = [
    Format::OpenAiChat,
    Format::AnthropicMessages,
    Format::OpenAiResponses,
];

fn translate(upstream: Format, body: &str) -> Result<Bytes, FormatError> {
    translate_request(
        Format::Gemini,
        upstream,
        body.as_bytes(),
        &UpstreamTarget::new("m", false),
    )
}

#[test]
fn wrong_types_name_the_field_and_the_expected_type() {
    let cases = [
        (r#"{}"#, "contents", "missing field `contents`"),
        (r#"{"contents":{}}"#, "contents", "expected an array"),
        (
            r#"{"contents":[{"parts":[{"text":1}]}]}"#,
            "contents[0].parts[0].text",
            "expected a string",
        ),
        (
            r#"{"contents":[{"role":"model","parts":"hi"}]}"#,
            "contents[0].parts",
            "expected an array",
        ),
        (
            r#"{"contents":[],"systemInstruction":"be brief"}"#,
            "systemInstruction",
            "expected an object",
        ),
        (
            r#"{"contents":[],"generationConfig":{"temperature":"hot"}}"#,
            "generationConfig.temperature",
            "expected a number",
        ),
        (
            r#"{"contents":[],"generationConfig":{"thinkingConfig":{"thinkingBudget":"lots"}}}"#,
            "generationConfig.thinkingConfig.thinkingBudget",
            "expected an integer",
        ),
        (
            r#"{"contents":[],"tools":[{"functionDeclarations":{}}]}"#,
            "tools[0].functionDeclarations",
            "expected an array",
        ),
        (
            r#"{"contents":[],"toolConfig":{"functionCallingConfig":{"mode":"SOMETIMES"}}}"#,
            "toolConfig.functionCallingConfig.mode",
            "unknown variant",
        ),
        (
            r#"{"contents":[],"generationConfig":{"thinkingConfig":{"thinkingLevel":"HUGE"}}}"#,
            "generationConfig.thinkingConfig.thinkingLevel",
            "unknown variant",
        ),
    ];
    for upstream in OTHERS {
        for (body, path, message) in cases {
            let err = translate(upstream, body).unwrap_err();
            assert!(
                matches!(&err, FormatError::InvalidField { .. }),
                "{body} -> {upstream:?}: {err}"
            );
            assert_eq!(err.path(), Some(path), "{body}: {err}");
            assert!(err.to_string().contains(message), "{body}: {err}");
        }
    }
}

#[test]
fn bad_values_are_refused_naming_the_field() {
    let cases = [
        (r#"{"contents":[]}"#, "contents"),
        (
            r#"{"contents":[{"role":"system","parts":[{"text":"x"}]}]}"#,
            "contents[0].role",
        ),
        (
            r#"{"contents":[{"role":"user","parts":[{"functionCall":{"name":"f","args":{}}}]}]}"#,
            "contents[0].parts[0].functionCall",
        ),
        (
            r#"{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f","args":[1]}}]}]}"#,
            "contents[0].parts[0].functionCall.args",
        ),
        (
            r#"{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f","args":{}}},{"functionResponse":{"name":"f","response":{}}}]}]}"#,
            "contents[0].parts[1].functionResponse",
        ),
        (
            r#"{"contents":[{"role":"user","parts":[{"functionResponse":{"name":"f","response":{}}}]}]}"#,
            "contents[0].parts[0].functionResponse",
        ),
        (
            r#"{"contents":[{"parts":[{"inlineData":{"mimeType":"image/png","data":"!!"}}]}]}"#,
            "contents[0].parts[0].inlineData.data",
        ),
        (
            r#"{"contents":[{"parts":[{"text":"x"}]}],"systemInstruction":{"parts":[{"inlineData":{"mimeType":"image/png","data":"aGk="}}]}}"#,
            "systemInstruction.parts[0]",
        ),
        (
            r#"{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"responseMimeType":"text/x.enum"}}"#,
            "generationConfig.responseMimeType",
        ),
    ];
    for upstream in OTHERS {
        for (body, path) in cases {
            let err = translate(upstream, body).unwrap_err();
            assert!(err.is_client_error(), "{body}: {err}");
            assert_eq!(err.path(), Some(path), "{body}: {err}");
        }
    }
}

#[test]
fn meta_takes_the_model_from_the_url_and_checks_the_top_level() {
    let meta = RequestMeta::parse_gemini("gemini-2.5-pro", true, br#"{"contents":[]}"#).unwrap();
    assert_eq!(meta.format, Format::Gemini);
    assert_eq!(meta.model, "gemini-2.5-pro");
    assert!(meta.stream);
    let err = RequestMeta::parse_gemini("m", false, br#"{"systemInstruction":{}}"#).unwrap_err();
    assert_eq!(err.path(), Some("contents"));
    let err = RequestMeta::parse_gemini("m", false, br#"{"contents":[],"tools":{}}"#).unwrap_err();
    assert_eq!(err.path(), Some("tools"));
    let err = RequestMeta::parse_gemini(" ", false, br#"{"contents":[]}"#).unwrap_err();
    assert_eq!(err.path(), Some("model"));
    assert!(meta.forwards_unchanged(Format::Gemini, &UpstreamTarget::new("other", false)));
    assert!(!meta.forwards_unchanged(Format::Antigravity, &UpstreamTarget::new("m", true)));
}

#[test]
fn a_gemini_upstream_gets_the_body_byte_for_byte() {
    let body = r#"{ "contents" : [{"parts":[{"text":"hi","futureField":1.50}]}], "cachedContent":"cachedContents/x", "tools":[{"googleSearch":{}}] }"#;
    let out = translate(Format::Gemini, body).unwrap();
    assert_eq!(out, body.as_bytes());
    assert!(
        translate(Format::Gemini, "[1]")
            .unwrap_err()
            .is_client_error()
    );
}

#[test]
fn antigravity_gets_the_body_in_its_envelope_with_the_session_id() {
    let body = r#"{"contents":[{"parts":[{"text":"hi","x":1.50}]}],"sessionId":"client-session","safetySettings":[]}"#;
    let target =
        UpstreamTarget::new("gemini-3-pro-preview", true).with_antigravity(AntigravityEnvelope {
            project: Some("proj"),
            request_id: "agent-1",
            user_agent: "antigravity",
            session_id: Some("s-1"),
        });
    let out = translate_request(
        Format::Gemini,
        Format::Antigravity,
        body.as_bytes(),
        &target,
    )
    .unwrap();
    assert_eq!(
        std::str::from_utf8(&out).unwrap(),
        r#"{"project":"proj","requestId":"agent-1","userAgent":"antigravity","model":"gemini-3-pro-preview","request":{"contents":[{"parts":[{"text":"hi","x":1.50}]}],"safetySettings":[],"sessionId":"s-1"}}"#
    );
    // Without a session id of the gateway's, the client's stays.
    let target = UpstreamTarget::new("m", false);
    let out = translate_request(
        Format::Gemini,
        Format::Antigravity,
        body.as_bytes(),
        &target,
    )
    .unwrap();
    let value: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(value["request"]["sessionId"], "client-session");
    assert!(value.get("project").is_none());
}

#[test]
fn an_antigravity_reply_is_only_unwrapped() {
    let body = Bytes::from_static(br#"{"response":{"candidates":[{"content":{"role":"model","parts":[{"text":"hi"}]},"finishReason":"STOP","groundingMetadata":{"a":1.50}}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1,"totalTokenCount":4}},"traceId":"t"}"#);
    let ctx = ResponseContext {
        model: "m",
        request_id: "r",
        created: 0,
        tool_namespaces: &[],
    };
    let (out, usage) = translate_response(Format::Antigravity, Format::Gemini, body, &ctx).unwrap();
    assert_eq!(
        std::str::from_utf8(&out).unwrap(),
        r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"hi"}]},"finishReason":"STOP","groundingMetadata":{"a":1.50}}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1,"totalTokenCount":4}}"#
    );
    assert_eq!((usage.input_tokens, usage.output_tokens), (3, 1));
}

#[test]
fn count_tokens_bodies_become_the_request_they_count() {
    let contents = json!([{"role": "user", "parts": [{"text": "hello"}]}]);
    let out =
        gemini_count_request(&serde_json::to_vec(&json!({"contents": contents})).unwrap()).unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&out).unwrap(),
        json!({"contents": contents})
    );
    let wrapped = json!({"generateContentRequest": {"model": "models/gemini-2.5-pro", "contents": contents,
        "systemInstruction": {"parts": [{"text": "be brief"}]}}});
    let out = gemini_count_request(&serde_json::to_vec(&wrapped).unwrap()).unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&out).unwrap(),
        json!({"contents": contents, "systemInstruction": {"parts": [{"text": "be brief"}]}})
    );
    // What it counts translates to any upstream like a real request.
    let anthropic = translate_request(
        Format::Gemini,
        Format::AnthropicMessages,
        &out,
        &UpstreamTarget::new("c", false),
    )
    .unwrap();
    let anthropic: Value = serde_json::from_slice(&anthropic).unwrap();
    assert_eq!(anthropic["system"][0]["text"], "be brief");
    assert_eq!(anthropic["messages"][0]["content"][0]["text"], "hello");

    for (body, path) in [
        (r#"{}"#, "contents"),
        (r#"{"contents":"hello"}"#, "contents"),
        (
            r#"{"generateContentRequest":{"model":"m"}}"#,
            "generateContentRequest.contents",
        ),
        (r#"{"generateContentRequest":[]}"#, "generateContentRequest"),
    ] {
        let err = gemini_count_request(body.as_bytes()).unwrap_err();
        assert!(
            matches!(err, FormatError::InvalidField { .. }),
            "{body}: {err}"
        );
        assert_eq!(err.path(), Some(path), "{body}");
    }
    assert_eq!(&gemini_count_reply(42, None)[..], br#"{"totalTokens":42}"#);
    assert_eq!(
        &gemini_count_reply(42, Some(0))[..],
        br#"{"totalTokens":42}"#
    );
    assert_eq!(
        &gemini_count_reply(42, Some(7))[..],
        br#"{"totalTokens":42,"cachedContentTokenCount":7}"#
    );
}

#[test]
fn errors_use_google_status_names() {
    for (kind, code, status) in [
        (ErrorKind::InvalidRequest, 400, "INVALID_ARGUMENT"),
        (ErrorKind::Authentication, 401, "UNAUTHENTICATED"),
        (ErrorKind::PermissionDenied, 403, "PERMISSION_DENIED"),
        (ErrorKind::NotFound, 404, "NOT_FOUND"),
        (ErrorKind::ModelNotFound, 404, "NOT_FOUND"),
        (ErrorKind::RequestTooLarge, 413, "INVALID_ARGUMENT"),
        (ErrorKind::RateLimited, 429, "RESOURCE_EXHAUSTED"),
        (ErrorKind::Api, 500, "INTERNAL"),
        (ErrorKind::Overloaded, 503, "UNAVAILABLE"),
        (ErrorKind::Timeout, 504, "DEADLINE_EXCEEDED"),
    ] {
        let body: Value =
            serde_json::from_slice(&error_body(Format::Gemini, kind, "msg", Some("p"))).unwrap();
        assert_eq!(
            body,
            json!({"error": {"code": code, "message": "msg", "status": status}})
        );
    }
}

/// The Anthropic reply of the tool loop: signed thinking, then a call.
const ANTHROPIC_REPLY: &str = r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[
  {"type":"thinking","thinking":"I need the file.","signature":"EqQBsig"},
  {"type":"tool_use","id":"toolu_01A","name":"read_file","input":{"absolute_path":"/r/README.md"}}],
  "stop_reason":"tool_use","usage":{"input_tokens":10,"output_tokens":20}}"#;

/// The Anthropic stream of the same reply.
const ANTHROPIC_STREAM: &str = concat!(
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude\",\"content\":[],\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"I need the file.\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"EqQBsig\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_01A\",\"name\":\"read_file\",\"input\":{}}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"absolute_path\\\":\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"/r/README.md\\\"}\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":20}}\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
);

/// The next Gemini request, as Gemini CLI builds it: the model's parts as
/// they came (thoughts included), then the function response by name.
fn next_turn(model_parts: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "contents": [
            {"role": "user", "parts": [{"text": "Read README.md"}]},
            {"role": "model", "parts": model_parts},
            {"role": "user", "parts": [{"functionResponse": {"name": "read_file", "response": {"output": "# Demo"}}}]}
        ],
        "tools": [{"functionDeclarations": [{"name": "read_file", "parametersJsonSchema": {"type": "object"}}]}],
        "generationConfig": {"thinkingConfig": {"includeThoughts": true, "thinkingBudget": 2048}}
    }))
    .unwrap()
}

/// The signed thinking and the call come back to Anthropic as they left it.
fn assert_anthropic_history(request: &[u8]) {
    let out = translate_request(
        Format::Gemini,
        Format::AnthropicMessages,
        request,
        &UpstreamTarget::new("c", false),
    )
    .unwrap();
    let out: Value = serde_json::from_slice(&out).unwrap();
    let assistant = &out["messages"][1];
    assert_eq!(assistant["role"], "assistant", "{out}");
    assert_eq!(
        assistant["content"],
        json!([
            {"type": "thinking", "thinking": "I need the file.", "signature": "EqQBsig"},
            {"type": "tool_use", "id": "toolu_01A", "name": "read_file", "input": {"absolute_path": "/r/README.md"}}
        ]),
        "{out}"
    );
    assert_eq!(
        out["messages"][2]["content"][0]["tool_use_id"], "toolu_01A",
        "{out}"
    );
    assert_eq!(
        out["messages"][2]["content"][0]["content"][0]["text"], "# Demo",
        "{out}"
    );
    assert_eq!(
        out["thinking"],
        json!({"type": "enabled", "budget_tokens": 2048}),
        "{out}"
    );
}

#[test]
fn a_signed_tool_loop_survives_a_gemini_client_whole() {
    let ctx = ResponseContext {
        model: "gemini-claude",
        request_id: "req9",
        created: 0,
        tool_namespaces: &[],
    };
    let (out, usage) = translate_response(
        Format::AnthropicMessages,
        Format::Gemini,
        Bytes::from_static(ANTHROPIC_REPLY.as_bytes()),
        &ctx,
    )
    .unwrap();
    let reply: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(reply["candidates"][0]["finishReason"], "STOP");
    assert_eq!(
        reply["usageMetadata"],
        json!({"promptTokenCount": 10, "candidatesTokenCount": 20, "totalTokenCount": 30})
    );
    assert_eq!(reply["modelVersion"], "gemini-claude");
    assert_eq!(reply["responseId"], "req9");
    assert_eq!(usage.output_tokens, 20);
    let parts = reply["candidates"][0]["content"]["parts"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(
        parts,
        vec![
            json!({"text": "I need the file.", "thought": true}),
            json!({"functionCall": {"id": "toolu_01A", "name": "read_file", "args": {"absolute_path": "/r/README.md"}}, "thoughtSignature": "EqQBsig"}),
        ]
    );
    assert_anthropic_history(&next_turn(parts));
}

#[test]
fn a_signed_tool_loop_survives_a_gemini_client_streamed() {
    let ctx = StreamContext {
        request_id: "req9".into(),
        model: "gemini-claude".into(),
        created: 0,
        include_usage: false,
    };
    let mut t = StreamTranslator::new(Format::AnthropicMessages, Format::Gemini, ctx).unwrap();
    let mut out = BytesMut::new();
    t.push(ANTHROPIC_STREAM.as_bytes(), &mut out).unwrap();
    t.finish(&mut out).unwrap();
    let chunks = crate::stream::events(&out);
    // The parts of every chunk, merged as the SDK's history does.
    let mut parts = Vec::new();
    for chunk in &chunks {
        for part in chunk["data"]["candidates"][0]["content"]["parts"]
            .as_array()
            .into_iter()
            .flatten()
        {
            parts.push(part.clone());
        }
    }
    let last = &chunks.last().unwrap()["data"];
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"]["totalTokenCount"], 30);
    assert_anthropic_history(&next_turn(parts));
}

#[test]
fn a_blocking_safety_setting_is_refused_where_no_filter_exists() {
    let strict = r#"{"contents":[{"parts":[{"text":"hi"}]}],
        "safetySettings":[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"BLOCK_NONE"},
                          {"category":"HARM_CATEGORY_HATE_SPEECH","threshold":"BLOCK_LOW_AND_ABOVE"}]}"#;
    let relaxed = r#"{"contents":[{"parts":[{"text":"hi"}]}],
        "safetySettings":[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"OFF"}]}"#;
    for upstream in OTHERS {
        let err = translate(upstream, strict).unwrap_err();
        assert!(
            matches!(&err, FormatError::Unsupported { .. }),
            "{upstream:?}: {err}"
        );
        assert_eq!(err.path(), Some("safetySettings[1].threshold"), "{err}");
        assert!(err.to_string().contains("BLOCK_LOW_AND_ABOVE"), "{err}");
        translate(upstream, relaxed).unwrap_or_else(|e| panic!("{upstream:?}: {e}"));
    }
}
