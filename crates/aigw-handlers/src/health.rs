//! `GET /health`: liveness and what this instance is running on.

use http::{Response, StatusCode};
use serde::Serialize;

use crate::app::App;
use crate::body::ResponseBody;
use crate::routes::json_response;

#[derive(Serialize)]
struct Health<'a> {
    status: &'static str,
    service: &'static str,
    version: &'static str,
    started_at: String,
    uptime_seconds: u64,
    database: &'a str,
    shared_state: &'a str,
}

pub(crate) fn health(app: &App) -> Response<ResponseBody> {
    let body = Health {
        status: "ok",
        service: "aigateway",
        version: env!("CARGO_PKG_VERSION"),
        started_at: app.started_at.to_rfc3339(),
        uptime_seconds: app.started.elapsed().as_secs(),
        database: app.deployment.database,
        shared_state: app.deployment.shared_state,
    };
    json_response(StatusCode::OK, &body)
}
