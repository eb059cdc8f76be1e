//! aigateway services: registry and routing, account selection, proxy
//! assignment, credentials, the HTTP client pool, provider executors,
//! failover and the stats recorder.

#![deny(missing_docs)]

pub mod admin;
mod attempt;
pub mod builtin;
pub mod client_pool;
pub mod cooldown;
pub mod credentials;
mod error;
pub mod failover;
pub mod gateway;
mod go_duration;
pub mod health;
pub mod inline_waker;
pub mod limits;
pub mod metrics;
pub mod onboarding;
pub mod pins;
pub mod proxy_assign;
pub mod proxy_health;
mod rebuild;
pub mod redact;
pub mod reports;
pub mod retention;
pub mod rotation;
pub mod routing;
pub mod runtime;
pub mod selector;
mod silence;
pub mod snapshot;
pub mod stats;
pub mod stream;
pub mod token_count;
pub mod upstream;

pub use aigw_repository::Error as RepositoryError;
pub use aigw_repository::state::StateError;
pub use error::{AdminError, Entity, ErrorStatus, RequestError, StartError};
pub use gateway::{ClientCall, Gateway, GatewaySettings, GeminiMethod, Principal, Reply};
pub use runtime::{Runtime, RuntimeSettings};
