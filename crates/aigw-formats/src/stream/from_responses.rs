//! Reads an OpenAI Responses stream (the OpenAI `/v1/responses` and ChatGPT
//! Codex upstreams) into neutral stream events for another client format.
//!
//! Text, reasoning summary and argument fragments pass through as they come;
//! a function call starts with its `response.output_item.added`; a reasoning
//! item's `encrypted_content` (on its `.done`) becomes the reasoning
//! signature. An item whose content arrived only whole, on its
//! `response.output_item.done`, is sent from there. `response.completed` (or
//! `.incomplete`) ends the message with its usage; `response.failed` and
//! `error` are upstream errors.

use bytes::BytesMut;

use super::context::{Shared, Step};
use super::encoder::Encoder;
use super::error::{MidStreamError, StreamError};
use super::wire::{ResponsesErrorIn, ResponsesEventIn};
use crate::responses::{OutputContent, OutputItem, ResponseObject};
use crate::sse::SseEvent;
use crate::{Finish, Usage, ids};

#[derive(Debug, Default)]
pub(crate) struct ResponsesDecoder {
    /// `response.completed` or `.incomplete` arrived.
    finished: bool,
    /// Function calls started, by `output_index`, and whether any argument
    /// text was sent for each.
    calls: Vec<(u32, bool)>,
    /// Items (by `output_index`) whose text or reasoning came in fragments.
    streamed: Vec<u32>,
}

impl ResponsesDecoder {
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
        // Not in the grammar, but some compatible servers add it; only
        // `response.completed` says the response is whole.
        if data == "[DONE]" {
            return Ok(Step::Continue);
        }
        let event: ResponsesEventIn<'_> =
            serde_json::from_str(data).map_err(|e| StreamError::malformed(ev.event, &e))?;
        let index = event.output_index.unwrap_or(0);
        let delta = event.delta.as_deref().unwrap_or("");
        match event.kind.as_ref() {
            "response.output_text.delta" | "response.refusal.delta" => {
                self.streamed(index);
                enc.text(sh, delta, out)?;
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                self.streamed(index);
                enc.thinking(sh, delta, out)?;
            }
            // Summary parts after the first are paragraphs of one reasoning.
            "response.reasoning_summary_part.added"
                if event.summary_index.is_some_and(|i| i > 0) =>
            {
                enc.thinking(sh, "\n\n", out)?;
            }
            "response.output_item.added" => {
                if let Some(OutputItem::FunctionCall {
                    call_id,
                    name,
                    arguments,
                    ..
                }) = &event.item
                {
                    self.start_call(sh, enc, index, call_id, name, out)?;
                    self.args(sh, enc, index, arguments, out)?;
                }
            }
            "response.function_call_arguments.delta" => self.args(sh, enc, index, delta, out)?,
            "response.output_item.done" => {
                if let Some(item) = event.item {
                    self.item_done(sh, enc, index, item, out)?;
                }
            }
            "response.completed" | "response.incomplete" => {
                if let Some(response) = &event.response {
                    self.complete_with(sh, enc, response, out)?;
                }
                return Ok(Step::End);
            }
            "response.failed" | "error" => return Err(failure(event)),
            // The shell events, `.done` events whose content came as
            // fragments, hosted tool progress, and types added later.
            _ => {}
        }
        Ok(Step::Continue)
    }

    fn streamed(&mut self, index: u32) {
        if !self.streamed.contains(&index) {
            self.streamed.push(index);
        }
    }

    fn start_call(
        &mut self,
        sh: &Shared,
        enc: &mut Encoder,
        index: u32,
        call_id: &str,
        name: &str,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        if self.calls.iter().any(|&(k, _)| k == index) {
            return Ok(());
        }
        let id = if call_id.is_empty() {
            ids::tool_call_id(sh.client, &sh.ctx.request_id, self.calls.len())
        } else {
            call_id.to_owned()
        };
        self.calls.push((index, false));
        enc.tool_start(sh, index, &id, name, out)
    }

    fn args(
        &mut self,
        sh: &Shared,
        enc: &mut Encoder,
        index: u32,
        json: &str,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        if json.is_empty() {
            return Ok(());
        }
        if let Some(call) = self.calls.iter_mut().find(|(k, _)| *k == index) {
            call.1 = true;
        }
        enc.tool_args(sh, index, json, out)
    }

    /// A whole item: what of it did not come as fragments is sent now.
    fn item_done(
        &mut self,
        sh: &Shared,
        enc: &mut Encoder,
        index: u32,
        item: OutputItem,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        let streamed = self.streamed.contains(&index);
        match item {
            OutputItem::Message { content, .. } if !streamed => {
                for part in content {
                    match part {
                        OutputContent::OutputText { text, .. }
                        | OutputContent::Refusal { refusal: text } => enc.text(sh, &text, out)?,
                        OutputContent::ReasoningText { .. } | OutputContent::Other => {}
                    }
                }
            }
            OutputItem::Message { .. } | OutputItem::Other => {}
            OutputItem::Reasoning {
                summary,
                content,
                encrypted_content,
                ..
            } => {
                if !streamed
                    && let Some(crate::ir::ReplyPart::Thinking { text, .. }) =
                        crate::response::from_responses::reasoning(summary, content, None)
                {
                    enc.thinking(sh, &text, out)?;
                }
                if let Some(signature) = encrypted_content {
                    enc.signature(sh, &signature, out)?;
                }
            }
            OutputItem::FunctionCall {
                call_id,
                name,
                arguments,
                ..
            } => {
                self.start_call(sh, enc, index, &call_id, &name, out)?;
                let sent = self.calls.iter().any(|&(k, sent)| k == index && sent);
                if !sent {
                    self.args(sh, enc, index, &arguments, out)?;
                }
            }
        }
        Ok(())
    }

    fn complete_with(
        &mut self,
        sh: &mut Shared,
        enc: &mut Encoder,
        response: &ResponseObject,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        if let Some(usage) = &response.usage {
            sh.usage = Usage::from_responses(usage);
        }
        self.finished = true;
        let reason = response
            .incomplete_details
            .as_ref()
            .and_then(|d| d.reason.as_deref());
        let finish = Finish::from_responses(response.status, reason, !self.calls.is_empty());
        enc.finish(sh, finish, None, out)
    }
}

/// The upstream error a `response.failed` or `error` event reports.
pub(crate) fn failure(event: ResponsesEventIn<'_>) -> StreamError {
    let (code, message) = match (event.kind.as_ref(), event.error) {
        ("response.failed", _) => match event.response.and_then(|r| r.error) {
            Some(e) => (e.code, Some(e.message)),
            None => (None, None),
        },
        (
            _,
            Some(ResponsesErrorIn {
                kind,
                code,
                message,
            }),
        ) => (code.or(kind), message),
        (_, None) => (event.code, event.message),
    };
    StreamError::Upstream(MidStreamError {
        kind: super::error::kind_from_responses(code.as_deref()),
        message: message
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| "the upstream response failed".to_owned()),
    })
}
