//! The first start of `serve` on an empty database names the dashboard's
//! address next to the generated admin password, and `/` leads to it.

use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::support::{Running, free_port, gateway};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_prints_the_dashboard_url_with_the_admin_password() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gateway.db");
    let addr = free_port();
    let vars = [
        ("AIGW_DATABASE__URL", format!("sqlite://{}", db.display())),
        ("AIGW_SERVER__LISTEN", addr.to_string()),
    ];
    let log_path = dir.path().join("gateway.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let child = gateway(dir.path(), &vars)
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let _running = Running(child);
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let deadline = Instant::now() + Duration::from_secs(30);
    let root = loop {
        let req = http::Request::get(format!("http://{addr}/"))
            .body(Full::default())
            .unwrap();
        if let Ok(resp) = client.request(req).await {
            break resp;
        }
        assert!(Instant::now() < deadline, "the gateway did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(root.status(), http::StatusCode::SEE_OTHER);
    assert_eq!(root.headers()["location"], "/ui/");
    let printed = std::fs::read_to_string(&log_path).unwrap();
    let line = printed
        .lines()
        .find(|l| l.contains("created user `admin` with password"))
        .unwrap_or_else(|| panic!("no password line in: {printed}"));
    assert!(
        line.contains(&format!("open http://{addr}/ and sign in as `admin`")),
        "{line}"
    );
}
