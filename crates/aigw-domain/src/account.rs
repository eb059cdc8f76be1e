//! Upstream accounts: one credential at one provider, with its health and usage counters.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, Serializer};

use crate::{AccountId, AuthData, HealthStatus, ProviderId, ProxyId, UserId};

/// An upstream account.
///
/// Its `Serialize` impl writes `auth_data` as the masked summary, so serialising an
/// account never leaks its credential.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Account {
    /// The id.
    pub id: AccountId,
    /// The provider it belongs to.
    pub provider_id: ProviderId,
    /// A human label, e.g. the account's e-mail.
    pub label: String,
    /// The credential.
    #[serde(serialize_with = "serialize_masked")]
    pub auth_data: AuthData,
    /// Free-form metadata.
    pub metadata: serde_json::Value,
    /// Whether it may be selected.
    pub is_active: bool,
    /// The outbound proxy assigned to it, if any.
    pub proxy_id: Option<ProxyId>,
    /// When its credential expires, if it does.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was last selected for a request.
    pub last_used_at: Option<DateTime<Utc>>,
    /// How many requests it has served.
    pub usage_count: i64,
    /// Its health.
    pub health_status: HealthStatus,
    /// Failures since the last success.
    pub failure_count: i64,
    /// When it last failed.
    pub last_error_at: Option<DateTime<Utc>>,
    /// The last failure's message.
    pub last_error_msg: Option<String>,
    /// When it last succeeded.
    pub last_success_at: Option<DateTime<Utc>>,
    /// The user who added it.
    pub created_by: Option<UserId>,
    /// Its share of its provider's traffic under the `weighted` strategy,
    /// 1 to [`MAX_ACCOUNT_WEIGHT`].
    pub weight: u32,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

/// The largest account weight: a provider's weighted sequence has one entry
/// per unit of weight, so the bound keeps it small (1,000 accounts at most
/// 100,000 entries).
pub const MAX_ACCOUNT_WEIGHT: u32 = 100;

fn default_weight() -> u32 {
    1
}

fn serialize_masked<S: Serializer>(auth: &AuthData, serializer: S) -> Result<S::Ok, S::Error> {
    auth.masked().serialize(serializer)
}

/// An account to create. Counters start at zero and health at `healthy`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct NewAccount {
    /// See [`Account::provider_id`].
    pub provider_id: ProviderId,
    /// See [`Account::label`].
    pub label: String,
    /// See [`Account::auth_data`].
    pub auth_data: AuthData,
    /// See [`Account::metadata`]; defaults to `{}`.
    #[serde(default = "crate::serde_helpers::empty_object")]
    pub metadata: serde_json::Value,
    /// See [`Account::is_active`]; defaults to true, and false is kept.
    #[serde(default = "crate::serde_helpers::default_true")]
    pub is_active: bool,
    /// See [`Account::proxy_id`].
    #[serde(default)]
    pub proxy_id: Option<ProxyId>,
    /// See [`Account::expires_at`]; when absent, the OAuth token's expiry is used.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// See [`Account::created_by`].
    #[serde(default)]
    pub created_by: Option<UserId>,
    /// See [`Account::weight`]; defaults to 1.
    #[serde(default = "default_weight")]
    pub weight: u32,
}

impl NewAccount {
    /// A new active account with empty metadata and no proxy.
    pub fn new(provider_id: ProviderId, label: impl Into<String>, auth_data: AuthData) -> Self {
        Self {
            provider_id,
            label: label.into(),
            auth_data,
            metadata: crate::serde_helpers::empty_object(),
            is_active: true,
            proxy_id: None,
            expires_at: None,
            created_by: None,
            weight: 1,
        }
    }
}

impl Account {
    /// The account a store would hold for `new` under `id`, created `at`,
    /// with no usage or health history yet. For in-memory stores, tests and
    /// benches; the SQL repository builds its rows itself.
    pub fn from_new(id: AccountId, new: NewAccount, at: DateTime<Utc>) -> Self {
        Self {
            id,
            provider_id: new.provider_id,
            label: new.label,
            auth_data: new.auth_data,
            metadata: new.metadata,
            is_active: new.is_active,
            proxy_id: new.proxy_id,
            expires_at: new.expires_at,
            last_used_at: None,
            usage_count: 0,
            health_status: HealthStatus::Healthy,
            failure_count: 0,
            last_error_at: None,
            last_error_msg: None,
            last_success_at: None,
            created_by: new.created_by,
            weight: new.weight,
            created_at: at,
            updated_at: at,
        }
    }
}

/// A partial update of an account: `None` leaves a field unchanged; for nullable fields
/// `Some(None)` clears it. Counters and health history change only through the
/// repository's counter operations.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct AccountPatch {
    /// New label.
    #[serde(default)]
    pub label: Option<String>,
    /// New credential.
    #[serde(default)]
    pub auth_data: Option<AuthData>,
    /// New metadata.
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
    /// New active flag.
    #[serde(default)]
    pub is_active: Option<bool>,
    /// New proxy, or `Some(None)` to run without one.
    #[serde(default, deserialize_with = "crate::serde_helpers::double_option")]
    pub proxy_id: Option<Option<ProxyId>>,
    /// New credential expiry.
    #[serde(default, deserialize_with = "crate::serde_helpers::double_option")]
    pub expires_at: Option<Option<DateTime<Utc>>>,
    /// New health status.
    #[serde(default)]
    pub health_status: Option<HealthStatus>,
    /// New weight.
    #[serde(default)]
    pub weight: Option<u32>,
}

/// When consecutive failures make an account `degraded`, then `down`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthThresholds {
    /// Consecutive failures from which an account is `degraded`.
    pub degraded_after: i64,
    /// Consecutive failures from which an account is `down`.
    pub down_after: i64,
}

impl HealthThresholds {
    /// The health of an account after `failures` consecutive failures.
    pub fn status(&self, failures: i64) -> HealthStatus {
        if failures >= self.down_after.max(1) {
            HealthStatus::Down
        } else if failures >= self.degraded_after.max(1) {
            HealthStatus::Degraded
        } else {
            HealthStatus::Healthy
        }
    }
}

/// What one stats batch saw of one account's attempts, in order: whether
/// any succeeded, and the failures since the last success (or since the
/// batch began, when none did).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountHealthDelta {
    /// The account.
    pub account_id: AccountId,
    /// When its last success of the batch happened, if one did: it heals
    /// the account (the failure count restarts from the failures after it).
    pub last_success_at: Option<DateTime<Utc>>,
    /// Failures after the last success (all of them without one).
    pub failures: i64,
    /// The last failure: when, and its message.
    pub last_error: Option<(DateTime<Utc>, String)>,
}

/// An account's health after a batch of outcomes was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountHealthChange {
    /// The account.
    pub account_id: AccountId,
    /// Its health before.
    pub before: HealthStatus,
    /// Its health now.
    pub after: HealthStatus,
    /// Its consecutive failures now.
    pub failure_count: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;
    use serde_json::json;

    #[test]
    fn serialised_account_masks_the_credential() {
        let now = Utc::now();
        let account = Account {
            id: AccountId::new(),
            provider_id: ProviderId::new("openai").unwrap(),
            label: "a".into(),
            auth_data: AuthData::ApiKey {
                api_key: Secret::new("sk-proj-abcdefgh12345678"),
            },
            metadata: json!({}),
            is_active: true,
            proxy_id: None,
            expires_at: None,
            last_used_at: None,
            usage_count: 0,
            health_status: HealthStatus::Healthy,
            failure_count: 0,
            last_error_at: None,
            last_error_msg: None,
            last_success_at: None,
            created_by: None,
            weight: 1,
            created_at: now,
            updated_at: now,
        };
        let json = serde_json::to_value(&account).unwrap();
        assert_eq!(
            json["auth_data"],
            json!({"type": "api_key", "hint": "…5678"})
        );
        assert!(!json.to_string().contains("abcdefgh"));
    }

    #[test]
    fn patch_distinguishes_absent_null_and_value() {
        let absent: AccountPatch = serde_json::from_value(json!({})).unwrap();
        assert_eq!(absent.proxy_id, None);
        let null: AccountPatch = serde_json::from_value(json!({"proxy_id": null})).unwrap();
        assert_eq!(null.proxy_id, Some(None));
        let set: AccountPatch = serde_json::from_value(json!({"proxy_id": 7})).unwrap();
        assert_eq!(set.proxy_id, Some(Some(ProxyId::new(7))));
    }

    #[test]
    fn new_account_keeps_an_explicit_false() {
        let new: NewAccount = serde_json::from_value(json!({
            "provider_id": "openai",
            "label": "x",
            "auth_data": {"type": "api_key", "api_key": "k"},
            "is_active": false
        }))
        .unwrap();
        assert!(!new.is_active);
    }
}
