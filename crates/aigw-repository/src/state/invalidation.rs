//! Invalidation messages: "configuration changed, rebuild your snapshot",
//! sent to every gateway instance, and the subscription that receives them.

use std::fmt;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// Capacity of the in-process invalidation channel. A subscriber that falls
/// this far behind gets one [`Invalidation::Snapshot`] instead of the lost
/// messages.
pub(crate) const BUS_CAPACITY: usize = 256;

/// Identifies one gateway instance, so that an instance can recognise (and
/// ignore) the echo of its own invalidations.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InstanceId(uuid::Uuid);

impl InstanceId {
    /// The origin of messages that no instance sent: a resynchronisation
    /// after lost messages or a reconnect.
    pub const UNKNOWN: InstanceId = InstanceId(uuid::Uuid::nil());

    /// A fresh random id.
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4())
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InstanceId({})", self.0)
    }
}

/// What changed. Receivers that do not know a finer-grained event rebuild
/// everything, which is always correct.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Invalidation {
    /// Configuration changed (providers, routes, accounts, proxies, keys):
    /// rebuild the whole in-memory snapshot.
    Snapshot,
    /// A client API key was revoked: stop accepting it at once.
    ApiKeyRevoked {
        /// Id of the revoked key.
        id: String,
    },
    /// An account's credentials changed: drop its cached token.
    AccountCredentialsChanged {
        /// Id of the account.
        id: String,
    },
    /// An account was put in cooldown by one instance: the others stop
    /// selecting it too, until the same moment. Applied as is, without a
    /// snapshot rebuild.
    Cooldown {
        /// Id of the account.
        account: String,
        /// The model, or `None` for every model of the account.
        model: Option<String>,
        /// When the cooldown ends, in Unix milliseconds (wall clock, so
        /// instances agree on it whatever their monotonic clocks).
        until_ms: i64,
        /// Why, as the cooldown reason's stable name.
        reason: String,
    },
    /// An account went `down` (or a probe of it failed), or came back: the
    /// stats writer decided it from traffic and stored it. Every instance
    /// takes a `down` account out of selection until `next_probe_ms`, and
    /// puts back one that is not `down`.
    AccountHealth {
        /// Id of the account.
        account: String,
        /// Its stored health now (`healthy`, `degraded` or `down`).
        status: String,
        /// When a probe may go to it, in Unix milliseconds (when `down`).
        next_probe_ms: i64,
        /// How long a claimed probe holds it, in milliseconds (when `down`).
        probe_wait_ms: i64,
    },
}

/// One invalidation with the instance that sent it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidationMessage {
    /// The sender; [`InstanceId::UNKNOWN`] for resynchronisations.
    pub origin: InstanceId,
    /// What changed.
    pub event: Invalidation,
}

impl InvalidationMessage {
    /// "Messages may have been lost: rebuild everything." Sent after a
    /// subscriber lagged, after the Redis subscription reconnected, and for a
    /// message that does not decode (e.g. from a newer instance).
    pub fn resync() -> Self {
        Self {
            origin: InstanceId::UNKNOWN,
            event: Invalidation::Snapshot,
        }
    }

    /// Whether `me` sent this message.
    pub fn is_from(&self, me: InstanceId) -> bool {
        self.origin == me
    }

    pub(crate) fn decode(payload: &str) -> Self {
        serde_json::from_str(payload).unwrap_or_else(|error| {
            tracing::debug!(%error, "undecodable invalidation message; rebuilding everything");
            Self::resync()
        })
    }
}

/// Receives invalidations: from every instance when state is in Redis, from
/// this process otherwise (and during a Redis outage).
#[derive(Debug)]
pub struct Subscription {
    rx: broadcast::Receiver<InvalidationMessage>,
}

impl Subscription {
    pub(crate) fn new(rx: broadcast::Receiver<InvalidationMessage>) -> Self {
        Self { rx }
    }

    /// The next message; `None` once the store is gone. A subscriber that
    /// fell behind receives one [`InvalidationMessage::resync`] in place of
    /// what it missed.
    pub async fn recv(&mut self) -> Option<InvalidationMessage> {
        match self.rx.recv().await {
            Ok(message) => Some(message),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "invalidation subscriber lagged; rebuilding everything"
                );
                Some(InvalidationMessage::resync())
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_through_json() {
        let message = InvalidationMessage {
            origin: InstanceId::random(),
            event: Invalidation::ApiKeyRevoked { id: "42".into() },
        };
        let json = serde_json::to_string(&message).unwrap();
        assert!(json.contains(r#""kind":"api_key_revoked""#), "{json}");
        assert_eq!(InvalidationMessage::decode(&json), message);
        let cooldown = InvalidationMessage {
            origin: InstanceId::random(),
            event: Invalidation::Cooldown {
                account: "a1".into(),
                model: Some("gpt-4o".into()),
                until_ms: 1_700_000_000_000,
                reason: "rate_limited".into(),
            },
        };
        let json = serde_json::to_string(&cooldown).unwrap();
        assert!(json.contains(r#""kind":"cooldown""#), "{json}");
        assert_eq!(InvalidationMessage::decode(&json), cooldown);
    }

    #[test]
    fn an_unknown_event_means_rebuild_everything() {
        let json = r#"{"origin":"6f1c1b2e-8d7e-4a52-9a4b-3c2d1e0f9a8b","event":{"kind":"from_the_future"}}"#;
        assert_eq!(
            InvalidationMessage::decode(json),
            InvalidationMessage::resync()
        );
    }
}
