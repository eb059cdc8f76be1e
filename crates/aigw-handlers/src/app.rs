//! The state every handler reads: what the gateway is running on and the
//! services it calls.

use std::time::Instant;

use aigw_dashboard::{Dashboard, DashboardSettings};
use aigw_services::Gateway;
use aigw_services::admin::Admin;
use chrono::{DateTime, Utc};

use crate::edge::{EdgeCounters, Linger};

/// Which backends this instance runs on, reported by `/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployment {
    /// `sqlite` or `postgres`.
    pub database: &'static str,
    /// `in_process` or `redis`.
    pub shared_state: &'static str,
}

/// The application behind the HTTP server. Built once at startup and shared
/// by every connection.
#[derive(Debug)]
pub struct App {
    pub(crate) deployment: Deployment,
    pub(crate) started_at: DateTime<Utc>,
    pub(crate) started: Instant,
    pub(crate) gateway: Gateway,
    pub(crate) admin: Admin,
    pub(crate) max_body_bytes: usize,
    /// How a too-large body is still read after its refusal.
    pub(crate) linger: Linger,
    /// What the HTTP edge counts, for `/metrics`.
    pub(crate) edge: EdgeCounters,
    /// The web dashboard at `/` and `/ui/`, unless turned off.
    pub(crate) dashboard: Option<Dashboard>,
}

impl App {
    /// An application serving the data plane and the management API of
    /// `admin` (see [`aigw_services::Runtime::admin`]), reporting
    /// `deployment` in `/health`, refusing request bodies over
    /// `max_body_bytes`, and the web dashboard with its default settings.
    pub fn new(deployment: Deployment, admin: Admin, max_body_bytes: usize) -> Self {
        Self {
            deployment,
            started_at: Utc::now(),
            started: Instant::now(),
            gateway: admin.gateway().clone(),
            dashboard: Some(Dashboard::new(
                admin.clone(),
                DashboardSettings::default(),
                crate::error::admin_status,
            )),
            admin,
            max_body_bytes,
            linger: Linger::default(),
            edge: EdgeCounters::default(),
        }
    }

    /// Reads and discards the rest of a refused (too large) body within
    /// `linger`, rather than [`Linger::default`].
    #[must_use]
    pub fn with_linger(mut self, linger: Linger) -> Self {
        self.linger = linger;
        self
    }

    /// Serves the web dashboard with `settings`, or (with `None`) not at
    /// all: then `/` and `/ui/…` answer 404.
    #[must_use]
    pub fn with_dashboard(mut self, settings: Option<DashboardSettings>) -> Self {
        self.dashboard =
            settings.map(|s| Dashboard::new(self.admin.clone(), s, crate::error::admin_status));
        self
    }
}
