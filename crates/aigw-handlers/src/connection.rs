//! Client connections as the edge sees them: what each is doing (waiting for
//! a request, reading a body, being served), when it last heard from its
//! client, the deadline that applies to it now, and the table of open
//! connections that picks the idle ones to close when room is needed.
//!
//! The timeouts are the edge's own rather than hyper's: hyper's
//! `header_read_timeout` also runs while a kept-alive connection waits for
//! its next request, so it cannot give a header timeout shorter than the
//! keep-alive one, and it does not apply to HTTP/2 at all.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::app::App;
use crate::body::ResponseBody;
use crate::edge::{EdgeCounters, ServeOptions};

/// The TCP peer of the connection a request came on, as a request extension:
/// the client address sign-in throttling counts against. Headers such as
/// `X-Forwarded-For` are the client's to invent and are not consulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PeerAddr(pub(crate) SocketAddr);

/// Why a connection is asked to close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub(crate) enum Close {
    /// Not asked.
    No = 0,
    /// The server is stopping: close now unless a request is being served,
    /// else finish it and close.
    Shutdown = 1,
    /// Idle, closed to make room for a new connection.
    Evict = 2,
    /// The shutdown grace period is over.
    Force = 3,
}

impl Close {
    const fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::No,
            1 => Self::Shutdown,
            2 => Self::Evict,
            _ => Self::Force,
        }
    }
}

/// Which timeout closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timeout {
    /// The request head did not arrive in time.
    Header,
    /// A kept-alive connection waited too long for its next request.
    KeepAlive,
}

/// What the connection's timer should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Deadline {
    /// Look again at this instant.
    At(Instant),
    /// Close now.
    Expired(Timeout),
}

/// Whether a new connection may be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Under the cap.
    Room,
    /// At the cap, but idle connections are closing: wait for them
    /// ([`Shared::wait_for_room`]), then serve it.
    Closing,
    /// At the cap with no idle connection: refuse it.
    Full,
}

/// What the whole server shares: the application, the limits, the clock and
/// the table of open connections.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) app: Arc<App>,
    pub(crate) options: ServeOptions,
    /// Times below are milliseconds since this instant, plus one (0 = never).
    epoch: Instant,
    /// Open connections by id. The lock guards only map operations and
    /// atomic loads; nothing awaits while holding it.
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    /// Connections evicted (out of `conns`) whose socket is not closed yet.
    closing: AtomicUsize,
    /// Signalled when an evicted connection's socket is closed.
    closed: Notify,
    next_id: AtomicU64,
    shutting_down: AtomicBool,
    /// Signalled when the last connection closes during shutdown.
    drained: Notify,
}

impl Shared {
    pub(crate) fn new(app: Arc<App>, options: ServeOptions) -> Self {
        Self {
            app,
            options,
            epoch: Instant::now(),
            conns: Mutex::new(HashMap::new()),
            closing: AtomicUsize::new(0),
            closed: Notify::new(),
            next_id: AtomicU64::new(0),
            shutting_down: AtomicBool::new(false),
            drained: Notify::new(),
        }
    }

    pub(crate) fn counters(&self) -> &EdgeCounters {
        &self.app.edge
    }

    fn now_ms(&self) -> u64 {
        self.ms(Instant::now())
    }

    fn ms(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX - 1)
            + 1
    }

    fn instant(&self, ms: u64) -> Instant {
        self.epoch + std::time::Duration::from_millis(ms.saturating_sub(1))
    }

    /// Connections open now.
    pub(crate) fn open(&self) -> usize {
        self.conns.lock().len()
    }

    /// Makes room for one more connection. Evicted connections hold their
    /// socket until their task runs, so they count against the cap until
    /// then: under a flood of connects, descriptors in use stay near the
    /// cap rather than growing with the evictions not yet carried out.
    pub(crate) fn admit(&self) -> Admission {
        let cap = self.options.max_connections;
        let open = self.open();
        let closing = self.closing.load(Ordering::Acquire);
        if open + closing < cap {
            Admission::Room
        } else if (closing > 0 && open < cap) || self.evict_idle() > 0 {
            Admission::Closing
        } else {
            Admission::Full
        }
    }

    /// Waits (at most 100 ms) until evicted connections have closed enough
    /// sockets to be under the cap.
    pub(crate) async fn wait_for_room(&self) {
        let cap = self.options.max_connections;
        let deadline = Instant::now() + std::time::Duration::from_millis(100);
        loop {
            let closing = self.closing.load(Ordering::Acquire);
            if closing == 0 || self.open() + closing < cap {
                return;
            }
            // A permit left by an earlier close only costs one more check.
            if tokio::time::timeout_at(deadline, self.closed.notified())
                .await
                .is_err()
            {
                return;
            }
        }
    }

    /// Closes the connections that have waited longest without a request in
    /// progress (kept-alive ones, and ones whose client has sent nothing for
    /// the longest time): about one in 32 of those open, at least one, so a
    /// flood of new connections does not scan the table on every accept.
    /// Returns how many were closed.
    pub(crate) fn evict_idle(&self) -> usize {
        let evicted: Vec<Arc<Conn>> = {
            let mut conns = self.conns.lock();
            let batch = (conns.len() / 32).max(1);
            let mut idle: Vec<(u64, u64)> = conns
                .values()
                .filter(|c| c.is_idle() && c.close_requested() == Close::No)
                .map(|c| (c.last_heard(), c.id))
                .collect();
            if idle.len() > batch {
                idle.select_nth_unstable(batch - 1);
                idle.truncate(batch);
            }
            idle.iter().filter_map(|(_, id)| conns.remove(id)).collect()
        };
        self.closing.fetch_add(evicted.len(), Ordering::AcqRel);
        for conn in &evicted {
            conn.evicted.store(true, Ordering::Release);
            conn.close(Close::Evict);
        }
        let counters = self.counters();
        counters
            .evicted
            .fetch_add(evicted.len() as u64, Ordering::Relaxed);
        counters
            .open
            .fetch_sub(evicted.len() as u64, Ordering::Relaxed);
        evicted.len()
    }

    /// A new connection, entered in the table.
    pub(crate) fn register(self: &Arc<Self>) -> Arc<Conn> {
        let now = self.now_ms();
        let conn = Arc::new(Conn {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            shared: Arc::clone(self),
            in_flight: AtomicUsize::new(0),
            reading: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            idle_since: AtomicU64::new(now),
            first_byte: AtomicU64::new(0),
            last_read: AtomicU64::new(0),
            close: AtomicU8::new(Close::No as u8),
            evicted: AtomicBool::new(false),
            wake: Notify::new(),
        });
        self.conns.lock().insert(conn.id, Arc::clone(&conn));
        self.counters().open.fetch_add(1, Ordering::Relaxed);
        conn
    }

    /// Takes a connection out of the table once its task ends (its socket
    /// is closed).
    pub(crate) fn remove(&self, conn: &Conn) {
        if conn.evicted.load(Ordering::Acquire) {
            self.closing.fetch_sub(1, Ordering::AcqRel);
            self.closed.notify_one();
        }
        let (removed, empty) = {
            let mut conns = self.conns.lock();
            (conns.remove(&conn.id).is_some(), conns.is_empty())
        };
        if removed {
            self.counters().open.fetch_sub(1, Ordering::Relaxed);
        }
        if empty && self.shutting_down.load(Ordering::Acquire) {
            self.drained.notify_one();
        }
    }

    /// Asks every open connection to close for `why`.
    fn close_all(&self, why: Close) {
        let conns: Vec<Arc<Conn>> = self.conns.lock().values().cloned().collect();
        for conn in conns {
            conn.close(why);
        }
    }

    /// Stops every connection: idle ones and ones still reading a request at
    /// once, the others once their response is sent; after `grace`, all.
    pub(crate) async fn shut_down(&self, grace: std::time::Duration) {
        self.shutting_down.store(true, Ordering::Release);
        self.close_all(Close::Shutdown);
        let drained = async {
            // `notify_one` keeps a permit when nobody waits, so a close
            // between the check and the wait is not missed.
            while self.open() > 0 {
                self.drained.notified().await;
            }
        };
        tokio::select! {
            () = drained => {}
            () = tokio::time::sleep(grace) => {
                tracing::warn!(
                    open = self.open(),
                    "shutdown grace period elapsed with requests still being served; closing them"
                );
                self.close_all(Close::Force);
            }
        }
    }
}

/// One client connection.
#[derive(Debug)]
pub(crate) struct Conn {
    id: u64,
    pub(crate) shared: Arc<Shared>,
    /// Requests the service holds: from the call until their response body
    /// is dropped (sent or abandoned).
    in_flight: AtomicUsize,
    /// Of those, the ones still receiving their body.
    reading: AtomicUsize,
    /// Requests finished on this connection.
    served: AtomicU64,
    /// When the connection last had no request in flight (accept, or the
    /// end of its last response).
    idle_since: AtomicU64,
    /// The first byte received since `idle_since` (0 = none yet).
    first_byte: AtomicU64,
    /// The last byte received.
    last_read: AtomicU64,
    close: AtomicU8,
    /// Taken out of the table to make room; its task has yet to close it.
    evicted: AtomicBool,
    /// Wakes the connection's task when it is asked to close.
    wake: Notify,
}

impl Conn {
    pub(crate) fn app(&self) -> &App {
        &self.shared.app
    }

    /// Waits until the connection is asked to close.
    pub(crate) async fn changed(&self) {
        self.wake.notified().await;
    }

    pub(crate) fn close(&self, why: Close) {
        self.close.fetch_max(why as u8, Ordering::AcqRel);
        self.wake.notify_one();
    }

    pub(crate) fn close_requested(&self) -> Close {
        Close::from_u8(self.close.load(Ordering::Acquire))
    }

    /// No request is in flight.
    fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }

    /// Every request in flight is still receiving its body: nothing is being
    /// served that closing would cut.
    pub(crate) fn only_reading(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == self.reading.load(Ordering::Acquire)
    }

    /// The last sign of life: a byte received, or the end of a response.
    fn last_heard(&self) -> u64 {
        self.last_read
            .load(Ordering::Relaxed)
            .max(self.idle_since.load(Ordering::Relaxed))
    }

    /// The deadline that applies now. While a request is in flight the body
    /// timeouts are the request's; the connection only looks again later.
    pub(crate) fn deadline(&self) -> Deadline {
        let shared = &self.shared;
        let options = &shared.options;
        let now = shared.now_ms();
        if !self.is_idle() {
            return Deadline::At(shared.instant(now) + options.keep_alive_timeout);
        }
        let idle_since = self.idle_since.load(Ordering::Acquire);
        let first_byte = self.first_byte.load(Ordering::Acquire);
        let (from, timeout, kind) = if first_byte != 0 && first_byte >= idle_since {
            (first_byte, options.header_timeout, Timeout::Header)
        } else if self.served.load(Ordering::Relaxed) == 0 {
            (idle_since, options.header_timeout, Timeout::Header)
        } else {
            (idle_since, options.keep_alive_timeout, Timeout::KeepAlive)
        };
        let deadline = shared.instant(from) + timeout;
        if shared.instant(now) >= deadline {
            Deadline::Expired(kind)
        } else {
            Deadline::At(deadline)
        }
    }

    /// A byte arrived from the client.
    fn heard(&self) {
        let now = self.shared.now_ms();
        self.last_read.store(now, Ordering::Relaxed);
        if self.first_byte.load(Ordering::Relaxed) == 0 {
            self.first_byte.store(now, Ordering::Release);
        }
    }

    /// A request reached the service.
    pub(crate) fn start_request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(Arc::clone(self))
    }

    /// A request started receiving its body.
    pub(crate) fn start_reading(self: &Arc<Self>) -> Reading {
        self.reading.fetch_add(1, Ordering::AcqRel);
        Reading(Arc::clone(self))
    }
}

/// A request in flight; dropped with its response body.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<Conn>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let conn = &self.0;
        conn.served.fetch_add(1, Ordering::Relaxed);
        if conn.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            conn.idle_since
                .store(conn.shared.now_ms(), Ordering::Release);
            conn.first_byte.store(0, Ordering::Release);
            // The idle deadline starts now. The task's timer, armed while
            // the request was in flight, is due no later than that deadline
            // and re-arms when it fires, so the task is not woken here: this
            // drop runs inside the connection's own task for HTTP/1, and a
            // task that wakes itself is rescheduled as a yield, which hands
            // it to the other worker thread after every request.
        }
    }
}

/// A request body being received; dropped when it ends or is abandoned.
#[derive(Debug)]
pub(crate) struct Reading(Arc<Conn>);

impl Reading {
    /// The body did not arrive in time.
    pub(crate) fn timed_out(&self) {
        EdgeCounters::bump(&self.0.shared.counters().body_timeouts);
    }
}

impl Drop for Reading {
    fn drop(&mut self) {
        // No wake: a request that stops reading can only make closing wait
        // longer (see `only_reading`), never sooner.
        self.0.reading.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The response body as the server sends it: the handler's body, holding
/// the request's place among those in flight until it is dropped.
#[derive(Debug)]
pub(crate) struct Served {
    body: ResponseBody,
    _in_flight: InFlight,
}

impl Served {
    pub(crate) fn new(body: ResponseBody, in_flight: InFlight) -> Self {
        Self {
            body,
            _in_flight: in_flight,
        }
    }
}

impl Body for Served {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The client's socket, noting when bytes arrive.
#[derive(Debug)]
pub(crate) struct ClientIo {
    stream: TcpStream,
    conn: Arc<Conn>,
}

impl ClientIo {
    pub(crate) fn new(stream: TcpStream, conn: Arc<Conn>) -> Self {
        Self { stream, conn }
    }
}

impl AsyncRead for ClientIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.conn.heard();
        }
        polled
    }
}

impl AsyncWrite for ClientIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
