//! The outage scenario: the scale-out gateway reaches PostgreSQL through a TCP relay
//! run by the bench; under passthrough load the relay is cut (every connection closed,
//! new ones refused) and later restored. Every upstream call goes through an
//! outbound proxy. Afterwards the request-log rows, the account uses and the
//! proxy-stats requests in the database must each match the 2xx answers: the stats
//! journal carried the outage. With `kill`, the gateway is SIGKILLed during the cut
//! and restarted on the same journal directory and database; then only what the
//! killed process held in memory may be missing.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::deploy::{self, Interrupt, Plan, ScaleOutStores};
use crate::load::{self, Samples, Timing, metric};
use crate::procs::{ChildGuard, GatewayEnv, TempDir};
use crate::scenario::Scenario;
use crate::services;

const CONCURRENCY: usize = 8;
const LOAD: Duration = Duration::from_secs(30);
const CUT_AT: Duration = Duration::from_secs(8);
const CUT_FOR: Duration = Duration::from_secs(10);
/// With `kill`: how far into the cut the gateway is killed.
const KILL_AFTER: Duration = Duration::from_secs(5);
/// How long the journal and the rows may take to settle after the load.
const DRAIN_LIMIT: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(100);
/// Events a killed gateway may hold beyond its queue: the writer's batch and
/// one being moved to the journal (the default `stats.batch_size`, 1,000,
/// each), and the answers in flight on the bench's connections.
const IN_FLIGHT_AT_KILL: f64 = 2.0 * 1_000.0 + 2.0 * CONCURRENCY as f64;

/// A TCP relay to `target` with a switch: while cut, every open connection is
/// closed and new ones are closed as soon as they are accepted.
struct Relay {
    addr: SocketAddr,
    cut: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Relay {
    async fn start(target: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (cut, cut_rx) = watch::channel(false);
        #[expect(
            clippy::disallowed_methods,
            reason = "one accept loop per relay, owned by it and aborted on drop"
        )]
        let task = tokio::spawn(relay(listener, target, cut_rx));
        Ok(Self { addr, cut, task })
    }

    fn set_cut(&self, cut: bool) {
        self.cut.send_replace(cut);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every link.
        self.task.abort();
    }
}

async fn relay(listener: TcpListener, target: SocketAddr, cut: watch::Receiver<bool>) {
    let mut links = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((mut inbound, _)) = accepted else { continue };
                if *cut.borrow() {
                    continue; // dropped: the connection is refused
                }
                let mut cut = cut.clone();
                links.spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.wait_for(|cut| *cut) => {}
                    }
                });
            }
            Some(_) = links.join_next(), if !links.is_empty() => {}
        }
    }
}

/// The `host:port` of a `postgres://` URL, and the URL with another `host:port`.
fn split_authority(url: &str) -> anyhow::Result<(String, impl Fn(SocketAddr) -> String)> {
    let scheme_end = url
        .find("://")
        .with_context(|| format!("`{url}` is not a postgres:// URL"))?
        + 3;
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    let host = &authority[host_start..];
    if host.is_empty() {
        bail!("`{url}` names no host");
    }
    let host_port = if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:5432")
    };
    let head = url[..scheme_end + host_start].to_owned();
    let tail = rest[authority_end..].to_owned();
    Ok((host_port, move |addr: SocketAddr| {
        format!("{head}{addr}{tail}")
    }))
}

/// What the gateway's `/metrics` says about its stats pipeline.
#[derive(Debug, Default, Clone, Copy)]
struct Journal {
    pending_bytes: f64,
    queue: f64,
    backlog: f64,
    replayed: f64,
    dropped: f64,
}

impl Journal {
    fn parse(metrics: &str) -> Self {
        Self {
            pending_bytes: metric(metrics, "aigw_stats_journal_pending_bytes"),
            queue: metric(metrics, "aigw_stats_queue_depth"),
            backlog: metric(metrics, "aigw_stats_backlog_rows"),
            replayed: metric(metrics, "aigw_stats_journal_replayed_events_total"),
            dropped: metric(metrics, "aigw_stats_dropped_events_total"),
        }
    }

    async fn read(gateway: SocketAddr) -> anyhow::Result<Self> {
        let (status, body) = load::get(gateway, "/metrics").await?;
        if !status.is_success() {
            bail!("/metrics answered {status}");
        }
        Ok(Self::parse(&String::from_utf8_lossy(&body)))
    }

    fn empty(self) -> bool {
        self.pending_bytes == 0.0 && self.queue == 0.0 && self.backlog == 0.0
    }
}

/// From the relay's restore until the journal is empty again: how long, how many
/// events were replayed (by the gateway answering now), the largest pending size.
#[derive(Debug, Default)]
struct Drain {
    seconds: Option<f64>,
    replayed: f64,
    peak_pending_bytes: f64,
    /// When the pipeline's state was last printed.
    traced: Option<Instant>,
}

impl Drain {
    /// Prints the pipeline's state about once a second, so that a run shows
    /// when the queue filled and when the journal grew and drained.
    fn trace(&mut self, journal: Journal) {
        if self
            .traced
            .is_some_and(|at| at.elapsed() < Duration::from_secs(1))
        {
            return;
        }
        self.traced = Some(Instant::now());
        eprintln!(
            "  queue {:>6}  backlog {:>6}  journal pending {:>9} B  replayed {:>7}  dropped {:>6}",
            journal.queue,
            journal.backlog,
            journal.pending_bytes,
            journal.replayed,
            journal.dropped
        );
    }
}

/// Polls `/metrics` until `until`; notes the peak pending size and, after `restored`
/// (once set), when the journal is first empty.
async fn watch_journal(
    gateway: SocketAddr,
    until: Instant,
    restored: &watch::Receiver<Option<Instant>>,
    drain: &mut Drain,
) {
    while Instant::now() < until && drain.seconds.is_none() {
        if let Ok(journal) = Journal::read(gateway).await {
            drain.peak_pending_bytes = drain.peak_pending_bytes.max(journal.pending_bytes);
            drain.trace(journal);
            if let Some(at) = *restored.borrow()
                && journal.pending_bytes == 0.0
            {
                drain.seconds = Some(at.elapsed().as_secs_f64());
                drain.replayed = journal.replayed;
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The admin password the scenario's gateway starts with.
const ADMIN_PASSWORD: &str = "outage-bench-admin";

/// Puts every account behind `proxy`, through the management API: signs in
/// as the admin, adds the proxy and recalculates the assignments.
async fn route_through(gateway: SocketAddr, proxy: SocketAddr) -> anyhow::Result<()> {
    let login = serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD});
    let (status, body) = load::call(
        gateway,
        http::Method::POST,
        "/api/v1/auth/login",
        None,
        serde_json::to_vec(&login)?.into(),
    )
    .await?;
    if !status.is_success() {
        bail!(
            "signing in answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let session: serde_json::Value = serde_json::from_slice(&body)?;
    let token = session["token"]
        .as_str()
        .context("no token in the sign-in")?;
    let new = serde_json::json!({"url": format!("http://{proxy}")});
    for (path, body) in [
        ("/api/v1/proxies", serde_json::to_vec(&new)?),
        ("/api/v1/proxies/recalculate", Vec::new()),
    ] {
        let (status, answer) =
            load::call(gateway, http::Method::POST, path, Some(token), body.into()).await?;
        if !status.is_success() {
            bail!(
                "{path} answered {status}: {}",
                String::from_utf8_lossy(&answer)
            );
        }
    }
    Ok(())
}

/// Runs the scenario; fails when the rows do not match the expected answers.
pub async fn run(plan: &Plan, kill: bool, interrupt: &mut Interrupt) -> anyhow::Result<()> {
    let stores = ScaleOutStores::create(plan)
        .await
        .map_err(|reason| anyhow::anyhow!("the outage scenario needs the stores: {reason}"))?;
    let result = async {
        let (pg, via) = split_authority(&stores.db.url)?;
        let pg = tokio::net::lookup_host(&pg)
            .await?
            .next()
            .with_context(|| format!("`{pg}` does not resolve"))?;
        let relay = Relay::start(pg).await?;
        let dir = TempDir::new("outage")?;
        let mut vars = deploy::base_vars(plan);
        vars.extend(stores.vars(&via(relay.addr), &plan.redis_url));
        vars.push(("AIGW_ADMIN__PASSWORD".to_owned(), ADMIN_PASSWORD.to_owned()));
        let (env, gateway) = deploy::gateway_env(plan, dir.path(), vars)?;
        interrupt
            .guard(scenario(&env, gateway, &relay, &stores.db.url, kill))
            .await?
    }
    .await;
    stores.remove(&plan.redis_url).await;
    result
}

async fn start(env: &GatewayEnv, addr: SocketAddr, log: &str) -> anyhow::Result<ChildGuard> {
    let mut gateway = env.serve(&env.dir.join(log))?;
    deploy::wait_ready(&mut gateway, addr).await?;
    Ok(gateway)
}

async fn scenario(
    env: &GatewayEnv,
    addr: SocketAddr,
    relay: &Relay,
    database_url: &str,
    kill: bool,
) -> anyhow::Result<()> {
    let client_key = deploy::register_off_runtime(env).await?;
    let mut gateway = start(env, addr, "gateway.log").await?;
    // Every upstream call goes through an outbound proxy, so that the daily
    // proxy stats are written, and checked, along with the rows.
    let proxy = aigw_mock_upstream::MockProxy::start(None).await?;
    route_through(addr, proxy.addr()).await?;
    let target = Scenario::Passthrough.through_gateway(addr, &client_key);
    // The probe's answer is expected to have its row too.
    load::probe(&target).await?;

    let (restored_tx, restored) = watch::channel(None);
    let mut drain = Drain::default();
    let started = Instant::now();
    let timing = |measure| Timing {
        warmup: Duration::ZERO,
        measure,
    };
    let mut answered = Samples::default();
    let mut in_memory_at_kill = None;
    let timeline = async {
        tokio::time::sleep(CUT_AT).await;
        relay.set_cut(true);
        eprintln!("relay cut at {:.1} s", started.elapsed().as_secs_f64());
    };
    if kill {
        // Phase 1 ends when the gateway is killed: every 2xx it counts was
        // received in full before the kill (a dead gateway answers nothing).
        let phase1 = load::run_round(&target, CONCURRENCY, timing(CUT_AT + KILL_AFTER));
        let killer = async {
            timeline.await;
            tokio::time::sleep(KILL_AFTER).await;
            // What the gateway holds in memory just before the kill: a
            // SIGKILL loses it, by design (requests never wait on the disk).
            let queued = Journal::read(addr).await.map_or(f64::NAN, |j| j.queue);
            gateway.kill();
            eprintln!("gateway killed at {:.1} s", started.elapsed().as_secs_f64());
            queued
        };
        let (samples, queued) = tokio::join!(phase1, killer);
        in_memory_at_kill = Some(queued + IN_FLIGHT_AT_KILL);
        answered.append(samples);
        relay.set_cut(false);
        restored_tx.send_replace(Some(Instant::now()));
        eprintln!("relay restored, gateway restarting");
        gateway = start(env, addr, "gateway-restarted.log").await?;
        let rest = LOAD.saturating_sub(started.elapsed());
        let phase2 = load::run_round(&target, CONCURRENCY, timing(rest));
        let until = Instant::now() + rest;
        let (samples, ()) = tokio::join!(phase2, watch_journal(addr, until, &restored, &mut drain));
        answered.append(samples);
    } else {
        let restorer = async {
            timeline.await;
            tokio::time::sleep(CUT_FOR).await;
            relay.set_cut(false);
            restored_tx.send_replace(Some(Instant::now()));
            eprintln!("relay restored at {:.1} s", started.elapsed().as_secs_f64());
        };
        let (samples, ()) =
            tokio::join!(load::run_round(&target, CONCURRENCY, timing(LOAD)), async {
                tokio::join!(
                    restorer,
                    watch_journal(addr, started + LOAD, &restored, &mut drain)
                );
            });
        answered.append(samples);
    }
    // The load is over: wait for the journal to empty (if it did not during the
    // load) and for the rows to reach the answers or stop changing.
    let limit = Instant::now() + DRAIN_LIMIT;
    watch_journal(addr, limit, &restored, &mut drain).await;
    let expected = i64::try_from(answered.total_us.len())? + 1;
    let mut rows = 0;
    let mut last_change = Instant::now();
    while Instant::now() < limit {
        let now = services::count(database_url, "SELECT count(*) FROM request_logs").await?;
        if now != rows {
            rows = now;
            last_change = Instant::now();
        }
        let journal = Journal::read(addr).await?;
        if journal.empty() && (rows == expected || last_change.elapsed() > Duration::from_secs(5)) {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    // Every answer is one use of an account (the load has no token counts):
    // the account-usage stage must match the rows, each counted once.
    let uses = services::count(
        database_url,
        "SELECT COALESCE(SUM(usage_count), 0)::bigint FROM accounts",
    )
    .await?;
    let proxied = services::count(
        database_url,
        "SELECT COALESCE(SUM(request_count), 0)::bigint FROM proxy_stats",
    )
    .await?;
    let (_, metrics) = load::get(addr, "/metrics").await?;
    let metrics = String::from_utf8_lossy(&metrics).into_owned();
    let journal = Journal::parse(&metrics);
    tokio::task::spawn_blocking(move || gateway.stop())
        .await
        .context("stopping the gateway panicked")?;

    let sent = answered.total_us.len() as u64 + answered.errors;
    println!(
        "outage{}: scale-out, passthrough, c={CONCURRENCY}, {} s load, relay to PostgreSQL cut at {} s for {} s",
        if kill {
            " (gateway SIGKILLed 5 s into the cut)"
        } else {
            ""
        },
        LOAD.as_secs(),
        CUT_AT.as_secs(),
        if kill { KILL_AFTER } else { CUT_FOR }.as_secs(),
    );
    println!("requests sent:          {sent} (2xx + failed)");
    println!("2xx:                    {expected} (the load's and the probe's)");
    println!("failed:                 {}", answered.errors);
    if let Some(first) = &answered.first_error {
        println!("first failure:          {first}");
    }
    println!("request-log rows:       {rows}");
    println!("account uses:           {uses}");
    println!(
        "proxy-stats requests:   {proxied} ({} tunnels opened)",
        proxy.tunnels()
    );
    println!("events dropped:         {}", journal.dropped);
    for line in metrics.lines().filter(|line| {
        line.starts_with("aigw_stats_dropped_events_total{") && !line.ends_with(" 0")
    }) {
        println!("  {line}");
    }
    println!("journal peak pending:   {} bytes", drain.peak_pending_bytes);
    match drain.seconds {
        Some(seconds) => {
            println!("restore → drained:      {seconds:.2} s");
            println!(
                "replay:                 {} events, {:.0} rows/s",
                drain.replayed,
                drain.replayed / seconds.max(f64::EPSILON)
            );
        }
        None => println!("restore → drained:      not drained"),
    }
    if uses != rows || proxied != rows {
        bail!("{uses} account uses and {proxied} proxy-stats requests for {rows} request-log rows");
    }
    let missing = expected - rows;
    match in_memory_at_kill {
        None if missing != 0 => bail!("{rows} request-log rows for {expected} 2xx answers"),
        Some(held) => {
            println!(
                "lost with the killed process: {missing} (at most {held:.0}: its queue just before \
                 the kill plus two batches and the requests in flight)"
            );
            if missing < 0 || missing as f64 > held || journal.dropped > 0.0 {
                bail!("{rows} request-log rows for {expected} 2xx answers");
            }
        }
        None => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    #[test]
    fn metrics_are_summed_over_labels() {
        let text = "# HELP aigw_stats_dropped_events_total x\n\
                    aigw_stats_dropped_events_total{reason=\"queue_full\"} 3\n\
                    aigw_stats_dropped_events_total{reason=\"journal_full\"} 4\n\
                    aigw_stats_journal_pending_bytes 120\n\
                    aigw_stats_journal_pending_bytes_other 9\n";
        assert_eq!(metric(text, "aigw_stats_dropped_events_total"), 7.0);
        assert_eq!(metric(text, "aigw_stats_journal_pending_bytes"), 120.0);
        assert_eq!(metric(text, "aigw_stats_queue_depth"), 0.0);
    }

    #[test]
    fn the_url_gets_the_relay_address() {
        let (host, via) = split_authority("postgres://u:p@127.0.0.1:5432/db?x=1").unwrap();
        assert_eq!(host, "127.0.0.1:5432");
        let relay: SocketAddr = "127.0.0.1:9".parse().unwrap();
        assert_eq!(via(relay), "postgres://u:p@127.0.0.1:9/db?x=1");
        let (host, _) = split_authority("postgres://localhost/db").unwrap();
        assert_eq!(host, "localhost:5432");
        assert!(split_authority("nonsense").is_err());
    }

    /// Echoes one connection at a time, which is all the relay test opens upstream.
    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        #[expect(
            clippy::disallowed_methods,
            reason = "one server task for the test's life"
        )]
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (mut r, mut w) = stream.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            }
        });
        addr
    }

    async fn echo(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
        stream.write_all(b"ping").await?;
        let mut buf = [0u8; 4];
        stream.read_exact(&mut buf).await?;
        Ok(buf.to_vec())
    }

    #[tokio::test]
    async fn the_relay_cuts_open_connections_and_refuses_new_ones_until_restored() {
        let relay = Relay::start(echo_server().await).await.unwrap();
        let mut open = TcpStream::connect(relay.addr).await.unwrap();
        assert_eq!(echo(&mut open).await.unwrap(), b"ping");

        relay.set_cut(true);
        let mut buf = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(5), open.read(&mut buf)).await;
        assert!(matches!(read, Ok(Ok(0) | Err(_))), "{read:?}");
        let mut new = TcpStream::connect(relay.addr).await.unwrap();
        assert!(echo(&mut new).await.is_err());

        relay.set_cut(false);
        let mut again = TcpStream::connect(relay.addr).await.unwrap();
        assert_eq!(echo(&mut again).await.unwrap(), b"ping");
    }
}
