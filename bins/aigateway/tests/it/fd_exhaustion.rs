//! Out of file descriptors: the process runs under a low open-files limit
//! with no connection cap of its own, and one client holds more idle
//! connections than it has descriptors. `accept` fails with `EMFILE`; the
//! server must back off (not spin and log each failure), close idle
//! connections to get descriptors back, and keep serving new clients.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Running, free_port, gateway};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_descriptors_the_server_backs_off_closes_idle_connections_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gateway.db");
    let addr = free_port();
    let vars = [
        ("AIGW_DATABASE__URL", format!("sqlite://{}", db.display())),
        ("AIGW_SERVER__LISTEN", addr.to_string()),
        // No cap below the descriptor limit: accept itself runs out.
        ("AIGW_SERVER__MAX_CONNECTIONS", "100000".to_owned()),
        ("AIGW_SERVER__SHUTDOWN_GRACE", "2s".to_owned()),
        ("AIGW_LOG__LEVEL", "warn".to_owned()),
    ];
    let log_path = dir.path().join("gateway.log");
    let log = std::fs::File::create(&log_path).unwrap();
    // The binary with this test's environment, run through a shell that
    // lowers the limit first.
    let template = gateway(dir.path(), &vars);
    let mut limited = Command::new("sh");
    limited
        .arg("-c")
        .arg("ulimit -n 256 && exec \"$0\" serve")
        .arg(template.get_program())
        .current_dir(dir.path());
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

    let deadline = Instant::now() + Duration::from_secs(60);
    while get(addr, "/health", Duration::from_secs(1)).await.is_none() {
        assert!(
            running.0.try_wait().unwrap().is_none(),
            "the gateway exited: {}",
            std::fs::read_to_string(&log_path).unwrap()
        );
        assert!(Instant::now() < deadline, "the gateway never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // More idle connections than the server has descriptors, held open.
    let mut held = Vec::new();
    for _ in 0..400 {
        if let Ok(Ok(stream)) =
            tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(addr)).await
        {
            held.push(stream);
        }
    }
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
