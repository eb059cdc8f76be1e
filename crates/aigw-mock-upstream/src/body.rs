//! The response body: pre-rendered chunks (one for a JSON body, one per SSE event for
//! a stream) sent with the pacing, cut or error event a fault asks for, and a guard
//! that notices when the client goes away before the body is finished.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::counter::Counter;
use crate::error::Error;

/// How long a cut stream waits before failing, so the events before the cut are
/// flushed to the socket (hyper drops unflushed bytes when a body errors).
const CUT_GRACE: Duration = Duration::from_millis(10);

/// Counts a disconnect when dropped while still armed: the handler future or the
/// body was dropped before the mock finished answering, which only happens when
/// the client (or the connection) went away.
#[derive(Debug)]
pub(crate) struct DisconnectGuard {
    counter: Option<Arc<Counter>>,
}

impl DisconnectGuard {
    pub(crate) fn new(counter: Arc<Counter>) -> Self {
        Self {
            counter: Some(counter),
        }
    }

    /// The answer is complete (or was ended on purpose): nothing to count.
    pub(crate) fn disarm(&mut self) {
        self.counter = None;
    }
}

impl Drop for DisconnectGuard {
    fn drop(&mut self) {
        if let Some(counter) = self.counter.take() {
            counter.incr();
        }
    }
}

/// Stream-shaping a fault asks for, applied to the rendered chunks.
#[derive(Debug, Default)]
pub(crate) struct Shaping {
    /// Pause between consecutive chunks.
    pub(crate) per_event: Option<Duration>,
    /// Drop the connection after this many chunks.
    pub(crate) cut_after: Option<usize>,
    /// Send this chunk after that many chunks, then end.
    pub(crate) error_event: Option<(usize, Bytes)>,
    /// Announce this length (a truncated body keeps its full `content-length`).
    pub(crate) declared_len: Option<u64>,
}

enum Phase {
    Sending,
    Cutting(Pin<Box<Sleep>>),
    Done,
}

/// A response body of pre-rendered chunks.
pub(crate) struct MockBody {
    chunks: std::vec::IntoIter<Bytes>,
    sent: usize,
    shaping: Shaping,
    pace: Option<Pin<Box<Sleep>>>,
    waiting: bool,
    phase: Phase,
    guard: DisconnectGuard,
}

impl std::fmt::Debug for MockBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockBody")
            .field("remaining", &self.chunks.len())
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

impl MockBody {
    pub(crate) fn chunks(chunks: Vec<Bytes>, shaping: Shaping, guard: DisconnectGuard) -> Self {
        let mut body = Self {
            chunks: chunks.into_iter(),
            sent: 0,
            shaping,
            pace: None,
            waiting: false,
            phase: Phase::Sending,
            guard,
        };
        if body.nothing_left() {
            body.finish();
        }
        body
    }

    fn nothing_left(&self) -> bool {
        self.chunks.len() == 0
            && self.shaping.cut_after.is_none()
            && self.shaping.error_event.is_none()
    }

    fn finish(&mut self) {
        self.guard.disarm();
        self.phase = Phase::Done;
    }

    fn start_cut(&mut self) {
        // Ending the body on purpose is not a client disconnect.
        self.guard.disarm();
        self.phase = Phase::Cutting(Box::pin(tokio::time::sleep(CUT_GRACE)));
    }
}

impl Body for MockBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        loop {
            match &mut this.phase {
                Phase::Done => return Poll::Ready(None),
                Phase::Cutting(grace) => {
                    ready!(grace.as_mut().poll(cx));
                    this.phase = Phase::Done;
                    return Poll::Ready(Some(Err(Error::InjectedCut {
                        after_events: this.sent,
                    })));
                }
                Phase::Sending => {}
            }
            if let Some(limit) = this.shaping.cut_after
                && (this.sent >= limit || this.chunks.len() == 0)
            {
                this.start_cut();
                continue;
            }
            if this.waiting
                && let Some(pace) = &mut this.pace
            {
                ready!(pace.as_mut().poll(cx));
                this.waiting = false;
            }
            let error_due = this
                .shaping
                .error_event
                .as_ref()
                .is_some_and(|(at, _)| this.sent >= *at || this.chunks.len() == 0);
            let next = if error_due {
                let event = this.shaping.error_event.take().map(|(_, e)| e);
                // Nothing follows an error event.
                this.chunks = Vec::new().into_iter();
                event
            } else {
                this.chunks.next()
            };
            let Some(chunk) = next else {
                this.finish();
                return Poll::Ready(None);
            };
            this.sent += 1;
            if this.nothing_left() {
                this.finish();
            } else if let Some(per_event) = this.shaping.per_event {
                let deadline = Instant::now() + per_event;
                match &mut this.pace {
                    Some(pace) => pace.as_mut().reset(deadline),
                    None => this.pace = Some(Box::pin(tokio::time::sleep_until(deadline))),
                }
                this.waiting = true;
            }
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }

    fn size_hint(&self) -> SizeHint {
        match self.shaping.declared_len {
            Some(len) => SizeHint::with_exact(len),
            None => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn counter() -> Arc<Counter> {
        Arc::new(Counter::default())
    }

    fn chunks(n: usize) -> Vec<Bytes> {
        (0..n).map(|i| Bytes::from(format!("e{i}\n"))).collect()
    }

    #[tokio::test]
    async fn a_finished_body_does_not_count_a_disconnect() {
        let c = counter();
        let body = MockBody::chunks(
            chunks(3),
            Shaping::default(),
            DisconnectGuard::new(c.clone()),
        );
        let out = body.collect().await.unwrap().to_bytes();
        assert_eq!(&out[..], b"e0\ne1\ne2\n");
        assert_eq!(c.get(), 0);
    }

    #[tokio::test]
    async fn dropping_a_body_half_way_counts_a_disconnect() {
        let c = counter();
        let mut body = MockBody::chunks(
            chunks(3),
            Shaping::default(),
            DisconnectGuard::new(c.clone()),
        );
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "e0\n");
        drop(body);
        assert_eq!(c.get(), 1);
    }

    #[tokio::test]
    async fn a_cut_sends_n_chunks_then_errors() {
        let c = counter();
        let shaping = Shaping {
            cut_after: Some(2),
            ..Shaping::default()
        };
        let mut body = MockBody::chunks(chunks(5), shaping, DisconnectGuard::new(c.clone()));
        assert!(body.frame().await.unwrap().is_ok());
        assert!(body.frame().await.unwrap().is_ok());
        let err = body.frame().await.unwrap().unwrap_err();
        assert!(matches!(err, Error::InjectedCut { after_events: 2 }));
        assert!(body.frame().await.is_none());
        drop(body);
        assert_eq!(c.get(), 0);
    }

    #[tokio::test]
    async fn an_error_event_replaces_the_rest_of_the_stream() {
        let shaping = Shaping {
            error_event: Some((1, Bytes::from_static(b"ERR\n"))),
            ..Shaping::default()
        };
        let body = MockBody::chunks(chunks(4), shaping, DisconnectGuard::new(counter()));
        let out = body.collect().await.unwrap().to_bytes();
        assert_eq!(&out[..], b"e0\nERR\n");
    }

    #[tokio::test]
    async fn slow_stream_paces_between_events() {
        let shaping = Shaping {
            per_event: Some(Duration::from_millis(20)),
            ..Shaping::default()
        };
        let start = Instant::now();
        let body = MockBody::chunks(chunks(4), shaping, DisconnectGuard::new(counter()));
        body.collect().await.unwrap();
        assert!(start.elapsed() >= Duration::from_millis(60));
    }
}
