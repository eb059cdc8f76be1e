//! aigateway: a multi-provider AI API gateway.
//!
//! This crate is the embedding facade: it re-exports the layered crates so a
//! Rust service can depend on one package and reach every layer.
//!
//! The repository's `examples/` show the three common uses:
//! `embed_hyper` mounts the gateway in a host hyper service
//! ([`handlers::App::handle`]), `translate` uses [`formats`] alone, and
//! `select_account` runs account selection over a snapshot built from values
//! ([`services::selector::Selector`]).

pub use aigw_dashboard as dashboard;
pub use aigw_domain as domain;
pub use aigw_formats as formats;
pub use aigw_handlers as handlers;
pub use aigw_repository as repository;
pub use aigw_services as services;
