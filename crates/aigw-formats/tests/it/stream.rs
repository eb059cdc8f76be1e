//! Stream fixtures, re-fed at every split offset, and the client grammar checks.
//!
//! Fixtures live in `tests/fixtures/stream/<client>-<upstream>/<case>.json`:
//! `{"note", ["include_usage"], ["crlf"], ["no_final_blank_line"], "input",
//! "expected", "usage", "error"}` where `input` lists the upstream's SSE events
//! (`{"event"?, "data"}`, data as JSON or a raw string such as `[DONE]`),
//! `expected` the client's events in the same shape, `usage` the usage the
//! translator reports, and `error` the typed error (null when the stream ends
//! well). When the error comes after bytes were sent, `expected` ends with the
//! terminal error event the translator writes.
//!
//! `UPDATE_FIXTURES=1 cargo test -p aigw-formats --test it stream` rewrites the
//! expectations from the current output (review the diff before committing).

mod aggregate;
mod gemini_grammar;
mod grammar;
mod props;
mod responses_grammar;

use std::path::{Path, PathBuf};

use aigw_domain::Format;
use aigw_formats::Usage;
use aigw_formats::sse::SseParser;
use aigw_formats::stream::{StreamContext, StreamError, StreamStatus, StreamTranslator};
use bytes::BytesMut;
use serde_json::{Value, json};

use crate::diff;

pub(crate) const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/stream");

pub(crate) fn format_named(name: &str) -> Format {
    match name {
        "openai" => Format::OpenAiChat,
        "anthropic" => Format::AnthropicMessages,
        "responses" => Format::OpenAiResponses,
        "gemini" => Format::Gemini,
        "antigravity" => Format::Antigravity,
        other => panic!("unknown format `{other}` in a fixture directory name"),
    }
}

pub(crate) fn context(include_usage: bool) -> StreamContext {
    StreamContext {
        request_id: "req01".to_owned(),
        model: "client-model".to_owned(),
        created: 1_700_000_000,
        include_usage,
    }
}

/// What one run of a translator produced.
#[derive(Debug, PartialEq)]
pub(crate) struct Outcome {
    pub bytes: Vec<u8>,
    pub error: Option<StreamError>,
    pub emitted_before_error: bool,
    pub usage: Usage,
}

/// Feeds `chunks` to a fresh translator as the data plane does: on an error,
/// the terminal error event is written only when bytes were already sent.
pub(crate) fn run(
    upstream: Format,
    client: Format,
    ctx: StreamContext,
    chunks: &[&[u8]],
) -> Outcome {
    let mut t = StreamTranslator::new(upstream, client, ctx).unwrap();
    let mut out = BytesMut::new();
    let mut result = Ok(StreamStatus::Open);
    for chunk in chunks {
        result = t.push(chunk, &mut out);
        if result.is_err() {
            break;
        }
    }
    if result.is_ok() {
        result = t.finish(&mut out);
    }
    let error = result.err();
    let emitted_before_error = t.bytes_emitted();
    if let Some(e) = &error {
        if emitted_before_error {
            t.write_error(e, &mut out);
        } else {
            assert!(
                out.is_empty(),
                "bytes_emitted() is false but output was written"
            );
        }
    }
    Outcome {
        bytes: out.to_vec(),
        error,
        emitted_before_error,
        usage: t.usage(),
    }
}

/// Client SSE bytes as `[{"event"?, "data"}]`, data parsed as JSON when it is JSON.
pub(crate) fn events(bytes: &[u8]) -> Vec<Value> {
    let mut parser = SseParser::new();
    parser.push(bytes);
    let mut events = Vec::new();
    let mut add = |event: Option<&str>, data: &str| {
        let data = serde_json::from_str(data).unwrap_or_else(|_| Value::String(data.to_owned()));
        events.push(match event {
            Some(name) => json!({"event": name, "data": data}),
            None => json!({"data": data}),
        });
    };
    while let Some(e) = parser.next_event().unwrap() {
        add(e.event, e.data);
    }
    while let Some(e) = parser.finish().unwrap() {
        add(e.event, e.data);
    }
    events
}

/// The upstream SSE text of a fixture.
pub(crate) fn input_bytes(fixture: &Value) -> Vec<u8> {
    let mut text = String::new();
    for ev in fixture["input"]
        .as_array()
        .expect("fixture input is an array of events")
    {
        if let Some(name) = ev.get("event").and_then(Value::as_str) {
            text.push_str(&format!("event: {name}\n"));
        }
        let data = match &ev["data"] {
            Value::String(raw) => raw.clone(),
            other => other.to_string(),
        };
        text.push_str(&format!("data: {data}\n\n"));
    }
    if fixture["no_final_blank_line"].as_bool() == Some(true) {
        text.truncate(text.len() - 1);
    }
    if fixture["crlf"].as_bool() == Some(true) {
        text = text.replace('\n', "\r\n");
    }
    text.into_bytes()
}

fn error_json(outcome: &Outcome) -> Value {
    match &outcome.error {
        None => Value::Null,
        Some(e) => {
            let mut v = json!({"kind": e.kind(), "retryable": e.is_retryable(), "emitted": outcome.emitted_before_error});
            if let StreamError::Upstream(u) = e {
                v["upstream_kind"] = json!(u.kind.as_str());
            }
            v
        }
    }
}

fn fixture_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(ROOT)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    for dir in dirs {
        let mut in_dir: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        in_dir.sort();
        files.extend(in_dir);
    }
    files
}

fn pair_of(path: &Path) -> (Format, Format) {
    let dir = path
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap();
    let (client, upstream) = dir
        .split_once('-')
        .expect("stream fixture dirs are named <client>-<upstream>");
    (format_named(client), format_named(upstream))
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap()
}

/// Checks one fixture; returns a description of every mismatch.
fn check(path: &Path, update: bool) -> Vec<String> {
    let (client, upstream) = pair_of(path);
    let mut fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let include_usage = fixture["include_usage"].as_bool().unwrap_or(false);
    let ctx = context(include_usage);
    let input = input_bytes(&fixture);
    let whole = run(upstream, client, ctx.clone(), &[&input]);
    let name = path.strip_prefix(ROOT).unwrap().display().to_string();
    let mut failures = Vec::new();

    // The same output however the input is cut: in two at every offset, and byte by byte.
    for i in 0..=input.len() {
        let split = run(upstream, client, ctx.clone(), &[&input[..i], &input[i..]]);
        if split != whole {
            failures.push(format!(
                "{name}: split at byte {i} gives different output:\n{}",
                diff::lines(
                    &String::from_utf8_lossy(&whole.bytes),
                    &String::from_utf8_lossy(&split.bytes)
                )
            ));
            break;
        }
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    if run(upstream, client, ctx, &bytes) != whole {
        failures.push(format!(
            "{name}: byte-by-byte feeding gives different output"
        ));
    }

    let actual_events = Value::Array(events(&whole.bytes));
    if let Err(e) = grammar::check(
        client,
        include_usage,
        grammar::Rules {
            passthrough: grammar::forwarded(upstream, client),
            complete_tool_args: true,
        },
        &actual_events,
    ) {
        failures.push(format!(
            "{name}: client grammar violated: {e}\n{}",
            pretty(&actual_events)
        ));
    }
    let actual_usage = serde_json::to_value(whole.usage).unwrap();
    let actual_error = error_json(&whole);
    if update {
        fixture["expected"] = actual_events;
        fixture["usage"] = actual_usage;
        fixture["error"] = actual_error;
        std::fs::write(path, pretty(&fixture) + "\n").unwrap();
        return failures;
    }
    if fixture["expected"] != actual_events {
        failures.push(format!(
            "{name}: events differ (- expected, + actual):\n{}",
            diff::lines(&pretty(&fixture["expected"]), &pretty(&actual_events))
        ));
    }
    if fixture["usage"] != actual_usage {
        failures.push(format!(
            "{name}: usage {actual_usage} != expected {}",
            fixture["usage"]
        ));
    }
    if fixture["error"] != actual_error {
        failures.push(format!(
            "{name}: error {actual_error} != expected {}",
            fixture["error"]
        ));
    }
    failures
}

#[test]
fn stream_fixtures() {
    let update = std::env::var_os("UPDATE_FIXTURES").is_some();
    let files = fixture_files();
    assert!(
        files.len() >= 90,
        "expected every pair's fixtures, found {}",
        files.len()
    );
    let mut pairs: Vec<(Format, Format)> = files.iter().map(|f| pair_of(f)).collect();
    pairs.dedup();
    assert_eq!(
        pairs.len(),
        grammar::PAIRS.len(),
        "every upstream × client pair has fixtures"
    );
    let failures: Vec<String> = files.iter().flat_map(|f| check(f, update)).collect();
    assert!(
        failures.is_empty(),
        "{} failure(s):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn antigravity_is_not_a_client_format() {
    let err =
        StreamTranslator::new(Format::OpenAiChat, Format::Antigravity, context(false)).unwrap_err();
    assert_eq!(err.kind(), "unsupported_pair");
}

#[test]
fn input_after_the_end_marker_is_ignored() {
    let input = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
    let mut t = StreamTranslator::new(
        Format::OpenAiChat,
        Format::AnthropicMessages,
        context(false),
    )
    .unwrap();
    let mut out = BytesMut::new();
    assert_eq!(t.push(input, &mut out).unwrap(), StreamStatus::Done);
    let len = out.len();
    assert_eq!(
        t.push(b"data: {\"error\":{\"message\":\"late\"}}\n\n", &mut out)
            .unwrap(),
        StreamStatus::Done
    );
    assert_eq!(t.finish(&mut out).unwrap(), StreamStatus::Done);
    assert_eq!(out.len(), len);
    let events = events(&out);
    assert_eq!(events.last().unwrap()["event"], "message_stop");
}

#[test]
fn a_failed_translator_keeps_failing_with_the_same_error() {
    let mut t = StreamTranslator::new(Format::Gemini, Format::OpenAiChat, context(false)).unwrap();
    let mut out = BytesMut::new();
    let err = t
        .push(b"data: {\"error\":{\"code\":429,\"message\":\"quota\",\"status\":\"RESOURCE_EXHAUSTED\"}}\n\n", &mut out)
        .unwrap_err();
    assert!(err.is_retryable());
    assert!(!t.bytes_emitted());
    assert_eq!(t.push(b"data: {}\n\n", &mut out).unwrap_err(), err);
    assert_eq!(t.finish(&mut out).unwrap_err(), err);
    assert!(out.is_empty());
}

#[test]
fn an_oversized_upstream_event_is_a_typed_error() {
    let mut t = StreamTranslator::new(
        Format::AnthropicMessages,
        Format::OpenAiChat,
        context(false),
    )
    .unwrap()
    .with_max_event_size(1024);
    let mut out = BytesMut::new();
    let mut chunk = b"data: ".to_vec();
    chunk.extend(std::iter::repeat_n(b'x', 2048));
    let err = t.push(&chunk, &mut out).unwrap_err();
    assert_eq!(err.kind(), "sse");
}

#[test]
fn an_empty_upstream_stream_is_truncated_and_retryable() {
    for (upstream, client) in grammar::PAIRS {
        let outcome = run(upstream, client, context(true), &[b": keep-alive\n\n"]);
        let err = outcome.error.expect("an empty stream is an error");
        assert_eq!(err, StreamError::Truncated, "{upstream:?} -> {client:?}");
        assert!(err.is_retryable());
        assert!(!outcome.emitted_before_error && outcome.bytes.is_empty());
    }
}

#[test]
fn a_responses_stream_needs_response_completed_even_after_done() {
    let input = b"data: {\"type\":\"response.output_text.delta\",\"item_id\":\"m\",\"output_index\":0,\"content_index\":0,\"delta\":\"hi\"}\n\ndata: [DONE]\n\n";
    for client in [
        Format::OpenAiChat,
        Format::AnthropicMessages,
        Format::OpenAiResponses,
    ] {
        let outcome = run(Format::OpenAiResponses, client, context(true), &[input]);
        assert_eq!(outcome.error, Some(StreamError::Truncated), "{client:?}");
        let bytes = String::from_utf8(outcome.bytes).unwrap();
        assert!(
            !bytes.contains("[DONE]") || client == Format::OpenAiChat,
            "{bytes}"
        );
    }
}

#[test]
fn a_forwarded_responses_stream_that_fails_ends_with_error_and_response_failed() {
    // The upstream's shell holds an item type this gateway does not model.
    let input = concat!(
        "data: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_u\",\"object\":\"response\",\"status\":\"in_progress\",\"model\":\"m\",\"output\":[{\"type\":\"web_search_call\",\"id\":\"ws_1\",\"status\":\"in_progress\"}]}}\n\n",
        "data: {\"type\":\"response.output_text.delta\",\"sequence_number\":1,\"item_id\":\"m\",\"output_index\":0,\"content_index\":0,\"delta\":\"hi\"}\n\n",
    );
    let outcome = run(
        Format::OpenAiResponses,
        Format::OpenAiResponses,
        context(false),
        &[input.as_bytes()],
    );
    assert_eq!(outcome.error, Some(StreamError::Truncated));
    let events = events(&outcome.bytes);
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["", "", "error", "response.failed"], "{events:?}");
    let failed = &events[3]["data"];
    assert_eq!(failed["sequence_number"], 3);
    assert_eq!(failed["response"]["id"], "resp_u");
    assert_eq!(failed["response"]["status"], "failed");
    assert_eq!(failed["response"]["output"], json!([]));
}
