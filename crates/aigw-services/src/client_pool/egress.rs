//! Egresses, the way an outbound connection leaves: direct, or through a validated proxy URL
//! whose password never prints.

use std::fmt;

use percent_encoding::percent_decode_str;
use url::Url;

use super::error::PoolError;

/// The longest username or password a SOCKS5 proxy can receive (RFC 1929 length byte).
const SOCKS5_CREDENTIAL_MAX: usize = 255;

/// How a proxy is spoken to, taken from the proxy URL's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProxyScheme {
    /// HTTP CONNECT tunnel over plain TCP to the proxy.
    Http,
    /// HTTP CONNECT tunnel over TLS to the proxy.
    Https,
    /// SOCKS5; the gateway resolves the upstream host name itself.
    Socks5,
    /// SOCKS5; the proxy resolves the upstream host name (no local DNS lookup).
    Socks5h,
}

impl ProxyScheme {
    fn from_url_scheme(scheme: &str) -> Option<Self> {
        match scheme {
            "http" => Some(Self::Http),
            "https" => Some(Self::Https),
            "socks5" => Some(Self::Socks5),
            "socks5h" => Some(Self::Socks5h),
            _ => None,
        }
    }

    /// The URL scheme, as written in a proxy URL.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
            Self::Socks5 => "socks5",
            Self::Socks5h => "socks5h",
        }
    }

    /// The port used when the URL names none.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
            Self::Socks5 | Self::Socks5h => 1080,
        }
    }

    /// True for the schemes that open an HTTP CONNECT tunnel.
    pub fn is_http_connect(self) -> bool {
        matches!(self, Self::Http | Self::Https)
    }
}

impl fmt::Display for ProxyScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Credentials embedded in a proxy URL, already percent-decoded.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct ProxyCredentials {
    pub(crate) username: String,
    pub(crate) password: String,
}

/// A validated proxy URL: `scheme://[user[:password]@]host[:port]`.
///
/// Parsing is the only way to build one, so holding a `ValidProxyUrl` means the scheme is supported
/// and the host and port are usable. `Display` and `Debug` mask the password; nothing in this
/// module ever formats it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ValidProxyUrl {
    scheme: ProxyScheme,
    /// Lower-cased host; IPv6 literals keep their brackets so `host:port` stays unambiguous.
    host: String,
    port: u16,
    credentials: Option<ProxyCredentials>,
}

impl ValidProxyUrl {
    /// Validates a proxy URL as written by an operator.
    ///
    /// Accepts `http`, `https`, `socks5` and `socks5h`, with an optional `user:password@` part
    /// (percent-encoded) and an optional port (default 80, 443 or 1080 by scheme). Rejects any
    /// path, query or fragment, port 0, and a password without a username. The error never
    /// carries any part of the input, since the input may hold a password.
    pub fn parse(input: &str) -> Result<Self, PoolError> {
        let url = Url::parse(input.trim()).map_err(PoolError::MalformedProxyUrl)?;
        let scheme =
            ProxyScheme::from_url_scheme(url.scheme()).ok_or(PoolError::UnsupportedProxyScheme)?;

        let host = match url.host_str() {
            Some(host) if !host.is_empty() => host.to_ascii_lowercase(),
            _ => return Err(PoolError::MissingProxyHost),
        };
        let port = url.port().unwrap_or_else(|| scheme.default_port());
        if port == 0 {
            return Err(PoolError::InvalidProxyPort);
        }
        // `Url` normalises an empty path to "/" for http(s) and leaves it empty for socks.
        if !matches!(url.path(), "" | "/") {
            return Err(PoolError::UnexpectedProxyUrlPart("path"));
        }
        if url.query().is_some() {
            return Err(PoolError::UnexpectedProxyUrlPart("query"));
        }
        if url.fragment().is_some() {
            return Err(PoolError::UnexpectedProxyUrlPart("fragment"));
        }

        let credentials = Self::credentials(&url, scheme)?;
        let proxy = Self {
            scheme,
            host,
            port,
            credentials,
        };
        // Hosts that `url` accepts for non-special schemes (socks) may still not form an HTTP
        // authority; such a proxy could never be dialed.
        proxy
            .endpoint_uri()
            .map_err(|_| PoolError::InvalidProxyHost)?;
        Ok(proxy)
    }

    fn credentials(url: &Url, scheme: ProxyScheme) -> Result<Option<ProxyCredentials>, PoolError> {
        let decode = |raw: &str| {
            percent_decode_str(raw)
                .decode_utf8()
                .map(|decoded| decoded.into_owned())
                .map_err(|_| PoolError::InvalidProxyCredentials)
        };
        let username = decode(url.username())?;
        let password = url.password().map(decode).transpose()?;
        let credentials = match (username.is_empty(), password) {
            (true, None) => return Ok(None),
            (true, Some(_)) => return Err(PoolError::InvalidProxyCredentials),
            (false, password) => ProxyCredentials {
                username,
                password: password.unwrap_or_default(),
            },
        };
        let socks = matches!(scheme, ProxyScheme::Socks5 | ProxyScheme::Socks5h);
        if socks
            && (credentials.username.len() > SOCKS5_CREDENTIAL_MAX
                || credentials.password.len() > SOCKS5_CREDENTIAL_MAX)
        {
            return Err(PoolError::InvalidProxyCredentials);
        }
        Ok(Some(credentials))
    }

    /// The proxy protocol.
    pub fn scheme(&self) -> ProxyScheme {
        self.scheme
    }

    /// The proxy host, lower-cased (IPv6 literals in brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy port, explicit or the scheme's default.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The username, if the URL has credentials.
    pub fn username(&self) -> Option<&str> {
        self.credentials.as_ref().map(|c| c.username.as_str())
    }

    /// True when the URL carries credentials.
    pub fn has_credentials(&self) -> bool {
        self.credentials.is_some()
    }

    pub(crate) fn credentials_ref(&self) -> Option<&ProxyCredentials> {
        self.credentials.as_ref()
    }

    /// `scheme://host:port`, without credentials: the address the connector dials.
    pub(crate) fn endpoint_uri(&self) -> Result<http::Uri, http::uri::InvalidUri> {
        // The dial of the first hop is done by an HTTP connector, which speaks only http(s)
        // URIs; a SOCKS proxy is a plain TCP endpoint, so it is dialed as `http://`.
        let scheme = match self.scheme {
            ProxyScheme::Https => "https",
            ProxyScheme::Http | ProxyScheme::Socks5 | ProxyScheme::Socks5h => "http",
        };
        format!("{scheme}://{}:{}", self.host, self.port).parse()
    }
}

impl fmt::Display for ValidProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme)?;
        if let Some(credentials) = &self.credentials {
            // The username is shown (operators need to tell accounts apart); the password never.
            write!(f, "{}:****@", credentials.username)?;
        }
        write!(f, "{}:{}", self.host, self.port)
    }
}

impl fmt::Debug for ValidProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ValidProxyUrl({self})")
    }
}

impl std::str::FromStr for ValidProxyUrl {
    type Err = PoolError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Where an outbound connection goes first: straight to the upstream, or through a proxy.
///
/// The pool keeps one HTTP client per distinct egress.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Egress {
    /// Connect to the upstream directly.
    Direct,
    /// Connect through this proxy.
    Proxy(ValidProxyUrl),
}

impl Egress {
    /// The egress for an account's optional proxy URL.
    ///
    /// `None` is a direct egress. An invalid URL is an error, never a direct egress: an account
    /// whose proxy cannot be used must not be used at all.
    pub fn for_proxy_url(proxy_url: Option<&str>) -> Result<Self, PoolError> {
        match proxy_url {
            None => Ok(Self::Direct),
            Some(url) => ValidProxyUrl::parse(url).map(Self::Proxy),
        }
    }

    /// The proxy of this egress, if any.
    pub fn proxy(&self) -> Option<&ValidProxyUrl> {
        match self {
            Self::Direct => None,
            Self::Proxy(proxy) => Some(proxy),
        }
    }
}

impl fmt::Display for Egress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Direct => f.write_str("direct"),
            Self::Proxy(proxy) => write!(f, "proxy {proxy}"),
        }
    }
}

impl From<ValidProxyUrl> for Egress {
    fn from(proxy: ValidProxyUrl) -> Self {
        Self::Proxy(proxy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_ports_follow_the_scheme() {
        let cases = [
            ("http://p.example", 80),
            ("https://p.example", 443),
            ("socks5://p.example", 1080),
            ("socks5h://p.example", 1080),
            ("http://p.example:3128", 3128),
        ];
        for (input, port) in cases {
            assert_eq!(ValidProxyUrl::parse(input).unwrap().port(), port, "{input}");
        }
    }

    #[test]
    fn credentials_are_percent_decoded() {
        let url = ValidProxyUrl::parse("socks5://al%40ice:p%3Ass@P.Example:1081/").unwrap();
        let credentials = url.credentials_ref().unwrap();
        assert_eq!(credentials.username, "al@ice");
        assert_eq!(credentials.password, "p:ss");
        assert_eq!(url.host(), "p.example");
        assert_eq!(url.to_string(), "socks5://al@ice:****@p.example:1081");
    }

    #[test]
    fn endpoint_uri_has_no_credentials() {
        let url = ValidProxyUrl::parse("https://u:secret@[::1]:8443").unwrap();
        assert_eq!(
            url.endpoint_uri().unwrap().to_string(),
            "https://[::1]:8443/"
        );
        let socks = ValidProxyUrl::parse("socks5h://u:secret@10.0.0.1").unwrap();
        assert_eq!(
            socks.endpoint_uri().unwrap().to_string(),
            "http://10.0.0.1:1080/"
        );
    }

    #[test]
    fn same_proxy_with_other_password_is_another_egress() {
        let a = Egress::for_proxy_url(Some("http://u:one@p:1")).unwrap();
        let b = Egress::for_proxy_url(Some("http://u:two@p:1")).unwrap();
        assert_ne!(a, b);
        assert_eq!(a, Egress::for_proxy_url(Some("HTTP://u:one@P:1/")).unwrap());
    }
}
