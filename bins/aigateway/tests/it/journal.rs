//! A PostgreSQL outage as operators meet it: the database is cut while
//! traffic flows, the gateway is killed with SIGKILL before the database
//! returns, and the next start replays its stats journal: one request-log
//! row per request, none twice, none lost.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use aigw_domain::{Page, RequestLogFilter};
use aigw_mock_upstream::{Forwarder, MockUpstream};
use aigw_repository::SqlRepository;
use aigw_test_support::{PgDatabase, postgres_address};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::shutdown::chat;
use crate::support::{Running, add_openai_account, admin, free_port, serve, wait_for};

type HttpClient = Client<HttpConnector, Full<Bytes>>;

async fn health(client: &HttpClient, addr: SocketAddr) -> Option<serde_json::Value> {
    let req = http::Request::get(format!("http://{addr}/health"))
        .body(Full::default())
        .unwrap();
    let resp = client.request(req).await.ok()?;
    if resp.status() != 200 {
        return None;
    }
    let body = resp.into_body().collect().await.ok()?.to_bytes();
    serde_json::from_slice(&body).ok()
}

/// Polls the gateway's `/health` until `check` holds on its `stats`.
async fn wait_stats(
    client: &HttpClient,
    addr: SocketAddr,
    running: &mut Running,
    log: &Path,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    wait_for(running, log, Duration::from_secs(60), what, async || {
        let h = health(client, addr).await?;
        check(&h["stats"]).then(|| h["stats"].clone())
    })
    .await
}

async fn chat_requests(client: &HttpClient, addr: SocketAddr, key: &str, n: usize) {
    for _ in 0..n {
        let req = http::Request::post(format!("http://{addr}/v1/chat/completions"))
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(chat())
            .unwrap();
        let resp = client.request(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        resp.into_body().collect().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_killed_during_an_outage_replays_its_journal_on_the_next_start() {
    let Some(pg) = PgDatabase::create("aigw_journal").await else {
        return;
    };
    let mock = MockUpstream::start().await.unwrap();
    let forwarder = Forwarder::start(postgres_address().await).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let addr = free_port();
    let mut vars = vec![
        ("AIGW_DATABASE__URL", pg.url()),
        ("AIGW_SERVER__LISTEN", addr.to_string()),
        ("AIGW_SECURITY__SECRET_KEY", "ab".repeat(32)),
        (
            "AIGW_PROVIDERS__OPENAI__BASE_URL",
            format!("{}/v1", mock.base_url()),
        ),
        ("AIGW_STATS__JOURNAL_DIR", "stats-journal".to_owned()),
        ("AIGW_LOG__LEVEL", "info".to_owned()),
    ];
    let key = admin(dir.path(), &vars, &["keys", "create"]);
    add_openai_account(dir.path(), &vars, "a", "acct-a");
    // The server reaches the database through the forwarder.
    vars[0].1 = pg.url_through(forwarder.addr());
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let first_log = dir.path().join("first.log");
    let mut running = serve(dir.path(), &vars, &first_log);
    wait_stats(&client, addr, &mut running, &first_log, "ready", |_| true).await;

    let before = 20;
    chat_requests(&client, addr, &key, before).await;
    forwarder.cut();
    let during = 300;
    let cut_at = Instant::now();
    chat_requests(&client, addr, &key, during).await;
    let served_in = cut_at.elapsed();
    let stats = wait_stats(
        &client,
        addr,
        &mut running,
        &first_log,
        "the outage's rows journaled",
        |s| s["journal_appended_events"].as_u64() >= Some(during as u64),
    )
    .await;
    assert!(stats["journal_pending_bytes"].as_u64() > Some(0), "{stats}");
    assert!(
        stats["journal_oldest_age_seconds"].as_f64() > Some(0.0),
        "{stats}"
    );
    assert_eq!(stats["dropped_events"], 0, "{stats}");
    let killed = Command::new("kill")
        .args(["-KILL", &running.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    running.0.wait().unwrap();
    drop(running);

    forwarder.restore();
    let second_log = dir.path().join("second.log");
    let restarted = Instant::now();
    let mut running = serve(dir.path(), &vars, &second_log);
    let stats = wait_stats(
        &client,
        addr,
        &mut running,
        &second_log,
        "the journal replayed",
        |s| s["journal_pending_bytes"] == 0 && s["journal_replayed_events"].as_u64() > Some(0),
    )
    .await;
    let replayed_in = restarted.elapsed();
    assert_eq!(stats["dropped_events"], 0, "{stats}");
    assert!(
        !dir.path()
            .join("stats-journal")
            .read_dir()
            .unwrap()
            .any(|e| e.unwrap().path().extension().is_some_and(|x| x == "seg")),
        "replayed segments are deleted"
    );

    let keyring =
        aigw_repository::Keyring::new(aigw_repository::SecretKey::parse(&"ab".repeat(32)).unwrap());
    let options = aigw_repository::SqlOptions {
        keyring: Some(keyring),
        ..aigw_repository::SqlOptions::default()
    };
    let repo = SqlRepository::connect_with(&pg.url(), options)
        .await
        .unwrap();
    let logs = repo
        .list_request_logs(&RequestLogFilter::default(), Page::new(1, 0))
        .await
        .unwrap();
    assert_eq!(
        logs.total as usize,
        before + during,
        "one row per request, none twice: {}",
        std::fs::read_to_string(&second_log).unwrap_or_default()
    );
    let accounts = repo
        .list_accounts(&aigw_domain::AccountFilter::default(), Page::new(10, 0))
        .await
        .unwrap();
    assert_eq!(accounts.data[0].usage_count as usize, before + during);
    // The figures, for whoever runs the test with --nocapture.
    #[expect(clippy::print_stdout, reason = "the test's figures are its report")]
    {
        println!(
            "outage: {during} requests served in {served_in:?}; after SIGKILL, the journal replayed {replayed_in:?} after the restart"
        );
    }
    drop(running);
    drop(repo);
    pg.remove().await.unwrap();
}
