//! Shared-state store tests, run against the in-process store and Redis.
