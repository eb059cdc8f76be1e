//! Small closed sets stored as text: health status, user role, proxy protocol,
//! account selection strategy.

use serde::{Deserialize, Serialize};

use crate::DomainError;

/// Implements `as_str`, `Display` and `FromStr` for a unit-only enum stored as text.
macro_rules! text_enum {
    ($name:ident, $err:ident, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $name {
            /// The stable name used in JSON and the database.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }

            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = DomainError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err(DomainError::$err(other.to_owned())),
                }
            }
        }
    };
}

/// The health of an account or a proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Usable.
    #[default]
    Healthy,
    /// Usable, but recently failing; preferred less.
    Degraded,
    /// Not usable until it recovers.
    Down,
}

text_enum!(HealthStatus, UnknownHealthStatus, {
    Healthy => "healthy",
    Degraded => "degraded",
    Down => "down",
});

/// The role of a management-API user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Full access.
    Admin,
    /// Manages their own keys, mappings and accounts.
    User,
    /// Contributes upstream accounts.
    Provider,
}

text_enum!(Role, UnknownRole, {
    Admin => "admin",
    User => "user",
    Provider => "provider",
});

/// The protocol of an outbound proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProxyProtocol {
    /// HTTP CONNECT proxy.
    #[default]
    Http,
    /// HTTP CONNECT proxy reached over TLS.
    Https,
    /// SOCKS5 proxy.
    Socks5,
}

text_enum!(ProxyProtocol, UnknownProxyProtocol, {
    Http => "http",
    Https => "https",
    Socks5 => "socks5",
});

impl ProxyProtocol {
    /// The protocol named by a proxy URL's scheme (`socks5h` counts as SOCKS5).
    pub fn from_url(url: &str) -> Option<Self> {
        let scheme = url.split_once("://")?.0.to_ascii_lowercase();
        match scheme.as_str() {
            "http" => Some(Self::Http),
            "https" => Some(Self::Https),
            "socks5" | "socks5h" => Some(Self::Socks5),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip() {
        for s in HealthStatus::ALL {
            assert_eq!(s.as_str().parse::<HealthStatus>().unwrap(), *s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for r in Role::ALL {
            assert_eq!(r.to_string().parse::<Role>().unwrap(), *r);
        }
        assert_eq!(
            "root".parse::<Role>().unwrap_err(),
            DomainError::UnknownRole("root".into())
        );
    }

    #[test]
    fn protocol_from_url() {
        assert_eq!(
            ProxyProtocol::from_url("socks5h://h:1"),
            Some(ProxyProtocol::Socks5)
        );
        assert_eq!(
            ProxyProtocol::from_url("HTTPS://h:1"),
            Some(ProxyProtocol::Https)
        );
        assert_eq!(ProxyProtocol::from_url("ftp://h"), None);
        assert_eq!(ProxyProtocol::from_url("h:1"), None);
    }
}

/// How a provider picks the account of each request among its usable ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelectionStrategy {
    /// One account after the other, one shared sequence per provider and
    /// model for every instance.
    #[default]
    RoundRobin,
    /// The first usable account in a stable order (by account id) until it
    /// cools down, then the next; no shared round trip.
    FillFirst,
    /// Smooth weighted round-robin by each account's `weight`, on the same
    /// shared sequence as round-robin.
    Weighted,
}

text_enum!(SelectionStrategy, UnknownSelectionStrategy, {
    RoundRobin => "round_robin",
    FillFirst => "fill_first",
    Weighted => "weighted",
});
