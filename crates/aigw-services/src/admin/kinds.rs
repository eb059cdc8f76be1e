//! The credential kinds of a provider as words, for error messages (the
//! services' errors and the handlers' share it).

use aigw_domain::AuthKind;

/// The credential kinds, for messages.
pub fn describe_kinds(kinds: &[AuthKind]) -> String {
    kinds
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
