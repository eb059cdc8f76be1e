//! Reads an Anthropic Messages stream into neutral stream events for another
//! client format.

use bytes::BytesMut;
use serde::Deserialize;

use super::context::{Shared, Step};
use super::encoder::Encoder;
use super::error::{MidStreamError, StreamError};
use super::wire::BlockDeltaIn;
use crate::anthropic::{self, ContentBlock, Delta, MessageDeltaUsage, StreamEvent};
use crate::sse::SseEvent;
use crate::{Finish, Usage};

#[derive(Debug, Default)]
pub(crate) struct AnthropicDecoder {
    /// Usage as Anthropic counts it: `message_start` gives the input side,
    /// `message_delta` the output (and sometimes updated input) side.
    usage: anthropic::Usage,
    /// A stop reason arrived: the message is complete even without `message_stop`.
    finished: bool,
}

/// Just enough of an event to skip one this gateway does not know.
#[derive(Deserialize)]
struct TypeOnly<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
}

impl AnthropicDecoder {
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
        // Fragments are nearly every event: they are read through a flat,
        // borrowed view; the rest through the full event type.
        if ev.event == Some("content_block_delta") {
            let view: BlockDeltaIn<'_> =
                serde_json::from_str(ev.data).map_err(|e| StreamError::malformed(ev.event, &e))?;
            on_delta(view, sh, enc, out)?;
            return Ok(Step::Continue);
        }
        let event: StreamEvent = match serde_json::from_str(ev.data) {
            Ok(event) => event,
            Err(e) => return skip_unknown(ev, &e),
        };
        match event {
            StreamEvent::MessageStart { message } => {
                self.usage = message.usage;
                sh.usage = Usage::from_anthropic(&self.usage);
            }
            StreamEvent::ContentBlockStart {
                index,
                content_block,
            } => on_block_start(index, content_block, sh, enc, out)?,
            StreamEvent::ContentBlockDelta { index, delta } => match delta {
                Delta::TextDelta { text } => enc.text(sh, &text, out)?,
                Delta::InputJsonDelta { partial_json } => {
                    enc.tool_args(sh, index, &partial_json, out)?;
                }
                Delta::ThinkingDelta { thinking } => enc.thinking(sh, &thinking, out)?,
                Delta::SignatureDelta { signature } => enc.signature(sh, &signature, out)?,
                Delta::CitationsDelta { .. } => {}
            },
            StreamEvent::ContentBlockStop { .. } | StreamEvent::Ping => {}
            StreamEvent::MessageDelta { delta, usage } => {
                self.merge_usage(&usage);
                sh.usage = Usage::from_anthropic(&self.usage);
                if let Some(reason) = delta.stop_reason {
                    self.finished = true;
                    enc.finish(sh, Finish::from_anthropic(reason), delta.stop_sequence, out)?;
                }
            }
            StreamEvent::MessageStop => return Ok(Step::End),
            StreamEvent::Error { error } => {
                return Err(StreamError::Upstream(MidStreamError {
                    kind: super::error::kind_from_anthropic(error.kind),
                    message: error.message,
                }));
            }
        }
        Ok(Step::Continue)
    }

    fn merge_usage(&mut self, u: &MessageDeltaUsage) {
        self.usage.output_tokens = u.output_tokens;
        if let Some(n) = u.input_tokens {
            self.usage.input_tokens = n;
        }
        if let Some(n) = u.cache_creation_input_tokens {
            self.usage.cache_creation_input_tokens = Some(n);
        }
        if let Some(n) = u.cache_read_input_tokens {
            self.usage.cache_read_input_tokens = Some(n);
        }
    }
}

/// A content block's start: its opening text, reasoning or tool call.
fn on_block_start(
    index: u32,
    block: ContentBlock,
    sh: &mut Shared,
    enc: &mut Encoder,
    out: &mut BytesMut,
) -> Result<(), StreamError> {
    match block {
        ContentBlock::Text { text, .. } => enc.text(sh, &text, out)?,
        ContentBlock::Thinking {
            thinking,
            signature,
        } => {
            enc.thinking(sh, &thinking, out)?;
            enc.signature(sh, &signature, out)?;
        }
        ContentBlock::RedactedThinking { data } => enc.redacted_thinking(sh, &data, out)?,
        ContentBlock::ToolUse {
            id, name, input, ..
        } => {
            enc.tool_start(sh, index, &id, &name, out)?;
            // Streams start tool input empty; a non-empty one is sent whole.
            if input.as_object().is_some_and(|o| !o.is_empty()) {
                enc.tool_args(sh, index, &input.to_string(), out)?;
            }
        }
        // Blocks a client never receives from a model.
        ContentBlock::Image { .. }
        | ContentBlock::Document { .. }
        | ContentBlock::ToolResult { .. } => {}
    }
    Ok(())
}

/// One fragment of the open block; delta types without a place in the client
/// format (citations, and types added later) are skipped.
fn on_delta(
    view: BlockDeltaIn<'_>,
    sh: &Shared,
    enc: &mut Encoder,
    out: &mut BytesMut,
) -> Result<(), StreamError> {
    let d = &view.delta;
    match d.kind.as_ref() {
        "text_delta" => enc.text(sh, fragment(&d.text), out),
        "input_json_delta" => enc.tool_args(sh, view.index, fragment(&d.partial_json), out),
        "thinking_delta" => enc.thinking(sh, fragment(&d.thinking), out),
        "signature_delta" => enc.signature(sh, fragment(&d.signature), out),
        _ => Ok(()),
    }
}

fn fragment<'a>(f: &'a Option<std::borrow::Cow<'_, str>>) -> &'a str {
    f.as_deref().unwrap_or("")
}

/// Anthropic adds event, block and delta types over time, and asks clients to
/// ignore the ones they do not know (server tool blocks, citations, ...). An
/// event that fails to parse is skipped when it is a content event (whose block
/// or delta type is new); a malformed envelope or message event is an error.
fn skip_unknown(ev: &SseEvent<'_>, err: &serde_json::Error) -> Result<Step, StreamError> {
    let malformed = || StreamError::malformed(ev.event, err);
    let head: TypeOnly<'_> = serde_json::from_str(ev.data).map_err(|_| malformed())?;
    match head.kind.as_ref() {
        "message_start" | "message_delta" | "message_stop" | "error" | "ping" => Err(malformed()),
        _ => Ok(Step::Continue),
    }
}
