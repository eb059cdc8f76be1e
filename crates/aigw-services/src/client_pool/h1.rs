//! HTTP/1.1 connections driven by the request that uses them.
//!
//! hyper-util's legacy client runs every connection as a task of its own: the request is handed
//! to that task through a channel, the response comes back through another, and each piece of
//! the body crosses a one-slot channel, waking the connection's task and the reader in turn.
//! For upstreams that are known to speak HTTP/1.1 before connecting (plain `http`, or `https`
//! when HTTP/2 is not offered), the pool instead keeps idle connections itself and the request
//! polls its connection directly: while waiting for the headers, and then through
//! the response body for every frame of it. A body read to its end hands the
//! connection back for the next request to the same host; so does one dropped when the rest of
//! it has already arrived (a stream's reader stops at the end marker, before the chunked
//! encoding's last chunk). One dropped earlier closes it, which is how a client disconnect
//! cancels the upstream call.
//!
//! Idle connections are kept per egress and host, at most `max_idle_per_host`, and not reused
//! once idle longer than `pool_idle_timeout`. Nobody polls an idle connection between
//! requests, so one the upstream closed is found closed when it is taken out (and dropped),
//! or, if the close arrives while the request is being written, the request is sent again on
//! a fresh connection when hyper reports that none of it was sent. A periodic sweep
//! (`ClientPool::close_idle_connections`, on every snapshot refresh) closes the ones idle past
//! the timeout or closed by the upstream, so a host no longer called keeps no sockets open.
//! It also closes, beyond the `warm_idle_per_host` most recently used, those idle longer than
//! `surplus_idle_timeout`, so that a burst's connections do not outlive it by long.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use http::uri::{Authority, PathAndQuery};
use http::{HeaderValue, Request, Response, Uri, header};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use parking_lot::Mutex;
use tower_service::Service as _;

use crate::inline_waker::InlineWaker;

use super::connector::{EgressConnector, UpstreamStream};
use super::error::{
    ErrorSource, TransportError, TransportErrorKind, classify_hyper_error, exchange_failure,
};

/// The pool's request body (`RequestBody`), named here so that this module does not reach
/// back into the pool's.
type RequestBody = http_body_util::Full<bytes::Bytes>;

/// One HTTP/1.1 connection: the handle requests are sent through, and the connection itself,
/// which does the reading and writing whenever it is polled.
pub(crate) struct Conn {
    sender: http1::SendRequest<RequestBody>,
    conn: http1::Connection<UpstreamStream, RequestBody>,
    /// What the connection and its response are polled with, inside the request's task.
    waker: InlineWaker,
}

impl Conn {
    /// True when the connection is open and ready for a request, without waiting: an idle
    /// connection the upstream closed reads its end of file here.
    fn ready_now(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        Pin::new(&mut self.conn).poll(&mut cx).is_pending()
            && !self.sender.is_closed()
            && self.sender.is_ready()
    }
}

/// A connection lent to a response body, handed back when the body has been read to its end.
pub(crate) struct Lent {
    conn: Box<Conn>,
    open: bool,
    home: Arc<IdleConns>,
    authority: Authority,
}

impl Lent {
    /// Polls `read` (the body's side), letting the connection read and write first.
    pub(crate) fn poll<T>(
        &mut self,
        cx: &mut Context<'_>,
        mut read: impl FnMut(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        let Self { conn, open, .. } = self;
        let Conn { conn, waker, .. } = &mut **conn;
        waker.poll(cx, |cx| {
            if *open {
                *open = Pin::new(&mut *conn).poll(cx).is_pending();
            }
            read(cx)
        })
    }

    /// The body was read to its end: the connection goes back to the pool if it can take
    /// another request.
    pub(crate) fn give_back(mut self) {
        self.conn.waker.forget_task();
        if self.open && self.conn.ready_now() {
            self.home.put(self.authority, self.conn);
        }
    }
}

impl std::fmt::Debug for Lent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lent")
            .field("authority", &self.authority)
            .field("open", &self.open)
            .finish_non_exhaustive()
    }
}

/// The idle connections of one egress, by host.
pub(crate) struct IdleConns {
    hosts: Mutex<Hosts>,
    limits: IdleLimits,
}

/// How many idle connections are kept, and for how long (the pool's settings of the same names).
pub(crate) struct IdleLimits {
    /// Most idle connections per host; the oldest beyond it are closed when one comes back.
    pub(crate) max_per_host: usize,
    /// No idle connection is reused, or kept by the sweep, past this.
    pub(crate) idle_timeout: Duration,
    /// The most recently used connections per host, which only `idle_timeout` closes.
    pub(crate) warm_per_host: usize,
    /// The sweep closes the other idle connections once idle this long.
    pub(crate) surplus_timeout: Duration,
}

#[derive(Default)]
struct Hosts {
    /// Few hosts per egress (one per provider base URL): a list beats hashing.
    by_host: Vec<Host>,
    /// Set when the egress is dropped from the pool: connections coming back are closed.
    closed: bool,
}

struct Host {
    authority: Authority,
    /// Oldest first.
    idle: Vec<Idle>,
}

struct Idle {
    conn: Box<Conn>,
    since: Instant,
}

impl IdleConns {
    pub(crate) fn new(limits: IdleLimits) -> Self {
        Self {
            hosts: Mutex::new(Hosts::default()),
            limits,
        }
    }

    /// The most recently used connection to `authority` that is still open and has not idled
    /// too long. Closed and stale connections met on the way are dropped.
    fn take(&self, authority: &Authority) -> Option<Box<Conn>> {
        loop {
            let idle = {
                let mut hosts = self.hosts.lock();
                let host = hosts
                    .by_host
                    .iter_mut()
                    .find(|h| h.authority == *authority)?;
                let idle = host.idle.pop()?;
                if idle.since.elapsed() >= self.limits.idle_timeout {
                    // The newest is too old, so all of them are: close them outside the lock.
                    let stale = std::mem::take(&mut host.idle);
                    drop(hosts);
                    drop(stale);
                    return None;
                }
                idle
            };
            let mut conn = idle.conn;
            if conn.ready_now() {
                return Some(conn);
            }
        }
    }

    fn put(&self, authority: Authority, conn: Box<Conn>) {
        let now = Instant::now();
        let mut hosts = self.hosts.lock();
        if hosts.closed {
            drop(hosts);
            drop(conn);
            return;
        }
        let index = match hosts.by_host.iter().position(|h| h.authority == authority) {
            Some(index) => index,
            None => {
                hosts.by_host.push(Host {
                    authority,
                    idle: Vec::new(),
                });
                hosts.by_host.len() - 1
            }
        };
        let host = &mut hosts.by_host[index];
        // Drop what idled too long, and the oldest beyond the bound.
        let stale = host
            .idle
            .iter()
            .take_while(|idle| now.duration_since(idle.since) >= self.limits.idle_timeout)
            .count();
        let over = (host.idle.len() - stale + 1).saturating_sub(self.limits.max_per_host);
        let dropped: Vec<Idle> = host.idle.drain(..stale + over).collect();
        if self.limits.max_per_host > 0 {
            host.idle.push(Idle { conn, since: now });
        }
        drop(hosts);
        drop(dropped);
    }

    /// Closes the idle connections that idled past the timeout, those beyond the warm ones
    /// that idled past the surplus timeout, and those the upstream closed.
    pub(crate) fn close_stale(&self) {
        let now = Instant::now();
        let IdleLimits {
            idle_timeout,
            warm_per_host,
            surplus_timeout,
            ..
        } = self.limits;
        let dropped: Vec<Idle> = {
            let mut hosts = self.hosts.lock();
            let mut dropped = Vec::new();
            for host in &mut hosts.by_host {
                // Oldest first, so the surplus idled longest, and the ones past its timeout
                // lead the list.
                let surplus = host.idle.len().saturating_sub(warm_per_host);
                let idled_out = host.idle[..surplus]
                    .iter()
                    .take_while(|idle| now.duration_since(idle.since) >= surplus_timeout)
                    .count();
                dropped.extend(host.idle.drain(..idled_out));
                dropped.extend(host.idle.extract_if(.., |idle| {
                    now.duration_since(idle.since) >= idle_timeout || !idle.conn.ready_now()
                }));
            }
            hosts.by_host.retain(|host| !host.idle.is_empty());
            dropped
        };
        drop(dropped);
    }

    /// Closes every idle connection, and every one handed back from now on.
    pub(crate) fn close(&self) {
        let dropped = {
            let mut hosts = self.hosts.lock();
            hosts.closed = true;
            std::mem::take(&mut hosts.by_host)
        };
        drop(dropped);
    }
}

/// Sends `request` (absolute URI, `http` or `https`) on an idle connection of `idle` or on a
/// new one opened with `connector`, and returns the response once its headers arrived, with
/// the connection lent to its body.
pub(crate) async fn send(
    idle: &Arc<IdleConns>,
    connector: &EgressConnector,
    mut request: Request<RequestBody>,
) -> Result<(Response<Incoming>, Lent), TransportError> {
    let uri = request.uri().clone();
    let authority = uri.authority().cloned().ok_or_else(|| {
        TransportError::new(TransportErrorKind::InvalidRequest, ErrorSource::Internal)
    })?;
    prepare(&mut request, &uri, &authority)?;
    loop {
        let (mut conn, reused) = match idle.take(&authority) {
            Some(conn) => (conn, true),
            // Boxed: the handshake holds the whole stream, which this future would otherwise
            // carry (and copy) on every request.
            None => (Box::pin(open(connector, &uri)).await?, false),
        };
        match exchange(&mut conn, request).await {
            Ok(response) => {
                let lent = Lent {
                    conn,
                    open: true,
                    home: Arc::clone(idle),
                    authority,
                };
                return Ok((response, lent));
            }
            // A reused connection the upstream closed before any of the request was written:
            // the request goes again, on another connection.
            Err(Failed::Unsent(unsent)) if reused => request = *unsent,
            Err(Failed::Unsent(_)) => {
                return Err(exchange_failure(TransportErrorKind::ConnectionClosed));
            }
            Err(Failed::Error(error)) => return Err(error),
        }
    }
}

/// Why no response came.
enum Failed {
    /// None of the request was written; here it is back.
    Unsent(Box<Request<RequestBody>>),
    Error(TransportError),
}

/// The request as HTTP/1.1 sends it: a `Host` header and the origin-form target.
fn prepare(
    request: &mut Request<RequestBody>,
    uri: &Uri,
    authority: &Authority,
) -> Result<(), TransportError> {
    let invalid = || TransportError::new(TransportErrorKind::InvalidRequest, ErrorSource::Internal);
    if !request.headers().contains_key(header::HOST) {
        let default_port = match uri.scheme_str() {
            Some("https") => 443,
            _ => 80,
        };
        let host = match authority.port_u16() {
            // `host:port` is the authority itself unless it carries user info.
            Some(port) if port != default_port => {
                if authority.as_str().contains('@') {
                    HeaderValue::from_str(&format!("{}:{port}", authority.host()))
                } else {
                    HeaderValue::from_str(authority.as_str())
                }
            }
            _ => HeaderValue::from_str(authority.host()),
        };
        request
            .headers_mut()
            .insert(header::HOST, host.map_err(|_| invalid())?);
    }
    let path = uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let mut parts = http::uri::Parts::default();
    parts.path_and_query = Some(path);
    *request.uri_mut() = Uri::from_parts(parts).map_err(|_| invalid())?;
    Ok(())
}

/// A new connection to the host of `uri`, through the egress's connector.
async fn open(connector: &EgressConnector, uri: &Uri) -> Result<Box<Conn>, TransportError> {
    let stream = connector.clone().call(uri.clone()).await?;
    let (sender, conn) = http1::handshake(stream)
        .await
        .map_err(|e| classify(&e).with_cause(e))?;
    Ok(Box::new(Conn {
        sender,
        conn,
        waker: InlineWaker::new(),
    }))
}

/// Writes the request and reads the response's headers, polling the connection meanwhile.
async fn exchange(
    conn: &mut Conn,
    request: Request<RequestBody>,
) -> Result<Response<Incoming>, Failed> {
    let Conn {
        sender,
        conn,
        waker,
    } = conn;
    let mut response = pin!(sender.try_send_request(request));
    let mut open = true;
    poll_fn(|cx| {
        waker.poll(cx, |cx| {
            if open {
                open = Pin::new(&mut *conn).poll(cx).is_pending();
            }
            match response.as_mut().poll(cx) {
                Poll::Ready(Ok(response)) => Poll::Ready(Ok(response)),
                Poll::Ready(Err(mut error)) => Poll::Ready(Err(match error.take_message() {
                    Some(unsent) => Failed::Unsent(Box::new(unsent)),
                    None => {
                        let error = error.into_error();
                        Failed::Error(classify(&error).with_cause(error))
                    }
                })),
                // The connection ended without answering (hyper normally answers the request
                // with the reason first).
                Poll::Pending if !open => Poll::Ready(Err(Failed::Error(exchange_failure(
                    TransportErrorKind::ConnectionClosed,
                )))),
                Poll::Pending => Poll::Pending,
            }
        })
    })
    .await
}

fn classify(error: &hyper::Error) -> TransportError {
    exchange_failure(classify_hyper_error(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request to `url` as [`prepare`] leaves it.
    fn prepared(url: &str) -> Request<RequestBody> {
        let uri: Uri = url.parse().unwrap();
        let authority = uri.authority().unwrap().clone();
        let mut request = Request::new(RequestBody::default());
        prepare(&mut request, &uri, &authority).unwrap();
        request
    }

    #[test]
    fn the_host_header_names_a_port_only_when_it_is_not_the_default() {
        let cases = [
            ("http://127.0.0.1:8080/v1", "127.0.0.1:8080"),
            ("http://example.com:80/v1", "example.com"),
            ("https://example.com:443/v1", "example.com"),
            ("https://example.com:80/v1", "example.com:80"),
            ("http://[::1]:9000/", "[::1]:9000"),
            // User info never reaches the Host header.
            ("http://user:pw@example.com:8080/", "example.com:8080"),
        ];
        for (url, host) in cases {
            let request = prepared(url);
            assert_eq!(request.headers().get(header::HOST).unwrap(), host, "{url}");
        }
    }

    #[test]
    fn the_target_is_the_origin_form() {
        let request = prepared("http://127.0.0.1:8080/v1/messages?beta=true");
        assert_eq!(request.uri(), "/v1/messages?beta=true");
    }
}
