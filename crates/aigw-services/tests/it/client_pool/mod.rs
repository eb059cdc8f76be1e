//! Client pool tests: direct, HTTP CONNECT and SOCKS5 routes, timeouts.
