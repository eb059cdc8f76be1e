//! JSON helpers shared by every format: parsing with error paths, and the
//! "string or array" shape that OpenAI and Anthropic use for content.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::FormatError;

/// Parse a client body into `T`, naming the JSON path of the first problem.
pub(crate) fn parse_request<'de, T: Deserialize<'de>>(body: &'de [u8]) -> Result<T, FormatError> {
    parse_with(body).map_err(|e| e.into_client_error())
}

/// Parse an upstream body into `T`; failures are upstream faults, not client ones.
pub(crate) fn parse_upstream<'de, T: Deserialize<'de>>(body: &'de [u8]) -> Result<T, FormatError> {
    parse_with(body).map_err(|e| {
        let (path, message) = match e {
            ParseFailure::Syntax {
                line,
                column,
                message,
            } => (
                ".".to_owned(),
                format!("malformed JSON at line {line} column {column}: {message}"),
            ),
            ParseFailure::Data { path, message } => (path, message),
        };
        FormatError::UpstreamResponse { path, message }
    })
}

enum ParseFailure {
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    Data {
        path: String,
        message: String,
    },
}

impl ParseFailure {
    fn into_client_error(self) -> FormatError {
        match self {
            Self::Syntax {
                line,
                column,
                message,
            } => FormatError::MalformedJson {
                line,
                column,
                message,
            },
            Self::Data { path, message } => FormatError::InvalidField { path, message },
        }
    }
}

/// Parses without tracking paths (tracking records every key it passes, which
/// costs more than the parse itself); only a body that fails is parsed again,
/// with tracking, to name where. Parsing is deterministic, so the second pass
/// fails at the same place.
///
/// A body that is UTF-8 as a whole, as every real one is, is read as text:
/// checked in one pass here, serde_json then skips checking each string it
/// reads, which was a third of the cost of reading the keys and strings of a
/// body. Any other body is read as bytes, exactly as before: a bad byte in a
/// skipped value is still accepted, and one in a read string still fails
/// there.
fn parse_with<'de, T: Deserialize<'de>>(body: &'de [u8]) -> Result<T, ParseFailure> {
    let parsed = match std::str::from_utf8(body) {
        Ok(text) => parse_untracked(serde_json::Deserializer::from_str(text)),
        Err(_) => parse_untracked(serde_json::Deserializer::from_slice(body)),
    };
    match parsed {
        Some(value) => Ok(value),
        None => parse_tracked(body),
    }
}

/// The document `de` reads, if it is one well-formed `T` and nothing after it.
fn parse_untracked<'de, R, T>(mut de: serde_json::Deserializer<R>) -> Option<T>
where
    R: serde_json::de::Read<'de>,
    T: Deserialize<'de>,
{
    let value = T::deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(value)
}

fn parse_tracked<'de, T: Deserialize<'de>>(body: &'de [u8]) -> Result<T, ParseFailure> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().clone();
        classify(body, e.into_inner(), &path)
    })?;
    // Trailing garbage after the document is a syntax error, not something to ignore.
    de.end().map_err(|e| syntax(&e))?;
    Ok(value)
}

fn syntax(err: &serde_json::Error) -> ParseFailure {
    ParseFailure::Syntax {
        line: err.line(),
        column: err.column(),
        message: strip_position(&err.to_string()),
    }
}

fn classify(body: &[u8], err: serde_json::Error, path: &serde_path_to_error::Path) -> ParseFailure {
    let message = strip_position(&err.to_string());
    match err.classify() {
        serde_json::error::Category::Data => {
            let (path, message) = refine_type_error(body, path, message);
            ParseFailure::Data {
                path: missing_field_path(path, &message),
                message: json_vocabulary(&message),
            }
        }
        serde_json::error::Category::Io
        | serde_json::error::Category::Syntax
        | serde_json::error::Category::Eof => {
            // serde_json reports a value of the wrong kind where an enum name
            // is expected (`"role": 7`) as a syntax error, though the JSON is
            // well-formed: it is the field's type that is wrong.
            match parse_value(body).and_then(|v| value_at(&v, path).map(describe)) {
                Some(found) => ParseFailure::Data {
                    path: path.to_string(),
                    message: json_vocabulary(&format!("invalid type: {found}, expected a string")),
                },
                None => syntax(&err),
            }
        }
    }
}

/// The whole body as a JSON value, if it is well-formed JSON at all.
fn parse_value(body: &[u8]) -> Option<serde_json::Value> {
    serde_json::from_slice(body).ok()
}

/// The value a path leads to in `root`.
fn value_at<'v>(
    root: &'v serde_json::Value,
    path: &serde_path_to_error::Path,
) -> Option<&'v serde_json::Value> {
    use serde_path_to_error::Segment;
    path.iter().try_fold(root, |value, segment| match segment {
        Segment::Seq { index } => value.get(*index),
        Segment::Map { key } => value.get(key.as_str()),
        Segment::Enum { .. } | Segment::Unknown => None,
    })
}

/// A JSON value as serde names an unexpected one ("integer `7`").
fn describe(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("boolean `{b}`"),
        Value::Number(n) if n.is_f64() => format!("floating point `{n}`"),
        Value::Number(n) => format!("integer `{n}`"),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "sequence".to_owned(),
        Value::Object(_) => "map".to_owned(),
    }
}

/// Errors inside a variant of a `type`-tagged enum are reported at the
/// enum's own path, because serde buffers the object before choosing the
/// variant. When exactly one field of that object has the wrong value the
/// message describes, the path is extended to name it.
fn refine_type_error(
    body: &[u8],
    path: &serde_path_to_error::Path,
    message: String,
) -> (String, String) {
    let found = message
        .strip_prefix("invalid type: ")
        .and_then(|rest| rest.split_once(", expected "))
        .map(|(found, _)| found);
    let field = found.and_then(|found| {
        let root = parse_value(body)?;
        let object = value_at(&root, path)?.as_object()?;
        let mut matching = object
            .iter()
            .filter(|(_, v)| describe(v) == found)
            .map(|(k, _)| k.clone());
        let first = matching.next()?;
        matching.next().is_none().then_some(first)
    });
    let path_text = path.to_string();
    match field {
        Some(field) if path_text == "." => (field, message),
        Some(field) => (format!("{path_text}.{field}"), message),
        None => (path_text, message),
    }
}

/// serde's names of types, in JSON's words: an object, not a map or a
/// `struct ChatMessage`; an array, not a sequence.
fn json_vocabulary(message: &str) -> String {
    let (found, expected) = match message.split_once(", expected ") {
        Some((found, expected)) => (found, expected),
        None => return message.to_owned(),
    };
    let found = found
        .replace("invalid type: sequence", "invalid type: array")
        .replace("invalid type: map", "invalid type: object");
    let expected = match expected {
        "a sequence" => "an array",
        "a map" => "an object",
        "variant identifier" => "a string",
        "u8" | "u16" | "u32" | "u64" | "usize" => "a non-negative integer",
        "i8" | "i16" | "i32" | "i64" | "isize" => "an integer",
        "f32" | "f64" => "a number",
        other if other.starts_with("struct ") => "an object",
        other => other,
    };
    format!("{found}, expected {expected}")
}

/// serde_json appends " at line L column C"; the path says more, so drop it.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// serde reports a missing field at its parent's path; name the field itself.
fn missing_field_path(path: String, message: &str) -> String {
    let Some(rest) = message.strip_prefix("missing field `") else {
        return path;
    };
    let Some(field) = rest.strip_suffix('`') else {
        return path;
    };
    if path == "." {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

/// A value that is either a plain string or an array of typed items, as OpenAI
/// message content, Anthropic `system` and `tool_result.content` are.
///
/// Deserialised with a hand-written visitor rather than `#[serde(untagged)]` so
/// that errors inside the array keep their exact path (`content[1].text`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum TextOr<T> {
    /// The string form.
    Text(String),
    /// The array form.
    Items(Vec<T>),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for TextOr<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TextOrVisitor(PhantomData))
    }
}

struct TextOrVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for TextOrVisitor<T> {
    type Value = TextOr<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or an array")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(TextOr::Text(v.to_owned()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(TextOr::Text(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(TextOr::Items(items))
    }
}

impl<T> TextOr<T> {
    /// The items, with the string form seen as one item made by `text`.
    pub fn into_items(self, text: impl FnOnce(String) -> T) -> Vec<T> {
        match self {
            Self::Text(s) => vec![text(s)],
            Self::Items(items) => items,
        }
    }
}

/// Read `null` as the type's default: OpenAI-compatible servers send `null`
/// for counters they do not track.
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Named<'a> {
        name: String,
        #[serde(borrow)]
        label: Option<&'a str>,
    }

    /// Text and bytes read the same document the same way, escapes and
    /// borrowed strings included.
    #[test]
    fn a_utf8_body_reads_as_before() {
        let body =
            r#"{"name":"caf\u00e9 \"x\" é","label":"plain","other":[1,{"a":"€"}]}"#.as_bytes();
        let parsed: Named<'_> = parse_request(body).unwrap();
        assert_eq!(parsed.name, "café \"x\" é");
        assert_eq!(parsed.label, Some("plain"));
        let bytes: Named<'_> = serde_json::from_slice(body).unwrap();
        assert_eq!(parsed, bytes);
    }

    /// A body that is not UTF-8 as a whole keeps the byte reader's verdict:
    /// a bad byte in a value nobody reads passes, one in a read string fails
    /// with the same error as before.
    #[test]
    fn a_body_with_a_bad_byte_reads_as_bytes() {
        let skipped = b"{\"name\":\"n\",\"other\":\"\xff\"}";
        let parsed: Named<'_> = parse_request(skipped).unwrap();
        assert_eq!(parsed.name, "n");

        let read = b"{\"name\":\"\xff\"}";
        let err = parse_request::<Named<'_>>(read).unwrap_err();
        let expected = serde_json::from_slice::<Named<'_>>(read).unwrap_err();
        match err {
            FormatError::MalformedJson { line, column, .. } => {
                assert_eq!((line, column), (expected.line(), expected.column()));
            }
            other => panic!("{other:?}"),
        }
    }

    /// Trailing bytes after the document are refused on both readers.
    #[test]
    fn trailing_bytes_are_refused() {
        assert!(parse_request::<Named<'_>>(br#"{"name":"n"} x"#).is_err());
        assert!(parse_request::<Named<'_>>(b"{\"name\":\"n\"} \xff").is_err());
    }
}
