//! The soak scenario: the embedded gateway (SQLite) under passthrough load for
//! minutes, to show what retention does to the database on disk. With
//! `retention`, request logs are kept for a minute and pruned every 10 s; without,
//! every row stays.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::deploy::{self, Interrupt, Plan};
use crate::load::{self, Timing, metric};
use crate::procs::TempDir;
use crate::scenario::Scenario;

const CONCURRENCY: usize = 64;
/// How long request logs are kept with `retention`.
const KEEP: &str = "60s";
/// How often retention runs with `retention`.
const EVERY: &str = "10s";
const SAMPLE: Duration = Duration::from_secs(30);

/// Bytes of the SQLite database at `db`: the file, its WAL and shared memory.
fn database_bytes(db: &Path) -> u64 {
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| {
            let mut path = db.as_os_str().to_owned();
            path.push(suffix);
            std::fs::metadata(path).ok()
        })
        .map(|m| m.len())
        .sum()
}

/// Runs the scenario for `seconds`, printing the database's size every 30 s.
pub async fn run(
    plan: &Plan,
    seconds: u64,
    retention: bool,
    interrupt: &mut Interrupt,
) -> anyhow::Result<()> {
    let dir = TempDir::new("soak")?;
    let db = dir.path().join("gateway.db");
    let mut vars = deploy::base_vars(plan);
    vars.push((
        "AIGW_DATABASE__URL".to_owned(),
        format!("sqlite://{}", db.display()),
    ));
    if retention {
        vars.push(("AIGW_RETENTION__REQUEST_LOGS".to_owned(), KEEP.to_owned()));
        vars.push(("AIGW_RETENTION__INTERVAL".to_owned(), EVERY.to_owned()));
    }
    let (env, addr) = deploy::gateway_env(plan, dir.path(), vars)?;
    let key = deploy::register_off_runtime(&env).await?;
    let mut gateway = env.serve(&dir.path().join("gateway.log"))?;
    deploy::wait_ready(&mut gateway, addr).await?;
    let target = Scenario::Passthrough.through_gateway(addr, &key);
    let started = Instant::now();
    let measure = Duration::from_secs(seconds);
    let timing = Timing {
        warmup: Duration::ZERO,
        measure,
    };
    let sampler = async {
        let mut peak = 0;
        while started.elapsed() < measure {
            tokio::time::sleep(SAMPLE.min(measure.saturating_sub(started.elapsed()))).await;
            let bytes = database_bytes(&db);
            peak = peak.max(bytes);
            eprintln!(
                "  {:>4.0} s: database {:.1} MB",
                started.elapsed().as_secs_f64(),
                bytes as f64 / 1e6
            );
        }
        peak
    };
    let (samples, peak) = interrupt
        .guard(async { tokio::join!(load::run_round(&target, CONCURRENCY, timing), sampler) })
        .await?;
    let (_, body) = load::get(addr, "/metrics").await?;
    let metrics = String::from_utf8_lossy(&body).into_owned();
    tokio::task::spawn_blocking(move || gateway.stop())
        .await
        .context("stopping the gateway panicked")?;
    let served = samples.total_us.len();
    let end = database_bytes(&db);
    println!(
        "soak: embedded (SQLite), passthrough, c={CONCURRENCY}, {seconds} s, retention {}",
        if retention {
            format!("request_logs = {KEEP}, interval = {EVERY}")
        } else {
            "off (defaults keep 30 days)".to_owned()
        }
    );
    println!(
        "requests:               {served} 2xx, {} failed ({:.0}/s)",
        samples.errors,
        served as f64 / samples.window.as_secs_f64().max(1e-9)
    );
    println!("database at the end:    {:.1} MB", end as f64 / 1e6);
    println!(
        "database peak sampled:  {:.1} MB",
        peak.max(end) as f64 / 1e6
    );
    println!(
        "request logs pruned:    {}",
        metric(
            &metrics,
            "aigw_retention_pruned_rows_total{data=\"request_logs\"}"
        )
    );
    println!(
        "stats events dropped:   {}",
        metric(&metrics, "aigw_stats_dropped_events_total")
    );
    Ok(())
}
