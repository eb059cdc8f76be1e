//! Stream translation between upstream and client SSE grammars.
//!
//! A [`StreamTranslator`] is fed the upstream's body chunks as they arrive and
//! writes the client's SSE bytes as they are produced; it never holds a whole
//! stream. Each cross-format pair is a decoder (upstream events → neutral
//! calls: text, thinking, tool call start and argument fragments, finish) and
//! an encoder (neutral calls → the client's exact grammar), so every grammar
//! rule lives in one place. Same-format pairs are forwarded as they came, but
//! still read for usage and for errors.
//!
//! Nothing is written for the client before the upstream has produced content
//! (or finished): an upstream error event at the start of a 200 stream leaves
//! [`StreamTranslator::bytes_emitted`] false, so the caller can still fail over.

mod aggregate;
mod context;
mod encoder;
mod error;
mod forward_gemini;
mod from_anthropic;
mod from_gemini;
mod from_openai;
mod from_responses;
mod passthrough;
mod scan;
mod to_anthropic;
mod to_gemini;
mod to_openai;
mod to_responses;
mod wire;

use aigw_domain::Format;
use bytes::BytesMut;

pub use aggregate::{ResponsesAggregator, aggregate_responses};
pub use context::StreamContext;
pub use error::{MidStreamError, StreamError, is_retryable};

use crate::sse::{SseEvent, SseParser};
use crate::{ErrorKind, Usage};
use context::{Shared, Step};
use encoder::Encoder;
use forward_gemini::GeminiForward;
use from_anthropic::AnthropicDecoder;
use from_gemini::GeminiDecoder;
use from_openai::OpenAiDecoder;
use from_responses::ResponsesDecoder;
use passthrough::Passthrough;
use to_anthropic::AnthropicEncoder;
use to_gemini::GeminiEncoder;
use to_openai::OpenAiEncoder;
use to_responses::ResponsesEncoder;

/// Where a stream stands after a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStatus {
    /// More upstream input is expected.
    Open,
    /// The client's grammar is closed; further upstream input is ignored.
    Done,
}

/// Translates one upstream SSE stream into one client SSE stream.
#[derive(Debug)]
pub struct StreamTranslator {
    parser: SseParser,
    pipeline: Pipeline,
    shared: Shared,
    state: State,
    emitted: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    Open,
    Done,
    Failed(StreamError),
}

#[derive(Debug)]
enum Pipeline {
    Translate {
        decoder: Decoder,
        encoder: Encoder,
    },
    Passthrough(Passthrough),
    /// Gemini or Antigravity chunks to a Gemini client.
    GeminiForward(GeminiForward),
}

#[derive(Debug)]
enum Decoder {
    OpenAi(OpenAiDecoder),
    Anthropic(AnthropicDecoder),
    Gemini(GeminiDecoder),
    Responses(ResponsesDecoder),
}

impl StreamTranslator {
    /// A translator from `upstream`'s stream to `client`'s.
    ///
    /// # Errors
    /// [`StreamError::UnsupportedPair`] when `client` is not a client format
    /// (OpenAI Chat, Anthropic, OpenAI Responses or Gemini). A Gemini client
    /// gets SSE (`alt=sse`) unless [`gemini_json_array`](Self::gemini_json_array)
    /// is asked for.
    pub fn new(upstream: Format, client: Format, ctx: StreamContext) -> Result<Self, StreamError> {
        let pipeline = match (upstream, client) {
            (Format::OpenAiChat, Format::OpenAiChat) => {
                Pipeline::Passthrough(Passthrough::openai(ctx.include_usage))
            }
            (Format::AnthropicMessages, Format::AnthropicMessages) => {
                Pipeline::Passthrough(Passthrough::anthropic())
            }
            (Format::OpenAiResponses, Format::OpenAiResponses) => {
                Pipeline::Passthrough(Passthrough::responses())
            }
            (Format::Gemini, Format::Gemini) => Pipeline::GeminiForward(GeminiForward::new(false)),
            (Format::Antigravity, Format::Gemini) => {
                Pipeline::GeminiForward(GeminiForward::new(true))
            }
            (
                _,
                Format::OpenAiChat
                | Format::AnthropicMessages
                | Format::OpenAiResponses
                | Format::Gemini,
            ) => {
                let decoder = match upstream {
                    Format::OpenAiChat => Decoder::OpenAi(OpenAiDecoder::default()),
                    Format::AnthropicMessages => Decoder::Anthropic(AnthropicDecoder::default()),
                    Format::OpenAiResponses => Decoder::Responses(ResponsesDecoder::default()),
                    Format::Gemini => Decoder::Gemini(GeminiDecoder::new(false)),
                    Format::Antigravity => Decoder::Gemini(GeminiDecoder::new(true)),
                };
                let encoder = match client {
                    Format::OpenAiChat => Encoder::OpenAi(OpenAiEncoder::new()),
                    Format::AnthropicMessages => Encoder::Anthropic(AnthropicEncoder::new()),
                    Format::Gemini => Encoder::Gemini(GeminiEncoder::new()),
                    _ => Encoder::Responses(ResponsesEncoder::new()),
                };
                Pipeline::Translate { decoder, encoder }
            }
            (_, Format::Antigravity) => {
                return Err(StreamError::UnsupportedPair { upstream, client });
            }
        };
        let response_id = match client {
            Format::AnthropicMessages => format!("msg_{}", ctx.request_id),
            Format::OpenAiResponses => format!("resp_{}", ctx.request_id),
            Format::Gemini => ctx.request_id.clone(),
            _ => format!("chatcmpl-{}", ctx.request_id),
        };
        Ok(Self {
            parser: SseParser::new(),
            pipeline,
            shared: Shared {
                ctx,
                client,
                response_id,
                usage: Usage::default(),
            },
            state: State::Open,
            emitted: false,
        })
    }

    /// Replaces the parser's limit on one upstream event's size (default
    /// [`crate::sse::DEFAULT_MAX_EVENT_SIZE`]).
    #[must_use]
    pub fn with_max_event_size(mut self, max: usize) -> Self {
        self.parser = SseParser::with_max_event_size(max);
        self
    }

    /// For a Gemini client without `alt=sse`: the chunks as the elements of one
    /// JSON array instead of SSE events. Other clients are not affected.
    #[must_use]
    pub fn gemini_json_array(mut self) -> Self {
        match &mut self.pipeline {
            Pipeline::Translate {
                encoder: Encoder::Gemini(e),
                ..
            } => e.framer.set_array(true),
            Pipeline::GeminiForward(f) => f.framer.set_array(true),
            Pipeline::Translate { .. } | Pipeline::Passthrough(_) => {}
        }
        self
    }

    /// For a Responses client that declared tool namespaces: calls of the
    /// functions declared in one come back in it (see
    /// [`RequestMeta::tool_namespaces`](crate::RequestMeta::tool_namespaces)).
    /// Other clients, and a Responses upstream (which keeps namespaces
    /// itself), are not affected.
    #[must_use]
    pub fn tool_namespaces(mut self, namespaces: Vec<String>) -> Self {
        if let Pipeline::Translate {
            encoder: Encoder::Responses(e),
            ..
        } = &mut self.pipeline
        {
            e.set_tool_namespaces(namespaces);
        }
        self
    }

    /// Feeds a chunk of the upstream body and appends whatever the client
    /// should receive to `out`.
    ///
    /// # Errors
    /// An upstream error event, an oversized or malformed event. `out` then
    /// holds what was translated before the error; if
    /// [`bytes_emitted`](Self::bytes_emitted) is false nothing was, and the
    /// caller may retry elsewhere; otherwise it should send `out`, then end the
    /// client stream with [`write_error`](Self::write_error). Later calls
    /// return the same error.
    pub fn push(&mut self, chunk: &[u8], out: &mut BytesMut) -> Result<StreamStatus, StreamError> {
        match &self.state {
            State::Open => {}
            State::Done => return Ok(StreamStatus::Done),
            State::Failed(e) => return Err(e.clone()),
        }
        let before = out.len();
        self.parser.push(chunk);
        let result = loop {
            let ev = match self.parser.next_event() {
                Ok(Some(ev)) => ev,
                Ok(None) => break Ok(StreamStatus::Open),
                Err(e) => break Err(StreamError::from(e)),
            };
            match self.pipeline.on_event(&ev, &mut self.shared, out) {
                Ok(Step::Continue) => {}
                Ok(Step::End) => {
                    break self
                        .pipeline
                        .end(&self.shared, out)
                        .map(|()| StreamStatus::Done);
                }
                Err(e) => break Err(e),
            }
        };
        self.settle(before, out, result)
    }

    /// Ends the upstream stream: reads a last event left without its blank
    /// line, then closes the client's grammar (final reason, usage, `[DONE]` or
    /// `message_stop`).
    ///
    /// # Errors
    /// As for [`push`](Self::push), and [`StreamError::Truncated`] when the
    /// upstream stopped before saying how the message ended.
    pub fn finish(&mut self, out: &mut BytesMut) -> Result<StreamStatus, StreamError> {
        match &self.state {
            State::Open => {}
            State::Done => return Ok(StreamStatus::Done),
            State::Failed(e) => return Err(e.clone()),
        }
        let before = out.len();
        let result = loop {
            let ev = match self.parser.finish() {
                Ok(Some(ev)) => ev,
                Ok(None) if self.pipeline.complete() => {
                    break self
                        .pipeline
                        .end(&self.shared, out)
                        .map(|()| StreamStatus::Done);
                }
                Ok(None) => break Err(StreamError::Truncated),
                Err(e) => break Err(StreamError::from(e)),
            };
            match self.pipeline.on_event(&ev, &mut self.shared, out) {
                Ok(Step::Continue) => {}
                Ok(Step::End) => {
                    break self
                        .pipeline
                        .end(&self.shared, out)
                        .map(|()| StreamStatus::Done);
                }
                Err(e) => break Err(e),
            }
        };
        self.settle(before, out, result)
    }

    fn settle(
        &mut self,
        before: usize,
        out: &BytesMut,
        result: Result<StreamStatus, StreamError>,
    ) -> Result<StreamStatus, StreamError> {
        self.emitted |= out.len() > before;
        match &result {
            Ok(StreamStatus::Open) => {}
            Ok(StreamStatus::Done) => self.state = State::Done,
            Err(e) => self.state = State::Failed(e.clone()),
        }
        result
    }

    /// Ends the client stream with an error in its grammar (Anthropic
    /// `event: error`; OpenAI a `{"error":…}` chunk then `[DONE]`; Responses
    /// `error` then `response.failed`; Gemini a last `{"error":…}` chunk), for when
    /// bytes were already sent and failing over is no longer possible. The
    /// upstream's message is passed on for upstream errors; for the gateway's
    /// own failures a generic one is written. Does nothing once the client's
    /// grammar was closed.
    pub fn write_error(&mut self, error: &StreamError, out: &mut BytesMut) {
        if self.state == State::Done {
            return;
        }
        let (kind, message) = match error {
            StreamError::Upstream(e) => (e.kind, e.message.as_str()),
            StreamError::Truncated => (
                ErrorKind::Api,
                "the upstream stream ended before the message was complete",
            ),
            StreamError::Sse(_) | StreamError::Malformed { .. } => {
                (ErrorKind::Api, "the upstream sent an invalid stream")
            }
            StreamError::Serialize { .. } | StreamError::UnsupportedPair { .. } => {
                (ErrorKind::Api, "the stream could not be translated")
            }
        };
        let before = out.len();
        match self.shared.client {
            Format::AnthropicMessages => {
                let body = crate::error_body(self.shared.client, kind, message, None);
                crate::sse::write_event(out, Some("error"), &body);
            }
            Format::OpenAiResponses => {
                // Only serialising the response could fail, and it is made
                // of strings and numbers; the stream ends either way.
                let _written = self
                    .pipeline
                    .fail_responses(&self.shared, kind, message, out);
            }
            Format::Gemini => self.pipeline.fail_gemini(kind, message, out),
            _ => {
                let body = crate::error_body(self.shared.client, kind, message, None);
                crate::sse::write_event(out, None, &body);
                to_openai::write_done(out);
            }
        }
        self.emitted |= out.len() > before;
        self.state = State::Done;
    }

    /// Token usage the upstream has reported so far (final once the stream is done).
    pub fn usage(&self) -> Usage {
        self.shared.usage
    }

    /// The id of the upstream's response, once its `response.created` was
    /// read, when a Responses stream goes to a Responses client as it came
    /// (the client then sees this id, and may name it later as
    /// `previous_response_id`). `None` for every other pair: their clients
    /// see ids the gateway made up.
    pub fn upstream_response_id(&self) -> Option<&str> {
        match &self.pipeline {
            Pipeline::Passthrough(p) => p.response_id(),
            Pipeline::Translate { .. } | Pipeline::GeminiForward(_) => None,
        }
    }

    /// Whether anything has been written for the client yet. While false, the
    /// request can still be retried on another account.
    pub fn bytes_emitted(&self) -> bool {
        self.emitted
    }
}

impl Pipeline {
    fn on_event(
        &mut self,
        ev: &SseEvent<'_>,
        sh: &mut Shared,
        out: &mut BytesMut,
    ) -> Result<Step, StreamError> {
        match self {
            Self::Translate { decoder, encoder } => match decoder {
                Decoder::OpenAi(d) => d.on_event(ev, sh, encoder, out),
                Decoder::Anthropic(d) => d.on_event(ev, sh, encoder, out),
                Decoder::Gemini(d) => d.on_event(ev, sh, encoder, out),
                Decoder::Responses(d) => d.on_event(ev, sh, encoder, out),
            },
            Self::Passthrough(p) => p.on_event(ev, sh, out),
            Self::GeminiForward(f) => f.on_event(ev, sh, out),
        }
    }

    /// Whether the upstream has said how the message ended.
    fn complete(&self) -> bool {
        match self {
            Self::Translate { decoder, .. } => match decoder {
                Decoder::OpenAi(d) => d.complete(),
                Decoder::Anthropic(d) => d.complete(),
                Decoder::Gemini(d) => d.complete(),
                Decoder::Responses(d) => d.complete(),
            },
            Self::Passthrough(p) => p.complete(),
            Self::GeminiForward(f) => f.complete(),
        }
    }

    fn end(&mut self, sh: &Shared, out: &mut BytesMut) -> Result<(), StreamError> {
        match self {
            Self::Translate { encoder, .. } => encoder.end(sh, out),
            Self::Passthrough(p) => {
                p.end(out);
                Ok(())
            }
            Self::GeminiForward(f) => {
                f.end(out);
                Ok(())
            }
        }
    }

    /// Ends a Gemini client stream with an error chunk.
    fn fail_gemini(&mut self, kind: ErrorKind, message: &str, out: &mut BytesMut) {
        match self {
            Self::Translate {
                encoder: Encoder::Gemini(e),
                ..
            } => e.framer.fail(out, kind, message),
            Self::GeminiForward(f) => f.fail(kind, message, out),
            Self::Translate { .. } | Self::Passthrough(_) => {}
        }
    }

    /// Ends a Responses client stream with `error` and `response.failed`.
    fn fail_responses(
        &mut self,
        sh: &Shared,
        kind: ErrorKind,
        message: &str,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        match self {
            Self::Translate {
                encoder: Encoder::Responses(e),
                ..
            } => e.fail(sh, kind, message, out),
            Self::Translate { .. } | Self::GeminiForward(_) => Ok(()),
            Self::Passthrough(p) => p.fail_responses(sh, kind, message, out),
        }
    }
}
