//! The binary: prints its address first, serves, and exits when stdin closes.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{chat, client, post};

#[tokio::test]
async fn the_binary_prints_its_address_and_exits_when_stdin_closes() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aigw-mock-upstream"))
        .args(["--listen", "127.0.0.1:0", "--record"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: SocketAddr = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("first line is not an address: {line:?}"));
    assert!(addr.ip().is_loopback());
    assert_ne!(addr.port(), 0);

    let url = format!("http://{addr}/v1/chat/completions");
    let resp = post(
        &client(),
        &url,
        &[("authorization", "Bearer k")],
        &chat("from a process"),
    )
    .await;
    assert_eq!(
        resp.json()["choices"][0]["message"]["content"],
        "echo: from a process"
    );

    drop(child.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the mock did not exit after stdin closed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success());
}
