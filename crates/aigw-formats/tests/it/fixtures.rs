//! Data-driven translation fixtures: `tests/fixtures/<client>-<upstream>/<kind>.<case>.json`.
//!
//! Each file is `{"kind", "note", ["target" | "context" | "status"], "input", "expected"}`:
//! - `request`: `input` is the client body, `expected` the upstream body (or
//!   `{"error": {kind, path, message}}` when translation must refuse it);
//! - `response`: `input` is the upstream body, `expected` is `{"body", "usage"}`;
//! - `error`: `input` is the upstream error body (a string is sent as raw bytes),
//!   `expected` the client's error body.
//!
//! `UPDATE_FIXTURES=1 cargo test -p aigw-formats --test it fixtures` rewrites the
//! expectations from the current output (review the diff before committing).

use std::path::{Path, PathBuf};

use aigw_domain::Format;
use aigw_formats::{
    AntigravityEnvelope, FormatError, ResponseContext, UpstreamTarget, translate_error,
    translate_request, translate_response,
};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::diff;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn format_named(name: &str) -> Format {
    match name {
        "openai" => Format::OpenAiChat,
        "anthropic" => Format::AnthropicMessages,
        "responses" => Format::OpenAiResponses,
        "gemini" => Format::Gemini,
        "antigravity" => Format::Antigravity,
        other => panic!("unknown format `{other}` in a fixture directory name"),
    }
}

fn fixture_files() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(ROOT)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && p.file_name().unwrap() != "stream")
        .collect();
    dirs.sort();
    let mut files = Vec::new();
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

fn error_json(e: &FormatError) -> Value {
    json!({"error": {"kind": e.kind(), "path": e.path(), "message": e.to_string()}})
}

fn input_bytes(input: &Value) -> Vec<u8> {
    match input {
        Value::String(raw) => raw.as_bytes().to_vec(),
        other => serde_json::to_vec(other).unwrap(),
    }
}

fn parse_output(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| {
        panic!(
            "translation produced invalid JSON ({e}): {}",
            String::from_utf8_lossy(bytes)
        )
    })
}

/// Run one fixture; the actual value to compare with `expected`.
fn run(path: &Path, fixture: &Value) -> Value {
    let dir = path
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap();
    let (client, upstream) = dir
        .split_once('-')
        .expect("fixture dirs are named <client>-<upstream>");
    let (client, upstream) = (format_named(client), format_named(upstream));
    let input = input_bytes(&fixture["input"]);
    match fixture["kind"].as_str().expect("fixture has a kind") {
        "request" => {
            let t = fixture.get("target").cloned().unwrap_or_else(|| json!({}));
            let target = UpstreamTarget::new(
                t.get("model")
                    .and_then(Value::as_str)
                    .unwrap_or("upstream-model"),
                t.get("stream").and_then(Value::as_bool).unwrap_or(false),
            )
            .with_antigravity(AntigravityEnvelope {
                project: Some("project-1"),
                request_id: "agent-req-1",
                user_agent: "antigravity",
                session_id: Some("-123"),
            });
            match translate_request(client, upstream, &input, &target) {
                Ok(bytes) => parse_output(&bytes),
                Err(e) => error_json(&e),
            }
        }
        "response" => {
            let ctx = ResponseContext {
                model: "client-model",
                request_id: "req_1",
                created: 1_700_000_000,
                tool_namespaces: &[],
            };
            match translate_response(upstream, client, Bytes::from(input), &ctx) {
                Ok((bytes, usage)) => json!({"body": parse_output(&bytes), "usage": usage}),
                Err(e) => error_json(&e),
            }
        }
        "error" => {
            let status = fixture["status"]
                .as_u64()
                .expect("error fixtures have a status") as u16;
            parse_output(&translate_error(upstream, client, status, &input))
        }
        other => panic!("unknown fixture kind `{other}`"),
    }
}

/// Check one fixture; a readable diff when it does not match.
fn check(path: &Path, update: bool) -> Result<(), String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut fixture: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
    let actual = run(path, &fixture);
    if fixture["expected"] == actual {
        return Ok(());
    }
    if update {
        fixture["expected"] = actual;
        std::fs::write(path, serde_json::to_string_pretty(&fixture).unwrap() + "\n").unwrap();
        return Ok(());
    }
    let expected = serde_json::to_string_pretty(&fixture["expected"]).unwrap();
    let actual = serde_json::to_string_pretty(&actual).unwrap();
    Err(format!(
        "--- {} (- expected, + actual)\n{}",
        path.strip_prefix(ROOT).unwrap_or(path).display(),
        diff::lines(&expected, &actual)
    ))
}

#[test]
fn translation_fixtures() {
    let update = std::env::var_os("UPDATE_FIXTURES").is_some();
    let files = fixture_files();
    assert!(
        files.len() >= 100,
        "expected the full fixture set, found {} files",
        files.len()
    );
    let failures: Vec<String> = files
        .iter()
        .filter_map(|f| check(f, update).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

/// Every client/upstream pair has request, response and error fixtures.
#[test]
fn every_pair_is_covered() {
    let files = fixture_files();
    for client in ["openai", "anthropic", "responses", "gemini"] {
        for upstream in ["openai", "anthropic", "responses", "gemini", "antigravity"] {
            let dir = format!("{client}-{upstream}");
            for kind in ["request", "response", "error"] {
                let n = files
                    .iter()
                    .filter(|f| {
                        f.parent().unwrap().ends_with(&dir)
                            && f.file_name()
                                .unwrap()
                                .to_str()
                                .unwrap()
                                .starts_with(&format!("{kind}."))
                    })
                    .count();
                assert!(n > 0, "no {kind} fixture for {dir}");
            }
        }
    }
}
