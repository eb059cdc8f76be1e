//! A TCP forwarder between the store and Redis that a test can cut and
//! restore, to inject a Redis outage without touching the shared server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinSet};

/// Forwards `127.0.0.1:<port>` to Redis. While cut, every forwarded
/// connection is dropped and new ones are accepted and closed at once (the
/// port stays bound, so that a restore needs no rebinding).
pub struct Forwarder {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: AbortHandle,
}

struct Shared {
    cut: AtomicBool,
    connections: Mutex<JoinSet<()>>,
}

impl Forwarder {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            cut: AtomicBool::new(false),
            connections: Mutex::new(JoinSet::new()),
        });
        let mut owner = JoinSet::new();
        let task = owner.spawn(accept_loop(listener, upstream, Arc::clone(&shared)));
        // The accept loop must outlive this function: detach it from the
        // set and abort it on drop instead.
        owner.detach_all();
        Self { addr, shared, task }
    }

    /// The Redis URL `original` with its host and port pointing here.
    pub fn url(&self, original: &str) -> String {
        let mut url = url::Url::parse(original).unwrap();
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(self.addr.port())).unwrap();
        url.to_string()
    }

    /// Drops every forwarded connection and refuses new ones.
    pub fn cut(&self) {
        self.shared.cut.store(true, Ordering::SeqCst);
        self.shared.connections.lock().abort_all();
    }

    /// Forwards again.
    pub fn restore(&self) {
        self.shared.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.task.abort();
        self.shared.connections.lock().abort_all();
    }
}

/// The address Redis listens on, from the test URL.
pub async fn redis_addr(redis_url: &str) -> SocketAddr {
    let url = url::Url::parse(redis_url).unwrap();
    let host = url.host_str().unwrap_or("127.0.0.1").to_owned();
    let port = url.port().unwrap_or(6379);
    tokio::net::lookup_host((host.as_str(), port))
        .await
        .unwrap()
        .next()
        .expect("the Redis host resolves")
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
        connections.spawn(pipe(client, upstream));
    }
}

async fn pipe(mut client: TcpStream, upstream: SocketAddr) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}
