//! A Responses stream read back into one Responses object, for an upstream
//! that only streams (the ChatGPT Codex backend) answering a client that did
//! not ask for a stream.
//!
//! The response is the one `response.completed` (or `.incomplete`) carries,
//! kept as the upstream wrote it (fields this gateway does not know survive);
//! when its `output` is missing or empty, the items of the
//! `response.output_item.done` events take its place, in `output_index`
//! order. `response.failed` and `error` events are upstream errors, and a
//! stream that ends before the response is done is truncated.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::error::StreamError;
use super::from_responses::failure;
use crate::Usage;
use crate::responses::ResponseUsage;
use crate::sse::{SseEvent, SseParser};

/// What the aggregator reads of an event; fragments are skipped unparsed.
#[derive(Deserialize)]
struct EventPeek<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(default)]
    output_index: Option<u32>,
    #[serde(default, borrow)]
    item: Option<&'a RawValue>,
    #[serde(default, borrow)]
    response: Option<&'a RawValue>,
}

/// Reads a Responses SSE body, fed in chunks, into the response it describes.
#[derive(Debug, Default)]
pub struct ResponsesAggregator {
    parser: SseParser,
    /// Finished output items by `output_index`.
    items: BTreeMap<u32, Value>,
    /// The final response, once `response.completed` or `.incomplete` arrived.
    response: Option<Value>,
}

impl ResponsesAggregator {
    /// An aggregator that has read nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds a chunk of the upstream body.
    ///
    /// # Errors
    /// An upstream `error` event or failed response, an oversized or
    /// malformed event.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), StreamError> {
        self.parser.push(chunk);
        loop {
            let Some(ev) = self.parser.next_event()? else {
                return Ok(());
            };
            if self.response.is_some() {
                continue;
            }
            read_event(&ev, &mut self.items, &mut self.response)?;
        }
    }

    /// Ends the body and returns the response, as a JSON body, with its usage.
    ///
    /// # Errors
    /// As for [`push`](Self::push), and [`StreamError::Truncated`] when the
    /// body ended before the response was done.
    pub fn finish(mut self) -> Result<(Bytes, Usage), StreamError> {
        while let Some(ev) = self.parser.finish()? {
            if self.response.is_none() {
                read_event(&ev, &mut self.items, &mut self.response)?;
            }
        }
        let Some(mut response) = self.response else {
            return Err(StreamError::Truncated);
        };
        let output_missing = response
            .get("output")
            .is_none_or(|o| o.as_array().is_none_or(Vec::is_empty));
        if output_missing && !self.items.is_empty() {
            response["output"] = Value::Array(self.items.into_values().collect());
        }
        let usage = response
            .get("usage")
            .filter(|u| !u.is_null())
            .map(|u| ResponseUsage::deserialize(u).map(|u| Usage::from_responses(&u)))
            .transpose()
            .map_err(|e| StreamError::malformed(Some("response.completed"), &e))?
            .unwrap_or_default();
        let body = serde_json::to_vec(&response).map_err(|e| StreamError::Serialize {
            message: e.to_string(),
        })?;
        Ok((Bytes::from(body), usage))
    }
}

fn read_event(
    ev: &SseEvent<'_>,
    items: &mut BTreeMap<u32, Value>,
    response: &mut Option<Value>,
) -> Result<(), StreamError> {
    let data = ev.data.trim_ascii();
    if data == "[DONE]" {
        return Ok(());
    }
    let malformed = |e: serde_json::Error| StreamError::malformed(ev.event, &e);
    let peek: EventPeek<'_> = serde_json::from_str(data).map_err(malformed)?;
    match peek.kind.as_ref() {
        "response.output_item.done" => {
            if let (Some(index), Some(item)) = (peek.output_index, peek.item) {
                items.insert(index, serde_json::from_str(item.get()).map_err(malformed)?);
            }
        }
        "response.completed" | "response.incomplete" => {
            let raw = peek.response.map_or("{}", RawValue::get);
            let value: Value = serde_json::from_str(raw).map_err(malformed)?;
            if !value.is_object() {
                return Err(StreamError::Malformed {
                    event: peek.kind.into_owned(),
                    message: "`response` is not an object".to_owned(),
                });
            }
            *response = Some(value);
        }
        "response.failed" | "error" => {
            return Err(failure(serde_json::from_str(data).map_err(malformed)?));
        }
        _ => {}
    }
    Ok(())
}

/// Reads a whole Responses SSE body into the response it describes (see
/// [`ResponsesAggregator`]).
///
/// # Errors
/// As for [`ResponsesAggregator::finish`].
pub fn aggregate_responses(body: &[u8]) -> Result<(Bytes, Usage), StreamError> {
    let mut aggregator = ResponsesAggregator::new();
    aggregator.push(body)?;
    aggregator.finish()
}
