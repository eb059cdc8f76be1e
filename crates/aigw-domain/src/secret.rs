//! A secret string (API key, token, client secret) that never prints or serialises itself.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// A secret value. `Debug` prints a mask, and there is deliberately no `Display` and no
/// `Serialize`: the only way to the plain text is [`Secret::expose`], so every place that
/// sends a secret somewhere is visible in the code.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a plain-text secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The plain text. Call only to authenticate upstream or to persist the secret.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A hint safe to show an operator: `…` and the last 4 characters, or `****` when the
    /// secret is too short for its tail not to give most of it away.
    pub fn hint(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        if chars.len() < 12 {
            return "****".to_owned();
        }
        let tail: String = chars[chars.len() - 4..].iter().collect();
        format!("…{tail}")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(****)")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("sk-very-secret-value-1234");
        assert_eq!(format!("{s:?}"), "Secret(****)");
        assert!(!format!("{:?}", Some(&s)).contains("1234"));
    }

    #[test]
    fn hint_shows_only_the_tail_of_long_secrets() {
        assert_eq!(Secret::new("sk-very-secret-value-1234").hint(), "…1234");
        assert_eq!(Secret::new("short").hint(), "****");
    }
}
