//! aigateway persistence: the SQL repository (PostgreSQL and SQLite on
//! diesel-async) and the shared-state store (Redis via fred, or in-process).
//!
//! Only this crate knows diesel and fred.
//!
//! # Secrets at rest
//!
//! Account credentials (`accounts.auth_data`) and proxy credentials (the `user:password`
//! of a proxy URL, kept in `proxy_pool.credentials` while `proxy_pool.url` keeps the URL
//! without them) are sealed with AES-256-GCM under the [`Keyring`] given in
//! [`SqlOptions::keyring`] (see [`crypto`]). Every write seals with the current key;
//! every read, the snapshot load included, opens with whichever key the value names.
//!
//! A repository opened without a keyring (the default of [`SqlOptions`], for tests and
//! embedders that do not need it) writes these values in clear, reads clear values, and
//! fails with [`Error::Secret`] on a sealed value rather than return it unreadable. Clear
//! values written before encryption are read with or without a keyring, and are sealed
//! by [`SqlRepository::seal_clear_secrets`] or [`SqlRepository::rotate_secrets`] (or by
//! the next write of the row). The `aigateway` binary always opens the repository with
//! a keyring.

#![deny(missing_docs)]

pub mod crypto;
mod error;
pub mod sql;
pub mod state;

pub use crypto::{KeyId, Keyring, SecretError, SecretKey};
pub use error::{Error, Unavailable};
pub use sql::{
    ResealReport, SnapshotData, SqlBackend, SqlOptions, SqlRepository, StageWrite, StatsStage,
};
