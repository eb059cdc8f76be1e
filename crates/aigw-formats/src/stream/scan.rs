//! What a same-format stream needs of an OpenAI event (a Chat Completions
//! chunk, a Responses event), read by one pass over its bytes instead of
//! serde's generic walk.
//!
//! An event passes through unchanged, but every one is read: a chunk for an
//! upstream error, the usage, the finish reason and whether it carries
//! content; a Responses event for its type and sequence number. Read by
//! serde, that was a third of the gateway's instructions on a streamed chat
//! request (about 5,000 for a 261-byte chunk). The scans check the same
//! JSON grammar in about 3,300 and answer only when the input is plain: on
//! anything they do not handle the same way serde would (a duplicate key, a
//! key or type with escapes, an array where an object is expected, a type
//! mismatch, a syntax error, nesting past [`MAX_DEPTH`]) they return `None`,
//! and the caller parses the event with serde, which gives the answer or the
//! error it always gave. Tests compare the two on every prefix and one-byte
//! change of real events.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use crate::openai::ChatUsage;

/// What a chunk says, as far as the passthrough is concerned.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ChunkSummary {
    /// `choices` has at least one entry.
    pub(crate) has_choices: bool,
    /// A non-null top-level `usage`.
    pub(crate) usage: Option<ChatUsage>,
    /// A non-null top-level `error`.
    pub(crate) error: bool,
    /// Some choice has a non-null `finish_reason`.
    pub(crate) finished: bool,
    /// Some choice's delta has non-empty content, reasoning, refusal, or tool calls.
    pub(crate) content: bool,
}

/// A Chat Completions chunk: scanned, or read by serde when the scan leaves it.
///
/// # Errors
/// serde's, for a chunk that is not JSON or not of the expected shape.
pub(crate) fn read_chat_chunk(data: &str) -> Result<ChunkSummary, serde_json::Error> {
    match chat_chunk(data) {
        Some(chunk) => Ok(chunk),
        None => serde_chat_chunk(data),
    }
}

/// A Responses event: scanned, or read by serde when the scan leaves it.
///
/// # Errors
/// serde's, for an event that is not JSON or not of the expected shape.
pub(crate) fn read_responses_event(data: &str) -> Result<ResponsesSummary<'_>, serde_json::Error> {
    match responses_event(data) {
        Some(event) => Ok(event),
        None => serde_responses_event(data),
    }
}

/// What the passthrough needs of a Responses event; the rest is skipped unparsed.
#[derive(Deserialize)]
struct ResponsesPeek<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    sequence_number: Option<u64>,
    #[serde(default, borrow)]
    response: Option<&'a RawValue>,
}

/// What the passthrough needs of an OpenAI chunk; the rest is skipped unparsed.
#[derive(Deserialize)]
struct OpenAiPeek<'a> {
    #[serde(default)]
    choices: Vec<PeekChoice<'a>>,
    #[serde(default)]
    usage: Option<ChatUsage>,
    #[serde(default, borrow)]
    error: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct PeekChoice<'a> {
    #[serde(default, borrow)]
    delta: Option<PeekDelta<'a>>,
    #[serde(default)]
    finish_reason: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct PeekDelta<'a> {
    #[serde(default, borrow)]
    content: Option<&'a RawValue>,
    #[serde(default, borrow)]
    reasoning_content: Option<&'a RawValue>,
    #[serde(default, borrow)]
    refusal: Option<&'a RawValue>,
    #[serde(default)]
    tool_calls: Option<IgnoredAny>,
}

/// A Responses event read by serde: what [`responses_event`] leaves to it,
/// and what that scan is tested against.
fn serde_responses_event(data: &str) -> Result<ResponsesSummary<'_>, serde_json::Error> {
    let peek: ResponsesPeek<'_> = serde_json::from_str(data)?;
    Ok(ResponsesSummary {
        kind: peek.kind,
        sequence_number: peek.sequence_number,
        response: peek.response.map(RawValue::get),
    })
}

/// A Chat Completions chunk read by serde: what [`chat_chunk`] leaves to it,
/// and what that scan is tested against.
fn serde_chat_chunk(data: &str) -> Result<ChunkSummary, serde_json::Error> {
    let peek: OpenAiPeek<'_> = serde_json::from_str(data)?;
    Ok(ChunkSummary {
        has_choices: !peek.choices.is_empty(),
        usage: peek.usage,
        error: peek.error.is_some(),
        finished: peek.choices.iter().any(|c| c.finish_reason.is_some()),
        content: peek
            .choices
            .iter()
            .any(|c| c.delta.as_ref().is_some_and(PeekDelta::has_content)),
    })
}

impl PeekDelta<'_> {
    fn has_content(&self) -> bool {
        let non_empty =
            |v: Option<&RawValue>| v.is_some_and(|v| !matches!(v.get(), "\"\"" | "null"));
        non_empty(self.content)
            || non_empty(self.reasoning_content)
            || non_empty(self.refusal)
            || self.tool_calls.is_some()
    }
}

/// Deeper nesting is left to serde (whose own limit is 128).
const MAX_DEPTH: u32 = 64;

/// What the Responses passthrough needs of an event.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ResponsesSummary<'a> {
    /// `type`.
    pub(crate) kind: Cow<'a, str>,
    /// `sequence_number`, when present and not null.
    pub(crate) sequence_number: Option<u64>,
    /// The raw `response` object, when present and not null.
    pub(crate) response: Option<&'a str>,
}

/// Reads `data` as a Responses stream event; `None` when serde should.
pub(crate) fn responses_event(data: &str) -> Option<ResponsesSummary<'_>> {
    let mut c = Cursor::new(data);
    let (mut kind, mut sequence_number, mut response) = (None, None, None);
    let slot_of = |key: &[u8]| match key {
        b"type" => Some(0),
        b"sequence_number" => Some(1),
        b"response" => Some(2),
        _ => None,
    };
    c.members::<3>(1, slot_of, |c, slot| {
        match slot {
            0 => {
                if c.peek()? != b'"' {
                    return None;
                }
                let text = c.string()?;
                if c.escaped {
                    return None;
                }
                kind = Some(Cow::Borrowed(std::str::from_utf8(text).ok()?));
            }
            1 if c.peek()? == b'n' => c.literal(b"null")?,
            1 => sequence_number = Some(c.unsigned()?),
            _ => response = c.non_null_text(1)?,
        }
        Some(())
    })?;
    c.end()?;
    Some(ResponsesSummary {
        kind: kind?,
        sequence_number,
        response,
    })
}

/// Reads `data` as a Chat Completions chunk; `None` when serde should.
pub(crate) fn chat_chunk(data: &str) -> Option<ChunkSummary> {
    let mut c = Cursor::new(data);
    let mut out = ChunkSummary::default();
    let slot_of = |key: &[u8]| match key {
        b"choices" => Some(0),
        b"usage" => Some(1),
        b"error" => Some(2),
        _ => None,
    };
    c.members::<3>(1, slot_of, |c, slot| {
        match slot {
            0 => choices(c, &mut out)?,
            1 => {
                if let Some(raw) = c.non_null_text(1)? {
                    out.usage = Some(serde_json::from_str(raw).ok()?);
                }
            }
            _ => out.error = c.non_null(1)?.is_some(),
        }
        Some(())
    })?;
    c.end()?;
    Some(out)
}

/// `"choices": [ {…}, … ]`.
fn choices(c: &mut Cursor<'_>, out: &mut ChunkSummary) -> Option<()> {
    c.array(|c| {
        out.has_choices = true;
        choice(c, out)
    })
}

/// One choice: its `delta` and `finish_reason`.
fn choice(c: &mut Cursor<'_>, out: &mut ChunkSummary) -> Option<()> {
    let slot_of = |key: &[u8]| match key {
        b"delta" => Some(0),
        b"finish_reason" => Some(1),
        _ => None,
    };
    c.members::<2>(3, slot_of, |c, slot| {
        if slot == 1 {
            out.finished |= c.non_null(3)?.is_some();
            Some(())
        } else if c.peek()? == b'n' {
            c.literal(b"null")
        } else {
            delta(c, out)
        }
    })
}

/// A choice's `delta`: whether it carries anything a client would show.
fn delta(c: &mut Cursor<'_>, out: &mut ChunkSummary) -> Option<()> {
    let slot_of = |key: &[u8]| match key {
        b"content" => Some(0),
        b"reasoning_content" => Some(1),
        b"refusal" => Some(2),
        b"tool_calls" => Some(3),
        _ => None,
    };
    c.members::<4>(4, slot_of, |c, slot| {
        let raw = c.non_null(4)?;
        // Tool calls count whatever they hold; text only when not empty.
        out.content |= raw.is_some_and(|raw| slot == 3 || raw != b"\"\"");
        Some(())
    })
}

/// A position in a chunk's bytes.
struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
    /// The last string read had an escape.
    escaped: bool,
}

impl<'a> Cursor<'a> {
    fn new(data: &'a str) -> Self {
        Self {
            s: data.as_bytes(),
            i: 0,
            escaped: false,
        }
    }

    /// Only whitespace is left.
    fn end(&mut self) -> Option<()> {
        self.at().is_none().then_some(())
    }

    /// Skips a value; its bytes unless it is `null`.
    #[inline(always)]
    fn non_null(&mut self, depth: u32) -> Option<Option<&'a [u8]>> {
        let start = self.at()?;
        if self.value(depth)? == b'n' {
            return Some(None);
        }
        self.s.get(start..self.i).map(Some)
    }

    /// [`non_null`](Self::non_null) as text (a value's bytes in a `str` are
    /// always whole characters).
    fn non_null_text(&mut self, depth: u32) -> Option<Option<&'a str>> {
        match self.non_null(depth)? {
            Some(raw) => std::str::from_utf8(raw).ok().map(Some),
            None => Some(None),
        }
    }

    /// An object whose members `slot_of` knows (an index below `N`) go to
    /// `on_member` with that index, positioned at the value; other members
    /// are skipped as values at `depth`. A member seen twice is left to
    /// serde, which refuses duplicate fields, and so is a key with escapes,
    /// which serde matches after unescaping.
    #[inline(always)]
    fn members<const N: usize>(
        &mut self,
        depth: u32,
        slot_of: impl Fn(&[u8]) -> Option<usize>,
        mut on_member: impl FnMut(&mut Self, usize) -> Option<()>,
    ) -> Option<()> {
        let mut seen = [false; N];
        self.object(|c, key| match slot_of(key) {
            _ if c.escaped => None,
            Some(slot) => {
                if std::mem::replace(seen.get_mut(slot)?, true) {
                    return None;
                }
                on_member(c, slot)
            }
            None => c.skip(depth),
        })
    }

    /// Skips whitespace; the next byte, not consumed.
    #[inline(always)]
    fn peek(&mut self) -> Option<u8> {
        while let Some(&b) = self.s.get(self.i) {
            if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(b);
            }
            self.i += 1;
        }
        None
    }

    /// Skips whitespace; the position of the next byte.
    fn at(&mut self) -> Option<usize> {
        self.peek().map(|_| self.i)
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i + word.len();
        (self.s.get(self.i..end)? == word).then(|| self.i = end)
    }

    /// At a `"`: skips the string; its bytes between the quotes, escapes as written.
    #[inline]
    fn string(&mut self) -> Option<&'a [u8]> {
        let start = self.i + 1;
        let mut j = start;
        self.escaped = false;
        loop {
            j = special(self.s, j);
            let b = *self.s.get(j)?;
            if b == b'"' {
                self.i = j + 1;
                return self.s.get(start..j);
            }
            if b != b'\\' {
                // A control character, which JSON strings may not hold.
                return None;
            }
            self.escaped = true;
            match *self.s.get(j + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => j += 2,
                b'u' => {
                    if !self.s.get(j + 2..j + 6)?.iter().all(u8::is_ascii_hexdigit) {
                        return None;
                    }
                    j += 6;
                }
                _ => return None,
            }
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn number(&mut self) -> Option<()> {
        let s = self.s;
        let digits = |mut j: usize| {
            while s.get(j).is_some_and(u8::is_ascii_digit) {
                j += 1;
            }
            j
        };
        let mut j = self.i;
        if s.get(j) == Some(&b'-') {
            j += 1;
        }
        j = match *s.get(j)? {
            b'0' => j + 1,
            b'1'..=b'9' => digits(j + 1),
            _ => return None,
        };
        if s.get(j) == Some(&b'.') {
            if !s.get(j + 1)?.is_ascii_digit() {
                return None;
            }
            j = digits(j + 1);
        }
        if matches!(s.get(j), Some(b'e' | b'E')) {
            j += 1;
            if matches!(s.get(j), Some(b'+' | b'-')) {
                j += 1;
            }
            if !s.get(j)?.is_ascii_digit() {
                return None;
            }
            j = digits(j);
        }
        self.i = j;
        Some(())
    }

    /// The digits of a number that is a `u64` as written: no sign, no
    /// leading zero, in range (serde reads anything else differently or
    /// not at all).
    fn unsigned(&mut self) -> Option<u64> {
        let s = self.s;
        let start = self.i;
        let mut j = start;
        let mut n: u64 = 0;
        while let Some(&b) = s.get(j) {
            if !b.is_ascii_digit() {
                break;
            }
            n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
            j += 1;
        }
        let digits = j - start;
        if digits == 0 || (digits > 1 && s.get(start) == Some(&b'0')) {
            return None;
        }
        // A fraction or exponent after the digits is left for the caller's
        // next token check, which refuses it.
        self.i = j;
        Some(n)
    }

    fn skip(&mut self, depth: u32) -> Option<()> {
        self.value(depth).map(drop)
    }

    /// Skips one value, checking its grammar; returns its first byte.
    fn value(&mut self, depth: u32) -> Option<u8> {
        let first = self.peek()?;
        match first {
            b'"' => {
                self.string()?;
            }
            b'{' | b'[' if depth >= MAX_DEPTH => return None,
            b'{' => self.object(|c, _| c.skip(depth + 1))?,
            b'[' => self.array(|c| c.skip(depth + 1))?,
            b't' => self.literal(b"true")?,
            b'f' => self.literal(b"false")?,
            b'n' => self.literal(b"null")?,
            _ => self.number()?,
        }
        Some(first)
    }

    /// An object, `on_key` called at each value with its key as written
    /// (`self.escaped` tells whether it has escapes).
    #[inline]
    fn object(&mut self, mut on_key: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        let mut more = self.open(b'{', b'}')?;
        while more {
            if self.peek()? != b'"' {
                return None;
            }
            let key = self.string()?;
            if self.peek()? != b':' {
                return None;
            }
            self.i += 1;
            on_key(self, key)?;
            more = self.more(b'}')?;
        }
        Some(())
    }

    /// An array, `on_item` called at each item.
    #[inline]
    fn array(&mut self, mut on_item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        let mut more = self.open(b'[', b']')?;
        while more {
            on_item(self)?;
            more = self.more(b']')?;
        }
        Some(())
    }

    /// At `open`: steps past it; whether items follow (`false` when `close`
    /// comes next, which it steps past too).
    #[inline(always)]
    fn open(&mut self, open: u8, close: u8) -> Option<bool> {
        if self.peek()? != open {
            return None;
        }
        self.i += 1;
        if self.peek()? == close {
            self.i += 1;
            return Some(false);
        }
        Some(true)
    }

    /// After an item: steps past a `,` (more items follow) or `close` (none).
    #[inline(always)]
    fn more(&mut self, close: u8) -> Option<bool> {
        let next = self.peek()?;
        if next != b',' && next != close {
            return None;
        }
        self.i += 1;
        Some(next == b',')
    }
}

/// The index of the first `"`, `\` or control byte at or after `j`, or the
/// length: eight bytes at a time, as serde_json does.
#[inline(always)]
fn special(s: &[u8], mut j: usize) -> usize {
    const ONES: u64 = u64::MAX / 255;
    const HIGH: u64 = ONES << 7;
    while let Some(chunk) = s.get(j..j + 8) {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        let v = u64::from_le_bytes(bytes);
        let control = v.wrapping_sub(ONES * 0x20) & !v;
        let q = v ^ (ONES * u64::from(b'"'));
        let quote = q.wrapping_sub(ONES) & !q;
        let b = v ^ (ONES * u64::from(b'\\'));
        let backslash = b.wrapping_sub(ONES) & !b;
        let hit = (control | quote | backslash) & HIGH;
        if hit != 0 {
            return j + (hit.trailing_zeros() / 8) as usize;
        }
        j += 8;
    }
    while let Some(&b) = s.get(j) {
        if b == b'"' || b == b'\\' || b < 0x20 {
            return j;
        }
        j += 1;
    }
    j
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Chunks as OpenAI and compatible servers send them: the role chunk,
    /// text (with escapes and non-ASCII), reasoning, refusal, tool calls,
    /// logprobs, the finish chunk, the usage chunk, and an error.
    const CHUNKS: &[&str] = &[
        r#"{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4.1-2025-04-14","service_tier":"default","system_fingerprint":"fp_a1102cf978","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}"#,
        r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Line one\nsaid \"hi\" \\ caf\u00e9 — ok \ud83d\ude00"},"logprobs":null,"finish_reason":null}]}"#,
        r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"deepseek-reasoner","choices":[{"index":0,"delta":{"content":null,"reasoning_content":"Let me think."},"finish_reason":null}]}"#,
        r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"refusal":"I can't help with that."},"finish_reason":null}]}"#,
        r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_abc","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}"#,
        r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"location\": \"Paris\"}"}}]},"finish_reason":null}]}"#,
        r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"x"},"logprobs":{"content":[{"token":"x","logprob":-0.0012,"bytes":[120],"top_logprobs":[{"token":"x","logprob":-1.5e-3,"bytes":[120]}]}],"refusal":null},"finish_reason":null}]}"#,
        r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}"#,
        r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":36,"completion_tokens":3,"total_tokens":39,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}"#,
        r#"{"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}"#,
        "{ \"choices\" : [ { \"delta\" : { \"content\" : \"a\" } , \"finish_reason\" : null } ] ,\n\t\"usage\" : null }\r\n",
        r#"{"choices":[{"delta":null,"finish_reason":"length"},{"delta":{"content":"b"}}],"error":null,"x":[true,false,null,-0,1.5E+10,{"y":[]}]}"#,
    ];

    /// Bytes that turn valid JSON into something else: structure, quotes,
    /// escapes, number and literal starts, whitespace, a control character.
    const PROBES: &[u8] = b"\"\\{}[],:0-.eEnt \n\x01/u";

    /// Responses events as OpenAI sends them to Codex CLI and the SDKs.
    const EVENTS: &[&str] = &[
        r#"{"type":"response.created","sequence_number":0,"response":{"id":"resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654","object":"response","created_at":1741290958,"status":"in_progress","error":null,"model":"gpt-5-codex","output":[],"usage":null}}"#,
        r#"{"type":"response.output_text.delta","sequence_number":12,"item_id":"msg_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654","output_index":1,"content_index":0,"delta":" \"quoted\"\n","logprobs":[],"obfuscation":"yHq0r1zvb"}"#,
        r#"{"type":"response.function_call_arguments.delta","sequence_number":40,"item_id":"fc_1","output_index":2,"delta":"{\"command\":[\"ls\"]}"}"#,
        r#"{"type":"response.completed","sequence_number":99,"response":{"id":"r","status":"completed","usage":{"input_tokens":10,"input_tokens_details":{"cached_tokens":0},"output_tokens":5,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":15}}}"#,
        r#"{"type":"error","code":"server_error","message":"boom","param":null,"sequence_number":null}"#,
        r#"{"type":"response.in_progress","response":null}"#,
    ];

    fn agrees(data: &str) {
        match (chat_chunk(data), serde_chat_chunk(data)) {
            (None, _) => {}
            (Some(fast), Ok(slow)) => assert_eq!(fast, slow, "{data:?}"),
            (Some(fast), Err(e)) => panic!("scan read {fast:?} where serde failed ({e}): {data:?}"),
        }
        match (responses_event(data), serde_responses_event(data)) {
            (None, _) => {}
            (Some(fast), Ok(slow)) => assert_eq!(fast, slow, "{data:?}"),
            (Some(fast), Err(e)) => panic!("scan read {fast:?} where serde failed ({e}): {data:?}"),
        }
    }

    #[test]
    fn plain_events_are_read_without_serde_as_serde_reads_them() {
        for event in EVENTS {
            assert!(responses_event(event).is_some(), "left to serde: {event}");
            agrees(event);
        }
        let delta = responses_event(EVENTS[1]);
        assert_eq!(
            delta.as_ref().map(|e| e.kind.as_ref()),
            Some("response.output_text.delta")
        );
        assert_eq!(delta.and_then(|e| e.sequence_number), Some(12));
        let created = responses_event(EVENTS[0]).and_then(|e| e.response);
        assert!(created.is_some_and(|r| r.starts_with("{\"id\"") && r.ends_with('}')));
    }

    #[test]
    fn plain_chunks_are_read_without_serde_as_serde_reads_them() {
        for chunk in CHUNKS {
            let fast = chat_chunk(chunk);
            assert!(fast.is_some(), "left to serde: {chunk}");
            agrees(chunk);
        }
        let usage = chat_chunk(CHUNKS[8]).and_then(|c| c.usage);
        assert_eq!(usage.map(|u| u.total_tokens), Some(39));
    }

    #[test]
    fn every_prefix_and_one_byte_change_reads_as_serde_reads_it() {
        for chunk in CHUNKS.iter().chain(EVENTS) {
            let bytes = chunk.as_bytes();
            for end in 0..bytes.len() {
                if let Ok(prefix) = std::str::from_utf8(&bytes[..end]) {
                    agrees(prefix);
                }
            }
            for at in 0..bytes.len() {
                let mut removed = bytes.to_vec();
                removed.remove(at);
                if let Ok(text) = std::str::from_utf8(&removed) {
                    agrees(text);
                }
                for &probe in PROBES {
                    for insert in [false, true] {
                        let mut changed = bytes.to_vec();
                        if insert {
                            changed.insert(at, probe);
                        } else {
                            changed[at] = probe;
                        }
                        if let Ok(text) = std::str::from_utf8(&changed) {
                            agrees(text);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn what_serde_would_treat_differently_is_left_to_it() {
        for data in [
            // Duplicate fields are an error in serde.
            r#"{"choices":[],"choices":[]}"#,
            r#"{"usage":null,"usage":null}"#,
            r#"{"choices":[{"delta":{"content":"a","content":"b"}}]}"#,
            // Keys with escapes match after unescaping.
            r#"{"ch\u006fices":[{"finish_reason":"stop"}]}"#,
            // A struct may be written as an array.
            r#"{"choices":[[{"content":"a"},"stop"]]}"#,
            // Types serde refuses.
            r#"{"choices":null}"#,
            r#"{"choices":{}}"#,
            r#"{"usage":5}"#,
            r#"{"choices":[{"delta":"text"}]}"#,
            // Nesting past the scan's limit.
            &format!(r#"{{"x":{}{}}}"#, "[".repeat(70), "]".repeat(70)),
        ] {
            assert_eq!(chat_chunk(data), None, "{data}");
            agrees(data);
        }
        for data in [
            // Nesting past the scan's limit.
            &format!(r#"{{"type":"a","x":{}{}}}"#, "[".repeat(70), "]".repeat(70)),
            // Duplicate fields are an error in serde.
            r#"{"type":"a","type":"a"}"#,
            r#"{"type":"a","sequence_number":1,"sequence_number":1}"#,
            // Escaped text is read unescaped.
            r#"{"type":"response.output_text\u002edelta"}"#,
            // Numbers a u64 does not take as written, and a missing type.
            r#"{"type":"a","sequence_number":1.0}"#,
            r#"{"type":"a","sequence_number":-1}"#,
            r#"{"type":"a","sequence_number":18446744073709551616}"#,
            r#"{"type":"a","sequence_number":"1"}"#,
            r#"{"sequence_number":1}"#,
            r#"{"type":null}"#,
        ] {
            assert_eq!(responses_event(data), None, "{data}");
            agrees(data);
        }
    }
}
