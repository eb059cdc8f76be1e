//! The crate's error type: every failure names the JSON path it is about.
//!
//! Client-side problems (bad JSON, wrong types, missing fields, values the target
//! cannot carry) are distinguished from a malformed upstream response, so the
//! caller can answer 400 for the former and treat the latter as an upstream fault.

use std::borrow::Cow;

use aigw_domain::Format;

/// An error of parsing, validating or translating a body.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The body is not well-formed JSON.
    #[error("malformed JSON at line {line} column {column}: {message}")]
    MalformedJson {
        /// 1-based line of the syntax error.
        line: usize,
        /// 1-based column of the syntax error.
        column: usize,
        /// What the parser expected.
        message: String,
    },
    /// A field has the wrong type, is missing, or holds an unknown variant.
    #[error("invalid request: `{path}`: {message}")]
    InvalidField {
        /// Path of the field, e.g. `messages[2].content`.
        path: String,
        /// What was wrong, e.g. "invalid type: integer `1`, expected a string".
        message: String,
    },
    /// A field is well-typed but its value is unusable (bad base64, empty model, ...).
    #[error("invalid request: `{path}`: {reason}")]
    InvalidValue {
        /// Path of the field.
        path: String,
        /// Why the value is rejected.
        reason: String,
    },
    /// The request uses something the upstream format cannot express.
    #[error("`{path}` is not supported by {} upstreams: {reason}", upstream.as_str())]
    Unsupported {
        /// Path of the field.
        path: String,
        /// The upstream format that cannot carry it.
        upstream: Format,
        /// What is not supported, and what to do instead.
        reason: Cow<'static, str>,
    },
    /// The format cannot be used in that role (e.g. Gemini as a client format).
    #[error("{} is not a supported {role} format", format.as_str())]
    FormatRole {
        /// The format asked for.
        format: Format,
        /// "client" or "upstream".
        role: &'static str,
    },
    /// The upstream answered with a body this crate cannot read.
    #[error("malformed upstream response: `{path}`: {message}")]
    UpstreamResponse {
        /// Path of the offending field.
        path: String,
        /// What was wrong.
        message: String,
    },
}

impl FormatError {
    /// A short, stable, low-cardinality name (metric labels, logs).
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::MalformedJson { .. } => "malformed_json",
            Self::InvalidField { .. } => "invalid_field",
            Self::InvalidValue { .. } => "invalid_value",
            Self::Unsupported { .. } => "unsupported",
            Self::FormatRole { .. } => "format_role",
            Self::UpstreamResponse { .. } => "upstream_response",
        }
    }

    /// The JSON path the error is about, when there is one.
    pub fn path(&self) -> Option<&str> {
        match self {
            Self::InvalidField { path, .. }
            | Self::InvalidValue { path, .. }
            | Self::Unsupported { path, .. }
            | Self::UpstreamResponse { path, .. } => Some(path),
            Self::MalformedJson { .. } | Self::FormatRole { .. } => None,
        }
    }

    /// True when the client's request is at fault (answer 400); false when the
    /// upstream's response is (an upstream failure) or the caller misused the API.
    pub const fn is_client_error(&self) -> bool {
        matches!(
            self,
            Self::MalformedJson { .. }
                | Self::InvalidField { .. }
                | Self::InvalidValue { .. }
                | Self::Unsupported { .. }
        )
    }

    pub(crate) fn invalid_value(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidValue {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn unsupported(
        path: impl Into<String>,
        upstream: Format,
        reason: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::Unsupported {
            path: path.into(),
            upstream,
            reason: reason.into(),
        }
    }
}

/// The crate's error type under its conventional name.
pub type Error = FormatError;
