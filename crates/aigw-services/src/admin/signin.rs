//! Signing in on the admin service: resolving a presented credential to a
//! caller, password sign-in and change, access keys, and the first admin.

use std::net::IpAddr;

use aigw_domain::{NewUser, Role, Secret, User, UserId, UserPatch};

use super::auth::{
    ACCESS_KEY_PREFIX, Caller, CallerCredential, Claims, DUMMY_HASH, NewAccessKey, Session,
    check_password_rules, generate_access_key, generate_password, hash_password, mask_key,
    verify_password,
};
use super::{API_KEY_PREFIX, Admin, key_hash};
use crate::AdminError;

impl Admin {
    /// Resolves a presented credential: a session token, an `ak_` API key or a
    /// `uk_` access key. The user must exist and be active, and an API key must
    /// not be revoked, as of now.
    pub async fn authenticate(&self, presented: &str) -> Result<Caller, AdminError> {
        let repo = self.repository();
        let (user, credential) = if presented.starts_with(API_KEY_PREFIX) {
            let key = match repo.get_api_key_by_hash(&key_hash(presented)).await {
                Ok(key) if key.is_active => key,
                Ok(_) | Err(aigw_repository::Error::NotFound { .. }) => {
                    return Err(AdminError::NotSignedIn);
                }
                Err(e) => return Err(e.into()),
            };
            (
                self.active_user(key.user_id).await?,
                CallerCredential::ApiKey(key.id),
            )
        } else if presented.starts_with(ACCESS_KEY_PREFIX) {
            match repo.get_user_by_access_key_hash(&key_hash(presented)).await {
                Ok(user) => (user, CallerCredential::AccessKey),
                Err(aigw_repository::Error::NotFound { .. }) => {
                    return Err(AdminError::NotSignedIn);
                }
                Err(e) => return Err(e.into()),
            }
        } else {
            let claims = self.decode_token(presented)?;
            let id: UserId = claims.sub.parse().map_err(|_| AdminError::NotSignedIn)?;
            let user = self.active_user(id).await?;
            // Issued before the password, role or activation last changed.
            if claims.ver != user.token_version {
                return Err(AdminError::NotSignedIn);
            }
            (user, CallerCredential::Session)
        };
        if !user.is_active {
            return Err(AdminError::NotSignedIn);
        }
        Ok(Caller { user, credential })
    }

    /// [`verify_password`] on the instance's bounded hashing pool.
    pub(crate) async fn verify_password(
        &self,
        password: &str,
        hash: &str,
    ) -> Result<bool, AdminError> {
        let _permit = self.inner.throttle.hashing_permit().await?;
        Ok(verify_password(password, hash).await)
    }

    /// [`hash_password`] on the instance's bounded hashing pool.
    pub(crate) async fn hash_password(&self, password: &str) -> Result<String, AdminError> {
        let _permit = self.inner.throttle.hashing_permit().await?;
        hash_password(password).await
    }

    async fn active_user(&self, id: UserId) -> Result<User, AdminError> {
        match self.repository().get_user(id).await {
            Ok(user) if user.is_active => Ok(user),
            Ok(_) | Err(aigw_repository::Error::NotFound { .. }) => Err(AdminError::NotSignedIn),
            Err(e) => Err(e.into()),
        }
    }

    fn decode_token(&self, token: &str) -> Result<Claims, AdminError> {
        self.inner.tokens.decode(token)
    }

    /// A session token for `user`.
    pub fn issue_token(&self, user: &User) -> Result<String, AdminError> {
        self.inner
            .tokens
            .issue(user, chrono::Utc::now().timestamp())
    }

    /// Signs in with a username and password from the client `address` (the
    /// TCP peer). An unknown user and a wrong password are the same error and
    /// cost the same (one argon2 verify); a disabled user with the right
    /// password is told so. Attempts are throttled per username and per
    /// address before any password is checked (see [`super::throttle`]).
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        address: Option<IpAddr>,
    ) -> Result<Session, AdminError> {
        let attempt = self.inner.throttle.admit(username, address).await?;
        let user = match self.repository().get_user_by_username(username).await {
            Ok(user) => Some(user),
            Err(aigw_repository::Error::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let hash = user
            .as_ref()
            .map_or(DUMMY_HASH, |u| u.password_hash.as_str());
        let matches = self.verify_password(password, hash).await?;
        let user = match user {
            Some(user) if matches => user,
            _ => return Err(AdminError::InvalidCredentials),
        };
        self.inner.throttle.succeeded(attempt).await;
        if !user.is_active {
            return Err(AdminError::UserDisabled);
        }
        let token = self.issue_token(&user)?;
        Ok(Session { token, user })
    }

    /// Changes the caller's password after checking the current one. Every
    /// session token of the user issued before stops working; the returned
    /// session is a fresh one, so the caller stays signed in.
    pub async fn change_password(
        &self,
        caller: &Caller,
        current: &str,
        new: &str,
    ) -> Result<Session, AdminError> {
        check_password_rules("new_password", new)?;
        if !self
            .verify_password(current, &caller.user.password_hash)
            .await?
        {
            return Err(AdminError::invalid(
                "current_password",
                "the current password is incorrect",
            ));
        }
        let patch = UserPatch {
            password_hash: Some(self.hash_password(new).await?),
            ..UserPatch::default()
        };
        let user = self
            .repository()
            .update_user(caller.user.id, &patch)
            .await?;
        let token = self.issue_token(&user)?;
        Ok(Session { token, user })
    }

    /// Replaces the caller's access key with a fresh one; the old key stops
    /// working at once. The new key is returned once and stored as a hash.
    pub async fn regenerate_access_key(&self, user: UserId) -> Result<NewAccessKey, AdminError> {
        let raw = generate_access_key();
        let patch = UserPatch {
            access_key_hash: Some(Some(key_hash(&raw))),
            access_key_prefix: Some(Some(mask_key(&raw))),
            ..UserPatch::default()
        };
        self.repository().update_user(user, &patch).await?;
        Ok(NewAccessKey { raw })
    }

    /// Creates the `admin` user when the database has no user at all. Returns
    /// the generated password when none was configured, for the operator to
    /// be shown once.
    pub(crate) async fn bootstrap_admin(
        &self,
        configured: Option<&Secret>,
    ) -> Result<Option<Secret>, AdminError> {
        if self.repository().count_users().await? > 0 {
            return Ok(None);
        }
        let (password, generated) = match configured {
            Some(p) if !p.is_empty() => (p.expose().to_owned(), false),
            _ => (generate_password(), true),
        };
        let new = NewUser {
            username: "admin".to_owned(),
            password_hash: hash_password(&password).await?,
            role: Role::Admin,
            access_key_hash: None,
            access_key_prefix: None,
            is_active: true,
        };
        match self.repository().insert_user(&new).await {
            Ok(_) => {
                tracing::info!("created the first admin user `admin`");
                Ok(generated.then(|| Secret::new(password)))
            }
            // Another instance created it first: its password stands.
            Err(aigw_repository::Error::Conflict { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}
