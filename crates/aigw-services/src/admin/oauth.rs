//! Accounts from OAuth onboarding: creating the account of a completed flow
//! and refreshing an OAuth account's token on an operator's request.

use aigw_domain::{Account, AccountId, AuthData};

use super::Admin;
use super::accounts::CreateAccount;
use super::auth::{Caller, CallerCredential};
use crate::AdminError;
use crate::credentials::AccessToken;
use crate::onboarding::{Onboarded, OnboardingError, Refreshed};

impl Admin {
    /// Creates the account of a completed flow through the admin layer (validation, proxy
    /// assignment, snapshot reload), owned by the user who started the flow. `caller`, when
    /// the flow is completed by a signed-in request (a pasted URL), must be that user or an
    /// admin; the browser callback has no caller and is authorised by the state alone.
    pub async fn create_onboarded_account(
        &self,
        onboarded: Onboarded,
        caller: Option<&Caller>,
    ) -> Result<Account, AdminError> {
        let owner_id = onboarded
            .account
            .created_by
            .ok_or(AdminError::Forbidden("the flow was not started by a user"))?;
        if let Some(caller) = caller
            && !caller.owns(Some(owner_id))
        {
            return Err(AdminError::Forbidden(
                "the flow was started by another user",
            ));
        }
        let owner = match self.repository().get_user(owner_id).await {
            Ok(user) if user.is_active => user,
            Ok(_) | Err(aigw_repository::Error::NotFound { .. }) => {
                return Err(AdminError::Forbidden(
                    "the user who started the flow is gone",
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let owner = Caller {
            user: owner,
            credential: CallerCredential::Session,
        };
        let label: String = onboarded.account.label.chars().take(200).collect();
        self.create_account(
            &owner,
            CreateAccount {
                provider_id: onboarded.account.provider_id,
                label,
                auth_data: onboarded.account.auth_data,
                metadata: None,
                is_active: true,
                weight: None,
            },
        )
        .await
    }

    /// Refreshes an OAuth account's access token now, through the account's proxy, with the
    /// credential service (single-flight across instances, persisted, caches updated): what
    /// `POST /api/v1/oauth/refresh` does. Only the account's owner or an admin may; anyone
    /// else gets "not found".
    pub async fn refresh_oauth_account(
        &self,
        caller: &Caller,
        id: AccountId,
    ) -> Result<Refreshed, AdminError> {
        // Checks ownership; the row is then read again, fresh, below.
        self.get_account(caller, id).await?;
        let gateway = self.gateway();
        let account: Account = self.repository().get_account(id).await?;
        let AuthData::Oauth(creds) = &account.auth_data else {
            return Err(OnboardingError::NotOAuth.into());
        };
        let provider = self.repository().get_provider(&account.provider_id).await?;
        let egress = gateway
            .snapshot()
            .load()
            .account_egress(&account)
            .cloned()
            .ok_or(OnboardingError::Unavailable(
                "the account's proxy is not usable",
            ))?;
        // Forget every cached copy so the refresh cannot be answered from a cache, and lift
        // a failure cooldown: an operator asking for a refresh wants a new attempt now.
        gateway
            .credentials()
            .invalidate(id)
            .await
            .map_err(AdminError::Credential)?;
        let current = AccessToken::new(
            creds
                .access_token
                .as_ref()
                .map_or("", |t| t.expose())
                .to_owned(),
            creds.expires_at,
        );
        let token = gateway
            .credentials()
            .force_refresh(&account, provider.kind, &egress, &current)
            .await
            .map_err(AdminError::Credential)?;
        Ok(Refreshed {
            message: "token refreshed",
            account_id: id,
            expires_at: token.expires_at(),
        })
    }
}
