//! Writes the Anthropic Messages stream grammar from neutral stream events.
//!
//! `message_start` → per block `content_block_start`, deltas, `content_block_stop`
//! → `message_delta` (stop reason, usage) → `message_stop`. Block indices are
//! contiguous from 0 and a block is closed before the next one opens.
//! `message_start` is held back until there is something to say, so that an
//! upstream error arriving first leaves the client untouched and the caller
//! free to fail over.

use bytes::BytesMut;

use super::context::{Shared, emit};
use super::error::StreamError;
use super::wire::{BlockDelta, BlockDeltaOut};
use crate::Finish;
use crate::anthropic::{
    ContentBlock, MessageDelta, MessageDeltaUsage, MessageType, MessagesResponse, Role, StreamEvent,
};

/// The block currently open in the client stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    None,
    Text,
    Thinking,
    /// A tool call, by the upstream's key for it.
    Tool(u32),
}

#[derive(Debug)]
pub(crate) struct AnthropicEncoder {
    started: bool,
    open: Open,
    /// Index of the open block, or of the next block to open when none is.
    index: u32,
    /// Upstream keys of tool calls already opened (and possibly closed).
    tools_seen: Vec<u32>,
    finish: Option<(Finish, Option<String>)>,
}

impl AnthropicEncoder {
    pub(crate) fn new() -> Self {
        Self {
            started: false,
            open: Open::None,
            index: 0,
            tools_seen: Vec::new(),
            finish: None,
        }
    }

    pub(crate) fn finished(&self) -> bool {
        self.finish.is_some()
    }

    pub(crate) fn is_thinking(&self) -> bool {
        self.open == Open::Thinking
    }

    fn start(&mut self, sh: &Shared, out: &mut BytesMut) -> Result<(), StreamError> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        let message = MessagesResponse {
            id: sh.response_id.clone(),
            kind: MessageType::Message,
            role: Role::Assistant,
            model: sh.ctx.model.clone(),
            content: Vec::new(),
            stop_reason: None,
            stop_sequence: None,
            usage: sh.usage.to_anthropic(),
        };
        emit_event(out, &StreamEvent::MessageStart { message })
    }

    fn close(&mut self, out: &mut BytesMut) -> Result<(), StreamError> {
        if self.open == Open::None {
            return Ok(());
        }
        emit_event(out, &StreamEvent::ContentBlockStop { index: self.index })?;
        self.open = Open::None;
        self.index += 1;
        Ok(())
    }

    fn open(
        &mut self,
        sh: &Shared,
        open: Open,
        block: ContentBlock,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        self.start(sh, out)?;
        self.close(out)?;
        emit_event(
            out,
            &StreamEvent::ContentBlockStart {
                index: self.index,
                content_block: block,
            },
        )?;
        self.open = open;
        Ok(())
    }

    fn delta(&self, delta: BlockDelta<'_>, out: &mut BytesMut) -> Result<(), StreamError> {
        let event = BlockDeltaOut {
            index: self.index,
            delta,
        };
        emit(out, Some("content_block_delta"), &event)
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
        if self.open != Open::Text {
            let block = ContentBlock::Text {
                text: String::new(),
                cache_control: None,
            };
            self.open(sh, Open::Text, block, out)?;
        }
        self.delta(BlockDelta::Text { text }, out)
    }

    fn open_thinking(&mut self, sh: &Shared, out: &mut BytesMut) -> Result<(), StreamError> {
        if self.open == Open::Thinking {
            return Ok(());
        }
        let block = ContentBlock::Thinking {
            thinking: String::new(),
            signature: String::new(),
        };
        self.open(sh, Open::Thinking, block, out)
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
        self.open_thinking(sh, out)?;
        self.delta(BlockDelta::Thinking { thinking: text }, out)
    }

    /// A reasoning signature. It belongs to the open thinking block; without
    /// one (Gemini signs function calls and text parts), it gets an empty
    /// thinking block of its own so that the client sends it back next turn.
    pub(crate) fn signature(
        &mut self,
        sh: &Shared,
        signature: &str,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        if signature.is_empty() {
            return Ok(());
        }
        self.open_thinking(sh, out)?;
        self.delta(BlockDelta::Signature { signature }, out)
    }

    pub(crate) fn redacted_thinking(
        &mut self,
        sh: &Shared,
        data: &str,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        let block = ContentBlock::RedactedThinking {
            data: data.to_owned(),
        };
        // The block is whole at its start; it is closed at once.
        self.open(sh, Open::Thinking, block, out)?;
        self.close(out)
    }

    pub(crate) fn tool_start(
        &mut self,
        sh: &Shared,
        key: u32,
        id: &str,
        name: &str,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        if self.tools_seen.contains(&key) {
            // A repeated start of a known call (some servers resend the id) adds nothing.
            return Ok(());
        }
        self.tools_seen.push(key);
        let block = ContentBlock::ToolUse {
            id: id.to_owned(),
            name: name.to_owned(),
            input: serde_json::Value::Object(serde_json::Map::new()),
            cache_control: None,
        };
        self.open(sh, Open::Tool(key), block, out)
    }

    /// A fragment of a tool call's JSON arguments. Fragments of a call whose
    /// block was already closed (an upstream interleaving parallel calls) cannot
    /// be expressed in this grammar and are dropped.
    pub(crate) fn tool_args(
        &mut self,
        key: u32,
        json: &str,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        if json.is_empty() || self.open != Open::Tool(key) {
            return Ok(());
        }
        self.delta(BlockDelta::InputJson { partial_json: json }, out)
    }

    pub(crate) fn finish(
        &mut self,
        finish: Finish,
        stop_sequence: Option<String>,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        self.close(out)?;
        self.finish = Some((finish, stop_sequence));
        Ok(())
    }

    pub(crate) fn end(&mut self, sh: &Shared, out: &mut BytesMut) -> Result<(), StreamError> {
        self.start(sh, out)?;
        self.close(out)?;
        let (finish, stop_sequence) = self.finish.take().unwrap_or((Finish::EndTurn, None));
        let u = sh.usage.to_anthropic();
        // An SDK overwrites its input counts with these fields when present, so
        // they are sent only when the upstream has reported them.
        let input_known = sh.usage.input_tokens > 0;
        let usage = MessageDeltaUsage {
            output_tokens: u.output_tokens,
            input_tokens: input_known.then_some(u.input_tokens),
            cache_creation_input_tokens: input_known
                .then_some(u.cache_creation_input_tokens)
                .flatten(),
            cache_read_input_tokens: input_known.then_some(u.cache_read_input_tokens).flatten(),
        };
        emit_event(
            out,
            &StreamEvent::MessageDelta {
                delta: MessageDelta {
                    stop_reason: Some(finish.to_anthropic()),
                    stop_sequence,
                },
                usage,
            },
        )?;
        emit_event(out, &StreamEvent::MessageStop)
    }
}

/// Writes one event with its `event:` name, as Anthropic does.
pub(crate) fn emit_event(out: &mut BytesMut, event: &StreamEvent) -> Result<(), StreamError> {
    emit(out, Some(event.event_name()), event)
}
