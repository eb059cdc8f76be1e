//! Outbound proxies, the pool accounts are assigned to, and their daily statistics.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{HealthStatus, ProviderId, ProxyId, ProxyProtocol};

/// A proxy URL, which may carry credentials (`http://user:pass@host:port`).
///
/// `Debug`, `Display` and `Serialize` print it with the password replaced by `****`;
/// [`ProxyUrl::expose`] gives the full URL for connecting and persisting.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ProxyUrl(String);

impl ProxyUrl {
    /// Wraps a URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The full URL, password included.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `****`.
    pub fn redacted(&self) -> String {
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return self.0.clone();
        };
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        // The last `@` ends the userinfo: a password may itself contain `@`.
        let Some(at) = authority.rfind('@') else {
            return self.0.clone();
        };
        let (userinfo, host) = authority.split_at(at);
        let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
        if userinfo.contains(':') {
            format!("{scheme}://{user}:****{host}{tail}")
        } else {
            format!("{scheme}://{user}{host}{tail}")
        }
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ProxyUrl").field(&self.redacted()).finish()
    }
}

impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for ProxyUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.redacted())
    }
}

impl<'de> Deserialize<'de> for ProxyUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self)
    }
}

impl From<&str> for ProxyUrl {
    fn from(url: &str) -> Self {
        Self(url.to_owned())
    }
}

impl From<String> for ProxyUrl {
    fn from(url: String) -> Self {
        Self(url)
    }
}

/// An outbound proxy in the pool.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Proxy {
    /// The id.
    pub id: ProxyId,
    /// The URL (unique in the pool).
    pub url: ProxyUrl,
    /// The protocol.
    pub protocol: ProxyProtocol,
    /// Whether accounts may be assigned to it.
    pub is_active: bool,
    /// Its health.
    pub health_status: HealthStatus,
    /// How many active accounts it may carry; 0 means unlimited.
    pub max_accounts: i64,
    /// How many active accounts are assigned to it (recounted, never blindly ±1).
    pub current_accounts: i64,
    /// When a request last went through it.
    pub last_used_at: Option<DateTime<Utc>>,
    /// How many requests went through it.
    pub usage_count: i64,
    /// Higher priority proxies are filled first.
    pub priority: i32,
    /// Relative weight among proxies of equal priority.
    pub weight: i32,
    /// Failures since the last success.
    pub consecutive_failures: i32,
    /// Consecutive failures after which it is marked down.
    pub max_failures: i32,
    /// Recent success rate, in percent.
    pub success_rate: f64,
    /// Recent average latency.
    pub avg_latency_ms: i64,
    /// When it was last health-checked.
    pub last_checked_at: Option<DateTime<Utc>>,
    /// How long its last health probe took (connect, tunnel and TLS handshake), in
    /// milliseconds; `None` before the first successful probe and after a failed one.
    pub last_latency_ms: Option<i64>,
    /// When it was marked down, if it is down.
    pub marked_down_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

/// A proxy to add to the pool; also the body of `POST /api/v1/proxies`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProxy {
    /// See [`Proxy::url`].
    pub url: ProxyUrl,
    /// See [`Proxy::protocol`]; when absent, taken from the URL's scheme.
    #[serde(default)]
    pub protocol: Option<ProxyProtocol>,
    /// See [`Proxy::is_active`]; defaults to true.
    #[serde(default = "crate::serde_helpers::default_true")]
    pub is_active: bool,
    /// See [`Proxy::max_accounts`].
    #[serde(default)]
    pub max_accounts: i64,
    /// See [`Proxy::priority`].
    #[serde(default)]
    pub priority: i32,
    /// See [`Proxy::weight`]; defaults to 1.
    #[serde(default = "default_weight")]
    pub weight: i32,
    /// See [`Proxy::max_failures`]; defaults to 3.
    #[serde(default = "default_max_failures")]
    pub max_failures: i32,
}

fn default_weight() -> i32 {
    1
}

fn default_max_failures() -> i32 {
    3
}

impl NewProxy {
    /// An active, unlimited proxy with default priority and weight.
    pub fn new(url: impl Into<ProxyUrl>) -> Self {
        Self {
            url: url.into(),
            protocol: None,
            is_active: true,
            max_accounts: 0,
            priority: 0,
            weight: default_weight(),
            max_failures: default_max_failures(),
        }
    }

    /// The protocol to store: the explicit one, else the URL's scheme, else HTTP.
    pub fn effective_protocol(&self) -> ProxyProtocol {
        self.protocol
            .or_else(|| ProxyProtocol::from_url(self.url.expose()))
            .unwrap_or_default()
    }
}

/// A partial update of a proxy: `None` leaves a field unchanged.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct ProxyPatch {
    /// New URL.
    #[serde(default)]
    pub url: Option<ProxyUrl>,
    /// New protocol.
    #[serde(default)]
    pub protocol: Option<ProxyProtocol>,
    /// New active flag.
    #[serde(default)]
    pub is_active: Option<bool>,
    /// New health status.
    #[serde(default)]
    pub health_status: Option<HealthStatus>,
    /// New capacity.
    #[serde(default)]
    pub max_accounts: Option<i64>,
    /// New priority.
    #[serde(default)]
    pub priority: Option<i32>,
    /// New weight.
    #[serde(default)]
    pub weight: Option<i32>,
    /// New failure threshold.
    #[serde(default)]
    pub max_failures: Option<i32>,
}

/// One day of traffic through one proxy for one provider (UTC date).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyStats {
    /// The proxy.
    pub proxy_id: ProxyId,
    /// The provider, or `None` for traffic not attributed to one.
    pub provider_id: Option<ProviderId>,
    /// The UTC day.
    pub date: NaiveDate,
    /// Requests sent.
    pub request_count: i64,
    /// Requests that succeeded.
    pub success_count: i64,
    /// Requests that failed.
    pub error_count: i64,
    /// Sum of latencies, for averages.
    pub total_latency_ms: i64,
}

/// Counts to add to a [`ProxyStats`] row; rows are created on first use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyStatsDelta {
    /// The proxy.
    pub proxy_id: ProxyId,
    /// The provider, or `None`.
    pub provider_id: Option<ProviderId>,
    /// The UTC day.
    pub date: NaiveDate,
    /// Requests to add.
    pub request_count: i64,
    /// Successes to add.
    pub success_count: i64,
    /// Errors to add.
    pub error_count: i64,
    /// Latency to add.
    pub total_latency_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_only_the_password() {
        let url = ProxyUrl::new("http://bob:p@ss:w0rd@10.0.0.1:3128/x");
        assert_eq!(url.redacted(), "http://bob:****@10.0.0.1:3128/x");
        assert_eq!(url.to_string(), url.redacted());
        assert!(!format!("{url:?}").contains("w0rd"));
        assert_eq!(
            serde_json::to_value(&url).unwrap(),
            "http://bob:****@10.0.0.1:3128/x"
        );
        assert_eq!(url.expose(), "http://bob:p@ss:w0rd@10.0.0.1:3128/x");
        assert_eq!(ProxyUrl::new("socks5://h:1").redacted(), "socks5://h:1");
        assert_eq!(ProxyUrl::new("http://tok@h:1").redacted(), "http://tok@h:1");
    }

    #[test]
    fn protocol_defaults_from_scheme() {
        assert_eq!(
            NewProxy::new("socks5://h:1").effective_protocol(),
            ProxyProtocol::Socks5
        );
        assert_eq!(
            NewProxy::new("h:1").effective_protocol(),
            ProxyProtocol::Http
        );
    }
}
