//! Writes the OpenAI Chat Completions stream grammar from neutral stream events.
//!
//! `chat.completion.chunk`s: the role first, content (and `reasoning_content`)
//! deltas, `tool_calls` deltas (a call's index, id, type and name first, then
//! its `arguments` fragments), a `finish_reason` chunk, a usage chunk with empty
//! `choices` only when the client asked `stream_options.include_usage`, then
//! `data: [DONE]`. The role chunk is held back until there is something to say,
//! so that an upstream error arriving first leaves the client untouched.

use bytes::BytesMut;

use super::{Shared, StreamError, emit};
use crate::Finish;
use crate::openai::{
    ChatCompletionChunk, ChunkChoice, ChunkDelta, FunctionCallDelta, ToolCallDelta, ToolType,
};

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
        delta: ChunkDelta,
        finish_reason: Option<Finish>,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        let chunk = ChatCompletionChunk {
            id: sh.response_id.clone(),
            object: ChatCompletionChunk::OBJECT.to_owned(),
            created: sh.ctx.created,
            model: sh.ctx.model.clone(),
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason: finish_reason.map(Finish::to_openai),
                logprobs: None,
            }],
            usage: None,
            system_fingerprint: None,
        };
        emit(out, None, &chunk)
    }

    fn start(&mut self, sh: &Shared, out: &mut BytesMut) -> Result<(), StreamError> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        let delta = ChunkDelta {
            role: Some("assistant".to_owned()),
            content: Some(String::new()),
            ..ChunkDelta::default()
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
        let delta = ChunkDelta {
            content: Some(text.to_owned()),
            ..ChunkDelta::default()
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
        let delta = ChunkDelta {
            reasoning_content: Some(text.to_owned()),
            ..ChunkDelta::default()
        };
        self.chunk(sh, delta, None, out)
    }

    fn tool_delta(
        &self,
        sh: &Shared,
        call: ToolCallDelta,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        let delta = ChunkDelta {
            tool_calls: Some(vec![call]),
            ..ChunkDelta::default()
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
        let call = ToolCallDelta {
            index,
            id: Some(id.to_owned()),
            kind: Some(ToolType::Function),
            function: Some(FunctionCallDelta {
                name: Some(name.to_owned()),
                arguments: Some(String::new()),
            }),
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
        let call = ToolCallDelta {
            index: client_index(pos),
            id: None,
            kind: None,
            function: Some(FunctionCallDelta {
                name: None,
                arguments: Some(json.to_owned()),
            }),
        };
        self.tool_delta(sh, call, out)
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
                let call = ToolCallDelta {
                    index: client_index(pos),
                    id: None,
                    kind: None,
                    function: Some(FunctionCallDelta {
                        name: None,
                        arguments: Some("{}".to_owned()),
                    }),
                };
                self.tool_delta(sh, call, out)?;
            }
        }
        self.chunk(sh, ChunkDelta::default(), Some(finish), out)
    }

    pub(crate) fn end(&mut self, sh: &Shared, out: &mut BytesMut) -> Result<(), StreamError> {
        self.finish(sh, Finish::EndTurn, out)?;
        if sh.ctx.include_usage {
            let chunk = ChatCompletionChunk {
                id: sh.response_id.clone(),
                object: ChatCompletionChunk::OBJECT.to_owned(),
                created: sh.ctx.created,
                model: sh.ctx.model.clone(),
                choices: Vec::new(),
                usage: Some(sh.usage.to_openai()),
                system_fingerprint: None,
            };
            emit(out, None, &chunk)?;
        }
        write_done(out);
        Ok(())
    }
}

/// The `[DONE]` sentinel that ends every OpenAI stream.
pub(crate) fn write_done(out: &mut BytesMut) {
    crate::sse::write_event(out, None, b"[DONE]");
}

fn client_index(pos: usize) -> u32 {
    u32::try_from(pos).unwrap_or(u32::MAX)
}
