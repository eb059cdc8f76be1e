//! Running the built binary: a command with only the test's settings, the
//! admin subcommands, and a guard that kills a server the test left running.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};

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
    assert!(
        output.status.success(),
        "aigateway {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap()
        .trim()
        .to_owned()
}

/// Kills the child if the test fails before it exits.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
