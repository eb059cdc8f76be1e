//! Identifier newtypes: one type per entity so ids of different entities cannot be mixed up.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::DomainError;

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh id. Version 7 UUIDs are time-ordered, which keeps index inserts local.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an existing UUID.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The underlying UUID.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = DomainError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self).map_err(|_| DomainError::InvalidId {
                    kind: $kind,
                    value: s.to_owned(),
                })
            }
        }
    };
}

macro_rules! int_id {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(i64);

        impl $name {
            /// Wraps a database-assigned id.
            pub const fn new(id: i64) -> Self {
                Self(id)
            }

            /// The numeric value.
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl From<i64> for $name {
            fn from(id: i64) -> Self {
                Self(id)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = DomainError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse::<i64>().map(Self).map_err(|_| DomainError::InvalidId {
                    kind: $kind,
                    value: s.to_owned(),
                })
            }
        }
    };
}

uuid_id!(
    /// The id of an upstream account (one API key or OAuth grant at a provider).
    AccountId,
    "account id"
);
uuid_id!(
    /// The id of a user of the management API.
    UserId,
    "user id"
);
uuid_id!(
    /// The id of a client API key (`ak_…`).
    ApiKeyId,
    "api key id"
);
uuid_id!(
    /// The id of one batch of the stats writer: its writes carry it, so that
    /// a batch retried after a commit that was reported as failed but had in
    /// fact succeeded is not counted twice.
    StatsBatchId,
    "stats batch id"
);

int_id!(
    /// The id of an outbound proxy in the pool.
    ProxyId,
    "proxy id"
);
int_id!(
    /// The id of a model mapping (alias → provider model).
    MappingId,
    "model mapping id"
);
int_id!(
    /// The id of a learned quota pattern.
    QuotaPatternId,
    "quota pattern id"
);
int_id!(
    /// The id of a request log row.
    RequestLogId,
    "request log id"
);

/// The id of a provider, a short stable slug such as `openai` or `antigravity`.
///
/// Valid ids are 1 to 50 characters of lowercase ASCII letters, digits, `-`, `_` and `.`,
/// so they are safe in URLs, Redis keys and metric labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProviderId(String);

impl ProviderId {
    /// The longest accepted id, in bytes.
    pub const MAX_LEN: usize = 50;

    /// Validates and wraps a provider id.
    pub fn new(id: impl Into<String>) -> Result<Self, DomainError> {
        let id = id.into();
        let valid = !id.is_empty()
            && id.len() <= Self::MAX_LEN
            && id.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
            });
        if valid {
            Ok(Self(id))
        } else {
            Err(DomainError::InvalidId {
                kind: "provider id",
                value: id,
            })
        }
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ProviderId {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for ProviderId {
    type Error = DomainError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<ProviderId> for String {
    fn from(id: ProviderId) -> Self {
        id.0
    }
}

impl AsRef<str> for ProviderId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_ids_round_trip_through_display_and_serde() {
        let id = AccountId::new();
        let parsed: AccountId = id.to_string().parse().unwrap();
        assert_eq!(parsed, id);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<AccountId>(&json).unwrap(), id);
    }

    #[test]
    fn bad_uuid_is_a_typed_error() {
        let err = "nope".parse::<UserId>().unwrap_err();
        assert_eq!(
            err,
            DomainError::InvalidId {
                kind: "user id",
                value: "nope".into()
            }
        );
    }

    #[test]
    fn int_ids_are_transparent() {
        let id: ProxyId = serde_json::from_str("42").unwrap();
        assert_eq!(id.get(), 42);
        assert_eq!(id.to_string(), "42");
        assert!("x".parse::<MappingId>().is_err());
    }

    #[test]
    fn provider_ids_are_validated() {
        assert!(ProviderId::new("openai").is_ok());
        assert!(ProviderId::new("glm-4.5_x").is_ok());
        assert!(ProviderId::new("").is_err());
        assert!(ProviderId::new("OpenAI").is_err());
        assert!(ProviderId::new("a b").is_err());
        assert!(ProviderId::new("x".repeat(51)).is_err());
        assert!(serde_json::from_str::<ProviderId>("\"Bad Id\"").is_err());
        let id: ProviderId = serde_json::from_str("\"gemini\"").unwrap();
        assert_eq!(id.as_str(), "gemini");
    }
}
