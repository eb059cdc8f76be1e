//! Writes the OpenAI Chat Completions stream grammar from neutral stream events.
//!
//! `chat.completion.chunk`s: the role first, content (and `reasoning_content`)
//! deltas, `tool_calls` deltas (a call's index, id, type and name first, then
//! its `arguments` fragments), a `finish_reason` chunk, a usage chunk with empty
//! `choices` only when the client asked `stream_options.include_usage`, then
//! `data: [DONE]`. The role chunk is held back until there is something to say,
//! so that an upstream error arriving first leaves the client untouched.

use bytes::BytesMut;

use super::context::{Shared, emit};
use super::error::StreamError;
use super::wire::{ChoiceOut, ChunkOut, DeltaOut, FunctionOut, ToolCallOut};
use crate::Finish;
use crate::openai::{ChatCompletionChunk, ToolType};

#[derive(Debug)]
pub(crate) struct OpenAiEncoder {
    started: bool,
    /// Upstream keys of tool calls, in the order their client indices were
    /// given, and whether any argument text was sent for each.
    tools: Vec<(u32, bool)>,
    finished: bool,
}

impl OpenAiEncoder {
    pub(crate) fn new() -> Self {
        Self {
            started: false,
            tools: Vec::new(),
            finished: false,
        }
    }

    pub(crate) fn finished(&self) -> bool {
        self.finished
    }

    fn chunk(
        &self,
        sh: &Shared,
        delta: DeltaOut<'_>,
        finish_reason: Option<Finish>,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        let choices = [ChoiceOut {
            index: 0,
            delta,
            finish_reason: finish_reason.map(Finish::to_openai),
        }];
        let chunk = ChunkOut {
            id: &sh.response_id,
            object: ChatCompletionChunk::OBJECT,
            created: sh.ctx.created,
            model: &sh.ctx.model,
            choices: &choices,
            usage: None,
        };
        emit(out, None, &chunk)
    }

    fn start(&mut self, sh: &Shared, out: &mut BytesMut) -> Result<(), StreamError> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        let delta = DeltaOut {
            role: Some("assistant"),
            content: Some(""),
            ..DeltaOut::default()
        };
        self.chunk(sh, delta, None, out)
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
        self.start(sh, out)?;
        let delta = DeltaOut {
            content: Some(text),
            ..DeltaOut::default()
        };
        self.chunk(sh, delta, None, out)
    }

    /// Reasoning goes out as `reasoning_content`, the field OpenAI-compatible
    /// servers (and the clients built for them) use.
    pub(crate) fn thinking(
        &mut self,
        sh: &Shared,
        text: &str,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        if text.is_empty() {
            return Ok(());
        }
        self.start(sh, out)?;
        let delta = DeltaOut {
            reasoning_content: Some(text),
            ..DeltaOut::default()
        };
        self.chunk(sh, delta, None, out)
    }

    fn tool_delta(
        &self,
        sh: &Shared,
        call: ToolCallOut<'_>,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        let delta = DeltaOut {
            tool_calls: Some([call]),
            ..DeltaOut::default()
        };
        self.chunk(sh, delta, None, out)
    }

    pub(crate) fn tool_start(
        &mut self,
        sh: &Shared,
        key: u32,
        id: &str,
        name: &str,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        if self.tools.iter().any(|&(k, _)| k == key) {
            return Ok(());
        }
        self.start(sh, out)?;
        let index = client_index(self.tools.len());
        self.tools.push((key, false));
        let call = ToolCallOut {
            index,
            id: Some(id),
            kind: Some(ToolType::Function),
            function: FunctionOut {
                name: Some(name),
                arguments: "",
            },
        };
        self.tool_delta(sh, call, out)
    }

    pub(crate) fn tool_args(
        &mut self,
        sh: &Shared,
        key: u32,
        json: &str,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        if json.is_empty() {
            return Ok(());
        }
        // Fragments of a call whose start was never seen have no id or name to
        // attach to; the client could not use them.
        let Some(pos) = self.tools.iter().position(|&(k, _)| k == key) else {
            return Ok(());
        };
        self.tools[pos].1 = true;
        self.tool_delta(sh, args_delta(pos, json), out)
    }

    pub(crate) fn finish(
        &mut self,
        sh: &Shared,
        finish: Finish,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        if self.finished {
            return Ok(());
        }
        self.start(sh, out)?;
        self.finished = true;
        // A call without arguments (Anthropic streams none for an empty
        // input) still needs a JSON object for the client to parse.
        for pos in 0..self.tools.len() {
            if !self.tools[pos].1 {
                self.tool_delta(sh, args_delta(pos, "{}"), out)?;
            }
        }
        self.chunk(sh, DeltaOut::default(), Some(finish), out)
    }

    pub(crate) fn end(&mut self, sh: &Shared, out: &mut BytesMut) -> Result<(), StreamError> {
        self.finish(sh, Finish::EndTurn, out)?;
        if sh.ctx.include_usage {
            let chunk = ChunkOut {
                id: &sh.response_id,
                object: ChatCompletionChunk::OBJECT,
                created: sh.ctx.created,
                model: &sh.ctx.model,
                choices: &[],
                usage: Some(sh.usage.to_openai()),
            };
            emit(out, None, &chunk)?;
        }
        write_done(out);
        Ok(())
    }
}

/// An `arguments` fragment for the call at client position `pos`.
fn args_delta(pos: usize, json: &str) -> ToolCallOut<'_> {
    ToolCallOut {
        index: client_index(pos),
        id: None,
        kind: None,
        function: FunctionOut {
            name: None,
            arguments: json,
        },
    }
}

/// The `[DONE]` sentinel that ends every OpenAI stream.
pub(crate) fn write_done(out: &mut BytesMut) {
    crate::sse::write_event(out, None, b"[DONE]");
}

fn client_index(pos: usize) -> u32 {
    u32::try_from(pos).unwrap_or(u32::MAX)
}
