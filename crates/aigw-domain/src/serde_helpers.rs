//! Serde helpers for change types: defaults and partial updates.

use serde::{Deserialize, Deserializer};

/// Deserialises a nullable patch field so that an absent field, `null` and a value differ:
/// use with `#[serde(default, deserialize_with = "aigw_domain::serde_helpers::double_option")]`
/// on an `Option<Option<T>>`. Absent → `None` (leave unchanged), `null` → `Some(None)` (clear),
/// a value → `Some(Some(v))` (set).
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Serde default for flags that default to true (an explicit `false` is kept):
/// use with `#[serde(default = "aigw_domain::serde_helpers::default_true")]`.
pub const fn default_true() -> bool {
    true
}

/// Serde default for JSON object fields.
pub(crate) fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}
