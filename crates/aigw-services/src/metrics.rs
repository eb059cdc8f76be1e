//! Process metrics, rendered in the Prometheus text format for `/metrics`.
//!
//! Label sets are small and known in advance (provider, model, status class,
//! client format, reason), so each series is an atomic found by a read-locked
//! map lookup; the write lock is taken only the first time a series appears.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::RwLock;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Series of one metric family, found by a hash of their label values so a
/// lookup allocates nothing; colliding label sets share a bucket list.
#[derive(Debug)]
struct Family<const N: usize, T> {
    series: RwLock<foldhash::HashMap<u64, Vec<Series<N, T>>>>,
    /// Hashes label values to the map's key.
    hasher: foldhash::fast::RandomState,
}

/// One series: its label values and its value.
type Series<const N: usize, T> = ([Arc<str>; N], Arc<T>);

impl<const N: usize, T> Default for Family<N, T> {
    fn default() -> Self {
        Self {
            series: RwLock::new(HashMap::default()),
            hasher: foldhash::fast::RandomState::default(),
        }
    }
}

impl<const N: usize, T: Default> Family<N, T> {
    fn get(&self, labels: [&str; N]) -> Arc<T> {
        let hash = std::hash::BuildHasher::hash_one(&self.hasher, labels);
        let matches = |k: &[Arc<str>; N]| k.iter().zip(labels.iter()).all(|(a, b)| &**a == *b);
        if let Some(found) = self
            .series
            .read()
            .get(&hash)
            .and_then(|list| list.iter().find(|(k, _)| matches(k)))
        {
            return Arc::clone(&found.1);
        }
        let mut series = self.series.write();
        let list = series.entry(hash).or_default();
        if let Some(found) = list.iter().find(|(k, _)| matches(k)) {
            return Arc::clone(&found.1);
        }
        let value = Arc::new(T::default());
        list.push((labels.map(Arc::<str>::from), Arc::clone(&value)));
        value
    }

    fn sorted(&self) -> Vec<Series<N, T>> {
        let mut rows: Vec<_> = self.series.read().values().flatten().cloned().collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        rows
    }
}

/// A family of counters keyed by a label tuple.
#[derive(Debug, Default)]
struct CounterVec<const N: usize> {
    family: Family<N, AtomicU64>,
}

impl<const N: usize> CounterVec<N> {
    fn add(&self, labels: [&str; N], n: u64) {
        self.family.get(labels).fetch_add(n, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str, label_names: [&str; N]) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        let rows = self.family.sorted();
        for (labels, value) in rows {
            let _ = writeln!(
                out,
                "{name}{{{}}} {}",
                render_labels(&label_names, &labels),
                value.load(Ordering::Relaxed)
            );
        }
    }
}

/// A latency histogram per label tuple.
#[derive(Debug, Default)]
struct HistogramVec<const N: usize> {
    family: Family<N, Histogram>,
}

#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl<const N: usize> HistogramVec<N> {
    fn observe(&self, labels: [&str; N], value: Duration) {
        let h = self.family.get(labels);
        let secs = value.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            h.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        h.count.fetch_add(1, Ordering::Relaxed);
        h.sum_micros.fetch_add(
            u64::try_from(value.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    fn render(&self, out: &mut String, name: &str, help: &str, label_names: [&str; N]) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let rows = self.family.sorted();
        for (labels, h) in rows {
            let base = render_labels(&label_names, &labels);
            let sep = if base.is_empty() { "" } else { "," };
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += h.buckets[i].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "{name}_bucket{{{base}{sep}le=\"{bound}\"}} {cumulative}"
                );
            }
            let count = h.count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{base}{sep}le=\"+Inf\"}} {count}");
            let sum = h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(out, "{name}_sum{{{base}}} {sum}");
            let _ = writeln!(out, "{name}_count{{{base}}} {count}");
        }
    }
}

fn render_labels<const N: usize>(names: &[&str; N], values: &[Arc<str>; N]) -> String {
    names
        .iter()
        .zip(values.iter())
        .map(|(n, v)| format!("{n}=\"{}\"", escape(v)))
        .collect::<Vec<_>>()
        .join(",")
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The gateway's own metrics. Gauges owned by other parts (stats queue,
/// shared-state fallback, pool size) are read when rendering.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: CounterVec<4>,
    upstream_latency: HistogramVec<1>,
    time_to_first_byte: HistogramVec<1>,
    failovers: CounterVec<1>,
    base_url_fallbacks: CounterVec<1>,
    cooldowns: CounterVec<1>,
    pruned: CounterVec<1>,
    prune_failures: CounterVec<1>,
}

/// The class of an HTTP status for labels: `2xx`, `4xx`, `5xx`.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

impl Metrics {
    /// One finished client request.
    pub fn request(&self, provider: &str, model: &str, status: u16, client_format: &str) {
        self.requests
            .add([provider, model, status_class(status), client_format], 1);
    }

    /// The latency of an upstream attempt until its whole body (non-stream).
    pub fn upstream_latency(&self, provider: &str, latency: Duration) {
        self.upstream_latency.observe([provider], latency);
    }

    /// Time to the upstream's response headers (or first stream event).
    pub fn time_to_first_byte(&self, provider: &str, latency: Duration) {
        self.time_to_first_byte.observe([provider], latency);
    }

    /// A failed attempt that moved the request to another account.
    pub fn failover(&self, reason: &str) {
        self.failovers.add([reason], 1);
    }

    /// A provider's next base URL tried after the previous one could not
    /// serve (same account).
    pub fn base_url_fallback(&self, provider: &str) {
        self.base_url_fallbacks.add([provider], 1);
    }

    /// An account put in cooldown.
    pub fn cooldown(&self, reason: &str) {
        self.cooldowns.add([reason], 1);
    }

    /// Rows (or entries) of `data` deleted by retention.
    pub fn pruned(&self, data: &str, rows: u64) {
        self.pruned.add([data], rows);
    }

    /// A retention pass over `data` that failed (retried at the next pass).
    pub fn prune_failed(&self, data: &str) {
        self.prune_failures.add([data], 1);
    }

    /// Renders these metrics; `gauges` are appended as `name value` lines
    /// (already formatted by their owners).
    pub fn render(&self, gauges: &[(&str, &str, f64)]) -> String {
        let mut out = String::with_capacity(4096);
        self.requests.render(
            &mut out,
            "aigw_requests_total",
            "Client requests by provider, model, status class and client format.",
            ["provider", "model", "status_class", "client_format"],
        );
        self.upstream_latency.render(
            &mut out,
            "aigw_upstream_latency_seconds",
            "Upstream call latency until the whole response.",
            ["provider"],
        );
        self.time_to_first_byte.render(
            &mut out,
            "aigw_upstream_ttfb_seconds",
            "Upstream time to first byte (headers, or first stream event).",
            ["provider"],
        );
        self.failovers.render(
            &mut out,
            "aigw_failovers_total",
            "Attempts that failed over to another account, by reason.",
            ["reason"],
        );
        self.base_url_fallbacks.render(
            &mut out,
            "aigw_base_url_fallbacks_total",
            "Attempts that moved on to a provider's next base URL, by provider.",
            ["provider"],
        );
        self.cooldowns.render(
            &mut out,
            "aigw_cooldowns_total",
            "Accounts put in cooldown, by reason.",
            ["reason"],
        );
        self.pruned.render(
            &mut out,
            "aigw_retention_pruned_rows_total",
            "Rows deleted by retention, by data set.",
            ["data"],
        );
        self.prune_failures.render(
            &mut out,
            "aigw_retention_failures_total",
            "Retention passes that failed, by data set.",
            ["data"],
        );
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let m = Metrics::default();
        m.request("openai", "gpt-4o", 200, "openai");
        m.request("openai", "gpt-4o", 200, "openai");
        m.request("openai", "gpt-4o", 503, "anthropic");
        m.upstream_latency("openai", Duration::from_millis(20));
        m.failover("rate_limited");
        let text = m.render(&[("aigw_pool_clients", "Pooled clients.", 2.0)]);
        assert!(text.contains(
            "aigw_requests_total{provider=\"openai\",model=\"gpt-4o\",status_class=\"2xx\",client_format=\"openai\"} 2"
        ), "{text}");
        assert!(text.contains("status_class=\"5xx\",client_format=\"anthropic\"} 1"));
        assert!(
            text.contains(
                "aigw_upstream_latency_seconds_bucket{provider=\"openai\",le=\"0.025\"} 1"
            )
        );
        assert!(
            text.contains(
                "aigw_upstream_latency_seconds_bucket{provider=\"openai\",le=\"0.01\"} 0"
            )
        );
        assert!(text.contains("aigw_upstream_latency_seconds_count{provider=\"openai\"} 1"));
        assert!(text.contains("aigw_failovers_total{reason=\"rate_limited\"} 1"));
        assert!(text.contains("aigw_pool_clients 2"));
    }
}
