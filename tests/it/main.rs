//! End-to-end tests of the gateway: the real server on `127.0.0.1:0` against
//! the mock upstream, in both deployments (SQLite + in-process state, and
//! PostgreSQL + Redis), plus the tidy checks that keep the docs true.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    clippy::disallowed_methods,
    reason = "test code: failures should panic loudly, and tasks are spawned freely"
)]

#[macro_use]
mod support;

mod api;
mod claude_code;
mod codex;
mod count_tokens;
mod dashboard;
mod dataplane;
mod edge;
mod errors;
mod failover;
mod gemini;
mod health;
mod input;
mod limits;
mod module_cycles;
mod oauth;
mod proxy_health;
mod responses;
mod secrets;
mod selection;
mod stats;
mod tidy;
