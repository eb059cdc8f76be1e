//! Uses `aigw-formats` on its own, without the gateway's services or any IO:
//! an Anthropic Messages request is translated for an OpenAI Chat upstream,
//! the upstream's whole reply back into an Anthropic message, and an OpenAI
//! Chat SSE stream into Anthropic events while it arrives cut at arbitrary
//! bytes, as a socket delivers it.
//!
//! Run: `cargo run --example translate`. `cargo test --example translate`
//! (and `cargo test --workspace`) runs the same steps as a test.

use aigateway::domain::Format;
use aigateway::formats::sse::SseParser;
use aigateway::formats::stream::{StreamContext, StreamTranslator};
use aigateway::formats::{
    RequestMeta, ResponseContext, UpstreamTarget, translate_request, translate_response,
};
use anyhow::{Context as _, bail, ensure};
use bytes::BytesMut;
use serde_json::{Value, json};

/// The model the client names, and the one the upstream is asked for.
const CLIENT_MODEL: &str = "claude-sonnet-4-5";
const UPSTREAM_MODEL: &str = "gpt-4o";
/// Ids in translated answers derive from the caller's request id.
const REQUEST_ID: &str = "0197a1b2c3d4e5f6a7b8c9d0e1f2a3b4";
const CREATED: u64 = 1_700_000_000;

/// What the three translations produced.
#[derive(Debug)]
struct Outcome {
    /// The body sent to the OpenAI Chat upstream.
    upstream_request: Value,
    /// The Anthropic message the client gets for the whole reply.
    reply: Value,
    /// The Anthropic event stream the client gets (the same whatever the cuts).
    stream: String,
    /// The text the client reads from that stream's deltas.
    streamed_text: String,
}

/// The client's request, in Anthropic Messages.
fn anthropic_request(stream: bool) -> Value {
    json!({
        "model": CLIENT_MODEL,
        "max_tokens": 256,
        "system": "Answer in one short sentence.",
        "messages": [{"role": "user", "content": "Say hello to the embedder."}],
        "stream": stream,
    })
}

/// The OpenAI Chat upstream's whole reply.
fn openai_reply() -> Value {
    json!({
        "id": "chatcmpl-upstream", "object": "chat.completion", "created": CREATED,
        "model": UPSTREAM_MODEL,
        "choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": "Hello, embedder!"}}],
        "usage": {"prompt_tokens": 21, "completion_tokens": 4, "total_tokens": 25},
    })
}

/// The OpenAI Chat upstream's streamed reply, as SSE bytes.
fn openai_stream() -> Vec<u8> {
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-upstream", "object": "chat.completion.chunk", "created": CREATED,
            "model": UPSTREAM_MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    for piece in ["Hello", ", ", "embedder", "!"] {
        events.push(chunk(json!({"content": piece}), Value::Null));
    }
    events.push(chunk(json!({}), json!("stop")));
    events.push(
        json!({"id": "chatcmpl-upstream", "object": "chat.completion.chunk",
        "created": CREATED, "model": UPSTREAM_MODEL, "choices": [],
        "usage": {"prompt_tokens": 21, "completion_tokens": 4, "total_tokens": 25}}),
    );
    let mut out = String::new();
    for event in events {
        out.push_str(&format!("data: {event}\n\n"));
    }
    out.push_str("data: [DONE]\n\n");
    out.into_bytes()
}

/// Translates the upstream stream fed in pieces of `cut` bytes.
fn translate_stream(upstream: &[u8], cut: usize) -> anyhow::Result<String> {
    let mut translator = StreamTranslator::new(
        Format::OpenAiChat,
        Format::AnthropicMessages,
        StreamContext {
            request_id: REQUEST_ID.to_owned(),
            model: CLIENT_MODEL.to_owned(),
            created: CREATED,
            include_usage: false,
        },
    )?;
    let mut out = BytesMut::new();
    for piece in upstream.chunks(cut) {
        translator.push(piece, &mut out)?;
    }
    translator.finish(&mut out)?;
    Ok(String::from_utf8(out.to_vec())?)
}

/// The text of an Anthropic event stream's `text_delta`s.
fn streamed_text(stream: &str) -> anyhow::Result<String> {
    let mut parser = SseParser::new();
    parser.push(stream.as_bytes());
    let mut text = String::new();
    while let Some(event) = parser.next_event()? {
        let data: Value = serde_json::from_str(event.data)?;
        if let Some(delta) = data["delta"]["text"].as_str() {
            text.push_str(delta);
        }
    }
    Ok(text)
}

fn run() -> anyhow::Result<Outcome> {
    // 1. The request: a first look (the model routes it, the flag says
    // whether to stream), then the body for the upstream's format.
    let body = anthropic_request(false).to_string();
    let meta = RequestMeta::parse(Format::AnthropicMessages, body.as_bytes())?;
    let target = UpstreamTarget::new(UPSTREAM_MODEL, meta.stream);
    let upstream_body = translate_request(
        Format::AnthropicMessages,
        Format::OpenAiChat,
        body.as_bytes(),
        &target,
    )?;
    let upstream_request: Value = serde_json::from_slice(&upstream_body)?;

    // 2. The whole reply, back in the client's format, with its usage.
    let ctx = ResponseContext {
        model: &meta.model,
        request_id: REQUEST_ID,
        created: CREATED,
        tool_namespaces: &[],
    };
    let (reply, usage) = translate_response(
        Format::OpenAiChat,
        Format::AnthropicMessages,
        openai_reply().to_string().into(),
        &ctx,
    )?;
    ensure!(
        (usage.input_tokens, usage.output_tokens) == (21, 4),
        "usage read from the reply: {usage:?}"
    );
    let reply: Value = serde_json::from_slice(&reply)?;

    // 3. The stream: whatever the cuts (one byte, a prime, all at once), the
    // client receives the same events.
    let upstream = openai_stream();
    let stream = translate_stream(&upstream, upstream.len())?;
    for cut in [1, 7, 64] {
        let cut_stream = translate_stream(&upstream, cut)?;
        if cut_stream != stream {
            bail!("the stream cut every {cut} bytes translated differently:\n{cut_stream}");
        }
    }
    let streamed_text = streamed_text(&stream).context("reading the translated stream")?;
    Ok(Outcome {
        upstream_request,
        reply,
        stream,
        streamed_text,
    })
}

#[expect(clippy::print_stdout, reason = "the example shows what it translated")]
fn main() -> anyhow::Result<()> {
    let outcome = run()?;
    println!("OpenAI Chat request:\n{:#}\n", outcome.upstream_request);
    println!("Anthropic reply:\n{:#}\n", outcome.reply);
    println!("Anthropic stream:\n{}", outcome.stream);
    println!("streamed text: {}", outcome.streamed_text);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_anthropic_client_is_served_by_an_openai_upstream() {
        let outcome = run().unwrap();

        let request = &outcome.upstream_request;
        assert_eq!(request["model"], UPSTREAM_MODEL);
        assert_eq!(request["max_tokens"], 256);
        assert_eq!(request["messages"][0]["role"], "system");
        assert_eq!(
            request["messages"][0]["content"],
            "Answer in one short sentence."
        );
        assert_eq!(request["messages"][1]["role"], "user");

        let reply = &outcome.reply;
        assert_eq!(reply["type"], "message");
        assert_eq!(reply["model"], CLIENT_MODEL);
        assert_eq!(reply["content"][0]["text"], "Hello, embedder!");
        assert_eq!(reply["stop_reason"], "end_turn");
        assert_eq!(reply["usage"]["output_tokens"], 4);

        assert!(outcome.stream.starts_with("event: message_start\n"));
        assert!(outcome.stream.contains("event: message_stop\n"));
        assert_eq!(outcome.streamed_text, "Hello, embedder!");
    }
}
