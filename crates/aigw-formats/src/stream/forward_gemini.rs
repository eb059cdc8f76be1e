//! Gemini and Antigravity streams forwarded to a Gemini client: each chunk's
//! bytes as they came (taken out of the Antigravity envelope), framed as the
//! client asked (SSE or the JSON array), and read only for usage, the finish
//! and errors.

use bytes::BytesMut;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::context::{Shared, Step};
use super::error::StreamError;
use super::from_gemini::upstream_error;
use super::to_gemini::Framer;
use super::wire::GeminiChunkIn;
use crate::sse::SseEvent;
use crate::{ErrorKind, Usage};

#[derive(Debug)]
pub(crate) struct GeminiForward {
    antigravity: bool,
    pub(crate) framer: Framer,
    /// A `finishReason` (or a blocked prompt) arrived.
    finished: bool,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default, borrow)]
    response: Option<&'a RawValue>,
}

impl GeminiForward {
    pub(crate) fn new(antigravity: bool) -> Self {
        Self {
            antigravity,
            framer: Framer::new(),
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
        out: &mut BytesMut,
    ) -> Result<Step, StreamError> {
        if let Some(error) = upstream_error(ev.data) {
            return Err(error);
        }
        let data = if self.antigravity {
            let envelope: Envelope<'_> =
                serde_json::from_str(ev.data).map_err(|e| StreamError::malformed(ev.event, &e))?;
            match envelope.response {
                Some(raw) => raw.get(),
                // An envelope-only chunk carries nothing for the client.
                None => return Ok(Step::Continue),
            }
        } else {
            ev.data
        };
        let chunk: GeminiChunkIn<'_> =
            serde_json::from_str(data).map_err(|e| StreamError::malformed(ev.event, &e))?;
        if let Some(usage) = &chunk.usage_metadata {
            sh.usage = Usage::from_gemini(usage);
        }
        if chunk.candidates.iter().any(|c| c.finish_reason.is_some())
            || (chunk.candidates.is_empty() && chunk.prompt_feedback.is_some())
        {
            self.finished = true;
        }
        self.framer.chunk(out, data.as_bytes());
        Ok(Step::Continue)
    }

    pub(crate) fn end(&mut self, out: &mut BytesMut) {
        self.framer.close(out);
    }

    pub(crate) fn fail(&mut self, kind: ErrorKind, message: &str, out: &mut BytesMut) {
        self.framer.fail(out, kind, message);
    }
}
