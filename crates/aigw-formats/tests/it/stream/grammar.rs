//! Checks of the client grammars, independent of any fixture's expectations:
//! what an official SDK (or an agent that streams tool calls) relies on.

use aigw_domain::Format;
use serde_json::Value;

/// How strict the check is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules {
    /// The stream was forwarded as the upstream sent it: Anthropic event and
    /// block types this checker does not know are accepted (as SDKs accept
    /// them), and OpenAI usage may ride on any chunk.
    pub passthrough: bool,
    /// Every tool call's arguments must add up to a JSON object. Off when the
    /// upstream itself may send incomplete arguments (a call cut by the token
    /// limit), which SDKs read with a partial JSON parser.
    pub complete_tool_args: bool,
}

/// Every upstream × client pair.
pub(crate) const PAIRS: [(Format, Format); 20] = [
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

/// Whether the pair forwards the upstream's own chunks (the same format, or
/// Antigravity's taken out of their envelope for a Gemini client).
pub(crate) fn forwarded(upstream: Format, client: Format) -> bool {
    upstream == client || (upstream, client) == (Format::Antigravity, Format::Gemini)
}

/// Checks `events` (as parsed by `super::events`) against `client`'s grammar.
/// A stream may end early with a terminal error event.
pub(crate) fn check(
    client: Format,
    include_usage: bool,
    rules: Rules,
    events: &Value,
) -> Result<(), String> {
    let events = events.as_array().ok_or("events are not an array")?;
    match client {
        Format::AnthropicMessages => anthropic(events, rules),
        Format::OpenAiChat => openai(events, include_usage, rules),
        Format::OpenAiResponses => super::responses_grammar::check(events, rules),
        Format::Gemini => super::gemini_grammar::check(events, rules),
        other => Err(format!("{other:?} is not a client format")),
    }
}

fn anthropic(events: &[Value], rules: Rules) -> Result<(), String> {
    let strict = !rules.passthrough;
    if events.is_empty() {
        return Ok(());
    }
    // (index, block type, accumulated tool input)
    let mut open: Option<(u64, String, String)> = None;
    let mut next_index = 0;
    let mut started = false;
    let mut delta_seen = false;
    for (i, ev) in events.iter().enumerate() {
        let at = |msg: &str| format!("event {i}: {msg}: {ev}");
        let name = ev["event"].as_str().ok_or_else(|| at("no event name"))?;
        let data = &ev["data"];
        if data["type"] != name {
            return Err(at("event name and data type differ"));
        }
        let last = i + 1 == events.len();
        if name == "error" {
            if !last {
                return Err(at("an error event must end the stream"));
            }
            if !data["error"]["type"].is_string() || !data["error"]["message"].is_string() {
                return Err(at("error event without type and message"));
            }
            continue;
        }
        if !started && name != "message_start" {
            return Err(at("the stream must open with message_start"));
        }
        match name {
            "message_start" => {
                if started {
                    return Err(at("a second message_start"));
                }
                started = true;
                let m = &data["message"];
                if m["type"] != "message" || m["role"] != "assistant" || !m["id"].is_string() {
                    return Err(at("message_start without a message shell"));
                }
                if !m["content"].as_array().is_some_and(Vec::is_empty)
                    || !m["usage"]["input_tokens"].is_u64()
                {
                    return Err(at("message_start must carry empty content and input usage"));
                }
            }
            "ping" => {}
            "content_block_start" => {
                if open.is_some() || delta_seen {
                    return Err(at(
                        "a block opened while another is open, or after message_delta",
                    ));
                }
                let index = data["index"].as_u64().ok_or_else(|| at("no index"))?;
                if index != next_index {
                    return Err(at(&format!("block index {index}, expected {next_index}")));
                }
                let block = &data["content_block"];
                let kind = block["type"]
                    .as_str()
                    .ok_or_else(|| at("block without type"))?;
                match kind {
                    "text" if block["text"] == "" => {}
                    "thinking" if block["thinking"] == "" => {}
                    "redacted_thinking" if block["data"].is_string() => {}
                    "tool_use"
                        if block["id"].as_str().is_some_and(|s| !s.is_empty())
                            && block["name"].as_str().is_some_and(|s| !s.is_empty())
                            && block["input"] == serde_json::json!({}) => {}
                    _ if !strict
                        && !["text", "thinking", "redacted_thinking", "tool_use"]
                            .contains(&kind) => {}
                    _ => return Err(at("unexpected block start")),
                }
                open = Some((index, kind.to_owned(), String::new()));
            }
            "content_block_delta" => {
                let Some((index, kind, input)) = &mut open else {
                    return Err(at("a delta with no open block"));
                };
                if data["index"] != *index {
                    return Err(at("a delta for another block than the open one"));
                }
                let delta = &data["delta"];
                match (kind.as_str(), delta["type"].as_str()) {
                    ("text", Some("text_delta"))
                        if delta["text"].as_str().is_some_and(|t| !t.is_empty()) => {}
                    ("thinking", Some("thinking_delta")) if delta["thinking"].is_string() => {}
                    ("thinking", Some("signature_delta")) if delta["signature"].is_string() => {}
                    ("tool_use", Some("input_json_delta")) => {
                        input.push_str(
                            delta["partial_json"]
                                .as_str()
                                .ok_or_else(|| at("no partial_json"))?,
                        );
                    }
                    (other, _)
                        if !strict
                            && !["text", "thinking", "redacted_thinking", "tool_use"]
                                .contains(&other) => {}
                    _ => return Err(at("a delta that does not fit its block")),
                }
            }
            "content_block_stop" => {
                let Some((index, kind, input)) = open.take() else {
                    return Err(at("a stop with no open block"));
                };
                if data["index"] != index {
                    return Err(at("stop of another block than the open one"));
                }
                if rules.complete_tool_args && kind == "tool_use" && !input.is_empty() {
                    let parsed: Value = serde_json::from_str(&input)
                        .map_err(|e| at(&format!("tool input `{input}` is not JSON: {e}")))?;
                    if !parsed.is_object() {
                        return Err(at("tool input is not an object"));
                    }
                }
                next_index += 1;
            }
            "message_delta" => {
                if open.is_some() || delta_seen {
                    return Err(at("message_delta with a block open, or twice"));
                }
                delta_seen = true;
                if !data["delta"]["stop_reason"].is_string()
                    || !data["usage"]["output_tokens"].is_u64()
                {
                    return Err(at("message_delta without stop_reason and output usage"));
                }
            }
            "message_stop" => {
                if !delta_seen || !last {
                    return Err(at(
                        "message_stop must follow message_delta and end the stream",
                    ));
                }
            }
            _ if !strict => {}
            _ => return Err(at("unknown event")),
        }
    }
    let last = events
        .last()
        .map_or("", |e| e["event"].as_str().unwrap_or(""));
    if last != "message_stop" && last != "error" {
        return Err(format!(
            "the stream ends with `{last}`, not message_stop or error"
        ));
    }
    Ok(())
}

fn openai(events: &[Value], include_usage: bool, rules: Rules) -> Result<(), String> {
    let strict = !rules.passthrough;
    if events.is_empty() {
        return Ok(());
    }
    let mut first: Option<&Value> = None;
    let mut finished = false;
    let mut usage_chunks = 0;
    let mut errored = false;
    // Per client tool index: accumulated arguments.
    let mut tools: Vec<String> = Vec::new();
    let n = events.len();
    for (i, ev) in events.iter().enumerate() {
        let at = |msg: &str| format!("chunk {i}: {msg}: {ev}");
        if ev.get("event").is_some() {
            return Err(at("OpenAI chunks carry no event name"));
        }
        let data = &ev["data"];
        if data == "[DONE]" {
            if i + 1 != n {
                return Err(at("[DONE] must be last"));
            }
            continue;
        }
        if i + 1 == n {
            return Err(at("the stream must end with [DONE]"));
        }
        if data.get("error").is_some() {
            if i + 2 != n
                || !data["error"]["message"].is_string()
                || !data["error"]["type"].is_string()
            {
                return Err(at(
                    "an error chunk must be followed only by [DONE], and carry message and type",
                ));
            }
            errored = true;
            continue;
        }
        if data["object"] != "chat.completion.chunk" {
            return Err(at("not a chat.completion.chunk"));
        }
        match first {
            None => {
                first = Some(data);
                if data["choices"][0]["delta"]["role"] != "assistant" {
                    return Err(at("the first chunk must carry the assistant role"));
                }
            }
            Some(f) => {
                if f["id"] != data["id"]
                    || f["created"] != data["created"]
                    || f["model"] != data["model"]
                {
                    return Err(at("id, created and model must be the same on every chunk"));
                }
                if data["choices"][0]["delta"].get("role").is_some() {
                    return Err(at("role only on the first chunk"));
                }
            }
        }
        let choices = data["choices"]
            .as_array()
            .ok_or_else(|| at("no choices array"))?;
        if choices.is_empty() {
            if !data["usage"].is_object() {
                return Err(at("a chunk with empty choices must be the usage chunk"));
            }
            if !include_usage || !finished || usage_chunks > 0 {
                return Err(at(
                    "a usage chunk only when asked, once, after finish_reason",
                ));
            }
            usage_chunks += 1;
            continue;
        }
        if usage_chunks > 0 {
            return Err(at("a choice chunk after the usage chunk"));
        }
        if !strict && data["usage"].is_object() {
            // Some compatible servers put usage on the finish chunk; passed through as is.
            usage_chunks += 1;
        }
        let choice = &choices[0];
        let delta = &choice["delta"];
        let has_content = delta["content"].as_str().is_some_and(|s| !s.is_empty())
            || delta["reasoning_content"].is_string()
            || delta.get("tool_calls").is_some();
        if finished && (has_content || !choice["finish_reason"].is_null()) {
            return Err(at("content or a second finish_reason after finish_reason"));
        }
        if !choice["finish_reason"].is_null() {
            finished = true;
        }
        for call in delta["tool_calls"].as_array().into_iter().flatten() {
            let index = call["index"]
                .as_u64()
                .ok_or_else(|| at("tool call without index"))? as usize;
            let args = call["function"]["arguments"].as_str().unwrap_or("");
            if index == tools.len() {
                let non_empty = |v: &Value| v.as_str().is_some_and(|s| !s.is_empty());
                if !non_empty(&call["id"])
                    || call["type"] != "function"
                    || !non_empty(&call["function"]["name"])
                {
                    return Err(at("a tool call's first delta must carry id, type and name"));
                }
                tools.push(args.to_owned());
            } else if index < tools.len() {
                if call.get("id").is_some() || call["function"].get("name").is_some() {
                    return Err(at("id and name only in a tool call's first delta"));
                }
                tools[index].push_str(args);
            } else {
                return Err(at("tool call indices must be contiguous from 0"));
            }
        }
    }
    if !errored {
        if !finished {
            return Err("no finish_reason".into());
        }
        if include_usage && usage_chunks != 1 {
            return Err("include_usage was asked but no usage chunk was sent".into());
        }
        for (i, args) in tools
            .iter()
            .enumerate()
            .filter(|_| rules.complete_tool_args)
        {
            let parsed: Value = serde_json::from_str(args)
                .map_err(|e| format!("tool call {i} arguments `{args}` are not JSON: {e}"))?;
            if !parsed.is_object() {
                return Err(format!("tool call {i} arguments are not an object"));
            }
        }
    }
    Ok(())
}
