//! One deployment's run: set up its stores, start the gateway, register a client key
//! and the upstream accounts, measure every scenario in alternating rounds while
//! watching the gateway's memory, and tear everything down again.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::pin::pin;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::ValueEnum;
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::load::{self, Samples, Timing};
use crate::procs::{self, Binaries, ChildGuard, GatewayEnv, TempDir};
use crate::report::{self, Comparison, DeploymentReport, Rss, Side};
use crate::scenario::{Scenario, UPSTREAM_KEY};
use crate::services::{self, ScratchDatabase};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeploymentKind {
    /// SQLite file, in-process shared state.
    Embedded,
    /// PostgreSQL and Redis.
    ScaleOut,
}

impl DeploymentKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Embedded => "embedded",
            Self::ScaleOut => "scale-out",
        }
    }
}

/// What every deployment runs.
#[derive(Debug)]
pub struct Plan {
    pub binaries: Binaries,
    pub mock: SocketAddr,
    pub scenarios: Vec<Scenario>,
    pub concurrency: Vec<usize>,
    pub rounds: usize,
    pub timing: Timing,
    pub database_url: String,
    pub redis_url: String,
    /// Extra gateway settings (`AIGW_…` variables), after the bench's own.
    pub gateway_env: Vec<(String, String)>,
}

/// SIGINT and SIGTERM, listened for from the start of the run so that stopping the
/// bench always goes through the cleanup (children stopped, scratch stores removed).
#[derive(Debug)]
pub struct Interrupt {
    int: Signal,
    term: Signal,
}

impl Interrupt {
    pub fn install() -> anyhow::Result<Self> {
        Ok(Self {
            int: signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?,
            term: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
        })
    }

    /// Runs `work` unless a signal arrives first.
    pub async fn guard<T>(&mut self, work: impl Future<Output = T>) -> anyhow::Result<T> {
        tokio::select! {
            out = work => Ok(out),
            _ = self.int.recv() => bail!("interrupted"),
            _ = self.term.recv() => bail!("terminated"),
        }
    }
}

/// How long the gateway gets to answer `/health` after it starts.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs one deployment. A scale-out deployment whose services are unreachable is
/// reported as skipped, not as a failure.
pub async fn run(
    kind: DeploymentKind,
    plan: &Plan,
    interrupt: &mut Interrupt,
) -> anyhow::Result<DeploymentReport> {
    let dir = TempDir::new(kind.name())?;
    let mut vars = base_vars(plan);
    let mut stores = None;
    match kind {
        DeploymentKind::Embedded => {
            let db = dir.path().join("gateway.db");
            vars.push((
                "AIGW_DATABASE__URL".to_owned(),
                format!("sqlite://{}", db.display()),
            ));
        }
        DeploymentKind::ScaleOut => match ScaleOutStores::create(plan).await {
            Ok(created) => {
                vars.extend(created.vars(&created.db.url, &plan.redis_url));
                stores = Some(created);
            }
            Err(reason) => return Ok(skipped(kind, reason)),
        },
    }

    let result = bench(kind, plan, &dir, vars, interrupt).await;

    // The gateway is stopped by now (bench owns it), so the stores can go.
    if let Some(stores) = stores {
        stores.remove(&plan.redis_url).await;
    }
    result
}

/// What every deployment sets: warnings only, both providers on the mock,
/// then the settings given with `--gateway-env`.
pub fn base_vars(plan: &Plan) -> Vec<(String, String)> {
    let mock = plan.mock;
    let mut vars = vec![
        ("AIGW_LOG__LEVEL".to_owned(), "warn".to_owned()),
        (
            "AIGW_PROVIDERS__OPENAI__BASE_URL".to_owned(),
            format!("http://{mock}/v1"),
        ),
        (
            "AIGW_PROVIDERS__ANTHROPIC__BASE_URL".to_owned(),
            format!("http://{mock}/v1"),
        ),
    ];
    vars.extend(plan.gateway_env.iter().cloned());
    vars
}

/// The scale-out deployment's stores: a scratch PostgreSQL database and a random
/// Redis key prefix, both removed by [`ScaleOutStores::remove`].
#[derive(Debug)]
pub struct ScaleOutStores {
    pub db: ScratchDatabase,
    prefix: String,
}

impl ScaleOutStores {
    /// Creates both; the error is why the deployment is skipped (a store unreachable).
    pub async fn create(plan: &Plan) -> Result<Self, String> {
        if let Err(e) = services::redis_ping(&plan.redis_url).await {
            return Err(format!("Redis unreachable: {e:#}"));
        }
        let db = ScratchDatabase::create(&plan.database_url)
            .await
            .map_err(|e| format!("PostgreSQL unreachable: {e:#}"))?;
        let prefix = format!("aigw-loadbench-{:08x}:", rand::random::<u32>());
        Ok(Self { db, prefix })
    }

    /// The gateway's variables, with the database reached at `database_url`.
    pub fn vars(&self, database_url: &str, redis_url: &str) -> Vec<(String, String)> {
        // PostgreSQL deployments need one shared key for the credentials at rest.
        let key: [u8; 32] = rand::random();
        let key: String = key.iter().map(|b| format!("{b:02x}")).collect();
        vec![
            ("AIGW_DATABASE__URL".to_owned(), database_url.to_owned()),
            ("AIGW_REDIS__URL".to_owned(), redis_url.to_owned()),
            ("AIGW_REDIS__KEY_PREFIX".to_owned(), self.prefix.clone()),
            ("AIGW_SECURITY__SECRET_KEY".to_owned(), key),
        ]
    }

    /// Drops the database and deletes the Redis keys; failures are warnings.
    pub async fn remove(self, redis_url: &str) {
        if let Err(e) = self.db.drop_database().await {
            eprintln!("warning: cannot drop the scratch database: {e:#}");
        }
        let prefix = self.prefix;
        match services::redis_delete_prefix(redis_url, &prefix).await {
            Ok(n) => eprintln!("deleted {n} Redis keys under {prefix}"),
            Err(e) => eprintln!("warning: cannot delete the Redis keys under {prefix}: {e:#}"),
        }
    }
}

fn skipped(kind: DeploymentKind, reason: String) -> DeploymentReport {
    eprintln!("{}: skipped: {reason}", kind.name());
    DeploymentReport {
        deployment: kind.name(),
        skipped: Some(reason),
        rss: Rss::default(),
        comparisons: Vec::new(),
        targets: Vec::new(),
    }
}

async fn bench(
    kind: DeploymentKind,
    plan: &Plan,
    dir: &TempDir,
    vars: Vec<(String, String)>,
    interrupt: &mut Interrupt,
) -> anyhow::Result<DeploymentReport> {
    let (env, addr) = gateway_env(plan, dir.path(), vars)?;
    let client_key = register_off_runtime(&env).await?;
    let log = dir.path().join("gateway.log");
    let mut gateway = env.serve(&log)?;
    let ready = interrupt.guard(wait_ready(&mut gateway, addr)).await?;
    if let Err(e) = ready {
        let tail = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = tail.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(e.context(format!("gateway log:\n{}", tail.join("\n"))));
    }
    let pid = gateway.pid().context("the gateway has no pid")?;
    eprintln!("{}: gateway pid {pid} on {addr}", kind.name());
    let idle = procs::resident(pid);

    for &scenario in &plan.scenarios {
        load::probe(&scenario.through_gateway(addr, &client_key))
            .await
            .with_context(|| format!("{} does not work through the gateway", scenario.label()))?;
        load::probe(&scenario.direct(plan.mock))
            .await
            .with_context(|| format!("{} does not work against the mock", scenario.label()))?;
    }

    let max_concurrency = plan.concurrency.iter().copied().max().unwrap_or(1);
    let mut under_load = Peak::default();
    let mut comparisons = Vec::new();
    for &scenario in &plan.scenarios {
        let direct_target = scenario.direct(plan.mock);
        let gateway_target = scenario.through_gateway(addr, &client_key);
        for &concurrency in &plan.concurrency {
            let mut direct = Samples::default();
            let mut through = Samples::default();
            for round in 1..=plan.rounds {
                let d = interrupt
                    .guard(load::run_round(&direct_target, concurrency, plan.timing))
                    .await?;
                progress(kind, scenario, concurrency, round, "direct", &d);
                direct.append(d);
                let ((mut g, cpu_us), peak) = interrupt
                    .guard(with_rss_peak(
                        pid,
                        with_cpu(
                            pid,
                            plan.timing,
                            load::run_round(&gateway_target, concurrency, plan.timing),
                        ),
                    ))
                    .await?;
                g.cpu_us = cpu_us;
                progress(kind, scenario, concurrency, round, "gateway", &g);
                through.append(g);
                if concurrency == max_concurrency {
                    under_load.merge(peak);
                }
                gateway.check_running()?;
            }
            comparisons.push(Comparison::new(
                scenario,
                concurrency,
                Side::from_samples(direct),
                Side::from_samples(through),
            ));
        }
    }

    // "After": read every 500 ms once the load stops, until back near idle or
    // for at most `Rss::SETTLE_LIMIT` (freed memory goes back to the system
    // over a few seconds, not at once).
    let settle_started = Instant::now();
    let mut after;
    loop {
        interrupt
            .guard(tokio::time::sleep(Duration::from_millis(500)))
            .await?;
        after = procs::resident(pid);
        let settled = matches!((idle, after), (Some(i), Some(a))
            if a.total_kib <= report::near_idle_kib(i.total_kib));
        if settled || settle_started.elapsed() >= Rss::SETTLE_LIMIT {
            break;
        }
    }
    let rss = Rss {
        idle_kib: idle.map(|r| r.total_kib),
        under_load_kib: under_load.total_kib,
        after_kib: after.map(|r| r.total_kib),
        after_ms: u64::try_from(settle_started.elapsed().as_millis()).ok(),
        anon_idle_kib: idle.map(|r| r.anon_kib),
        anon_under_load_kib: under_load.anon_kib,
        anon_after_kib: after.map(|r| r.anon_kib),
    };
    tokio::task::spawn_blocking(move || gateway.stop())
        .await
        .context("stopping the gateway panicked")?;
    Ok(DeploymentReport {
        deployment: kind.name(),
        skipped: None,
        rss,
        targets: report::check_targets(&comparisons, rss),
        comparisons,
    })
}

/// A gateway's environment: working in `dir`, with `vars`, listening on a free
/// port; returns it with that address.
pub fn gateway_env(
    plan: &Plan,
    dir: &std::path::Path,
    mut vars: Vec<(String, String)>,
) -> anyhow::Result<(GatewayEnv, SocketAddr)> {
    let addr = free_port()?;
    vars.push(("AIGW_SERVER__LISTEN".to_owned(), addr.to_string()));
    let env = GatewayEnv {
        binary: plan.binaries.gateway.clone(),
        dir: dir.to_path_buf(),
        vars,
    };
    Ok((env, addr))
}

/// [`register`] on the blocking pool (it runs the gateway's admin commands).
pub async fn register_off_runtime(env: &GatewayEnv) -> anyhow::Result<String> {
    let env = env.clone();
    tokio::task::spawn_blocking(move || register(&env))
        .await
        .context("registering the key and accounts panicked")?
}

/// Creates the client key and one account per upstream provider; returns the key.
pub fn register(env: &GatewayEnv) -> anyhow::Result<String> {
    let key = env.admin(&["keys", "create", "--label", "bench"])?;
    if !key.starts_with("ak_") {
        bail!("`aigateway keys create` printed `{key}`, not a client key");
    }
    for provider in ["openai", "anthropic"] {
        env.admin(&[
            "accounts",
            "add",
            "--provider",
            provider,
            "--label",
            "bench",
            "--api-key",
            UPSTREAM_KEY,
        ])?;
    }
    Ok(key)
}

/// A port that was free a moment ago: the gateway takes its address from config,
/// so the bench picks one by binding port 0 and releasing it.
pub fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?)
}

/// Polls `/health` until it answers 200, the gateway exits, or the deadline passes.
pub async fn wait_ready(gateway: &mut ChildGuard, addr: SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut last = String::from("no answer yet");
    while Instant::now() < deadline {
        gateway.check_running()?;
        match load::get_status(addr, "/health").await {
            Ok(status) if status.is_success() => return Ok(()),
            Ok(status) => last = format!("/health answered {status}"),
            Err(e) => last = format!("{e:#}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the gateway was not ready within {READY_TIMEOUT:?}: {last}")
}

/// The highest resident memory seen, all of it and its anonymous part (each its own
/// maximum).
#[derive(Debug, Default, Clone, Copy)]
struct Peak {
    total_kib: Option<u64>,
    anon_kib: Option<u64>,
}

impl Peak {
    fn sample(&mut self, pid: u32) {
        if let Some(now) = procs::resident(pid) {
            self.merge(Self {
                total_kib: Some(now.total_kib),
                anon_kib: Some(now.anon_kib),
            });
        }
    }

    fn merge(&mut self, other: Self) {
        self.total_kib = self.total_kib.max(other.total_kib);
        self.anon_kib = self.anon_kib.max(other.anon_kib);
    }
}

/// Runs `work` while sampling the gateway's resident memory every 100 ms; returns its
/// output and the peak.
async fn with_rss_peak<T>(pid: u32, work: impl Future<Output = T>) -> (T, Peak) {
    let mut work = pin!(work);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut peak = Peak::default();
    loop {
        tokio::select! {
            out = &mut work => {
                peak.sample(pid);
                return (out, peak);
            }
            _ = tick.tick() => peak.sample(pid),
        }
    }
}

/// Runs a round and reads the process's CPU time at the start and the end of
/// its recording window (after the warm-up), so the figure covers the same
/// requests as the latencies.
async fn with_cpu<T>(
    pid: u32,
    timing: load::Timing,
    work: impl Future<Output = T>,
) -> (T, Option<u64>) {
    let window = async {
        tokio::time::sleep(timing.warmup).await;
        let before = procs::cpu_us(pid);
        tokio::time::sleep(timing.measure).await;
        let after = procs::cpu_us(pid);
        before.zip(after).map(|(b, a)| a.saturating_sub(b))
    };
    tokio::join!(work, window)
}

fn progress(
    kind: DeploymentKind,
    scenario: Scenario,
    concurrency: usize,
    round: usize,
    side: &str,
    samples: &Samples,
) {
    let mut sorted = samples.total_us.clone();
    let latency = report::Latency::of(&mut sorted).unwrap_or_default();
    let rps = samples.total_us.len() as f64 / samples.window.as_secs_f64().max(f64::EPSILON);
    let cpu = samples
        .cpu_us
        .filter(|_| !samples.total_us.is_empty())
        .map_or_else(String::new, |cpu| {
            format!(
                "  CPU {:.1} µs/req",
                cpu as f64 / samples.total_us.len() as f64
            )
        });
    eprintln!(
        "{} {} c={concurrency} round {round} {side:<7}: {rps:>8.0} rps  p50 {:>6} µs  p99 {:>6} µs  p99.9 {:>6} µs  errors {}{cpu}",
        kind.name(),
        scenario.label(),
        latency.p50_us,
        latency.p99_us,
        latency.p999_us,
        samples.errors,
    );
}
