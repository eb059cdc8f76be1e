//! Providers: every caller may list them; admins add custom ones of a known
//! kind and change base URLs, models and the active flag. Built-in
//! providers cannot be deleted (deactivate them instead).

use aigw_domain::{
    AuthKind, NewProvider, Page, Provider, ProviderFilter, ProviderId, ProviderKind, ProviderPatch,
    SelectionStrategy,
};

use serde::Deserialize;

use super::Admin;
use crate::AdminError;

/// A custom provider to add; also the body of `POST /api/v1/providers`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateProvider {
    /// The slug (lowercase letters, digits, `-`, `_`).
    pub id: String,
    /// The display name.
    pub name: String,
    /// The wire format and auth style.
    pub kind: ProviderKind,
    /// The primary base URL (http or https).
    pub base_url: String,
    /// Further base URLs, tried in order when the one before cannot serve.
    #[serde(default)]
    pub fallback_base_urls: Vec<String>,
    /// Accepted credential kinds; empty means the kind's usual ones.
    #[serde(default)]
    pub supported_auth_types: Vec<AuthKind>,
    /// The upstream models it serves.
    #[serde(default)]
    pub models: Vec<String>,
    /// Whether requests may be routed to it; defaults to true.
    #[serde(default = "aigw_domain::serde_helpers::default_true")]
    pub is_active: bool,
    /// See [`Provider::native_responses`] (`openai` providers only).
    #[serde(default)]
    pub native_responses: bool,
    /// See [`Provider::selection_strategy`].
    #[serde(default)]
    pub selection_strategy: SelectionStrategy,
    /// See [`Provider::session_affinity`].
    #[serde(default)]
    pub session_affinity: bool,
}

/// A change to a provider; `None` leaves a field as it is. Also the body of
/// `PUT /api/v1/providers/{id}`, which cannot change a provider's kind.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpdateProvider {
    /// A new display name.
    pub name: Option<String>,
    /// A new primary base URL (its `user:password`, if any, sealed at rest).
    pub base_url: Option<String>,
    /// Replaces the base URLs tried in order when the primary cannot answer.
    pub fallback_base_urls: Option<Vec<String>>,
    /// Replaces the credential kinds the provider's accounts may use.
    pub supported_auth_types: Option<Vec<AuthKind>>,
    /// Replaces the upstream model names the provider serves.
    pub models: Option<Vec<String>>,
    /// Turns routing to the provider on or off.
    pub is_active: Option<bool>,
    /// See [`Provider::native_responses`] (`openai` providers only).
    pub native_responses: Option<bool>,
    /// See [`Provider::selection_strategy`].
    pub selection_strategy: Option<SelectionStrategy>,
    /// See [`Provider::session_affinity`].
    pub session_affinity: Option<bool>,
}

/// The credential kinds a provider kind takes when none are given.
fn default_auth_types(kind: ProviderKind) -> Vec<AuthKind> {
    match kind {
        ProviderKind::Openai => vec![AuthKind::ApiKey, AuthKind::Bearer],
        ProviderKind::Anthropic => vec![AuthKind::ApiKey, AuthKind::Oauth],
        ProviderKind::Gemini => vec![AuthKind::ApiKey],
        ProviderKind::Antigravity | ProviderKind::Codex => vec![AuthKind::Oauth],
    }
}

/// An http(s) URL with a host.
pub(crate) fn check_base_url(field: &str, value: &str) -> Result<(), AdminError> {
    match url::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        _ => Err(AdminError::invalid(
            field,
            "must be an http or https URL with a host",
        )),
    }
}

/// Only an OpenAI-compatible upstream can serve Responses natively (Codex
/// always does; the others speak their own APIs).
fn check_native_responses(kind: ProviderKind, native: bool) -> Result<(), AdminError> {
    if native && kind != ProviderKind::Openai {
        return Err(AdminError::invalid(
            "native_responses",
            "only openai providers serve the Responses API natively",
        ));
    }
    Ok(())
}

fn check_models(models: &[String]) -> Result<(), AdminError> {
    for (i, m) in models.iter().enumerate() {
        if m.trim().is_empty() {
            return Err(AdminError::invalid(
                format!("models[{i}]"),
                "must not be empty",
            ));
        }
    }
    Ok(())
}

fn provider_error(e: aigw_repository::Error) -> AdminError {
    match e {
        aigw_repository::Error::NotFound { .. } => AdminError::NotFound(crate::Entity::Provider),
        aigw_repository::Error::Conflict { .. } => {
            AdminError::Conflict("a provider with this id already exists".to_owned())
        }
        aigw_repository::Error::ForeignKey { .. } => AdminError::Conflict(
            "the provider still has accounts or model mappings; delete those first".to_owned(),
        ),
        e => e.into(),
    }
}

impl Admin {
    /// Every provider (or only active ones), by id.
    pub async fn list_providers(&self, active_only: bool) -> Result<Vec<Provider>, AdminError> {
        let filter = ProviderFilter {
            is_active: active_only.then_some(true),
            kind: None,
        };
        Ok(self
            .repository()
            .list_providers(&filter, Page::max())
            .await?
            .data)
    }

    /// One provider.
    pub async fn get_provider(&self, id: &str) -> Result<Provider, AdminError> {
        let id = ProviderId::new(id).map_err(|_| AdminError::NotFound(crate::Entity::Provider))?;
        self.repository()
            .get_provider(&id)
            .await
            .map_err(provider_error)
    }

    /// Adds a custom provider.
    pub async fn create_provider(&self, new: CreateProvider) -> Result<Provider, AdminError> {
        let id = ProviderId::new(new.id.clone())
            .map_err(|_| AdminError::invalid("id", "must be a lowercase slug (a-z, 0-9, -, _)"))?;
        if new.name.trim().is_empty() {
            return Err(AdminError::invalid("name", "must not be empty"));
        }
        check_base_url("base_url", &new.base_url)?;
        for (i, u) in new.fallback_base_urls.iter().enumerate() {
            check_base_url(&format!("fallback_base_urls[{i}]"), u)?;
        }
        check_models(&new.models)?;
        check_native_responses(new.kind, new.native_responses)?;
        let supported_auth_types = if new.supported_auth_types.is_empty() {
            default_auth_types(new.kind)
        } else {
            new.supported_auth_types
        };
        let row = NewProvider {
            id,
            name: new.name,
            kind: new.kind,
            base_url: new.base_url,
            fallback_base_urls: new.fallback_base_urls,
            supported_auth_types,
            models: new.models,
            is_active: new.is_active,
            is_builtin: false,
            config: serde_json::Value::Object(serde_json::Map::new()),
            native_responses: new.native_responses,
            selection_strategy: new.selection_strategy,
            session_affinity: new.session_affinity,
        };
        let provider = self
            .repository()
            .insert_provider(&row)
            .await
            .map_err(provider_error)?;
        self.reload().await?;
        Ok(provider)
    }

    /// Changes a provider.
    pub async fn update_provider(
        &self,
        id: &str,
        update: UpdateProvider,
    ) -> Result<Provider, AdminError> {
        let id = ProviderId::new(id).map_err(|_| AdminError::NotFound(crate::Entity::Provider))?;
        if update.name.as_ref().is_some_and(|n| n.trim().is_empty()) {
            return Err(AdminError::invalid("name", "must not be empty"));
        }
        if let Some(url) = &update.base_url {
            check_base_url("base_url", url)?;
        }
        if let Some(urls) = &update.fallback_base_urls {
            for (i, u) in urls.iter().enumerate() {
                check_base_url(&format!("fallback_base_urls[{i}]"), u)?;
            }
        }
        if let Some(models) = &update.models {
            check_models(models)?;
        }
        if update
            .supported_auth_types
            .as_ref()
            .is_some_and(Vec::is_empty)
        {
            return Err(AdminError::invalid(
                "supported_auth_types",
                "must not be empty",
            ));
        }
        if update.native_responses == Some(true) {
            let current = self.get_provider(id.as_str()).await?;
            check_native_responses(current.kind, true)?;
        }
        let patch = ProviderPatch {
            name: update.name,
            kind: None,
            base_url: update.base_url,
            fallback_base_urls: update.fallback_base_urls,
            supported_auth_types: update.supported_auth_types,
            models: update.models,
            is_active: update.is_active,
            config: None,
            native_responses: update.native_responses,
            selection_strategy: update.selection_strategy,
            session_affinity: update.session_affinity,
        };
        let provider = self
            .repository()
            .update_provider(&id, &patch)
            .await
            .map_err(provider_error)?;
        self.reload().await?;
        Ok(provider)
    }

    /// Deletes a custom provider that nothing uses any more.
    pub async fn delete_provider(&self, id: &str) -> Result<(), AdminError> {
        let provider = self.get_provider(id).await?;
        if provider.is_builtin {
            return Err(AdminError::Conflict(
                "built-in providers cannot be deleted; set is_active to false instead".to_owned(),
            ));
        }
        self.repository()
            .delete_provider(&provider.id)
            .await
            .map_err(provider_error)?;
        Ok(self.reload().await?)
    }
}
