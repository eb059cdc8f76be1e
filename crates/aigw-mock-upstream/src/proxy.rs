//! Fake outbound proxies: an HTTP CONNECT proxy (optional Basic auth, 407 otherwise)
//! that also forwards absolute-form requests, and a SOCKS5 proxy (RFC 1928, with
//! RFC 1929 username/password auth). Both count connections and tunnels, record
//! targets and their outbound sockets, and only ever connect to loopback addresses.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::counter::Counter;
use crate::error::Error;

/// Request heads above this are refused, as real proxies cap them.
const MAX_HEAD: usize = 16 * 1024;

/// Which protocol a [`MockProxy`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    /// HTTP `CONNECT` (and absolute-form forwarding).
    Http,
    /// SOCKS5.
    Socks5,
}

/// One tunnel the proxy opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tunnel {
    /// `host:port` the client asked for.
    pub target: String,
    /// The client's socket.
    pub client: SocketAddr,
    /// The proxy's outbound socket: the peer address the upstream sees.
    pub outbound: SocketAddr,
    /// True for an absolute-form HTTP request forwarded without `CONNECT`.
    pub forwarded: bool,
}

#[derive(Debug)]
struct ProxyShared {
    kind: ProxyKind,
    auth: Option<(String, String)>,
    connections: Counter,
    tunnels: Counter,
    rejected: Counter,
    /// While set, every accepted connection is closed at once.
    refusing: std::sync::atomic::AtomicBool,
    /// Connections closed because of `refusing`.
    refused: Counter,
    /// Held only to push or copy.
    log: Mutex<Vec<Tunnel>>,
}

/// A fake proxy on `127.0.0.1:<port>`; stops when dropped.
#[derive(Debug)]
pub struct MockProxy {
    addr: SocketAddr,
    shared: Arc<ProxyShared>,
    task: JoinHandle<()>,
}

impl MockProxy {
    /// Starts an HTTP CONNECT proxy; with `auth`, clients must send
    /// `Proxy-Authorization: Basic base64(user:pass)` or get 407.
    pub async fn start(auth: Option<(&str, &str)>) -> io::Result<Self> {
        Self::spawn(ProxyKind::Http, auth).await
    }

    /// Starts a SOCKS5 proxy; with `auth`, clients must use username/password auth.
    pub async fn start_socks5(auth: Option<(&str, &str)>) -> io::Result<Self> {
        Self::spawn(ProxyKind::Socks5, auth).await
    }

    async fn spawn(kind: ProxyKind, auth: Option<(&str, &str)>) -> io::Result<Self> {
        let listener = TcpListener::bind((IpAddr::from([127, 0, 0, 1]), 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(ProxyShared {
            kind,
            auth: auth.map(|(u, p)| (u.to_owned(), p.to_owned())),
            connections: Counter::default(),
            tunnels: Counter::default(),
            rejected: Counter::default(),
            refusing: std::sync::atomic::AtomicBool::new(false),
            refused: Counter::default(),
            log: Mutex::new(Vec::new()),
        });
        #[expect(
            clippy::disallowed_methods,
            reason = "the proxy's accept loop is one owned task, aborted when the handle drops"
        )]
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(Self { addr, shared, task })
    }

    /// The protocol it speaks.
    pub fn kind(&self) -> ProxyKind {
        self.shared.kind
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://[user:pass@]127.0.0.1:port` or `socks5://…`, credentials percent-encoded.
    pub fn url(&self) -> String {
        let plain = self.url_without_auth();
        let Some((user, pass)) = &self.shared.auth else {
            return plain;
        };
        match url::Url::parse(&plain) {
            Ok(mut url) => {
                if url.set_username(user).is_err() || url.set_password(Some(pass)).is_err() {
                    return plain;
                }
                // `Url` adds a trailing slash to the empty path; proxy URLs carry none.
                url.as_str().trim_end_matches('/').to_owned()
            }
            Err(_) => plain,
        }
    }

    /// The URL without credentials.
    pub fn url_without_auth(&self) -> String {
        let scheme = match self.shared.kind {
            ProxyKind::Http => "http",
            ProxyKind::Socks5 => "socks5",
        };
        format!("{scheme}://{}", self.addr)
    }

    /// TCP connections accepted.
    pub fn connections(&self) -> u64 {
        self.shared.connections.get()
    }

    /// Tunnels opened to a target.
    pub fn tunnels(&self) -> u64 {
        self.shared.tunnels.get()
    }

    /// Clients refused for missing or wrong credentials.
    pub fn rejected(&self) -> u64 {
        self.shared.rejected.get()
    }

    /// While `refusing`, the proxy closes every connection as soon as it is
    /// accepted, as a proxy that is down behind a load balancer does;
    /// `false` brings it back on the same address.
    pub fn set_refusing(&self, refusing: bool) {
        self.shared
            .refusing
            .store(refusing, std::sync::atomic::Ordering::SeqCst);
    }

    /// Connections closed at once while refusing.
    pub fn refused(&self) -> u64 {
        self.shared.refused.get()
    }

    /// Every tunnel opened, in order.
    pub fn tunnel_log(&self) -> Vec<Tunnel> {
        self.shared.log.lock().clone()
    }

    /// The `host:port` of every tunnel, in order.
    pub fn targets(&self) -> Vec<String> {
        self.shared
            .log
            .lock()
            .iter()
            .map(|t| t.target.clone())
            .collect()
    }

    /// Waits until `n` tunnels have opened, or `timeout` passes.
    pub async fn wait_tunnels(&self, n: u64, timeout: Duration) -> bool {
        self.shared.tunnels.wait_at_least(n, timeout).await
    }

    /// Stops accepting and closes every tunnel.
    pub async fn shutdown(mut self) {
        self.task.abort();
        // The abort is only certain once the task has been dropped, listener included.
        let _cancelled = (&mut self.task).await;
    }
}

impl Drop for MockProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<ProxyShared>) {
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if shared.refusing.load(std::sync::atomic::Ordering::SeqCst) {
                        shared.refused.incr();
                        drop(stream);
                        continue;
                    }
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::debug!(%peer, error = %e, "set_nodelay failed");
                    }
                    shared.connections.incr();
                    let shared = shared.clone();
                    sessions.spawn(async move {
                        let result = match shared.kind {
                            ProxyKind::Http => http_session(stream, peer, &shared).await,
                            ProxyKind::Socks5 => socks_session(stream, peer, &shared).await,
                        };
                        if let Err(e) = result {
                            tracing::debug!(%peer, error = %e, "mock proxy session ended with an error");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "mock proxy accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
        }
    }
}

/// Resolves `host:port` and connects to its first loopback address; tests must
/// never reach beyond the machine, so other addresses count as forbidden.
async fn connect_loopback(target: &str) -> Result<TcpStream, TargetError> {
    let addrs = tokio::net::lookup_host(target)
        .await
        .map_err(|_| TargetError::Unresolvable)?;
    let mut last = TargetError::Forbidden;
    for addr in addrs.filter(|a| a.ip().is_loopback()) {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::debug!(%addr, error = %e, "set_nodelay failed");
                }
                return Ok(stream);
            }
            Err(_) => last = TargetError::Refused,
        }
    }
    Err(last)
}

#[derive(Debug, Clone, Copy)]
enum TargetError {
    Unresolvable,
    Forbidden,
    Refused,
}

impl ProxyShared {
    fn credentials_match(&self, user: &[u8], pass: &[u8]) -> bool {
        self.auth
            .as_ref()
            .is_some_and(|(u, p)| u.as_bytes() == user && p.as_bytes() == pass)
    }

    fn open(
        &self,
        target: String,
        client: SocketAddr,
        upstream: &TcpStream,
        forwarded: bool,
    ) -> io::Result<()> {
        let outbound = upstream.local_addr()?;
        self.log.lock().push(Tunnel {
            target,
            client,
            outbound,
            forwarded,
        });
        self.tunnels.incr();
        Ok(())
    }
}

/// Reads up to the blank line ending an HTTP head; returns the head and any bytes after it.
async fn read_head(stream: &mut TcpStream) -> Result<(String, Vec<u8>), Error> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(Error::ProxyHandshake(
                "connection closed before the request head ended",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            let head = String::from_utf8(buf)
                .map_err(|_| Error::ProxyHandshake("request head is not UTF-8"))?;
            return Ok((head, rest));
        }
        if buf.len() > MAX_HEAD {
            return Err(Error::ProxyHandshake("request head too large"));
        }
    }
}

async fn http_session(
    mut client: TcpStream,
    peer: SocketAddr,
    shared: &ProxyShared,
) -> Result<(), Error> {
    let (head, rest) = read_head(&mut client).await?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(_version)) = (parts.next(), parts.next(), parts.next())
    else {
        client
            .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            .await?;
        return Err(Error::ProxyHandshake("malformed request line"));
    };
    let authorized = shared.auth.is_none()
        || lines
            .clone()
            .filter_map(|line| line.split_once(':'))
            .filter(|(name, _)| name.trim().eq_ignore_ascii_case("proxy-authorization"))
            .any(|(_, value)| basic_matches(shared, value.trim()));
    if !authorized {
        shared.rejected.incr();
        client
            .write_all(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                  proxy-authenticate: Basic realm=\"mock\"\r\ncontent-length: 0\r\n\r\n",
            )
            .await?;
        return Ok(());
    }

    let (host_port, forwarded) = if method.eq_ignore_ascii_case("CONNECT") {
        (target.to_owned(), false)
    } else if let Some(rest_of_url) = target.strip_prefix("http://") {
        let authority = rest_of_url.split('/').next().unwrap_or_default();
        let host_port = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        (host_port, true)
    } else {
        client
            .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            .await?;
        return Err(Error::ProxyHandshake(
            "neither CONNECT nor an absolute-form http URL",
        ));
    };

    let mut upstream = match connect_loopback(&host_port).await {
        Ok(upstream) => upstream,
        Err(e) => {
            let status: &[u8] = match e {
                TargetError::Forbidden => b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n",
                TargetError::Unresolvable | TargetError::Refused => {
                    b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n"
                }
            };
            client.write_all(status).await?;
            return Ok(());
        }
    };
    shared.open(host_port, peer, &upstream, forwarded)?;
    if forwarded {
        // Forward the head as received, minus the proxy's own credentials.
        let mut forwarded_head = String::with_capacity(head.len());
        forwarded_head.push_str(request_line);
        forwarded_head.push_str("\r\n");
        for line in lines.filter(|l| !l.is_empty()) {
            let is_proxy_header = line.split_once(':').is_some_and(|(name, _)| {
                let name = name.trim();
                name.eq_ignore_ascii_case("proxy-authorization")
                    || name.eq_ignore_ascii_case("proxy-connection")
            });
            if !is_proxy_header {
                forwarded_head.push_str(line);
                forwarded_head.push_str("\r\n");
            }
        }
        forwarded_head.push_str("\r\n");
        upstream.write_all(forwarded_head.as_bytes()).await?;
    } else {
        client
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await?;
    }
    if !rest.is_empty() {
        upstream.write_all(&rest).await?;
    }
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

fn basic_matches(shared: &ProxyShared, value: &str) -> bool {
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Ok(decoded) = STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let Some(colon) = decoded.iter().position(|b| *b == b':') else {
        return false;
    };
    shared.credentials_match(&decoded[..colon], &decoded[colon + 1..])
}

mod socks {
    pub(super) const VERSION: u8 = 5;
    pub(super) const NO_AUTH: u8 = 0x00;
    pub(super) const USER_PASS: u8 = 0x02;
    pub(super) const NO_ACCEPTABLE: u8 = 0xFF;
    pub(super) const AUTH_VERSION: u8 = 0x01;
    pub(super) const CONNECT: u8 = 0x01;
    pub(super) const ATYP_V4: u8 = 0x01;
    pub(super) const ATYP_DOMAIN: u8 = 0x03;
    pub(super) const ATYP_V6: u8 = 0x04;
    pub(super) const SUCCEEDED: u8 = 0x00;
    pub(super) const NOT_ALLOWED: u8 = 0x02;
    pub(super) const HOST_UNREACHABLE: u8 = 0x04;
    pub(super) const REFUSED: u8 = 0x05;
    pub(super) const COMMAND_NOT_SUPPORTED: u8 = 0x07;
    pub(super) const ATYP_NOT_SUPPORTED: u8 = 0x08;
}

async fn socks_session(
    mut client: TcpStream,
    peer: SocketAddr,
    shared: &ProxyShared,
) -> Result<(), Error> {
    // Method negotiation (RFC 1928 §3).
    let mut greeting = [0u8; 2];
    client.read_exact(&mut greeting).await?;
    if greeting[0] != socks::VERSION {
        return Err(Error::ProxyHandshake("not SOCKS version 5"));
    }
    let mut methods = vec![0u8; usize::from(greeting[1])];
    client.read_exact(&mut methods).await?;
    let wanted = if shared.auth.is_some() {
        socks::USER_PASS
    } else {
        socks::NO_AUTH
    };
    if !methods.contains(&wanted) {
        shared.rejected.incr();
        client
            .write_all(&[socks::VERSION, socks::NO_ACCEPTABLE])
            .await?;
        return Ok(());
    }
    client.write_all(&[socks::VERSION, wanted]).await?;

    // Username/password sub-negotiation (RFC 1929).
    if wanted == socks::USER_PASS {
        let mut version_and_len = [0u8; 2];
        client.read_exact(&mut version_and_len).await?;
        if version_and_len[0] != socks::AUTH_VERSION {
            return Err(Error::ProxyHandshake("bad username/password auth version"));
        }
        let mut user = vec![0u8; usize::from(version_and_len[1])];
        client.read_exact(&mut user).await?;
        let pass_len = client.read_u8().await?;
        let mut pass = vec![0u8; usize::from(pass_len)];
        client.read_exact(&mut pass).await?;
        if !shared.credentials_match(&user, &pass) {
            shared.rejected.incr();
            client.write_all(&[socks::AUTH_VERSION, 0x01]).await?;
            return Ok(());
        }
        client.write_all(&[socks::AUTH_VERSION, 0x00]).await?;
    }

    // The request (RFC 1928 §4).
    let mut request = [0u8; 4];
    client.read_exact(&mut request).await?;
    let [version, command, _reserved, atyp] = request;
    if version != socks::VERSION {
        return Err(Error::ProxyHandshake("not SOCKS version 5"));
    }
    let host = match atyp {
        socks::ATYP_V4 => {
            let mut ip = [0u8; 4];
            client.read_exact(&mut ip).await?;
            IpAddr::from(ip).to_string()
        }
        socks::ATYP_V6 => {
            let mut ip = [0u8; 16];
            client.read_exact(&mut ip).await?;
            format!("[{}]", IpAddr::from(ip))
        }
        socks::ATYP_DOMAIN => {
            let len = client.read_u8().await?;
            let mut name = vec![0u8; usize::from(len)];
            client.read_exact(&mut name).await?;
            String::from_utf8(name).map_err(|_| Error::ProxyHandshake("domain is not UTF-8"))?
        }
        _ => {
            socks_reply(&mut client, socks::ATYP_NOT_SUPPORTED, None).await?;
            return Ok(());
        }
    };
    let port = client.read_u16().await?;
    if command != socks::CONNECT {
        socks_reply(&mut client, socks::COMMAND_NOT_SUPPORTED, None).await?;
        return Ok(());
    }
    let target = format!("{host}:{port}");
    let mut upstream = match connect_loopback(&target).await {
        Ok(upstream) => upstream,
        Err(e) => {
            let code = match e {
                TargetError::Forbidden => socks::NOT_ALLOWED,
                TargetError::Unresolvable => socks::HOST_UNREACHABLE,
                TargetError::Refused => socks::REFUSED,
            };
            socks_reply(&mut client, code, None).await?;
            return Ok(());
        }
    };
    let bound = upstream.local_addr()?;
    shared.open(target, peer, &upstream, false)?;
    socks_reply(&mut client, socks::SUCCEEDED, Some(bound)).await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

async fn socks_reply(
    client: &mut TcpStream,
    code: u8,
    bound: Option<SocketAddr>,
) -> io::Result<()> {
    let bound = bound.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    let mut reply = Vec::with_capacity(22);
    reply.extend_from_slice(&[socks::VERSION, code, 0x00]);
    match bound.ip() {
        IpAddr::V4(ip) => {
            reply.push(socks::ATYP_V4);
            reply.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            reply.push(socks::ATYP_V6);
            reply.extend_from_slice(&ip.octets());
        }
    }
    reply.extend_from_slice(&bound.port().to_be_bytes());
    client.write_all(&reply).await
}
