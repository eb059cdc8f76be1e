//! Running the built binary: a command with only the test's settings, the
//! admin subcommands, a server with its output in a log file, waits for it
//! to be ready or to exit, and a guard that kills a server the test left
//! running.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// A port that was free a moment ago.
pub fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// The binary with only this test's settings (no `AIGW_` variable of the
/// caller's shell leaks in), run in `dir`.
pub fn gateway(dir: &Path, vars: &[(&str, String)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aigateway"));
    command.current_dir(dir);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("AIGW_") {
            command.env_remove(key);
        }
    }
    command.envs(vars.iter().map(|(k, v)| (*k, v.as_str())));
    command
}

/// Runs an admin subcommand; its last stdout line.
pub fn admin(dir: &Path, vars: &[(&str, String)], args: &[&str]) -> String {
    let output = gateway(dir, vars)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    last_line(&output, &format!("aigateway {args:?}"))
}

/// The last non-empty stdout line of a subcommand that must have succeeded.
pub fn last_line(output: &Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap()
        .trim()
        .to_owned()
}

/// Adds an OpenAI account labelled `label` with the API key `api_key`.
pub fn add_openai_account(dir: &Path, vars: &[(&str, String)], label: &str, api_key: &str) {
    admin(
        dir,
        vars,
        &[
            "accounts",
            "add",
            "--provider",
            "openai",
            "--label",
            label,
            "--api-key",
            api_key,
        ],
    );
}

/// The settings of a gateway on a fresh SQLite file in `dir`, listening on `addr`.
pub fn sqlite_vars(dir: &Path, addr: SocketAddr) -> Vec<(&'static str, String)> {
    vec![
        (
            "AIGW_DATABASE__URL",
            format!("sqlite://{}", dir.join("gateway.db").display()),
        ),
        ("AIGW_SERVER__LISTEN", addr.to_string()),
    ]
}

/// `aigateway serve` with `vars`, its stdout and stderr going to `log`.
pub fn serve(dir: &Path, vars: &[(&str, String)], log: &Path) -> Running {
    let log = std::fs::File::create(log).unwrap();
    let child = gateway(dir, vars)
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    Running(child)
}

/// Polls `probe` until it gives a value, failing with the server's log if
/// the server exits or `within` passes first.
pub async fn wait_for<T>(
    running: &mut Running,
    log: &Path,
    within: Duration,
    what: &str,
    mut probe: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(
            running.0.try_wait().unwrap().is_none(),
            "the gateway exited while waiting for {what}: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for the server to exit by itself within `within`.
pub async fn wait_exit(running: &mut Running, within: Duration) -> ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = running.0.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the gateway did not exit");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Kills the child if the test fails before it exits.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
