//! Providers: the upstream services (OpenAI-compatible, Anthropic, Gemini, Antigravity) accounts belong to.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, Serializer};

use crate::{AuthKind, ProviderId, ProviderKind, SelectionStrategy};

/// `url` with any user information (`user:password@`, or a lone token before `@`)
/// replaced by `****`, for every place a URL is shown (provider base URLs, proxy,
/// database and Redis URLs in logs and `check-config`): the user name may be a
/// token too. Nothing is parsed, so a malformed URL is masked the same way; one
/// without `scheme://` is read as starting with its authority.
pub fn mask_url_credentials(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    // The last `@` ends the user information: a password may itself contain `@`.
    match (authority.rsplit_once('@'), scheme) {
        (Some((_, host)), Some(scheme)) => format!("{scheme}://****@{host}{tail}"),
        (Some((_, host)), None) => format!("****@{host}{tail}"),
        (None, _) => url.to_owned(),
    }
}

fn serialize_masked_url<S: Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&mask_url_credentials(url))
}

fn serialize_masked_urls<S: Serializer>(urls: &[String], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(urls.iter().map(|u| mask_url_credentials(u)))
}

/// An upstream provider. `Debug` and `Serialize` show its URLs with any
/// credentials masked ([`mask_url_credentials`]); the fields hold them whole,
/// for the data plane.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Provider {
    /// The slug clients and mappings refer to, e.g. `openai`.
    pub id: ProviderId,
    /// The display name.
    pub name: String,
    /// The wire format and auth style.
    pub kind: ProviderKind,
    /// The primary base URL; credentials in it are sealed at rest.
    #[serde(serialize_with = "serialize_masked_url")]
    pub base_url: String,
    /// Further base URLs, tried in order by the same account when the one before could
    /// not be reached (connect, TLS or first-byte failure) or answered 5xx, before any
    /// byte reached the client (Antigravity's daily → sandbox → production).
    #[serde(serialize_with = "serialize_masked_urls")]
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
    /// An `openai` provider that serves the OpenAI Responses API at
    /// `{base_url}/responses`: a Responses client's request goes there as it
    /// came, instead of being translated to Chat Completions (which loses
    /// what Chat cannot say). Only `openai` providers may set it.
    #[serde(default)]
    pub native_responses: bool,
    /// How each request's account is picked among the usable ones.
    #[serde(default)]
    pub selection_strategy: SelectionStrategy,
    /// Whether the turns of one conversation go to the account that served
    /// its previous turn while that account is usable (the upstream's prompt
    /// cache is per account), on top of the strategy.
    #[serde(default)]
    pub session_affinity: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fallbacks: Vec<String> = self
            .fallback_base_urls
            .iter()
            .map(|u| mask_url_credentials(u))
            .collect();
        f.debug_struct("Provider")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("base_url", &mask_url_credentials(&self.base_url))
            .field("fallback_base_urls", &fallbacks)
            .field("supported_auth_types", &self.supported_auth_types)
            .field("models", &self.models)
            .field("is_active", &self.is_active)
            .field("is_builtin", &self.is_builtin)
            .field("config", &self.config)
            .field("native_responses", &self.native_responses)
            .field("selection_strategy", &self.selection_strategy)
            .field("session_affinity", &self.session_affinity)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
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
    #[serde(default = "crate::serde_helpers::default_true")]
    pub is_active: bool,
    /// See [`Provider::is_builtin`].
    #[serde(default)]
    pub is_builtin: bool,
    /// See [`Provider::config`]; defaults to `{}`.
    #[serde(default = "crate::serde_helpers::empty_object")]
    pub config: serde_json::Value,
    /// See [`Provider::native_responses`].
    #[serde(default)]
    pub native_responses: bool,
    /// See [`Provider::selection_strategy`].
    #[serde(default)]
    pub selection_strategy: SelectionStrategy,
    /// See [`Provider::session_affinity`].
    #[serde(default)]
    pub session_affinity: bool,
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
            native_responses: new.native_responses,
            selection_strategy: new.selection_strategy,
            session_affinity: new.session_affinity,
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
    /// See [`Provider::native_responses`].
    #[serde(default)]
    pub native_responses: Option<bool>,
    /// See [`Provider::selection_strategy`].
    #[serde(default)]
    pub selection_strategy: Option<SelectionStrategy>,
    /// See [`Provider::session_affinity`].
    #[serde(default)]
    pub session_affinity: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_urls_are_masked() {
        assert_eq!(
            mask_url_credentials("http://u:p@ss@10.0.0.1:8080/v1?q=a@b"),
            "http://****@10.0.0.1:8080/v1?q=a@b"
        );
        assert_eq!(
            mask_url_credentials("https://token@h/v1"),
            "https://****@h/v1"
        );
        assert_eq!(mask_url_credentials("https://h/v1"), "https://h/v1");
        assert_eq!(mask_url_credentials("not a url"), "not a url");
        assert_eq!(
            mask_url_credentials("redis://:hunter2@[::1/0"),
            "redis://****@[::1/0"
        );
        assert_eq!(
            mask_url_credentials("u:hunter2@db:5432/x"),
            "****@db:5432/x"
        );
    }
}
