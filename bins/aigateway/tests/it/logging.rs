//! Log output as a file or a collector sees it: plain text, no terminal
//! colour codes.

use std::process::Stdio;

use crate::support::gateway;

/// Runs `migrate` (which logs at info) with stderr to a pipe; its stderr.
fn migrate_stderr() -> String {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gateway.db");
    let vars = [
        ("AIGW_DATABASE__URL", format!("sqlite://{}", db.display())),
        ("AIGW_LOG__LEVEL", "info".to_owned()),
    ];
    let output = gateway(dir.path(), &vars)
        .arg("migrate")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("schema is up to date"), "{stderr}");
    stderr
}

#[test]
fn log_lines_to_a_pipe_carry_no_colour_codes() {
    let stderr = migrate_stderr();
    assert!(
        !stderr.contains("\x1b["),
        "escape sequences in piped log output: {stderr:?}"
    );
    let line = stderr
        .lines()
        .find(|l| l.contains("schema is up to date"))
        .unwrap();
    assert!(line.contains("INFO"), "{line:?}");
}
