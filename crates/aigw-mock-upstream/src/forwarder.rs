//! A TCP forwarder that a test can cut and restore, to play an outage of a
//! server it does not own (PostgreSQL, Redis, an upstream) without touching
//! that server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinSet};

/// Forwards `127.0.0.1:<port>` to a server. While cut, every forwarded
/// connection is dropped and new ones are accepted and closed at once (the
/// port stays bound, so a restore needs no rebinding). While stalled, new
/// connections are accepted and then never answered, as behind a network
/// that swallows packets.
#[derive(Debug)]
pub struct Forwarder {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: AbortHandle,
}

#[derive(Debug)]
struct Shared {
    cut: AtomicBool,
    stalled: AtomicBool,
    /// Locked only to add or abort pipes, never across an await.
    connections: Mutex<JoinSet<()>>,
}

impl Forwarder {
    /// Starts forwarding a fresh port on 127.0.0.1 to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            cut: AtomicBool::new(false),
            stalled: AtomicBool::new(false),
            connections: Mutex::new(JoinSet::new()),
        });
        let mut owner = JoinSet::new();
        let task = owner.spawn(accept_loop(listener, upstream, Arc::clone(&shared)));
        // The accept loop must outlive this function: detach it from the
        // set and abort it on drop instead.
        owner.detach_all();
        Ok(Self { addr, shared, task })
    }

    /// Starts forwarding to the host and port of `url` (e.g. a
    /// `postgres://` or `redis://` URL with `default_port`).
    pub async fn for_url(url: &str, default_port: u16) -> std::io::Result<Self> {
        let parsed = url::Url::parse(url).map_err(std::io::Error::other)?;
        let host = parsed.host_str().unwrap_or("127.0.0.1").to_owned();
        let port = parsed.port().unwrap_or(default_port);
        let upstream = tokio::net::lookup_host((host.as_str(), port))
            .await?
            .next()
            .ok_or_else(|| std::io::Error::other("the host does not resolve"))?;
        Self::start(upstream).await
    }

    /// The address to connect to instead of the server.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `original` with its host and port pointing at this forwarder.
    pub fn url(&self, original: &str) -> String {
        match url::Url::parse(original) {
            Ok(mut url) => {
                let _ = url.set_host(Some("127.0.0.1"));
                let _ = url.set_port(Some(self.addr.port()));
                url.to_string()
            }
            Err(_) => original.to_owned(),
        }
    }

    /// Drops every forwarded connection and refuses new ones.
    pub fn cut(&self) {
        self.shared.cut.store(true, Ordering::SeqCst);
        self.shared.connections.lock().abort_all();
    }

    /// Drops every forwarded connection; new ones are accepted and held
    /// open without an answer until [`restore`](Self::restore).
    pub fn stall(&self) {
        self.shared.stalled.store(true, Ordering::SeqCst);
        self.shared.connections.lock().abort_all();
    }

    /// Forwards again (connections held by a stall are closed).
    pub fn restore(&self) {
        self.shared.cut.store(false, Ordering::SeqCst);
        if self.shared.stalled.swap(false, Ordering::SeqCst) {
            self.shared.connections.lock().abort_all();
        }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.task.abort();
        self.shared.connections.lock().abort_all();
    }
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr, shared: Arc<Shared>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        if shared.cut.load(Ordering::SeqCst) {
            drop(client);
            continue;
        }
        let mut connections = shared.connections.lock();
        // Reap finished pipes so that the set does not grow without bound.
        while connections.try_join_next().is_some() {}
        if shared.stalled.load(Ordering::SeqCst) {
            connections.spawn(async move {
                let _held = client;
                std::future::pending::<()>().await;
            });
        } else {
            connections.spawn(pipe(client, upstream));
        }
    }
}

async fn pipe(mut client: TcpStream, upstream: SocketAddr) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}
