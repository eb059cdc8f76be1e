//! What the same-format OpenAI stream needs of a Chat Completions chunk, read by
//! one pass over its bytes instead of serde's generic walk.
//!
//! A chunk passes through unchanged, but every one is read: for an upstream
//! error, the usage, the finish reason and whether it carries content. That
//! read was most of the gateway's own work on a streamed request (serde
//! spends about 5,000 instructions on a 265-byte chunk). [`scan`] checks the
//! same JSON grammar in about 3,000 and answers only when the input is plain:
//! on anything it does not handle the same way serde would (a duplicate key,
//! a key with escapes, an array where an object is expected, a
//! type mismatch, a syntax error, nesting past [`MAX_DEPTH`]) it returns
//! `None`, and the caller parses the chunk with serde, which gives the
//! answer or the error it always gave. Tests compare the two on every prefix
//! and one-byte change of real chunks.

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

/// Deeper nesting is left to serde (whose own limit is 128).
const MAX_DEPTH: u32 = 64;

/// Reads `data` as a Chat Completions chunk; `None` when serde should.
pub(crate) fn scan(data: &str) -> Option<ChunkSummary> {
    let mut c = Cursor {
        s: data.as_bytes(),
        i: 0,
        escaped: false,
    };
    let mut out = ChunkSummary::default();
    let mut seen = [false; 3];
    c.object(|c, key| {
        let slot = match key {
            b"choices" => 0,
            b"usage" => 1,
            b"error" => 2,
            _ => return c.skip(1),
        };
        if std::mem::replace(&mut seen[slot], true) {
            return None;
        }
        match slot {
            0 => choices(c, &mut out),
            1 => {
                let start = c.at()?;
                if c.value(1)? != b'n' {
                    let raw = std::str::from_utf8(c.s.get(start..c.i)?).ok()?;
                    out.usage = Some(serde_json::from_str(raw).ok()?);
                }
                Some(())
            }
            _ => {
                out.error = c.value(1)? != b'n';
                Some(())
            }
        }
    })?;
    if c.at().is_some() {
        return None;
    }
    Some(out)
}

/// `"choices": [ {…}, … ]`.
fn choices(c: &mut Cursor<'_>, out: &mut ChunkSummary) -> Option<()> {
    if c.peek()? != b'[' {
        return None;
    }
    c.i += 1;
    if c.peek()? == b']' {
        c.i += 1;
        return Some(());
    }
    out.has_choices = true;
    loop {
        choice(c, out)?;
        match c.peek()? {
            b',' => c.i += 1,
            b']' => {
                c.i += 1;
                return Some(());
            }
            _ => return None,
        }
    }
}

/// One choice: its `delta` and `finish_reason`.
fn choice(c: &mut Cursor<'_>, out: &mut ChunkSummary) -> Option<()> {
    let mut seen = [false; 2];
    c.object(|c, key| match key {
        b"delta" => {
            if std::mem::replace(&mut seen[0], true) {
                return None;
            }
            if c.peek()? == b'n' {
                return c.literal(b"null");
            }
            delta(c, out)
        }
        b"finish_reason" => {
            if std::mem::replace(&mut seen[1], true) {
                return None;
            }
            out.finished |= c.value(3)? != b'n';
            Some(())
        }
        _ => c.skip(3),
    })
}

/// A choice's `delta`: whether it carries anything a client would show.
fn delta(c: &mut Cursor<'_>, out: &mut ChunkSummary) -> Option<()> {
    let mut seen = [false; 4];
    c.object(|c, key| {
        let slot = match key {
            b"content" => 0,
            b"reasoning_content" => 1,
            b"refusal" => 2,
            b"tool_calls" => 3,
            _ => return c.skip(4),
        };
        if std::mem::replace(&mut seen[slot], true) {
            return None;
        }
        let start = c.at()?;
        let first = c.value(4)?;
        let raw = c.s.get(start..c.i)?;
        // Tool calls count whatever they hold; text only when not empty.
        out.content |= if slot == 3 {
            first != b'n'
        } else {
            raw != b"\"\"" && raw != b"null"
        };
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
            b'{' | b'[' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                let close = if first == b'{' { b'}' } else { b']' };
                self.i += 1;
                if self.peek()? == close {
                    self.i += 1;
                    return Some(first);
                }
                loop {
                    if first == b'{' {
                        if self.peek()? != b'"' {
                            return None;
                        }
                        self.string()?;
                        if self.peek()? != b':' {
                            return None;
                        }
                        self.i += 1;
                    }
                    self.value(depth + 1)?;
                    match self.peek()? {
                        b',' => self.i += 1,
                        b if b == close => {
                            self.i += 1;
                            break;
                        }
                        _ => return None,
                    }
                }
            }
            b't' => self.literal(b"true")?,
            b'f' => self.literal(b"false")?,
            b'n' => self.literal(b"null")?,
            _ => self.number()?,
        }
        Some(first)
    }

    /// An object, `on_key` called at each value with its key. Keys with
    /// escapes are left to serde, which matches them after unescaping.
    #[inline]
    fn object(&mut self, mut on_key: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        if self.peek()? != b'{' {
            return None;
        }
        self.i += 1;
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            if self.peek()? != b'"' {
                return None;
            }
            let key = self.string()?;
            if self.escaped || self.peek()? != b':' {
                return None;
            }
            self.i += 1;
            on_key(self, key)?;
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
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
    use super::super::passthrough::read_chat_chunk;
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

    fn agrees(data: &str) {
        let serde = read_chat_chunk(data);
        match (scan(data), &serde) {
            (None, _) => {}
            (Some(fast), Ok(slow)) => assert_eq!(&fast, slow, "{data:?}"),
            (Some(fast), Err(e)) => panic!("scan read {fast:?} where serde failed ({e}): {data:?}"),
        }
    }

    #[test]
    fn plain_chunks_are_read_without_serde_and_as_serde_reads_them() {
        for chunk in CHUNKS {
            let fast = scan(chunk);
            assert!(fast.is_some(), "left to serde: {chunk}");
            agrees(chunk);
        }
        let usage = scan(CHUNKS[8]).and_then(|c| c.usage);
        assert_eq!(usage.map(|u| u.total_tokens), Some(39));
    }

    #[test]
    fn every_prefix_and_one_byte_change_reads_as_serde_reads_it() {
        for chunk in CHUNKS {
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
            assert_eq!(scan(data), None, "{data}");
            agrees(data);
        }
    }
}
