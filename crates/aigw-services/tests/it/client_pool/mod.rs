//! Client pool tests: direct, HTTP CONNECT and SOCKS5 egresses, TLS and ALPN, timeouts, pool bounds.
// Test code: the workspace lets tests unwrap, and helpers count as tests only under cfg(test).
#![cfg(test)]
#![expect(
    clippy::disallowed_methods,
    reason = "test servers and proxies run as their own tasks"
)]

mod direct;
mod h1;
mod pool;
mod proxy;
mod proxy_url;
mod support;
mod timeouts;
mod tls;
