//! What every stream stage shares: the request's context, the state read
//! by decoders and encoders alike, and the event writer.

use aigw_domain::Format;
use bytes::BytesMut;

use super::error::StreamError;
use crate::Usage;

/// What the client-facing stream needs to know about its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamContext {
    /// The gateway's request id: the client-facing message id is derived from
    /// it (`msg_…`, `chatcmpl-…`, `resp_…`), and so are generated tool call
    /// and output item ids, the same way as for whole responses.
    pub request_id: String,
    /// The model name the client asked for.
    pub model: String,
    /// Unix seconds, for OpenAI's `created`.
    pub created: u64,
    /// The OpenAI client asked `stream_options.include_usage`; the upstream is
    /// always asked for usage, so the usage chunk is dropped when this is false.
    pub include_usage: bool,
}

/// State every stage reads: the context and the usage seen so far.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) ctx: StreamContext,
    /// The client format.
    pub(crate) client: Format,
    /// The client-facing message id.
    pub(crate) response_id: String,
    pub(crate) usage: Usage,
}

/// What a decoder saw in one upstream event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Continue,
    /// The upstream's own end marker (`[DONE]`, `message_stop`,
    /// `response.completed`).
    End,
}

/// Writes one event whose data is `value` as JSON.
pub(crate) fn emit<T: serde::Serialize + ?Sized>(
    out: &mut BytesMut,
    event: Option<&str>,
    value: &T,
) -> Result<(), StreamError> {
    crate::sse::write_json_event(out, event, value).map_err(|e| StreamError::Serialize {
        message: e.to_string(),
    })
}
