//! One client holding more idle connections than the process has file
//! descriptors. With the default connection cap (half the open-files
//! limit), idle connections give way to new clients before descriptors run
//! out. With no cap below the limit, `accept` fails with `EMFILE`; the
//! server must back off (not spin and log each failure), close idle
//! connections to get descriptors back, and keep serving new clients.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Running, free_port, gateway, sqlite_vars, wait_for};

/// `GET path` on a new connection; the response, or `None` if none came
/// within `within`.
async fn get(addr: SocketAddr, path: &str, within: Duration) -> Option<String> {
    tokio::time::timeout(within, async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        let request = format!("GET {path} HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut out = Vec::new();
        stream.read_to_end(&mut out).await.ok()?;
        Some(String::from_utf8_lossy(&out).into_owned())
    })
    .await
    .ok()
    .flatten()
    .filter(|r| r.starts_with("HTTP/1.1 200"))
}

/// The binary serving with `vars` under an open-files limit of `limit`,
/// its output going to `log`, once `/health` answers.
async fn serve_limited(
    dir: &Path,
    vars: &[(&str, String)],
    limit: u32,
    addr: SocketAddr,
    log_path: &Path,
) -> Running {
    let log = std::fs::File::create(log_path).unwrap();
    // The binary with this test's environment, run through a shell that
    // lowers the limit first.
    let template = gateway(dir, vars);
    let mut limited = Command::new("sh");
    limited
        .arg("-c")
        .arg(format!("ulimit -n {limit} && exec \"$0\" serve"))
        .arg(template.get_program())
        .current_dir(dir);
    for (key, value) in template.get_envs() {
        match value {
            Some(value) => limited.env(key, value),
            None => limited.env_remove(key),
        };
    }
    let child = limited
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut running = Running(child);
    wait_for(
        &mut running,
        log_path,
        Duration::from_secs(60),
        "/health",
        async || get(addr, "/health", Duration::from_secs(1)).await,
    )
    .await;
    running
}

/// Opens `n` connections and holds them without sending anything.
async fn hold_idle(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for _ in 0..n {
        if let Ok(Ok(stream)) =
            tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(addr)).await
        {
            held.push(stream);
        }
    }
    held
}

fn metric(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {metrics}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_default_cap_idle_connections_give_way_to_new_clients_before_descriptors_run_out()
{
    let dir = tempfile::tempdir().unwrap();
    let addr = free_port();
    let mut vars = sqlite_vars(dir.path(), addr);
    vars.extend([
        ("AIGW_SERVER__SHUTDOWN_GRACE", "2s".to_owned()),
        ("AIGW_LOG__LEVEL", "warn".to_owned()),
    ]);
    let log_path = dir.path().join("gateway.log");
    let _running = serve_limited(dir.path(), &vars, 512, addr, &log_path).await;

    // 700 silent connections against 512 descriptors; the cap is 256.
    let held = hold_idle(addr, 700).await;
    for path in ["/health", "/health"] {
        assert!(
            get(addr, path, Duration::from_secs(10)).await.is_some(),
            "{path} not served while {} idle connections are held",
            held.len()
        );
    }
    let metrics = get(addr, "/metrics", Duration::from_secs(10))
        .await
        .unwrap();
    assert!(
        metric(&metrics, "aigw_http_connections_open") <= 256.0,
        "{metrics}"
    );
    assert!(
        metric(&metrics, "aigw_http_idle_connections_evicted_total") >= 400.0,
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "aigw_http_accept_errors_total"),
        0.0,
        "descriptors ran out: {}",
        std::fs::read_to_string(&log_path).unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_descriptors_the_server_backs_off_closes_idle_connections_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_port();
    let mut vars = sqlite_vars(dir.path(), addr);
    vars.extend([
        // No cap below the descriptor limit: accept itself runs out.
        ("AIGW_SERVER__MAX_CONNECTIONS", "100000".to_owned()),
        ("AIGW_SERVER__SHUTDOWN_GRACE", "2s".to_owned()),
        ("AIGW_LOG__LEVEL", "warn".to_owned()),
    ]);
    let log_path = dir.path().join("gateway.log");
    let _running = serve_limited(dir.path(), &vars, 256, addr, &log_path).await;

    // More idle connections than the server has descriptors, held open.
    let held = hold_idle(addr, 400).await;
    // Give a spinning accept loop time to show itself.
    tokio::time::sleep(Duration::from_secs(2)).await;

    // New clients are served.
    for path in ["/health", "/health", "/metrics"] {
        let response = get(addr, path, Duration::from_secs(10)).await;
        assert!(
            response.is_some(),
            "{path} not served while {} idle connections are held",
            held.len()
        );
    }
    let metrics = get(addr, "/metrics", Duration::from_secs(10))
        .await
        .unwrap();
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {metrics}"))
    };
    assert!(value("aigw_http_accept_errors_total") > 0.0, "{metrics}");
    assert!(
        value("aigw_http_idle_connections_evicted_total") > 0.0,
        "{metrics}"
    );
    drop(held);

    let log = std::fs::read_to_string(&log_path).unwrap();
    let warnings = log.lines().filter(|l| l.contains("accept")).count();
    assert!(
        (1..=10).contains(&warnings),
        "{warnings} accept warnings: the failure is logged once per interval\n{}",
        log.chars().take(4000).collect::<String>()
    );
}
