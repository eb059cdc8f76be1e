//! Account credentials: the typed `auth_data` of an upstream account, and its masked summary.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{DomainError, Secret};

/// How an account authenticates upstream.
///
/// Stored as tagged JSON, e.g. `{"type":"api_key","api_key":"sk-…"}`,
/// `{"type":"bearer","token":"…"}` or `{"type":"oauth","access_token":"…",…}`.
/// It implements `Deserialize` but not `Serialize`: persist it with
/// [`AuthData::to_storage_json`] and show it with [`AuthData::masked`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AuthData {
    /// A static API key (OpenAI `Authorization: Bearer`, Anthropic `x-api-key`, Gemini `x-goog-api-key`).
    ApiKey {
        /// The key.
        api_key: Secret,
    },
    /// A static bearer token.
    Bearer {
        /// The token.
        token: Secret,
    },
    /// An OAuth grant whose access token is refreshed with the refresh token (boxed: it is
    /// ten times the size of the other variants).
    Oauth(Box<OAuthCredentials>),
}

/// The state of an OAuth grant.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct OAuthCredentials {
    /// The current access token, if one has been issued.
    #[serde(default)]
    pub access_token: Option<Secret>,
    /// The refresh token; without it the grant cannot be renewed.
    #[serde(default)]
    pub refresh_token: Option<Secret>,
    /// When the access token expires (UTC).
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// The token endpoint; `None` means the provider kind's default.
    #[serde(default)]
    pub token_url: Option<String>,
    /// The OAuth client id; `None` means the provider kind's default.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The OAuth client secret, for confidential clients.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// The Google Cloud project (Antigravity sends it in every request).
    #[serde(default)]
    pub project_id: Option<String>,
    /// The granted scopes, space separated.
    #[serde(default)]
    pub scope: Option<String>,
    /// The token type the server reported (normally `Bearer`).
    #[serde(default)]
    pub token_type: Option<String>,
    /// The account's e-mail or login, as reported at authorisation.
    #[serde(default)]
    pub email: Option<String>,
}

/// The kind of credential, without the credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    /// [`AuthData::ApiKey`].
    ApiKey,
    /// [`AuthData::Bearer`].
    Bearer,
    /// [`AuthData::Oauth`].
    Oauth,
}

impl AuthKind {
    /// The stable name used in JSON and the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ApiKey => "api_key",
            Self::Bearer => "bearer",
            Self::Oauth => "oauth",
        }
    }
}

impl std::fmt::Display for AuthKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AuthKind {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "api_key" => Ok(Self::ApiKey),
            "bearer" => Ok(Self::Bearer),
            "oauth" => Ok(Self::Oauth),
            other => Err(DomainError::UnknownAuthKind(other.to_owned())),
        }
    }
}

/// What an operator may see of a credential: its kind, the tail of the secret and the expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MaskedAuth {
    /// The credential kind.
    #[serde(rename = "type")]
    pub kind: AuthKind,
    /// `…` and the last 4 characters of the key or access token, or `****`.
    pub hint: Option<String>,
    /// When the access token expires (OAuth only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether a refresh token is stored (OAuth only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_refresh_token: Option<bool>,
    /// The Google Cloud project (OAuth only; not a secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
}

impl AuthData {
    /// The credential kind.
    pub const fn kind(&self) -> AuthKind {
        match self {
            Self::ApiKey { .. } => AuthKind::ApiKey,
            Self::Bearer { .. } => AuthKind::Bearer,
            Self::Oauth(_) => AuthKind::Oauth,
        }
    }

    /// The summary that is safe to return from the API or write to a log.
    pub fn masked(&self) -> MaskedAuth {
        match self {
            Self::ApiKey { api_key } => MaskedAuth {
                kind: AuthKind::ApiKey,
                hint: Some(api_key.hint()),
                expires_at: None,
                has_refresh_token: None,
                project_id: None,
            },
            Self::Bearer { token } => MaskedAuth {
                kind: AuthKind::Bearer,
                hint: Some(token.hint()),
                expires_at: None,
                has_refresh_token: None,
                project_id: None,
            },
            Self::Oauth(oauth) => MaskedAuth {
                kind: AuthKind::Oauth,
                hint: oauth.access_token.as_ref().map(Secret::hint),
                expires_at: oauth.expires_at,
                has_refresh_token: Some(oauth.refresh_token.is_some()),
                project_id: oauth.project_id.clone(),
            },
        }
    }

    /// When the current access token expires, if the credential expires at all.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        match self {
            Self::Oauth(oauth) => oauth.expires_at,
            Self::ApiKey { .. } | Self::Bearer { .. } => None,
        }
    }

    /// The full credential as JSON, secrets in plain text: for the persistence layer only.
    pub fn to_storage_json(&self) -> serde_json::Value {
        use serde_json::{Map, Value};

        fn put(map: &mut Map<String, Value>, key: &str, value: Option<&str>) {
            if let Some(value) = value {
                map.insert(key.to_owned(), Value::String(value.to_owned()));
            }
        }

        let mut map = Map::new();
        map.insert(
            "type".to_owned(),
            Value::String(self.kind().as_str().to_owned()),
        );
        match self {
            Self::ApiKey { api_key } => put(&mut map, "api_key", Some(api_key.expose())),
            Self::Bearer { token } => put(&mut map, "token", Some(token.expose())),
            Self::Oauth(o) => {
                put(
                    &mut map,
                    "access_token",
                    o.access_token.as_ref().map(Secret::expose),
                );
                put(
                    &mut map,
                    "refresh_token",
                    o.refresh_token.as_ref().map(Secret::expose),
                );
                // RFC 3339 with `Z`, the same text serde gives `DateTime<Utc>`, so it parses back.
                let expires_at = o
                    .expires_at
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
                put(&mut map, "expires_at", expires_at.as_deref());
                put(&mut map, "token_url", o.token_url.as_deref());
                put(&mut map, "client_id", o.client_id.as_deref());
                put(
                    &mut map,
                    "client_secret",
                    o.client_secret.as_ref().map(Secret::expose),
                );
                put(&mut map, "project_id", o.project_id.as_deref());
                put(&mut map, "scope", o.scope.as_deref());
                put(&mut map, "token_type", o.token_type.as_deref());
                put(&mut map, "email", o.email.as_deref());
            }
        }
        Value::Object(map)
    }

    /// Parses the storage JSON written by [`AuthData::to_storage_json`].
    pub fn from_storage_json(value: serde_json::Value) -> Result<Self, serde_json::Error> {
        serde_json::from_value(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn api_key_is_tagged_json() {
        let auth: AuthData =
            serde_json::from_value(json!({"type": "api_key", "api_key": "sk-abcdefghijkl1234"}))
                .unwrap();
        assert_eq!(auth.kind(), AuthKind::ApiKey);
        assert_eq!(
            auth.to_storage_json(),
            json!({"type": "api_key", "api_key": "sk-abcdefghijkl1234"})
        );
    }

    #[test]
    fn oauth_round_trips_through_storage_json() {
        let expires = "2030-01-02T03:04:05Z".parse::<DateTime<Utc>>().unwrap();
        let auth = AuthData::Oauth(Box::new(OAuthCredentials {
            access_token: Some(Secret::new("ya29.access-token-9876")),
            refresh_token: Some(Secret::new("1//refresh")),
            expires_at: Some(expires),
            token_url: Some("https://oauth2.example/token".into()),
            client_id: Some("client".into()),
            client_secret: Some(Secret::new("shh")),
            project_id: Some("proj-1".into()),
            scope: Some("a b".into()),
            token_type: Some("Bearer".into()),
            email: Some("a@example.com".into()),
        }));
        let stored = auth.to_storage_json();
        assert_eq!(stored["type"], "oauth");
        assert_eq!(stored["expires_at"], "2030-01-02T03:04:05Z");
        assert_eq!(AuthData::from_storage_json(stored).unwrap(), auth);
        assert_eq!(auth.expires_at(), Some(expires));
    }

    #[test]
    fn masked_summary_hides_secrets() {
        let auth = AuthData::Oauth(Box::new(OAuthCredentials {
            access_token: Some(Secret::new("ya29.access-token-9876")),
            refresh_token: Some(Secret::new("1//refresh-token-secret")),
            project_id: Some("proj-1".into()),
            ..OAuthCredentials::default()
        }));
        let masked = serde_json::to_string(&auth.masked()).unwrap();
        assert!(masked.contains("…9876"), "{masked}");
        assert!(!masked.contains("ya29"), "{masked}");
        assert!(!masked.contains("refresh-token-secret"), "{masked}");
        assert!(!format!("{auth:?}").contains("ya29"));
    }

    #[test]
    fn unknown_type_is_rejected() {
        assert!(serde_json::from_value::<AuthData>(json!({"type": "magic"})).is_err());
        assert!(serde_json::from_value::<AuthData>(json!({"api_key": "x"})).is_err());
    }
}
