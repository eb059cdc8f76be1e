//! Criterion bench of whole-body translation: every client → upstream request
//! pair and every upstream → client response pair, each beside a naive baseline
//! (parse the same body into a `serde_json::Value` and serialise it again),
//! which is the least any JSON-rewriting gateway pays. Throughput is the input
//! body size, so criterion reports MB/s.
//!
//! The bodies are an agent-style conversation: a system prompt, tools, and
//! several turns of text, tool calls and tool results.

use std::hint::black_box;

use aigateway::domain::Format;
use aigateway::formats::{
    AntigravityEnvelope, ResponseContext, UpstreamTarget, translate_request, translate_response,
};
use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};

const CLIENTS: [Format; 2] = [Format::OpenAiChat, Format::AnthropicMessages];
const UPSTREAMS: [Format; 4] = [
    Format::OpenAiChat,
    Format::AnthropicMessages,
    Format::Gemini,
    Format::Antigravity,
];

const LOREM: &str = "The quick brown fox jumps over the lazy dog while the gateway translates \
                     every request between wire formats without losing a single field. ";

fn weather_schema() -> Value {
    json!({"type": "object", "properties": {
        "city": {"type": "string", "description": "City name"},
        "unit": {"type": "string", "enum": ["c", "f"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 14}
    }, "required": ["city"]})
}

/// An OpenAI conversation of `rounds` tool-call rounds.
fn openai_request(rounds: usize) -> Vec<u8> {
    let mut messages = vec![
        json!({"role": "system", "content": LOREM.repeat(8)}),
        json!({"role": "user", "content": LOREM.repeat(2)}),
    ];
    for i in 0..rounds {
        messages.push(json!({"role": "assistant", "content": LOREM, "tool_calls": [
            {"id": format!("call_{i}a"), "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\",\"unit\":\"c\",\"days\":3}"}},
            {"id": format!("call_{i}b"), "type": "function",
             "function": {"name": "search", "arguments": "{\"query\":\"weather history of Rome in spring\"}"}}
        ]}));
        messages.push(json!({"role": "tool", "tool_call_id": format!("call_{i}a"), "content": LOREM.repeat(3)}));
        messages.push(json!({"role": "tool", "tool_call_id": format!("call_{i}b"), "content": LOREM.repeat(3)}));
    }
    messages.push(json!({"role": "user", "content": "Summarise."}));
    to_vec(&json!({
        "model": "gpt-4o",
        "messages": messages,
        "tools": [
            {"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": weather_schema()}},
            {"type": "function", "function": {"name": "search", "description": "Web search",
             "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}}
        ],
        "temperature": 0.2,
        "max_tokens": 2048,
        "stream": true
    }))
}

/// The same conversation in Anthropic form.
fn anthropic_request(rounds: usize) -> Vec<u8> {
    let mut messages = vec![json!({"role": "user", "content": LOREM.repeat(2)})];
    for i in 0..rounds {
        messages.push(json!({"role": "assistant", "content": [
            {"type": "text", "text": LOREM},
            {"type": "tool_use", "id": format!("toolu_{i}a"), "name": "get_weather",
             "input": {"city": "Rome", "unit": "c", "days": 3}},
            {"type": "tool_use", "id": format!("toolu_{i}b"), "name": "search",
             "input": {"query": "weather history of Rome in spring"}}
        ]}));
        messages.push(json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": format!("toolu_{i}a"), "content": LOREM.repeat(3)},
            {"type": "tool_result", "tool_use_id": format!("toolu_{i}b"), "content": [{"type": "text", "text": LOREM.repeat(3)}]}
        ]}));
    }
    messages.push(json!({"role": "user", "content": "Summarise."}));
    to_vec(&json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 2048,
        "system": [{"type": "text", "text": LOREM.repeat(8), "cache_control": {"type": "ephemeral"}}],
        "messages": messages,
        "tools": [
            {"name": "get_weather", "description": "Weather", "input_schema": weather_schema()},
            {"name": "search", "description": "Web search",
             "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}
        ],
        "temperature": 0.2,
        "stream": true
    }))
}

/// A long answer with two tool calls, in each upstream format.
fn upstream_response(format: Format) -> Vec<u8> {
    let text = LOREM.repeat(20);
    let body = match format {
        Format::OpenAiChat => json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": text,
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}},
                    {"id": "call_2", "type": "function", "function": {"name": "search", "arguments": "{\"query\":\"x\"}"}}
                ]}}],
            "usage": {"prompt_tokens": 900, "completion_tokens": 300, "total_tokens": 1200,
                      "prompt_tokens_details": {"cached_tokens": 512}}
        }),
        Format::AnthropicMessages => json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [
                {"type": "text", "text": text},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Rome"}},
                {"type": "tool_use", "id": "toolu_2", "name": "search", "input": {"query": "x"}}
            ],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 388, "output_tokens": 300, "cache_read_input_tokens": 512, "cache_creation_input_tokens": 0}
        }),
        Format::OpenAiResponses => json!({
            "id": "resp_1", "object": "response", "created_at": 1, "status": "completed", "model": "gpt-5",
            "output": [
                {"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                 "content": [{"type": "output_text", "text": text, "annotations": []}]},
                {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Rome\"}"},
                {"type": "function_call", "id": "fc_2", "call_id": "call_2", "name": "search", "arguments": "{\"query\":\"x\"}"}
            ],
            "usage": {"input_tokens": 900, "input_tokens_details": {"cached_tokens": 512}, "output_tokens": 300,
                      "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 1200}
        }),
        Format::Gemini | Format::Antigravity => {
            let inner = json!({
                "candidates": [{"content": {"role": "model", "parts": [
                    {"text": text},
                    {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}, "thoughtSignature": "c2ln"},
                    {"functionCall": {"name": "search", "args": {"query": "x"}}}
                ]}, "finishReason": "STOP"}],
                "usageMetadata": {"promptTokenCount": 900, "candidatesTokenCount": 300, "totalTokenCount": 1200,
                                  "cachedContentTokenCount": 512}
            });
            if format == Format::Antigravity {
                json!({"response": inner})
            } else {
                inner
            }
        }
    };
    to_vec(&body)
}

fn to_vec(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// The baseline: what merely re-encoding the body costs.
fn value_round_trip(body: &[u8]) -> Vec<u8> {
    serde_json::from_slice::<Value>(body)
        .map(|v| to_vec(&v))
        .unwrap_or_default()
}

#[expect(
    clippy::print_stderr,
    reason = "a skipped pair is reported in the bench output"
)]
fn skip(what: &str, why: &str) {
    eprintln!("skipped {what}: {why}");
}

fn requests(c: &mut Criterion) {
    let target =
        UpstreamTarget::new("upstream-model", true).with_antigravity(AntigravityEnvelope {
            project: Some("project-1"),
            request_id: "agent-1",
            user_agent: "antigravity",
            session_id: None,
        });
    for rounds in [1, 8] {
        let mut group = c.benchmark_group(format!("request/{rounds}_rounds"));
        for client in CLIENTS {
            let body = match client {
                Format::AnthropicMessages => anthropic_request(rounds),
                _ => openai_request(rounds),
            };
            group.throughput(Throughput::Bytes(body.len() as u64));
            group.bench_with_input(
                BenchmarkId::new("baseline_value", client.as_str()),
                &body,
                |b, body| b.iter(|| value_round_trip(black_box(body))),
            );
            for upstream in UPSTREAMS {
                let id = format!("{}_to_{}", client.as_str(), upstream.as_str());
                if let Err(e) = translate_request(client, upstream, &body, &target) {
                    skip(&id, &e.to_string());
                    continue;
                }
                group.bench_with_input(BenchmarkId::new("translate", &id), &body, |b, body| {
                    b.iter(|| translate_request(client, upstream, black_box(body), &target))
                });
            }
        }
        group.finish();
    }
}

fn responses(c: &mut Criterion) {
    let ctx = ResponseContext {
        model: "client-model",
        request_id: "req-1",
        created: 1_700_000_000,
        tool_namespaces: &[],
    };
    let mut group = c.benchmark_group("response");
    for upstream in UPSTREAMS {
        let body = Bytes::from(upstream_response(upstream));
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("baseline_value", upstream.as_str()),
            &body,
            |b, body| b.iter(|| value_round_trip(black_box(body))),
        );
        for client in CLIENTS {
            let id = format!("{}_to_{}", upstream.as_str(), client.as_str());
            if let Err(e) = translate_response(upstream, client, body.clone(), &ctx) {
                skip(&id, &e.to_string());
                continue;
            }
            group.bench_with_input(BenchmarkId::new("translate", &id), &body, |b, body| {
                b.iter(|| translate_response(upstream, client, black_box(body.clone()), &ctx))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, requests, responses);
criterion_main!(benches);
