//! SIGTERM: the process stops accepting, lets the request in flight finish,
//! flushes every stats row, and exits 0.

use std::process::Command;
use std::time::Duration;

use aigw_domain::{Page, RequestLogFilter};
use aigw_mock_upstream::{Fault, MockUpstream};
use aigw_repository::SqlRepository;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::support::{
    add_openai_account, admin, free_port, serve, sqlite_vars, wait_exit, wait_for,
};

pub(crate) fn chat() -> Full<Bytes> {
    Full::new(Bytes::from_static(
        br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_request_in_flight_flushes_stats_and_exits_zero() {
    let mock = MockUpstream::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gateway.db");
    let addr = free_port();
    let mut vars = sqlite_vars(dir.path(), addr);
    vars.extend([
        ("AIGW_SERVER__SHUTDOWN_GRACE", "10s".to_owned()),
        (
            "AIGW_PROVIDERS__OPENAI__BASE_URL",
            format!("{}/v1", mock.base_url()),
        ),
        ("AIGW_LOG__LEVEL", "info".to_owned()),
    ]);
    let key = admin(dir.path(), &vars, &["keys", "create"]);
    assert!(key.starts_with("ak_"), "{key}");
    add_openai_account(dir.path(), &vars, "a", "acct-a");
    let log_path = dir.path().join("gateway.log");
    let mut running = serve(dir.path(), &vars, &log_path);
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let url = format!("http://{addr}/v1/chat/completions");
    let request = |client: &Client<_, Full<Bytes>>| {
        let req = http::Request::post(url.as_str())
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(chat())
            .unwrap();
        client.request(req)
    };

    // Ready when /health answers.
    wait_for(
        &mut running,
        &log_path,
        Duration::from_secs(30),
        "/health",
        async || {
            let health = http::Request::get(format!("http://{addr}/health"))
                .body(Full::default())
                .unwrap();
            let resp = client.request(health).await.ok()?;
            (resp.status() == 200).then_some(())
        },
    )
    .await;

    let n = 12;
    for _ in 0..n {
        let resp = request(&client).await.unwrap();
        assert_eq!(resp.status(), 200);
        resp.into_body().collect().await.unwrap();
    }

    // One slow request, in flight when the signal arrives, on its own client.
    mock.set_fault("acct-a", Fault::Latency(Duration::from_millis(1500)));
    let slow_client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let in_flight = tokio::spawn(request(&slow_client));
    assert!(mock.wait_requests(n + 1, Duration::from_secs(10)).await);
    let pid = running.0.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());

    let resp = in_flight.await.unwrap().unwrap();
    assert_eq!(resp.status(), 200, "the request in flight was cut");
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert!(
        String::from_utf8_lossy(&body).contains("chat.completion"),
        "{}",
        String::from_utf8_lossy(&body)
    );

    let status = wait_exit(&mut running, Duration::from_secs(20)).await;
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(status.success(), "exit status {status}: {log}");
    // Nothing listens any more.
    assert!(std::net::TcpStream::connect(addr).is_err());

    let repo = SqlRepository::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let logs = repo
        .list_request_logs(
            &RequestLogFilter::default(),
            Page {
                limit: 100,
                offset: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        logs.total as usize,
        n as usize + 1,
        "one row per request, the one in flight included: {log}"
    );
    assert!(logs.data.iter().all(|l| l.status_code == 200));
}
