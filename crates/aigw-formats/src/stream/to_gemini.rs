//! Writes Gemini's `streamGenerateContent` grammar from neutral stream
//! events, and frames Gemini chunks in either of its two forms.
//!
//! Each chunk is a whole `GenerateContentResponse` with one candidate whose
//! parts are what arrived since the last chunk: text, `thought` text, and
//! function calls (sent whole, once their arguments are complete, as Gemini
//! does). The last chunk carries the `finishReason` and the `usageMetadata`.
//! A reasoning signature rides on the function call after the reasoning, or
//! on an empty thought part, as for whole responses.
//!
//! With `?alt=sse` each chunk is one `data:` event and nothing follows the
//! last; without it the chunks are the elements of one JSON array, written as
//! they come (`[{…}` then `,\n{…}`, closed by `]`). A failure after the first
//! byte is one more chunk, `{"error":{"code","message","status"}}`, which
//! Google's SDKs raise.

use bytes::{BufMut, BytesMut};
use serde_json::Value;

use super::context::Shared;
use super::error::StreamError;
use crate::gemini::{Candidate, Content, FunctionCall, GenerateContentResponse, Part};
use crate::response::to_gemini::thought;
use crate::{ErrorKind, Finish, Usage};

/// How Gemini chunks are put on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Framer {
    /// The JSON-array form (no `alt=sse`).
    array: bool,
    /// Chunks written so far.
    written: usize,
    closed: bool,
}

impl Framer {
    pub(crate) const fn new() -> Self {
        Self {
            array: false,
            written: 0,
            closed: false,
        }
    }

    pub(crate) fn set_array(&mut self, array: bool) {
        self.array = array;
    }

    /// Writes one chunk (a JSON object's bytes).
    pub(crate) fn chunk(&mut self, out: &mut BytesMut, json: &[u8]) {
        if self.closed {
            return;
        }
        if self.array {
            out.put_slice(if self.written == 0 { b"[" } else { b",\n" });
            out.put_slice(json);
        } else {
            crate::sse::write_event(out, None, json);
        }
        self.written += 1;
    }

    /// Serialises `value` and writes it as one chunk.
    pub(crate) fn json<T: serde::Serialize>(
        &mut self,
        out: &mut BytesMut,
        value: &T,
    ) -> Result<(), StreamError> {
        let json = serde_json::to_vec(value).map_err(|e| StreamError::Serialize {
            message: e.to_string(),
        })?;
        self.chunk(out, &json);
        Ok(())
    }

    /// Ends the stream: the array form closes its array (an empty one if no
    /// chunk was written); SSE needs nothing.
    pub(crate) fn close(&mut self, out: &mut BytesMut) {
        if self.closed {
            return;
        }
        self.closed = true;
        if self.array {
            out.put_slice(if self.written == 0 { b"[]" } else { b"\n]" });
        }
    }

    /// Ends the stream with a Google error object as its last chunk.
    pub(crate) fn fail(&mut self, out: &mut BytesMut, kind: ErrorKind, message: &str) {
        let body = crate::error_body(aigw_domain::Format::Gemini, kind, message, None);
        self.chunk(out, &body);
        self.close(out);
    }
}

#[derive(Debug)]
struct PendingCall {
    key: u32,
    id: String,
    name: String,
    arguments: String,
}

#[derive(Debug)]
pub(crate) struct GeminiEncoder {
    pub(crate) framer: Framer,
    /// Calls whose arguments may still be arriving.
    calls: Vec<PendingCall>,
    /// A signature waiting for the part it rides on.
    signature: Option<String>,
    /// The last part written was reasoning.
    thinking: bool,
    finish: Option<Finish>,
}

impl GeminiEncoder {
    pub(crate) fn new() -> Self {
        Self {
            framer: Framer::new(),
            calls: Vec::new(),
            signature: None,
            thinking: false,
            finish: None,
        }
    }

    pub(crate) fn finished(&self) -> bool {
        self.finish.is_some()
    }

    fn chunk(
        &mut self,
        sh: &Shared,
        parts: Vec<Part>,
        finish: Option<Finish>,
        usage: Option<Usage>,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        let chunk = GenerateContentResponse {
            candidates: vec![Candidate {
                content: (!parts.is_empty()).then(|| Content {
                    role: Some("model".to_owned()),
                    parts,
                }),
                finish_reason: finish.map(Finish::to_gemini),
                index: Some(0),
            }],
            usage_metadata: usage.map(|u| u.to_gemini()),
            model_version: Some(sh.ctx.model.clone()),
            response_id: Some(sh.response_id.clone()),
            prompt_feedback: None,
        };
        self.framer.json(out, &chunk)
    }

    /// Parts owed before new content: finished calls, and a signature none took.
    fn owed(&mut self) -> Result<Vec<Part>, StreamError> {
        let mut parts = Vec::new();
        for call in std::mem::take(&mut self.calls) {
            let args = if call.arguments.trim().is_empty() {
                Value::Object(serde_json::Map::new())
            } else {
                serde_json::from_str(&call.arguments).map_err(|e| StreamError::Malformed {
                    event: "tool call arguments".to_owned(),
                    message: e.to_string(),
                })?
            };
            parts.push(Part {
                function_call: Some(FunctionCall {
                    id: Some(call.id),
                    name: call.name,
                    args,
                }),
                thought_signature: self.signature.take(),
                ..Part::default()
            });
        }
        if let Some(signature) = self.signature.take() {
            parts.push(thought(String::new(), Some(signature)));
        }
        Ok(parts)
    }

    pub(crate) fn text(
        &mut self,
        sh: &Shared,
        text: &str,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        if text.is_empty() {
            return Ok(());
        }
        let mut parts = self.owed()?;
        parts.push(Part {
            text: Some(text.to_owned()),
            ..Part::default()
        });
        self.thinking = false;
        self.chunk(sh, parts, None, None, out)
    }

    pub(crate) fn thinking(
        &mut self,
        sh: &Shared,
        text: &str,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        if text.is_empty() {
            return Ok(());
        }
        let mut parts = self.owed()?;
        parts.push(thought(text.to_owned(), None));
        self.thinking = true;
        self.chunk(sh, parts, None, None, out)
    }

    /// Held for the next function call; a second one before it goes out first.
    pub(crate) fn signature(
        &mut self,
        sh: &Shared,
        signature: &str,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        if signature.is_empty() {
            return Ok(());
        }
        if self.signature.is_some() && self.calls.is_empty() {
            let parts = self.owed()?;
            self.chunk(sh, parts, None, None, out)?;
        }
        self.signature = Some(signature.to_owned());
        Ok(())
    }

    pub(crate) fn signature_if_thinking(
        &mut self,
        sh: &Shared,
        signature: &str,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        if self.thinking {
            self.signature(sh, signature, out)?;
        }
        Ok(())
    }

    pub(crate) fn tool_start(&mut self, key: u32, id: &str, name: &str) {
        if self.calls.iter().any(|c| c.key == key) {
            return;
        }
        self.thinking = false;
        self.calls.push(PendingCall {
            key,
            id: id.to_owned(),
            name: name.to_owned(),
            arguments: String::new(),
        });
    }

    pub(crate) fn tool_args(&mut self, key: u32, json: &str) {
        // Fragments of a call whose start was never seen have no name to go with.
        if let Some(call) = self.calls.iter_mut().find(|c| c.key == key) {
            call.arguments.push_str(json);
        }
    }

    /// The reason is kept for the last chunk, which also carries the usage
    /// (some upstreams report it after their finish event).
    pub(crate) fn finish(&mut self, finish: Finish) {
        if self.finish.is_none() {
            self.finish = Some(finish);
        }
    }

    pub(crate) fn end(&mut self, sh: &Shared, out: &mut BytesMut) -> Result<(), StreamError> {
        let finish = self.finish.unwrap_or(Finish::EndTurn);
        self.finish = Some(finish);
        let parts = self.owed()?;
        self.chunk(sh, parts, Some(finish), Some(sh.usage), out)?;
        self.framer.close(out);
        Ok(())
    }
}
