//! A Responses stream read back into one Responses object (an upstream that
//! only streams, answering a client that did not ask for a stream).

use aigw_domain::Format;
use aigw_formats::stream::{ResponsesAggregator, StreamError, aggregate_responses};
use aigw_formats::{ResponseContext, translate_response};
use bytes::Bytes;
use serde_json::{Value, json};

use super::{ROOT, input_bytes};

fn fixture(name: &str) -> (Value, Vec<u8>) {
    let path = format!("{ROOT}/responses-responses/{name}.json");
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let input = input_bytes(&fixture);
    (fixture, input)
}

/// The `response` of the fixture's last event (its `response.completed`).
fn final_response(fixture: &Value) -> Value {
    let events = fixture["input"].as_array().unwrap();
    events.last().unwrap()["data"]["response"].clone()
}

fn aggregate_split(input: &[u8], at: usize) -> Result<(Bytes, aigw_formats::Usage), StreamError> {
    let mut aggregator = ResponsesAggregator::new();
    aggregator.push(&input[..at])?;
    aggregator.push(&input[at..])?;
    aggregator.finish()
}

#[test]
fn the_completed_response_is_the_body_however_the_stream_is_cut() {
    let (fixture, input) = fixture("reasoning_tool_calls");
    let (body, usage) = aggregate_responses(&input).unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body, final_response(&fixture));
    assert_eq!(
        (
            usage.input_tokens,
            usage.cached_input_tokens,
            usage.output_tokens,
            usage.reasoning_tokens
        ),
        (1200, 1024, 300, 192)
    );
    for at in 0..=input.len() {
        let (split, split_usage) = aggregate_split(&input, at).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&split).unwrap(),
            body,
            "cut at {at}"
        );
        assert_eq!(split_usage, usage);
    }
}

#[test]
fn an_empty_final_output_is_filled_from_the_finished_items() {
    let (_, input) = fixture("whole_items_only");
    let (body, usage) = aggregate_responses(&input).unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    let types: Vec<&str> = body["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["reasoning", "message", "function_call"]);
    assert_eq!(body["output"][2]["arguments"], "{\"q\":1}");
    assert_eq!(usage.input_tokens + usage.output_tokens, 15);
}

#[test]
fn the_aggregate_translates_to_the_other_client_formats() {
    let (_, input) = fixture("reasoning_tool_calls");
    let (body, _) = aggregate_responses(&input).unwrap();
    let ctx = ResponseContext {
        model: "client-model",
        request_id: "req_1",
        created: 1,
        tool_namespaces: &[],
    };
    let (chat, _) = translate_response(
        Format::OpenAiResponses,
        Format::OpenAiChat,
        body.clone(),
        &ctx,
    )
    .unwrap();
    let chat: Value = serde_json::from_slice(&chat).unwrap();
    assert_eq!(chat["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        chat["choices"][0]["message"]["tool_calls"][1]["id"],
        "call_a2"
    );
    let (anthropic, _) = translate_response(
        Format::OpenAiResponses,
        Format::AnthropicMessages,
        body,
        &ctx,
    )
    .unwrap();
    let anthropic: Value = serde_json::from_slice(&anthropic).unwrap();
    assert_eq!(anthropic["content"][0]["type"], "thinking");
    assert_eq!(anthropic["content"][0]["signature"], "gAAAAABoEnc1");
    assert_eq!(anthropic["stop_reason"], "tool_use");
}

#[test]
fn failures_and_cut_streams_are_typed_errors() {
    let (_, input) = fixture("error_before_output");
    let err = aggregate_responses(&input).unwrap_err();
    let StreamError::Upstream(upstream) = &err else {
        panic!("{err:?}");
    };
    assert_eq!(upstream.kind.as_str(), "rate_limited");
    assert!(err.is_retryable());

    let (_, input) = fixture("error_mid_stream");
    let err = aggregate_responses(&input).unwrap_err();
    assert!(
        matches!(&err, StreamError::Upstream(u) if u.message.contains("server had an error")),
        "{err:?}"
    );

    let (_, input) = fixture("truncated");
    assert_eq!(
        aggregate_responses(&input).unwrap_err(),
        StreamError::Truncated
    );
    assert_eq!(
        aggregate_responses(b"").unwrap_err(),
        StreamError::Truncated
    );

    let err = aggregate_responses(b"data: {\"type\":\"response.completed\",\"response\":[1]}\n\n")
        .unwrap_err();
    assert_eq!(err.kind(), "malformed");
    let err = aggregate_responses(b"data: {not json}\n\n").unwrap_err();
    assert_eq!(err.kind(), "malformed");
}

#[test]
fn events_after_the_response_is_done_are_ignored() {
    let body = json!({"id": "resp_1", "object": "response", "status": "completed", "output": [], "usage": null});
    let input = format!(
        "data: {}\n\ndata: {}\n\n",
        json!({"type": "response.completed", "response": body, "sequence_number": 0}),
        json!({"type": "error", "code": "server_error", "message": "late", "sequence_number": 1}),
    );
    let (out, usage) = aggregate_responses(input.as_bytes()).unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&out).unwrap(), body);
    assert_eq!(usage, aigw_formats::Usage::default());
}
