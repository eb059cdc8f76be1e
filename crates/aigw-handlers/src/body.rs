//! The response body type of every handler.

use std::convert::Infallible;
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
}

impl ResponseBody {
    /// A body holding `bytes`.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        Self::Full(Some(bytes.into()))
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
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Empty => true,
            Self::Full(bytes) => bytes.is_none(),
            Self::Stream(stream) => stream.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Empty | Self::Full(None) => SizeHint::with_exact(0),
            Self::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Self::Stream(_) => SizeHint::default(),
        }
    }
}
