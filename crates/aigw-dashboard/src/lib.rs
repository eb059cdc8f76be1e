//! aigateway's web dashboard: server-rendered HTML pages (maud templates) for
//! operators, served by the gateway binary itself under `/ui/` (and `/`).
//!
//! The crate sits above the services, like the management API: every page
//! reads and writes through [`aigw_services::admin::Admin`] and its reports,
//! never the database directly. It knows nothing of hyper: the HTTP layer
//! hands it a request whose body is already read (bounded) and sends back
//! the [`http::Response`] it returns.
//!
//! Sign-in uses the management users, their argon2 check and the sign-in
//! throttle ([`aigw_services::admin::Admin::login`]); a session is a random
//! token in an `HttpOnly`, `SameSite=Strict` cookie, stored in the shared
//! state under its hash (the `session` module), so it works on every
//! instance and signing out ends it everywhere. Every form carries the
//! session's CSRF token, and every POST must also come from the dashboard's
//! own origin (the `security` module). Pages check the caller's role on the
//! server (the `pages` module).

#![deny(missing_docs)]

mod assets;
mod charts;
mod config;
mod error;
mod form;
mod layout;
mod pages;
mod security;
mod session;

use aigw_services::admin::Admin;
use aigw_services::{AdminError, ErrorStatus};
use bytes::Bytes;
use http::{Request, Response};
use std::net::IpAddr;

pub use config::{DashboardSettings, MAX_FORM_BYTES, PREFIX};
pub use error::Error;

/// The dashboard of one gateway instance. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Dashboard {
    admin: Admin,
    sessions: session::Sessions,
    /// The HTTP layer's status table, which this crate cannot depend on.
    status_of: ErrorStatus<AdminError>,
}

/// Whether the dashboard answers `path`: `/`, `/ui` and everything under `/ui/`.
pub fn claims(path: &str) -> bool {
    path == "/" || path == PREFIX || path.starts_with("/ui/")
}

impl Dashboard {
    /// A dashboard over `admin` (see [`aigw_services::Runtime::admin`]),
    /// answering a service error with the status `status_of` gives it.
    pub fn new(
        admin: Admin,
        settings: DashboardSettings,
        status_of: ErrorStatus<AdminError>,
    ) -> Self {
        let sessions = session::Sessions::new(admin.gateway().state().clone(), settings);
        Self {
            admin,
            sessions,
            status_of,
        }
    }

    /// Answers one request for a path [`claims`] accepts. `peer` is the
    /// client's address (the TCP peer), which the sign-in throttle counts.
    /// Never fails: every error is a page.
    pub async fn handle(&self, req: Request<Bytes>, peer: Option<IpAddr>) -> Response<Bytes> {
        pages::route(&self.admin, &self.sessions, self.status_of, req, peer).await
    }
}
