//! The HTTP client pool: one client per egress (direct or a proxy URL), built once and injected.
//!
//! This is the only place HTTP clients are built. Executors receive a [`ClientPool`] and call
//! [`ClientPool::send`] with the account's [`Egress`]; the pool finds or creates that egress's
//! client (hyper-util's legacy client over rustls, HTTP/1.1 or HTTP/2 by ALPN, keep-alive,
//! TCP_NODELAY) and applies the timeouts. Upstreams known to speak HTTP/1.1 before connecting
//! (plain `http`, or `https` with HTTP/2 off) skip that client: the pool keeps their idle
//! connections itself and each request drives its own (`h1`), over the same connector. The
//! timeouts:
//!
//! - connect: one deadline over TCP, the proxy handshake and TLS;
//! - first byte: from handing the request over to the response headers (it includes connection
//!   setup when no idle connection is pooled, so it must exceed the connect timeout);
//! - idle read: between two frames of the body ([`UpstreamBody`]).
//!
//! There is no total timeout, so streams run as long as the upstream keeps sending. Failures are
//! [`TransportError`]s, classified by kind and by who is to blame.
//!
//! A proxy egress never falls back to a direct connection: if the proxy cannot be used, the call
//! fails with a `ProxyConnect` error, and an invalid proxy URL cannot become an [`Egress`] at all.

mod body;
mod connector;
mod egress;
mod error;
mod h1;

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, Version};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use parking_lot::RwLock;
use rustls::pki_types::CertificateDer;

pub use body::UpstreamBody;
use connector::{ConnectorSettings, EgressConnector};
pub use egress::{Egress, ProxyScheme, ValidProxyUrl};
pub use error::{
    ErrorSource, PoolError, ProxyFailure, TimeoutPhase, TransportError, TransportErrorKind,
};
use error::{classify_hyper_error, exchange_failure};

/// The body of an outbound request. Request bodies are built in memory before sending, so a
/// full buffer fits both streaming and non-streaming calls.
pub type RequestBody = Full<Bytes>;

/// Settings of the client pool.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Limit on opening a connection: TCP connect, proxy handshake and TLS together.
    pub connect_timeout: Duration,
    /// Limit from sending a request to receiving the response headers. Must exceed
    /// `connect_timeout`, since it includes connection setup on a fresh connection.
    pub first_byte_timeout: Duration,
    /// Limit between two frames of a response body.
    pub idle_read_timeout: Duration,
    /// How long an idle keep-alive connection stays in a client's pool.
    pub pool_idle_timeout: Duration,
    /// Idle HTTP/1.1 connections per upstream host kept for the whole `pool_idle_timeout`,
    /// so that a conversation's next turn after a pause finds a connection open. Beyond them,
    /// connections idle longer than `surplus_idle_timeout` are closed by the periodic sweep
    /// ([`ClientPool::close_idle_connections`]): the most recently used are reused first, so a
    /// connection idle that long was not needed by the demand of that time, and closing it
    /// returns its buffers (tens of KiB each) after a burst.
    pub warm_idle_per_host: usize,
    /// How long an idle HTTP/1.1 connection beyond `warm_idle_per_host` is kept.
    pub surplus_idle_timeout: Duration,
    /// Idle connections kept per upstream host in one client. It must cover
    /// the concurrency one host sees, or every burst closes the surplus
    /// connections after use and opens new ones for the next burst.
    pub max_idle_per_host: usize,
    /// Most clients (one per egress) kept; creating one more evicts the least recently used.
    pub max_clients: usize,
    /// TCP keepalive probe interval on upstream and proxy sockets; `None` disables it.
    pub tcp_keepalive: Option<Duration>,
    /// Interval of HTTP/2 keep-alive pings, which detect dead connections; `None` disables them.
    pub http2_keep_alive_interval: Option<Duration>,
    /// Offer HTTP/2 by ALPN to TLS upstreams. HTTP/1.1 is always offered.
    pub enable_http2: bool,
    /// Trust anchors added to the built-in web PKI roots (private CAs, test servers).
    pub extra_root_certificates: Vec<CertificateDer<'static>>,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            // A non-streaming completion sends its headers only when generation ends.
            first_byte_timeout: Duration::from_secs(300),
            idle_read_timeout: Duration::from_secs(120),
            pool_idle_timeout: Duration::from_secs(90),
            warm_idle_per_host: 4,
            surplus_idle_timeout: Duration::from_secs(5),
            max_idle_per_host: 512,
            max_clients: 1024,
            tcp_keepalive: Some(Duration::from_secs(60)),
            http2_keep_alive_interval: Some(Duration::from_secs(30)),
            enable_http2: true,
            extra_root_certificates: Vec::new(),
        }
    }
}

impl PoolConfig {
    fn validate(&self) -> Result<(), PoolError> {
        let invalid = |field, reason| Err(PoolError::InvalidConfig { field, reason });
        if self.connect_timeout.is_zero() {
            return invalid("connect_timeout", "must be greater than zero");
        }
        if self.first_byte_timeout <= self.connect_timeout {
            return invalid(
                "first_byte_timeout",
                "must be greater than connect_timeout, since it includes connecting",
            );
        }
        if self.idle_read_timeout.is_zero() {
            return invalid("idle_read_timeout", "must be greater than zero");
        }
        if self.max_clients == 0 {
            return invalid("max_clients", "must be at least 1");
        }
        Ok(())
    }
}

/// One egress's client and when it was last used (a tick of the pool's clock).
struct Entry {
    client: Client<EgressConnector, RequestBody>,
    /// The egress's connector, for the HTTP/1.1 connections the pool keeps itself.
    connector: EgressConnector,
    /// Idle HTTP/1.1 connections to upstreams known to speak HTTP/1.1 (see [`h1`]).
    idle_h1: Arc<h1::IdleConns>,
    last_used: AtomicU64,
}

impl Drop for Entry {
    fn drop(&mut self) {
        // Bodies still being read hold the list; their connections close when they end.
        self.idle_h1.close();
    }
}

struct Shared {
    config: PoolConfig,
    connector: ConnectorSettings,
    /// Egress → client. The lock is held only to look up, insert or remove entries, never while a
    /// client is built and never across an `.await`. Lookups, the common case, share the read
    /// lock; the write lock is taken only when an egress is first seen or dropped.
    egresses: RwLock<HashMap<Egress, Arc<Entry>>>,
    /// A logical clock for least-recently-used eviction; one tick per lookup.
    clock: AtomicU64,
    evictions: AtomicU64,
}

/// The HTTP client pool. Cheap to clone; clones share the clients.
#[derive(Clone)]
pub struct ClientPool {
    shared: Arc<Shared>,
}

impl fmt::Debug for ClientPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientPool")
            .field("egresses", &self.len())
            .field("evictions", &self.evictions())
            .finish_non_exhaustive()
    }
}

impl ClientPool {
    /// Builds an empty pool; clients are created when an egress is first used.
    pub fn new(config: PoolConfig) -> Result<Self, PoolError> {
        config.validate()?;
        let tls = tls_config(&config.extra_root_certificates)?;
        let mut upstream_tls = tls.clone();
        upstream_tls.alpn_protocols = if config.enable_http2 {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        };
        let mut proxy_tls = tls;
        proxy_tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let connector = ConnectorSettings {
            connect_timeout: config.connect_timeout,
            tcp_keepalive: config.tcp_keepalive,
            upstream_tls: Arc::new(upstream_tls),
            proxy_tls: Arc::new(proxy_tls),
        };
        Ok(Self {
            shared: Arc::new(Shared {
                config,
                connector,
                egresses: RwLock::new(HashMap::new()),
                clock: AtomicU64::new(0),
                evictions: AtomicU64::new(0),
            }),
        })
    }

    /// The pool's settings.
    pub fn config(&self) -> &PoolConfig {
        &self.shared.config
    }

    /// Sends a request over `egress` and waits for the response headers.
    ///
    /// The request URI must be absolute (`http` or `https`). The returned body enforces the
    /// idle-read timeout; dropping it, or this future, abandons the upstream call.
    pub async fn send(
        &self,
        egress: &Egress,
        request: Request<RequestBody>,
    ) -> Result<Response<UpstreamBody>, TransportError> {
        check_request(&request)?;
        let entry = self.entry(egress)?;
        let config = &self.shared.config;
        if speaks_http1(&request, config) {
            let idle = Arc::clone(&entry.idle_h1);
            let connector = entry.connector.clone();
            drop(entry);
            let (response, lent) = tokio::time::timeout(
                config.first_byte_timeout,
                h1::send(&idle, &connector, request),
            )
            .await
            .map_err(|_| first_byte_timeout())??;
            let idle = config.idle_read_timeout;
            return Ok(response.map(|body| UpstreamBody::with_connection(body, idle, lent)));
        }
        let pending = entry.client.request(request);
        // The entry may be evicted while the request runs; the client stays alive through the
        // future's own handles.
        drop(entry);
        let response = tokio::time::timeout(self.shared.config.first_byte_timeout, pending)
            .await
            .map_err(|_| first_byte_timeout())?
            .map_err(classify_client_error)?;
        let idle = self.shared.config.idle_read_timeout;
        Ok(response.map(|body| UpstreamBody::new(body, idle)))
    }

    /// Opens one connection to `target` through `proxy` and closes it again, with the pool's
    /// connect timeout and TLS settings: the TCP connection to the proxy, its `CONNECT` or
    /// SOCKS5 handshake and, for an `https` target, the TLS handshake with the target. Returns
    /// how long that took. Nothing is sent through the tunnel and no pooled client is made.
    pub async fn probe_proxy(
        &self,
        proxy: &ValidProxyUrl,
        target: &http::Uri,
    ) -> Result<Duration, TransportError> {
        let egress = Egress::Proxy(proxy.clone());
        let mut connector =
            EgressConnector::new(&egress, &self.shared.connector).map_err(|_| {
                TransportError::new(
                    TransportErrorKind::ProxyConnect(ProxyFailure::Unreachable),
                    ErrorSource::Proxy,
                )
            })?;
        let started = std::time::Instant::now();
        let stream = tower_service::Service::call(&mut connector, target.clone()).await?;
        let took = started.elapsed();
        drop(stream);
        Ok(took)
    }

    /// Number of egresses with a client: the pool-size metric.
    pub fn len(&self) -> usize {
        self.shared.egresses.read().len()
    }

    /// True when no egress has a client yet.
    pub fn is_empty(&self) -> bool {
        self.shared.egresses.read().is_empty()
    }

    /// True when `egress` currently has a client.
    pub fn contains(&self, egress: &Egress) -> bool {
        self.shared.egresses.read().contains_key(egress)
    }

    /// How many clients were dropped to stay within `max_clients`.
    pub fn evictions(&self) -> u64 {
        self.shared.evictions.load(Ordering::Relaxed)
    }

    /// Drops the client of `egress` (a deleted or changed proxy). Requests in flight finish;
    /// idle connections close. Returns whether the egress had a client.
    pub fn remove(&self, egress: &Egress) -> bool {
        let removed = self.shared.egresses.write().remove(egress);
        let had_client = removed.is_some();
        // Dropped here, outside the lock.
        drop(removed);
        had_client
    }

    /// Keeps only the egresses for which `keep` returns true, e.g. the proxies still in the
    /// snapshot, and drops the other clients.
    pub fn retain(&self, mut keep: impl FnMut(&Egress) -> bool) {
        let removed: Vec<_> = self
            .shared
            .egresses
            .write()
            .extract_if(|egress, _| !keep(egress))
            .collect();
        drop(removed);
    }

    /// Closes the idle HTTP/1.1 connections the pool keeps itself (see `h1`) that idled past
    /// `pool_idle_timeout`, those beyond `warm_idle_per_host` that idled past
    /// `surplus_idle_timeout`, and those the upstream closed. Nothing polls an idle connection, so
    /// without this they would stay open until their host is called again; the runtime calls
    /// it on every snapshot refresh.
    pub fn close_idle_connections(&self) {
        let entries: Vec<Arc<Entry>> = self.shared.egresses.read().values().cloned().collect();
        for entry in entries {
            entry.idle_h1.close_stale();
        }
    }

    /// The client of `egress`, created on first use.
    fn entry(&self, egress: &Egress) -> Result<Arc<Entry>, TransportError> {
        let tick = self.shared.clock.fetch_add(1, Ordering::Relaxed);
        if let Some(entry) = self.shared.egresses.read().get(egress) {
            entry.last_used.fetch_max(tick, Ordering::Relaxed);
            return Ok(Arc::clone(entry));
        }

        // Built outside the lock: building does no IO but is not free, and another caller may
        // win the race, in which case this one is dropped unused.
        let connector = self.connector(egress)?;
        let config = &self.shared.config;
        let built = Arc::new(Entry {
            client: self.build_client(connector.clone()),
            connector,
            idle_h1: Arc::new(h1::IdleConns::new(h1::IdleLimits {
                max_per_host: config.max_idle_per_host,
                idle_timeout: config.pool_idle_timeout,
                warm_per_host: config.warm_idle_per_host,
                surplus_timeout: config.surplus_idle_timeout,
            })),
            last_used: AtomicU64::new(tick),
        });
        let evicted;
        {
            let mut egresses = self.shared.egresses.write();
            if let Some(existing) = egresses.get(egress) {
                existing.last_used.fetch_max(tick, Ordering::Relaxed);
                return Ok(Arc::clone(existing));
            }
            evicted = if egresses.len() >= self.shared.config.max_clients {
                least_recently_used(&egresses).and_then(|lru| egresses.remove_entry(&lru))
            } else {
                None
            };
            egresses.insert(egress.clone(), Arc::clone(&built));
        }
        if let Some((evicted_egress, _)) = evicted {
            self.shared.evictions.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(egress = %evicted_egress, "evicted the least recently used HTTP client");
        }
        tracing::debug!(egress = %egress, "created an HTTP client");
        Ok(built)
    }

    fn connector(&self, egress: &Egress) -> Result<EgressConnector, TransportError> {
        EgressConnector::new(egress, &self.shared.connector).map_err(|_| {
            // `ValidProxyUrl::parse` rejects URLs whose endpoint cannot be built, so this is only
            // reachable through a bug; the egress is still not used directly.
            TransportError::new(
                TransportErrorKind::ProxyConnect(ProxyFailure::Unreachable),
                ErrorSource::Proxy,
            )
        })
    }

    fn build_client(&self, connector: EgressConnector) -> Client<EgressConnector, RequestBody> {
        let config = &self.shared.config;
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(config.pool_idle_timeout)
            .pool_max_idle_per_host(config.max_idle_per_host)
            .http2_keep_alive_interval(config.http2_keep_alive_interval);
        builder.build(connector)
    }
}

fn least_recently_used(egresses: &HashMap<Egress, Arc<Entry>>) -> Option<Egress> {
    egresses
        .iter()
        .min_by_key(|(_, entry)| entry.last_used.load(Ordering::Relaxed))
        .map(|(egress, _)| egress.clone())
}

fn tls_config(extra_roots: &[CertificateDer<'static>]) -> Result<rustls::ClientConfig, PoolError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for certificate in extra_roots {
        roots.add(certificate.clone()).map_err(PoolError::Tls)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(PoolError::Tls)?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// True when the upstream is known to speak HTTP/1.1 before connecting: plain `http` (HTTP/2
/// is offered only through TLS), or `https` when HTTP/2 is not offered. Those requests drive
/// their own connection ([`h1`]); the others go through the legacy client, which learns the
/// protocol from ALPN.
fn speaks_http1(request: &Request<RequestBody>, config: &PoolConfig) -> bool {
    match request.uri().scheme_str() {
        Some("http") => true,
        Some("https") => !config.enable_http2,
        _ => false,
    }
}

fn first_byte_timeout() -> TransportError {
    TransportError::new(
        TransportErrorKind::Timeout(TimeoutPhase::FirstByte),
        ErrorSource::Upstream,
    )
}

/// Rejects requests the legacy client would refuse, before any connection is made.
fn check_request(request: &Request<RequestBody>) -> Result<(), TransportError> {
    let uri = request.uri();
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    // The client upgrades HTTP/1.x requests to HTTP/2 when ALPN selects it; a request that
    // insists on HTTP/2 would fail on an HTTP/1.1 upstream.
    let version_ok = matches!(request.version(), Version::HTTP_11 | Version::HTTP_10);
    if scheme_ok && uri.host().is_some_and(|h| !h.is_empty()) && version_ok {
        Ok(())
    } else {
        Err(TransportError::new(
            TransportErrorKind::InvalidRequest,
            ErrorSource::Internal,
        ))
    }
}

/// Classifies an error of the legacy client: the connector's own typed error when connecting,
/// otherwise hyper's error predicates.
fn classify_client_error(error: hyper_util::client::legacy::Error) -> TransportError {
    let cause = error.source();
    if error.is_connect() {
        if let Some(typed) = cause.and_then(|c| c.downcast_ref::<TransportError>()) {
            let (kind, blame) = (typed.kind(), typed.error_source());
            return TransportError::new(kind, blame).with_cause(error);
        }
        return TransportError::new(TransportErrorKind::Connect, ErrorSource::Upstream)
            .with_cause(error);
    }
    let kind = cause
        .and_then(|c| c.downcast_ref::<hyper::Error>())
        .map_or(TransportErrorKind::ConnectionClosed, classify_hyper_error);
    exchange_failure(kind).with_cause(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The send future is held (and moved into a box) on every upstream call: what only a new
    /// connection needs (the connector's and the handshake's futures, the stream itself) is
    /// boxed where it is awaited, so it does not weigh on requests that reuse a connection.
    #[test]
    fn the_send_future_stays_small() {
        const LIMIT: usize = 2 * 1024;
        let pool = ClientPool::new(PoolConfig::default()).unwrap();
        let request = Request::get("http://127.0.0.1:9/")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let size = std::mem::size_of_val(&pool.send(&Egress::Direct, request));
        assert!(size <= LIMIT, "{size} bytes, over {LIMIT}");
    }
}
