//! Reading what a client sent: the body, bounded in size and time before it
//! is read whole, and the credential in whichever header its SDK uses.

use std::borrow::Cow;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{AUTHORIZATION, CONNECTION, CONTENT_LENGTH, EXPECT, HeaderValue};
use http::{HeaderMap, HeaderName, Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::time::{Instant, Sleep};

use crate::app::App;
use crate::body::ResponseBody;
use crate::connection::Reading;
use crate::edge::{EdgeCounters, Linger};

/// Why a request body could not be read.
#[derive(Debug)]
pub(crate) enum BodyError<B> {
    /// Larger than the configured limit; `rest` is what was not read.
    TooLarge { limit: usize, rest: B },
    /// The client's connection failed while sending it.
    Read,
    /// The client stopped sending it, or took too long.
    Timeout,
}

/// Reads the whole body, refusing it as soon as it is known to exceed
/// `limit`: up front from `Content-Length`, else while it streams in.
pub(crate) async fn read_body<B>(
    headers: &HeaderMap,
    mut body: B,
    limit: usize,
) -> Result<Bytes, BodyError<B>>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(BodyError::TooLarge { limit, rest: body });
    }
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut len = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(e) => {
                let e: &(dyn std::error::Error + 'static) = &e;
                return Err(match e.downcast_ref::<BodyReadError>() {
                    Some(BodyReadError::Timeout) => BodyError::Timeout,
                    _ => BodyError::Read,
                });
            }
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        len = len.saturating_add(data.len());
        if len > limit {
            return Err(BodyError::TooLarge { limit, rest: body });
        }
        chunks.push(data);
    }
    Ok(match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.pop().unwrap_or_default(),
        _ => {
            let mut whole = BytesMut::with_capacity(len);
            for chunk in chunks {
                whole.extend_from_slice(&chunk);
            }
            whole.freeze()
        }
    })
}

static CLOSE: HeaderValue = HeaderValue::from_static("close");

/// Marks `resp` as the last answer on its connection: the request's body was
/// not read to its end, so the connection cannot carry another request.
pub(crate) fn closing(mut resp: Response<ResponseBody>) -> Response<ResponseBody> {
    resp.headers_mut().insert(CONNECTION, CLOSE.clone());
    resp
}

/// Sends the refusal `resp` of a request whose body is not read (too large,
/// or refused before it was read) and closes the connection,
/// reading and discarding the rest of the body meanwhile (within the
/// application's [`Linger`] bounds) so that a client still writing it reads
/// the answer rather than a reset. A client that waits for `100 Continue`
/// sends nothing more, so it is answered plainly.
pub(crate) fn refuse_body<B>(
    app: &App,
    headers: &HeaderMap,
    resp: Response<ResponseBody>,
    rest: B,
) -> Response<ResponseBody>
where
    B: Body<Data = Bytes> + Unpin + Send + 'static,
{
    let resp = closing(resp);
    let linger = app.linger;
    let expects_continue = headers
        .get(EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if linger.timeout.is_zero() || expects_continue || rest.is_end_stream() {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let ResponseBody::Full(Some(answer)) = body else {
        return Response::from_parts(parts, body);
    };
    EdgeCounters::bump(&app.edge.lingering_closes);
    Response::from_parts(
        parts,
        ResponseBody::lingering(answer, discard(rest, linger)),
    )
}

/// Answers `req` with `resp` without reading its body: a client still
/// writing one reads the answer, not a reset (see [`refuse_body`]).
pub(crate) fn refuse_unread<B>(
    app: &App,
    req: Request<B>,
    resp: Response<ResponseBody>,
) -> Response<ResponseBody>
where
    B: Body<Data = Bytes> + Unpin + Send + 'static,
{
    let (parts, body) = req.into_parts();
    if body.is_end_stream() {
        return resp;
    }
    refuse_body(app, &parts.headers, resp, body)
}

/// Reads `body` to its end and drops what it reads, for at most
/// `linger.timeout` and `linger.max_bytes`.
async fn discard<B>(mut body: B, linger: Linger)
where
    B: Body<Data = Bytes> + Unpin,
{
    let deadline = Instant::now() + linger.timeout;
    let mut read = 0u64;
    while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, body.frame()).await {
        if let Some(data) = frame.data_ref() {
            read = read.saturating_add(data.len() as u64);
            if read > linger.max_bytes {
                break;
            }
        }
    }
}

/// How long a request body may take.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyTimeouts {
    /// Longest silence between two chunks.
    pub(crate) idle: Duration,
    /// Longest time for the whole body, from the request head.
    pub(crate) total: Duration,
}

/// The error of a [`TimedBody`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyReadError {
    #[error("the request body did not arrive in time")]
    Timeout,
    #[error("the request body could not be read")]
    Read(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A request body that fails with [`BodyReadError::Timeout`] when its client
/// goes silent for longer than the idle timeout or takes longer than the
/// total one, and tells its connection while it is still being received.
///
/// The timer is made only when a read has to wait, so a body that is
/// already there (or absent) costs none.
#[derive(Debug)]
pub(crate) struct TimedBody<B> {
    inner: B,
    timeouts: BodyTimeouts,
    started: Instant,
    last_frame: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
    /// Held while the body is being received.
    reading: Option<Reading>,
    timed_out: bool,
}

impl<B: Body> TimedBody<B> {
    /// Times `inner`; `reading` (called only when a body is expected) is
    /// released when the body ends.
    pub(crate) fn new(
        inner: B,
        timeouts: BodyTimeouts,
        reading: impl FnOnce() -> Option<Reading>,
    ) -> Self {
        let now = Instant::now();
        let reading = if inner.is_end_stream() {
            None
        } else {
            reading()
        };
        Self {
            inner,
            timeouts,
            started: now,
            last_frame: now,
            sleep: None,
            reading,
            timed_out: false,
        }
    }

    fn deadline(&self) -> Instant {
        (self.last_frame + self.timeouts.idle).min(self.started + self.timeouts.total)
    }
}

impl<B> Body for TimedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = BodyReadError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyReadError>>> {
        let this = self.get_mut();
        if this.timed_out {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.last_frame = Instant::now();
                if this.inner.is_end_stream() {
                    this.reading = None;
                }
                return Poll::Ready(Some(Ok(frame)));
            }
            Poll::Ready(Some(Err(e))) => {
                this.reading = None;
                return Poll::Ready(Some(Err(BodyReadError::Read(e.into()))));
            }
            Poll::Ready(None) => {
                this.reading = None;
                return Poll::Ready(None);
            }
            Poll::Pending => {}
        }
        // The timer is set for the earliest deadline when first needed and
        // only moved when it fires early (a chunk came since): no reset per
        // chunk.
        loop {
            let deadline = this.deadline();
            let sleep = this
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if Instant::now() >= deadline {
                this.timed_out = true;
                if let Some(reading) = this.reading.take() {
                    reading.timed_out();
                }
                return Poll::Ready(Some(Err(BodyReadError::Timeout)));
            }
            sleep.as_mut().reset(deadline);
        }
    }

    fn is_end_stream(&self) -> bool {
        self.timed_out || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The client credential: `Authorization: Bearer <key>` (OpenAI SDKs) or
/// `x-api-key: <key>` (Anthropic SDKs). The first present header wins;
/// an empty value counts as absent.
pub(crate) fn client_credential(headers: &HeaderMap) -> Option<&str> {
    // Made once: a lookup by `&str` parses the name on every request.
    static X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
    if let Some(value) = headers.get(&X_API_KEY).and_then(|v| v.to_str().ok()) {
        let value = value.trim();
        if !value.is_empty() {
            return Some(value);
        }
    }
    let auth = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = auth.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A Gemini client's credential: `x-goog-api-key` (the google-genai SDKs
/// and Gemini CLI), then `?key=` (the REST examples), then the headers
/// every other client uses.
pub(crate) fn gemini_credential<'a>(
    headers: &'a HeaderMap,
    query: Option<&'a str>,
) -> Option<Cow<'a, str>> {
    if let Some(value) = headers
        .get("x-goog-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        return Some(Cow::Borrowed(value));
    }
    let from_query = query.and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(name, value)| name == "key" && !value.trim().is_empty())
            .map(|(_, value)| value)
    });
    from_query.or_else(|| client_credential(headers).map(Cow::Borrowed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    use futures_util::Stream;
    use http::HeaderValue;
    use http_body_util::{Full, StreamBody};

    #[tokio::test]
    async fn declared_length_over_the_limit_is_refused_unread() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("1000"));
        let body = Full::new(Bytes::from_static(b"small"));
        assert!(matches!(
            read_body(&headers, body, 10).await,
            Err(BodyError::TooLarge { limit: 10, .. })
        ));
    }

    #[tokio::test]
    async fn undeclared_body_over_the_limit_is_refused() {
        let body = Full::new(Bytes::from(vec![b'x'; 11]));
        assert!(matches!(
            read_body(&HeaderMap::new(), body, 10).await,
            Err(BodyError::TooLarge { limit: 10, .. })
        ));
        let body = Full::new(Bytes::from(vec![b'x'; 10]));
        assert_eq!(
            read_body(&HeaderMap::new(), body, 10).await.unwrap().len(),
            10
        );
    }

    fn timed<B: Body>(body: B, idle_ms: u64, total_ms: u64) -> TimedBody<B> {
        let timeouts = BodyTimeouts {
            idle: Duration::from_millis(idle_ms),
            total: Duration::from_millis(total_ms),
        };
        TimedBody::new(body, timeouts, || None)
    }

    type Chunks = Pin<Box<dyn Stream<Item = Result<Frame<Bytes>, Infallible>> + Send>>;

    /// A body that sends `n` chunks of `size` bytes, one every `every_ms`.
    fn trickle(n: usize, size: usize, every_ms: u64) -> StreamBody<Chunks> {
        let chunks = futures_util::stream::unfold(0, move |i| async move {
            if i == n {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(every_ms)).await;
            Some((Ok(Frame::data(Bytes::from(vec![b'x'; size]))), i + 1))
        });
        StreamBody::new(Box::pin(chunks))
    }

    #[tokio::test]
    async fn a_silent_body_times_out() {
        let silent = StreamBody::new(futures_util::stream::pending::<
            Result<Frame<Bytes>, Infallible>,
        >());
        let started = Instant::now();
        let read = read_body(&HeaderMap::new(), timed(silent, 100, 10_000), 1000).await;
        assert!(matches!(read, Err(BodyError::Timeout)), "{read:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_trickling_body_times_out_in_total_though_never_idle_for_long() {
        let read = read_body(
            &HeaderMap::new(),
            timed(trickle(100, 1, 20), 200, 300),
            1000,
        )
        .await;
        assert!(matches!(read, Err(BodyError::Timeout)));
    }

    #[tokio::test]
    async fn a_steady_body_within_the_timeouts_is_read_whole() {
        let read = read_body(&HeaderMap::new(), timed(trickle(5, 3, 20), 500, 5000), 1000).await;
        assert!(matches!(read, Ok(body) if body.len() == 15));
    }

    #[test]
    fn credential_from_either_sdk_header() {
        let mut h = HeaderMap::new();
        assert_eq!(client_credential(&h), None);
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer ak_123"));
        assert_eq!(client_credential(&h), Some("ak_123"));
        h.insert("x-api-key", HeaderValue::from_static("ak_456"));
        assert_eq!(client_credential(&h), Some("ak_456"));
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(client_credential(&h), None);
        h.insert("x-api-key", HeaderValue::from_static("  "));
        assert_eq!(client_credential(&h), None);
    }
}
