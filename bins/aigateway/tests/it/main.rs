//! Tests of the `aigateway` binary as operators run it: a real process,
//! configured through the environment, stopped with a signal.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    reason = "test code: failures should panic loudly, and tasks are spawned freely"
)]

mod accounts;
mod allocator;
mod dashboard;
mod fd_exhaustion;
mod journal;
mod logging;
mod shutdown;
mod support;
