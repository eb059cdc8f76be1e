//! hyper's server connection polled inside its task: the request body it fills for the
//! handler, read in the same task, wakes that task while it runs unless it is polled with an
//! `InlineWaker`, as the gateway's server does.
// Test code: the workspace lets tests unwrap, and helpers count as tests only under cfg(test).
#![cfg(test)]
#![expect(
    clippy::disallowed_methods,
    reason = "the test's client runs as its own task"
)]

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Wake, Waker};
use std::time::Duration;

use aigw_services::inline_waker::InlineWaker;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// The wakes of a task that come while the task is being polled, and the task's waker.
struct WakeCount {
    polling: AtomicBool,
    during_poll: AtomicUsize,
    task: parking_lot::Mutex<Option<Waker>>,
}

impl Wake for WakeCount {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.polling.load(Ordering::SeqCst) {
            self.during_poll.fetch_add(1, Ordering::SeqCst);
        }
        if let Some(task) = &*self.task.lock() {
            task.wake_by_ref();
        }
    }
}

/// Runs `future`, counting the wakes of its task that come while it is being polled: tokio
/// reschedules a task woken that way as a yield, handing it to another worker thread.
pub async fn wakes_during_poll<T>(future: impl Future<Output = T>) -> (T, usize) {
    let count = Arc::new(WakeCount {
        polling: AtomicBool::new(false),
        during_poll: AtomicUsize::new(0),
        task: parking_lot::Mutex::new(None),
    });
    let waker = Waker::from(Arc::clone(&count));
    let mut future = pin!(future);
    let output = std::future::poll_fn(|cx| {
        *count.task.lock() = Some(cx.waker().clone());
        count.polling.store(true, Ordering::SeqCst);
        let polled = future.as_mut().poll(&mut Context::from_waker(&waker));
        count.polling.store(false, Ordering::SeqCst);
        polled
    })
    .await;
    (output, count.during_poll.load(Ordering::SeqCst))
}

/// Serves one connection whose client sends a request head, then its body a little later
/// (the handler is waiting for it by then), and reads the answer; returns the wakes of the
/// serving task that came while it was being polled.
async fn serve_a_request_with_a_late_body(inline: bool) -> usize {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = tokio::spawn(async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\n\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        stream.write_all(b"hello").await.unwrap();
        let mut answer = Vec::new();
        let mut buf = [0u8; 1024];
        while !answer.ends_with(b"hello") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the connection closed before the answer");
            answer.extend_from_slice(&buf[..n]);
        }
    });
    let (stream, _) = listener.accept().await.unwrap();
    let service = service_fn(|request: hyper::Request<Incoming>| async move {
        let body = request.into_body().collect().await?.to_bytes();
        Ok::<_, hyper::Error>(hyper::Response::new(Full::<Bytes>::new(body)))
    });
    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    let mut conn = pin!(conn);
    let waker = InlineWaker::new();
    let serving = poll_fn(|cx| {
        if inline {
            waker.poll(cx, |cx| conn.as_mut().poll(cx))
        } else {
            conn.as_mut().poll(cx)
        }
    });
    let (served, wakes) = wakes_during_poll(serving).await;
    served.unwrap();
    client.await.unwrap();
    wakes
}

#[tokio::test]
async fn a_server_connection_polled_inline_does_not_wake_its_own_task() {
    assert_eq!(serve_a_request_with_a_late_body(true).await, 0);
    // What it prevents: hyper hands the body to the handler through a channel whose wakes
    // land on the task that is polling both.
    assert!(serve_a_request_with_a_late_body(false).await > 0);
}
