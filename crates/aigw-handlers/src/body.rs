//! The response body type of every handler.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use aigw_services::stream::ClientStream;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// A response body: a whole buffer for JSON answers, or a translated event
/// stream. A closed enum rather than a boxed trait object, so the common
/// case costs no allocation.
#[derive(Debug, Default)]
pub enum ResponseBody {
    /// No body (204, HEAD).
    #[default]
    Empty,
    /// A complete body, sent as one frame.
    Full(Option<Bytes>),
    /// Server-sent events, sent frame by frame as the upstream produces them.
    Stream(Box<ClientStream>),
    /// A refusal sent while the refused request body is still read and
    /// discarded: the body ends once `drain` is done, and the connection
    /// closes after it (the response says `Connection: close`).
    Lingering {
        /// The answer, sent first.
        answer: Option<Bytes>,
        /// Reads the rest of the request.
        drain: Drain,
    },
}

/// Reads the rest of a refused request body (see [`ResponseBody::Lingering`]).
pub struct Drain(Pin<Box<dyn Future<Output = ()> + Send>>);

impl fmt::Debug for Drain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Drain")
    }
}

impl ResponseBody {
    /// A body holding `bytes`.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        Self::Full(Some(bytes.into()))
    }

    /// `answer`, then the end of the body once `drain` completes.
    pub(crate) fn lingering(
        answer: Bytes,
        drain: impl Future<Output = ()> + Send + 'static,
    ) -> Self {
        Self::Lingering {
            answer: Some(answer),
            drain: Drain(Box::pin(drain)),
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Self::Empty => Poll::Ready(None),
            Self::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Self::Stream(stream) => Pin::new(stream.as_mut()).poll_frame(cx),
            Self::Lingering { answer, drain } => {
                if let Some(answer) = answer.take() {
                    return Poll::Ready(Some(Ok(Frame::data(answer))));
                }
                drain.0.as_mut().poll(cx).map(|()| None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Empty => true,
            Self::Full(bytes) => bytes.is_none(),
            Self::Stream(stream) => stream.is_end_stream(),
            Self::Lingering { .. } => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Empty | Self::Full(None) => SizeHint::with_exact(0),
            Self::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            // No length: the answer goes out in a first chunk and the body
            // stays open while the request is drained. With a length, HTTP/1
            // would end the response, and close, as soon as it was written.
            Self::Stream(_) | Self::Lingering { .. } => SizeHint::default(),
        }
    }
}
