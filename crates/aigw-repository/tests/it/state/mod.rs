//! Shared-state store tests, run against the in-process store and Redis.
// Behaviour tests are plain async functions run by generated `#[tokio::test]`
// wrappers; marking the module as test code lets clippy treat them as tests.
#![cfg(test)]

mod cache;
mod counters;
mod error_log;
mod fallback;
mod live;
mod locks;
mod pubsub;
mod support;
mod windows;
