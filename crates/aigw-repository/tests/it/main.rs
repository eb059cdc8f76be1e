//! Integration tests of aigw-repository against real PostgreSQL, SQLite and Redis.

mod sql;
mod state;
