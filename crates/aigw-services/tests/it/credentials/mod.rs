//! The OAuth credential service against the mock token endpoint: caching, refresh and
//! persistence on SQLite and PostgreSQL, single flight in one process and across instances
//! (in-process state, and Redis with PostgreSQL), failures and cooldowns, rotation, 401s.
// Test code: the workspace lets tests unwrap, and helpers count as tests only under cfg(test).
#![cfg(test)]

mod cache;
mod failures;
mod refresh;
mod single_flight;
pub(crate) mod support;
