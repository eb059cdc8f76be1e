//! Pagination and list filters shared by the repository and the management API.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::{AccountId, ApiKeyId, HealthStatus, ProviderId, ProviderKind, ProxyId, Role, UserId};

/// A window into a list: at most `limit` rows after skipping `offset`. Deserialised
/// fields that are absent take the defaults; call [`Page::clamped`] on untrusted input
/// (the repository does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Page {
    /// Rows to return, 1 to [`Page::MAX_LIMIT`].
    pub limit: i64,
    /// Rows to skip, at least 0.
    pub offset: i64,
}

impl Page {
    /// The default page size.
    pub const DEFAULT_LIMIT: i64 = 50;
    /// The largest page size, so one request cannot ask for an unbounded list.
    pub const MAX_LIMIT: i64 = 1000;

    /// A page, with `limit` clamped to 1..=[`Page::MAX_LIMIT`] and `offset` to ≥ 0.
    pub fn new(limit: i64, offset: i64) -> Self {
        Self {
            limit: limit.clamp(1, Self::MAX_LIMIT),
            offset: offset.max(0),
        }
    }

    /// The first page of the largest size.
    pub fn max() -> Self {
        Self::new(Self::MAX_LIMIT, 0)
    }

    /// This page with its bounds enforced (for pages built field by field or deserialised).
    pub fn clamped(self) -> Self {
        Self::new(self.limit, self.offset)
    }
}

impl Default for Page {
    fn default() -> Self {
        Self::new(Self::DEFAULT_LIMIT, 0)
    }
}

/// One page of a list and the size of the whole list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Paged<T> {
    /// The rows of this page.
    pub data: Vec<T>,
    /// How many rows match the filter in total.
    pub total: i64,
    /// The page size used.
    pub limit: i64,
    /// The offset used.
    pub offset: i64,
}

impl<T> Paged<T> {
    /// Converts every row.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Paged<U> {
        Paged {
            data: self.data.into_iter().map(f).collect(),
            total: self.total,
            limit: self.limit,
            offset: self.offset,
        }
    }
}

/// A half-open time range: `from` inclusive, `to` exclusive; either end may be open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TimeRange {
    /// Inclusive start.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive end.
    pub to: Option<DateTime<Utc>>,
}

/// Filters for listing providers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProviderFilter {
    /// Only active or inactive ones.
    pub is_active: Option<bool>,
    /// Only one kind.
    pub kind: Option<ProviderKind>,
}

/// Filters for listing accounts. Newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountFilter {
    /// Only this provider's accounts.
    pub provider_id: Option<ProviderId>,
    /// Only active or inactive ones.
    pub is_active: Option<bool>,
    /// Only this health.
    pub health_status: Option<HealthStatus>,
    /// Only accounts on this proxy.
    pub proxy_id: Option<ProxyId>,
    /// Only accounts created by this user.
    pub created_by: Option<UserId>,
    /// Only accounts created in this range.
    pub created: TimeRange,
}

/// Filters for listing proxies. Highest priority first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProxyFilter {
    /// Only active or inactive ones.
    pub is_active: Option<bool>,
    /// Only this health.
    pub health_status: Option<HealthStatus>,
}

/// Filters for listing daily proxy stats. Newest day first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProxyStatsFilter {
    /// Only this proxy.
    pub proxy_id: Option<ProxyId>,
    /// Only this provider (`Some(None)` for unattributed traffic).
    pub provider_id: Option<Option<ProviderId>>,
    /// First day, inclusive.
    pub from: Option<NaiveDate>,
    /// Last day, inclusive.
    pub to: Option<NaiveDate>,
}

/// Filters for listing request logs. Newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestLogFilter {
    /// Only this provider.
    pub provider_id: Option<ProviderId>,
    /// Only this client-facing model.
    pub model: Option<String>,
    /// Only this account.
    pub account_id: Option<AccountId>,
    /// Only this client key.
    pub api_key_id: Option<ApiKeyId>,
    /// Only this HTTP status.
    pub status_code: Option<i32>,
    /// Only requests that did not succeed (status 0 or ≥ 400).
    pub errors_only: bool,
    /// Only one class of HTTP status: `4` for 400–499 and so on (0 for no response).
    pub status_class: Option<i32>,
    /// Only requests in this range.
    pub time: TimeRange,
}

/// Whose model mappings to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappingOwnership {
    /// Only global mappings.
    Global,
    /// Only the user's own mappings.
    OwnedBy(UserId),
    /// Global mappings and the user's own (what a user may see).
    VisibleTo(UserId),
}

/// Filters for listing model mappings. Highest priority first, then by alias.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModelMappingFilter {
    /// Only mappings to this provider.
    pub provider_id: Option<ProviderId>,
    /// Only enabled or disabled ones.
    pub enabled: Option<bool>,
    /// Only these owners.
    pub ownership: Option<MappingOwnership>,
}

/// Filters for listing users. Newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserFilter {
    /// Only this role.
    pub role: Option<Role>,
    /// Only active or inactive ones.
    pub is_active: Option<bool>,
}

/// Filters for listing API keys. Newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiKeyFilter {
    /// Only this user's keys.
    pub user_id: Option<UserId>,
    /// Only active or revoked ones.
    pub is_active: Option<bool>,
}

/// Filters for listing quota patterns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QuotaPatternFilter {
    /// Only this account's patterns.
    pub account_id: Option<AccountId>,
    /// Only this model.
    pub model: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_bounds_are_enforced() {
        assert_eq!(
            Page::new(0, -5),
            Page {
                limit: 1,
                offset: 0
            }
        );
        assert_eq!(Page::new(1_000_000, 10).limit, Page::MAX_LIMIT);
        assert_eq!(
            Page {
                limit: -1,
                offset: 3
            }
            .clamped(),
            Page {
                limit: 1,
                offset: 3
            }
        );
        assert_eq!(Page::default().limit, Page::DEFAULT_LIMIT);
        let partial: Page = serde_json::from_str(r#"{"offset": 20}"#).unwrap();
        assert_eq!(
            partial,
            Page {
                limit: Page::DEFAULT_LIMIT,
                offset: 20
            }
        );
    }
}
