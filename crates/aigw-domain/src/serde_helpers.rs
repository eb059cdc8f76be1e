//! Serde helpers for partial updates.

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
