//! aigateway domain types: ids, entities, wire formats and provider kinds.
//!
//! This crate does no IO and knows no async runtime; every other crate speaks
//! in these types. Entities come with a `New*` struct for inserts and a `*Patch`
//! struct for partial updates, where `None` always means "leave unchanged".
//! Timestamps are UTC. Secrets ([`Secret`], [`AuthData`], [`ProxyUrl`]) never
//! print themselves and are masked wherever an entity is serialised.

#![deny(missing_docs)]

mod account;
mod auth;
mod enums;
mod error;
mod format;
mod ids;
mod model_mapping;
mod provider;
mod proxy;
mod query;
mod quota;
mod request_log;
mod secret;
pub mod serde_helpers;
mod user;

pub use account::{
    Account, AccountHealthChange, AccountHealthDelta, AccountPatch, HealthThresholds,
    MAX_ACCOUNT_WEIGHT, NewAccount,
};
pub use auth::{AuthData, AuthKind, MaskedAuth, OAuthCredentials};
pub use enums::{HealthStatus, ProxyProtocol, Role, SelectionStrategy};
pub use error::DomainError;
pub use format::{Format, ProviderKind};
pub use ids::{
    AccountId, ApiKeyId, MappingId, ProviderId, ProxyId, QuotaPatternId, RequestLogId,
    StatsBatchId, UserId,
};
pub use model_mapping::{ModelMapping, ModelMappingPatch, NewModelMapping};
pub use provider::{NewProvider, Provider, ProviderPatch, mask_url_credentials};
pub use proxy::{NewProxy, Proxy, ProxyPatch, ProxyStats, ProxyStatsDelta, ProxyUrl};
pub use query::{
    AccountFilter, ApiKeyFilter, MappingOwnership, ModelMappingFilter, Page, Paged, ProviderFilter,
    ProxyFilter, ProxyStatsFilter, QuotaPatternFilter, RequestLogFilter, TimeRange, UserFilter,
};
pub use quota::{AccountQuotaPattern, NewQuotaPattern, QuotaObservation, QuotaPatternPatch};
pub use request_log::{NewRequestLog, RequestLog};
pub use secret::Secret;
pub use user::{ApiKey, ApiKeyPatch, NewApiKey, NewUser, User, UserPatch};
