//! Learned quota patterns: the estimated request and token limits of an account for a model.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{AccountId, QuotaPatternId};

/// What has been learned about one account's quota for one model (unique per pair).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountQuotaPattern {
    /// The id.
    pub id: QuotaPatternId,
    /// The account.
    pub account_id: AccountId,
    /// The model.
    pub model: String,
    /// Estimated requests per window.
    pub est_request_limit: Option<i64>,
    /// Estimated tokens per window.
    pub est_token_limit: Option<i64>,
    /// Confidence in the estimates, 0 to 1.
    pub confidence: f64,
    /// How many exhaustions the estimates are based on.
    pub sample_count: i64,
    /// When the quota was last exhausted.
    pub last_exhausted_at: Option<DateTime<Utc>>,
    /// When the quota window last reset.
    pub last_reset_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
    /// The limit window the upstream last stated as binding (`requests`,
    /// `tokens`, `5h`, `7d`, `primary`, `secondary`, `usage_limit`, a Gemini
    /// quota id …).
    pub limit_window: Option<String>,
    /// What the upstream said is left of that window.
    pub remaining: Option<i64>,
    /// The share of that window used, 0 to 100, when the upstream says.
    pub used_percent: Option<f64>,
    /// When that window resets, as the upstream stated.
    pub resets_at: Option<DateTime<Utc>>,
}

/// What one upstream answer stated about an account's limits for a model
/// (`*` for the account's own windows, such as a subscription's), as the
/// stats writer records it into the account's quota pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaObservation {
    /// The account.
    pub account_id: AccountId,
    /// The model, or `*` for limits of the whole account.
    pub model: String,
    /// The requests limit stated, if any.
    pub request_limit: Option<i64>,
    /// The tokens limit stated, if any.
    pub token_limit: Option<i64>,
    /// The binding window's name.
    pub limit_window: Option<String>,
    /// What is left of it.
    pub remaining: Option<i64>,
    /// The share used, 0 to 100.
    pub used_percent: Option<f64>,
    /// When it resets.
    pub resets_at: Option<DateTime<Utc>>,
    /// When it was found used up, if it was.
    pub exhausted_at: Option<DateTime<Utc>>,
}

/// A pattern to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewQuotaPattern {
    /// See [`AccountQuotaPattern::account_id`].
    pub account_id: AccountId,
    /// See [`AccountQuotaPattern::model`].
    pub model: String,
    /// See [`AccountQuotaPattern::est_request_limit`].
    pub est_request_limit: Option<i64>,
    /// See [`AccountQuotaPattern::est_token_limit`].
    pub est_token_limit: Option<i64>,
    /// See [`AccountQuotaPattern::confidence`].
    pub confidence: f64,
    /// See [`AccountQuotaPattern::sample_count`].
    pub sample_count: i64,
    /// See [`AccountQuotaPattern::last_exhausted_at`].
    pub last_exhausted_at: Option<DateTime<Utc>>,
    /// See [`AccountQuotaPattern::last_reset_at`].
    pub last_reset_at: Option<DateTime<Utc>>,
}

/// A partial update of a pattern: `None` leaves a field unchanged; for nullable fields
/// `Some(None)` clears it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QuotaPatternPatch {
    /// New request limit estimate.
    pub est_request_limit: Option<Option<i64>>,
    /// New token limit estimate.
    pub est_token_limit: Option<Option<i64>>,
    /// New confidence.
    pub confidence: Option<f64>,
    /// New sample count.
    pub sample_count: Option<i64>,
    /// New exhaustion time.
    pub last_exhausted_at: Option<Option<DateTime<Utc>>>,
    /// New reset time.
    pub last_reset_at: Option<Option<DateTime<Utc>>>,
}
