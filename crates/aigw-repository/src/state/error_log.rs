//! Error-log entries: what failed in a background operation (a token
//! refresh, a health check), kept by time and trimmed by age and count.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One error-log entry. The JSON shape is the original gateway's
/// (`{id, service, operation, message, context, created_at}`).
///
/// Callers must not put secrets (tokens, proxy credentials) into `message`
/// or `context`: the log is shown to operators.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorLogEntry {
    /// Unique id; also keeps two entries of the same millisecond apart.
    pub id: String,
    /// The service that failed, e.g. `oauth`.
    pub service: String,
    /// The operation that failed, e.g. `refresh_token`.
    pub operation: String,
    /// What went wrong.
    pub message: String,
    /// Extra structured details.
    #[serde(default)]
    pub context: serde_json::Map<String, serde_json::Value>,
    /// When it happened; the log is ordered and trimmed by this time.
    pub created_at: DateTime<Utc>,
}

impl ErrorLogEntry {
    /// A new entry stamped now, with a fresh id and no context.
    pub fn new(
        service: impl Into<String>,
        operation: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            service: service.into(),
            operation: operation.into(),
            message: message.into(),
            context: serde_json::Map::new(),
            created_at: Utc::now(),
        }
    }

    /// Adds one context field.
    pub fn with_context(
        mut self,
        key: impl Into<String>,
        value: impl Into<serde_json::Value>,
    ) -> Self {
        self.context.insert(key.into(), value.into());
        self
    }

    /// Sets the time of the entry (imports, tests).
    pub fn at(mut self, created_at: DateTime<Utc>) -> Self {
        self.created_at = created_at;
        self
    }

    /// The sort key: milliseconds since the Unix epoch.
    pub(crate) fn score(&self) -> i64 {
        self.created_at.timestamp_millis()
    }
}
