//! Management-API users and the client API keys they own.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{ApiKeyId, Role, UserId};

/// A user of the management API. Hashes are never serialised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// The id.
    pub id: UserId,
    /// The login name (unique).
    pub username: String,
    /// The password hash (PHC string).
    #[serde(skip_serializing)]
    pub password_hash: String,
    /// The role.
    pub role: Role,
    /// The hash of the user's access key (`uk_…`), if one was issued (unique).
    #[serde(skip_serializing)]
    pub access_key_hash: Option<String>,
    /// The first characters of the access key, to recognise it.
    pub access_key_prefix: Option<String>,
    /// Whether the user may sign in.
    pub is_active: bool,
    /// The generation of the user's session tokens: a token issued under another
    /// value is refused. Raised by every change that must sign the user out
    /// (see [`UserPatch::revokes_sessions`]).
    #[serde(skip_serializing)]
    pub token_version: i64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

/// A user to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// See [`User::username`].
    pub username: String,
    /// See [`User::password_hash`].
    pub password_hash: String,
    /// See [`User::role`].
    pub role: Role,
    /// See [`User::access_key_hash`].
    pub access_key_hash: Option<String>,
    /// See [`User::access_key_prefix`].
    pub access_key_prefix: Option<String>,
    /// See [`User::is_active`].
    pub is_active: bool,
}

/// A partial update of a user: `None` leaves a field unchanged; for nullable fields
/// `Some(None)` clears it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserPatch {
    /// New login name.
    pub username: Option<String>,
    /// New password hash.
    pub password_hash: Option<String>,
    /// New role.
    pub role: Option<Role>,
    /// New access key hash, or `Some(None)` to revoke the access key.
    pub access_key_hash: Option<Option<String>>,
    /// New access key prefix.
    pub access_key_prefix: Option<Option<String>>,
    /// New active flag.
    pub is_active: Option<bool>,
}

impl UserPatch {
    /// Whether applying this patch signs the user out everywhere: a new
    /// password, a role change or disabling the user make every session token
    /// issued before it invalid (the stored [`User::token_version`] is raised
    /// in the same update).
    pub fn revokes_sessions(&self) -> bool {
        self.password_hash.is_some() || self.role.is_some() || self.is_active == Some(false)
    }
}

/// A client API key (`ak_…`). Only its hash is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    /// The id.
    pub id: ApiKeyId,
    /// The owner.
    pub user_id: UserId,
    /// The SHA-256 hex of the key (unique).
    #[serde(skip_serializing)]
    pub key_hash: String,
    /// The first characters of the key, to recognise it.
    pub key_prefix: String,
    /// A note.
    pub label: Option<String>,
    /// Whether it authenticates; revoked keys are kept inactive.
    pub is_active: bool,
    /// When it last authenticated a request.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

/// A key to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiKey {
    /// See [`ApiKey::user_id`].
    pub user_id: UserId,
    /// See [`ApiKey::key_hash`].
    pub key_hash: String,
    /// See [`ApiKey::key_prefix`].
    pub key_prefix: String,
    /// See [`ApiKey::label`].
    pub label: Option<String>,
    /// See [`ApiKey::is_active`].
    pub is_active: bool,
}

/// A partial update of a key: `None` leaves a field unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiKeyPatch {
    /// New label, or `Some(None)` to clear it.
    pub label: Option<Option<String>>,
    /// New active flag (false revokes).
    pub is_active: Option<bool>,
}
