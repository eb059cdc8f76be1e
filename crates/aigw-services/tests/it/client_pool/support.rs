//! Test doubles on 127.0.0.1:0: an echo upstream (plain or TLS, h1/h2), raw misbehaving servers,
//! and small HTTP CONNECT and SOCKS5 proxies that count tunnels and record targets.

use std::convert::Infallible;
use std::error::Error as StdError;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aigw_services::client_pool::{
    ClientPool, Egress, PoolConfig, RequestBody, TransportError, UpstreamBody,
};
use base64::Engine as _;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use parking_lot::Mutex;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;

const CA_PEM: &[u8] = include_bytes!("certs/ca.pem");
const SERVER_PEM: &[u8] = include_bytes!("certs/server.pem");
const SERVER_KEY: &[u8] = include_bytes!("certs/server.key");

/// The CA that signed the test servers' certificate (for `localhost` and `127.0.0.1`).
pub fn test_ca() -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(CA_PEM).unwrap()
}

fn tls_acceptor(alpn: &[&[u8]]) -> TlsAcceptor {
    let certs = CertificateDer::pem_slice_iter(SERVER_PEM)
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(SERVER_KEY).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsAcceptor::from(Arc::new(config))
}

/// Pool settings for tests: short timeouts, and the test CA trusted.
pub fn config() -> PoolConfig {
    PoolConfig {
        connect_timeout: Duration::from_secs(2),
        first_byte_timeout: Duration::from_secs(5),
        idle_read_timeout: Duration::from_secs(5),
        extra_root_certificates: vec![test_ca()],
        ..PoolConfig::default()
    }
}

pub fn pool() -> ClientPool {
    ClientPool::new(config()).unwrap()
}

pub fn get(uri: &str) -> Request<RequestBody> {
    Request::get(uri).body(Full::new(Bytes::new())).unwrap()
}

/// GETs `uri` directly and reads the first frame of the answer's body; the body is returned
/// for the rest.
pub async fn first_frame(pool: &ClientPool, uri: &str) -> (UpstreamBody, Bytes) {
    let response = pool.send(&Egress::Direct, get(uri)).await.unwrap();
    let mut body = response.into_body();
    let frame = body.frame().await.unwrap().unwrap();
    (body, frame.into_data().unwrap())
}

pub fn post(uri: &str, body: &'static str) -> Request<RequestBody> {
    Request::post(uri)
        .header("content-type", "text/plain")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

pub async fn text(response: Response<UpstreamBody>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Asserts that `secret` appears nowhere in the error, its `Debug`, or its source chain.
pub fn assert_no_secret(error: &TransportError, secret: &str) {
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(e) = current {
        let shown = format!("{e} {e:?}");
        assert!(
            !shown.contains(secret),
            "secret leaked in error text: {shown}"
        );
        current = e.source();
    }
}

/// A port on 127.0.0.1 with nothing listening, for the rest of the test
/// process: a socket bound to it never listens (so connections to it are
/// refused) and stays open, so that no other test binds the port meanwhile.
/// A port merely closed again can be handed to the next test that binds one,
/// whose server then answers where a refusal was expected.
pub async fn closed_port() -> SocketAddr {
    static HELD: Mutex<Vec<tokio::net::TcpSocket>> = Mutex::new(Vec::new());
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    let addr = socket.local_addr().unwrap();
    HELD.lock().push(socket);
    addr
}

/// An echo server: answers `<METHOD> <path> <body>` and reports the HTTP version it saw in the
/// `x-upstream-version` header.
pub struct Upstream {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
    peers: Arc<Mutex<Vec<SocketAddr>>>,
}

impl Upstream {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// TCP connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Connections that have ended.
    pub fn closed(&self) -> usize {
        self.closed.load(Ordering::SeqCst)
    }

    /// Remote addresses of the accepted connections.
    pub fn peers(&self) -> Vec<SocketAddr> {
        self.peers.lock().clone()
    }
}

pub async fn upstream() -> Upstream {
    start_upstream(None).await
}

/// A TLS echo server offering h2 and http/1.1 by ALPN.
pub async fn tls_upstream() -> Upstream {
    start_upstream(Some(tls_acceptor(&[b"h2", b"http/1.1"]))).await
}

async fn start_upstream(tls: Option<TlsAcceptor>) -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = Upstream {
        addr: listener.local_addr().unwrap(),
        accepted: Arc::default(),
        closed: Arc::default(),
        peers: Arc::default(),
    };
    let (accepted, closed, peers) = (
        Arc::clone(&upstream.accepted),
        Arc::clone(&upstream.closed),
        Arc::clone(&upstream.peers),
    );
    tokio::spawn(async move {
        while let Ok((stream, peer)) = listener.accept().await {
            accepted.fetch_add(1, Ordering::SeqCst);
            peers.lock().push(peer);
            let (closed, tls) = (Arc::clone(&closed), tls.clone());
            tokio::spawn(async move {
                match tls {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            serve(TokioIo::new(stream)).await;
                        }
                    }
                    None => serve(TokioIo::new(stream)).await,
                }
                closed.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    upstream
}

async fn serve<I>(io: I)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let _ = auto::Builder::new(TokioExecutor::new())
        .serve_connection(io, service_fn(echo))
        .await;
}

async fn echo(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let version = format!("{:?}", request.version());
    let body = request.into_body().collect().await.unwrap().to_bytes();
    let text = format!("{method} {path} {}", String::from_utf8_lossy(&body));
    Ok(Response::builder()
        .header("x-upstream-version", version)
        .body(Full::new(Bytes::from(text)))
        .unwrap())
}

/// Accepts connections and never reads or writes: a peer that is reachable but silent.
pub async fn silent_listener() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    addr
}

/// Accepts one connection, reads the request head, writes `reply`, then keeps the connection
/// open; the receiver fires when the client closes it.
pub async fn stalling_server(reply: &'static [u8]) -> (SocketAddr, oneshot::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (closed_tx, closed_rx) = oneshot::channel();
    tokio::spawn(async move {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        if read_head(&mut stream).await.is_err() || stream.write_all(reply).await.is_err() {
            return;
        }
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let _ = closed_tx.send(());
    });
    (addr, closed_rx)
}

/// Streams `chunks` chunked-encoded pieces, one every `gap`, then ends the body.
pub async fn trickling_server(chunks: usize, gap: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        if read_head(&mut stream).await.is_err() {
            return;
        }
        let head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
        if stream.write_all(head).await.is_err() {
            return;
        }
        for _ in 0..chunks {
            tokio::time::sleep(gap).await;
            if stream.write_all(b"1\r\nx\r\n").await.is_err() {
                return;
            }
        }
        let _ = stream.write_all(b"0\r\n\r\n").await;
        let mut buf = [0u8; 64];
        let _ = stream.read(&mut buf).await;
    });
    addr
}

/// A keep-alive server that answers every request with `body` chunked-encoded in two pieces
/// and the last chunk, all in one write; counts the connections it accepted.
pub async fn chunked_server(body: &'static str) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    let (first, second) = body.split_at(body.len() / 2);
    let reply = format!(
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{first}\r\n{:x}\r\n{second}\r\n0\r\n\r\n",
        first.len(),
        second.len()
    );
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let reply = reply.clone();
            tokio::spawn(async move {
                while read_head(&mut stream).await.is_ok() {
                    if stream.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, accepted)
}

pub async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> io::Result<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 || stream.read(&mut byte).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// What a proxy saw.
#[derive(Default)]
pub struct ProxyLog {
    /// Tunnels opened to an upstream.
    tunnels: AtomicUsize,
    /// Requested targets, as the proxy received them.
    targets: Mutex<Vec<Target>>,
    /// Local addresses of the proxy's own connections to upstreams.
    outbound: Mutex<Vec<SocketAddr>>,
}

/// A tunnel target as requested by the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `host:port` of an HTTP CONNECT, or a SOCKS5 IP address.
    Address(String),
    /// A SOCKS5 domain name and port (the proxy resolves it).
    Domain(String, u16),
}

pub struct Proxy {
    pub addr: SocketAddr,
    log: Arc<ProxyLog>,
}

impl Proxy {
    pub fn tunnels(&self) -> usize {
        self.log.tunnels.load(Ordering::SeqCst)
    }

    pub fn targets(&self) -> Vec<Target> {
        self.log.targets.lock().clone()
    }

    pub fn outbound(&self) -> Vec<SocketAddr> {
        self.log.outbound.lock().clone()
    }

    /// The proxy URL with the given scheme and optional `user:password`.
    pub fn url(&self, scheme: &str, credentials: Option<(&str, &str)>) -> String {
        match credentials {
            Some((user, password)) => format!("{scheme}://{user}:{password}@{}", self.addr),
            None => format!("{scheme}://{}", self.addr),
        }
    }
}

async fn open_tunnel(log: &ProxyLog, target: Target) -> io::Result<TcpStream> {
    log.targets.lock().push(target.clone());
    let upstream = match target {
        Target::Address(address) => TcpStream::connect(address).await?,
        Target::Domain(host, port) => TcpStream::connect((host.as_str(), port)).await?,
    };
    log.outbound.lock().push(upstream.local_addr()?);
    log.tunnels.fetch_add(1, Ordering::SeqCst);
    Ok(upstream)
}

/// An HTTP CONNECT proxy; with `credentials`, it answers 407 unless they are sent. With `tls`,
/// it is an `https://` proxy (TLS to the proxy itself).
pub async fn connect_proxy(credentials: Option<(&str, &str)>, tls: bool) -> Proxy {
    let expected = credentials.map(|(user, password)| {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {encoded}")
    });
    let acceptor = tls.then(|| tls_acceptor(&[b"http/1.1"]));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = Proxy {
        addr: listener.local_addr().unwrap(),
        log: Arc::default(),
    };
    let log = Arc::clone(&proxy.log);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (log, expected, acceptor) = (Arc::clone(&log), expected.clone(), acceptor.clone());
            tokio::spawn(async move {
                let _ = match acceptor {
                    Some(acceptor) => match acceptor.accept(stream).await {
                        Ok(stream) => handle_connect(stream, expected, &log).await,
                        Err(_) => Ok(()),
                    },
                    None => handle_connect(stream, expected, &log).await,
                };
            });
        }
    });
    proxy
}

async fn handle_connect<S>(
    mut client: S,
    expected: Option<String>,
    log: &ProxyLog,
) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let head = read_head(&mut client).await?;
    let mut lines = head.split("\r\n");
    let target = lines
        .next()
        .and_then(|line| line.strip_prefix("CONNECT "))
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_default()
        .to_owned();
    let authorization = lines.find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("proxy-authorization")
            .then(|| value.trim().to_owned())
    });
    if expected.is_some() && authorization != expected {
        client
            .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\ncontent-length: 0\r\n\r\n")
            .await?;
        return client.shutdown().await;
    }
    let mut upstream = match open_tunnel(log, Target::Address(target)).await {
        Ok(upstream) => upstream,
        Err(_) => {
            return client
                .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    };
    client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

/// A SOCKS5 proxy (CONNECT command only); with `credentials`, it requires username/password
/// authentication and rejects other credentials.
pub async fn socks5_proxy(credentials: Option<(&str, &str)>) -> Proxy {
    let expected = credentials.map(|(u, p)| (u.as_bytes().to_vec(), p.as_bytes().to_vec()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = Proxy {
        addr: listener.local_addr().unwrap(),
        log: Arc::default(),
    };
    let log = Arc::clone(&proxy.log);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (log, expected) = (Arc::clone(&log), expected.clone());
            tokio::spawn(async move {
                let _ = handle_socks5(stream, expected, &log).await;
            });
        }
    });
    proxy
}

async fn handle_socks5(
    mut client: TcpStream,
    expected: Option<(Vec<u8>, Vec<u8>)>,
    log: &ProxyLog,
) -> io::Result<()> {
    let mut header = [0u8; 2];
    client.read_exact(&mut header).await?;
    let mut methods = vec![0u8; usize::from(header[1])];
    client.read_exact(&mut methods).await?;
    let wanted = if expected.is_some() { 2 } else { 0 };
    if header[0] != 5 || !methods.contains(&wanted) {
        return client.write_all(&[5, 0xff]).await;
    }
    client.write_all(&[5, wanted]).await?;

    if let Some((user, password)) = expected {
        let mut version_and_len = [0u8; 2];
        client.read_exact(&mut version_and_len).await?;
        let mut got_user = vec![0u8; usize::from(version_and_len[1])];
        client.read_exact(&mut got_user).await?;
        let mut len = [0u8; 1];
        client.read_exact(&mut len).await?;
        let mut got_password = vec![0u8; usize::from(len[0])];
        client.read_exact(&mut got_password).await?;
        if got_user != user || got_password != password {
            return client.write_all(&[1, 1]).await;
        }
        client.write_all(&[1, 0]).await?;
    }

    let mut request = [0u8; 4];
    client.read_exact(&mut request).await?;
    let target = match request[3] {
        1 => {
            let mut ip = [0u8; 4];
            client.read_exact(&mut ip).await?;
            let port = client.read_u16().await?;
            Target::Address(SocketAddr::from((ip, port)).to_string())
        }
        4 => {
            let mut ip = [0u8; 16];
            client.read_exact(&mut ip).await?;
            let port = client.read_u16().await?;
            Target::Address(SocketAddr::from((ip, port)).to_string())
        }
        3 => {
            let mut len = [0u8; 1];
            client.read_exact(&mut len).await?;
            let mut name = vec![0u8; usize::from(len[0])];
            client.read_exact(&mut name).await?;
            let port = client.read_u16().await?;
            Target::Domain(String::from_utf8_lossy(&name).into_owned(), port)
        }
        _ => return client.write_all(&[5, 8, 0, 1, 0, 0, 0, 0, 0, 0]).await,
    };
    let mut upstream = match open_tunnel(log, target).await {
        Ok(upstream) => upstream,
        // Reply 5: connection refused.
        Err(_) => return client.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]).await,
    };
    client.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}
