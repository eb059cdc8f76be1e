//! Providers: the upstream services (OpenAI-compatible, Anthropic, Gemini, Antigravity) accounts belong to.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{AuthKind, ProviderId, ProviderKind};

/// An upstream provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provider {
    /// The slug clients and mappings refer to, e.g. `openai`.
    pub id: ProviderId,
    /// The display name.
    pub name: String,
    /// The wire format and auth style.
    pub kind: ProviderKind,
    /// The primary base URL.
    pub base_url: String,
    /// Further base URLs tried in order when the primary fails to connect or answers 5xx
    /// (Antigravity's daily → sandbox → prod fallback).
    pub fallback_base_urls: Vec<String>,
    /// The credential kinds its accounts may use.
    pub supported_auth_types: Vec<AuthKind>,
    /// The upstream model names it serves.
    pub models: Vec<String>,
    /// Whether requests may be routed to it.
    pub is_active: bool,
    /// Whether it was seeded by the gateway rather than created by an operator.
    pub is_builtin: bool,
    /// Provider-specific settings.
    pub config: serde_json::Value,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

/// A provider to create.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct NewProvider {
    /// See [`Provider::id`].
    pub id: ProviderId,
    /// See [`Provider::name`].
    pub name: String,
    /// See [`Provider::kind`].
    pub kind: ProviderKind,
    /// See [`Provider::base_url`].
    pub base_url: String,
    /// See [`Provider::fallback_base_urls`].
    #[serde(default)]
    pub fallback_base_urls: Vec<String>,
    /// See [`Provider::supported_auth_types`].
    #[serde(default)]
    pub supported_auth_types: Vec<AuthKind>,
    /// See [`Provider::models`].
    #[serde(default)]
    pub models: Vec<String>,
    /// See [`Provider::is_active`]; defaults to true.
    #[serde(default = "crate::default_true")]
    pub is_active: bool,
    /// See [`Provider::is_builtin`].
    #[serde(default)]
    pub is_builtin: bool,
    /// See [`Provider::config`]; defaults to `{}`.
    #[serde(default = "crate::empty_object")]
    pub config: serde_json::Value,
}

impl Provider {
    /// The provider a store would hold for `new`, created `at`. For
    /// in-memory stores, tests and benches.
    pub fn from_new(new: NewProvider, at: DateTime<Utc>) -> Self {
        Self {
            id: new.id,
            name: new.name,
            kind: new.kind,
            base_url: new.base_url,
            fallback_base_urls: new.fallback_base_urls,
            supported_auth_types: new.supported_auth_types,
            models: new.models,
            is_active: new.is_active,
            is_builtin: new.is_builtin,
            config: new.config,
            created_at: at,
            updated_at: at,
        }
    }
}

/// A partial update of a provider: `None` leaves a field unchanged.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct ProviderPatch {
    /// New display name.
    #[serde(default)]
    pub name: Option<String>,
    /// New kind.
    #[serde(default)]
    pub kind: Option<ProviderKind>,
    /// New primary base URL.
    #[serde(default)]
    pub base_url: Option<String>,
    /// New fallback base URLs.
    #[serde(default)]
    pub fallback_base_urls: Option<Vec<String>>,
    /// New supported credential kinds.
    #[serde(default)]
    pub supported_auth_types: Option<Vec<AuthKind>>,
    /// New model list.
    #[serde(default)]
    pub models: Option<Vec<String>>,
    /// New active flag.
    #[serde(default)]
    pub is_active: Option<bool>,
    /// New provider-specific settings.
    #[serde(default)]
    pub config: Option<serde_json::Value>,
}
