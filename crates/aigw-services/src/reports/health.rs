//! Account health: stored health, the cooldowns in force and the half-open
//! probe, per account and summed up per provider.

use std::collections::BTreeMap;

use aigw_domain::{Account, AccountId, HealthStatus, ProviderId};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::common::{CooldownView, Reports, health_label};
use crate::AdminError;

/// The original's per-model state, built from the cooldowns in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelState {
    /// The model (`*` for an account-wide cooldown).
    pub model: String,
    /// Whether the account may not serve it now.
    pub is_blocked: bool,
    /// Why.
    pub block_reason: &'static str,
    /// When it may serve it again.
    pub next_retry_after: DateTime<Utc>,
}

/// `GET /api/v1/auth-manager/accounts[/:id]`: one account's health.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountHealth {
    /// The account.
    pub id: AccountId,
    /// Its provider.
    pub provider_id: ProviderId,
    /// Its label.
    pub label: String,
    /// Whether an operator disabled it.
    pub is_disabled: bool,
    /// The stored health.
    pub health_status: HealthStatus,
    /// Whether it can be selected now: active, not down, no account-wide cooldown.
    pub usable: bool,
    /// Failures since the last success.
    pub failure_count: i64,
    /// When it last failed.
    pub last_error_at: Option<DateTime<Utc>>,
    /// The last failure's message.
    pub last_error_msg: Option<String>,
    /// When it last succeeded.
    pub last_success_at: Option<DateTime<Utc>>,
    /// When it was last selected.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Requests served.
    pub usage_count: i64,
    /// The cooldowns in force: those set here and those every other
    /// instance announced (each instance applies its peers' cooldowns).
    pub cooldowns: Vec<CooldownView>,
    /// When `down`: when its next half-open probe may go out.
    pub next_probe_at: Option<DateTime<Utc>>,
    /// When `down`: the wait between probes now (doubled after each failed
    /// probe, up to `health.probe_max`), in milliseconds.
    pub probe_wait_ms: Option<u64>,
    /// The same, keyed by model, in the original's shape.
    pub model_states: BTreeMap<String, ModelState>,
    /// When the row last changed.
    pub updated_at: DateTime<Utc>,
}

/// `GET /api/v1/auth-manager/accounts`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountHealthList {
    /// The accounts.
    pub accounts: Vec<AccountHealth>,
    /// How many.
    pub total: usize,
    /// When this was computed.
    pub checked_at: DateTime<Utc>,
}

/// Counts of accounts by state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct HealthCounts {
    /// Accounts.
    pub total: usize,
    /// Active and usable.
    pub healthy: usize,
    /// Active but down or cooling down for every model.
    pub blocked: usize,
    /// Disabled by an operator.
    pub disabled: usize,
}

/// `GET /api/v1/auth-manager/health`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthSummary {
    /// `healthy`, `degraded`, `critical`, or `unknown` without active accounts.
    pub status: &'static str,
    /// Counts over every provider.
    #[serde(flatten)]
    pub counts: HealthCounts,
    /// Counts per provider.
    pub provider_stats: BTreeMap<String, HealthCounts>,
    /// When this was computed.
    pub checked_at: DateTime<Utc>,
}

impl Reports {
    fn health_of(&self, account: Account, cooldowns: Vec<CooldownView>) -> AccountHealth {
        let probe = self.gateway.cooldowns().down().view(account.id);
        let model_states = cooldowns
            .iter()
            .map(|c| {
                let model = c.model.clone().unwrap_or_else(|| "*".to_owned());
                (
                    model.clone(),
                    ModelState {
                        model,
                        is_blocked: true,
                        block_reason: c.reason,
                        next_retry_after: c.until,
                    },
                )
            })
            .collect();
        let usable = account.is_active
            && account.health_status != HealthStatus::Down
            && !cooldowns.iter().any(|c| c.model.is_none());
        AccountHealth {
            id: account.id,
            provider_id: account.provider_id,
            label: account.label,
            is_disabled: !account.is_active,
            health_status: account.health_status,
            usable,
            failure_count: account.failure_count,
            last_error_at: account.last_error_at,
            last_error_msg: account.last_error_msg,
            last_success_at: account.last_success_at,
            last_used_at: account.last_used_at,
            usage_count: account.usage_count,
            cooldowns,
            next_probe_at: probe.map(|p| p.next_probe_at),
            probe_wait_ms: probe
                .map(|p| u64::try_from(p.probe_wait.as_millis()).unwrap_or(u64::MAX)),
            model_states,
            updated_at: account.updated_at,
        }
    }

    /// Every account's health, optionally of one provider.
    pub async fn accounts_health(
        &self,
        provider_id: Option<ProviderId>,
    ) -> Result<AccountHealthList, AdminError> {
        let now = Utc::now();
        let mut cooldowns = self.cooldowns_by_account(now);
        let accounts: Vec<AccountHealth> = self
            .accounts(provider_id)
            .await?
            .into_iter()
            .map(|a| {
                let c = cooldowns.remove(&a.id).unwrap_or_default();
                self.health_of(a, c)
            })
            .collect();
        Ok(AccountHealthList {
            total: accounts.len(),
            accounts,
            checked_at: now,
        })
    }

    /// One account's health; 404 for an unknown account.
    pub async fn account_health(&self, id: AccountId) -> Result<AccountHealth, AdminError> {
        let account = self.repository.get_account(id).await?;
        let cooldowns = self
            .cooldowns_by_account(Utc::now())
            .remove(&id)
            .unwrap_or_default();
        Ok(self.health_of(account, cooldowns))
    }

    /// Counts of healthy, blocked and disabled accounts, overall and per provider.
    pub async fn health_summary(&self) -> Result<HealthSummary, AdminError> {
        let list = self.accounts_health(None).await?;
        let mut counts = HealthCounts::default();
        let mut per_provider: BTreeMap<String, HealthCounts> = BTreeMap::new();
        for account in &list.accounts {
            let entry = per_provider
                .entry(account.provider_id.as_str().to_owned())
                .or_default();
            for c in [&mut counts, entry] {
                c.total += 1;
                if account.is_disabled {
                    c.disabled += 1;
                } else if account.usable {
                    c.healthy += 1;
                } else {
                    c.blocked += 1;
                }
            }
        }
        Ok(HealthSummary {
            status: health_label(counts.healthy, counts.total - counts.disabled),
            counts,
            provider_stats: per_provider,
            checked_at: list.checked_at,
        })
    }
}
