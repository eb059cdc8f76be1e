//! Nothing is lost: every request and every failed attempt becomes one
//! request-log row, and the daily proxy stats add up, once the gateway has
//! shut down and drained its stats queue.

use aigateway::domain::{NewProxy, Page, ProxyStatsFilter, ProxyUrl, RequestLogFilter};
use aigw_mock_upstream::{Fault, MockProxy};
use serde_json::json;

use crate::support::{Deployment, TestGateway};

async fn every_request_and_failed_attempt_is_logged_after_shutdown(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    let proxy = MockProxy::start(None).await.unwrap();
    gw.runtime
        .repository()
        .insert_proxy(&NewProxy::new(ProxyUrl::new(proxy.url())))
        .await
        .unwrap();
    gw.add_api_key_account("openai", "s-a").await;
    gw.add_api_key_account("openai", "s-b").await;
    // One 429 on A: one failed attempt, answered by B.
    gw.mock.set_fault("s-a", Fault::rate_limited(60).once());
    let n = 40;
    for i in 0..n {
        let stream = i % 4 == 0;
        let resp = gw
            .post(
                "/v1/chat/completions",
                &key,
                json!({"model": "gpt-4o", "stream": stream,
                       "messages": [{"role": "user", "content": "hi"}]}),
            )
            .await;
        assert_eq!(resp.status, 200, "{}", resp.text());
    }
    // A request refused before any upstream attempt is logged too.
    let resp = gw
        .post(
            "/v1/chat/completions",
            &key,
            json!({"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    assert_eq!(resp.status, 404);
    let upstream_calls = gw.mock.count_for("s-a") + gw.mock.count_for("s-b");
    assert_eq!(upstream_calls, n + 1, "n successes plus one 429");

    let flushed = gw.stop_and_flush().await;
    assert!(flushed.report.drained, "{:?}", flushed.report);
    assert_eq!(flushed.report.dropped, 0, "{:?}", flushed.report);
    let logs = flushed
        .repo
        .list_request_logs(
            &RequestLogFilter::default(),
            Page {
                limit: 1000,
                offset: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        logs.total as usize,
        n + 1 + 1,
        "n successes + 1 failed attempt + 1 refused"
    );
    let failed: Vec<_> = logs.data.iter().filter(|l| l.status_code == 429).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(logs.data.iter().filter(|l| l.status_code == 200).count(), n);
    assert_eq!(logs.data.iter().filter(|l| l.status_code == 404).count(), 1);
    // Usage was recorded from whole responses and streams alike.
    assert!(
        logs.data
            .iter()
            .filter(|l| l.status_code == 200)
            .all(|l| l.output_tokens.unwrap_or(0) > 0),
        "every success carries its usage"
    );
    let stats = flushed
        .repo
        .list_proxy_stats(
            &ProxyStatsFilter::default(),
            Page {
                limit: 100,
                offset: 0,
            },
        )
        .await
        .unwrap();
    let requests: i64 = stats.data.iter().map(|s| s.request_count).sum();
    let errors: i64 = stats.data.iter().map(|s| s.error_count).sum();
    assert_eq!(requests, (n + 1) as i64, "{stats:?}");
    assert_eq!(errors, 1, "{stats:?}");
}

async fn request_in_flight_at_shutdown_completes_and_is_logged(d: Deployment) {
    use http_body_util::BodyExt;

    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_api_key_account("openai", "slow").await;
    gw.mock.set_fault(
        "slow",
        Fault::Latency(std::time::Duration::from_millis(700)),
    );
    // The in-flight request uses its own client, so the gateway can be shut
    // down while it runs.
    let url = gw.url("/v1/chat/completions");
    let in_flight = tokio::spawn(async move {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<http_body_util::Full<bytes::Bytes>>();
        let req = http::Request::post(url)
            .header("authorization", format!("Bearer {key}"))
            .body(http_body_util::Full::new(bytes::Bytes::from(
                json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
                    .to_string(),
            )))
            .unwrap();
        let resp = client.request(req).await.unwrap();
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, body)
    });
    // Shut down once the request has reached the upstream.
    assert!(
        gw.mock
            .wait_requests(1, std::time::Duration::from_secs(5))
            .await
    );
    let flushed = gw.stop_and_flush().await;
    let (status, body) = in_flight.await.unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let logs = flushed
        .repo
        .list_request_logs(
            &RequestLogFilter::default(),
            Page {
                limit: 10,
                offset: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        logs.total, 1,
        "the in-flight request was logged before exit"
    );
}

/// With PostgreSQL unreachable the data plane keeps serving from its
/// snapshot, the stats writer keeps what it could not write, and once the
/// database is back every buffered row is written: nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_succeed_while_the_database_is_cut_and_their_rows_arrive_after() {
    use std::time::{Duration, Instant};

    let Ok(forwarder) =
        aigw_mock_upstream::Forwarder::for_url(&aigw_test_support::postgres_url(), 5432).await
    else {
        aigw_test_support::unreachable("postgres", "its host does not resolve");
        return;
    };
    let mut direct_url = String::new();
    let Some(gw) = TestGateway::start_with(Deployment::ScaleOut, |settings| {
        direct_url = settings.database_url.clone();
        settings.database_url = forwarder.url(&settings.database_url);
        // Fail fast while the database is away, so retries are visible.
        settings.sql.acquire_timeout = Duration::from_secs(1);
    })
    .await
    else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_api_key_account("openai", "cut-a").await;
    let chat = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]});
    let before = 5;
    for _ in 0..before {
        let resp = gw.post("/v1/chat/completions", &key, chat.clone()).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
    }
    // Cut only once that batch is written whole: a cut while one of its
    // commits is in flight leaves the writer unable to tell whether it
    // landed, which this test is not about.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let metrics = gw.runtime.gateway().stats().metrics();
        if metrics.flushed_rows == before as u64 && metrics.flushes >= 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first batch was never written"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    forwarder.cut();
    let during = 20;
    for _ in 0..during {
        let resp = gw.post("/v1/chat/completions", &key, chat.clone()).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
    }
    // The writer must have tried and failed at least once while cut.
    let deadline = Instant::now() + Duration::from_secs(15);
    while gw.runtime.gateway().stats().metrics().flush_failures == 0 {
        assert!(
            Instant::now() < deadline,
            "no write failed while the database was cut"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    forwarder.restore();
    let direct = aigateway::repository::SqlRepository::connect(&direct_url)
        .await
        .unwrap();
    let expected = (before + during) as i64;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let logs = direct
            .list_request_logs(
                &RequestLogFilter::default(),
                Page {
                    limit: 1,
                    offset: 0,
                },
            )
            .await
            .unwrap();
        if logs.total == expected {
            break;
        }
        assert!(
            logs.total < expected,
            "more rows than requests: {}",
            logs.total
        );
        assert!(
            Instant::now() < deadline,
            "only {} of {expected} rows arrived after the database returned",
            logs.total
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let metrics = gw.runtime.gateway().stats().metrics();
    assert_eq!(metrics.dropped(), 0, "{metrics:?}");
    let flushed = gw.stop_and_flush().await;
    assert_eq!(flushed.report.dropped, 0, "{:?}", flushed.report);
    let logs = direct
        .list_request_logs(
            &RequestLogFilter::default(),
            Page {
                limit: 1,
                offset: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!(logs.total, expected, "rows written twice after the retry");
}

deployment_tests!(
    every_request_and_failed_attempt_is_logged_after_shutdown,
    request_in_flight_at_shutdown_completes_and_is_logged,
);
