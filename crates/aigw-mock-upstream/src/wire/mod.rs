//! The wire formats the mock speaks: request parsing for the echo, response rendering
//! (JSON and SSE) from a [`Plan`](crate::reply::Plan), and each wire's error shapes.

pub(crate) mod anthropic;
pub(crate) mod common;
pub(crate) mod encode;
pub(crate) mod gemini;
pub(crate) mod openai;
pub(crate) mod responses;

use bytes::Bytes;
use http::StatusCode;

use crate::ids::IdGen;

pub(crate) use common::{Invalid, Parsed, Rendered, SSE};

/// Whose error grammar a response uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    OpenAi,
    Anthropic,
    /// Gemini and Antigravity (Google's error object).
    Google,
    /// RFC 6749 token endpoint errors.
    OAuth,
}

impl Wire {
    /// The provider's own error body for `status`.
    pub(crate) fn error_body(
        self,
        status: StatusCode,
        message: Option<&str>,
        ids: &IdGen,
    ) -> Result<Bytes, serde_json::Error> {
        match self {
            Self::OpenAi => openai::error_body(status, message),
            Self::Anthropic => anthropic::error_body(status, message, ids),
            Self::Google => gemini::error_body(status, message),
            Self::OAuth => crate::oauth::error_body(status, message),
        }
    }

    /// An error event in the wire's own stream grammar (for a 200 stream that fails).
    pub(crate) fn stream_error_event(self) -> Result<Bytes, serde_json::Error> {
        match self {
            Self::OpenAi => openai::stream_error_event(),
            Self::Anthropic => anthropic::stream_error_event(),
            Self::Google | Self::OAuth => gemini::stream_error_event(),
        }
    }
}
