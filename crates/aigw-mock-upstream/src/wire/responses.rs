//! OpenAI Responses (`POST …/responses`, and the ChatGPT Codex backend's
//! `POST …/backend-api/codex/responses`): request parsing, the `response`
//! object, and the typed SSE event sequence `response.created` …
//! `response.completed` with sequence numbers. Thinking goes out as a
//! `reasoning` item with a summary and the signature as `encrypted_content`.
//! Errors are OpenAI error objects (see [`super::openai::error_body`]).

use std::borrow::Cow;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::common::{Invalid, Parsed, Rendered, raw_text};
use super::encode::{json_bytes, sse_event};
use crate::ids::{IdGen, unix_now};
use crate::reply::{Finish, Plan, fragments, pieces};

#[derive(Deserialize)]
struct ResponsesRequest<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    store: Option<bool>,
    #[serde(borrow, default)]
    previous_response_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    input: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct InputItem<'a> {
    #[serde(borrow, default)]
    role: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    content: Option<&'a RawValue>,
}

/// A Responses request as far as the mock cares.
#[derive(Debug)]
pub(crate) struct ResponsesParsed {
    pub(crate) parsed: Parsed,
    /// `store`, when the request says.
    pub(crate) store: Option<bool>,
    /// The stored response the request continues.
    pub(crate) previous_response_id: Option<String>,
}

pub(crate) fn parse(body: &[u8]) -> Result<ResponsesParsed, Invalid> {
    let req: ResponsesRequest<'_> = serde_json::from_slice(body).map_err(|e| {
        Invalid(format!(
            "We could not parse the JSON body of your request. ({e})"
        ))
    })?;
    let model = req
        .model
        .ok_or_else(|| Invalid("Missing required parameter: 'model'.".to_owned()))?;
    let user_text = match req.input {
        None => String::new(),
        Some(raw) if raw.get().trim_start().starts_with('"') => raw_text(Some(raw)),
        Some(raw) => {
            let items: Vec<InputItem<'_>> = serde_json::from_str(raw.get()).map_err(|_| {
                Invalid("Invalid type for 'input': expected a string or an array.".to_owned())
            })?;
            items
                .iter()
                .rev()
                .find(|i| i.role.as_deref() == Some("user"))
                .map(|i| raw_text(i.content))
                .unwrap_or_default()
        }
    };
    Ok(ResponsesParsed {
        parsed: Parsed {
            model: model.into_owned(),
            stream: req.stream.unwrap_or(false),
            include_usage: false,
            user_text,
        },
        store: req.store,
        previous_response_id: req.previous_response_id.map(Cow::into_owned),
    })
}

/// The output items of a plan, finished, with their ids.
fn output_items(plan: &Plan, ids: &Ids) -> Vec<Value> {
    let mut items = Vec::new();
    if let Some(thinking) = &plan.thinking {
        items.push(json!({
            "id": ids.reasoning,
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": thinking}],
            "encrypted_content": plan.signature,
        }));
    }
    if !plan.text.is_empty() || plan.tool_calls.is_empty() {
        items.push(json!({
            "id": ids.message,
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": plan.text, "annotations": []}],
        }));
    }
    for (call, (item_id, call_id)) in plan.tool_calls.iter().zip(&ids.calls) {
        items.push(json!({
            "id": item_id,
            "type": "function_call",
            "status": "completed",
            "call_id": call_id,
            "name": call.name,
            "arguments": call.arguments_json,
        }));
    }
    items
}

/// The ids one response uses.
struct Ids {
    response: String,
    reasoning: String,
    message: String,
    /// `(item id, call id)` of each tool call.
    calls: Vec<(String, String)>,
}

impl Ids {
    fn new(plan: &Plan, response: String, ids: &IdGen) -> Self {
        Self {
            response,
            reasoning: ids.with_prefix("rs_", 24),
            message: ids.with_prefix("msg_", 24),
            calls: plan
                .tool_calls
                .iter()
                .map(|c| {
                    (
                        ids.with_prefix("fc_", 24),
                        c.id.clone().unwrap_or_else(|| ids.openai_call()),
                    )
                })
                .collect(),
        }
    }
}

/// The `response` object; `output` is empty and `status` `in_progress` until done.
fn response_object(plan: &Plan, ids: &Ids, created: u64, done: bool) -> Value {
    let incomplete = plan.finish == Finish::Length;
    let status = match (done, incomplete) {
        (false, _) => "in_progress",
        (true, false) => "completed",
        (true, true) => "incomplete",
    };
    let u = plan.usage;
    json!({
        "id": ids.response,
        "object": "response",
        "created_at": created,
        "status": status,
        "error": null,
        "incomplete_details": if done && incomplete {
            json!({"reason": "max_output_tokens"})
        } else {
            Value::Null
        },
        "model": plan.model,
        "output": if done { output_items(plan, ids) } else { Vec::new() },
        "parallel_tool_calls": true,
        "usage": if done {
            json!({
                "input_tokens": u.prompt_tokens,
                "input_tokens_details": {"cached_tokens": u.cached_tokens},
                "output_tokens": u.completion_tokens,
                "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
                "total_tokens": u.total(),
            })
        } else {
            Value::Null
        },
    })
}

/// Renders `plan` as a `response` object or its event stream, with
/// `response_id` as the response's id.
pub(crate) fn render(
    plan: &Plan,
    stream: bool,
    response_id: String,
    ids: &IdGen,
) -> Result<Rendered, serde_json::Error> {
    let ids = Ids::new(plan, response_id, ids);
    let created = unix_now();
    if !stream {
        return Ok(Rendered::json(json_bytes(&response_object(
            plan, &ids, created, true,
        ))?));
    }
    let mut events = Events::default();
    let pending = response_object(plan, &ids, created, false);
    events.push("response.created", json!({"response": pending}))?;
    events.push("response.in_progress", json!({"response": pending}))?;
    let mut index = 0u32;
    if let Some(thinking) = &plan.thinking {
        let id = &ids.reasoning;
        events.push(
            "response.output_item.added",
            json!({"output_index": index, "item": {"id": id, "type": "reasoning", "summary": []}}),
        )?;
        let part = json!({"type": "summary_text", "text": ""});
        events.push(
            "response.reasoning_summary_part.added",
            json!({"item_id": id, "output_index": index, "summary_index": 0, "part": part}),
        )?;
        for piece in pieces(thinking) {
            events.push(
                "response.reasoning_summary_text.delta",
                json!({"item_id": id, "output_index": index, "summary_index": 0, "delta": piece}),
            )?;
        }
        events.push(
            "response.reasoning_summary_text.done",
            json!({"item_id": id, "output_index": index, "summary_index": 0, "text": thinking}),
        )?;
        events.push(
            "response.reasoning_summary_part.done",
            json!({"item_id": id, "output_index": index, "summary_index": 0,
                   "part": {"type": "summary_text", "text": thinking}}),
        )?;
        events.push(
            "response.output_item.done",
            json!({"output_index": index, "item": {"id": id, "type": "reasoning",
                   "summary": [{"type": "summary_text", "text": thinking}],
                   "encrypted_content": plan.signature}}),
        )?;
        index += 1;
    }
    if !plan.text.is_empty() || plan.tool_calls.is_empty() {
        let id = &ids.message;
        events.push(
            "response.output_item.added",
            json!({"output_index": index, "item": {"id": id, "type": "message",
                   "status": "in_progress", "role": "assistant", "content": []}}),
        )?;
        events.push(
            "response.content_part.added",
            json!({"item_id": id, "output_index": index, "content_index": 0,
                   "part": {"type": "output_text", "text": "", "annotations": []}}),
        )?;
        for piece in pieces(&plan.text) {
            events.push(
                "response.output_text.delta",
                json!({"item_id": id, "output_index": index, "content_index": 0,
                       "delta": piece, "logprobs": []}),
            )?;
        }
        events.push(
            "response.output_text.done",
            json!({"item_id": id, "output_index": index, "content_index": 0,
                   "text": plan.text, "logprobs": []}),
        )?;
        let part = json!({"type": "output_text", "text": plan.text, "annotations": []});
        events.push(
            "response.content_part.done",
            json!({"item_id": id, "output_index": index, "content_index": 0, "part": part}),
        )?;
        events.push(
            "response.output_item.done",
            json!({"output_index": index, "item": {"id": id, "type": "message",
                   "status": "completed", "role": "assistant", "content": [part]}}),
        )?;
        index += 1;
    }
    for (call, (item_id, call_id)) in plan.tool_calls.iter().zip(&ids.calls) {
        events.push(
            "response.output_item.added",
            json!({"output_index": index, "item": {"id": item_id, "type": "function_call",
                   "status": "in_progress", "call_id": call_id, "name": call.name,
                   "arguments": ""}}),
        )?;
        for fragment in fragments(&call.arguments_json, 3) {
            events.push(
                "response.function_call_arguments.delta",
                json!({"item_id": item_id, "output_index": index, "delta": fragment}),
            )?;
        }
        events.push(
            "response.function_call_arguments.done",
            json!({"item_id": item_id, "output_index": index,
                   "arguments": call.arguments_json}),
        )?;
        events.push(
            "response.output_item.done",
            json!({"output_index": index, "item": {"id": item_id, "type": "function_call",
                   "status": "completed", "call_id": call_id, "name": call.name,
                   "arguments": call.arguments_json}}),
        )?;
        index += 1;
    }
    let done = response_object(plan, &ids, created, true);
    let last = if plan.finish == Finish::Length {
        "response.incomplete"
    } else {
        "response.completed"
    };
    events.push(last, json!({"response": done}))?;
    Ok(Rendered::sse(events.chunks))
}

/// Events numbered in order, each named by its `type`.
#[derive(Default)]
struct Events {
    chunks: Vec<Bytes>,
}

impl Events {
    fn push(&mut self, kind: &str, mut data: Value) -> Result<(), serde_json::Error> {
        if let Value::Object(map) = &mut data {
            map.insert("type".to_owned(), Value::String(kind.to_owned()));
            map.insert("sequence_number".to_owned(), json!(self.chunks.len()));
        }
        self.chunks.push(sse_event(kind, &data)?);
        Ok(())
    }
}

/// The Codex backend's answer to a plan's usage limit (HTTP 429).
pub(crate) fn usage_limit_body(resets_in_seconds: u64) -> Result<Bytes, serde_json::Error> {
    json_bytes(&json!({
        "error": {
            "type": "usage_limit_reached",
            "message": "The usage limit has been reached",
            "plan_type": "plus",
            "resets_at": unix_now() + resets_in_seconds,
            "resets_in_seconds": resets_in_seconds,
        }
    }))
}

/// The Codex backend's 400 body (`{"detail": …}`).
pub(crate) fn detail_body(detail: &str) -> Result<Bytes, serde_json::Error> {
    json_bytes(&json!({ "detail": detail }))
}

/// The 400 of a `previous_response_id` this account never produced.
pub(crate) fn previous_not_found(id: &str) -> Result<Bytes, serde_json::Error> {
    json_bytes(&json!({
        "error": {
            "message": format!("Previous response with id '{id}' not found."),
            "type": "invalid_request_error",
            "param": "previous_response_id",
            "code": "previous_response_not_found",
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::Reply;

    #[test]
    fn parse_reads_the_last_user_turn_and_the_flags() {
        let body = br#"{"model":"gpt-5-codex","stream":true,"store":false,
            "previous_response_id":"resp_1","input":[
            {"role":"user","content":"first"},{"role":"assistant","content":"x"},
            {"type":"message","role":"user","content":[{"type":"input_text","text":"second"}]}]}"#;
        let req = parse(body).unwrap();
        assert_eq!(req.parsed.model, "gpt-5-codex");
        assert!(req.parsed.stream);
        assert_eq!(req.store, Some(false));
        assert_eq!(req.previous_response_id.as_deref(), Some("resp_1"));
        assert_eq!(req.parsed.user_text, "second");
        let req = parse(br#"{"model":"m","input":"plain"}"#).unwrap();
        assert_eq!(req.parsed.user_text, "plain");
        assert!(parse(br#"{"input":"x"}"#).is_err());
    }

    #[test]
    fn the_stream_is_numbered_and_ends_with_the_whole_response() {
        let ids = IdGen::new();
        let reply = Reply::text("hello there")
            .with_thinking("hmm")
            .with_tool_call("f", json!({"a": 1}));
        let plan = Plan::new(Some(&reply), "gpt-5-codex", "", 40, &ids).unwrap();
        let rendered = render(&plan, true, "resp_x".to_owned(), &ids).unwrap();
        let mut text = String::new();
        let mut last = Value::Null;
        for (i, chunk) in rendered.chunks.iter().enumerate() {
            let chunk = std::str::from_utf8(chunk).unwrap();
            let (head, data) = chunk.split_once("\ndata: ").unwrap();
            let data: Value = serde_json::from_str(data.trim_end()).unwrap();
            assert_eq!(head.strip_prefix("event: ").unwrap(), data["type"]);
            assert_eq!(data["sequence_number"], i);
            if data["type"] == "response.output_text.delta" {
                text.push_str(data["delta"].as_str().unwrap());
            }
            last = data;
        }
        assert_eq!(text, "hello there");
        assert_eq!(last["type"], "response.completed");
        assert_eq!(last["response"]["id"], "resp_x");
        let output = last["response"]["output"].as_array().unwrap();
        let kinds: Vec<&str> = output.iter().map(|i| i["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["reasoning", "message", "function_call"]);
    }
}
