//! Reads a Gemini `streamGenerateContent?alt=sse` stream, or Antigravity's
//! (the same chunks wrapped in `{"response": …}`), into neutral stream events.
//!
//! Gemini sends whole function calls (never argument fragments), so each
//! becomes a complete tool call with a stable generated id when Gemini gives
//! none; `STOP` after a function call means the model wants tool results; a
//! thought signature rides on whichever part it came with.

use bytes::BytesMut;

use super::context::{Shared, Step};
use super::encoder::Encoder;
use super::error::{MidStreamError, StreamError};
use super::wire::{AntigravityChunkIn, GeminiChunkIn};
use crate::gemini::ErrorBody;
use crate::sse::SseEvent;
use crate::{Finish, Usage, ids};

#[derive(Debug)]
pub(crate) struct GeminiDecoder {
    /// Chunks are wrapped in the Antigravity envelope.
    antigravity: bool,
    /// Function calls seen so far: the next call's key and id seed.
    calls: u32,
    /// A `finishReason` arrived: Gemini ends the stream after it.
    finished: bool,
}

impl GeminiDecoder {
    pub(crate) fn new(antigravity: bool) -> Self {
        Self {
            antigravity,
            calls: 0,
            finished: false,
        }
    }

    pub(crate) fn complete(&self) -> bool {
        self.finished
    }

    pub(crate) fn on_event(
        &mut self,
        ev: &SseEvent<'_>,
        sh: &mut Shared,
        enc: &mut Encoder,
        out: &mut BytesMut,
    ) -> Result<Step, StreamError> {
        if let Some(error) = upstream_error(ev.data) {
            return Err(error);
        }
        let chunk = if self.antigravity {
            serde_json::from_str::<AntigravityChunkIn<'_>>(ev.data).map(|r| r.response)
        } else {
            serde_json::from_str::<GeminiChunkIn<'_>>(ev.data)
        }
        .map_err(|e| StreamError::malformed(ev.event, &e))?;
        if let Some(usage) = &chunk.usage_metadata {
            sh.usage = Usage::from_gemini(usage);
        }
        // Only the first candidate is translated: other formats have no `candidateCount`.
        let Some(candidate) = chunk
            .candidates
            .into_iter()
            .find(|c| c.index.unwrap_or(0) == 0)
        else {
            // No candidate but feedback: the prompt was blocked, and nothing
            // more will come. As for whole responses, that is a content filter.
            if chunk.prompt_feedback.is_some() && !self.finished {
                self.finished = true;
                enc.finish(sh, Finish::ContentFilter, None, out)?;
            }
            return Ok(Step::Continue);
        };
        for part in candidate.content.into_iter().flat_map(|c| c.parts) {
            let signature = part.thought_signature.as_deref().unwrap_or("");
            if part.thought == Some(true) {
                enc.thinking(sh, part.text.as_deref().unwrap_or(""), out)?;
                enc.signature(sh, signature, out)?;
                continue;
            }
            if let Some(call) = part.function_call {
                // A function call's signature must come back with it next turn:
                // it rides on the thinking block before the call (an empty one
                // if there is none), as for whole responses.
                enc.signature(sh, signature, out)?;
                self.on_call(call, sh, enc, out)?;
            } else if let Some(text) = &part.text {
                // Signatures on text are optional to send back; one is kept
                // only when it can close the reasoning it signs.
                enc.signature_if_thinking(sh, signature, out)?;
                enc.text(sh, text, out)?;
            }
            // Inline images and other parts have no place in a chat stream.
        }
        if let Some(reason) = candidate.finish_reason {
            self.finished = true;
            enc.finish(sh, Finish::from_gemini(reason, self.calls > 0), None, out)?;
        }
        Ok(Step::Continue)
    }

    /// A function call, whole: its start (an id made up when Gemini gave
    /// none) and its arguments as one fragment.
    fn on_call(
        &mut self,
        call: crate::gemini::FunctionCall,
        sh: &mut Shared,
        enc: &mut Encoder,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        let key = self.calls;
        self.calls += 1;
        let id = match call.id {
            Some(id) if !id.is_empty() => id,
            _ => ids::tool_call_id(sh.client, &sh.ctx.request_id, key as usize),
        };
        enc.tool_start(sh, key, &id, &call.name, out)?;
        let args = match &call.args {
            serde_json::Value::Object(_) => call.args.to_string(),
            serde_json::Value::Null => "{}".to_owned(),
            // Tool input is an object everywhere else; wrap as whole responses do.
            other => serde_json::json!({ "value": other }).to_string(),
        };
        enc.tool_args(sh, key, &args, out)
    }
}

/// The Google error object an upstream may send as a stream event, if `data` is one.
pub(super) fn upstream_error(data: &str) -> Option<StreamError> {
    memchr::memmem::find(data.as_bytes(), b"\"error\"")?;
    let body: ErrorBody = serde_json::from_str(data)
        .ok()
        // Antigravity may wrap it like any other chunk.
        .or_else(|| {
            #[derive(serde::Deserialize)]
            struct Wrapped {
                response: ErrorBody,
            }
            serde_json::from_str::<Wrapped>(data)
                .ok()
                .map(|w| w.response)
        })?;
    Some(StreamError::Upstream(MidStreamError {
        kind: super::error::kind_from_gemini(&body.error),
        message: body.error.message,
    }))
}
