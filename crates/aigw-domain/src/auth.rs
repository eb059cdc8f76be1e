//! Account credentials: the typed `auth_data` of an upstream account, and its masked summary.

use chrono::{DateTime, Utc};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

use crate::{DomainError, Secret};

/// How an account authenticates upstream.
///
/// Stored as tagged JSON, e.g. `{"type":"api_key","api_key":"sk-…"}`,
/// `{"type":"bearer","token":"…"}` or `{"type":"oauth","access_token":"…",…}`.
/// It implements `Deserialize` but not `Serialize`: persist it with
/// [`AuthData::to_storage_json`] and show it with [`AuthData::masked`].
///
/// `Deserialize` is what operators' input goes through (the management API,
/// the command line), so besides the tagged form it accepts the shapes the
/// original gateway's API and dashboard send (see [`AuthData::from_input`]).
/// Stored values are read with the strict [`AuthData::from_storage_json`].
#[derive(Debug, Clone, PartialEq)]
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
    /// When the access token expires (UTC). Read from an RFC 3339 string
    /// (any offset) or a Unix time in seconds or milliseconds.
    #[serde(default, deserialize_with = "expiry")]
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
    /// The ChatGPT account the grant acts for (the id token's
    /// `https://api.openai.com/auth` → `chatgpt_account_id` claim): Codex
    /// upstreams require it in `chatgpt-account-id` on every call.
    #[serde(default)]
    pub account_id: Option<String>,
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
                put(&mut map, "account_id", o.account_id.as_deref());
            }
        }
        Value::Object(map)
    }

    /// Parses the storage JSON written by [`AuthData::to_storage_json`]: the
    /// tagged form only.
    pub fn from_storage_json(value: serde_json::Value) -> Result<Self, serde_json::Error> {
        serde_json::from_value::<Tagged>(value).map(Self::from)
    }

    /// Parses a credential as an operator may write it:
    ///
    /// - the tagged form, `{"type":"api_key"|"bearer"|"oauth",…}`;
    /// - the original gateway's untagged form, its kind inferred from the
    ///   fields: `api_key` makes an API key (it wins when an access token is
    ///   there too, as the original's OpenAI and GLM providers read the key
    ///   first), `access_token` or `refresh_token` an OAuth grant, `token` a
    ///   bearer token;
    /// - either of those as a JSON string holding the object, as the
    ///   original's dashboard sends it.
    ///
    /// Fields this type has no room for (`id_token`, `expires_in`, …) are
    /// ignored on purpose: the original's OAuth flow stores them, but nothing
    /// here sends them upstream (`account_id`, the ChatGPT account, is kept:
    /// Codex upstreams need it). Error messages
    /// never quote the input, which holds secrets.
    pub fn from_input(value: serde_json::Value) -> Result<Self, serde_json::Error> {
        use serde_json::Value;

        let value = match value {
            Value::String(text) => match serde_json::from_str::<Value>(&text) {
                Ok(inner @ Value::Object(_)) => inner,
                _ => return Err(serde_json::Error::custom(NOT_A_CREDENTIAL)),
            },
            other => other,
        };
        let Value::Object(map) = &value else {
            return Err(serde_json::Error::custom(NOT_A_CREDENTIAL));
        };
        if map.contains_key("type") {
            return match map.get("type").and_then(Value::as_str) {
                Some("api_key" | "bearer" | "oauth") => Self::from_storage_json(value),
                _ => Err(serde_json::Error::custom(UNKNOWN_TYPE)),
            };
        }
        let has = |field: &str| map.get(field).is_some_and(|v| !v.is_null());
        let kind = if has("api_key") {
            AuthKind::ApiKey
        } else if has("access_token") || has("refresh_token") {
            AuthKind::Oauth
        } else if has("token") {
            AuthKind::Bearer
        } else {
            return Err(serde_json::Error::custom(NOT_A_CREDENTIAL));
        };
        match kind {
            AuthKind::ApiKey => Ok(Self::ApiKey {
                api_key: field(map, "api_key")?,
            }),
            AuthKind::Bearer => Ok(Self::Bearer {
                token: field(map, "token")?,
            }),
            AuthKind::Oauth => {
                serde_json::from_value::<OAuthCredentials>(value).map(|o| Self::Oauth(Box::new(o)))
            }
        }
    }
}

/// What a credential that fits no accepted form is told.
const NOT_A_CREDENTIAL: &str = "is not a credential; accepted forms: \
    {\"type\":\"api_key\",\"api_key\":\"…\"}, {\"type\":\"bearer\",\"token\":\"…\"}, \
    {\"type\":\"oauth\",\"access_token\":\"…\",\"refresh_token\":\"…\",\"expires_at\":\"…\"}, \
    the same objects without \"type\" (an api_key, or an access_token and/or \
    refresh_token), or any of them as a JSON string";

/// What a credential with an unknown `type` is told.
const UNKNOWN_TYPE: &str = "has an unknown type; accepted types: api_key, bearer, oauth \
    (or leave type out and give api_key, or access_token and/or refresh_token)";

/// A string field of an untagged credential.
fn field(
    map: &serde_json::Map<String, serde_json::Value>,
    name: &'static str,
) -> Result<Secret, serde_json::Error> {
    match map.get(name) {
        Some(serde_json::Value::String(s)) => Ok(Secret::new(s.as_str())),
        _ => Err(serde_json::Error::custom(format_args!(
            "{name} must be a string"
        ))),
    }
}

/// The stored, tagged form.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Tagged {
    ApiKey { api_key: Secret },
    Bearer { token: Secret },
    Oauth(Box<OAuthCredentials>),
}

impl From<Tagged> for AuthData {
    fn from(tagged: Tagged) -> Self {
        match tagged {
            Tagged::ApiKey { api_key } => Self::ApiKey { api_key },
            Tagged::Bearer { token } => Self::Bearer { token },
            Tagged::Oauth(o) => Self::Oauth(o),
        }
    }
}

impl<'de> Deserialize<'de> for AuthData {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        Self::from_input(value).map_err(D::Error::custom)
    }
}

/// Unix times above this are taken as milliseconds: as seconds they would
/// be past the year 5000, as milliseconds they are after March 1973.
const MILLIS_FROM: i64 = 100_000_000_000;

/// An expiry as RFC 3339 text (any offset; empty means none) or a Unix time
/// in seconds or milliseconds.
fn expiry<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    use serde_json::Value;

    let invalid = || D::Error::custom("expires_at must be an RFC 3339 time or a Unix time");
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
        Some(Value::String(text)) => DateTime::parse_from_rfc3339(text.trim())
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| invalid()),
        Some(Value::Number(n)) => {
            let whole = n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
                .ok_or_else(invalid)?;
            let at = if whole.abs() >= MILLIS_FROM {
                DateTime::from_timestamp_millis(whole)
            } else {
                DateTime::from_timestamp(whole, 0)
            };
            at.map(Some).ok_or_else(invalid)
        }
        Some(_) => Err(invalid()),
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
            account_id: Some("chatgpt-acct-1".into()),
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
    }

    /// Every shape of `auth_data` the original gateway's API and dashboard
    /// send (fixtures in `fixtures/auth_data_input.json`), and what is
    /// refused: each input either becomes exactly the stored form given, or
    /// fails with a message that names the accepted forms and quotes none of
    /// the input.
    #[test]
    fn original_shapes_are_accepted_and_others_refused_clearly() {
        let cases: Vec<serde_json::Value> =
            serde_json::from_str(include_str!("../fixtures/auth_data_input.json")).unwrap();
        assert!(cases.len() > 10);
        for case in cases {
            let name = case["name"].as_str().unwrap();
            let input = case["input"].clone();
            let parsed = serde_json::from_value::<AuthData>(input.clone());
            match (&case["stored"], &case["error"]) {
                (stored @ serde_json::Value::Object(_), _) => {
                    let auth = parsed.unwrap_or_else(|e| panic!("{name}: {e}"));
                    assert_eq!(&auth.to_storage_json(), stored, "{name}");
                    // The stored form reads back as the same credential.
                    assert_eq!(
                        AuthData::from_storage_json(stored.clone()).unwrap(),
                        auth,
                        "{name}"
                    );
                    // The command line parses the same text.
                    let text = input.to_string();
                    assert_eq!(
                        serde_json::from_str::<AuthData>(&text).unwrap(),
                        auth,
                        "{name}"
                    );
                }
                (_, serde_json::Value::String(expected)) => {
                    let message = parsed.map(|_| ()).expect_err(name).to_string();
                    assert!(message.contains(expected.as_str()), "{name}: {message}");
                    assert!(!message.contains("secret-in-error"), "{name}: {message}");
                }
                _ => panic!("{name}: a case needs `stored` or `error`"),
            }
        }
    }

    #[test]
    fn storage_reads_only_the_tagged_form() {
        assert!(AuthData::from_storage_json(json!({"api_key": "sk-1"})).is_err());
        assert!(
            AuthData::from_storage_json(json!("{\"type\":\"api_key\",\"api_key\":\"k\"}")).is_err()
        );
    }
}
