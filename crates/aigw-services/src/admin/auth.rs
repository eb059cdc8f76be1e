//! Who is calling the management API, and signing in: password hashes
//! (argon2, PHC strings), session tokens (HS256 JWT), access keys (`uk_…`),
//! and the first admin created on an empty database.
//!
//! Every management request resolves its credential against the database
//! (the user row, and the key row for `ak_` keys), so a disabled user or a
//! revoked key is refused on every instance on its very next request. A
//! session token carries the user's `token_version` when issued, and is
//! refused once the stored one has moved on (a password, role or activation
//! change), with no lookup beyond the user row that is read anyway.

use std::time::Duration;

use aigw_domain::{ApiKeyId, Role, Secret, User, UserId};
use aigw_repository::SqlRepository;
use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::throttle::LoginLimits;
use crate::AdminError;

/// The prefix of a user's access key.
pub const ACCESS_KEY_PREFIX: &str = "uk_";

/// The shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 8;

/// How the management API signs in and bootstraps.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// The HS256 secret; when `None`, one is generated on first start and
    /// persisted in the database so every instance shares it.
    pub jwt_secret: Option<Secret>,
    /// How long a session token is valid.
    pub token_ttl: Duration,
    /// The password of the `admin` user created on an empty database; when
    /// `None`, a random one is generated and handed to the caller of
    /// [`crate::Runtime::start`] to show once.
    pub admin_password: Option<Secret>,
    /// Sign-in throttling and the password-hashing pool.
    pub login: LoginLimits,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            token_ttl: Duration::from_secs(24 * 3600),
            admin_password: None,
            login: LoginLimits::default(),
        }
    }
}

/// The signing keys of session tokens.
#[derive(Clone)]
pub(crate) struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl: Duration,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TokenKeys {
    /// Keys from the configured secret, else from the one persisted in the
    /// database (generated there by the first instance that starts, and sealed
    /// at rest with the repository's keyring).
    pub(crate) async fn load(
        repository: &SqlRepository,
        settings: &AuthSettings,
    ) -> Result<Self, aigw_repository::Error> {
        let secret = match &settings.jwt_secret {
            Some(secret) if !secret.is_empty() => secret.expose().to_owned(),
            _ => {
                let mut bytes = [0u8; 32];
                rand::rng().fill_bytes(&mut bytes);
                let fresh = hex::encode(bytes);
                repository
                    .init_secret_setting(aigw_repository::sql::JWT_SECRET_SETTING, &fresh)
                    .await?
                    .expose()
                    .to_owned()
            }
        };
        Ok(Self::from_secret(secret.as_bytes(), settings.token_ttl))
    }
}

impl TokenKeys {
    fn from_secret(secret: &[u8], ttl: Duration) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            ttl,
        }
    }

    /// A token for `user` issued at `now` (Unix seconds).
    pub(super) fn issue(&self, user: &User, now: i64) -> Result<String, AdminError> {
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let claims = Claims {
            sub: user.id.to_string(),
            username: user.username.clone(),
            role: user.role,
            ver: user.token_version,
            iat: now,
            exp: now.saturating_add(ttl),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| AdminError::Crypto("token signing failed"))
    }

    /// The claims of a token signed with these keys and not expired; any
    /// other token (another secret, another algorithm, expired) is refused.
    pub(super) fn decode(&self, token: &str) -> Result<Claims, AdminError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|_| AdminError::NotSignedIn)
    }
}

/// The claims of a session token.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Claims {
    /// The user id.
    pub(super) sub: String,
    /// The username when issued (informational).
    username: String,
    /// The role when issued (informational: the stored role is what counts).
    role: Role,
    /// The user's `token_version` when issued; the token is valid only while
    /// the stored one is the same. Tokens issued before versions existed
    /// carry none, which reads as the initial 0.
    #[serde(default)]
    pub(super) ver: i64,
    iat: i64,
    exp: i64,
}

/// Which credential a caller presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerCredential {
    /// A session token from `POST /api/v1/auth/login`.
    Session,
    /// A client API key (`ak_…`).
    ApiKey(ApiKeyId),
    /// The user's access key (`uk_…`).
    AccessKey,
}

/// An authenticated management caller: the current row of its user.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user, as stored now.
    pub user: User,
    /// How it authenticated.
    pub credential: CallerCredential,
}

impl Caller {
    /// The caller's role.
    pub fn role(&self) -> Role {
        self.user.role
    }

    /// Whether the caller is an admin.
    pub fn is_admin(&self) -> bool {
        self.user.role == Role::Admin
    }

    /// Whether the caller may act on something owned by `owner`: admins on
    /// anything, others on their own.
    pub fn owns(&self, owner: Option<UserId>) -> bool {
        self.is_admin() || owner == Some(self.user.id)
    }
}

/// A successful sign-in.
#[derive(Debug)]
pub struct Session {
    /// The signed token.
    pub token: String,
    /// The user signed in.
    pub user: User,
}

/// A freshly generated secret and the display prefix stored beside its hash.
#[derive(Debug)]
pub struct NewAccessKey {
    /// The key, shown once.
    pub raw: String,
}

/// A fresh `uk_` key: 32 random bytes as hex.
pub fn generate_access_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{ACCESS_KEY_PREFIX}{}", hex::encode(bytes))
}

/// A random password for a user created without one: 24 hex characters.
pub fn generate_password() -> String {
    let mut bytes = [0u8; 12];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A key shown as its first 7 characters, `...`, and its last 4.
pub fn mask_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 11 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..7].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}...{tail}")
}

/// The argon2id PHC string of `password`, computed off the async threads.
pub async fn hash_password(password: &str) -> Result<String, AdminError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|_| AdminError::Crypto("password hashing failed"))
    })
    .await
    .map_err(|_| AdminError::Crypto("password hashing failed"))?
}

/// Whether `password` matches the PHC string `hash`; a malformed hash (such
/// as the `!` of a user without a password) matches nothing. Runs off the
/// async threads.
pub async fn verify_password(password: &str, hash: &str) -> bool {
    let password = password.to_owned();
    let hash = hash.to_owned();
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

/// A PHC string no password matches, verified in place of a missing user's
/// hash so that an unknown username costs the same time as a wrong password.
pub(super) const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Zf0Aee2ND1pSHNXG0ISbkJFRUb3XO4oyK/JJQ9CMv9c";

/// Checks a password's length.
pub fn check_password_rules(field: &str, password: &str) -> Result<(), AdminError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(AdminError::invalid(
            field,
            format!("must be at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_masked_as_head_and_tail() {
        assert_eq!(mask_key("uk_0123456789abcdef"), "uk_0123...cdef");
        assert_eq!(mask_key("short"), "*****");
        let key = generate_access_key();
        assert!(key.starts_with("uk_") && key.len() == 3 + 64);
    }

    #[tokio::test]
    async fn passwords_hash_to_phc_and_verify() {
        let hash = hash_password("correct horse").await.unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse", &hash).await);
        assert!(!verify_password("wrong horse", &hash).await);
        assert!(!verify_password("anything", "!").await);
        // The dummy hash parses, so an unknown user costs a real verify.
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!verify_password("", DUMMY_HASH).await);
    }

    fn user() -> User {
        let now = chrono::Utc::now();
        User {
            id: UserId::new(),
            username: "u".into(),
            password_hash: "!".into(),
            role: Role::User,
            access_key_hash: None,
            access_key_prefix: None,
            is_active: true,
            token_version: 0,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn tokens_expire_and_bind_to_their_secret() {
        let keys = TokenKeys::from_secret(b"secret-one", Duration::from_secs(3600));
        let user = user();
        let now = chrono::Utc::now().timestamp();
        let token = keys.issue(&user, now).unwrap();
        assert_eq!(keys.decode(&token).unwrap().sub, user.id.to_string());
        // Issued two hours ago with a one-hour life: expired.
        let old = keys.issue(&user, now - 7200).unwrap();
        assert!(matches!(keys.decode(&old), Err(AdminError::NotSignedIn)));
        let other = TokenKeys::from_secret(b"secret-two", Duration::from_secs(3600));
        assert!(matches!(other.decode(&token), Err(AdminError::NotSignedIn)));
        // A token whose signature was cut off is refused too.
        let unsigned = token.rsplit_once('.').unwrap().0.to_owned() + ".";
        assert!(keys.decode(&unsigned).is_err());
    }

    #[test]
    fn tokens_carry_the_token_version() {
        let keys = TokenKeys::from_secret(b"secret-one", Duration::from_secs(3600));
        let mut user = user();
        user.token_version = 3;
        let token = keys.issue(&user, chrono::Utc::now().timestamp()).unwrap();
        assert_eq!(keys.decode(&token).unwrap().ver, 3);
    }

    #[test]
    fn short_passwords_name_the_field() {
        let err = check_password_rules("new_password", "1234567").unwrap_err();
        assert!(
            matches!(err, AdminError::InvalidField { ref field, .. } if field == "new_password")
        );
        assert!(check_password_rules("p", "12345678").is_ok());
    }
}
