//! Errors of the client pool: invalid configuration or proxy URLs, and classified upstream failures.

use std::error::Error as StdError;
use std::fmt;

/// A boxed error kept only as the diagnostic source of an [`TransportError`].
pub(crate) type BoxError = Box<dyn StdError + Send + Sync>;

/// Configuration and proxy URL errors.
///
/// No variant carries any part of a proxy URL: the URL may hold a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// The proxy URL does not parse as a URL.
    #[error("malformed proxy URL: {0}")]
    MalformedProxyUrl(#[source] url::ParseError),
    /// The scheme is not one of http, https, socks5, socks5h.
    #[error("unsupported proxy scheme (expected http, https, socks5 or socks5h)")]
    UnsupportedProxyScheme,
    /// The proxy URL has no host.
    #[error("proxy URL has no host")]
    MissingProxyHost,
    /// The proxy host cannot be dialed (characters an HTTP authority does not allow).
    #[error("proxy URL has an invalid host")]
    InvalidProxyHost,
    /// The proxy URL names port 0.
    #[error("proxy URL has an invalid port")]
    InvalidProxyPort,
    /// The proxy URL has a path, query or fragment, which a proxy address cannot have.
    #[error("proxy URL must not have a {0}")]
    UnexpectedProxyUrlPart(&'static str),
    /// The credentials are not valid UTF-8 once decoded, have a password but no username, or
    /// are too long for SOCKS5 (255 bytes each).
    #[error("proxy URL credentials are invalid")]
    InvalidProxyCredentials,
    /// A pool setting is out of range.
    #[error("invalid client pool setting `{field}`: {reason}")]
    InvalidConfig {
        /// The setting's name in [`super::PoolConfig`].
        field: &'static str,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// The TLS client configuration could not be built.
    #[error("cannot build the TLS client configuration")]
    Tls(#[source] rustls::Error),
}

/// Which deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeoutPhase {
    /// Opening the connection: TCP, proxy handshake and TLS, under one deadline.
    Connect,
    /// Waiting for the response headers after the request was handed to the client.
    FirstByte,
    /// Waiting for the next piece of the response body.
    Idle,
}

/// Why a proxy could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProxyFailure {
    /// No TCP connection to the proxy could be opened.
    Unreachable,
    /// The TLS handshake with an `https://` proxy failed.
    Tls,
    /// The proxy rejected the credentials (HTTP 407, SOCKS5 authentication failure).
    AuthRejected,
    /// The proxy answered but did not open the tunnel: a CONNECT status other than 200, a
    /// SOCKS5 failure reply, or a broken handshake.
    TunnelRefused,
}

/// What went wrong with an upstream call, as a closed set that failover and metrics match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportErrorKind {
    /// No TCP connection to the upstream could be opened (refused, unreachable, DNS failure).
    Connect,
    /// The egress's proxy could not be used; the request never reached the upstream.
    ProxyConnect(ProxyFailure),
    /// The TLS handshake with the upstream failed.
    Tls,
    /// A deadline passed.
    Timeout(TimeoutPhase),
    /// The connection closed or was reset before the response was complete.
    ConnectionClosed,
    /// The upstream sent something that is not valid HTTP.
    Protocol,
    /// The request cannot be sent as built (not an absolute http or https URI, …).
    InvalidRequest,
}

impl TransportErrorKind {
    /// A low-cardinality label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::ProxyConnect(ProxyFailure::Unreachable) => "proxy_unreachable",
            Self::ProxyConnect(ProxyFailure::Tls) => "proxy_tls",
            Self::ProxyConnect(ProxyFailure::AuthRejected) => "proxy_auth_rejected",
            Self::ProxyConnect(ProxyFailure::TunnelRefused) => "proxy_tunnel_refused",
            Self::Tls => "tls",
            Self::Timeout(TimeoutPhase::Connect) => "timeout_connect",
            Self::Timeout(TimeoutPhase::FirstByte) => "timeout_first_byte",
            Self::Timeout(TimeoutPhase::Idle) => "timeout_idle",
            Self::ConnectionClosed => "connection_closed",
            Self::Protocol => "protocol",
            Self::InvalidRequest => "invalid_request",
        }
    }
}

/// Who is to blame for an upstream error, so that failover penalises the right thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorSource {
    /// The upstream server or the network path to it.
    Upstream,
    /// The egress's proxy.
    Proxy,
    /// The gateway itself (a request it built wrongly).
    Internal,
}

/// A failed upstream call, classified by kind and source (pingora style).
///
/// `Display` is a fixed sentence per kind: it never includes text from lower layers, so neither
/// proxy credentials nor upstream addresses reach a client or a log line through it. The lower
/// layer's error stays reachable through [`std::error::Error::source`] for debugging; it never
/// contains credentials because no URI the pool builds carries any.
#[derive(Debug)]
pub struct TransportError {
    kind: TransportErrorKind,
    source_of_blame: ErrorSource,
    in_body: bool,
    cause: Option<BoxError>,
}

impl TransportError {
    /// A failure of `kind`, blamed on `source_of_blame`, with no lower-layer cause.
    pub fn new(kind: TransportErrorKind, source_of_blame: ErrorSource) -> Self {
        Self {
            kind,
            source_of_blame,
            in_body: false,
            cause: None,
        }
    }

    pub(crate) fn with_cause(mut self, cause: impl Into<BoxError>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    pub(crate) fn in_body(mut self) -> Self {
        self.in_body = true;
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    /// Who is to blame.
    ///
    /// Named apart from [`std::error::Error::source`], which returns the underlying error.
    pub fn error_source(&self) -> ErrorSource {
        self.source_of_blame
    }

    /// True when the error happened while reading the response body, after the headers arrived.
    pub fn is_in_body(&self) -> bool {
        self.in_body
    }

    /// True when another attempt (on another account) may succeed and is safe to make because no
    /// response has been received yet.
    ///
    /// Connect, proxy, TLS, connect and first-byte timeouts, connections closed before the
    /// headers, and malformed responses are retryable; an idle timeout, any error in the body,
    /// and a request the gateway built wrongly are not.
    pub fn is_retryable_before_first_byte(&self) -> bool {
        if self.in_body {
            return false;
        }
        match self.kind {
            TransportErrorKind::Connect
            | TransportErrorKind::ProxyConnect(_)
            | TransportErrorKind::Tls
            | TransportErrorKind::Timeout(TimeoutPhase::Connect | TimeoutPhase::FirstByte)
            | TransportErrorKind::ConnectionClosed
            | TransportErrorKind::Protocol => true,
            TransportErrorKind::Timeout(TimeoutPhase::Idle)
            | TransportErrorKind::InvalidRequest => false,
        }
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            TransportErrorKind::Connect => "could not connect to the upstream",
            TransportErrorKind::ProxyConnect(ProxyFailure::Unreachable) => {
                "could not connect to the proxy"
            }
            TransportErrorKind::ProxyConnect(ProxyFailure::Tls) => {
                "TLS handshake with the proxy failed"
            }
            TransportErrorKind::ProxyConnect(ProxyFailure::AuthRejected) => {
                "the proxy rejected the credentials"
            }
            TransportErrorKind::ProxyConnect(ProxyFailure::TunnelRefused) => {
                "the proxy did not open a tunnel to the upstream"
            }
            TransportErrorKind::Tls => "TLS handshake with the upstream failed",
            TransportErrorKind::Timeout(TimeoutPhase::Connect) => {
                "timed out connecting to the upstream"
            }
            TransportErrorKind::Timeout(TimeoutPhase::FirstByte) => {
                "timed out waiting for the upstream response"
            }
            TransportErrorKind::Timeout(TimeoutPhase::Idle) => {
                "timed out waiting for more of the upstream response body"
            }
            TransportErrorKind::ConnectionClosed => {
                "the upstream connection closed before the response was complete"
            }
            TransportErrorKind::Protocol => "the upstream sent an invalid HTTP response",
            TransportErrorKind::InvalidRequest => "the upstream request is invalid",
        })?;
        if self.source_of_blame == ErrorSource::Proxy
            && !matches!(self.kind, TransportErrorKind::ProxyConnect(_))
        {
            f.write_str(" (via proxy)")?;
        }
        Ok(())
    }
}

impl StdError for TransportError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.cause
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// A failed exchange with an upstream, of `kind`: blamed on the gateway for a request it built
/// wrongly, on the upstream otherwise.
pub(super) fn exchange_failure(kind: TransportErrorKind) -> TransportError {
    let blame = if kind == TransportErrorKind::InvalidRequest {
        ErrorSource::Internal
    } else {
        ErrorSource::Upstream
    };
    TransportError::new(kind, blame)
}

/// Maps hyper's error predicates to a kind; anything that is neither a parse nor a usage error
/// is a connection that ended early (closed, reset, HTTP/2 stream or connection error).
pub(super) fn classify_hyper_error(error: &hyper::Error) -> TransportErrorKind {
    if error.is_parse() || error.is_parse_status() || error.is_parse_too_large() {
        TransportErrorKind::Protocol
    } else if error.is_user() {
        TransportErrorKind::InvalidRequest
    } else {
        TransportErrorKind::ConnectionClosed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_errors_are_never_retryable() {
        let before =
            TransportError::new(TransportErrorKind::ConnectionClosed, ErrorSource::Upstream);
        assert!(before.is_retryable_before_first_byte());
        let during =
            TransportError::new(TransportErrorKind::ConnectionClosed, ErrorSource::Upstream)
                .in_body();
        assert!(!during.is_retryable_before_first_byte());
    }

    #[test]
    fn labels_are_distinct() {
        let kinds = [
            TransportErrorKind::Connect,
            TransportErrorKind::ProxyConnect(ProxyFailure::Unreachable),
            TransportErrorKind::ProxyConnect(ProxyFailure::Tls),
            TransportErrorKind::ProxyConnect(ProxyFailure::AuthRejected),
            TransportErrorKind::ProxyConnect(ProxyFailure::TunnelRefused),
            TransportErrorKind::Tls,
            TransportErrorKind::Timeout(TimeoutPhase::Connect),
            TransportErrorKind::Timeout(TimeoutPhase::FirstByte),
            TransportErrorKind::Timeout(TimeoutPhase::Idle),
            TransportErrorKind::ConnectionClosed,
            TransportErrorKind::Protocol,
            TransportErrorKind::InvalidRequest,
        ];
        let labels: std::collections::HashSet<_> = kinds.iter().map(|k| k.as_str()).collect();
        assert_eq!(labels.len(), kinds.len());
    }
}
