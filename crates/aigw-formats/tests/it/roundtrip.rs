//! OpenAI → Anthropic → OpenAI keeps every message's text and every tool call's
//! name and arguments.

use aigw_domain::Format;
use aigw_formats::{UpstreamTarget, translate_request};
use serde_json::{Value, json};

fn hop(from: Format, to: Format, body: &Value) -> Value {
    let bytes = serde_json::to_vec(body).unwrap();
    let out = translate_request(from, to, &bytes, &UpstreamTarget::new("m", false)).unwrap();
    serde_json::from_slice(&out).unwrap()
}

/// What must survive of one message: role, text, tool calls (name, arguments), answered call id.
type MessageEssence = (String, String, Vec<(String, Value)>, Option<String>);

/// The system text and the essence of every other message.
fn essence(req: &Value) -> (String, Vec<MessageEssence>) {
    let mut system = Vec::new();
    let mut out = Vec::new();
    for m in req["messages"].as_array().unwrap() {
        let text = match &m["content"] {
            Value::String(s) => s.clone(),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join(""),
            _ => String::new(),
        };
        if m["role"] == "system" {
            system.push(text);
            continue;
        }
        let calls = m["tool_calls"]
            .as_array()
            .map(|calls| {
                calls
                    .iter()
                    .map(|c| {
                        let args: Value =
                            serde_json::from_str(c["function"]["arguments"].as_str().unwrap())
                                .unwrap();
                        (c["function"]["name"].as_str().unwrap().to_owned(), args)
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push((
            m["role"].as_str().unwrap().to_owned(),
            text,
            calls,
            m["tool_call_id"].as_str().map(str::to_owned),
        ));
    }
    (system.join("\n\n"), out)
}

#[test]
fn openai_anthropic_openai_keeps_text_and_tool_calls() {
    let original = json!({
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "Be helpful.\nAlways."},
            {"role": "user", "content": "Weather in Rome and time in Oslo? Use \"quotes\" and ünïcödé."},
            {"role": "assistant", "content": "Let me check.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\",\"opts\":{\"unit\":\"c\",\"days\":[1,2]}}"}},
                {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "25C"},
            {"role": "tool", "tool_call_id": "call_2", "content": "14:05"},
            {"role": "assistant", "content": "It is 25C in Rome and 14:05 in Oslo."},
            {"role": "user", "content": "Thanks!"}
        ],
        "tools": [
            {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}},
            {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}
        ]
    });
    let anthropic = hop(Format::OpenAiChat, Format::AnthropicMessages, &original);
    let back = hop(Format::AnthropicMessages, Format::OpenAiChat, &anthropic);
    assert_eq!(
        essence(&back),
        essence(&original),
        "anthropic form: {anthropic:#}"
    );
    assert_eq!(back["tools"], original["tools"]);
}

#[test]
fn argument_key_order_survives_the_round_trip() {
    let original = json!({"model": "m", "messages": [
        {"role": "user", "content": "x"},
        {"role": "assistant", "tool_calls": [{"id": "c", "type": "function",
            "function": {"name": "f", "arguments": "{\"zeta\":1,\"alpha\":2,\"mid\":3}"}}]},
        {"role": "tool", "tool_call_id": "c", "content": "ok"}
    ]});
    let back = hop(
        Format::AnthropicMessages,
        Format::OpenAiChat,
        &hop(Format::OpenAiChat, Format::AnthropicMessages, &original),
    );
    assert_eq!(
        back["messages"][1]["tool_calls"][0]["function"]["arguments"],
        "{\"zeta\":1,\"alpha\":2,\"mid\":3}"
    );
}

/// What must survive of a Responses input: each item's kind, role, text,
/// call id, function name and arguments (as JSON), and output.
fn items_essence(req: &Value) -> Vec<(String, String, String, String, Value)> {
    req["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let text = match &item["content"] {
                Value::Array(parts) => parts
                    .iter()
                    .filter_map(|p| p["text"].as_str())
                    .collect::<Vec<_>>()
                    .join(""),
                Value::String(s) => s.clone(),
                _ => item["output"].as_str().unwrap_or("").to_owned(),
            };
            let arguments = item["arguments"]
                .as_str()
                .map(|a| serde_json::from_str(a).unwrap())
                .unwrap_or(Value::Null);
            (
                item["type"].as_str().unwrap_or("message").to_owned(),
                item["role"].as_str().unwrap_or("").to_owned(),
                text,
                format!(
                    "{}{}",
                    item["call_id"].as_str().unwrap_or(""),
                    item["name"].as_str().unwrap_or("")
                ),
                arguments,
            )
        })
        .collect()
}

#[test]
fn responses_chat_responses_keeps_messages_calls_and_outputs() {
    let original = json!({
        "model": "gpt-5",
        "instructions": "Be terse.",
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "List files and \"quote\" ünï."}]},
            {"type": "function_call", "call_id": "call_1", "name": "shell", "arguments": "{\"command\":[\"ls\"],\"z\":{\"b\":1,\"a\":2}}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "a\nb"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Two files."}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Thanks"}]}
        ],
        "tools": [{"type": "function", "name": "shell", "parameters": {"type": "object", "properties": {"command": {"type": "array"}}}, "strict": false}]
    });
    let chat = hop(Format::OpenAiResponses, Format::OpenAiChat, &original);
    let back = hop(Format::OpenAiChat, Format::OpenAiResponses, &chat);
    assert_eq!(
        items_essence(&back),
        items_essence(&original),
        "chat form: {chat:#}"
    );
    assert_eq!(back["instructions"], "Be terse.");
    assert_eq!(back["tools"], original["tools"]);
    // And through Anthropic, whose ids and turns differ the most.
    let anthropic = hop(
        Format::OpenAiResponses,
        Format::AnthropicMessages,
        &original,
    );
    let back = hop(
        Format::AnthropicMessages,
        Format::OpenAiResponses,
        &anthropic,
    );
    assert_eq!(
        items_essence(&back),
        items_essence(&original),
        "anthropic form: {anthropic:#}"
    );
}
