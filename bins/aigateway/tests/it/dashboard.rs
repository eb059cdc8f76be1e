//! The first start of `serve` on an empty database names the dashboard's
//! address next to the generated admin password, and `/` leads to it.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::support::{free_port, serve, sqlite_vars, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_prints_the_dashboard_url_with_the_admin_password() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_port();
    let vars = sqlite_vars(dir.path(), addr);
    let log_path = dir.path().join("gateway.log");
    let mut running = serve(dir.path(), &vars, &log_path);
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let root = wait_for(
        &mut running,
        &log_path,
        Duration::from_secs(30),
        "the gateway to answer",
        async || {
            let req = http::Request::get(format!("http://{addr}/"))
                .body(Full::default())
                .unwrap();
            client.request(req).await.ok()
        },
    )
    .await;
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
