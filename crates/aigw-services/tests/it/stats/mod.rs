//! The stats pipeline against real databases: events become rows exactly,
//! full queues and outages are counted, shutdown drains.

// Helpers outside `#[test]` functions are test code too: they should fail loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed unwrap is a failed test"
)]

mod journal;
mod live;
mod outage;
mod pipeline;
mod queue;
mod retention;
mod support;

use std::sync::Arc;
use std::time::Duration;

use aigw_domain::{ApiKeyId, ProxyId};
use aigw_services::stats::{StatsConfig, StatsEvent, StatsFailure, TokenUsage};
use chrono::{DateTime, TimeDelta, Utc};

use support::Fixture;

/// A configuration for tests: small batches, short backoff.
fn config() -> StatsConfig {
    StatsConfig {
        queue_capacity: 10_000,
        batch_size: 64,
        flush_interval: Duration::from_millis(50),
        backlog_capacity: 10_000,
        retry_backoff_min: Duration::from_millis(20),
        retry_backoff_max: Duration::from_millis(200),
        shutdown_timeout: Duration::from_secs(10),
        write_timeout: Duration::from_secs(10),
        health: aigw_services::health::HealthSettings::default(),
    }
}

/// A mixed workload of `n` requests over the fixture's accounts and proxies:
/// every seventh request fails once (429, rate_limited) and succeeds on a
/// second attempt with another account, so it yields two events; every fifth
/// goes through no proxy; every eleventh happened two days before `now`.
fn workload(fixture: &Fixture, n: usize, now: DateTime<Utc>) -> Vec<StatsEvent> {
    let key = ApiKeyId::new();
    let model: Arc<str> = Arc::from("gpt-test");
    let mut events = Vec::new();
    for i in 0..n {
        let at = if i % 11 == 0 {
            now - TimeDelta::days(2)
        } else {
            now
        };
        let account = fixture.accounts[i % fixture.accounts.len()];
        let proxy = (i % 5 != 4).then(|| fixture.proxies[i % fixture.proxies.len()]);
        let mut event = StatsEvent::new(at, format!("req-{i}"));
        event.api_key_id = Some(key);
        event.provider_id = Some(fixture.provider.clone());
        event.model = Some(Arc::clone(&model));
        event.account_id = Some(account);
        event.proxy_id = proxy;
        event.status = 200;
        event.ttfb = Some(Duration::from_millis(5));
        event.latency = Duration::from_millis(10 + (i % 13) as u64);
        event.usage = TokenUsage {
            input: Some(i as u64),
            output: Some(2 * i as u64),
            cached: None,
        };
        if i % 7 == 0 {
            let mut failed = event.clone();
            failed.status = 429;
            failed.usage = TokenUsage::default();
            failed.error = Some(StatsFailure::new("rate_limited", "upstream said slow down"));
            events.push(failed);
            let next = fixture.accounts[(i + 1) % fixture.accounts.len()];
            event.attempt = 2;
            event.switched_from = Some(account);
            event.account_id = Some(next);
        }
        events.push(event);
    }
    events
}

/// The sums one proxy's `proxy_stats` rows must hold, computed from the
/// events the simple way.
fn expected_proxy_sums(events: &[StatsEvent], proxy: ProxyId) -> (i64, i64, i64, i64) {
    let mut sums = (0, 0, 0, 0);
    for e in events.iter().filter(|e| e.proxy_id == Some(proxy)) {
        sums.0 += 1;
        if e.status == 200 && e.error.is_none() {
            sums.1 += 1;
        } else {
            sums.2 += 1;
        }
        sums.3 += e.latency.as_millis() as i64;
    }
    sums
}
