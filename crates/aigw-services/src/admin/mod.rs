//! Operator use-cases shared by the command line and the management API.
//!
//! The free functions here (issue a key, add an account) work on a bare
//! repository, for the CLI; a caller running next to a live gateway reloads
//! it afterwards. The management API goes through [`Admin`]: every write
//! there validates, persists, then rebuilds this instance's snapshot and
//! tells the other instances to rebuild theirs.

pub mod accounts;
pub mod auth;
mod kinds;
pub mod mappings;
mod oauth;
pub mod providers;
pub mod proxies;
mod signin;
pub mod throttle;
pub mod users;

use std::sync::Arc;

use aigw_domain::{
    Account, ApiKey, AuthData, NewAccount, NewApiKey, NewUser, ProviderId, Role, User,
};
use aigw_repository::SqlRepository;
use aigw_repository::state::Invalidation;
use rand::RngCore;

pub use kinds::describe_kinds;

use crate::AdminError;
use crate::gateway::Gateway;
use crate::rebuild::SnapshotBuilder;

/// The management API's service layer: the repository, the data plane whose
/// snapshot every write refreshes, and the session-token keys. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Admin {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    repository: SqlRepository,
    gateway: Gateway,
    builder: SnapshotBuilder,
    tokens: auth::TokenKeys,
    throttle: throttle::LoginThrottle,
    onboarding: crate::onboarding::Onboarding,
}

impl Admin {
    pub(crate) fn new(
        repository: SqlRepository,
        gateway: Gateway,
        builder: SnapshotBuilder,
        tokens: auth::TokenKeys,
        login: throttle::LoginLimits,
        onboarding: crate::onboarding::Onboarding,
    ) -> Self {
        let throttle = throttle::LoginThrottle::new(login, gateway.state().clone());
        Self {
            inner: Arc::new(Inner {
                repository,
                gateway,
                builder,
                tokens,
                throttle,
                onboarding,
            }),
        }
    }

    /// The SQL store (management requests may query it; the data plane never does).
    pub fn repository(&self) -> &SqlRepository {
        &self.inner.repository
    }

    /// The data plane this service layer keeps current.
    pub fn gateway(&self) -> &Gateway {
        &self.inner.gateway
    }

    /// OAuth onboarding (see [`crate::onboarding`]).
    pub fn onboarding(&self) -> &crate::onboarding::Onboarding {
        &self.inner.onboarding
    }

    /// Operator reports over this instance (see [`crate::reports`]).
    pub fn reports(&self) -> crate::reports::Reports {
        crate::reports::Reports::new(self.repository().clone(), self.gateway().clone())
    }

    /// Re-runs proxy assignment, rebuilds the snapshot now and tells the other
    /// instances to do the same. Called after every write.
    pub async fn reload(&self) -> Result<(), aigw_repository::Error> {
        crate::proxy_assign::assign_proxies(self.repository(), false).await?;
        self.inner
            .builder
            .rebuild(self.repository(), self.gateway())
            .await?;
        if let Err(e) = self.gateway().state().publish(Invalidation::Snapshot).await {
            // The other instances still catch up on their periodic refresh.
            tracing::warn!(error = %e, "could not tell other instances about a change");
        }
        Ok(())
    }
}

/// The prefix of gateway client keys.
pub const API_KEY_PREFIX: &str = "ak_";

/// A client key as issued: the raw key, shown once, and its stored row.
#[derive(Debug)]
pub struct IssuedKey {
    /// The key to hand to the client. Not stored anywhere.
    pub raw: String,
    /// The stored row (hash and display prefix only).
    pub key: ApiKey,
}

/// A fresh `ak_` key: 24 random bytes as hex, from the thread's CSPRNG.
pub fn generate_api_key() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    format!("{API_KEY_PREFIX}{}", hex::encode(bytes))
}

/// The hex of [`hash_key`](crate::snapshot::hash_key): what the database
/// stores for a client key or an access key.
pub fn key_hash(raw: &str) -> String {
    hex::encode(crate::snapshot::hash_key(raw))
}

/// Issues a client key for `user`.
pub async fn issue_api_key(
    repository: &SqlRepository,
    user: &User,
    label: Option<String>,
) -> Result<IssuedKey, AdminError> {
    let raw = generate_api_key();
    let key = repository
        .insert_api_key(&NewApiKey {
            user_id: user.id,
            key_hash: key_hash(&raw),
            key_prefix: raw.chars().take(12).collect(),
            label,
            is_active: true,
        })
        .await?;
    Ok(IssuedKey { raw, key })
}

/// The user `username`, created as an admin with no usable password if it
/// does not exist yet (it can sign in once a password is set for it).
pub async fn ensure_user(repository: &SqlRepository, username: &str) -> Result<User, AdminError> {
    match repository.get_user_by_username(username).await {
        Ok(user) => Ok(user),
        Err(aigw_repository::Error::NotFound { .. }) => {
            let created = repository
                .insert_user(&NewUser {
                    username: username.to_owned(),
                    // Not a valid password hash: no password matches it.
                    password_hash: "!".to_owned(),
                    role: Role::Admin,
                    access_key_hash: None,
                    access_key_prefix: None,
                    is_active: true,
                })
                .await;
            match created {
                Ok(user) => Ok(user),
                // Created concurrently by another process: use that one.
                Err(aigw_repository::Error::Conflict { .. }) => {
                    Ok(repository.get_user_by_username(username).await?)
                }
                Err(e) => Err(e.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Adds an account to `provider`, checking that the provider exists and
/// accepts the credential's kind.
pub async fn add_account(
    repository: &SqlRepository,
    provider: &ProviderId,
    label: &str,
    auth: AuthData,
) -> Result<Account, AdminError> {
    let found = match repository.get_provider(provider).await {
        Ok(p) => p,
        Err(aigw_repository::Error::NotFound { .. }) => {
            return Err(AdminError::UnknownProvider(provider.to_string()));
        }
        Err(e) => return Err(e.into()),
    };
    let kind = auth.kind();
    if !found.supported_auth_types.is_empty() && !found.supported_auth_types.contains(&kind) {
        return Err(AdminError::UnsupportedAuthKind {
            provider: provider.clone(),
            kind,
            supported: found.supported_auth_types,
        });
    }
    let mut new = NewAccount::new(provider.clone(), label, auth);
    new.expires_at = new.auth_data.expires_at();
    new.proxy_id = crate::proxy_assign::proxy_for_new_account(repository).await?;
    let account = repository.insert_account(&new).await?;
    if new.proxy_id.is_some() {
        crate::proxy_assign::settle_new_account(repository, account.id).await?;
    }
    crate::proxy_assign::assign_proxies(repository, false).await?;
    Ok(repository.get_account(account.id).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_random_and_hashed() {
        let a = generate_api_key();
        let b = generate_api_key();
        assert!(a.starts_with("ak_") && a.len() == 3 + 48, "{a}");
        assert_ne!(a, b);
        assert_eq!(key_hash(&a).len(), 64);
        assert_ne!(key_hash(&a), key_hash(&b));
    }
}
