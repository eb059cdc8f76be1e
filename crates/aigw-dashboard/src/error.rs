//! What can go wrong while answering a dashboard request. Each error becomes
//! a page with its status in one place (`pages::error_page`).

use aigw_services::{AdminError, ErrorStatus};
use http::StatusCode;

/// A dashboard request that cannot be answered as asked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The service layer refused or failed.
    #[error(transparent)]
    Service(#[from] AdminError),
    /// The shared state (sessions) failed.
    #[error(transparent)]
    State(#[from] aigw_repository::state::StateError),
    /// The caller's role may not open this page or do this.
    #[error("your role may not use this page")]
    Forbidden,
    /// No such page or record.
    #[error("not found")]
    NotFound,
    /// A POST that did not come from the dashboard's own pages: another
    /// origin, or without the session's form token.
    #[error("the form was not sent from this dashboard; reload the page and try again")]
    CrossSite,
    /// A form or query value that cannot be read.
    #[error("{field}: {message}")]
    BadInput {
        /// The form field.
        field: &'static str,
        /// What is wrong with it.
        message: &'static str,
    },
}

impl Error {
    /// The status the error page is answered with; a service error's comes
    /// from `status_of`, the HTTP layer's one table.
    pub fn status(&self, status_of: ErrorStatus<AdminError>) -> StatusCode {
        match self {
            Self::Service(e) => status_of(e),
            Self::State(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Forbidden | Self::CrossSite => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::BadInput { .. } => StatusCode::BAD_REQUEST,
        }
    }

    /// The message shown to the person: the service's own words for what
    /// they can act on, a generic sentence for internal failures (as
    /// `status_of` classes them).
    pub fn message(&self, status_of: ErrorStatus<AdminError>) -> String {
        match self {
            Self::Service(e) if status_of(e).is_server_error() => {
                "something went wrong on the server; try again".to_owned()
            }
            Self::Service(e) => e.to_string(),
            Self::State(_) => "the session store is unavailable; try again".to_owned(),
            other => other.to_string(),
        }
    }

    /// The form field a validation error is about, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Service(AdminError::InvalidField { field, .. }) => Some(field),
            Self::BadInput { field, .. } => Some(field),
            _ => None,
        }
    }

    /// The message of a field error without the field's name in front.
    pub fn field_message(&self) -> String {
        match self {
            Self::Service(AdminError::InvalidField { message, .. }) => message.clone(),
            Self::BadInput { message, .. } => (*message).to_owned(),
            other => other.to_string(),
        }
    }
}
