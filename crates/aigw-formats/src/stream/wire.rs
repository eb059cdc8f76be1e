//! Borrowed views of the stream events on the hot path: there is one per text
//! or argument fragment, so they are read and written without copying each
//! fragment into an owned event first, and fields the translation does not
//! use are skipped unparsed. They mirror the crate's wire types
//! (`openai::ChatCompletionChunk`, `anthropic::StreamEvent`,
//! `gemini::GenerateContentResponse`); the tests below check that what they
//! write reads back as those types, and the stream fixtures check the reading.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::gemini::{self, UsageMetadata};
use crate::openai::{ChatUsage, FinishReason, ToolType};
use crate::responses::{OutputItem, ResponseObject};

/// A `chat.completion.chunk` to write.
#[derive(Debug, Serialize)]
pub(crate) struct ChunkOut<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created: u64,
    pub model: &'a str,
    pub choices: &'a [ChoiceOut<'a>],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<ChatUsage>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ChoiceOut<'a> {
    pub index: u32,
    pub delta: DeltaOut<'a>,
    /// Always written, null until the last chunk, as OpenAI does.
    pub finish_reason: Option<FinishReason>,
}

#[derive(Debug, Default, Serialize)]
pub(crate) struct DeltaOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<[ToolCallOut<'a>; 1]>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ToolCallOut<'a> {
    pub index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<ToolType>,
    pub function: FunctionOut<'a>,
}

#[derive(Debug, Serialize)]
pub(crate) struct FunctionOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    pub arguments: &'a str,
}

/// An Anthropic `content_block_delta` to write.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename = "content_block_delta")]
pub(crate) struct BlockDeltaOut<'a> {
    pub index: u32,
    pub delta: BlockDelta<'a>,
}

/// The fragment of a `content_block_delta`.
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
pub(crate) enum BlockDelta<'a> {
    #[serde(rename = "text_delta")]
    Text { text: &'a str },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: &'a str },
    #[serde(rename = "thinking_delta")]
    Thinking { thinking: &'a str },
    #[serde(rename = "signature_delta")]
    Signature { signature: &'a str },
}

/// An Anthropic `content_block_delta` as read: flat, so that no tagged-enum
/// buffering happens, with the fragment borrowed unless it holds escapes.
/// Delta types this gateway does not know leave every field empty.
#[derive(Debug, Deserialize)]
pub(crate) struct BlockDeltaIn<'a> {
    pub index: u32,
    #[serde(borrow)]
    pub delta: BlockDeltaFields<'a>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct BlockDeltaFields<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub partial_json: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub thinking: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub signature: Option<Cow<'a, str>>,
}

/// A `chat.completion.chunk` as read.
#[derive(Debug, Deserialize)]
pub(crate) struct ChunkIn<'a> {
    #[serde(default, borrow)]
    pub choices: Vec<ChoiceIn<'a>>,
    #[serde(default)]
    pub usage: Option<ChatUsage>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChoiceIn<'a> {
    #[serde(default)]
    pub index: u32,
    #[serde(default, borrow)]
    pub delta: Option<DeltaIn<'a>>,
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct DeltaIn<'a> {
    #[serde(default, borrow)]
    pub content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub reasoning_content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub refusal: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub tool_calls: Option<Vec<ToolCallIn<'a>>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ToolCallIn<'a> {
    pub index: u32,
    #[serde(default, borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub function: Option<FunctionIn<'a>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct FunctionIn<'a> {
    #[serde(default, borrow)]
    pub name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub arguments: Option<Cow<'a, str>>,
}

/// A Gemini stream chunk as read.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GeminiChunkIn<'a> {
    #[serde(default, borrow)]
    pub candidates: Vec<CandidateIn<'a>>,
    #[serde(default)]
    pub usage_metadata: Option<UsageMetadata>,
    /// Present (with a block reason) when the prompt itself was blocked.
    #[serde(default)]
    pub prompt_feedback: Option<serde::de::IgnoredAny>,
}

/// An Antigravity stream chunk: a Gemini chunk under `response`.
#[derive(Debug, Deserialize)]
pub(crate) struct AntigravityChunkIn<'a> {
    /// Absent from envelope-only chunks, which then carry nothing.
    #[serde(default, borrow)]
    pub response: GeminiChunkIn<'a>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CandidateIn<'a> {
    #[serde(default, borrow)]
    pub content: Option<ContentIn<'a>>,
    #[serde(default)]
    pub finish_reason: Option<gemini::FinishReason>,
    #[serde(default)]
    pub index: Option<u32>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ContentIn<'a> {
    #[serde(default, borrow)]
    pub parts: Vec<PartIn<'a>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PartIn<'a> {
    #[serde(default, borrow)]
    pub text: Option<Cow<'a, str>>,
    #[serde(default)]
    pub thought: Option<bool>,
    #[serde(default, borrow)]
    pub thought_signature: Option<Cow<'a, str>>,
    /// Rare and small, so the owned wire type is used.
    #[serde(default)]
    pub function_call: Option<gemini::FunctionCall>,
}

/// A Responses fragment event to write (`response.output_text.delta`,
/// `response.function_call_arguments.delta`,
/// `response.reasoning_summary_text.delta`): the fragment is borrowed.
#[derive(Debug, Serialize)]
pub(crate) struct ResponsesDeltaOut<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub item_id: &'a str,
    pub output_index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_index: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary_index: Option<u32>,
    pub delta: &'a str,
    /// `[]` on text deltas, as OpenAI sends; absent on the others.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<[u8; 0]>,
    pub sequence_number: u64,
}

/// A Responses stream event as read: flat, fragments borrowed unless they
/// hold escapes; the item and the response are read only by the events that
/// carry them. Fields an event does not have stay empty.
#[derive(Debug, Deserialize)]
pub(crate) struct ResponsesEventIn<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub delta: Option<Cow<'a, str>>,
    #[serde(default)]
    pub output_index: Option<u32>,
    #[serde(default)]
    pub summary_index: Option<u32>,
    #[serde(default)]
    pub item: Option<OutputItem>,
    #[serde(default)]
    pub response: Option<ResponseObject>,
    /// `error` events: the code and message, at the top level…
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    /// …or, from some servers, under `error`.
    #[serde(default)]
    pub error: Option<ResponsesErrorIn>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ResponsesErrorIn {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anthropic::{Delta, StreamEvent};
    use crate::openai::{ChatCompletionChunk, FunctionCallDelta, ToolCallDelta};

    #[test]
    fn written_chunks_read_back_as_wire_chunks() {
        let choices = [ChoiceOut {
            index: 0,
            delta: DeltaOut {
                tool_calls: Some([ToolCallOut {
                    index: 1,
                    id: Some("call_1"),
                    kind: Some(ToolType::Function),
                    function: FunctionOut {
                        name: Some("f"),
                        arguments: "{\"a\"",
                    },
                }]),
                ..DeltaOut::default()
            },
            finish_reason: None,
        }];
        let out = ChunkOut {
            id: "chatcmpl-1",
            object: ChatCompletionChunk::OBJECT,
            created: 7,
            model: "m",
            choices: &choices,
            usage: None,
        };
        let text = serde_json::to_string(&out).unwrap();
        let chunk: ChatCompletionChunk = serde_json::from_str(&text).unwrap();
        assert_eq!(chunk.id, "chatcmpl-1");
        assert_eq!(chunk.object, ChatCompletionChunk::OBJECT);
        assert_eq!((chunk.created, chunk.model.as_str()), (7, "m"));
        assert_eq!(
            chunk.choices[0].delta.tool_calls,
            Some(vec![ToolCallDelta {
                index: 1,
                id: Some("call_1".into()),
                kind: Some(ToolType::Function),
                function: Some(FunctionCallDelta {
                    name: Some("f".into()),
                    arguments: Some("{\"a\"".into()),
                }),
            }])
        );
        assert!(text.contains("\"finish_reason\":null"), "{text}");
    }

    #[test]
    fn written_responses_deltas_read_back_as_wire_events() {
        use crate::responses::StreamEvent as R;
        let out = ResponsesDeltaOut {
            kind: "response.output_text.delta",
            item_id: "msg_1",
            output_index: 2,
            content_index: Some(0),
            summary_index: None,
            delta: "hi\n",
            logprobs: Some([]),
            sequence_number: 9,
        };
        let text = serde_json::to_string(&out).unwrap();
        let event: R = serde_json::from_str(&text).unwrap();
        assert_eq!(
            event,
            R::OutputTextDelta {
                item_id: "msg_1".into(),
                output_index: 2,
                content_index: 0,
                delta: "hi\n".into(),
                logprobs: Vec::new(),
                sequence_number: 9,
            }
        );
        let read: ResponsesEventIn<'_> = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (read.kind.as_ref(), read.output_index),
            ("response.output_text.delta", Some(2))
        );
        assert_eq!(read.delta.as_deref(), Some("hi\n"));
    }

    #[test]
    fn written_block_deltas_read_back_as_wire_events() {
        let cases = [
            (
                BlockDelta::Text { text: "hi\n" },
                Delta::TextDelta {
                    text: "hi\n".into(),
                },
            ),
            (
                BlockDelta::InputJson { partial_json: "{" },
                Delta::InputJsonDelta {
                    partial_json: "{".into(),
                },
            ),
            (
                BlockDelta::Thinking { thinking: "t" },
                Delta::ThinkingDelta {
                    thinking: "t".into(),
                },
            ),
            (
                BlockDelta::Signature { signature: "s" },
                Delta::SignatureDelta {
                    signature: "s".into(),
                },
            ),
        ];
        for (out, delta) in cases {
            let text = serde_json::to_string(&BlockDeltaOut {
                index: 3,
                delta: out,
            })
            .unwrap();
            let event: StreamEvent = serde_json::from_str(&text).unwrap();
            assert_eq!(event, StreamEvent::ContentBlockDelta { index: 3, delta });
            let read: BlockDeltaIn<'_> = serde_json::from_str(&text).unwrap();
            assert_eq!(read.index, 3);
        }
    }
}
