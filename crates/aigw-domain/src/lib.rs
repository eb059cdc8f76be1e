//! aigateway domain types: ids, entities, wire formats and provider kinds.
//!
//! This crate does no IO and knows no async runtime; every other crate speaks
//! in these types.

mod error;
mod format;

pub use error::DomainError;
pub use format::{Format, ProviderKind};
