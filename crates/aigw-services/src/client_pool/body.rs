//! The upstream response body: an idle-read deadline per frame, and no total deadline.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use super::error::{
    ErrorSource, TimeoutPhase, TransportError, TransportErrorKind, classify_hyper_error,
};
use super::h1::Lent;
use crate::silence::Silence;

/// A response body from an upstream.
///
/// Each frame must arrive within the idle-read timeout of the previous one (or of the headers);
/// a stream may otherwise run as long as the upstream keeps sending. Dropping the body before
/// its end drops the upstream stream, which closes an HTTP/1.1 connection or resets an HTTP/2
/// stream: that is how a client disconnect cancels the upstream call.
#[derive(Debug)]
pub struct UpstreamBody {
    inner: Incoming,
    /// The idle-read timeout, counted from when the upstream last had nothing at hand.
    idle: Silence,
    finished: bool,
    /// The HTTP/1.1 connection this body is read from, when the request drives its own
    /// connection (see [`super::h1`]): polled before the body, and handed back at its end.
    lent: Option<Lent>,
}

impl UpstreamBody {
    pub(crate) fn new(inner: Incoming, idle_timeout: Duration) -> Self {
        Self {
            inner,
            idle: Silence::new(idle_timeout),
            finished: false,
            lent: None,
        }
    }

    /// A body read from a connection lent to it, which goes back to the pool once the body
    /// has been read to its end.
    pub(crate) fn with_connection(inner: Incoming, idle_timeout: Duration, lent: Lent) -> Self {
        Self {
            lent: Some(lent),
            ..Self::new(inner, idle_timeout)
        }
    }

    fn give_back(&mut self) {
        if let Some(lent) = self.lent.take() {
            lent.give_back();
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = TransportError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, TransportError>>> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(None);
        }
        let inner = &mut this.inner;
        let polled = match &mut this.lent {
            Some(lent) => lent.poll(cx, |cx| Pin::new(&mut *inner).poll_frame(cx)),
            None => Pin::new(inner).poll_frame(cx),
        };
        match polled {
            Poll::Ready(Some(Ok(frame))) => {
                this.idle.heard();
                if this.inner.is_end_stream() {
                    this.give_back();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => {
                this.finished = true;
                // The connection is in an unknown state: dropping it closes it.
                this.lent = None;
                let kind = classify_hyper_error(&error);
                Poll::Ready(Some(Err(TransportError::new(kind, ErrorSource::Upstream)
                    .in_body()
                    .with_cause(error))))
            }
            Poll::Ready(None) => {
                this.finished = true;
                this.give_back();
                Poll::Ready(None)
            }
            Poll::Pending => {
                ready!(this.idle.poll_passed(cx));
                // Ending here: the caller drops the body, which drops the stalled upstream
                // stream; a lent connection is closed now.
                this.finished = true;
                this.lent = None;
                Poll::Ready(Some(Err(TransportError::new(
                    TransportErrorKind::Timeout(TimeoutPhase::Idle),
                    ErrorSource::Upstream,
                )
                .in_body())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.finished || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
