//! Turning samples into figures: percentiles, direct-versus-gateway comparisons,
//! the target checks, the markdown table and the JSON report.

use std::fmt::Write as _;

use serde::Serialize;

use crate::load::Samples;
use crate::scenario::Scenario;

/// Latency percentiles in µs.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Latency {
    pub p50_us: u32,
    pub p99_us: u32,
    pub p999_us: u32,
    pub max_us: u32,
}

impl Latency {
    /// Sorts `values` in place and reads the percentiles (nearest rank).
    pub fn of(values: &mut [u32]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        values.sort_unstable();
        Some(Self {
            p50_us: per_mille(values, 500),
            p99_us: per_mille(values, 990),
            p999_us: per_mille(values, 999),
            max_us: values[values.len() - 1],
        })
    }
}

/// Nearest-rank quantile of sorted, non-empty `values`, in thousandths.
fn per_mille(values: &[u32], quantile: usize) -> u32 {
    let rank = (values.len() * quantile).div_ceil(1000).max(1);
    values[rank - 1]
}

/// Upper bounds (µs, inclusive) of the latency histogram's buckets; the last
/// bucket holds everything slower.
pub const HISTOGRAM_BOUNDS_US: [u32; 11] = [
    100, 200, 300, 500, 750, 1_000, 1_500, 2_000, 3_000, 5_000, 10_000,
];

/// How many of `values` fall in each bucket of [`HISTOGRAM_BOUNDS_US`], plus
/// one for everything above the last bound.
pub fn histogram(values: &[u32]) -> Vec<u64> {
    let mut counts = vec![0_u64; HISTOGRAM_BOUNDS_US.len() + 1];
    for &v in values {
        let bucket = HISTOGRAM_BOUNDS_US.partition_point(|&bound| bound < v);
        counts[bucket] += 1;
    }
    counts
}

/// One side (direct or gateway) of a scenario at one concurrency, over all its rounds.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub requests: u64,
    pub errors: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    pub rps: f64,
    /// Whole request, to the end of the body.
    pub latency: Option<Latency>,
    /// Time to the first SSE event (stream scenario only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_event: Option<Latency>,
    /// Whole-request latencies counted per [`HISTOGRAM_BOUNDS_US`] bucket.
    pub histogram: Vec<u64>,
    /// The gateway's CPU time (user + system, all threads, from `/proc`) over
    /// the recording windows, per recorded request; gateway side only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_us_per_request: Option<f64>,
}

impl Side {
    pub fn from_samples(mut samples: Samples) -> Self {
        let requests = samples.total_us.len() as u64;
        let secs = samples.window.as_secs_f64();
        let cpu_us_per_request = samples
            .cpu_us
            .filter(|_| requests > 0)
            .map(|cpu| cpu as f64 / requests as f64);
        Self {
            histogram: histogram(&samples.total_us),
            cpu_us_per_request,
            requests,
            errors: samples.errors,
            first_error: samples.first_error.take(),
            rps: if secs > 0.0 {
                requests as f64 / secs
            } else {
                0.0
            },
            latency: Latency::of(&mut samples.total_us),
            first_event: Latency::of(&mut samples.first_event_us),
        }
    }
}

/// What the gateway adds to a latency: gateway − direct, in µs (may be negative
/// on a noisy machine).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Added {
    pub p50_us: i64,
    pub p99_us: i64,
    pub p999_us: i64,
}

impl Added {
    fn between(direct: Option<Latency>, gateway: Option<Latency>) -> Option<Self> {
        let (d, g) = (direct?, gateway?);
        Some(Self {
            p50_us: i64::from(g.p50_us) - i64::from(d.p50_us),
            p99_us: i64::from(g.p99_us) - i64::from(d.p99_us),
            p999_us: i64::from(g.p999_us) - i64::from(d.p999_us),
        })
    }
}

/// One scenario at one concurrency, direct against gateway.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub scenario: Scenario,
    pub concurrency: usize,
    pub direct: Side,
    pub gateway: Side,
    pub added: Option<Added>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub added_first_event: Option<Added>,
    /// Gateway requests/s ÷ direct requests/s.
    pub throughput_ratio: Option<f64>,
}

impl Comparison {
    pub fn new(scenario: Scenario, concurrency: usize, direct: Side, gateway: Side) -> Self {
        let throughput_ratio = (direct.rps > 0.0).then(|| gateway.rps / direct.rps);
        Self {
            scenario,
            concurrency,
            added: Added::between(direct.latency, gateway.latency),
            added_first_event: Added::between(direct.first_event, gateway.first_event),
            direct,
            gateway,
            throughput_ratio,
        }
    }
}

/// Gateway resident memory in KiB.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Rss {
    pub idle_kib: Option<u64>,
    /// The peak sampled every 100 ms during the gateway rounds at the highest concurrency.
    pub under_load_kib: Option<u64>,
    /// After the last round, once back near idle ([`near_idle_kib`]) or when
    /// [`Rss::SETTLE_LIMIT`] has passed, whichever comes first.
    pub after_kib: Option<u64>,
    /// How long after the last round `after_kib` was read, in ms.
    pub after_ms: Option<u64>,
    /// The anonymous part (`RssAnon`) of `idle_kib`: without the binary's mapped
    /// pages, whose residency depends on the page cache rather than on the gateway.
    pub anon_idle_kib: Option<u64>,
    /// The anonymous part's own peak during the gateway rounds at the highest concurrency.
    pub anon_under_load_kib: Option<u64>,
    /// The anonymous part of `after_kib`, read with it.
    pub anon_after_kib: Option<u64>,
}

impl Rss {
    /// The longest the "after" reading waits for memory to be returned: the
    /// allocator gives freed pages back over a ~10 s decay, not at once.
    pub const SETTLE_LIMIT: std::time::Duration = std::time::Duration::from_secs(15);
}

/// "Back near idle": within 25% of the idle figure, or 5 MiB, whichever is larger.
pub fn near_idle_kib(idle_kib: u64) -> u64 {
    (idle_kib + idle_kib / 4).max(idle_kib + 5 * 1024)
}

/// One deployment's results, or why it was skipped.
#[derive(Debug, Clone, Serialize)]
pub struct DeploymentReport {
    pub deployment: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    pub rss: Rss,
    pub comparisons: Vec<Comparison>,
    pub targets: Vec<TargetCheck>,
}

/// A stated performance target and whether this run met it.
#[derive(Debug, Clone, Serialize)]
pub struct TargetCheck {
    pub target: String,
    pub limit: f64,
    pub measured: Option<f64>,
    pub met: Option<bool>,
}

impl TargetCheck {
    fn at_most(target: &str, limit: f64, measured: Option<f64>) -> Self {
        Self {
            target: target.to_owned(),
            limit,
            measured,
            met: measured.map(|m| m <= limit),
        }
    }

    fn at_least(target: &str, limit: f64, measured: Option<f64>) -> Self {
        Self {
            target: target.to_owned(),
            limit,
            measured,
            met: measured.map(|m| m >= limit),
        }
    }
}

/// Checks the project's targets against one deployment's figures.
pub fn check_targets(comparisons: &[Comparison], rss: Rss) -> Vec<TargetCheck> {
    let find = |scenario: Scenario, concurrency: usize| {
        comparisons
            .iter()
            .find(|c| c.scenario == scenario && c.concurrency == concurrency)
    };
    let added = |scenario, pick: fn(Added) -> i64| {
        find(scenario, 1)
            .and_then(|c| c.added)
            .map(|a| pick(a) as f64)
    };
    let max_concurrency = comparisons.iter().map(|c| c.concurrency).max().unwrap_or(0);
    let mut checks = vec![
        TargetCheck::at_most(
            "passthrough c=1: added p50 µs",
            60.0,
            added(Scenario::Passthrough, |a| a.p50_us),
        ),
        TargetCheck::at_most(
            "passthrough c=1: added p99 µs",
            100.0,
            added(Scenario::Passthrough, |a| a.p99_us),
        ),
        TargetCheck::at_most(
            "translated c=1: added p99 µs",
            150.0,
            added(Scenario::Translated, |a| a.p99_us),
        ),
        TargetCheck::at_most(
            "stream c=1: added time to first event p50 µs",
            100.0,
            find(Scenario::Stream, 1)
                .and_then(|c| c.added_first_event)
                .map(|a| a.p50_us as f64),
        ),
    ];
    if max_concurrency > 1 {
        for scenario in Scenario::ALL {
            let limit = if scenario == Scenario::Passthrough {
                25.0
            } else {
                40.0
            };
            checks.push(TargetCheck::at_most(
                &format!(
                    "{} c={max_concurrency}: gateway CPU µs per request",
                    scenario.label()
                ),
                limit,
                find(scenario, max_concurrency).and_then(|c| c.gateway.cpu_us_per_request),
            ));
        }
        checks.push(TargetCheck::at_least(
            &format!(
                "{} c={max_concurrency}: gateway/direct throughput",
                Scenario::Passthrough.label()
            ),
            0.45,
            find(Scenario::Passthrough, max_concurrency).and_then(|c| c.throughput_ratio),
        ));
    }
    let mib = |kib: Option<u64>| kib.map(|k| k as f64 / 1024.0);
    checks.push(TargetCheck::at_most(
        "gateway RSS idle MiB",
        30.0,
        mib(rss.idle_kib),
    ));
    checks.push(TargetCheck::at_most(
        "gateway RSS under load MiB",
        100.0,
        mib(rss.under_load_kib),
    ));
    if let Some(limit) = rss.idle_kib.map(near_idle_kib) {
        let limit = limit as f64 / 1024.0;
        checks.push(TargetCheck::at_most(
            "gateway RSS after load MiB (near idle)",
            (limit * 10.0).round() / 10.0,
            mib(rss.after_kib),
        ));
    }
    checks
}

/// The whole run, as written to the JSON file.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub machine: Machine,
    pub settings: Settings,
    pub deployments: Vec<DeploymentReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub load_average_before: Option<String>,
    pub load_average_after: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub round_seconds: f64,
    pub warmup_seconds: f64,
    pub rounds_per_side: usize,
    pub concurrency: Vec<usize>,
}

/// The first three fields of `/proc/loadavg`.
pub fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(
        text.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

fn us(value: Option<u32>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| v.to_string())
}

fn signed(value: Option<i64>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{v:+}"))
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(|| "–".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0))
}

/// Whole-request latency counts per bucket, direct and gateway side by side,
/// so a tail the percentiles hide (a few slow requests in a thousand) shows.
fn histogram_table(out: &mut String, comparisons: &[Comparison]) {
    let mut header = "| scenario | c | side |".to_owned();
    let mut rule = "|---|--:|---|".to_owned();
    for bound in HISTOGRAM_BOUNDS_US {
        let _ = write!(header, " ≤{bound} |");
        rule.push_str("--:|");
    }
    let _ = write!(
        header,
        " >{} |",
        HISTOGRAM_BOUNDS_US[HISTOGRAM_BOUNDS_US.len() - 1]
    );
    rule.push_str("--:|");
    let _ = writeln!(out, "latency histogram (requests per bucket, µs):\n");
    let _ = writeln!(out, "{header}\n{rule}");
    for c in comparisons {
        for (side, s) in [("direct", &c.direct), ("gateway", &c.gateway)] {
            let counts: Vec<String> = s.histogram.iter().map(u64::to_string).collect();
            let _ = writeln!(
                out,
                "| {} | {} | {side} | {} |",
                c.scenario.label(),
                c.concurrency,
                counts.join(" | ")
            );
        }
    }
    out.push('\n');
}

/// The markdown summary printed at the end of a run.
pub fn markdown(report: &RunReport) -> String {
    let mut out = String::new();
    let m = &report.machine;
    let _ = writeln!(
        out,
        "aigw-loadbench: {} CPUs, load average {} before / {} after; rounds of {:.0} s ({:.0} s warm-up), {} per side, direct and gateway alternating.\n",
        m.cpus,
        m.load_average_before.as_deref().unwrap_or("?"),
        m.load_average_after.as_deref().unwrap_or("?"),
        report.settings.round_seconds,
        report.settings.warmup_seconds,
        report.settings.rounds_per_side,
    );
    for deployment in &report.deployments {
        let _ = writeln!(out, "## {}\n", deployment.deployment);
        if let Some(reason) = &deployment.skipped {
            let _ = writeln!(out, "skipped: {reason}\n");
            continue;
        }
        let _ = writeln!(
            out,
            "| scenario | c | direct rps | gateway rps | ratio | gateway CPU µs/req | direct p50 / p99 / p99.9 µs | gateway p50 / p99 / p99.9 µs | added p50 / p99 / p99.9 µs | errors d/g |"
        );
        let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
        for c in &deployment.comparisons {
            let ratio = c
                .throughput_ratio
                .map_or_else(|| "–".to_owned(), |r| format!("{:.0}%", r * 100.0));
            let mut rows = vec![(
                if c.scenario.is_stream() {
                    format!("{} (total)", c.scenario.label())
                } else {
                    c.scenario.label().to_owned()
                },
                c.direct.latency,
                c.gateway.latency,
                c.added,
            )];
            if c.scenario.is_stream() {
                rows.push((
                    format!("{} (first event)", c.scenario.label()),
                    c.direct.first_event,
                    c.gateway.first_event,
                    c.added_first_event,
                ));
            }
            let cpu = c
                .gateway
                .cpu_us_per_request
                .map_or_else(|| "–".to_owned(), |v| format!("{v:.1}"));
            for (label, d, g, added) in rows {
                let _ = writeln!(
                    out,
                    "| {label} | {} | {:.0} | {:.0} | {ratio} | {cpu} | {} / {} / {} | {} / {} / {} | {} / {} / {} | {}/{} |",
                    c.concurrency,
                    c.direct.rps,
                    c.gateway.rps,
                    us(d.map(|l| l.p50_us)),
                    us(d.map(|l| l.p99_us)),
                    us(d.map(|l| l.p999_us)),
                    us(g.map(|l| l.p50_us)),
                    us(g.map(|l| l.p99_us)),
                    us(g.map(|l| l.p999_us)),
                    signed(added.map(|a| a.p50_us)),
                    signed(added.map(|a| a.p99_us)),
                    signed(added.map(|a| a.p999_us)),
                    c.direct.errors,
                    c.gateway.errors,
                );
            }
        }
        let _ = writeln!(
            out,
            "\ngateway RSS MiB: idle {}, under load {}, after {} (read {} s after the load); \
             anonymous: idle {}, under load {}, after {}\n",
            mib(deployment.rss.idle_kib),
            mib(deployment.rss.under_load_kib),
            mib(deployment.rss.after_kib),
            deployment
                .rss
                .after_ms
                .map_or_else(|| "?".to_owned(), |ms| format!("{:.1}", ms as f64 / 1000.0)),
            mib(deployment.rss.anon_idle_kib),
            mib(deployment.rss.anon_under_load_kib),
            mib(deployment.rss.anon_after_kib),
        );
        histogram_table(&mut out, &deployment.comparisons);
        for c in &deployment.comparisons {
            for (side, s) in [("direct", &c.direct), ("gateway", &c.gateway)] {
                if let Some(error) = &s.first_error {
                    let _ = writeln!(
                        out,
                        "first error, {} c={} {side}: {error}",
                        c.scenario.label(),
                        c.concurrency
                    );
                }
            }
        }
        let _ = writeln!(out, "| target | limit | measured | met |");
        let _ = writeln!(out, "|---|--:|--:|---|");
        for t in &deployment.targets {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                t.target,
                t.limit,
                t.measured
                    .map_or_else(|| "–".to_owned(), |m| format!("{m:.2}")),
                match t.met {
                    Some(true) => "yes",
                    Some(false) => "NO",
                    None => "–",
                }
            );
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut values: Vec<u32> = (1..=100).rev().collect();
        let l = Latency::of(&mut values).unwrap();
        assert_eq!(
            l,
            Latency {
                p50_us: 50,
                p99_us: 99,
                p999_us: 100,
                max_us: 100
            }
        );
        let mut thousand: Vec<u32> = (1..=1000).collect();
        assert_eq!(Latency::of(&mut thousand).unwrap().p999_us, 999);
        assert_eq!(Latency::of(&mut [7]).unwrap().p99_us, 7);
        assert!(Latency::of(&mut []).is_none());
    }

    fn side(rps_requests: u64, values: Vec<u32>) -> Side {
        let mut samples = Samples {
            total_us: values,
            window: Duration::from_secs(1),
            ..Samples::default()
        };
        samples.total_us.truncate(rps_requests as usize);
        Side::from_samples(samples)
    }

    #[test]
    fn the_histogram_counts_each_latency_in_its_bucket() {
        let counts = histogram(&[1, 100, 101, 2_000, 2_001, 10_000, 10_001, 99_999]);
        assert_eq!(counts.len(), HISTOGRAM_BOUNDS_US.len() + 1);
        assert_eq!(counts[0], 2, "≤100");
        assert_eq!(counts[1], 1, "≤200");
        assert_eq!(counts[7], 1, "≤2000");
        assert_eq!(counts[8], 1, "≤3000");
        assert_eq!(counts[10], 1, "≤10000");
        assert_eq!(counts[11], 2, ">10000");
        assert_eq!(counts.iter().sum::<u64>(), 8);
    }

    #[test]
    fn cpu_per_request_divides_the_window_cpu_by_the_recorded_requests() {
        let samples = Samples {
            total_us: vec![10; 400],
            cpu_us: Some(10_000),
            window: Duration::from_secs(1),
            ..Samples::default()
        };
        assert_eq!(Side::from_samples(samples).cpu_us_per_request, Some(25.0));
        assert_eq!(side(0, vec![]).cpu_us_per_request, None);
    }

    #[test]
    fn the_comparison_subtracts_direct_from_gateway() {
        let direct = side(4, vec![100, 100, 100, 200]);
        let gateway = side(2, vec![150, 400]);
        let c = Comparison::new(Scenario::Passthrough, 1, direct, gateway);
        assert_eq!(
            c.added,
            Some(Added {
                p50_us: 50,
                p99_us: 200,
                p999_us: 200
            })
        );
        assert_eq!(c.throughput_ratio, Some(0.5));
        assert_eq!(c.added_first_event, None);
    }

    #[test]
    fn targets_fail_when_the_gateway_adds_too_much() {
        let c1 = Comparison::new(
            Scenario::Passthrough,
            1,
            side(2, vec![100, 100]),
            side(2, vec![150, 300]),
        );
        let mut heavy = side(3, vec![1; 3]);
        heavy.cpu_us_per_request = Some(30.0);
        let c64 = Comparison::new(Scenario::Passthrough, 64, side(10, vec![1; 10]), heavy);
        let rss = Rss {
            idle_kib: Some(20 * 1024),
            under_load_kib: Some(40 * 1024),
            after_kib: Some(60 * 1024),
            after_ms: Some(15_000),
            ..Rss::default()
        };
        let checks = check_targets(&[c1, c64], rss);
        let met = |name: &str| {
            checks
                .iter()
                .find(|t| t.target.starts_with(name))
                .and_then(|t| t.met)
        };
        assert_eq!(met("passthrough c=1: added p50"), Some(true), "+50 µs");
        assert_eq!(met("passthrough c=1: added p99"), Some(false), "+200 µs");
        assert_eq!(met("translated c=1"), None);
        assert_eq!(met("openai→openai c=64: gateway/direct"), Some(false));
        assert_eq!(met("openai→openai c=64: gateway CPU"), Some(false));
        assert_eq!(met("gateway RSS idle"), Some(true));
        assert_eq!(met("gateway RSS under load"), Some(true));
        assert_eq!(met("gateway RSS after"), Some(false));
    }

    #[test]
    fn the_table_has_a_row_per_scenario_and_two_for_streams() {
        let stream = Comparison::new(Scenario::Stream, 1, side(1, vec![10]), side(1, vec![20]));
        let plain = Comparison::new(
            Scenario::Translated,
            1,
            side(1, vec![10]),
            side(1, vec![20]),
        );
        let report = RunReport {
            machine: Machine {
                cpus: 2,
                load_average_before: None,
                load_average_after: None,
            },
            settings: Settings {
                round_seconds: 10.0,
                warmup_seconds: 1.0,
                rounds_per_side: 2,
                concurrency: vec![1],
            },
            deployments: vec![
                DeploymentReport {
                    deployment: "embedded",
                    skipped: None,
                    rss: Rss::default(),
                    targets: check_targets(&[stream.clone(), plain.clone()], Rss::default()),
                    comparisons: vec![plain, stream],
                },
                DeploymentReport {
                    deployment: "scale-out",
                    skipped: Some("PostgreSQL unreachable".to_owned()),
                    rss: Rss::default(),
                    comparisons: vec![],
                    targets: vec![],
                },
            ],
        };
        let text = markdown(&report);
        assert!(text.contains(
            "| anthropic→openai | 1 | 1 | 1 | 100% | – | 10 / 10 / 10 | 20 / 20 / 20 | +10 / +10 / +10 | 0/0 |"
        ));
        assert!(text.contains("| openai stream (total) |"));
        assert!(text.contains("| openai stream (first event) | 1 | 1 | 1 | 100% | – |"));
        assert!(text.contains("skipped: PostgreSQL unreachable"));
        assert!(text.contains("| anthropic→openai | 1 | gateway | 1 | 0 |"));
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            json["deployments"][0]["comparisons"][0]["added"]["p99_us"],
            10
        );
        assert_eq!(json["deployments"][1]["skipped"], "PostgreSQL unreachable");
    }
}
