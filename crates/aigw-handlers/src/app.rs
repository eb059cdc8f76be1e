//! The state every handler reads: what the gateway is running on and the
//! services it calls.

use std::time::Instant;

use aigw_dashboard::{Dashboard, DashboardSettings};
use aigw_services::Gateway;
use aigw_services::admin::Admin;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::header::HeaderValue;
use http::{Request, Response};
use http_body::Body;

use crate::body::ResponseBody;
use crate::edge::{EdgeCounters, Linger};
use crate::routes::route;

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
                crate::error::error_status,
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
            settings.map(|s| Dashboard::new(self.admin.clone(), s, crate::error::error_status));
        self
    }

    /// Answers one request as the gateway's own server would (data plane,
    /// management API, dashboard, `/health`, `/metrics`), tagged with a new
    /// `x-request-id`: the entry point for a host service that runs its own
    /// hyper server and hands some of its paths to the gateway. Never fails:
    /// every error is a response in the client's format. The host's server
    /// keeps its own connection limits and timeouts ([`crate::serve`]'s edge
    /// limits do not apply); the request body is still refused over the
    /// `max_body_bytes` given to [`App::new`].
    pub async fn handle<B>(&self, req: Request<B>) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes> + Unpin + Send + 'static,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let request_id = uuid::Uuid::now_v7().simple().to_string();
        // The routed request's state machine is large (every ingress, the
        // attempt loop, translation). Boxed once here, the future hyper's
        // dispatcher stores for each request is a pointer, not a copy of it.
        let mut resp = Box::pin(route(self, req, &request_id)).await;
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert("x-request-id", value);
        }
        resp
    }
}
