//! The connector behind every pooled client: dial, proxy handshake and TLS under one deadline.
//!
//! One `EgressConnector` exists per egress. It dials the first hop with hyper-util's
//! `HttpConnector` (TCP_NODELAY, keepalive), speaks TLS to an `https://` proxy, opens the tunnel
//! with hyper-util's `Tunnel` (HTTP CONNECT) or `SocksV5`, and finally does TLS to the upstream
//! with hyper-rustls (ALPN h2 and http/1.1). Each step runs on an already-open stream handed in
//! through [`Preconnected`], so a failure is attributed to the exact step, and so to the proxy or
//! the upstream, without reading error messages.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use http::{HeaderValue, Uri};
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::proxy::{SocksV5, Tunnel};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tower_service::Service;

use super::egress::{Egress, ProxyScheme, ValidProxyUrl};
use super::error::{ErrorSource, ProxyFailure, TimeoutPhase, TransportError, TransportErrorKind};

/// The first hop: TCP to the upstream or the proxy, with TLS when the proxy is `https://`.
type Hop = MaybeHttpsStream<TokioIo<TcpStream>>;

/// A finished connection: the first hop, with TLS to the upstream on top when it is `https`.
pub(crate) type UpstreamStream = MaybeHttpsStream<Hop>;

/// How an egress reaches the upstream.
enum Via {
    Direct,
    Tunnel {
        proxy: ProxyEndpoint,
        /// The precomputed `Proxy-Authorization` value, marked sensitive.
        authorization: Option<HeaderValue>,
    },
    Socks {
        proxy: ProxyEndpoint,
        credentials: Option<(String, String)>,
        remote_dns: bool,
    },
}

/// The proxy's address without credentials, and whether the first hop is TLS.
struct ProxyEndpoint {
    uri: Uri,
    tls: bool,
}

struct Inner {
    via: Via,
    http: HttpConnector,
    /// TLS to upstreams: ALPN h2 and http/1.1.
    upstream_tls: Arc<rustls::ClientConfig>,
    /// TLS to `https://` proxies: ALPN http/1.1 only, since CONNECT is an HTTP/1.1 request and
    /// the ALPN result of this hop must never be mistaken for the upstream's.
    proxy_tls: Arc<rustls::ClientConfig>,
    connect_timeout: Duration,
}

/// The connector of one egress's client.
#[derive(Clone)]
pub(crate) struct EgressConnector {
    inner: Arc<Inner>,
}

/// What a connector needs beyond the egress, shared by all egresses.
pub(crate) struct ConnectorSettings {
    pub(crate) connect_timeout: Duration,
    pub(crate) tcp_keepalive: Option<Duration>,
    pub(crate) upstream_tls: Arc<rustls::ClientConfig>,
    pub(crate) proxy_tls: Arc<rustls::ClientConfig>,
}

impl EgressConnector {
    pub(crate) fn new(
        egress: &Egress,
        settings: &ConnectorSettings,
    ) -> Result<Self, InvalidProxyEndpoint> {
        let mut http = HttpConnector::new();
        // Upstream URIs are https; the TLS layer above this connector handles the scheme.
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_keepalive(settings.tcp_keepalive);
        // Per-address attempt limit; the whole connection is also bounded by one deadline below.
        http.set_connect_timeout(Some(settings.connect_timeout));

        let via = match egress {
            Egress::Direct => Via::Direct,
            Egress::Proxy(url) => Self::via_proxy(url)?,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                via,
                http,
                upstream_tls: Arc::clone(&settings.upstream_tls),
                proxy_tls: Arc::clone(&settings.proxy_tls),
                connect_timeout: settings.connect_timeout,
            }),
        })
    }

    fn via_proxy(url: &ValidProxyUrl) -> Result<Via, InvalidProxyEndpoint> {
        let proxy = ProxyEndpoint {
            uri: url.endpoint_uri().map_err(|_| InvalidProxyEndpoint)?,
            tls: url.scheme() == ProxyScheme::Https,
        };
        let credentials = url.credentials_ref();
        Ok(match url.scheme() {
            ProxyScheme::Http | ProxyScheme::Https => Via::Tunnel {
                proxy,
                authorization: credentials
                    .map(|c| basic_authorization(&c.username, &c.password))
                    .transpose()?,
            },
            ProxyScheme::Socks5 | ProxyScheme::Socks5h => Via::Socks {
                proxy,
                credentials: credentials.map(|c| (c.username.clone(), c.password.clone())),
                remote_dns: url.scheme() == ProxyScheme::Socks5h,
            },
        })
    }
}

fn basic_authorization(
    username: &str,
    password: &str,
) -> Result<HeaderValue, InvalidProxyEndpoint> {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let mut value =
        HeaderValue::from_str(&format!("Basic {encoded}")).map_err(|_| InvalidProxyEndpoint)?;
    value.set_sensitive(true);
    Ok(value)
}

/// A proxy URL that parsed but cannot be turned into a dialable endpoint.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InvalidProxyEndpoint;

impl fmt::Debug for EgressConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let via = match &self.inner.via {
            Via::Direct => "direct",
            Via::Tunnel { .. } => "http-connect",
            Via::Socks { .. } => "socks5",
        };
        f.debug_struct("EgressConnector")
            .field("via", &via)
            .finish_non_exhaustive()
    }
}

impl Service<Uri> for EgressConnector {
    type Response = UpstreamStream;
    type Error = TransportError;
    type Future = Pin<Box<dyn Future<Output = Result<UpstreamStream, TransportError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move { inner.connect(dst).await })
    }
}

impl Inner {
    async fn connect(&self, dst: Uri) -> Result<UpstreamStream, TransportError> {
        let deadline = Instant::now() + self.connect_timeout;
        let hop = match &self.via {
            Via::Direct => {
                within(
                    deadline,
                    ErrorSource::Upstream,
                    self.dial_upstream(dst.clone()),
                )
                .await?
            }
            Via::Tunnel {
                proxy,
                authorization,
            } => {
                within(deadline, ErrorSource::Proxy, async {
                    let hop = self.dial_proxy(proxy).await?;
                    let mut tunnel = Tunnel::new(proxy.uri.clone(), Preconnected::new(hop));
                    if let Some(authorization) = authorization {
                        tunnel = tunnel.with_auth(authorization.clone());
                    }
                    tunnel
                        .call(with_explicit_port(&dst)?)
                        .await
                        .map_err(|e| proxy_error(classify_handshake(&e)).with_cause(e))
                })
                .await?
            }
            Via::Socks {
                proxy,
                credentials,
                remote_dns,
            } => {
                // Name resolution is done here (socks5) or by the proxy (socks5h); the SOCKS
                // connector's own local lookup would block the runtime thread.
                let target = if *remote_dns {
                    with_explicit_port(&dst)?
                } else {
                    within(deadline, ErrorSource::Upstream, resolve_locally(&dst)).await?
                };
                within(deadline, ErrorSource::Proxy, async {
                    let hop = self.dial_proxy(proxy).await?;
                    let mut socks =
                        SocksV5::new(proxy.uri.clone(), Preconnected::new(hop)).local_dns(false);
                    if let Some((username, password)) = credentials {
                        socks = socks.with_auth(username.clone(), password.clone());
                    }
                    socks
                        .call(target)
                        .await
                        .map_err(|e| proxy_error(classify_handshake(&e)).with_cause(e))
                })
                .await?
            }
        };

        // For a plain `http` upstream this hands the hop back untouched.
        let mut tls =
            HttpsConnector::from((Preconnected::new(hop), Arc::clone(&self.upstream_tls)));
        within(deadline, ErrorSource::Upstream, async {
            tls.call(dst).await.map_err(|e| {
                TransportError::new(TransportErrorKind::Tls, ErrorSource::Upstream).with_cause(e)
            })
        })
        .await
    }

    async fn dial_upstream(&self, dst: Uri) -> Result<Hop, TransportError> {
        let tcp = self.http.clone().call(dst).await.map_err(|e| {
            let kind = if is_timed_out(&e) {
                TransportErrorKind::Timeout(TimeoutPhase::Connect)
            } else {
                TransportErrorKind::Connect
            };
            TransportError::new(kind, ErrorSource::Upstream).with_cause(e)
        })?;
        Ok(MaybeHttpsStream::Http(tcp))
    }

    async fn dial_proxy(&self, proxy: &ProxyEndpoint) -> Result<Hop, TransportError> {
        let tcp = self
            .http
            .clone()
            .call(proxy.uri.clone())
            .await
            .map_err(|e| {
                let error = if is_timed_out(&e) {
                    TransportError::new(
                        TransportErrorKind::Timeout(TimeoutPhase::Connect),
                        ErrorSource::Proxy,
                    )
                } else {
                    proxy_error(ProxyFailure::Unreachable)
                };
                error.with_cause(e)
            })?;
        if !proxy.tls {
            return Ok(MaybeHttpsStream::Http(tcp));
        }
        let mut tls = HttpsConnector::from((Preconnected::new(tcp), Arc::clone(&self.proxy_tls)));
        tls.call(proxy.uri.clone())
            .await
            .map_err(|e| proxy_error(ProxyFailure::Tls).with_cause(e))
    }
}

fn proxy_error(failure: ProxyFailure) -> TransportError {
    TransportError::new(
        TransportErrorKind::ProxyConnect(failure),
        ErrorSource::Proxy,
    )
}

/// Runs one step of connection setup under the connection's deadline, blaming `blame` if the
/// deadline passes during it.
async fn within<T>(
    deadline: Instant,
    blame: ErrorSource,
    step: impl Future<Output = Result<T, TransportError>>,
) -> Result<T, TransportError> {
    match timeout_at(deadline, step).await {
        Ok(result) => result,
        Err(_) => Err(TransportError::new(
            TransportErrorKind::Timeout(TimeoutPhase::Connect),
            blame,
        )),
    }
}

/// The destination with its port written out: the CONNECT and SOCKS connectors otherwise assume
/// 443 for a URI without a port, which is wrong for plain `http` upstreams.
fn with_explicit_port(dst: &Uri) -> Result<Uri, TransportError> {
    let invalid = || TransportError::new(TransportErrorKind::InvalidRequest, ErrorSource::Internal);
    let host = dst.host().ok_or_else(invalid)?;
    let port = dst.port_u16().unwrap_or(default_port(dst));
    format!("http://{host}:{port}")
        .parse()
        .map_err(|_| invalid())
}

/// Resolves the destination host on the gateway for `socks5://` (as opposed to `socks5h://`).
async fn resolve_locally(dst: &Uri) -> Result<Uri, TransportError> {
    let invalid = || TransportError::new(TransportErrorKind::InvalidRequest, ErrorSource::Internal);
    let host = dst.host().ok_or_else(invalid)?;
    let port = dst.port_u16().unwrap_or(default_port(dst));
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let address = match bare.parse::<IpAddr>() {
        Ok(ip) => std::net::SocketAddr::new(ip, port),
        Err(_) => {
            let resolve_failed = |cause: Option<io::Error>| {
                let error = TransportError::new(TransportErrorKind::Connect, ErrorSource::Upstream);
                match cause {
                    Some(cause) => error.with_cause(cause),
                    None => error,
                }
            };
            tokio::net::lookup_host((bare, port))
                .await
                .map_err(|e| resolve_failed(Some(e)))?
                .next()
                .ok_or_else(|| resolve_failed(None))?
        }
    };
    format!("http://{address}").parse().map_err(|_| invalid())
}

fn default_port(dst: &Uri) -> u16 {
    if dst.scheme() == Some(&http::uri::Scheme::HTTPS) {
        443
    } else {
        80
    }
}

/// True when a dial error was the connector's own per-attempt timeout.
fn is_timed_out(error: &(dyn StdError + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::TimedOut)
        {
            return true;
        }
        current = e.source();
    }
    false
}

/// Tells a rejected login apart from other handshake failures.
///
/// hyper-util does not export its tunnel and SOCKS error types, so their variants cannot be
/// matched; their `Display` is the only signal. If the wording ever changes, the failure is
/// still a `ProxyConnect` (same failover outcome) and the tests pinning `AuthRejected` fail.
fn classify_handshake(error: &dyn StdError) -> ProxyFailure {
    let message = error.to_string();
    let auth_rejected = [
        "proxy authorization required",
        "credentials not accepted",
        "user/pass authentication",
    ];
    if auth_rejected.iter().any(|m| message.contains(m)) {
        ProxyFailure::AuthRejected
    } else {
        ProxyFailure::TunnelRefused
    }
}

/// A connector that yields a stream opened earlier, once.
///
/// It lets the hyper-util proxy connectors and the hyper-rustls TLS layer run over a stream this
/// module dialed itself, so that each step's failure is typed by the step that failed.
struct Preconnected<S> {
    stream: Option<S>,
}

impl<S> Preconnected<S> {
    fn new(stream: S) -> Self {
        Self {
            stream: Some(stream),
        }
    }
}

/// A [`Preconnected`] connector was called twice; the code above calls each one once.
#[derive(Debug)]
struct AlreadyUsed;

impl fmt::Display for AlreadyUsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("preconnected stream already used")
    }
}

impl StdError for AlreadyUsed {}

impl<S> Service<Uri> for Preconnected<S> {
    type Response = S;
    type Error = AlreadyUsed;
    type Future = std::future::Ready<Result<S, AlreadyUsed>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _dst: Uri) -> Self::Future {
        std::future::ready(self.stream.take().ok_or(AlreadyUsed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunnel_targets_get_the_scheme_default_port() {
        let cases = [
            ("http://upstream.example/v1/chat", "upstream.example:80"),
            ("https://upstream.example/v1/chat", "upstream.example:443"),
            ("http://upstream.example:8080/", "upstream.example:8080"),
            ("https://[::1]/", "[::1]:443"),
        ];
        for (input, authority) in cases {
            let target = with_explicit_port(&input.parse().unwrap()).unwrap();
            assert_eq!(target.authority().unwrap().as_str(), authority, "{input}");
        }
    }

    #[tokio::test]
    async fn local_resolution_keeps_ip_literals() {
        let target = resolve_locally(&"https://[::1]/x".parse().unwrap())
            .await
            .unwrap();
        assert_eq!(target.authority().unwrap().as_str(), "[::1]:443");
    }

    #[test]
    fn timed_out_is_found_anywhere_in_the_chain() {
        let inner = io::Error::new(io::ErrorKind::TimedOut, "slow");
        let outer = TransportError::new(TransportErrorKind::Connect, ErrorSource::Upstream)
            .with_cause(inner);
        assert!(is_timed_out(&outer));
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert!(!is_timed_out(&refused));
    }
}
