//! Users (admin CRUD) and client API keys (each user's own; admins all).

use aigw_domain::{
    ApiKey, ApiKeyFilter, ApiKeyId, ApiKeyPatch, NewUser, Page, Paged, Role, User, UserFilter,
    UserId, UserPatch,
};
use aigw_repository::SqlRepository;

use serde::Deserialize;

use super::auth::{Caller, check_password_rules, hash_password};
use super::{Admin, IssuedKey, issue_api_key};
use crate::AdminError;

/// A user to create; also the body of `POST /api/v1/users`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// The login name: 1 to 64 characters, no whitespace.
    pub username: String,
    /// The password, at least [`super::auth::MIN_PASSWORD_LEN`] characters.
    pub password: String,
    /// The role.
    pub role: Role,
}

/// A change to a user; `None` leaves a field as it is. Also the body of
/// `PUT /api/v1/users/{id}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpdateUser {
    /// New role.
    pub role: Option<Role>,
    /// Enable or disable (disabling revokes the user's sessions and keys at once).
    pub is_active: Option<bool>,
    /// New password (an admin resetting it).
    pub password: Option<String>,
}

fn check_username(username: &str) -> Result<(), AdminError> {
    if username.is_empty() || username.chars().count() > 64 {
        return Err(AdminError::invalid(
            "username",
            "must be 1 to 64 characters",
        ));
    }
    if username
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(AdminError::invalid(
            "username",
            "must not contain whitespace",
        ));
    }
    Ok(())
}

fn user_error(e: aigw_repository::Error) -> AdminError {
    match e {
        aigw_repository::Error::NotFound { .. } => AdminError::NotFound(crate::Entity::User),
        aigw_repository::Error::Conflict { .. } => {
            AdminError::Conflict("a user with this username already exists".to_owned())
        }
        e => e.into(),
    }
}

/// Creates a user on a bare repository (the CLI's `users create`).
pub async fn create_user(repository: &SqlRepository, new: &CreateUser) -> Result<User, AdminError> {
    check_username(&new.username)?;
    check_password_rules("password", &new.password)?;
    let row = NewUser {
        username: new.username.clone(),
        password_hash: hash_password(&new.password).await?,
        role: new.role,
        access_key_hash: None,
        access_key_prefix: None,
        is_active: true,
    };
    repository.insert_user(&row).await.map_err(user_error)
}

impl Admin {
    /// Users, newest first.
    pub async fn list_users(&self, page: Page) -> Result<Paged<User>, AdminError> {
        Ok(self
            .repository()
            .list_users(&UserFilter::default(), page)
            .await?)
    }

    /// One user.
    pub async fn get_user(&self, id: UserId) -> Result<User, AdminError> {
        self.repository().get_user(id).await.map_err(user_error)
    }

    /// Creates a user; 409 if the username is taken.
    pub async fn create_user(&self, new: &CreateUser) -> Result<User, AdminError> {
        create_user(self.repository(), new).await
    }

    /// Changes a user. An admin cannot demote or disable themself (the last
    /// admin could otherwise lock everyone out).
    pub async fn update_user(
        &self,
        caller: &Caller,
        id: UserId,
        update: &UpdateUser,
    ) -> Result<User, AdminError> {
        if id == caller.user.id
            && (update.is_active == Some(false) || update.role.is_some_and(|r| r != Role::Admin))
        {
            return Err(AdminError::Conflict(
                "you cannot disable or demote your own user".to_owned(),
            ));
        }
        let mut patch = UserPatch {
            role: update.role,
            is_active: update.is_active,
            ..UserPatch::default()
        };
        if let Some(password) = &update.password {
            check_password_rules("password", password)?;
            patch.password_hash = Some(self.hash_password(password).await?);
        }
        let user = self
            .repository()
            .update_user(id, &patch)
            .await
            .map_err(user_error)?;
        // A disabled user's client keys leave the snapshot everywhere.
        self.reload().await?;
        Ok(user)
    }

    /// Deletes a user, with their keys and mappings; never the caller themself.
    pub async fn delete_user(&self, caller: &Caller, id: UserId) -> Result<(), AdminError> {
        if id == caller.user.id {
            return Err(AdminError::Conflict(
                "you cannot delete your own user".to_owned(),
            ));
        }
        self.repository()
            .delete_user(id)
            .await
            .map_err(user_error)?;
        Ok(self.reload().await?)
    }

    /// Client keys: an admin's view is every key (or one user's with
    /// `user`); anyone else sees only their own.
    pub async fn list_api_keys(
        &self,
        caller: &Caller,
        user: Option<UserId>,
        page: Page,
    ) -> Result<Paged<ApiKey>, AdminError> {
        let user_id = if caller.is_admin() {
            user
        } else {
            Some(caller.user.id)
        };
        let filter = ApiKeyFilter {
            user_id,
            is_active: None,
        };
        Ok(self.repository().list_api_keys(&filter, page).await?)
    }

    /// Issues a client key for the caller, or (admins only) for `owner`.
    pub async fn create_api_key(
        &self,
        caller: &Caller,
        owner: Option<UserId>,
        label: Option<String>,
    ) -> Result<IssuedKey, AdminError> {
        let user = match owner {
            Some(id) if id != caller.user.id => {
                if !caller.is_admin() {
                    return Err(AdminError::Forbidden(
                        "only admins issue keys for other users",
                    ));
                }
                match self.repository().get_user(id).await {
                    Ok(user) => user,
                    Err(aigw_repository::Error::NotFound { .. }) => {
                        return Err(AdminError::invalid("user_id", "no such user"));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            _ => caller.user.clone(),
        };
        if label.as_ref().is_some_and(|l| l.chars().count() > 200) {
            return Err(AdminError::invalid(
                "label",
                "must be at most 200 characters",
            ));
        }
        let issued = issue_api_key(self.repository(), &user, label).await?;
        self.reload().await?;
        Ok(issued)
    }

    /// Revokes a client key (kept, inactive). Someone else's key is "not
    /// found" to a non-admin, so key ids cannot be probed. The change is
    /// published: every instance refuses the key on its next request.
    pub async fn revoke_api_key(
        &self,
        caller: &Caller,
        id: ApiKeyId,
    ) -> Result<ApiKey, AdminError> {
        let key = match self.repository().get_api_key(id).await {
            Ok(key) if caller.owns(Some(key.user_id)) => key,
            Ok(_) | Err(aigw_repository::Error::NotFound { .. }) => {
                return Err(AdminError::NotFound(crate::Entity::ApiKey));
            }
            Err(e) => return Err(e.into()),
        };
        let patch = ApiKeyPatch {
            label: None,
            is_active: Some(false),
        };
        let key = self.repository().update_api_key(key.id, &patch).await?;
        self.reload().await?;
        Ok(key)
    }
}
