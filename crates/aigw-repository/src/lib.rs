//! aigateway persistence: the SQL repository (PostgreSQL and SQLite on
//! diesel-async) and the shared-state store (Redis via fred, or in-process).
//!
//! Only this crate knows diesel and fred.

mod error;
pub mod sql;
pub mod state;

pub use error::{Error, Unavailable};
pub use sql::{SnapshotData, SqlBackend, SqlOptions, SqlRepository};
