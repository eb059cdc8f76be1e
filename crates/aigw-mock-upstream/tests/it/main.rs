//! Integration tests of the mock upstream over real sockets: each wire's shapes
//! (JSON and streaming), faults, recording, the OAuth server, the CONNECT and SOCKS5
//! proxies, and the binary.

// Helpers outside `#[test]` functions are test code too: they should fail loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed unwrap is a failed test"
)]

mod anthropic;
mod faults;
mod gemini;
mod oauth;
mod openai;
mod process;
mod proxy;
mod recording;
mod responses;
mod support;
