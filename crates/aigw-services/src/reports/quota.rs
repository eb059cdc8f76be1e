//! The quota view: per account and model, today's usage, the limit learned
//! from upstream headers and the cooldown in force; summed up per provider.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aigw_domain::{Account, AccountId, Page, ProviderId, QuotaPatternFilter};
use aigw_repository::sql::{AccountModelUsage, UsageTotals};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::common::{CooldownView, DayWindow, Reports, health_label};
use crate::AdminError;

/// One account's state for one model today.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuotaStatus {
    /// Attempts today (UTC).
    pub requests_today: i64,
    /// Failed attempts today.
    pub errors_today: i64,
    /// Tokens today, prompt and completion.
    pub tokens_today: i64,
    /// The learned request limit, if any.
    pub est_request_limit: Option<i64>,
    /// The learned token limit, if any.
    pub est_token_limit: Option<i64>,
    /// The share of the binding window used, in percent: as the upstream
    /// stated it (`used_percent`), else `requests_today / est_request_limit`
    /// when the limit is known.
    pub percent_used: Option<f64>,
    /// The limit window the upstream last stated as binding (`requests`,
    /// `tokens`, `5h`, `7d`, `primary`, `secondary`, `usage_limit`, a Gemini
    /// quota id), if learnt.
    pub limit_window: Option<String>,
    /// What the upstream said is left of that window.
    pub remaining: Option<i64>,
    /// When that window resets, as the upstream stated.
    pub limit_resets_at: Option<DateTime<Utc>>,
    /// When the upstream last said a window was used up.
    pub last_exhausted_at: Option<DateTime<Utc>>,
    /// Whether the account is cooling down for this model.
    pub is_exhausted: bool,
    /// Why (the cooldown reason).
    pub reason: Option<&'static str>,
    /// When it may serve the model again.
    pub reset_at: Option<DateTime<Utc>>,
}

/// One account in the quota view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountQuota {
    /// The account.
    pub account_id: AccountId,
    /// Its label.
    pub label: String,
    /// Its provider.
    pub provider_id: ProviderId,
    /// Per model: the provider's models, those used today and those cooling down.
    pub models: BTreeMap<String, QuotaStatus>,
}

/// `GET /api/v1/quota/accounts`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountQuotaList {
    /// The accounts.
    pub accounts: Vec<AccountQuota>,
}

/// One model in a provider's quota summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelQuotaSummary {
    /// Active accounts.
    pub total: usize,
    /// Those that may serve the model now (never negative: `total − exhausted`, each
    /// account counted once).
    pub available: usize,
    /// Those cooling down for it.
    pub exhausted: usize,
    /// The true mean of `percent_used` over the accounts whose limit is known.
    pub avg_percent_used: Option<f64>,
    /// The soonest moment an exhausted account comes back.
    pub next_reset_at: Option<DateTime<Utc>>,
}

/// `GET /api/v1/quota/providers/:provider/summary`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderQuotaSummary {
    /// The provider.
    pub provider_id: ProviderId,
    /// Its active accounts.
    pub total_accounts: usize,
    /// Those not cooling down for every model.
    pub available_accounts: usize,
    /// Those cooling down account-wide, or for every model.
    pub exhausted_accounts: usize,
    /// Per model.
    pub models: BTreeMap<String, ModelQuotaSummary>,
    /// `healthy` (≥ 50 % available), `degraded` (≥ 20 %), `critical`, or `unknown`.
    pub health: &'static str,
}

/// Per model while summing up a provider: exhausted accounts, the known usage
/// percentages, the soonest reset.
type ModelTally = (usize, Vec<f64>, Option<DateTime<Utc>>);

/// The cooldown of `model` for an account, the account-wide one counting too: the one that
/// ends last.
fn blocking<'a>(cooldowns: &'a [CooldownView], model: &str) -> Option<&'a CooldownView> {
    cooldowns
        .iter()
        .filter(|c| c.model.as_deref().is_none_or(|m| m == model))
        .max_by_key(|c| c.until)
}

impl Reports {
    /// Today's usage of `accounts` per account and model.
    async fn usage_today(
        &self,
        provider_id: Option<ProviderId>,
    ) -> Result<HashMap<(AccountId, String), UsageTotals>, AdminError> {
        let window = DayWindow::ending(Self::today(), Some(1));
        let rows: Vec<AccountModelUsage> = self
            .repository
            .usage_by_account_model(&window.query(provider_id))
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| Some(((r.account_id, r.model?), r.totals)))
            .collect())
    }

    /// The quota view of every active account (optionally of one provider): per model, today's
    /// usage, the learned limit and the cooldown in force.
    pub async fn quota_accounts(
        &self,
        provider_id: Option<ProviderId>,
    ) -> Result<AccountQuotaList, AdminError> {
        let accounts: Vec<Account> = self
            .accounts(provider_id.clone())
            .await?
            .into_iter()
            .filter(|a| a.is_active)
            .collect();
        Ok(AccountQuotaList {
            accounts: self.quota_of(accounts, provider_id).await?,
        })
    }

    /// The quota view of one account; 404 for an unknown account.
    pub async fn quota_account(&self, id: AccountId) -> Result<AccountQuota, AdminError> {
        let account = self.repository.get_account(id).await?;
        let provider = Some(account.provider_id.clone());
        let mut list = self.quota_of(vec![account], provider).await?;
        list.pop()
            .ok_or(AdminError::Repository(aigw_repository::Error::NotFound {
                entity: "account",
                id: id.to_string(),
            }))
    }

    async fn quota_of(
        &self,
        accounts: Vec<Account>,
        provider_id: Option<ProviderId>,
    ) -> Result<Vec<AccountQuota>, AdminError> {
        let now = Utc::now();
        let usage = self.usage_today(provider_id).await?;
        let mut cooldowns = self.cooldowns_by_account(now);
        let mut provider_models: HashMap<ProviderId, Vec<String>> = HashMap::new();
        let mut out = Vec::with_capacity(accounts.len());
        for account in accounts {
            if !provider_models.contains_key(&account.provider_id) {
                let models = match self.repository.get_provider(&account.provider_id).await {
                    Ok(p) => p.models,
                    Err(aigw_repository::Error::NotFound { .. }) => Vec::new(),
                    Err(e) => return Err(e.into()),
                };
                provider_models.insert(account.provider_id.clone(), models);
            }
            let patterns = self
                .repository
                .list_quota_patterns(
                    &QuotaPatternFilter {
                        account_id: Some(account.id),
                        model: None,
                    },
                    Page::max(),
                )
                .await?
                .data;
            let limits: HashMap<&str, &aigw_domain::AccountQuotaPattern> =
                patterns.iter().map(|p| (p.model.as_str(), p)).collect();
            let account_cooldowns = cooldowns.remove(&account.id).unwrap_or_default();
            let mut models: BTreeSet<String> = provider_models
                .get(&account.provider_id)
                .into_iter()
                .flatten()
                .cloned()
                .collect();
            models.extend(
                usage
                    .keys()
                    .filter(|(a, _)| *a == account.id)
                    .map(|(_, m)| m.clone()),
            );
            models.extend(account_cooldowns.iter().filter_map(|c| c.model.clone()));
            models.extend(limits.keys().map(|m| (*m).to_owned()));
            let statuses = models
                .into_iter()
                .map(|model| {
                    let totals = usage
                        .get(&(account.id, model.clone()))
                        .copied()
                        .unwrap_or_default();
                    let pattern = limits.get(model.as_str()).copied();
                    let limit = pattern.and_then(|p| p.est_request_limit);
                    let percent_used = pattern.and_then(|p| p.used_percent).or_else(|| {
                        limit
                            .filter(|l| *l > 0)
                            .map(|l| 100.0 * totals.requests as f64 / l as f64)
                    });
                    let block = blocking(&account_cooldowns, &model);
                    let status = QuotaStatus {
                        requests_today: totals.requests,
                        errors_today: totals.errors,
                        tokens_today: totals.input_tokens + totals.output_tokens,
                        est_request_limit: limit,
                        est_token_limit: pattern.and_then(|p| p.est_token_limit),
                        percent_used,
                        limit_window: pattern.and_then(|p| p.limit_window.clone()),
                        remaining: pattern.and_then(|p| p.remaining),
                        limit_resets_at: pattern.and_then(|p| p.resets_at),
                        last_exhausted_at: pattern.and_then(|p| p.last_exhausted_at),
                        is_exhausted: block.is_some(),
                        reason: block.map(|c| c.reason),
                        reset_at: block.map(|c| c.until),
                    };
                    (model, status)
                })
                .collect();
            out.push(AccountQuota {
                account_id: account.id,
                label: account.label,
                provider_id: account.provider_id,
                models: statuses,
            });
        }
        Ok(out)
    }

    /// A provider's quota summary over its active accounts; 404 for an unknown provider.
    pub async fn quota_summary(
        &self,
        provider_id: ProviderId,
    ) -> Result<ProviderQuotaSummary, AdminError> {
        self.repository.get_provider(&provider_id).await?;
        let accounts = self
            .quota_accounts(Some(provider_id.clone()))
            .await?
            .accounts;
        let total_accounts = accounts.len();
        let mut models: BTreeMap<String, ModelTally> = BTreeMap::new();
        let mut exhausted_accounts = 0;
        for account in &accounts {
            let all_blocked =
                !account.models.is_empty() && account.models.values().all(|s| s.is_exhausted);
            if all_blocked {
                exhausted_accounts += 1;
            }
            for (model, status) in &account.models {
                let entry = models.entry(model.clone()).or_default();
                if status.is_exhausted {
                    entry.0 += 1;
                    entry.2 = match (entry.2, status.reset_at) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
                if let Some(p) = status.percent_used {
                    entry.1.push(p);
                }
            }
        }
        let models = models
            .into_iter()
            .map(|(model, (exhausted, percents, next_reset_at))| {
                let avg = (!percents.is_empty())
                    .then(|| percents.iter().sum::<f64>() / percents.len() as f64);
                (
                    model,
                    ModelQuotaSummary {
                        total: total_accounts,
                        available: total_accounts.saturating_sub(exhausted),
                        exhausted,
                        avg_percent_used: avg,
                        next_reset_at,
                    },
                )
            })
            .collect();
        let available_accounts = total_accounts - exhausted_accounts;
        Ok(ProviderQuotaSummary {
            provider_id,
            total_accounts,
            available_accounts,
            exhausted_accounts,
            models,
            health: health_label(available_accounts, total_accounts),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cooldown::CooldownReason;

    #[test]
    fn the_longest_cooldown_of_a_model_blocks_it() {
        let now = Utc::now();
        let view = |model: Option<&str>, secs: i64| CooldownView {
            model: model.map(str::to_owned),
            reason: CooldownReason::RateLimited.as_str(),
            until: now + chrono::Duration::seconds(secs),
            remaining_ms: 0,
        };
        let list = vec![view(Some("a"), 5), view(None, 10), view(Some("b"), 20)];
        assert_eq!(blocking(&list, "a").unwrap().model, None);
        assert_eq!(blocking(&list, "b").unwrap().model.as_deref(), Some("b"));
        assert!(blocking(&list[..1], "c").is_none());
    }
}
