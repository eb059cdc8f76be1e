//! Errors raised when parsing or validating domain values.

/// A domain value could not be parsed or failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A provider kind name that is not one of the known kinds.
    #[error("unknown provider kind `{0}`")]
    UnknownProviderKind(String),
    /// An identifier that does not parse as its id type (`kind` names the id type).
    #[error("invalid {kind} `{value}`")]
    InvalidId {
        /// The id type, e.g. "account id".
        kind: &'static str,
        /// The rejected input.
        value: String,
    },
    /// A user role name that is not one of the known roles.
    #[error("unknown role `{0}`")]
    UnknownRole(String),
    /// A health status name that is not one of the known statuses.
    #[error("unknown health status `{0}`")]
    UnknownHealthStatus(String),
    /// A proxy protocol name that is not one of the known protocols.
    #[error("unknown proxy protocol `{0}`")]
    UnknownProxyProtocol(String),
    /// An authentication kind name that is not one of the known kinds.
    #[error("unknown auth type `{0}`")]
    UnknownAuthKind(String),
    /// An account selection strategy name that is not one of the known ones.
    #[error("unknown selection strategy `{0}`")]
    UnknownSelectionStrategy(String),
}
