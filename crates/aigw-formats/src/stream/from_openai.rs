//! Reads an OpenAI Chat Completions stream (`chat.completion.chunk`s) into
//! neutral stream events for another client format.

use bytes::BytesMut;

use super::context::{Shared, Step};
use super::encoder::Encoder;
use super::error::{MidStreamError, StreamError};
use super::wire::ChunkIn;
use crate::openai::ErrorBody;
use crate::sse::SseEvent;
use crate::{Finish, Usage, ids};

#[derive(Debug, Default)]
pub(crate) struct OpenAiDecoder {
    /// A `finish_reason` arrived: the message is complete even without `[DONE]`.
    finished: bool,
    /// Upstream tool call indices already started.
    started: Vec<u32>,
}

impl OpenAiDecoder {
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
        let data = ev.data.trim_ascii();
        if data == "[DONE]" {
            return Ok(Step::End);
        }
        if let Some(error) = upstream_error(data) {
            return Err(error);
        }
        let chunk: ChunkIn<'_> =
            serde_json::from_str(data).map_err(|e| StreamError::malformed(ev.event, &e))?;
        if let Some(usage) = &chunk.usage {
            sh.usage = Usage::from_openai(usage);
        }
        // Only the first choice is translated: other formats have no `n`.
        let Some(choice) = chunk.choices.into_iter().find(|c| c.index == 0) else {
            return Ok(Step::Continue);
        };
        let Some(delta) = choice.delta else {
            return self.on_finish(choice.finish_reason, sh, enc, out);
        };
        if let Some(reasoning) = &delta.reasoning_content {
            enc.thinking(sh, reasoning, out)?;
        }
        if let Some(text) = &delta.content {
            enc.text(sh, text, out)?;
        }
        if let Some(refusal) = &delta.refusal {
            enc.text(sh, refusal, out)?;
        }
        for call in delta.tool_calls.iter().flatten() {
            let key = call.index;
            let function = call.function.as_ref();
            if !self.started.contains(&key) {
                // A call starts with its name; its id too, unless the server
                // omits it, in which case one is made up so the client can answer.
                let Some(name) = function.and_then(|f| f.name.as_deref()) else {
                    continue;
                };
                self.started.push(key);
                let id = match call.id.as_deref() {
                    Some(id) if !id.is_empty() => std::borrow::Cow::Borrowed(id),
                    _ => ids::tool_call_id(sh.client, &sh.ctx.request_id, key as usize).into(),
                };
                enc.tool_start(sh, key, &id, name, out)?;
            }
            if let Some(args) = function.and_then(|f| f.arguments.as_deref()) {
                enc.tool_args(sh, key, args, out)?;
            }
        }
        self.on_finish(choice.finish_reason, sh, enc, out)
    }

    fn on_finish(
        &mut self,
        reason: Option<crate::openai::FinishReason>,
        sh: &Shared,
        enc: &mut Encoder,
        out: &mut BytesMut,
    ) -> Result<Step, StreamError> {
        if let Some(reason) = reason {
            self.finished = true;
            enc.finish(sh, Finish::from_openai(reason), None, out)?;
        }
        Ok(Step::Continue)
    }
}

/// The error an OpenAI-compatible server sends as a stream chunk
/// (`{"error":{…}}`), if `data` is one. The key is looked for before parsing so
/// that ordinary chunks pay only a substring search.
pub(crate) fn upstream_error(data: &str) -> Option<StreamError> {
    memchr::memmem::find(data.as_bytes(), b"\"error\"")?;
    /// Compatible servers do not all send an error object; some send a string.
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Payload {
        Object(ErrorBody),
        Text { error: String },
    }
    let error = match serde_json::from_str(data).ok()? {
        Payload::Object(body) => MidStreamError {
            kind: super::error::kind_from_openai(&body.error),
            message: body.error.message,
        },
        Payload::Text { error } => MidStreamError {
            kind: crate::ErrorKind::Api,
            message: error,
        },
    };
    Some(StreamError::Upstream(error))
}
