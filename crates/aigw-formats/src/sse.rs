//! Incremental Server-Sent Events parser and writer.
//!
//! The parser follows the WHATWG `text/event-stream` rules: lines end in LF,
//! CRLF or CR; a line starting with `:` is a comment; `field: value` strips one
//! leading space from the value; `data:` lines accumulate joined by LF; a blank
//! line dispatches the event when it carried any `data:` field. It is fed
//! arbitrary byte chunks, so an event (or a CRLF pair) may be split anywhere.
//! [`SseParser::finish`] flushes a final event that lacks its trailing blank line,
//! which real upstreams send when they close the connection early.
//!
//! Memory is bounded: the bytes held for one event (its fields plus the
//! unterminated line being read) may not exceed `max_event_size`, so a hostile
//! upstream cannot make the gateway grow without limit.

use bytes::{Buf, BufMut, BytesMut};

/// The default limit on one event's size. Gemini can return generated images as
/// inline base64 in a single event, so this is generous.
pub const DEFAULT_MAX_EVENT_SIZE: usize = 16 * 1024 * 1024;

/// A failure of the SSE parser.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// One event (or one line) grew past the configured limit.
    #[error("server-sent event larger than {limit} bytes")]
    EventTooLarge {
        /// The configured limit, in bytes.
        limit: usize,
    },
}

/// One dispatched event, borrowed from the parser until the next call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseEvent<'a> {
    /// The `event:` field, if the event had a non-empty one (otherwise the
    /// event's type is `message`).
    pub event: Option<&'a str>,
    /// The `data:` lines joined with LF.
    pub data: &'a str,
    /// The `id:` field, if this event set one.
    pub id: Option<&'a str>,
    /// The `retry:` field, if this event set a valid one (milliseconds).
    pub retry: Option<u64>,
}

/// An incremental SSE parser. Feed bytes with [`push`](Self::push), pull events
/// with [`next_event`](Self::next_event), and call [`finish`](Self::finish) at end
/// of stream.
#[derive(Debug)]
pub struct SseParser {
    /// Input not yet split into lines.
    buf: BytesMut,
    /// The event being assembled; a separate struct so that a line can be read
    /// from `buf` while the fields are written, without copying the line.
    fields: Fields,
    /// The previous call returned an event borrowing the fields: clear them first.
    dispatched: bool,
    /// The last line ended in CR: a LF at the start of the next input belongs to it.
    skip_lf: bool,
    /// Nothing has been read yet: a UTF-8 byte order mark may still be skipped.
    at_start: bool,
    /// [`SseParser::finish`] has terminated the input.
    finished: bool,
}

/// The fields of the event being assembled.
#[derive(Debug)]
struct Fields {
    /// Data lines joined with LF.
    data: Vec<u8>,
    /// The dispatched event's data, moved out of `data` as it is checked for
    /// UTF-8 (once) and moved back, emptied, when the next event starts.
    text: String,
    event: Vec<u8>,
    id: Vec<u8>,
    has_data: bool,
    has_id: bool,
    retry: Option<u64>,
    max_event_size: usize,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::new()
    }
}

impl SseParser {
    /// A parser with [`DEFAULT_MAX_EVENT_SIZE`].
    pub fn new() -> Self {
        Self::with_max_event_size(DEFAULT_MAX_EVENT_SIZE)
    }

    /// A parser that rejects events (and lines) larger than `max_event_size` bytes.
    pub fn with_max_event_size(max_event_size: usize) -> Self {
        Self {
            buf: BytesMut::with_capacity(8 * 1024),
            fields: Fields {
                data: Vec::with_capacity(1024),
                text: String::new(),
                event: Vec::new(),
                id: Vec::new(),
                has_data: false,
                has_id: false,
                retry: None,
                max_event_size,
            },
            dispatched: false,
            skip_lf: false,
            at_start: true,
            finished: false,
        }
    }

    /// Appends a chunk of the stream. Events are then pulled with
    /// [`next_event`](Self::next_event) until it returns `None`.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The number of bytes held by the parser (input not yet consumed and the
    /// fields of the event being assembled). Once every event has been pulled,
    /// this is at most `max_event_size`.
    pub fn buffered_len(&self) -> usize {
        self.buf.len() + self.fields.stored_len()
    }

    /// The next complete event in the input pushed so far, if any.
    ///
    /// # Errors
    /// [`SseError::EventTooLarge`] when an event or a line exceeds the limit. The
    /// parser should not be used after an error.
    pub fn next_event(&mut self) -> Result<Option<SseEvent<'_>>, SseError> {
        if self.dispatched {
            self.fields.reset();
            self.dispatched = false;
        }
        if self.at_start {
            // The spec lets a stream start with one UTF-8 BOM; wait until three
            // bytes are present to decide.
            const BOM: &[u8] = b"\xEF\xBB\xBF";
            let n = self.buf.len().min(BOM.len());
            if self.buf[..n] != BOM[..n] {
                self.at_start = false;
            } else if n == BOM.len() {
                self.buf.advance(BOM.len());
                self.at_start = false;
            } else {
                return Ok(None);
            }
        }
        // Lines are read in place and the buffer advanced once, past every
        // line read, when this call returns.
        let mut pos = 0;
        let found = loop {
            let rest = &self.buf[pos..];
            if rest.is_empty() {
                break false;
            }
            if self.skip_lf {
                self.skip_lf = false;
                if rest[0] == b'\n' {
                    pos += 1;
                    continue;
                }
            }
            let Some(end) = memchr::memchr2(b'\n', b'\r', rest) else {
                if rest.len() + self.fields.stored_len() > self.fields.max_event_size {
                    return Err(self.fields.too_large());
                }
                break false;
            };
            let line = &rest[..end];
            // Counting the whole line (not just the value kept) makes the limit
            // trip at the same line however the input is chunked.
            if line.len() + self.fields.stored_len() > self.fields.max_event_size {
                return Err(self.fields.too_large());
            }
            self.skip_lf = rest[end] == b'\r';
            pos += end + 1;
            if self.fields.process_line(line) {
                break true;
            }
        };
        self.buf.advance(pos);
        if found {
            self.dispatched = true;
            return self.fields.dispatch().map(Some);
        }
        Ok(None)
    }

    /// Ends the stream: a last line without a line end is read, and an event
    /// without its trailing blank line is dispatched. Like
    /// [`next_event`](Self::next_event), it returns one event per call; call it
    /// until it returns `None` (once, if every event was already pulled).
    ///
    /// # Errors
    /// [`SseError::EventTooLarge`] as for [`next_event`](Self::next_event).
    pub fn finish(&mut self) -> Result<Option<SseEvent<'_>>, SseError> {
        if !self.finished {
            self.finished = true;
            // Terminate a partial last line, then add the blank line that
            // dispatches the pending event. A CR that ended the last line must
            // not swallow the LF added here.
            self.skip_lf = false;
            if self.buf.is_empty() {
                self.buf.extend_from_slice(b"\n");
            } else {
                self.buf.extend_from_slice(b"\n\n");
            }
        }
        self.next_event()
    }
}

impl Fields {
    fn stored_len(&self) -> usize {
        self.data.len() + self.text.len() + self.event.len() + self.id.len()
    }

    fn too_large(&self) -> SseError {
        SseError::EventTooLarge {
            limit: self.max_event_size,
        }
    }

    fn reset(&mut self) {
        if self.text.capacity() > 0 {
            // Keep the buffer the data was moved out in.
            self.data = std::mem::take(&mut self.text).into_bytes();
        }
        self.data.clear();
        self.event.clear();
        self.id.clear();
        self.has_data = false;
        self.has_id = false;
        self.retry = None;
        // Hand back memory after an exceptionally large event, so one big
        // image does not pin megabytes for the rest of a long stream.
        if self.data.capacity() > 1 << 20 {
            self.data = Vec::with_capacity(1024);
        }
    }

    /// Applies one line; returns whether it completes an event to dispatch.
    /// The caller has checked that the line fits in the event size limit, and
    /// a field never stores more than its line, so the fields stay bounded.
    fn process_line(&mut self, line: &[u8]) -> bool {
        let Some(&first) = line.first() else {
            if self.has_data {
                return true;
            }
            // A blank line ending an event with no data dispatches nothing and
            // forgets the event's other fields.
            self.reset();
            return false;
        };
        if first == b':' {
            return false;
        }
        let (name, value) = match memchr::memchr(b':', line) {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match name {
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"event" => {
                self.event.clear();
                self.event.extend_from_slice(value);
            }
            // The spec ignores an id containing NUL.
            b"id" if memchr::memchr(0, value).is_none() => {
                self.id.clear();
                self.id.extend_from_slice(value);
                self.has_id = true;
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                // Digits only, so parsing can only fail on overflow: saturate.
                self.retry = Some(
                    std::str::from_utf8(value)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(u64::MAX),
                );
            }
            // Unknown fields are ignored, as the spec says.
            _ => {}
        }
        false
    }

    fn dispatch(&mut self) -> Result<SseEvent<'_>, SseError> {
        // The data is checked as it moves into a `String`, so it is read once;
        // the short `event` and `id` fields are checked in place.
        self.text = match String::from_utf8(std::mem::take(&mut self.data)) {
            Ok(text) => text,
            Err(invalid) => String::from_utf8_lossy(invalid.as_bytes()).into_owned(),
        };
        make_utf8(&mut self.event);
        make_utf8(&mut self.id);
        // U+FFFD takes three bytes where an invalid byte took one: the limit
        // is checked again so that it holds for what is handed out.
        if self.stored_len() > self.max_event_size {
            return Err(self.too_large());
        }
        Ok(SseEvent {
            event: (!self.event.is_empty()).then(|| as_str(&self.event)),
            data: &self.text,
            id: self.has_id.then(|| as_str(&self.id)),
            retry: self.retry,
        })
    }
}

/// Replaces invalid UTF-8 with U+FFFD in place, as the spec's decoder does.
/// Valid input (the normal case) is only checked, never copied.
fn make_utf8(bytes: &mut Vec<u8>) {
    if std::str::from_utf8(bytes).is_err() {
        let fixed = String::from_utf8_lossy(bytes).into_owned();
        *bytes = fixed.into_bytes();
    }
}

/// Views bytes already made valid UTF-8 by [`make_utf8`].
fn as_str(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or_default()
}

/// Writes one event: an optional `event:` line, the data as `data:` lines (one
/// per line of `data`), and the blank line that ends it.
pub fn write_event(out: &mut BytesMut, event: Option<&str>, data: &[u8]) {
    out.reserve(data.len() + event.map_or(0, str::len) + 16);
    if let Some(event) = event {
        out.put_slice(b"event: ");
        out.put_slice(event.as_bytes());
        out.put_u8(b'\n');
    }
    // Compact JSON never holds a raw line end, so the common case is one line.
    let mut rest = data;
    loop {
        match memchr::memchr2(b'\n', b'\r', rest) {
            Some(i) => {
                out.put_slice(b"data: ");
                out.put_slice(&rest[..i]);
                out.put_u8(b'\n');
                let skip = if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                rest = &rest[i + skip..];
            }
            None => {
                out.put_slice(b"data: ");
                out.put_slice(rest);
                out.put_slice(b"\n\n");
                return;
            }
        }
    }
}

/// Writes one event whose data is `value` serialised as compact JSON, straight
/// into `out` without an intermediate buffer.
///
/// # Errors
/// The serialiser's error if `value` cannot be represented as JSON (for example
/// a map with non-string keys); `out` is then left as it was.
pub fn write_json_event<T: serde::Serialize + ?Sized>(
    out: &mut BytesMut,
    event: Option<&str>,
    value: &T,
) -> Result<(), serde_json::Error> {
    let start = out.len();
    if let Some(event) = event {
        out.put_slice(b"event: ");
        out.put_slice(event.as_bytes());
        out.put_u8(b'\n');
    }
    out.put_slice(b"data: ");
    if let Err(e) = serde_json::to_writer(out.writer(), value) {
        out.truncate(start);
        return Err(e);
    }
    out.put_slice(b"\n\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Owned {
        event: Option<String>,
        data: String,
        id: Option<String>,
        retry: Option<u64>,
    }

    fn own(e: SseEvent<'_>) -> Owned {
        Owned {
            event: e.event.map(str::to_owned),
            data: e.data.to_owned(),
            id: e.id.map(str::to_owned),
            retry: e.retry,
        }
    }

    fn ev(event: Option<&str>, data: &str) -> Owned {
        Owned {
            event: event.map(str::to_owned),
            data: data.to_owned(),
            id: None,
            retry: None,
        }
    }

    fn parse_chunks(chunks: &[&[u8]]) -> Vec<Owned> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in chunks {
            p.push(c);
            while let Some(e) = p.next_event().unwrap() {
                out.push(own(e));
            }
        }
        while let Some(e) = p.finish().unwrap() {
            out.push(own(e));
        }
        out
    }

    /// Parses `input` whole, then split at every offset and byte by byte, and
    /// checks all give the same events.
    fn parse_all_ways(input: &[u8]) -> Vec<Owned> {
        let whole = parse_chunks(&[input]);
        for i in 0..=input.len() {
            assert_eq!(
                parse_chunks(&[&input[..i], &input[i..]]),
                whole,
                "split at {i}"
            );
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(parse_chunks(&bytes), whole, "byte by byte");
        whole
    }

    #[test]
    fn several_events_in_one_chunk() {
        let got = parse_all_ways(b"data: a\n\ndata: b\n\nevent: x\ndata: c\n\n");
        assert_eq!(got, vec![ev(None, "a"), ev(None, "b"), ev(Some("x"), "c")]);
    }

    #[test]
    fn line_ends_lf_crlf_and_cr() {
        let want = vec![ev(Some("e"), "1"), ev(None, "2"), ev(None, "3")];
        assert_eq!(
            parse_all_ways(b"event: e\r\ndata: 1\r\n\r\ndata: 2\r\rdata: 3\n\n"),
            want
        );
        assert_eq!(
            parse_all_ways(b"event: e\rdata: 1\r\rdata: 2\n\ndata: 3\r\n\r\n"),
            want
        );
    }

    #[test]
    fn cr_then_lf_in_next_chunk_is_one_line_end() {
        let got = parse_chunks(&[b"data: a\r", b"\n", b"\r", b"\ndata: b\r\n\r\n"]);
        assert_eq!(got, vec![ev(None, "a"), ev(None, "b")]);
    }

    #[test]
    fn comments_are_ignored() {
        let got = parse_all_ways(b": keep-alive\n\n:\ndata: x\n: inside\n\n");
        assert_eq!(got, vec![ev(None, "x")]);
    }

    #[test]
    fn multi_line_data_joined_with_lf() {
        let got = parse_all_ways(b"data: {\ndata:  \"a\": 1\ndata\ndata: }\n\n");
        assert_eq!(got, vec![ev(None, "{\n \"a\": 1\n\n}")]);
    }

    #[test]
    fn only_one_leading_space_is_stripped_and_no_colon_means_empty_value() {
        let got = parse_all_ways(b"data:x\n\ndata:  y\n\ndata\n\n");
        assert_eq!(got, vec![ev(None, "x"), ev(None, " y"), ev(None, "")]);
    }

    #[test]
    fn id_and_retry_fields() {
        let got =
            parse_all_ways(b"id: 7\nretry: 1500\ndata: x\n\nretry: 1.5\nid: a\0b\ndata: y\n\n");
        assert_eq!(
            got,
            vec![
                Owned {
                    event: None,
                    data: "x".into(),
                    id: Some("7".into()),
                    retry: Some(1500)
                },
                ev(None, "y"),
            ]
        );
    }

    #[test]
    fn event_without_data_is_not_dispatched_and_its_type_is_forgotten() {
        let got = parse_all_ways(b"event: ping\n\ndata: x\n\n");
        assert_eq!(got, vec![ev(None, "x")]);
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let got = parse_all_ways(b"foo: bar\ndata: x\nDATA: y\n\n");
        assert_eq!(got, vec![ev(None, "x")]);
    }

    #[test]
    fn final_event_without_blank_line_is_flushed_by_finish() {
        assert_eq!(
            parse_all_ways(b"data: a\n\ndata: b\n"),
            vec![ev(None, "a"), ev(None, "b")]
        );
        assert_eq!(
            parse_all_ways(b"data: a\n\nevent: e\ndata: b"),
            vec![ev(None, "a"), ev(Some("e"), "b")]
        );
        assert_eq!(parse_all_ways(b"data: a\r"), vec![ev(None, "a")]);
    }

    #[test]
    fn leading_bom_is_skipped_once() {
        assert_eq!(
            parse_all_ways(b"\xEF\xBB\xBFdata: a\n\n"),
            vec![ev(None, "a")]
        );
        // A BOM anywhere else is part of the field name, which is then unknown.
        assert_eq!(
            parse_all_ways(b"data: a\n\n\xEF\xBB\xBFdata: b\n\n"),
            vec![ev(None, "a")]
        );
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        assert_eq!(
            parse_all_ways(b"data: a\xFFb\n\n"),
            vec![ev(None, "a\u{FFFD}b")]
        );
    }

    #[test]
    fn oversized_line_is_an_error_before_its_end_arrives() {
        let mut p = SseParser::with_max_event_size(16);
        p.push(b"data: 0123456789");
        assert_eq!(p.next_event().unwrap(), None);
        p.push(b"abcdef");
        assert_eq!(p.next_event(), Err(SseError::EventTooLarge { limit: 16 }));
    }

    #[test]
    fn oversized_event_over_many_lines_is_an_error() {
        let mut p = SseParser::with_max_event_size(16);
        p.push(b"data: 0123456\ndata: 0123456\ndata: 0\n");
        assert_eq!(p.next_event(), Err(SseError::EventTooLarge { limit: 16 }));
    }

    #[test]
    fn replacement_characters_count_against_the_limit() {
        // The line (12 bytes) fits in 16; its five U+FFFD and "ab" (17 bytes) do not.
        let mut p = SseParser::with_max_event_size(16);
        p.push(b"data:\xFF\xFF\xFF\xFF\xFFab\n\n");
        assert_eq!(p.next_event(), Err(SseError::EventTooLarge { limit: 16 }));
        let mut p = SseParser::with_max_event_size(16);
        p.push(b"data:\xFFab\n\n");
        assert_eq!(p.next_event().unwrap().unwrap().data, "\u{FFFD}ab");
    }

    #[test]
    fn memory_stays_bounded_across_many_events() {
        let mut p = SseParser::with_max_event_size(64);
        for _ in 0..10_000 {
            p.push(b"data: {\"a\":1}\n\n: c\n\n");
            while p.next_event().unwrap().is_some() {}
            assert!(p.buffered_len() <= 64);
        }
    }

    #[test]
    fn writer_output_parses_back() {
        let mut out = BytesMut::new();
        write_event(&mut out, Some("message_start"), b"{\"a\":1}");
        write_event(&mut out, None, b"line1\nline2\r\nline3\rend");
        write_json_event(&mut out, Some("x"), &serde_json::json!({"k": "v\nw"})).unwrap();
        assert_eq!(
            &out[..],
            b"event: message_start\ndata: {\"a\":1}\n\ndata: line1\ndata: line2\ndata: line3\ndata: end\n\nevent: x\ndata: {\"k\":\"v\\nw\"}\n\n"
        );
        assert_eq!(
            parse_all_ways(&out),
            vec![
                ev(Some("message_start"), "{\"a\":1}"),
                ev(None, "line1\nline2\nline3\nend"),
                ev(Some("x"), "{\"k\":\"v\\nw\"}"),
            ]
        );
    }
}
