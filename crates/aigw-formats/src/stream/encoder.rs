//! The client-side writer a decoder drives: one of the four encoders,
//! chosen by the client's format.

use bytes::BytesMut;

use super::context::Shared;
use super::error::StreamError;
use super::to_anthropic::AnthropicEncoder;
use super::to_gemini::GeminiEncoder;
use super::to_openai::OpenAiEncoder;
use super::to_responses::ResponsesEncoder;
use crate::Finish;

/// The client-side writer. An enum rather than a trait object: the set is closed.
#[derive(Debug)]
pub(crate) enum Encoder {
    OpenAi(OpenAiEncoder),
    Anthropic(AnthropicEncoder),
    Responses(ResponsesEncoder),
    Gemini(GeminiEncoder),
}

impl Encoder {
    /// The upstream has said how the message ended. Content it sends after
    /// that (Gemini can) is dropped: the client's grammar has no place for it.
    fn finished(&self) -> bool {
        match self {
            Self::OpenAi(e) => e.finished(),
            Self::Anthropic(e) => e.finished(),
            Self::Responses(e) => e.finished(),
            Self::Gemini(e) => e.finished(),
        }
    }

    pub(crate) fn text(
        &mut self,
        sh: &Shared,
        text: &str,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        if self.finished() {
            return Ok(());
        }
        match self {
            Self::OpenAi(e) => e.text(sh, text, out),
            Self::Anthropic(e) => e.text(sh, text, out),
            Self::Responses(e) => e.text(sh, text, out),
            Self::Gemini(e) => e.text(sh, text, out),
        }
    }

    pub(crate) fn thinking(
        &mut self,
        sh: &Shared,
        text: &str,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        if self.finished() {
            return Ok(());
        }
        match self {
            Self::OpenAi(e) => e.thinking(sh, text, out),
            Self::Anthropic(e) => e.thinking(sh, text, out),
            Self::Responses(e) => e.thinking(sh, text, out),
            Self::Gemini(e) => e.thinking(sh, text, out),
        }
    }

    /// A reasoning signature; OpenAI Chat has nowhere to put one, Responses
    /// puts it in the reasoning item's `encrypted_content`.
    pub(crate) fn signature(
        &mut self,
        sh: &Shared,
        signature: &str,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        if self.finished() {
            return Ok(());
        }
        match self {
            Self::OpenAi(_) => Ok(()),
            Self::Anthropic(e) => e.signature(sh, signature, out),
            Self::Responses(e) => e.signature(sh, signature, out),
            Self::Gemini(e) => e.signature(sh, signature, out),
        }
    }

    /// A signature that belongs to reasoning only if reasoning is in progress.
    pub(crate) fn signature_if_thinking(
        &mut self,
        sh: &Shared,
        signature: &str,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        if self.finished() {
            return Ok(());
        }
        match self {
            Self::OpenAi(_) => Ok(()),
            Self::Anthropic(e) if e.is_thinking() => e.signature(sh, signature, out),
            Self::Anthropic(_) => Ok(()),
            Self::Responses(e) => {
                e.signature_if_thinking(signature);
                Ok(())
            }
            Self::Gemini(e) => e.signature_if_thinking(sh, signature, out),
        }
    }

    pub(crate) fn redacted_thinking(
        &mut self,
        sh: &Shared,
        data: &str,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        if self.finished() {
            return Ok(());
        }
        match self {
            // Redacted reasoning is Anthropic's own; no other client could return it.
            Self::OpenAi(_) | Self::Responses(_) | Self::Gemini(_) => Ok(()),
            Self::Anthropic(e) => e.redacted_thinking(sh, data, out),
        }
    }

    pub(crate) fn tool_start(
        &mut self,
        sh: &Shared,
        key: u32,
        id: &str,
        name: &str,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        if self.finished() {
            return Ok(());
        }
        match self {
            Self::OpenAi(e) => e.tool_start(sh, key, id, name, out),
            Self::Anthropic(e) => e.tool_start(sh, key, id, name, out),
            Self::Responses(e) => e.tool_start(sh, key, id, name, out),
            Self::Gemini(e) => {
                e.tool_start(key, id, name);
                Ok(())
            }
        }
    }

    pub(crate) fn tool_args(
        &mut self,
        sh: &Shared,
        key: u32,
        json: &str,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        if self.finished() {
            return Ok(());
        }
        match self {
            Self::OpenAi(e) => e.tool_args(sh, key, json, out),
            Self::Anthropic(e) => e.tool_args(key, json, out),
            Self::Responses(e) => e.tool_args(key, json, out),
            Self::Gemini(e) => {
                e.tool_args(key, json);
                Ok(())
            }
        }
    }

    pub(crate) fn finish(
        &mut self,
        sh: &Shared,
        finish: Finish,
        stop_sequence: Option<String>,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        match self {
            Self::OpenAi(e) => e.finish(sh, finish, out),
            Self::Anthropic(e) => e.finish(finish, stop_sequence, out),
            Self::Responses(e) => e.finish(finish, out),
            Self::Gemini(e) => {
                e.finish(finish);
                Ok(())
            }
        }
    }

    pub(super) fn end(&mut self, sh: &Shared, out: &mut BytesMut) -> Result<(), StreamError> {
        match self {
            Self::OpenAi(e) => e.end(sh, out),
            Self::Anthropic(e) => e.end(sh, out),
            Self::Responses(e) => e.end(sh, out),
            Self::Gemini(e) => e.end(sh, out),
        }
    }
}
