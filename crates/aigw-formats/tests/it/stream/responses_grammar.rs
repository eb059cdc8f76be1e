//! The Responses stream grammar as the official SDKs' stream helpers read it
//! (openai-python's `ResponseStreamState`, openai-node's `ResponseStream`):
//! `response.created` first; `sequence_number` strictly increasing (from 0,
//! by one, in a stream the gateway wrote); every content event names an item
//! that was added and is still open, at the `output_index` it was added
//! with, and a part (`content_index`, `summary_index`) that was opened;
//! every `.added` has its `.done`, whose whole text or arguments equal the
//! fragments; `response.completed` (or `.incomplete`) last, its `output`
//! equal to the finished items and its usage adding up; or `error` then
//! `response.failed`, last.

use serde_json::Value;

use super::grammar::Rules;

/// An output item as the stream has built it.
struct Item {
    id: String,
    kind: String,
    /// Accumulated text per content or summary part, and whether each is done.
    parts: Vec<(String, bool)>,
    arguments: String,
    args_done: bool,
    done: Option<Value>,
}

pub(crate) fn check(events: &[Value], rules: Rules) -> Result<(), String> {
    if events.is_empty() {
        return Ok(());
    }
    let mut items: Vec<Item> = Vec::new();
    let mut last_seq: Option<u64> = None;
    let mut response_id: Option<String> = None;
    let mut ended = false;
    let mut failed_next = false;
    for (i, ev) in events.iter().enumerate() {
        let at = |msg: &str| format!("event {i}: {msg}: {ev}");
        if ended {
            return Err(at("an event after the stream ended"));
        }
        let name = ev["event"].as_str().ok_or_else(|| at("no event name"))?;
        let data = &ev["data"];
        if data["type"] != name {
            return Err(at("event name and data type differ"));
        }
        let seq = data["sequence_number"]
            .as_u64()
            .ok_or_else(|| at("no sequence_number"))?;
        match last_seq {
            None if !rules.passthrough && seq != 0 => {
                return Err(at("the first sequence_number is not 0"));
            }
            Some(last) if rules.passthrough && seq <= last => {
                return Err(at("sequence_number does not increase"));
            }
            Some(last) if !rules.passthrough && seq != last + 1 => {
                return Err(at("sequence_number does not increase by one"));
            }
            _ => {}
        }
        last_seq = Some(seq);
        if i == 0 && name != "response.created" {
            return Err(at("the stream must open with response.created"));
        }
        if failed_next && name != "response.failed" {
            return Err(at("error must be followed by response.failed"));
        }
        let index = data["output_index"].as_u64().map(|n| n as usize);
        let open_item = |items: &mut Vec<Item>, kind: &str| -> Result<usize, String> {
            let index = index.ok_or_else(|| at("no output_index"))?;
            let item = items
                .get(index)
                .ok_or_else(|| at("a content event for an item never added"))?;
            if item.done.is_some() {
                return Err(at("a content event for an item already done"));
            }
            if item.kind != kind {
                return Err(at(&format!("a content event for a {} item", item.kind)));
            }
            if data["item_id"] != item.id.as_str() {
                return Err(at("item_id differs from the item's id"));
            }
            Ok(index)
        };
        let part_index = |key: &str| data[key].as_u64().map(|n| n as usize);
        match name {
            "response.created" | "response.in_progress" => {
                let r = &data["response"];
                if r["object"] != "response" || !r["id"].is_string() || r["status"] != "in_progress"
                {
                    return Err(at("not an in-progress response shell"));
                }
                if name == "response.created" {
                    if response_id.is_some() {
                        return Err(at("a second response.created"));
                    }
                    response_id = r["id"].as_str().map(str::to_owned);
                } else if r["id"].as_str() != response_id.as_deref() {
                    return Err(at("the response id changed"));
                }
            }
            "response.output_item.added" => {
                let index = index.ok_or_else(|| at("no output_index"))?;
                if index != items.len() {
                    return Err(at(&format!(
                        "output_index {index}, expected {}",
                        items.len()
                    )));
                }
                let item = &data["item"];
                let id = item["id"].as_str().filter(|s| !s.is_empty());
                let kind = item["type"]
                    .as_str()
                    .ok_or_else(|| at("item without type"))?;
                let (Some(id), true) = (
                    id,
                    ["message", "function_call", "reasoning"].contains(&kind) || rules.passthrough,
                ) else {
                    return Err(at("an item needs an id and a known type"));
                };
                if kind == "function_call"
                    && (item["call_id"].as_str().is_none_or(str::is_empty)
                        || item["name"].as_str().is_none_or(str::is_empty))
                {
                    return Err(at("a function_call needs call_id and name"));
                }
                items.push(Item {
                    id: id.to_owned(),
                    kind: kind.to_owned(),
                    parts: Vec::new(),
                    arguments: item["arguments"].as_str().unwrap_or("").to_owned(),
                    args_done: false,
                    done: None,
                });
            }
            "response.content_part.added" | "response.reasoning_summary_part.added" => {
                let (kind, key, part_type) = if name == "response.content_part.added" {
                    ("message", "content_index", "output_text")
                } else {
                    ("reasoning", "summary_index", "summary_text")
                };
                let index = open_item(&mut items, kind)?;
                let part = part_index(key).ok_or_else(|| at("no part index"))?;
                if part != items[index].parts.len() || data["part"]["type"] != part_type {
                    return Err(at("part index out of order, or wrong part type"));
                }
                items[index].parts.push((String::new(), false));
            }
            "response.output_text.delta" | "response.reasoning_summary_text.delta" => {
                let (kind, key) = if name == "response.output_text.delta" {
                    ("message", "content_index")
                } else {
                    ("reasoning", "summary_index")
                };
                let index = open_item(&mut items, kind)?;
                let part = part_index(key).ok_or_else(|| at("no part index"))?;
                let delta = data["delta"].as_str().ok_or_else(|| at("no delta"))?;
                match items[index].parts.get_mut(part) {
                    Some((text, false)) => text.push_str(delta),
                    _ => return Err(at("a delta for a part not open")),
                }
            }
            "response.output_text.done" | "response.reasoning_summary_text.done" => {
                let (kind, key) = if name == "response.output_text.done" {
                    ("message", "content_index")
                } else {
                    ("reasoning", "summary_index")
                };
                let index = open_item(&mut items, kind)?;
                let part = part_index(key).ok_or_else(|| at("no part index"))?;
                match items[index].parts.get(part) {
                    Some((text, false)) if data["text"] == text.as_str() => {}
                    _ => {
                        return Err(at(
                            "text.done does not match the deltas, or the part is closed",
                        ));
                    }
                }
            }
            "response.content_part.done" | "response.reasoning_summary_part.done" => {
                let (kind, key) = if name == "response.content_part.done" {
                    ("message", "content_index")
                } else {
                    ("reasoning", "summary_index")
                };
                let index = open_item(&mut items, kind)?;
                let part = part_index(key).ok_or_else(|| at("no part index"))?;
                match items[index].parts.get_mut(part) {
                    Some((text, done @ false)) if data["part"]["text"] == text.as_str() => {
                        *done = true
                    }
                    _ => return Err(at("part.done does not match its text, or closes twice")),
                }
            }
            "response.function_call_arguments.delta" => {
                let index = open_item(&mut items, "function_call")?;
                if items[index].args_done {
                    return Err(at("arguments after arguments.done"));
                }
                let delta = data["delta"].as_str().ok_or_else(|| at("no delta"))?;
                items[index].arguments.push_str(delta);
            }
            "response.function_call_arguments.done" => {
                let index = open_item(&mut items, "function_call")?;
                if data["arguments"] != items[index].arguments.as_str() {
                    return Err(at("arguments.done does not match the deltas"));
                }
                items[index].args_done = true;
            }
            "response.output_item.done" => {
                let index = index.ok_or_else(|| at("no output_index"))?;
                let whole = &data["item"];
                if rules.passthrough && index == items.len() {
                    // Some servers send items only whole; the SDKs keep them
                    // from this event alone.
                    items.push(Item {
                        id: whole["id"].as_str().unwrap_or("").to_owned(),
                        kind: whole["type"].as_str().unwrap_or("").to_owned(),
                        parts: Vec::new(),
                        arguments: whole["arguments"].as_str().unwrap_or("").to_owned(),
                        args_done: true,
                        done: None,
                    });
                    items[index].done = Some(whole.clone());
                    continue;
                }
                let Some(item) = items.get_mut(index) else {
                    return Err(at("done for an item never added"));
                };
                if item.done.is_some()
                    || whole["id"] != item.id.as_str()
                    || whole["type"] != item.kind.as_str()
                {
                    return Err(at("done twice, or for another item"));
                }
                if item.parts.iter().any(|(_, done)| !done) {
                    return Err(at("an item done with a part still open"));
                }
                match item.kind.as_str() {
                    "message" => {
                        let texts: Vec<&str> = item.parts.iter().map(|(t, _)| t.as_str()).collect();
                        let whole_texts: Vec<&str> = whole["content"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|c| c["text"].as_str())
                            .collect();
                        if texts != whole_texts {
                            return Err(at("the message's content differs from its deltas"));
                        }
                    }
                    "reasoning" => {
                        let texts: Vec<&str> = item.parts.iter().map(|(t, _)| t.as_str()).collect();
                        let summary: Vec<&str> = whole["summary"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|c| c["text"].as_str())
                            .collect();
                        if texts != summary {
                            return Err(at("the reasoning summary differs from its deltas"));
                        }
                    }
                    "function_call" => {
                        if !rules.passthrough && !item.args_done {
                            return Err(at("a function call done without arguments.done"));
                        }
                        if whole["arguments"] != item.arguments.as_str() {
                            return Err(at("the call's arguments differ from the deltas"));
                        }
                        if rules.complete_tool_args {
                            let parsed: Value = serde_json::from_str(&item.arguments)
                                .map_err(|e| at(&format!("arguments are not JSON: {e}")))?;
                            if !parsed.is_object() {
                                return Err(at("arguments are not an object"));
                            }
                        }
                    }
                    _ => {}
                }
                item.done = Some(whole.clone());
            }
            "response.completed" | "response.incomplete" => {
                let r = &data["response"];
                let status = if name == "response.completed" {
                    "completed"
                } else {
                    "incomplete"
                };
                if r["status"] != status || r["id"].as_str() != response_id.as_deref() {
                    return Err(at("the final response's status or id is wrong"));
                }
                if items.iter().any(|it| it.done.is_none()) {
                    return Err(at("the response ended with an item not done"));
                }
                let done: Vec<&Value> = items.iter().filter_map(|it| it.done.as_ref()).collect();
                let output: Vec<&Value> = r["output"].as_array().into_iter().flatten().collect();
                // A forwarded stream may leave `output` empty; the SDKs then
                // take the items done.
                if output != done && !(rules.passthrough && output.is_empty()) {
                    return Err(at("the final output differs from the items done"));
                }
                let u = &r["usage"];
                let (Some(input), Some(output), Some(total)) = (
                    u["input_tokens"].as_u64(),
                    u["output_tokens"].as_u64(),
                    u["total_tokens"].as_u64(),
                ) else {
                    return Err(at("the final response has no usage"));
                };
                let details = u["input_tokens_details"]["cached_tokens"].is_u64()
                    && u["output_tokens_details"]["reasoning_tokens"].is_u64();
                if input + output != total || !(details || rules.passthrough) {
                    return Err(at("usage does not add up or lacks its details"));
                }
                ended = true;
            }
            "error" => {
                if !data["message"].is_string() || !data["code"].is_string() {
                    return Err(at("an error event needs a code and a message"));
                }
                failed_next = true;
            }
            "response.failed" => {
                let r = &data["response"];
                if r["status"] != "failed" || !r["error"]["message"].is_string() {
                    return Err(at("response.failed without a failed status and its error"));
                }
                ended = true;
            }
            _ if rules.passthrough => {}
            _ => return Err(at("unknown event")),
        }
    }
    if !ended {
        return Err("the stream ends without response.completed, .incomplete or .failed".into());
    }
    Ok(())
}

/// The checker itself: it refuses what the SDKs would trip on.
#[test]
fn the_checker_refuses_what_sdks_reject() {
    use serde_json::json;
    let ev = |data: Value| json!({"event": data["type"], "data": data});
    let shell =
        json!({"id": "resp_1", "object": "response", "status": "in_progress", "output": []});
    let created = ev(json!({"type": "response.created", "response": shell, "sequence_number": 0}));
    let added = |seq: u64, index: u64| {
        ev(
            json!({"type": "response.output_item.added", "output_index": index, "sequence_number": seq,
            "item": {"id": "msg_1", "type": "message", "role": "assistant", "content": []}}),
        )
    };
    let strict = Rules {
        passthrough: false,
        complete_tool_args: true,
    };
    let delta = ev(
        json!({"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0,
        "content_index": 0, "delta": "x", "sequence_number": 2}),
    );
    let cases: [(&str, Vec<Value>); 4] = [
        (
            "a delta before its item",
            vec![created.clone(), delta.clone()],
        ),
        ("a sequence gap", vec![created.clone(), added(2, 0)]),
        ("an output_index gap", vec![created.clone(), added(1, 1)]),
        (
            "a delta before its content part",
            vec![created.clone(), added(1, 0), delta],
        ),
    ];
    for (what, events) in cases {
        assert!(check(&events, strict).is_err(), "{what} was accepted");
    }
    let unfinished = vec![created, added(1, 0)];
    assert!(
        check(&unfinished, strict).is_err(),
        "a stream without response.completed was accepted"
    );
}
