//! Model mappings: client-facing aliases routed to a provider's upstream model.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{MappingId, ProviderId, UserId};

/// A model alias.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelMapping {
    /// The id.
    pub id: MappingId,
    /// The name clients send as `model`: unique per owner (and among the global ones).
    pub alias: String,
    /// The provider it routes to.
    pub provider_id: ProviderId,
    /// The model name sent upstream.
    pub model_name: String,
    /// A note for operators.
    pub description: Option<String>,
    /// Whether it resolves.
    pub enabled: bool,
    /// Higher wins when listing.
    pub priority: i32,
    /// The owning user; `None` means global.
    pub owner_id: Option<UserId>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

/// A mapping to create.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NewModelMapping {
    /// See [`ModelMapping::alias`].
    pub alias: String,
    /// See [`ModelMapping::provider_id`].
    pub provider_id: ProviderId,
    /// See [`ModelMapping::model_name`].
    pub model_name: String,
    /// See [`ModelMapping::description`].
    #[serde(default)]
    pub description: Option<String>,
    /// See [`ModelMapping::enabled`]; defaults to true, and false is kept.
    #[serde(default = "crate::serde_helpers::default_true")]
    pub enabled: bool,
    /// See [`ModelMapping::priority`].
    #[serde(default)]
    pub priority: i32,
    /// See [`ModelMapping::owner_id`].
    #[serde(default)]
    pub owner_id: Option<UserId>,
}

/// A partial update of a mapping: `None` leaves a field unchanged; for nullable fields
/// `Some(None)` clears it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct ModelMappingPatch {
    /// New alias (a rename).
    #[serde(default)]
    pub alias: Option<String>,
    /// New provider.
    #[serde(default)]
    pub provider_id: Option<ProviderId>,
    /// New upstream model.
    #[serde(default)]
    pub model_name: Option<String>,
    /// New description.
    #[serde(default, deserialize_with = "crate::serde_helpers::double_option")]
    pub description: Option<Option<String>>,
    /// New enabled flag.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// New priority.
    #[serde(default)]
    pub priority: Option<i32>,
    /// New owner, or `Some(None)` to make it global.
    #[serde(default, deserialize_with = "crate::serde_helpers::double_option")]
    pub owner_id: Option<Option<UserId>>,
}
