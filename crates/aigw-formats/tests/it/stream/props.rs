//! Property tests: the SSE parser and every stream translator, fed arbitrary
//! bytes cut into arbitrary chunks, never panic, keep memory bounded, and give
//! the same output however the input is cut. Plausible upstream event
//! sequences in random order always yield a valid client grammar (or a typed
//! error). Case counts are modest so `cargo test` stays fast; raise them with
//! `PROPTEST_CASES` for a longer fuzzing run.

use aigw_domain::Format;
use aigw_formats::sse::SseParser;
use aigw_formats::stream::ResponsesAggregator;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::grammar::{self, PAIRS};
use super::{context, events, run};

/// Cuts `input` at the given (sorted, deduplicated) offsets.
fn cut<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.sort_unstable();
    points.dedup();
    let mut chunks = Vec::new();
    let mut start = 0;
    for p in points {
        chunks.push(&input[start..p]);
        start = p;
    }
    chunks.push(&input[start..]);
    chunks
}

/// Bytes that look like SSE often enough to reach every parser state.
fn sse_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"data: ".to_vec()),
        Just(b"data:".to_vec()),
        Just(b"event: x".to_vec()),
        Just(b"id: 1".to_vec()),
        Just(b"retry: 99".to_vec()),
        Just(b": comment".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n\n".to_vec()),
        Just(b"\xEF\xBB\xBF".to_vec()),
        Just(b"{\"a\":1}".to_vec()),
        Just(b"[DONE]".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..12),
    ];
    proptest::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

type Parsed = Vec<(Option<String>, String, Option<String>, Option<u64>)>;

fn parse(chunks: &[&[u8]], max: usize) -> Result<Parsed, aigw_formats::sse::SseError> {
    let mut p = SseParser::with_max_event_size(max);
    let mut out = Vec::new();
    for chunk in chunks {
        p.push(chunk);
        while let Some(e) = p.next_event()? {
            assert!(e.data.len() <= max, "an event over the limit was returned");
            out.push((
                e.event.map(str::to_owned),
                e.data.to_owned(),
                e.id.map(str::to_owned),
                e.retry,
            ));
        }
        assert!(
            p.buffered_len() <= max,
            "the parser holds {} bytes, over {max}",
            p.buffered_len()
        );
    }
    while let Some(e) = p.finish()? {
        out.push((
            e.event.map(str::to_owned),
            e.data.to_owned(),
            e.id.map(str::to_owned),
            e.retry,
        ));
    }
    Ok(out)
}

/// One plausible upstream event of `upstream`'s format, as SSE text.
fn upstream_event(upstream: Format) -> BoxedStrategy<String> {
    let text = prop_oneof![
        Just(""),
        Just("Hi"),
        Just(" there"),
        Just("\"q\"\n"),
        Just("é")
    ];
    match upstream {
        Format::OpenAiChat => {
            let chunk = (0u8..9, text, 0u32..3).prop_map(|(kind, text, i)| {
                let delta = match kind {
                    0 => json!({"role": "assistant", "content": ""}),
                    1 => json!({"content": text}),
                    2 => json!({"reasoning_content": text}),
                    3 => json!({"tool_calls": [{"index": i, "id": format!("call_{i}"), "type": "function",
                        "function": {"name": "f", "arguments": ""}}]}),
                    4 => json!({"tool_calls": [{"index": i, "function": {"arguments": "{\"a\":"}}]}),
                    5 => json!({"tool_calls": [{"index": i, "function": {"arguments": "1}"}}]}),
                    _ => json!({}),
                };
                let finish = match kind {
                    6 => json!("stop"),
                    7 => json!("tool_calls"),
                    8 => json!("length"),
                    _ => Value::Null,
                };
                let data = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
                format!("data: {data}\n\n")
            });
            prop_oneof![
                8 => chunk,
                1 => Just("data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}\n\n".to_owned()),
                1 => Just("data: [DONE]\n\n".to_owned()),
                1 => Just("data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}\n\n".to_owned()),
                1 => Just(": ping\n\n".to_owned()),
            ]
            .boxed()
        }
        Format::AnthropicMessages => {
            let ev = (0u8..13, text, 0u32..3).prop_map(|(kind, text, i)| {
                let data = match kind {
                    0 => json!({"type": "message_start", "message": {"id": "msg_u", "type": "message", "role": "assistant",
                        "model": "m", "content": [], "stop_reason": null, "stop_sequence": null,
                        "usage": {"input_tokens": 7, "output_tokens": 1}}}),
                    1 => json!({"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}}),
                    2 => json!({"type": "content_block_start", "index": i, "content_block": {"type": "thinking", "thinking": ""}}),
                    3 => json!({"type": "content_block_start", "index": i,
                        "content_block": {"type": "tool_use", "id": format!("toolu_{i}"), "name": "f", "input": {}}}),
                    4 => json!({"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": text}}),
                    5 => json!({"type": "content_block_delta", "index": i, "delta": {"type": "thinking_delta", "thinking": text}}),
                    6 => json!({"type": "content_block_delta", "index": i, "delta": {"type": "signature_delta", "signature": "sig"}}),
                    7 => json!({"type": "content_block_delta", "index": i, "delta": {"type": "input_json_delta", "partial_json": "{\"a\":1}"}}),
                    8 => json!({"type": "content_block_stop", "index": i}),
                    9 => json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                        "usage": {"output_tokens": 5}}),
                    10 => json!({"type": "message_stop"}),
                    11 => json!({"type": "ping"}),
                    _ => json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
                };
                format!("event: {}\ndata: {data}\n\n", data["type"].as_str().unwrap_or(""))
            });
            ev.boxed()
        }
        Format::OpenAiResponses => {
            let ev = (0u8..15, text, 0u32..3).prop_map(|(kind, text, i)| {
                let item_id = format!("it_{i}");
                let usage = json!({"input_tokens": 9, "input_tokens_details": {"cached_tokens": 4},
                    "output_tokens": 3, "output_tokens_details": {"reasoning_tokens": 1}, "total_tokens": 12});
                let data = match kind {
                    0 => json!({"type": "response.created", "response": {"id": "resp_u", "object": "response",
                        "status": "in_progress", "model": "m", "output": []}}),
                    1 => json!({"type": "response.output_item.added", "output_index": i,
                        "item": {"id": item_id, "type": "message", "role": "assistant", "content": []}}),
                    2 => json!({"type": "response.output_item.added", "output_index": i,
                        "item": {"id": item_id, "type": "function_call", "call_id": format!("call_{i}"), "name": "f", "arguments": ""}}),
                    3 => json!({"type": "response.output_item.added", "output_index": i,
                        "item": {"id": item_id, "type": "reasoning", "summary": []}}),
                    4 => json!({"type": "response.output_text.delta", "item_id": item_id, "output_index": i,
                        "content_index": 0, "delta": text}),
                    5 => json!({"type": "response.function_call_arguments.delta", "item_id": item_id,
                        "output_index": i, "delta": "{\"a\":1}"}),
                    6 => json!({"type": "response.reasoning_summary_text.delta", "item_id": item_id,
                        "output_index": i, "summary_index": 0, "delta": text}),
                    7 => json!({"type": "response.reasoning_summary_part.added", "item_id": item_id,
                        "output_index": i, "summary_index": i, "part": {"type": "summary_text", "text": ""}}),
                    8 => json!({"type": "response.output_item.done", "output_index": i,
                        "item": {"id": item_id, "type": "reasoning", "summary": [{"type": "summary_text", "text": text}],
                            "encrypted_content": "enc"}}),
                    9 => json!({"type": "response.output_item.done", "output_index": i,
                        "item": {"id": item_id, "type": "function_call", "call_id": format!("call_{i}"), "name": "f",
                            "arguments": "{\"b\":2}"}}),
                    10 => json!({"type": "response.output_item.done", "output_index": i,
                        "item": {"id": item_id, "type": "message", "role": "assistant",
                            "content": [{"type": "output_text", "text": text, "annotations": []}]}}),
                    11 => json!({"type": "response.completed", "response": {"id": "resp_u", "status": "completed",
                        "output": [], "usage": usage}}),
                    12 => json!({"type": "response.incomplete", "response": {"id": "resp_u", "status": "incomplete",
                        "incomplete_details": {"reason": "max_output_tokens"}, "output": [], "usage": usage}}),
                    13 => json!({"type": "response.failed", "response": {"id": "resp_u", "status": "failed",
                        "error": {"code": "server_error", "message": "boom"}}}),
                    _ => json!({"type": "error", "code": "rate_limit_exceeded", "message": "slow down"}),
                };
                format!("event: {}\ndata: {data}\n\n", data["type"].as_str().unwrap_or(""))
            });
            ev.boxed()
        }
        Format::Gemini | Format::Antigravity => {
            let antigravity = upstream == Format::Antigravity;
            let ev = (0u8..8, text).prop_map(move |(kind, text)| {
                let part = match kind {
                    0 | 1 => json!({"text": text}),
                    2 => json!({"text": text, "thought": true}),
                    3 => json!({"thoughtSignature": "sig", "text": ""}),
                    4 => json!({"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "sig"}),
                    _ => json!({"inlineData": {"mimeType": "image/png", "data": "aGk="}}),
                };
                let mut candidate = json!({"content": {"role": "model", "parts": [part]}, "index": 0});
                match kind {
                    5 => candidate["finishReason"] = json!("STOP"),
                    6 => candidate["finishReason"] = json!("MAX_TOKENS"),
                    _ => {}
                }
                let mut data = json!({"candidates": [candidate],
                    "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 2, "totalTokenCount": 6}});
                if kind == 7 {
                    data = json!({"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}});
                } else if antigravity {
                    data = json!({"response": data});
                }
                format!("data: {data}\n\n")
            });
            ev.boxed()
        }
    }
}

fn pair() -> impl Strategy<Value = (Format, Format)> {
    (0..PAIRS.len()).prop_map(|i| PAIRS[i])
}

fn upstream_stream() -> impl Strategy<Value = (Format, Format, String, bool)> {
    pair().prop_flat_map(|(upstream, client)| {
        (
            Just(upstream),
            Just(client),
            proptest::collection::vec(upstream_event(upstream), 0..14).prop_map(|v| v.concat()),
            any::<bool>(),
        )
    })
}

proptest! {
    // Failures are not persisted: a shrunk case is printed, to be kept as a fixture.
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(256) })]

    #[test]
    fn sse_parser_is_chunking_invariant_and_bounded(
        input in sse_bytes(),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
        max in prop_oneof![Just(16usize), Just(64), Just(1 << 20)],
    ) {
        let whole = parse(&[&input], max);
        let pieces = parse(&cut(&input, &cuts), max);
        prop_assert_eq!(&whole, &pieces);
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        prop_assert_eq!(&whole, &parse(&bytes, max));
    }

    #[test]
    fn translators_survive_arbitrary_bytes(
        (upstream, client) in pair(),
        input in prop_oneof![sse_bytes(), proptest::collection::vec(any::<u8>(), 0..256)],
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
        include_usage in any::<bool>(),
    ) {
        let whole = run(upstream, client, context(include_usage), &[&input]);
        let pieces = run(upstream, client, context(include_usage), &cut(&input, &cuts));
        prop_assert_eq!(whole, pieces);
    }

    #[test]
    fn plausible_upstream_streams_give_valid_client_grammar(
        (upstream, client, input, include_usage) in upstream_stream(),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let input = input.as_bytes();
        let whole = run(upstream, client, context(include_usage), &[input]);
        let pieces = run(upstream, client, context(include_usage), &cut(input, &cuts));
        prop_assert_eq!(&whole, &pieces);
        // Passthrough forwards what the upstream said, valid or not; only the
        // translated pairs promise a valid grammar for any input.
        if !grammar::forwarded(upstream, client) {
            let evs = Value::Array(events(&whole.bytes));
            let checked = grammar::check(
                client,
                include_usage,
                grammar::Rules { passthrough: false, complete_tool_args: false },
                &evs,
            );
            prop_assert!(checked.is_ok(), "{:?} -> {:?}: {}\n{}", upstream, client, checked.unwrap_err(),
                String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn the_responses_aggregator_is_chunking_invariant(
        input in prop_oneof![
            sse_bytes(),
            proptest::collection::vec(upstream_event(Format::OpenAiResponses), 0..14)
                .prop_map(|v| v.concat().into_bytes()),
        ],
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let aggregate = |chunks: &[&[u8]]| {
            let mut aggregator = ResponsesAggregator::new();
            for chunk in chunks {
                aggregator.push(chunk)?;
            }
            aggregator.finish()
        };
        let whole = aggregate(&[&input]);
        prop_assert_eq!(&whole, &aggregate(&cut(&input, &cuts)));
        if let Ok((body, _)) = &whole {
            let value: Value = serde_json::from_slice(body).unwrap();
            prop_assert!(value.is_object());
        }
    }
}
