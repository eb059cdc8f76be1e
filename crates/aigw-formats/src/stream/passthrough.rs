//! Same-format streams: each upstream event is forwarded with its data bytes
//! untouched, so fields this gateway does not know survive. Events are still
//! read, without building the full typed event, for usage, for the stop reason
//! and for errors. The preamble (OpenAI's role-only chunk, Anthropic's
//! `message_start` and `ping`) is held back until content arrives so that an
//! upstream error before any content can still be failed over. For OpenAI the
//! usage-only chunk is dropped when the client did not ask for it (the gateway
//! always asks the upstream, to record usage). For Responses the held preamble
//! is `response.created` and `response.in_progress`, and the last
//! `sequence_number` is kept so that a failure written by the gateway
//! continues the upstream's numbering.

use bytes::{BufMut, BytesMut};
use serde::Deserialize;

use super::context::{Shared, Step};
use super::error::{MidStreamError, StreamError};
use super::scan;
use crate::anthropic::{self, ErrorDetail, MessageDeltaUsage, StopReason};
use crate::responses::{OutputItem, ResponseObject, ResponseStatus, ResponseUsage};
use crate::sse::SseEvent;
use crate::{ErrorKind, Usage, sse};

/// Past this many held bytes the preamble is released anyway: holding is an
/// optimisation for failover, not a reason to buffer.
const MAX_HELD: usize = 64 * 1024;

#[derive(Debug)]
pub(crate) struct Passthrough {
    dialect: Dialect,
    /// Events held back until the first content.
    held: BytesMut,
    released: bool,
    /// The upstream said how the message ended.
    finished: bool,
    /// The upstream's own end marker was forwarded.
    ended: bool,
}

#[derive(Debug)]
enum Dialect {
    OpenAi {
        include_usage: bool,
    },
    Anthropic {
        usage: anthropic::Usage,
    },
    Responses {
        /// The `sequence_number` after the last forwarded event.
        next_seq: u64,
        /// The upstream's response shell, from `response.created`.
        shell: Option<ResponseObject>,
    },
}

#[derive(Deserialize)]
struct ResponsesUsagePeek {
    #[serde(default)]
    usage: Option<ResponseUsage>,
}

#[derive(Deserialize)]
struct AnthropicStartPeek {
    message: AnthropicStartMessage,
}

#[derive(Deserialize)]
struct AnthropicStartMessage {
    #[serde(default)]
    usage: anthropic::Usage,
}

#[derive(Deserialize)]
struct AnthropicDeltaPeek {
    #[serde(default)]
    delta: AnthropicDeltaReason,
    #[serde(default)]
    usage: MessageDeltaUsage,
}

#[derive(Deserialize, Default)]
struct AnthropicDeltaReason {
    #[serde(default)]
    stop_reason: Option<StopReason>,
}

#[derive(Deserialize)]
struct AnthropicErrorPeek {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct TypePeek<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
}

impl Passthrough {
    pub(crate) fn openai(include_usage: bool) -> Self {
        Self::with(Dialect::OpenAi { include_usage })
    }

    pub(crate) fn anthropic() -> Self {
        Self::with(Dialect::Anthropic {
            usage: anthropic::Usage::default(),
        })
    }

    pub(crate) fn responses() -> Self {
        Self::with(Dialect::Responses {
            next_seq: 0,
            shell: None,
        })
    }

    fn with(dialect: Dialect) -> Self {
        Self {
            dialect,
            held: BytesMut::new(),
            released: false,
            finished: false,
            ended: false,
        }
    }

    /// The upstream response's id (Responses only), once `response.created` was read.
    pub(crate) fn response_id(&self) -> Option<&str> {
        match &self.dialect {
            Dialect::Responses {
                shell: Some(shell), ..
            } => Some(shell.id.as_str()).filter(|id| !id.is_empty()),
            _ => None,
        }
    }

    pub(crate) fn complete(&self) -> bool {
        self.finished || self.ended
    }

    pub(crate) fn on_event(
        &mut self,
        ev: &SseEvent<'_>,
        sh: &mut Shared,
        out: &mut BytesMut,
    ) -> Result<Step, StreamError> {
        match &mut self.dialect {
            Dialect::OpenAi { include_usage } => {
                let include_usage = *include_usage;
                self.on_openai(ev, include_usage, sh, out)
            }
            Dialect::Anthropic { .. } => self.on_anthropic(ev, sh, out),
            Dialect::Responses { .. } => self.on_responses(ev, sh, out),
        }
    }

    fn on_responses(
        &mut self,
        ev: &SseEvent<'_>,
        sh: &mut Shared,
        out: &mut BytesMut,
    ) -> Result<Step, StreamError> {
        let Dialect::Responses { next_seq, shell } = &mut self.dialect else {
            return Ok(Step::Continue);
        };
        if ev.data.trim_ascii() == "[DONE]" {
            // Not in the grammar (some compatible servers add it); a client
            // reading Responses events could not parse it.
            return Ok(Step::Continue);
        }
        let malformed = |e: serde_json::Error| StreamError::malformed(ev.event, &e);
        let peek = scan::read_responses_event(ev.data).map_err(malformed)?;
        let mut step = Step::Continue;
        let content = match peek.kind.as_ref() {
            "response.created" | "response.in_progress" | "response.queued" => {
                if let Some(raw) = peek.response {
                    *shell = Some(serde_json::from_str(raw).map_err(malformed)?);
                }
                false
            }
            "response.completed" | "response.incomplete" => {
                if let Some(raw) = peek.response {
                    let usage: ResponsesUsagePeek = serde_json::from_str(raw).map_err(malformed)?;
                    if let Some(u) = &usage.usage {
                        sh.usage = Usage::from_responses(u);
                    }
                }
                self.finished = true;
                self.ended = true;
                step = Step::End;
                true
            }
            "response.failed" | "error" => {
                let event = serde_json::from_str(ev.data).map_err(malformed)?;
                return Err(super::from_responses::failure(event));
            }
            // Items, their content, and types this gateway does not know yet.
            _ => true,
        };
        // Only forwarded events count: a failure the gateway writes follows
        // the last event the client saw.
        if let Some(seq) = peek.sequence_number {
            *next_seq = seq.saturating_add(1);
        }
        self.forward(ev, content, out);
        Ok(step)
    }

    /// Ends a Responses client stream with `error` and `response.failed`,
    /// numbered after the last event forwarded.
    pub(crate) fn fail_responses(
        &mut self,
        sh: &Shared,
        kind: ErrorKind,
        message: &str,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        self.flush_held(out);
        let Dialect::Responses { next_seq, shell } = &mut self.dialect else {
            return Ok(());
        };
        let response = shell.take().unwrap_or_else(|| ResponseObject {
            id: sh.response_id.clone(),
            object: ResponseObject::OBJECT.to_owned(),
            created_at: sh.ctx.created,
            status: Some(ResponseStatus::Failed),
            error: None,
            incomplete_details: None,
            model: sh.ctx.model.clone(),
            output: Vec::new(),
            usage: None,
        });
        let mut response = response;
        // Items this gateway does not model cannot be written back; the
        // client has them from the events already forwarded.
        response
            .output
            .retain(|item| !matches!(item, OutputItem::Other));
        self.ended = true;
        super::to_responses::write_failure(next_seq, response, kind, message, out)
    }

    fn on_openai(
        &mut self,
        ev: &SseEvent<'_>,
        include_usage: bool,
        sh: &mut Shared,
        out: &mut BytesMut,
    ) -> Result<Step, StreamError> {
        if ev.data.trim_ascii() == "[DONE]" {
            self.forward(ev, true, out);
            self.ended = true;
            return Ok(Step::End);
        }
        let chunk =
            scan::read_chat_chunk(ev.data).map_err(|e| StreamError::malformed(ev.event, &e))?;
        if chunk.error
            && let Some(error) = super::from_openai::upstream_error(ev.data)
        {
            return Err(error);
        }
        if let Some(usage) = &chunk.usage {
            sh.usage = Usage::from_openai(usage);
            if !chunk.has_choices && !include_usage {
                return Ok(Step::Continue);
            }
        }
        if chunk.finished {
            self.finished = true;
        }
        let content = chunk.finished || chunk.content;
        self.forward(ev, content, out);
        Ok(Step::Continue)
    }

    fn on_anthropic(
        &mut self,
        ev: &SseEvent<'_>,
        sh: &mut Shared,
        out: &mut BytesMut,
    ) -> Result<Step, StreamError> {
        let Dialect::Anthropic { usage } = &mut self.dialect else {
            return Ok(Step::Continue);
        };
        let malformed = |e: serde_json::Error| StreamError::malformed(ev.event, &e);
        // Anthropic names every event; the data's `type` is the fallback.
        let peeked;
        let kind = match ev.event {
            Some(name) => name,
            None => {
                peeked = serde_json::from_str::<TypePeek<'_>>(ev.data).map_err(malformed)?;
                peeked.kind.as_ref()
            }
        };
        let mut step = Step::Continue;
        let content = match kind {
            "message_start" => {
                let peek: AnthropicStartPeek = serde_json::from_str(ev.data).map_err(malformed)?;
                *usage = peek.message.usage;
                sh.usage = Usage::from_anthropic(usage);
                false
            }
            "ping" => false,
            "message_delta" => {
                let peek: AnthropicDeltaPeek = serde_json::from_str(ev.data).map_err(malformed)?;
                let u = peek.usage;
                usage.output_tokens = u.output_tokens;
                if let Some(n) = u.input_tokens {
                    usage.input_tokens = n;
                }
                if let Some(n) = u.cache_creation_input_tokens {
                    usage.cache_creation_input_tokens = Some(n);
                }
                if let Some(n) = u.cache_read_input_tokens {
                    usage.cache_read_input_tokens = Some(n);
                }
                sh.usage = Usage::from_anthropic(usage);
                self.finished |= peek.delta.stop_reason.is_some();
                true
            }
            "message_stop" => {
                self.ended = true;
                step = Step::End;
                true
            }
            "error" => {
                let peek: AnthropicErrorPeek = serde_json::from_str(ev.data).map_err(malformed)?;
                return Err(StreamError::Upstream(MidStreamError {
                    kind: super::error::kind_from_anthropic(peek.error.kind),
                    message: peek.error.message,
                }));
            }
            // Content events, and types this gateway does not know yet.
            _ => true,
        };
        self.forward(ev, content, out);
        Ok(step)
    }

    /// Writes the event as it came (name and data), or holds it while no
    /// content has been seen.
    fn forward(&mut self, ev: &SseEvent<'_>, content: bool, out: &mut BytesMut) {
        if !self.released && !content && self.held.len() < MAX_HELD {
            sse::write_event(&mut self.held, ev.event, ev.data.as_bytes());
            return;
        }
        self.flush_held(out);
        sse::write_event(out, ev.event, ev.data.as_bytes());
    }

    fn flush_held(&mut self, out: &mut BytesMut) {
        self.released = true;
        if !self.held.is_empty() {
            out.put_slice(&self.held);
            self.held.clear();
        }
    }

    /// Closes the client stream if the upstream did not: flushes what was
    /// held and adds the end marker it left out.
    pub(crate) fn end(&mut self, out: &mut BytesMut) {
        self.flush_held(out);
        if self.ended {
            return;
        }
        self.ended = true;
        match self.dialect {
            Dialect::OpenAi { .. } => sse::write_event(out, None, b"[DONE]"),
            Dialect::Anthropic { .. } => {
                sse::write_event(out, Some("message_stop"), br#"{"type":"message_stop"}"#);
            }
            // A Responses stream has no end marker of its own beyond
            // `response.completed`, which `complete()` required to get here.
            Dialect::Responses { .. } => {}
        }
    }
}
