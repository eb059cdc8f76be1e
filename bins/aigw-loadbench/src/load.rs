//! The load generator: closed-loop workers, one kept-alive HTTP/1.1 connection each
//! with `TCP_NODELAY`, recording per-request latency in microseconds.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::scenario::Target;

/// How long one round lasts.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Requests started before this much time has passed are not recorded.
    pub warmup: Duration,
    /// Recording time after the warm-up.
    pub measure: Duration,
}

/// What one round measured.
#[derive(Debug, Default)]
pub struct Samples {
    /// Whole-request latency (to the end of the body), µs.
    pub total_us: Vec<u32>,
    /// Time to the first complete SSE event, µs (stream targets only).
    pub first_event_us: Vec<u32>,
    /// Responses that were not 2xx, or requests that failed on the connection.
    pub errors: u64,
    /// The first error seen, to say why a round went wrong.
    pub first_error: Option<String>,
    /// The recording window, for requests per second.
    pub window: Duration,
    /// The measured process's CPU time over the recording window, µs (only when
    /// a process was watched).
    pub cpu_us: Option<u64>,
}

impl Samples {
    /// Adds another round's samples, and its window, to these.
    pub fn append(&mut self, other: Self) {
        self.window += other.window;
        self.cpu_us = match (self.cpu_us, other.cpu_us) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        self.merge(other);
    }

    fn merge(&mut self, other: Self) {
        self.total_us.extend(other.total_us);
        self.first_event_us.extend(other.first_event_us);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn error(&mut self, what: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(what);
        }
    }
}

/// A bound on a single request, so a stuck server cannot stretch a round.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `concurrency` closed-loop workers against `target` for one round.
pub async fn run_round(target: &Target, concurrency: usize, timing: Timing) -> Samples {
    let start = Instant::now();
    let record_from = start + timing.warmup;
    let stop_at = record_from + timing.measure;
    let mut workers = JoinSet::new();
    for _ in 0..concurrency {
        let target = target.clone();
        // One task per worker for the life of the round (not per request), so the
        // load spreads over the runtime's threads.
        workers.spawn(worker(target, record_from, stop_at));
    }
    let mut samples = Samples {
        window: timing.measure,
        ..Samples::default()
    };
    // Each request is bounded, so the join is too; the extra second covers the
    // last requests in flight at the deadline.
    let hard_stop =
        tokio::time::Instant::from_std(stop_at + REQUEST_TIMEOUT + Duration::from_secs(1));
    loop {
        match tokio::time::timeout_at(hard_stop, workers.join_next()).await {
            Ok(Some(Ok(worker_samples))) => samples.merge(worker_samples),
            Ok(Some(Err(join_error))) => samples.error(format!("worker failed: {join_error}")),
            Ok(None) => break,
            Err(_) => {
                samples.error("workers did not stop at the deadline".to_owned());
                workers.abort_all();
                break;
            }
        }
    }
    samples
}

async fn worker(target: Target, record_from: Instant, stop_at: Instant) -> Samples {
    let mut samples = Samples::default();
    while Instant::now() < stop_at {
        if let Err(e) = session(&target, record_from, stop_at, &mut samples).await {
            samples.error(format!("{e:#}"));
            // Back off a little so a dead server does not turn into a busy loop.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    samples
}

/// One kept-alive connection, used for requests until the deadline or until it
/// breaks. The connection is driven in the worker's own task, beside the requests,
/// so the generator adds no cross-task wake-ups to what it measures.
async fn session(
    target: &Target,
    record_from: Instant,
    stop_at: Instant,
    samples: &mut Samples,
) -> anyhow::Result<()> {
    let (mut sender, connection) = handshake(target.addr).await?;
    let requests = async {
        while Instant::now() < stop_at {
            let started = Instant::now();
            let outcome =
                tokio::time::timeout(REQUEST_TIMEOUT, one_request(&mut sender, target)).await;
            match outcome {
                Ok(Ok(timings)) => {
                    // A request started in the warm-up is not recorded; one started
                    // before the deadline is, even if it ends after it.
                    if started >= record_from {
                        samples.total_us.push(micros(timings.total));
                        if let Some(first) = timings.first_event {
                            samples.first_event_us.push(micros(first));
                        }
                    }
                }
                Ok(Err(RequestError::Status(status, body))) => {
                    samples.error(format!("HTTP {status}: {body}"));
                }
                Ok(Err(RequestError::Connection(e))) => {
                    anyhow::bail!("connection: {e}");
                }
                Err(_) => anyhow::bail!("request timed out"),
            }
        }
        Ok(())
    };
    tokio::select! {
        result = requests => result,
        result = connection => match result {
            Ok(()) => anyhow::bail!("the server closed the connection"),
            Err(e) => anyhow::bail!("connection: {e}"),
        },
    }
}

/// Opens an HTTP/1.1 connection to `addr` with `TCP_NODELAY`. The caller drives the
/// returned connection future in its own task, beside its requests.
async fn handshake(
    addr: SocketAddr,
) -> anyhow::Result<(
    SendRequest<Full<Bytes>>,
    hyper::client::conn::http1::Connection<TokioIo<TcpStream>, Full<Bytes>>,
)> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_nodelay(true)?;
    Ok(hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?)
}

/// Sends `target`'s request once and fails with the status and body unless it
/// succeeds: the check that a scenario works before it is measured.
pub async fn probe(target: &Target) -> anyhow::Result<()> {
    let (mut sender, connection) = handshake(target.addr).await?;
    let request = tokio::time::timeout(REQUEST_TIMEOUT, one_request(&mut sender, target));
    tokio::select! {
        outcome = request => match outcome {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(RequestError::Status(status, body))) => anyhow::bail!("HTTP {status}: {body}"),
            Ok(Err(RequestError::Connection(e))) => anyhow::bail!("connection: {e}"),
            Err(_) => anyhow::bail!("no answer within {REQUEST_TIMEOUT:?}"),
        },
        result = connection => {
            result?;
            anyhow::bail!("the server closed the connection")
        }
    }
}

/// `GET path` on `addr`: the status, or an error when nothing answers.
pub async fn get_status(addr: SocketAddr, path: &'static str) -> anyhow::Result<http::StatusCode> {
    Ok(get(addr, path).await?.0)
}

/// The sum of every series of `name` (all its label sets; or one, when `name`
/// ends with it) in Prometheus text.
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with([' ', '{']))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `GET path` on `addr`: the status and the body.
pub async fn get(
    addr: SocketAddr,
    path: &'static str,
) -> anyhow::Result<(http::StatusCode, Bytes)> {
    call(addr, http::Method::GET, path, None, Bytes::new()).await
}

/// `method path` on `addr` with a JSON `body` and, when given, a bearer
/// `token`: the status and the body.
pub async fn call(
    addr: SocketAddr,
    method: http::Method,
    path: &'static str,
    token: Option<&str>,
    body: Bytes,
) -> anyhow::Result<(http::StatusCode, Bytes)> {
    let (mut sender, connection) = handshake(addr).await?;
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = method;
    *request.uri_mut() = http::Uri::from_static(path);
    let headers = request.headers_mut();
    headers.insert(
        http::header::HOST,
        http::HeaderValue::from_str(&addr.to_string())?,
    );
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    if let Some(token) = token {
        headers.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_str(&format!("Bearer {token}"))?,
        );
    }
    let call = async {
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        anyhow::Ok((status, body))
    };
    tokio::select! {
        answer = tokio::time::timeout(REQUEST_TIMEOUT, call) => answer?,
        result = connection => {
            result?;
            anyhow::bail!("the server closed the connection")
        }
    }
}

struct Timings {
    total: Duration,
    first_event: Option<Duration>,
}

enum RequestError {
    Status(http::StatusCode, String),
    Connection(String),
}

async fn one_request(
    sender: &mut SendRequest<Full<Bytes>>,
    target: &Target,
) -> Result<Timings, RequestError> {
    sender
        .ready()
        .await
        .map_err(|e| RequestError::Connection(e.to_string()))?;
    let mut request = Request::new(Full::new(target.body.clone()));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = http::Uri::from_static(target.path);
    *request.headers_mut() = target.headers.clone();
    let started = Instant::now();
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| RequestError::Connection(e.to_string()))?;
    let status = response.status();
    let mut body = response.into_body();
    if !status.is_success() {
        let bytes = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        return Err(RequestError::Status(
            status,
            text.chars().take(200).collect(),
        ));
    }
    let mut first_event = None;
    let mut seen = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| RequestError::Connection(e.to_string()))?;
        if let Ok(data) = frame.into_data()
            && target.stream
            && first_event.is_none()
        {
            seen.extend_from_slice(&data);
            if ends_an_event(&seen) {
                first_event = Some(started.elapsed());
            }
        }
    }
    Ok(Timings {
        total: started.elapsed(),
        first_event,
    })
}

/// Whether the bytes read so far hold a complete SSE event (a blank line ends one).
fn ends_an_event(bytes: &[u8]) -> bool {
    bytes.windows(2).any(|w| w == b"\n\n") || bytes.windows(4).any(|w| w == b"\r\n\r\n")
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_ends_at_a_blank_line() {
        assert!(!ends_an_event(b"data: {\"a\":1}\n"));
        assert!(ends_an_event(b"data: {\"a\":1}\n\n"));
        assert!(ends_an_event(b"event: x\r\ndata: 1\r\n\r\n"));
        assert!(!ends_an_event(b""));
    }

    #[test]
    fn merged_samples_keep_the_first_error() {
        let mut a = Samples::default();
        a.total_us.push(5);
        let mut b = Samples::default();
        b.error("first".to_owned());
        b.error("second".to_owned());
        a.merge(b);
        assert_eq!(a.errors, 2);
        assert_eq!(a.first_error.as_deref(), Some("first"));
        assert_eq!(a.total_us, vec![5]);
    }

    fn timing() -> Timing {
        Timing {
            warmup: Duration::from_millis(100),
            measure: Duration::from_millis(300),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_round_records_every_request_against_a_real_server() {
        let mock = aigw_mock_upstream::MockUpstream::start().await.unwrap();
        mock.set_recording(false);
        let target = crate::scenario::Scenario::Passthrough.direct(mock.addr());
        probe(&target).await.unwrap();
        let samples = run_round(&target, 4, timing()).await;
        assert_eq!(samples.errors, 0, "{:?}", samples.first_error);
        assert!(samples.total_us.len() > 4, "{}", samples.total_us.len());
        assert!(samples.first_event_us.is_empty());
        assert_eq!(samples.window, Duration::from_millis(300));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stream_round_times_the_first_event_before_the_end() {
        for scenario in [
            crate::scenario::Scenario::Stream,
            crate::scenario::Scenario::ResponsesStream,
        ] {
            let mock = aigw_mock_upstream::MockUpstream::start().await.unwrap();
            mock.set_recording(false);
            let target = scenario.direct(mock.addr());
            let mut samples = run_round(&target, 2, timing()).await;
            assert_eq!(samples.errors, 0, "{scenario:?}: {:?}", samples.first_error);
            assert!(!samples.total_us.is_empty());
            assert_eq!(samples.first_event_us.len(), samples.total_us.len());
            samples.total_us.sort_unstable();
            samples.first_event_us.sort_unstable();
            assert!(samples.first_event_us[0] <= samples.total_us[0]);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rejected_requests_count_as_errors_not_latencies() {
        let mock = aigw_mock_upstream::MockUpstream::start().await.unwrap();
        mock.set_recording(false);
        let mut target = crate::scenario::Scenario::Passthrough.direct(mock.addr());
        target.headers.remove(http::header::AUTHORIZATION);
        let error = probe(&target).await.unwrap_err();
        assert!(error.to_string().contains("401"), "{error:#}");
        let samples = run_round(&target, 2, timing()).await;
        assert!(samples.total_us.is_empty());
        assert!(samples.errors > 0);
        assert!(samples.first_error.unwrap().contains("401"));
    }

    #[tokio::test]
    async fn health_status_and_a_refused_connection() {
        let mock = aigw_mock_upstream::MockUpstream::start().await.unwrap();
        let status = get_status(mock.addr(), "/v1/models").await.unwrap();
        // The mock wants an account key on model endpoints.
        assert_eq!(status, http::StatusCode::UNAUTHORIZED);
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        assert!(get_status(addr, "/health").await.is_err());
    }
}
