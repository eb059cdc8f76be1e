//! aigateway persistence: the SQL repository (PostgreSQL and SQLite on
//! diesel-async) and the shared-state store (Redis via fred, or in-process).
//!
//! Only this crate knows diesel and fred.

pub mod state;
