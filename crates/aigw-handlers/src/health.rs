//! `GET /health`: liveness and what this instance is running on.

use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};
use serde::Serialize;

use crate::app::App;
use crate::body::ResponseBody;
use crate::edge::EdgeCounters;
use crate::response::json_response;

#[derive(Serialize)]
struct Health<'a> {
    status: &'static str,
    service: &'static str,
    version: &'static str,
    started_at: String,
    uptime_seconds: u64,
    database: &'a str,
    shared_state: &'a str,
    stats: StatsHealth,
}

/// Where usage records wait: the queue, the in-memory backlog and the
/// journal on disk (with its replay progress).
#[derive(Serialize)]
struct StatsHealth {
    queue_depth: u64,
    backlog_events: u64,
    journal_bytes: u64,
    journal_pending_bytes: u64,
    journal_oldest_age_seconds: f64,
    journal_appended_events: u64,
    journal_replayed_events: u64,
    dropped_events: u64,
}

impl StatsHealth {
    fn of(stats: &aigw_services::stats::StatsMetrics) -> Self {
        Self {
            queue_depth: stats.queue_depth,
            backlog_events: stats.backlog_len,
            journal_bytes: stats.journal_bytes,
            journal_pending_bytes: stats.journal_pending_bytes,
            journal_oldest_age_seconds: stats
                .journal_oldest_age_seconds(chrono::Utc::now().timestamp_millis()),
            journal_appended_events: stats.journal_appended_events,
            journal_replayed_events: stats.journal_replayed_events,
            dropped_events: stats.dropped(),
        }
    }
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
        stats: StatsHealth::of(&app.gateway.stats().metrics()),
    };
    json_response(StatusCode::OK, &body)
}

/// `GET /metrics`: Prometheus text exposition.
pub(crate) fn metrics(app: &App) -> Response<ResponseBody> {
    let gateway = &app.gateway;
    let state = gateway.state().health();
    let stats = gateway.stats().metrics();
    let edge = &app.edge;
    let gauges = [
        (
            "aigw_stats_queue_depth",
            "Stats events waiting for the writer.",
            stats.queue_depth as f64,
        ),
        (
            "aigw_stats_backlog_rows",
            "Stats rows kept for retry while the database is unavailable.",
            stats.backlog_len as f64,
        ),
        (
            "aigw_stats_flushed_rows_total",
            "Request-log rows written.",
            stats.flushed_rows as f64,
        ),
        (
            "aigw_stats_flushes_total",
            "Stats batches written.",
            stats.flushes as f64,
        ),
        (
            "aigw_stats_flush_failures_total",
            "Stats batch writes that failed and were kept for retry.",
            stats.flush_failures as f64,
        ),
        (
            "aigw_stats_cache_releases_total",
            "Times the stats writer, idle for a flush interval, had the database hand back its write cache.",
            stats.memory_releases as f64,
        ),
        (
            "aigw_stats_dropped_total",
            "Stats events dropped (queue full, backlog full, or at shutdown).",
            stats.dropped() as f64,
        ),
        (
            "aigw_stats_health_write_failures_total",
            "Account health and learned-limit updates not written: refused, not taken in time, or skipped while stats writes fail or lag.",
            stats.health_failures as f64,
        ),
        (
            "aigw_response_pins_dropped_total",
            "Responses ids not pinned to their account because the pin queue was full.",
            gateway.response_pins_dropped() as f64,
        ),
        (
            "aigw_stats_journal_bytes",
            "Bytes of the stats journal's segments on disk.",
            stats.journal_bytes as f64,
        ),
        (
            "aigw_stats_journal_pending_bytes",
            "Bytes of the stats journal still to replay into the database.",
            stats.journal_pending_bytes as f64,
        ),
        (
            "aigw_stats_journal_oldest_age_seconds",
            "Age of the oldest stats journal record still to replay (0 when none).",
            stats.journal_oldest_age_seconds(chrono::Utc::now().timestamp_millis()),
        ),
        (
            "aigw_stats_journal_appended_events_total",
            "Stats events written to the journal because the database could not take them.",
            stats.journal_appended_events as f64,
        ),
        (
            "aigw_stats_journal_overflow_events_total",
            "Stats events moved from the queue to the journal because the writer fell behind.",
            stats.journal_overflow_events as f64,
        ),
        (
            "aigw_stats_journal_replayed_events_total",
            "Stats events replayed from the journal into the database.",
            stats.journal_replayed_events as f64,
        ),
        (
            "aigw_stats_journal_replayed_batches_total",
            "Stats batches replayed from the journal into the database.",
            stats.journal_replayed_batches as f64,
        ),
        (
            "aigw_stats_journal_corrupt_records_total",
            "Stats journal records skipped because of a bad checksum or a torn write.",
            stats.journal_corrupt_records as f64,
        ),
        (
            "aigw_stats_journal_errors_total",
            "Stats journal file operations that failed.",
            stats.journal_errors as f64,
        ),
        (
            "aigw_token_refreshes_total",
            "Calls made to OAuth token endpoints.",
            gateway.credentials().refresh_calls() as f64,
        ),
        (
            "aigw_shared_state_fallback_active",
            "1 while Redis is unreachable and shared state is served in-process.",
            f64::from(u8::from(state.degraded)),
        ),
        (
            "aigw_shared_state_outages_total",
            "Redis outages since start.",
            state.outages as f64,
        ),
        (
            "aigw_client_pool_routes",
            "Outbound routes (direct or per proxy) with a pooled HTTP client.",
            gateway.pool().len() as f64,
        ),
        (
            "aigw_cooldowns_active",
            "Account cooldowns currently in force.",
            gateway.cooldowns().active().len() as f64,
        ),
        (
            "aigw_cooldown_notices_dropped_total",
            "Cooldowns not announced to other instances because the outbox was full.",
            gateway.cooldowns().dropped_notices() as f64,
        ),
        (
            "aigw_http_connections_open",
            "Client connections open.",
            EdgeCounters::get(&edge.open),
        ),
        (
            "aigw_http_accept_errors_total",
            "Failed accepts of client connections (out of file descriptors, aborted handshakes).",
            EdgeCounters::get(&edge.accept_errors),
        ),
        (
            "aigw_http_connections_refused_total",
            "Client connections closed at once because the connection cap was reached and none was idle.",
            EdgeCounters::get(&edge.refused),
        ),
        (
            "aigw_http_idle_connections_evicted_total",
            "Idle client connections closed to make room (connection cap or no file descriptors).",
            EdgeCounters::get(&edge.evicted),
        ),
        (
            "aigw_http_header_timeouts_total",
            "Client connections closed because a request head did not arrive in time.",
            EdgeCounters::get(&edge.header_timeouts),
        ),
        (
            "aigw_http_body_timeouts_total",
            "Requests answered 408 because their body did not arrive in time.",
            EdgeCounters::get(&edge.body_timeouts),
        ),
        (
            "aigw_http_keep_alive_timeouts_total",
            "Kept-alive client connections closed after waiting too long for a request.",
            EdgeCounters::get(&edge.keep_alive_timeouts),
        ),
        (
            "aigw_http_lingering_closes_total",
            "Requests refused before their body was read (413, 401, 404, 405), answered while the rest of the body was read and discarded.",
            EdgeCounters::get(&edge.lingering_closes),
        ),
        (
            "aigw_uptime_seconds",
            "Seconds since this instance started.",
            app.started.elapsed().as_secs_f64(),
        ),
    ];
    let mut text = gateway.metrics().render(&gauges);
    render_drops(&mut text, &stats);
    let mut resp = Response::new(ResponseBody::full(text));
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

/// Dropped stats events by reason, one labelled family.
fn render_drops(out: &mut String, stats: &aigw_services::stats::StatsMetrics) {
    use std::fmt::Write as _;
    let name = "aigw_stats_dropped_events_total";
    let _ = writeln!(
        out,
        "# HELP {name} Stats events dropped, by reason.\n# TYPE {name} counter"
    );
    for (reason, value) in [
        ("queue_full", stats.dropped_queue_full),
        ("closed", stats.dropped_closed),
        ("backlog_full", stats.dropped_backlog_full),
        ("journal_full", stats.dropped_journal_full),
        ("journal_expired", stats.dropped_journal_expired),
        ("shutdown", stats.dropped_shutdown),
    ] {
        let _ = writeln!(out, "{name}{{reason=\"{reason}\"}} {value}");
    }
}
