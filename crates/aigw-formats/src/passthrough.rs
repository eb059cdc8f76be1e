//! Same-format requests: forwarded without a lossy re-serialisation.
//!
//! Only the top level is split (into keys and raw, unparsed values, in order);
//! `model` is replaced and, for OpenAI streams, `stream_options.include_usage`
//! forced on so usage can be recorded. A Responses request gets the target's
//! `stream` flag (an upstream that only streams is asked for a stream, which
//! the data plane aggregates), and `store` when the target forces it. Every
//! other value keeps its exact bytes, so
//! fields this gateway does not know survive.

use std::borrow::Cow;
use std::fmt;

use aigw_domain::Format;
use bytes::Bytes;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::FormatError;
use crate::context::UpstreamTarget;
use crate::json::parse_request;

/// The top-level members of a JSON object, in order, values unparsed.
struct TopLevel<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for TopLevel<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(TopLevelVisitor)
    }
}

struct TopLevelVisitor;

impl<'de> Visitor<'de> for TopLevelVisitor {
    type Value = TopLevel<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(16));
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let value: &'de RawValue = map.next_value()?;
            members.push((key.0, value));
        }
        Ok(TopLevel(members))
    }
}

/// A key, borrowed unless it contains escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Rewrite a same-format request body for `target`.
pub(crate) fn rewrite(
    format: Format,
    body: &[u8],
    target: &UpstreamTarget<'_>,
) -> Result<Bytes, FormatError> {
    let top: TopLevel<'_> = parse_request(body)?;
    let force_usage = format == Format::OpenAiChat && target.stream;
    let set_stream = format == Format::OpenAiResponses;
    let set_store = target.store.filter(|_| set_stream);

    let mut out = Vec::with_capacity(body.len() + target.model.len() + 48);
    out.push(b'{');
    let mut saw_model = false;
    let mut saw_stream_options = false;
    let mut saw_stream = false;
    let mut saw_store = false;
    for (key, value) in &top.0 {
        if out.len() > 1 {
            out.push(b',');
        }
        write_str(&mut out, key);
        out.push(b':');
        match key.as_ref() {
            "model" => {
                saw_model = true;
                write_str(&mut out, target.model);
            }
            "stream" if set_stream => {
                saw_stream = true;
                out.extend_from_slice(if target.stream { b"true" } else { b"false" });
            }
            "store" if set_store.is_some() => {
                saw_store = true;
                out.extend_from_slice(if target.store == Some(true) {
                    b"true"
                } else {
                    b"false"
                });
            }
            "stream_options" if force_usage => {
                saw_stream_options = true;
                out.extend_from_slice(&stream_options_with_usage(value));
            }
            _ => out.extend_from_slice(value.get().as_bytes()),
        }
    }
    if !saw_model {
        push_member(&mut out, "model");
        write_str(&mut out, target.model);
    }
    if set_stream && target.stream && !saw_stream {
        push_member(&mut out, "stream");
        out.extend_from_slice(b"true");
    }
    if let Some(store) = set_store
        && !saw_store
    {
        push_member(&mut out, "store");
        out.extend_from_slice(if store { b"true" } else { b"false" });
    }
    if force_usage && !saw_stream_options {
        push_member(&mut out, "stream_options");
        out.extend_from_slice(br#"{"include_usage":true}"#);
    }
    out.push(b'}');
    Ok(Bytes::from(out))
}

fn push_member(out: &mut Vec<u8>, key: &str) {
    if out.len() > 1 {
        out.push(b',');
    }
    write_str(out, key);
    out.push(b':');
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    // Writing a str into a Vec cannot fail; fall back to an empty string rather than panic.
    if serde_json::to_writer(&mut *out, s).is_err() {
        out.extend_from_slice(b"\"\"");
    }
}

/// The client's `stream_options` with `include_usage: true`, other options kept.
fn stream_options_with_usage(value: &RawValue) -> Vec<u8> {
    let mut options = match serde_json::from_str::<serde_json::Value>(value.get()) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    options.insert("include_usage".to_owned(), serde_json::Value::Bool(true));
    serde_json::to_vec(&options).unwrap_or_else(|_| br#"{"include_usage":true}"#.to_vec())
}

/// A Gemini body for a Gemini upstream: checked to be a JSON object, then
/// sent as it came (the model is in the URL, and no field needs changing).
pub(crate) fn check_gemini(body: &[u8]) -> Result<Bytes, FormatError> {
    let _top: TopLevel<'_> = parse_request(body)?;
    Ok(Bytes::copy_from_slice(body))
}

/// A Gemini body inside the Antigravity `v1internal` envelope, its members
/// unchanged but for `sessionId`, set when the caller keeps one.
pub(crate) fn wrap_antigravity(
    body: &[u8],
    target: &UpstreamTarget<'_>,
) -> Result<Bytes, FormatError> {
    let top: TopLevel<'_> = parse_request(body)?;
    let ag = &target.antigravity;
    let mut out = Vec::with_capacity(body.len() + target.model.len() + 160);
    out.push(b'{');
    if let Some(project) = ag.project {
        push_member(&mut out, "project");
        write_str(&mut out, project);
    }
    push_member(&mut out, "requestId");
    write_str(&mut out, ag.request_id);
    push_member(&mut out, "userAgent");
    write_str(&mut out, ag.user_agent);
    push_member(&mut out, "model");
    write_str(&mut out, target.model);
    push_member(&mut out, "request");
    let start = out.len();
    out.push(b'{');
    let mut first = true;
    for (key, value) in &top.0 {
        if key == "sessionId" && ag.session_id.is_some() {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        write_str(&mut out, key);
        out.push(b':');
        out.extend_from_slice(value.get().as_bytes());
    }
    if let Some(session) = ag.session_id {
        if out.len() > start + 1 {
            out.push(b',');
        }
        write_str(&mut out, "sessionId");
        out.push(b':');
        write_str(&mut out, session);
    }
    out.extend_from_slice(b"}}");
    Ok(Bytes::from(out))
}
