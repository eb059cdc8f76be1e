//! The client side of a streamed reply: upstream SSE bytes in, the client's
//! SSE grammar out: what the upstream sent together leaves together, as
//! soon as it is translated, and nothing ever waits for more.
//!
//! [`ClientStream`] is an [`http_body::Body`]: the server polls it, it polls
//! the upstream body, and dropping it (the client went away) drops the
//! upstream body and so cancels the upstream call. During long upstream
//! silences it emits SSE comments so proxies and clients keep the
//! connection open.

use std::borrow::Cow;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use aigw_domain::Account;
use aigw_formats::Usage;
use aigw_formats::stream::{StreamError, StreamStatus, StreamTranslator};
use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame};

use crate::attempt::StreamingAttempt;
use crate::client_pool::UpstreamBody;
use crate::redact::Secrets;
use crate::silence::Silence;

/// How long the upstream may stay silent before a keep-alive comment is sent.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);

const KEEPALIVE: &[u8] = b": keep-alive\n\n";

/// The most output gathered from upstream chunks that arrived together
/// before it is handed to the client as one frame.
const COALESCE_LIMIT: usize = 16 * 1024;

/// A translated event stream for the client.
#[derive(Debug)]
pub struct ClientStream {
    upstream: UpstreamBody,
    translator: StreamTranslator,
    out: BytesMut,
    /// Upstream silence after which a keep-alive comment goes out.
    keepalive: Silence,
    /// Where the output primed before the answer stands (see [`First`]).
    first: First,
    done: bool,
    /// The attempt this stream answers, recorded once the stream ends (or
    /// is dropped).
    attempt: Option<StreamingAttempt>,
    /// Why the stream ended badly, if it did.
    failure: Option<&'static str>,
    /// Whose credentials an upstream error event must not carry to the client.
    secrets: Option<OwnedSecrets>,
}

/// The account an upstream stream was opened with, and the OAuth token sent,
/// kept so that an error event arriving mid-stream is redacted like one
/// arriving before the first byte.
#[derive(Debug)]
struct OwnedSecrets {
    account: Arc<Account>,
    sent: Option<Box<str>>,
}

impl OwnedSecrets {
    /// `error` with the account's secrets hidden from its message.
    fn redact(&self, error: StreamError) -> StreamError {
        match error {
            StreamError::Upstream(mut e) => {
                let secrets = Secrets::of(&self.account, self.sent.as_deref());
                if let Cow::Owned(clean) = secrets.redact_str(&e.message) {
                    e.message = clean;
                }
                StreamError::Upstream(e)
            }
            other => other,
        }
    }
}

impl ClientStream {
    /// The translator, for what it learned of the upstream (its response id).
    pub fn translator(&self) -> &StreamTranslator {
        &self.translator
    }

    /// Streams `upstream` through `translator`.
    pub fn new(upstream: UpstreamBody, translator: StreamTranslator) -> Self {
        Self {
            upstream,
            translator,
            out: BytesMut::with_capacity(4096),
            keepalive: Silence::new(KEEPALIVE_INTERVAL),
            first: First::Flowing,
            done: false,
            attempt: None,
            failure: None,
            secrets: None,
        }
    }

    /// Hides the credentials of `account` (and `sent`, the OAuth token the
    /// request carried) from any upstream error event this stream passes on.
    pub fn hide_secrets_of(&mut self, account: Arc<Account>, sent: Option<&str>) {
        self.secrets = Some(OwnedSecrets {
            account,
            sent: sent.map(Box::from),
        });
    }

    /// Writes `error` for the client, without the account's credentials.
    fn write_error(&mut self, error: StreamError) {
        let error = match &self.secrets {
            Some(secrets) => secrets.redact(error),
            None => error,
        };
        self.translator.write_error(&error, &mut self.out);
    }

    /// Records `attempt`, with the stream's usage and how it ended, when
    /// the stream ends or is dropped.
    pub(crate) fn record_to(&mut self, attempt: StreamingAttempt) {
        self.attempt = Some(attempt);
    }

    fn record_stats(&mut self) {
        if let Some(attempt) = self.attempt.take() {
            let failure = self
                .failure
                .or((!self.done).then_some("client_disconnected"));
            attempt.ended(self.translator.usage(), failure);
        }
    }

    /// Reads the upstream until the translator has something for the client
    /// (or the stream ends), without sending anything yet.
    ///
    /// An error here, with nothing emitted, is the upstream failing before
    /// its first content: the caller may still answer with an error status
    /// or try another account. Once this returns `Ok`, bytes are pending and
    /// the stream is committed to this upstream.
    pub async fn prime(&mut self) -> Result<(), PrimeError> {
        use http_body_util::BodyExt as _;
        self.first = First::Primed;
        while !self.translator.bytes_emitted() {
            match self.upstream.frame().await {
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    match self.translator.push(&data, &mut self.out) {
                        Ok(StreamStatus::Open) => {}
                        Ok(StreamStatus::Done) => {
                            self.done = true;
                            return Ok(());
                        }
                        Err(e) => return self.failed_early(PrimeError::Stream(e)),
                    }
                }
                Some(Err(e)) => return self.failed_early(PrimeError::Upstream(e)),
                None => {
                    return match self.translator.finish(&mut self.out) {
                        Ok(_) => {
                            self.done = true;
                            Ok(())
                        }
                        Err(e) => self.failed_early(PrimeError::Stream(e)),
                    };
                }
            }
        }
        Ok(())
    }

    fn failed_early(&mut self, error: PrimeError) -> Result<(), PrimeError> {
        if self.translator.bytes_emitted() {
            // Content already produced: the client gets it, then the error
            // event, rather than a status code that would hide the content.
            let stream_error = match &error {
                PrimeError::Stream(e) => e.clone(),
                PrimeError::Upstream(_) => StreamError::Truncated,
            };
            self.write_error(stream_error);
            self.done = true;
            return Ok(());
        }
        Err(error)
    }

    /// The token usage seen so far.
    pub fn usage(&self) -> Usage {
        self.translator.usage()
    }

    fn take_out(&mut self) -> Option<Bytes> {
        (!self.out.is_empty()).then(|| self.out.split().freeze())
    }

    /// Translates one upstream frame into the pending output; returns that
    /// output when it has grown large enough to go out at once.
    fn translate_frame(&mut self, frame: Frame<Bytes>) -> Option<Bytes> {
        self.keepalive.heard();
        // Trailers carry nothing for the client.
        let data = frame.into_data().ok()?;
        match self.translator.push(&data, &mut self.out) {
            Ok(StreamStatus::Open) => {}
            Ok(StreamStatus::Done) => self.done = true,
            Err(e) => {
                self.write_error(e);
                self.failure = Some("stream_error");
                self.done = true;
            }
        }
        // Events already received go out together, in one write: keep
        // reading while the upstream has more at hand, up to a bound, but
        // never wait for more.
        if self.out.len() >= COALESCE_LIMIT {
            return self.take_out();
        }
        None
    }

    /// The upstream has nothing at hand: what is pending goes out now, or a
    /// keep-alive comment once the upstream has been silent for long.
    fn poll_idle(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(bytes) = self.take_out() {
            return Poll::Ready(Some(Ok(Frame::data(bytes))));
        }
        if self.keepalive.poll_passed(cx).is_ready() {
            return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(KEEPALIVE)))));
        }
        Poll::Pending
    }
}

impl Body for ClientStream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        match this.first {
            First::Primed => {
                this.first = if this.done {
                    First::Flowing
                } else {
                    First::Handed
                };
                if let Some(bytes) = this.take_out() {
                    return Poll::Ready(Some(Ok(Frame::data(bytes))));
                }
            }
            First::Handed => {
                // Pending makes the server write what it has; this poll's waker brings it
                // straight back.
                this.first = First::Flowing;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            First::Flowing => {}
        }
        loop {
            if this.done {
                let last = this.take_out();
                if last.is_none() {
                    this.record_stats();
                }
                return Poll::Ready(last.map(|b| Ok(Frame::data(b))));
            }
            match Pin::new(&mut this.upstream).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(bytes) = this.translate_frame(frame) {
                        return Poll::Ready(Some(Ok(Frame::data(bytes))));
                    }
                }
                Poll::Ready(Some(Err(_))) => {
                    // The upstream connection broke mid-stream: no retry once
                    // bytes went out, so the client gets a terminal error event.
                    this.write_error(StreamError::Truncated);
                    this.failure = Some("upstream_broken");
                    this.done = true;
                }
                Poll::Ready(None) => {
                    if let Err(e) = this.translator.finish(&mut this.out) {
                        this.write_error(e);
                        this.failure = Some("stream_error");
                    }
                    this.done = true;
                }
                Poll::Pending => return this.poll_idle(cx),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.out.is_empty()
    }
}

impl Drop for ClientStream {
    fn drop(&mut self) {
        self.record_stats();
    }
}

/// The first output leaves on its own: whatever else the upstream already sent is translated
/// only after it was flushed, so a burst of events does not hold up the first one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum First {
    /// Primed output waits to go out ahead of everything else.
    Primed,
    /// It went to the server; the next poll yields once so that the server flushes it.
    Handed,
    /// Output flows as it comes.
    Flowing,
}

/// Why a stream failed before producing anything for the client.
#[derive(Debug)]
pub enum PrimeError {
    /// The upstream reported an error event, or sent an unreadable stream.
    Stream(StreamError),
    /// The upstream connection failed.
    Upstream(crate::client_pool::TransportError),
}
