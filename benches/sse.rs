//! Criterion bench of stream translation throughput: upstream SSE bytes in,
//! client SSE bytes out, for the cross-format pairs Gemini → Anthropic and
//! Anthropic → OpenAI and the passthrough pairs, each beside a naive baseline
//! (split the same stream into events and parse each event's data into a
//! `serde_json::Value`, then serialise it again), which is the least any
//! gateway that rewrites JSON events pays. Throughput is the upstream stream's
//! size, so criterion reports MB/s. Also the bare SSE parser.
//!
//! The streams are what a model sends for an agent turn: many short text
//! deltas (a few words each), some reasoning, two tool calls and usage. The
//! body is fed in 4 KiB chunks, as a network read would hand it over.
//!
//! Figures (2 shared vCPUs, AMD EPYC, load average 3–5, so read the ratios;
//! `cargo bench --bench sse -- --measurement-time 6`), median MiB/s of
//! upstream bytes, translator vs baseline:
//!
//! | stream                 | translate | Value baseline | ratio |
//! |------------------------|----------:|---------------:|------:|
//! | Gemini → Anthropic     |       192 |             89 |  2.2× |
//! | Anthropic → OpenAI     |       142 |             96 |  1.5× |
//! | OpenAI → Anthropic     |       277 |             77 |  3.6× |
//! | Anthropic passthrough  |       711 |             85 |  8.4× |
//! | OpenAI passthrough     |       278 |             66 |  4.2× |
//! | SSE parser alone       |       711 |                |       |
//!
//! Anthropic → OpenAI gains least because it writes more than it reads: each
//! OpenAI chunk repeats the id, model and timestamp.

use std::hint::black_box;

use aigateway::domain::Format;
use aigateway::formats::sse::SseParser;
use aigateway::formats::stream::{StreamContext, StreamError, StreamTranslator};
use bytes::BytesMut;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};

const CHUNK: usize = 4096;
const WORDS: [&str; 8] = [
    "The gateway ",
    "translates ",
    "every event ",
    "as it arrives, ",
    "without ",
    "buffering ",
    "the whole ",
    "stream.\n",
];

fn sse(out: &mut String, event: Option<&str>, data: &Value) {
    if let Some(name) = event {
        out.push_str("event: ");
        out.push_str(name);
        out.push('\n');
    }
    out.push_str("data: ");
    out.push_str(&data.to_string());
    out.push_str("\n\n");
}

/// A Gemini stream of `deltas` text chunks (after some thoughts) and two calls.
fn gemini_stream(deltas: usize) -> Vec<u8> {
    let mut s = String::new();
    let usage = |n: usize| json!({"promptTokenCount": 1200, "candidatesTokenCount": n, "totalTokenCount": 1200 + n});
    for i in 0..deltas / 10 {
        let part = json!({"text": WORDS[i % WORDS.len()], "thought": true});
        let chunk = json!({"candidates": [{"content": {"role": "model", "parts": [part]}, "index": 0}],
            "usageMetadata": usage(i), "modelVersion": "gemini-2.5-flash", "responseId": "r1"});
        sse(&mut s, None, &chunk);
    }
    for i in 0..deltas {
        let chunk = json!({"candidates": [{"content": {"role": "model", "parts": [{"text": WORDS[i % WORDS.len()]}]}, "index": 0}],
            "usageMetadata": usage(i), "modelVersion": "gemini-2.5-flash", "responseId": "r1"});
        sse(&mut s, None, &chunk);
    }
    let calls = json!([
        {"functionCall": {"name": "get_weather", "args": {"city": "Rome", "unit": "c", "days": 3}}, "thoughtSignature": "CiQBVKhc7sig"},
        {"functionCall": {"name": "search", "args": {"query": "weather history of Rome in spring"}}}
    ]);
    let last = json!({"candidates": [{"content": {"role": "model", "parts": calls}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": usage(deltas), "modelVersion": "gemini-2.5-flash", "responseId": "r1"});
    sse(&mut s, None, &last);
    s.into_bytes()
}

/// An Anthropic stream of `deltas` text deltas (after some thinking) and two tool calls.
fn anthropic_stream(deltas: usize) -> Vec<u8> {
    let mut s = String::new();
    let ev = |s: &mut String, data: Value| {
        let name = data["type"].as_str().unwrap_or("").to_owned();
        sse(s, Some(&name), &data);
    };
    ev(
        &mut s,
        json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
        "model": "claude-sonnet-4-5", "content": [], "stop_reason": null, "stop_sequence": null,
        "usage": {"input_tokens": 1200, "cache_read_input_tokens": 800, "cache_creation_input_tokens": 0, "output_tokens": 1}}}),
    );
    ev(&mut s, json!({"type": "ping"}));
    ev(
        &mut s,
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
    );
    for i in 0..deltas / 10 {
        ev(
            &mut s,
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": WORDS[i % WORDS.len()]}}),
        );
    }
    ev(
        &mut s,
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3h"}}),
    );
    ev(&mut s, json!({"type": "content_block_stop", "index": 0}));
    ev(
        &mut s,
        json!({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
    );
    for i in 0..deltas {
        ev(
            &mut s,
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": WORDS[i % WORDS.len()]}}),
        );
    }
    ev(&mut s, json!({"type": "content_block_stop", "index": 1}));
    for (index, (id, name, parts)) in [
        (
            2,
            (
                "toolu_a",
                "get_weather",
                ["{\"city\": \"Ro", "me\", \"unit\": \"c\", ", "\"days\": 3}"],
            ),
        ),
        (
            3,
            (
                "toolu_b",
                "search",
                ["{\"query\": \"weather ", "history of Rome ", "in spring\"}"],
            ),
        ),
    ] {
        ev(
            &mut s,
            json!({"type": "content_block_start", "index": index, "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
        );
        for p in parts {
            ev(
                &mut s,
                json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": p}}),
            );
        }
        ev(
            &mut s,
            json!({"type": "content_block_stop", "index": index}),
        );
    }
    ev(
        &mut s,
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": deltas}}),
    );
    ev(&mut s, json!({"type": "message_stop"}));
    s.into_bytes()
}

/// An OpenAI stream of `deltas` content deltas and two tool calls.
fn openai_stream(deltas: usize) -> Vec<u8> {
    let mut s = String::new();
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": "gpt-4o",
            "system_fingerprint": "fp_1", "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
    };
    sse(
        &mut s,
        None,
        &chunk(json!({"role": "assistant", "content": ""}), Value::Null),
    );
    for i in 0..deltas {
        sse(
            &mut s,
            None,
            &chunk(json!({"content": WORDS[i % WORDS.len()]}), Value::Null),
        );
    }
    sse(
        &mut s,
        None,
        &chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
        "function": {"name": "get_weather", "arguments": ""}}]}),
            Value::Null,
        ),
    );
    for p in ["{\"city\": \"Ro", "me\", \"unit\": \"c\", ", "\"days\": 3}"] {
        sse(
            &mut s,
            None,
            &chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}),
                Value::Null,
            ),
        );
    }
    sse(&mut s, None, &chunk(json!({}), json!("tool_calls")));
    sse(
        &mut s,
        None,
        &json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_700_000_000,
        "model": "gpt-4o", "choices": [], "usage": {"prompt_tokens": 1200, "completion_tokens": deltas, "total_tokens": 1200 + deltas}}),
    );
    s.push_str("data: [DONE]\n\n");
    s.into_bytes()
}

fn context() -> StreamContext {
    StreamContext {
        request_id: "0197a1b2c3d4e5f6".to_owned(),
        model: "client-model".to_owned(),
        created: 1_700_000_000,
        include_usage: true,
    }
}

/// Translates `input` as the data plane does; returns the client bytes' size.
fn translate(
    upstream: Format,
    client: Format,
    input: &[u8],
    out: &mut BytesMut,
) -> Result<usize, StreamError> {
    let mut t = StreamTranslator::new(upstream, client, context())?;
    out.clear();
    for chunk in input.chunks(CHUNK) {
        t.push(chunk, out)?;
    }
    t.finish(out)?;
    Ok(out.len())
}

/// The naive baseline: frame the stream, round-trip each event's data through
/// `serde_json::Value`, and write it back out as SSE.
fn baseline(input: &[u8], out: &mut BytesMut) -> usize {
    let mut parser = SseParser::new();
    out.clear();
    let write = |event: Option<&str>, data: &str, out: &mut BytesMut| {
        let bytes = match serde_json::from_str::<Value>(data) {
            Ok(v) => serde_json::to_vec(&v).unwrap_or_default(),
            Err(_) => data.as_bytes().to_vec(),
        };
        aigateway::formats::sse::write_event(out, event, &bytes);
    };
    for chunk in input.chunks(CHUNK) {
        parser.push(chunk);
        while let Ok(Some(e)) = parser.next_event() {
            write(e.event, e.data, out);
        }
    }
    while let Ok(Some(e)) = parser.finish() {
        write(e.event, e.data, out);
    }
    out.len()
}

#[expect(
    clippy::print_stderr,
    reason = "a skipped case is reported in the bench output"
)]
fn skip(what: &str, why: &str) {
    eprintln!("skipped {what}: {why}");
}

fn streams(c: &mut Criterion) {
    const DELTAS: usize = 400;
    let cases = [
        (
            "gemini_to_anthropic",
            Format::Gemini,
            Format::AnthropicMessages,
            gemini_stream(DELTAS),
        ),
        (
            "anthropic_to_openai",
            Format::AnthropicMessages,
            Format::OpenAiChat,
            anthropic_stream(DELTAS),
        ),
        (
            "openai_to_anthropic",
            Format::OpenAiChat,
            Format::AnthropicMessages,
            openai_stream(DELTAS),
        ),
        (
            "anthropic_passthrough",
            Format::AnthropicMessages,
            Format::AnthropicMessages,
            anthropic_stream(DELTAS),
        ),
        (
            "openai_passthrough",
            Format::OpenAiChat,
            Format::OpenAiChat,
            openai_stream(DELTAS),
        ),
    ];
    let mut group = c.benchmark_group("stream");
    let mut out = BytesMut::with_capacity(1 << 20);
    for (name, upstream, client, input) in &cases {
        // A stream that does not translate cleanly would measure an early exit.
        if let Err(e) = translate(*upstream, *client, input, &mut out) {
            skip(name, &e.to_string());
            continue;
        }
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_with_input(BenchmarkId::new("translate", name), input, |b, input| {
            b.iter(|| black_box(translate(*upstream, *client, black_box(input), &mut out).ok()));
        });
        group.bench_with_input(
            BenchmarkId::new("baseline_value", name),
            input,
            |b, input| {
                b.iter(|| black_box(baseline(black_box(input), &mut out)));
            },
        );
    }
    group.finish();

    let mut group = c.benchmark_group("sse_parser");
    let input = anthropic_stream(DELTAS);
    group.throughput(Throughput::Bytes(input.len() as u64));
    group.bench_function("events", |b| {
        b.iter(|| {
            let mut parser = SseParser::new();
            let mut n = 0usize;
            for chunk in black_box(&input).chunks(CHUNK) {
                parser.push(chunk);
                while let Ok(Some(e)) = parser.next_event() {
                    n += e.data.len();
                }
            }
            black_box(n)
        });
    });
    group.finish();
}

criterion_group!(benches, streams);
criterion_main!(benches);
