//! The HTTP server: accepts connections on a bound listener, serves HTTP/1.1
//! and HTTP/2 (auto-detected), and shuts down gracefully.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http::header::HeaderValue;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::app::App;
use crate::routes::route;

/// How the server behaves around its connections.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// After the shutdown future resolves, how long in-flight requests may
    /// still run before their connections are dropped.
    pub shutdown_grace: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops
/// accepting, lets in-flight requests finish within the grace period, and
/// returns.
pub async fn serve<F>(
    listener: TcpListener,
    app: Arc<App>,
    options: ServeOptions,
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()>,
{
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);

    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Accept errors (EMFILE, a reset before accept) concern one
                    // connection; the listener itself stays usable.
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Responses are small and latency-bound: never wait for Nagle.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "set TCP_NODELAY failed");
        }
        let app = Arc::clone(&app);
        let service = service_fn(move |req: http::Request<Incoming>| {
            let app = Arc::clone(&app);
            async move {
                let request_id = uuid::Uuid::now_v7().simple().to_string();
                let mut resp = route(&app, req, &request_id).await;
                if let Ok(value) = HeaderValue::from_str(&request_id) {
                    resp.headers_mut().insert("x-request-id", value);
                }
                Ok::<_, Infallible>(resp)
            }
        });
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        #[expect(
            clippy::disallowed_methods,
            reason = "one task per connection is the server's unit of concurrency, not per-request bookkeeping"
        )]
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }

    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(options.shutdown_grace) => {
            tracing::warn!("shutdown grace period elapsed with connections still open");
        }
    }
    Ok(())
}
