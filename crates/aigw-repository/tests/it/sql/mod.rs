//! SQL repository tests: the same suite against SQLite and PostgreSQL.
// Test bodies are plain async functions run by generated `#[tokio::test]` wrappers;
// marking the module as test code lets clippy treat helpers and bodies as tests.
#![cfg(test)]

mod support;

mod accounts;
mod connect;
mod fixtures;
mod logs;
mod mappings;
mod providers;
mod proxies;
mod reports;
mod secrets;
mod settings;
mod snapshot;
mod stats_batches;
mod users;
