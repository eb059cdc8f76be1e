//! Writes the OpenAI Responses stream grammar from neutral stream events.
//!
//! `response.created` and `response.in_progress`, then one output item per
//! run of text (a `message` with one `output_text` part), of reasoning (a
//! `reasoning` item with one summary part; its signature becomes the item's
//! `encrypted_content`) and per tool call (a `function_call`), each opened
//! with `response.output_item.added` and closed with its `.done` events; then
//! `response.completed` (or `response.incomplete`) with the whole response
//! and its usage. `output_index` is the item's position in the order items
//! were added, and `sequence_number` counts every event from 0. A message or
//! reasoning item closes when anything else begins; tool calls stay open
//! until the message ends, so an upstream interleaving parallel calls loses
//! no argument. Nothing is written before there is something to say, so an
//! upstream error arriving first leaves the client untouched.

use bytes::BytesMut;

use super::context::{Shared, emit};
use super::error::StreamError;
use super::wire::ResponsesDeltaOut;
use crate::responses::{
    IncompleteDetails, ItemStatus, OutputContent, OutputItem, ResponseError, ResponseObject,
    ResponseStatus, StreamEvent, SummaryPart,
};
use crate::{ErrorKind, Finish, ids, namespaces};

#[derive(Debug)]
enum Body {
    Message {
        text: String,
    },
    Reasoning {
        text: String,
        /// The summary part was opened (only once there is text).
        part_open: bool,
        signature: Option<String>,
    },
    Tool {
        key: u32,
        call_id: String,
        name: String,
        namespace: Option<String>,
        arguments: String,
    },
}

#[derive(Debug)]
struct Item {
    id: String,
    body: Body,
    done: bool,
}

impl Item {
    /// The item as `output` shows it: whole when done, empty when just added.
    fn snapshot(&self, whole: bool) -> OutputItem {
        let status = Some(if self.done {
            ItemStatus::Completed
        } else {
            ItemStatus::InProgress
        });
        match &self.body {
            Body::Message { text } => OutputItem::Message {
                id: self.id.clone(),
                status,
                role: "assistant".to_owned(),
                content: if whole {
                    vec![text_part(text)]
                } else {
                    Vec::new()
                },
            },
            Body::Reasoning {
                text, signature, ..
            } => OutputItem::Reasoning {
                id: self.id.clone(),
                summary: if whole && !text.is_empty() {
                    vec![summary_part(text)]
                } else {
                    Vec::new()
                },
                content: None,
                encrypted_content: signature.clone().filter(|_| whole),
            },
            Body::Tool {
                call_id,
                name,
                namespace,
                arguments,
                ..
            } => OutputItem::FunctionCall {
                id: self.id.clone(),
                call_id: call_id.clone(),
                name: name.clone(),
                namespace: namespace.clone(),
                arguments: if whole {
                    arguments.clone()
                } else {
                    String::new()
                },
                status,
            },
        }
    }
}

fn text_part(text: &str) -> OutputContent {
    OutputContent::OutputText {
        text: text.to_owned(),
        annotations: Vec::new(),
    }
}

fn summary_part(text: &str) -> SummaryPart {
    SummaryPart::SummaryText {
        text: text.to_owned(),
    }
}

#[derive(Debug)]
pub(crate) struct ResponsesEncoder {
    started: bool,
    /// The next event's `sequence_number`.
    seq: u64,
    /// Output items by `output_index`.
    items: Vec<Item>,
    finish: Option<Finish>,
    /// The client's tool namespaces (see [`crate::namespaces`]).
    tool_namespaces: Vec<String>,
}

impl ResponsesEncoder {
    pub(crate) fn new() -> Self {
        Self {
            started: false,
            seq: 0,
            items: Vec::new(),
            finish: None,
            tool_namespaces: Vec::new(),
        }
    }

    /// Calls of functions declared in one of `namespaces` come back in it.
    pub(crate) fn set_tool_namespaces(&mut self, namespaces: Vec<String>) {
        self.tool_namespaces = namespaces;
    }

    pub(crate) fn finished(&self) -> bool {
        self.finish.is_some()
    }

    fn event(&mut self, event: &StreamEvent, out: &mut BytesMut) -> Result<(), StreamError> {
        self.seq += 1;
        emit(out, Some(event.event_name()), event)
    }

    fn delta(
        &mut self,
        kind: &'static str,
        index: usize,
        delta: &str,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        let event = ResponsesDeltaOut {
            kind,
            item_id: &self.items[index].id,
            output_index: output_index(index),
            content_index: (kind == TEXT_DELTA).then_some(0),
            summary_index: (kind == SUMMARY_DELTA).then_some(0),
            delta,
            logprobs: (kind == TEXT_DELTA).then_some([]),
            sequence_number: self.seq,
        };
        self.seq += 1;
        emit(out, Some(kind), &event)
    }

    /// The response shell of `response.created`, `response.in_progress` and
    /// `response.failed`, with the output so far.
    fn shell(&self, sh: &Shared, status: ResponseStatus) -> ResponseObject {
        ResponseObject {
            id: sh.response_id.clone(),
            object: ResponseObject::OBJECT.to_owned(),
            created_at: sh.ctx.created,
            status: Some(status),
            error: None,
            incomplete_details: None,
            model: sh.ctx.model.clone(),
            output: Vec::new(),
            usage: None,
        }
    }

    fn start(&mut self, sh: &Shared, out: &mut BytesMut) -> Result<(), StreamError> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        let response = self.shell(sh, ResponseStatus::InProgress);
        self.event(
            &StreamEvent::Created {
                response: response.clone(),
                sequence_number: self.seq,
            },
            out,
        )?;
        self.event(
            &StreamEvent::InProgress {
                response,
                sequence_number: self.seq,
            },
            out,
        )
    }

    /// Adds an item at the next `output_index` and announces it.
    fn add(
        &mut self,
        sh: &Shared,
        prefix: &str,
        body: Body,
        out: &mut BytesMut,
    ) -> Result<usize, StreamError> {
        self.start(sh, out)?;
        let index = self.items.len();
        self.items.push(Item {
            id: ids::item_id(prefix, &sh.ctx.request_id, index),
            body,
            done: false,
        });
        let item = self.items[index].snapshot(false);
        self.event(
            &StreamEvent::OutputItemAdded {
                output_index: output_index(index),
                item,
                sequence_number: self.seq,
            },
            out,
        )?;
        if matches!(self.items[index].body, Body::Message { .. }) {
            let item_id = self.items[index].id.clone();
            self.event(
                &StreamEvent::ContentPartAdded {
                    item_id,
                    output_index: output_index(index),
                    content_index: 0,
                    part: text_part(""),
                    sequence_number: self.seq,
                },
                out,
            )?;
        }
        Ok(index)
    }

    /// The open message or reasoning item that more of the same extends: the
    /// last item, when it is still open and of that kind.
    fn open_last(&self, reasoning: bool) -> Option<usize> {
        let index = self.items.len().checked_sub(1)?;
        let item = &self.items[index];
        let fits = match item.body {
            Body::Message { .. } => !reasoning,
            Body::Reasoning { .. } => reasoning,
            Body::Tool { .. } => false,
        };
        (fits && !item.done).then_some(index)
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
        let index = match self.open_last(false) {
            Some(index) => index,
            None => {
                self.close_all(out)?;
                let body = Body::Message {
                    text: String::new(),
                };
                self.add(sh, "msg", body, out)?
            }
        };
        if let Body::Message { text: all } = &mut self.items[index].body {
            all.push_str(text);
        }
        self.delta(TEXT_DELTA, index, text, out)
    }

    /// The open reasoning item, or a new one.
    fn reasoning(&mut self, sh: &Shared, out: &mut BytesMut) -> Result<usize, StreamError> {
        if let Some(index) = self.open_last(true) {
            return Ok(index);
        }
        self.close_all(out)?;
        let body = Body::Reasoning {
            text: String::new(),
            part_open: false,
            signature: None,
        };
        self.add(sh, "rs", body, out)
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
        let index = self.reasoning(sh, out)?;
        let item_id = self.items[index].id.clone();
        if let Body::Reasoning {
            text: all,
            part_open,
            ..
        } = &mut self.items[index].body
        {
            all.push_str(text);
            if !*part_open {
                *part_open = true;
                self.event(
                    &StreamEvent::ReasoningSummaryPartAdded {
                        item_id,
                        output_index: output_index(index),
                        summary_index: 0,
                        part: summary_part(""),
                        sequence_number: self.seq,
                    },
                    out,
                )?;
            }
        }
        self.delta(SUMMARY_DELTA, index, text, out)
    }

    /// A reasoning signature: the open reasoning item's `encrypted_content`,
    /// or an item of its own (Gemini signs function calls and text), so that
    /// the client sends it back next turn.
    pub(crate) fn signature(
        &mut self,
        sh: &Shared,
        signature: &str,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        if signature.is_empty() {
            return Ok(());
        }
        let index = self.reasoning(sh, out)?;
        self.sign(index, signature);
        Ok(())
    }

    /// A signature that belongs to reasoning only if reasoning is in progress.
    pub(crate) fn signature_if_thinking(&mut self, signature: &str) {
        if let Some(index) = self.open_last(true)
            && !signature.is_empty()
        {
            self.sign(index, signature);
        }
    }

    fn sign(&mut self, index: usize, signature: &str) {
        if let Body::Reasoning { signature: s, .. } = &mut self.items[index].body {
            s.get_or_insert_with(String::new).push_str(signature);
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
        if self.tool(key).is_some() {
            // A repeated start of a known call adds nothing.
            return Ok(());
        }
        if let Some(index) = self.items.len().checked_sub(1)
            && !matches!(self.items[index].body, Body::Tool { .. })
        {
            self.close(index, out)?;
        }
        let (namespace, name) = namespaces::split(name.to_owned(), &self.tool_namespaces);
        let body = Body::Tool {
            key,
            call_id: id.to_owned(),
            name,
            namespace,
            arguments: String::new(),
        };
        self.add(sh, "fc", body, out)?;
        Ok(())
    }

    fn tool(&self, key: u32) -> Option<usize> {
        self.items
            .iter()
            .position(|item| matches!(item.body, Body::Tool { key: k, .. } if k == key))
    }

    /// A fragment of a tool call's JSON arguments. Fragments of a call that
    /// was never started, or already closed, have nowhere to go.
    pub(crate) fn tool_args(
        &mut self,
        key: u32,
        json: &str,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        let Some(index) = self.tool(key).filter(|&i| !self.items[i].done) else {
            return Ok(());
        };
        if json.is_empty() {
            return Ok(());
        }
        if let Body::Tool { arguments, .. } = &mut self.items[index].body {
            arguments.push_str(json);
        }
        self.delta(ARGS_DELTA, index, json, out)
    }

    /// Writes an item's closing events.
    fn close(&mut self, index: usize, out: &mut BytesMut) -> Result<(), StreamError> {
        if self.items[index].done {
            return Ok(());
        }
        let item_id = self.items[index].id.clone();
        let at = output_index(index);
        // A call without arguments (Anthropic streams none for an empty
        // input) still needs a JSON object for the client to parse.
        if let Body::Tool { arguments, .. } = &self.items[index].body
            && arguments.is_empty()
        {
            self.delta(ARGS_DELTA, index, "{}", out)?;
            if let Body::Tool { arguments, .. } = &mut self.items[index].body {
                arguments.push_str("{}");
            }
        }
        let closing = closing_events(&self.items[index].body, item_id, at);
        for mut event in closing {
            set_sequence(&mut event, self.seq);
            self.event(&event, out)?;
        }
        self.items[index].done = true;
        let item = self.items[index].snapshot(true);
        self.event(
            &StreamEvent::OutputItemDone {
                output_index: at,
                item,
                sequence_number: self.seq,
            },
            out,
        )
    }

    fn close_all(&mut self, out: &mut BytesMut) -> Result<(), StreamError> {
        for index in 0..self.items.len() {
            self.close(index, out)?;
        }
        Ok(())
    }

    pub(crate) fn finish(&mut self, finish: Finish, out: &mut BytesMut) -> Result<(), StreamError> {
        self.close_all(out)?;
        self.finish.get_or_insert(finish);
        Ok(())
    }

    pub(crate) fn end(&mut self, sh: &Shared, out: &mut BytesMut) -> Result<(), StreamError> {
        self.start(sh, out)?;
        self.close_all(out)?;
        let (status, reason) = self.finish.unwrap_or(Finish::EndTurn).to_responses();
        let mut response = self.shell(sh, status);
        response.incomplete_details = reason.map(|r| IncompleteDetails {
            reason: Some(r.to_owned()),
        });
        response.output = self.items.iter().map(|i| i.snapshot(true)).collect();
        response.usage = Some(sh.usage.to_responses());
        let sequence_number = self.seq;
        let event = match status {
            ResponseStatus::Incomplete => StreamEvent::Incomplete {
                response,
                sequence_number,
            },
            _ => StreamEvent::Completed {
                response,
                sequence_number,
            },
        };
        self.event(&event, out)
    }

    /// Ends the stream with `error` and `response.failed`, for a failure after
    /// bytes were sent.
    pub(crate) fn fail(
        &mut self,
        sh: &Shared,
        kind: ErrorKind,
        message: &str,
        out: &mut BytesMut,
    ) -> Result<(), StreamError> {
        self.start(sh, out)?;
        let mut response = self.shell(sh, ResponseStatus::Failed);
        response.output = self.items.iter().map(|i| i.snapshot(i.done)).collect();
        response.usage = Some(sh.usage.to_responses());
        write_failure(&mut self.seq, response, kind, message, out)
    }
}

const TEXT_DELTA: &str = "response.output_text.delta";
const SUMMARY_DELTA: &str = "response.reasoning_summary_text.delta";
const ARGS_DELTA: &str = "response.function_call_arguments.delta";

/// The Responses `error.code` for a failure of this kind.
pub(crate) const fn error_code(kind: ErrorKind) -> &'static str {
    match kind.openai_code() {
        Some(code) => code,
        None => kind.openai_type(),
    }
}

/// Writes `error` then `response.failed` (carrying `response`, which gets
/// the error) from sequence number `seq` on: what a Responses client reads
/// when a stream fails after it started.
pub(crate) fn write_failure(
    seq: &mut u64,
    mut response: ResponseObject,
    kind: ErrorKind,
    message: &str,
    out: &mut BytesMut,
) -> Result<(), StreamError> {
    let code = error_code(kind);
    let error = StreamEvent::Error {
        code: Some(code.to_owned()),
        message: message.to_owned(),
        param: None,
        sequence_number: *seq,
    };
    emit(out, Some(error.event_name()), &error)?;
    *seq += 1;
    response.status = Some(ResponseStatus::Failed);
    response.error = Some(ResponseError {
        code: Some(code.to_owned()),
        message: message.to_owned(),
    });
    let failed = StreamEvent::Failed {
        response,
        sequence_number: *seq,
    };
    emit(out, Some(failed.event_name()), &failed)?;
    *seq += 1;
    Ok(())
}

fn set_sequence(event: &mut StreamEvent, seq: u64) {
    match event {
        StreamEvent::Created {
            sequence_number, ..
        }
        | StreamEvent::InProgress {
            sequence_number, ..
        }
        | StreamEvent::Completed {
            sequence_number, ..
        }
        | StreamEvent::Incomplete {
            sequence_number, ..
        }
        | StreamEvent::Failed {
            sequence_number, ..
        }
        | StreamEvent::OutputItemAdded {
            sequence_number, ..
        }
        | StreamEvent::OutputItemDone {
            sequence_number, ..
        }
        | StreamEvent::ContentPartAdded {
            sequence_number, ..
        }
        | StreamEvent::ContentPartDone {
            sequence_number, ..
        }
        | StreamEvent::OutputTextDelta {
            sequence_number, ..
        }
        | StreamEvent::OutputTextDone {
            sequence_number, ..
        }
        | StreamEvent::FunctionCallArgumentsDelta {
            sequence_number, ..
        }
        | StreamEvent::FunctionCallArgumentsDone {
            sequence_number, ..
        }
        | StreamEvent::ReasoningSummaryPartAdded {
            sequence_number, ..
        }
        | StreamEvent::ReasoningSummaryPartDone {
            sequence_number, ..
        }
        | StreamEvent::ReasoningSummaryTextDelta {
            sequence_number, ..
        }
        | StreamEvent::ReasoningSummaryTextDone {
            sequence_number, ..
        }
        | StreamEvent::Error {
            sequence_number, ..
        } => *sequence_number = seq,
    }
}

fn output_index(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
}

/// The events that close an item of `body`, before its `output_item.done`
/// (sequence numbers set when written).
fn closing_events(body: &Body, item_id: String, at: u32) -> Vec<StreamEvent> {
    match body {
        Body::Message { text } => vec![
            StreamEvent::OutputTextDone {
                item_id: item_id.clone(),
                output_index: at,
                content_index: 0,
                text: text.clone(),
                logprobs: Vec::new(),
                sequence_number: 0,
            },
            StreamEvent::ContentPartDone {
                item_id,
                output_index: at,
                content_index: 0,
                part: text_part(text),
                sequence_number: 0,
            },
        ],
        Body::Reasoning {
            text, part_open, ..
        } if *part_open => vec![
            StreamEvent::ReasoningSummaryTextDone {
                item_id: item_id.clone(),
                output_index: at,
                summary_index: 0,
                text: text.clone(),
                sequence_number: 0,
            },
            StreamEvent::ReasoningSummaryPartDone {
                item_id,
                output_index: at,
                summary_index: 0,
                part: summary_part(text),
                sequence_number: 0,
            },
        ],
        Body::Reasoning { .. } => Vec::new(),
        Body::Tool { arguments, .. } => vec![StreamEvent::FunctionCallArgumentsDone {
            item_id,
            output_index: at,
            arguments: arguments.clone(),
            sequence_number: 0,
        }],
    }
}
