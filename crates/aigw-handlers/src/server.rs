//! The HTTP server: accepts connections on a bound listener, serves HTTP/1.1
//! and HTTP/2 (auto-detected), keeps the edge's limits (connection cap,
//! header, body and keep-alive timeouts, back-off when `accept` fails) and
//! shuts down gracefully.

use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use aigw_services::inline_waker::InlineWaker;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::time::Instant;

use crate::app::App;
use crate::connection::{
    Admission, ClientIo, Close, Conn, Deadline, PeerAddr, Served, Shared, Timeout,
};
use crate::edge::{EdgeCounters, ServeOptions};
use crate::request::{BodyTimeouts, TimedBody};

/// How often a persisting condition (accept failing, the cap reached) is
/// logged: once per interval with the count since, never once per event.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The first pause after `accept` fails for lack of resources, doubled up
/// to [`MAX_BACKOFF`] while it keeps failing.
const FIRST_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// A listener on `addr` whose kernel queue holds `backlog` connections not
/// yet accepted (bounded by the system's `somaxconn`), so a burst of
/// connects is queued rather than dropped. Must run inside the runtime.
pub fn bind(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As `TcpListener::bind` does: a restarted server can bind while
    // connections of the previous one are in TIME_WAIT.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops
/// accepting, closes idle connections and ones still sending a request,
/// lets requests being served finish within the grace period, and returns.
pub async fn serve<F>(
    listener: TcpListener,
    app: Arc<App>,
    options: ServeOptions,
    shutdown: F,
) -> io::Result<()>
where
    F: Future<Output = ()>,
{
    let grace = options.shutdown_grace;
    let shared = Arc::new(Shared::new(app, options));
    // No hyper timer is set, so hyper's own header timeout stays off: the
    // edge's (in `connection`) covers HTTP/1 and HTTP/2 and leaves kept-alive
    // connections their own, longer, timeout.
    let builder = auto::Builder::new(TokioExecutor::new());
    let mut accept_failures = Throttled::default();
    let mut refusals = Throttled::default();
    let mut backoff = FIRST_BACKOFF;
    tokio::pin!(shutdown);

    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok((stream, peer)) => {
                backoff = FIRST_BACKOFF;
                (stream, peer)
            }
            Err(e) => {
                EdgeCounters::bump(&shared.counters().accept_errors);
                if concerns_one_connection(&e) {
                    tracing::debug!(error = %e, "accept failed for one connection");
                    continue;
                }
                // Out of file descriptors (or memory): retrying at once would
                // spin. Close idle connections to free some, then pause.
                let evicted = shared.evict_idle();
                if let Some(since) = accept_failures.due() {
                    tracing::warn!(
                        error = %e,
                        failures = since,
                        open = shared.open(),
                        evicted,
                        "accept failing; closing idle connections and backing off"
                    );
                }
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = &mut shutdown => break,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        let admission = shared.admit();
        if admission == Admission::Closing {
            shared.wait_for_room().await;
        }
        if admission == Admission::Full {
            EdgeCounters::bump(&shared.counters().refused);
            if let Some(since) = refusals.due() {
                tracing::warn!(
                    refused = since,
                    max_connections = shared.options.max_connections,
                    "connection limit reached with no idle connection to close; refusing connections"
                );
            }
            drop(stream);
            continue;
        }
        spawn_connection(&shared, &builder, stream, peer);
    }

    drop(listener);
    shared.shut_down(grace).await;
    Ok(())
}

/// Errors of `accept` that concern the one connection being accepted (it
/// was reset or aborted before it could be taken); the next accept is fine.
fn concerns_one_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// Starts serving one connection on its own task.
fn spawn_connection(
    shared: &Arc<Shared>,
    builder: &auto::Builder<TokioExecutor>,
    stream: TcpStream,
    peer: SocketAddr,
) {
    // Responses are small and latency-bound: never wait for Nagle.
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "set TCP_NODELAY failed");
    }
    let conn = shared.register();
    let service = {
        let conn = Arc::clone(&conn);
        service_fn(move |mut req: http::Request<Incoming>| {
            req.extensions_mut().insert(PeerAddr(peer));
            handle(Arc::clone(&conn), req)
        })
    };
    let http = builder
        .serve_connection_with_upgrades(
            TokioIo::new(ClientIo::new(stream, Arc::clone(&conn))),
            service,
        )
        .into_owned();
    #[expect(
        clippy::disallowed_methods,
        reason = "one task per connection is the server's unit of concurrency, not per-request bookkeeping"
    )]
    tokio::spawn(async move {
        // `http`, and the socket with it, is dropped when this block ends,
        // before the table hears that the connection is gone.
        let serving = {
            let conn = &conn;
            async move {
                tokio::pin!(http);
                // The handler reading the request body and hyper filling it wake each
                // other inside this task: those wakes re-run the poll instead of making
                // the task yield to another worker thread after every request.
                let waker = InlineWaker::new();
                let timer =
                    tokio::time::sleep_until(Instant::now() + conn.shared.options.header_timeout);
                tokio::pin!(timer);
                let mut graceful = false;
                loop {
                    tokio::select! {
                        result = poll_fn(|cx| waker.poll(cx, |cx| http.as_mut().poll(cx))) => {
                            if let Err(e) = result {
                                tracing::debug!(error = %e, "connection ended with an error");
                            }
                            break;
                        }
                        () = conn.changed() => match conn.close_requested() {
                            Close::No => {}
                            Close::Evict | Close::Force => break,
                            Close::Shutdown if conn.only_reading() => break,
                            Close::Shutdown => {
                                if !graceful {
                                    graceful = true;
                                    http.as_mut().graceful_shutdown();
                                }
                            }
                        },
                        () = &mut timer => {}
                    }
                    // Asked to close, or the timer fired: see which deadline applies.
                    match conn.deadline() {
                        Deadline::At(at) => timer.as_mut().reset(at),
                        Deadline::Expired(kind) => {
                            let counters = conn.shared.counters();
                            EdgeCounters::bump(match kind {
                                Timeout::Header => &counters.header_timeouts,
                                Timeout::KeepAlive => &counters.keep_alive_timeouts,
                            });
                            break;
                        }
                    }
                }
            }
        };
        serving.await;
        conn.shared.remove(&conn);
    });
}

/// Serves one request: counts it in flight until its response body is
/// dropped, times its body, and tags the response with the request id.
async fn handle(
    conn: Arc<Conn>,
    req: http::Request<Incoming>,
) -> Result<http::Response<Served>, Infallible> {
    let in_flight = conn.start_request();
    let options = &conn.shared.options;
    let timeouts = BodyTimeouts {
        idle: options.body_idle_timeout,
        total: options.body_timeout,
    };
    let req = req.map(|body| TimedBody::new(body, timeouts, || Some(conn.start_reading())));
    let resp = conn.app().handle(req).await;
    Ok(resp.map(|body| Served::new(body, in_flight)))
}

/// Logs a persisting condition once per [`LOG_EVERY`].
#[derive(Debug, Default)]
struct Throttled {
    last: Option<Instant>,
    since: u64,
}

impl Throttled {
    /// Counts one occurrence; `Some(occurrences since the last log)` when
    /// it is time to log again.
    fn due(&mut self) -> Option<u64> {
        self.due_at(Instant::now())
    }

    fn due_at(&mut self, now: Instant) -> Option<u64> {
        self.since += 1;
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < LOG_EVERY)
        {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.since))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_persisting_condition_is_logged_once_per_interval() {
        let start = Instant::now();
        let mut log = Throttled::default();
        assert_eq!(log.due_at(start), Some(1));
        for _ in 0..1000 {
            assert_eq!(log.due_at(start + Duration::from_millis(1)), None);
        }
        assert_eq!(log.due_at(start + LOG_EVERY), Some(1001));
    }
}
