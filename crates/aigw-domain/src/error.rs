//! Errors raised when parsing or validating domain values.

/// A domain value could not be parsed or failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A provider kind name that is not one of the known kinds.
    #[error("unknown provider kind `{0}`")]
    UnknownProviderKind(String),
}
