//! The Gemini stream grammar as google-genai reads it: every chunk a
//! `GenerateContentResponse` with one candidate (index 0, role `model`), each
//! part one kind of data, function call arguments an object; the
//! `finishReason` and the `usageMetadata` (adding up) on the last chunk; or a
//! last `{"error":{"code","message","status"}}` chunk. And the JSON-array form
//! (no `alt=sse`): one JSON array of the very same chunks, however the
//! upstream bytes are cut.

use aigw_domain::Format;
use aigw_formats::gemini::GenerateContentResponse;
use aigw_formats::stream::{StreamStatus, StreamTranslator};
use bytes::BytesMut;
use serde_json::Value;

use super::grammar::Rules;
use super::{ROOT, context, events, format_named, input_bytes};

pub(crate) fn check(events: &[Value], rules: Rules) -> Result<(), String> {
    let strict = !rules.passthrough;
    let mut finished = false;
    for (i, ev) in events.iter().enumerate() {
        let at = |msg: &str| format!("chunk {i}: {msg}: {ev}");
        let last = i + 1 == events.len();
        if ev.get("event").is_some() {
            return Err(at("Gemini chunks have no event name"));
        }
        let data = &ev["data"];
        if let Some(error) = data.get("error") {
            if !last {
                return Err(at("an error chunk must end the stream"));
            }
            if !error["code"].is_u64()
                || !error["message"].is_string()
                || !error["status"].is_string()
            {
                return Err(at("an error needs code, message and status"));
            }
            continue;
        }
        let chunk: GenerateContentResponse = serde_json::from_value(data.clone())
            .map_err(|e| at(&format!("not a response: {e}")))?;
        if strict && finished {
            return Err(at("a chunk after the finishReason"));
        }
        if strict && chunk.candidates.len() != 1 {
            return Err(at("one candidate per chunk"));
        }
        for candidate in &chunk.candidates {
            if candidate.index.unwrap_or(0) != 0 {
                return Err(at("candidate index is not 0"));
            }
            if candidate.finish_reason.is_some() {
                finished = true;
            }
            let Some(content) = &candidate.content else {
                continue;
            };
            if content.role.as_deref() != Some("model") {
                return Err(at("content role is not `model`"));
            }
            for part in &content.parts {
                let kinds = [
                    part.text.is_some(),
                    part.function_call.is_some(),
                    part.inline_data.is_some(),
                    part.file_data.is_some(),
                    part.function_response.is_some(),
                ];
                if strict && kinds.iter().filter(|&&k| k).count() != 1 {
                    return Err(at("a part holds exactly one kind of data"));
                }
                if let Some(call) = &part.function_call
                    && (!call.args.is_object() || call.name.is_empty())
                {
                    return Err(at("a function call needs a name and object args"));
                }
            }
        }
        let ends_well = last;
        if strict && ends_well {
            if !finished {
                return Err(at("the last chunk has no finishReason"));
            }
            let usage = chunk
                .usage_metadata
                .ok_or_else(|| at("the last chunk has no usageMetadata"))?;
            let sum = usage.prompt_token_count.unwrap_or(0)
                + usage.candidates_token_count.unwrap_or(0)
                + usage.thoughts_token_count.unwrap_or(0);
            if usage.total_token_count != Some(sum) {
                return Err(at("totalTokenCount is not the sum of its parts"));
            }
        } else if strict && chunk.usage_metadata.is_some() {
            return Err(at("usage before the last chunk"));
        }
    }
    Ok(())
}

/// Runs a translator to a Gemini client in the JSON-array form; the error
/// chunk is written as the data plane does, only after bytes went out.
fn run_array(upstream: Format, chunks: &[&[u8]]) -> Vec<u8> {
    let mut t = StreamTranslator::new(upstream, Format::Gemini, context(false))
        .unwrap()
        .gemini_json_array();
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
    if let Err(e) = result
        && t.bytes_emitted()
    {
        t.write_error(&e, &mut out);
    }
    out.to_vec()
}

fn gemini_fixtures() -> Vec<(Format, std::path::PathBuf)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(ROOT).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_str().unwrap().to_owned();
        let Some(upstream) = name.strip_prefix("gemini-") else {
            continue;
        };
        for file in std::fs::read_dir(&dir).unwrap() {
            files.push((format_named(upstream), file.unwrap().path()));
        }
    }
    files.sort_by(|a, b| a.1.cmp(&b.1));
    files
}

#[test]
fn the_json_array_form_is_one_array_of_the_sse_chunks() {
    let files = gemini_fixtures();
    assert!(
        files.len() >= 25,
        "found {} Gemini client fixtures",
        files.len()
    );
    for (upstream, path) in files {
        let name = path.display().to_string();
        let fixture: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let input = input_bytes(&fixture);
        let sse = super::run(upstream, Format::Gemini, context(false), &[&input]);
        let sse_chunks: Vec<Value> = events(&sse.bytes)
            .into_iter()
            .map(|e| e["data"].clone())
            .collect();
        let whole = run_array(upstream, &[&input]);
        if sse.bytes.is_empty() {
            assert!(whole.is_empty(), "{name}: array bytes without SSE bytes");
            continue;
        }
        let array: Value = serde_json::from_slice(&whole).unwrap_or_else(|e| {
            panic!(
                "{name}: not one JSON array ({e}): {}",
                String::from_utf8_lossy(&whole)
            )
        });
        assert_eq!(array, Value::Array(sse_chunks), "{name}");
        for i in 0..=input.len() {
            assert_eq!(
                run_array(upstream, &[&input[..i], &input[i..]]),
                whole,
                "{name}: split at {i}"
            );
        }
    }
}

#[test]
fn a_late_failure_closes_the_array_with_an_error_element() {
    let input = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\ndata: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}\n\n";
    let bytes = run_array(Format::OpenAiChat, &[input]);
    let array: Value = serde_json::from_slice(&bytes).unwrap();
    let items = array.as_array().unwrap();
    assert_eq!(items.len(), 2, "{array}");
    assert_eq!(
        items[0]["candidates"][0]["content"]["parts"][0]["text"],
        "hi"
    );
    assert_eq!(items[1]["error"]["status"], "INTERNAL");
    assert_eq!(items[1]["error"]["code"], 500);
}
