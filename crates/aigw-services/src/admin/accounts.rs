//! Upstream accounts: admins manage all, provider-role users their own
//! (`created_by`). Credentials are validated against the provider's
//! accepted kinds and are never returned; creating or activating an account
//! assigns it a proxy (the reload after every write runs the assigner).

use aigw_domain::{
    Account, AccountFilter, AccountId, AccountPatch, AuthData, MAX_ACCOUNT_WEIGHT, NewAccount,
    Page, Paged, Provider, ProviderId, Secret,
};
use aigw_repository::state::Invalidation;
use serde::{Deserialize, Deserializer};

use super::Admin;
use super::auth::Caller;
use crate::AdminError;

/// An account to add; also the body of `POST /api/v1/accounts`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    /// The provider the account serves; it must accept the credential's kind.
    pub provider_id: ProviderId,
    /// What operators call the account (e.g. its e-mail); must not be blank.
    pub label: String,
    /// The credential sent upstream (API key or OAuth tokens).
    pub auth_data: AuthData,
    /// Free-form operator data (a JSON object); `None` is `{}`.
    #[serde(default, deserialize_with = "metadata")]
    pub metadata: Option<serde_json::Value>,
    /// Whether selection may pick it (defaults to true); an active account
    /// is given a proxy.
    #[serde(default = "aigw_domain::serde_helpers::default_true")]
    pub is_active: bool,
    /// See [`Account::weight`]; `None` is 1.
    #[serde(default)]
    pub weight: Option<u32>,
}

/// A change to an account; `None` leaves a field as it is. Also the body of
/// `PUT /api/v1/accounts/{id}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpdateAccount {
    /// A new label; must not be blank.
    pub label: Option<String>,
    /// A replacement credential; every instance forgets the old one's cached tokens.
    pub auth_data: Option<AuthData>,
    /// Replaces the whole metadata object.
    #[serde(deserialize_with = "metadata")]
    pub metadata: Option<serde_json::Value>,
    /// Turns selection of the account on or off.
    pub is_active: Option<bool>,
    /// See [`Account::weight`].
    pub weight: Option<u32>,
}

/// `metadata` as given, or the object a JSON string holds: the original
/// gateway's dashboard sends it as a string, like `auth_data` (which
/// [`AuthData`]'s own parsing unwraps). Anything else is left for
/// [`check_metadata`] to refuse.
fn metadata<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<serde_json::Value>, D::Error> {
    Ok(match Option::deserialize(deserializer)? {
        Some(serde_json::Value::String(text)) => match serde_json::from_str(&text) {
            Ok(object @ serde_json::Value::Object(_)) => Some(object),
            _ => Some(serde_json::Value::String(text)),
        },
        other => other,
    })
}

fn check_secret(field: &str, secret: &Secret) -> Result<(), AdminError> {
    if secret.expose().trim().is_empty() {
        return Err(AdminError::invalid(field, "must not be empty"));
    }
    Ok(())
}

/// Checks a credential against the provider: an accepted kind, and the
/// fields that kind needs.
fn check_auth(provider: &Provider, auth: &AuthData) -> Result<(), AdminError> {
    let kind = auth.kind();
    if !provider.supported_auth_types.is_empty() && !provider.supported_auth_types.contains(&kind) {
        return Err(AdminError::UnsupportedAuthKind {
            provider: provider.id.clone(),
            kind,
            supported: provider.supported_auth_types.clone(),
        });
    }
    match auth {
        AuthData::ApiKey { api_key } => check_secret("auth_data.api_key", api_key),
        AuthData::Bearer { token } => check_secret("auth_data.token", token),
        AuthData::Oauth(o) => {
            if let Some(t) = &o.refresh_token {
                check_secret("auth_data.refresh_token", t)?;
            }
            if let Some(t) = &o.access_token {
                check_secret("auth_data.access_token", t)?;
            }
            if o.refresh_token.is_none() && o.access_token.is_none() {
                return Err(AdminError::invalid(
                    "auth_data.refresh_token",
                    "an OAuth credential needs a refresh_token or an access_token",
                ));
            }
            if let Some(url) = &o.token_url {
                super::providers::check_base_url("auth_data.token_url", url)?;
            }
            Ok(())
        }
    }
}

fn check_label(label: &str) -> Result<(), AdminError> {
    if label.trim().is_empty() || label.chars().count() > 200 {
        return Err(AdminError::invalid("label", "must be 1 to 200 characters"));
    }
    Ok(())
}

fn check_weight(weight: u32) -> Result<(), AdminError> {
    if !(1..=MAX_ACCOUNT_WEIGHT).contains(&weight) {
        return Err(AdminError::invalid(
            "weight",
            format!("must be 1 to {MAX_ACCOUNT_WEIGHT}"),
        ));
    }
    Ok(())
}

fn check_metadata(metadata: &serde_json::Value) -> Result<(), AdminError> {
    if !metadata.is_object() {
        return Err(AdminError::invalid("metadata", "must be a JSON object"));
    }
    Ok(())
}

impl Admin {
    /// Accounts the caller may see, newest first: an admin's are all (or one
    /// provider's), anyone else's those they created.
    pub async fn list_accounts(
        &self,
        caller: &Caller,
        provider: Option<ProviderId>,
        page: Page,
    ) -> Result<Paged<Account>, AdminError> {
        let filter = AccountFilter {
            provider_id: provider,
            created_by: (!caller.is_admin()).then_some(caller.user.id),
            ..AccountFilter::default()
        };
        Ok(self.repository().list_accounts(&filter, page).await?)
    }

    /// One account the caller may see; anyone else's is "not found".
    pub async fn get_account(&self, caller: &Caller, id: AccountId) -> Result<Account, AdminError> {
        match self.repository().get_account(id).await {
            Ok(a) if caller.owns(a.created_by) => Ok(a),
            Ok(_) | Err(aigw_repository::Error::NotFound { .. }) => {
                Err(AdminError::NotFound(crate::Entity::Account))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn provider_for(&self, id: &ProviderId) -> Result<Provider, AdminError> {
        match self.repository().get_provider(id).await {
            Ok(p) => Ok(p),
            Err(aigw_repository::Error::NotFound { .. }) => {
                Err(AdminError::invalid("provider_id", "no such provider"))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Adds an account owned by the caller and assigns it a proxy.
    pub async fn create_account(
        &self,
        caller: &Caller,
        new: CreateAccount,
    ) -> Result<Account, AdminError> {
        check_label(&new.label)?;
        let provider = self.provider_for(&new.provider_id).await?;
        check_auth(&provider, &new.auth_data)?;
        if let Some(m) = &new.metadata {
            check_metadata(m)?;
        }
        if let Some(w) = new.weight {
            check_weight(w)?;
        }
        let mut row = NewAccount::new(new.provider_id, new.label, new.auth_data);
        row.weight = new.weight.unwrap_or(1);
        row.expires_at = row.auth_data.expires_at();
        row.is_active = new.is_active;
        row.created_by = Some(caller.user.id);
        if let Some(m) = new.metadata {
            row.metadata = m;
        }
        if row.is_active {
            row.proxy_id = crate::proxy_assign::proxy_for_new_account(self.repository()).await?;
        }
        let account = self.repository().insert_account(&row).await?;
        if row.proxy_id.is_some() {
            crate::proxy_assign::settle_new_account(self.repository(), account.id).await?;
        }
        self.reload().await?;
        Ok(self.repository().get_account(account.id).await?)
    }

    /// Changes an account the caller may manage. A new credential drops every
    /// cached token of the old one; activating assigns a proxy.
    pub async fn update_account(
        &self,
        caller: &Caller,
        id: AccountId,
        update: UpdateAccount,
    ) -> Result<Account, AdminError> {
        let current = self.get_account(caller, id).await?;
        if let Some(label) = &update.label {
            check_label(label)?;
        }
        if let Some(auth) = &update.auth_data {
            let provider = self.provider_for(&current.provider_id).await?;
            check_auth(&provider, auth)?;
        }
        if let Some(m) = &update.metadata {
            check_metadata(m)?;
        }
        if let Some(w) = update.weight {
            check_weight(w)?;
        }
        let new_credential = update.auth_data.is_some();
        // Like a new account, an activated one gets its proxy in the same
        // write, so no snapshot sees it active without one.
        let activated = !current.is_active && update.is_active == Some(true);
        let proxy = if activated && current.proxy_id.is_none() {
            crate::proxy_assign::proxy_for_new_account(self.repository()).await?
        } else {
            None
        };
        let patch = AccountPatch {
            label: update.label,
            expires_at: update.auth_data.as_ref().map(AuthData::expires_at),
            auth_data: update.auth_data,
            metadata: update.metadata,
            is_active: update.is_active,
            proxy_id: proxy.map(Some),
            health_status: None,
            weight: update.weight,
        };
        self.repository().update_account(id, &patch).await?;
        if proxy.is_some() {
            crate::proxy_assign::settle_new_account(self.repository(), id).await?;
        }
        if new_credential {
            self.forget_credential(id).await;
        }
        self.reload().await?;
        Ok(self.repository().get_account(id).await?)
    }

    /// Deletes an account the caller may manage.
    pub async fn delete_account(&self, caller: &Caller, id: AccountId) -> Result<(), AdminError> {
        self.get_account(caller, id).await?;
        self.repository().delete_account(id).await?;
        self.forget_credential(id).await;
        // Recounts the proxies' loads and drops the account from every snapshot.
        self.repository().recount_proxy_accounts().await?;
        Ok(self.reload().await?)
    }

    /// Drops every cached token of the account's old credential: here, in
    /// the shared cache, and (through the invalidation channel) in every
    /// other instance's memory, so none of them keeps sending it.
    async fn forget_credential(&self, id: AccountId) {
        if let Err(e) = self.gateway().credentials().invalidate(id).await {
            tracing::warn!(account = %id, error = %e, "could not drop the old credential's tokens");
        }
        let event = Invalidation::AccountCredentialsChanged { id: id.to_string() };
        if let Err(e) = self.gateway().state().publish(event).await {
            tracing::warn!(account = %id, error = %e, "could not tell other instances about a new credential");
        }
    }
}
