//! The upstream response body: an idle-read deadline per frame, and no total deadline.

use std::pin::Pin;
use std::task::{Context, Poll, Waker, ready};
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
/// stream: that is how a client disconnect cancels the upstream call. (A connection this body
/// drives itself is kept when the rest of the body has already arrived; see
/// `finish_at_hand`.)
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
        let mut body = Self::new(inner, idle_timeout);
        body.lent = Some(lent);
        body
    }

    /// Reads out the rest of a body dropped before its end when that rest has already
    /// arrived, so that its connection goes back to the pool instead of being closed. A reader
    /// stops at what it needs: a stream at its end marker (`[DONE]`, `message_stop`), before
    /// the chunked encoding's last chunk, which usually comes in the same packet. Never waits:
    /// a rest that has not arrived, or that is larger than [`TAIL_AT_HAND`], closes the
    /// connection as before, which is also how a client disconnect cancels the upstream call.
    fn finish_at_hand(&mut self) {
        let mut budget = TAIL_AT_HAND;
        let mut cx = Context::from_waker(Waker::noop());
        while self.lent.is_some() {
            match self.poll_inner(&mut cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if self.inner.is_end_stream() {
                        self.give_back();
                        return;
                    }
                    let size = frame.data_ref().map_or(0, Bytes::len);
                    match budget.checked_sub(size) {
                        Some(left) => budget = left,
                        None => return,
                    }
                }
                Poll::Ready(None) => {
                    self.give_back();
                    return;
                }
                Poll::Ready(Some(Err(_))) | Poll::Pending => return,
            }
        }
    }

    /// Polls hyper's body, through the lent connection when there is one (which reads and
    /// writes first).
    fn poll_inner(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let inner = &mut self.inner;
        match &mut self.lent {
            Some(lent) => lent.poll(cx, |cx| Pin::new(&mut *inner).poll_frame(cx)),
            None => Pin::new(inner).poll_frame(cx),
        }
    }

    fn give_back(&mut self) {
        if let Some(lent) = self.lent.take() {
            lent.give_back();
        }
    }
}

/// The most of a dropped body's rest that is read out to keep its connection.
const TAIL_AT_HAND: usize = 16 * 1024;

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        if !self.finished && self.lent.is_some() {
            self.finish_at_hand();
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
        match this.poll_inner(cx) {
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
