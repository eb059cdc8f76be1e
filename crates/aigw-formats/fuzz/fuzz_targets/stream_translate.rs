//! Fuzz target: every stream translator on arbitrary bytes, whole and cut at
//! an arbitrary point, never panics and writes the same output both ways.
#![no_main]

use aigw_domain::Format;
use aigw_formats::stream::{StreamContext, StreamTranslator};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

const PAIRS: [(Format, Format); 20] = [
    (Format::OpenAiChat, Format::OpenAiChat),
    (Format::OpenAiChat, Format::AnthropicMessages),
    (Format::OpenAiChat, Format::OpenAiResponses),
    (Format::AnthropicMessages, Format::OpenAiChat),
    (Format::AnthropicMessages, Format::AnthropicMessages),
    (Format::AnthropicMessages, Format::OpenAiResponses),
    (Format::OpenAiResponses, Format::OpenAiChat),
    (Format::OpenAiResponses, Format::AnthropicMessages),
    (Format::OpenAiResponses, Format::OpenAiResponses),
    (Format::Gemini, Format::OpenAiChat),
    (Format::Gemini, Format::AnthropicMessages),
    (Format::Gemini, Format::OpenAiResponses),
    (Format::Antigravity, Format::OpenAiChat),
    (Format::Antigravity, Format::AnthropicMessages),
    (Format::Antigravity, Format::OpenAiResponses),
    (Format::OpenAiChat, Format::Gemini),
    (Format::AnthropicMessages, Format::Gemini),
    (Format::OpenAiResponses, Format::Gemini),
    (Format::Gemini, Format::Gemini),
    (Format::Antigravity, Format::Gemini),
];

fn run(upstream: Format, client: Format, include_usage: bool, chunks: &[&[u8]]) -> (Vec<u8>, bool) {
    // The usage flag also picks the Gemini JSON-array form, so both get fuzzed.
    let ctx = StreamContext {
        request_id: "fuzz".to_owned(),
        model: "m".to_owned(),
        created: 0,
        include_usage,
    };
    let Ok(mut t) = StreamTranslator::new(upstream, client, ctx) else {
        return (Vec::new(), false);
    };
    if include_usage {
        t = t.gemini_json_array();
    }
    let mut out = BytesMut::new();
    let mut failed = None;
    for chunk in chunks {
        if let Err(e) = t.push(chunk, &mut out) {
            failed = Some(e);
            break;
        }
    }
    if failed.is_none() {
        failed = t.finish(&mut out).err();
    }
    if let Some(e) = &failed {
        if t.bytes_emitted() {
            t.write_error(e, &mut out);
        } else {
            assert!(out.is_empty());
        }
    }
    (out.to_vec(), failed.is_some())
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, input)) = data.split_first() else {
        return;
    };
    let (upstream, client) = PAIRS[usize::from(first) % PAIRS.len()];
    let include_usage = first & 0x80 != 0;
    let at = (usize::from(first) * 7).min(input.len());
    let whole = run(upstream, client, include_usage, &[input]);
    let split = run(
        upstream,
        client,
        include_usage,
        &[&input[..at], &input[at..]],
    );
    assert_eq!(whole, split);
});
