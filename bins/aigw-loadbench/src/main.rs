//! aigw-loadbench: starts the mock upstream and the release gateway as separate
//! processes, measures each scenario straight to the mock and through the gateway in
//! alternating rounds, and reports throughput, latency added by the gateway and the
//! gateway's memory, as a markdown table and a JSON file.
#![expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line bench: the table goes to stdout, progress to stderr"
)]

mod deploy;
mod load;
mod outage;
mod procs;
mod report;
mod scenario;
mod services;
mod soak;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};

use crate::deploy::{DeploymentKind, Interrupt, Plan};
use crate::report::{Machine, RunReport, Settings};
use crate::scenario::Scenario;

/// Load bench: the gateway against the mock upstream, direct and through the gateway.
#[derive(Debug, Parser)]
#[command(name = "aigw-loadbench", version, about)]
struct Args {
    /// Seconds per round, the 1 s warm-up included (2–20).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(2..=20))]
    duration_per_round: u64,
    /// Rounds per side: direct and gateway rounds alternate, D G D G for 2 (1–5).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=5))]
    rounds: u64,
    /// Concurrent connections (closed-loop workers), one figure per value.
    #[arg(long, value_delimiter = ',', default_value = "1,64")]
    concurrency: Vec<usize>,
    /// Deployments to run: the embedded default (SQLite, in-process state) and
    /// scale-out (PostgreSQL + Redis).
    #[arg(long, value_delimiter = ',', default_value = "embedded,scale-out")]
    deployments: Vec<DeploymentKind>,
    /// Scenarios to run.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "passthrough,translated,stream,responses-stream"
    )]
    scenarios: Vec<ScenarioArg>,
    /// Where to write the JSON report.
    #[arg(long, default_value = "loadbench.json")]
    out: PathBuf,
    /// The directory holding `aigateway` and `aigw-mock-upstream` (default: this
    /// executable's directory).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// PostgreSQL server for the scale-out deployment; a scratch database is created
    /// on it and dropped at the end.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    database_url: String,
    /// Redis for the scale-out deployment; its keys go under a random prefix,
    /// deleted at the end.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Instead of the table: the outage scenario (scale-out, 8 connections of
    /// passthrough through an outbound proxy for 30 s, PostgreSQL cut for 10 s at
    /// 8 s); fails when the request-log rows, account uses or proxy-stats requests
    /// differ from the 2xx answers.
    #[arg(long, conflicts_with = "outage_kill")]
    outage: bool,
    /// The outage scenario with the gateway SIGKILLed 5 s into the cut and restarted.
    #[arg(long)]
    outage_kill: bool,
    /// Instead of the table: the soak scenario (embedded, 64 connections of
    /// passthrough for this many seconds), printing the database's size on disk.
    #[arg(long, conflicts_with_all = ["outage", "outage_kill"])]
    soak: Option<u64>,
    /// With `--soak`: keep request logs for a minute, pruned every 10 s.
    #[arg(long, requires = "soak")]
    soak_retention: bool,
    /// An extra gateway setting, `AIGW_NAME=value` (repeatable), e.g.
    /// `--gateway-env AIGW_STATS__BATCH_SIZE=100` to compare settings.
    #[arg(long, value_parser = gateway_setting)]
    gateway_env: Vec<(String, String)>,
}

/// A `--gateway-env` value: `AIGW_NAME=value`.
fn gateway_setting(raw: &str) -> Result<(String, String), String> {
    match raw.split_once('=') {
        Some((name, value)) if name.starts_with("AIGW_") => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("`{raw}` is not AIGW_NAME=value")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ScenarioArg {
    Passthrough,
    Translated,
    Stream,
    ResponsesStream,
}

impl From<ScenarioArg> for Scenario {
    fn from(arg: ScenarioArg) -> Self {
        match arg {
            ScenarioArg::Passthrough => Self::Passthrough,
            ScenarioArg::Translated => Self::Translated,
            ScenarioArg::Stream => Self::Stream,
            ScenarioArg::ResponsesStream => Self::ResponsesStream,
        }
    }
}

const WARMUP: Duration = Duration::from_secs(1);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.concurrency.is_empty() || args.concurrency.contains(&0) {
        anyhow::bail!("--concurrency needs positive values");
    }
    let binaries = procs::Binaries::find(args.bin_dir.as_deref())?;
    if binaries
        .gateway
        .parent()
        .is_some_and(|dir| dir.ends_with("debug"))
    {
        eprintln!("warning: measuring debug binaries; build with --release for real figures");
    }
    // Installed before any child starts, so Ctrl-C always reaches the cleanup.
    let mut interrupt = Interrupt::install()?;
    let load_before = report::load_average();

    let mock_binary = binaries.mock.clone();
    let (mock, mock_addr) = tokio::task::spawn_blocking(move || procs::start_mock(&mock_binary))
        .await
        .context("the mock upstream start-up panicked")??;
    eprintln!("mock upstream on {mock_addr}");

    let plan = Plan {
        binaries,
        mock: mock_addr,
        scenarios: args.scenarios.iter().copied().map(Scenario::from).collect(),
        concurrency: args.concurrency.clone(),
        rounds: usize::try_from(args.rounds).unwrap_or(1),
        timing: load::Timing {
            warmup: WARMUP,
            measure: Duration::from_secs(args.duration_per_round) - WARMUP,
        },
        database_url: args.database_url.clone(),
        redis_url: args.redis_url.clone(),
        gateway_env: args.gateway_env.clone(),
    };
    if args.outage || args.outage_kill || args.soak.is_some() {
        let result = match args.soak {
            Some(seconds) => soak::run(&plan, seconds, args.soak_retention, &mut interrupt).await,
            None => outage::run(&plan, args.outage_kill, &mut interrupt).await,
        };
        tokio::task::spawn_blocking(move || drop(mock))
            .await
            .context("stopping the mock upstream panicked")?;
        return result;
    }
    let mut deployments = Vec::new();
    let mut failure = None;
    for kind in &args.deployments {
        match deploy::run(*kind, &plan, &mut interrupt).await {
            Ok(report) => deployments.push(report),
            Err(e) => {
                failure = Some(e.context(format!("the {} deployment failed", kind.name())));
                break;
            }
        }
    }
    // The mock is stopped before the report so nothing outlives a failed write.
    tokio::task::spawn_blocking(move || drop(mock))
        .await
        .context("stopping the mock upstream panicked")?;

    let report = RunReport {
        machine: Machine {
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            load_average_before: load_before,
            load_average_after: report::load_average(),
        },
        settings: Settings {
            round_seconds: args.duration_per_round as f64,
            warmup_seconds: WARMUP.as_secs_f64(),
            rounds_per_side: plan.rounds,
            concurrency: args.concurrency.clone(),
        },
        deployments,
    };
    if !report.deployments.is_empty() {
        print!("{}", report::markdown(&report));
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(&args.out, json + "\n")
            .with_context(|| format!("cannot write {}", args.out.display()))?;
        eprintln!("wrote {}", args.out.display());
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::gateway_setting;

    #[test]
    fn a_gateway_setting_is_an_aigw_name_and_a_value() {
        assert_eq!(
            gateway_setting("AIGW_STATS__BATCH_SIZE=100"),
            Ok(("AIGW_STATS__BATCH_SIZE".to_owned(), "100".to_owned()))
        );
        assert_eq!(
            gateway_setting("AIGW_X=a=b"),
            Ok(("AIGW_X".to_owned(), "a=b".to_owned()))
        );
        assert!(gateway_setting("STATS__BATCH_SIZE=100").is_err());
        assert!(gateway_setting("AIGW_STATS__BATCH_SIZE").is_err());
    }
}
