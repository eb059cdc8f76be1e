//! Proxy health: one owned background task that probes every active proxy
//! on an interval and counts the tunnel failures real traffic meets, marks a
//! proxy `down` after `max_failures` consecutive failures and `healthy`
//! again after `recover_after` consecutive good probes.
//!
//! A probe is what a request does before its first byte: a TCP connection to
//! the proxy, its `CONNECT` (or SOCKS5) handshake to the probe target and,
//! for an `https` target, the TLS handshake with it
//! ([`ClientPool::probe_proxy`](crate::client_pool::ClientPool::probe_proxy)).
//! The target is the configured one, else the base URL of a provider whose
//! accounts the proxy carries, else of any active provider.
//!
//! A change of health moves accounts: a `down` proxy carries no traffic (the
//! snapshot leaves its accounts out), its accounts are reassigned fill-first
//! to proxies with room, and an account that finds none keeps its `down`
//! proxy and stays unusable: it never goes direct. Every instance rebuilds
//! its snapshot on the change notice.
//!
//! In the scale-out deployment every instance runs the task, but a round of
//! probes runs on one instance at a time (a shared lock held for most of the
//! interval), so failures are not counted twice. Tunnel failures on traffic
//! are counted by the instance that saw them. Nothing here runs on the
//! request path: the data plane only `try_send`s a proxy id.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aigw_domain::{HealthStatus, Page, Proxy, ProxyFilter, ProxyId};
use aigw_repository::Error as RepositoryError;
use aigw_repository::SqlRepository;
use futures_util::StreamExt;
use http::Uri;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::Gateway;
use crate::admin::Admin;
use crate::client_pool::ValidProxyUrl;

/// How proxies are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyHealthSettings {
    /// Time between two rounds of probes; `None` turns probing off (tunnel
    /// failures on traffic still count).
    pub interval: Option<Duration>,
    /// A probe that takes longer fails.
    pub timeout: Duration,
    /// Consecutive good probes that bring a `down` proxy back.
    pub recover_after: u32,
    /// Where probes tunnel to (`https://host[:port]` or `http://…`); `None`
    /// picks the base URL of a provider the proxy serves.
    pub target: Option<Uri>,
}

impl Default for ProxyHealthSettings {
    fn default() -> Self {
        Self {
            interval: Some(Duration::from_secs(30)),
            timeout: Duration::from_secs(10),
            recover_after: 2,
            target: None,
        }
    }
}

/// Proxies probed concurrently in one round.
const PROBES_IN_FLIGHT: usize = 16;

/// The shared lock that makes one instance probe per round.
const ROUND_LOCK: &str = "proxy-health:round";

/// The task; stop it with [`ProxyHealthHandle::shutdown`].
#[derive(Debug)]
pub struct ProxyHealthHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl ProxyHealthHandle {
    /// Stops the task and waits for it.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

struct Prober {
    repository: SqlRepository,
    gateway: Gateway,
    admin: Admin,
    settings: ProxyHealthSettings,
    /// Consecutive good probes per proxy, on this instance.
    good: HashMap<ProxyId, u32>,
}

/// Starts the task on the current runtime. `reports` carries the proxies
/// whose tunnel failed on real traffic.
pub(crate) fn start(
    repository: SqlRepository,
    gateway: Gateway,
    admin: Admin,
    settings: ProxyHealthSettings,
    reports: Option<mpsc::Receiver<ProxyId>>,
) -> ProxyHealthHandle {
    let (stop_tx, stop) = watch::channel(false);
    let prober = Prober {
        repository,
        gateway,
        admin,
        settings,
        good: HashMap::new(),
    };
    #[expect(
        clippy::disallowed_methods,
        reason = "the one proxy health task, started once per runtime"
    )]
    let task = tokio::spawn(prober.run(stop, reports));
    ProxyHealthHandle {
        stop: stop_tx,
        task,
    }
}

impl Prober {
    async fn run(
        mut self,
        mut stop: watch::Receiver<bool>,
        mut reports: Option<mpsc::Receiver<ProxyId>>,
    ) {
        let mut tick = self.settings.interval.map(|every| {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick
        });
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                _ = next_tick(&mut tick) => {
                    if let Err(e) = self.round().await {
                        tracing::warn!(error = %e, "a round of proxy probes failed");
                    }
                }
                report = next_report(&mut reports) => match report {
                    Some(first) => {
                        let mut failures = BTreeMap::from([(first, 1)]);
                        if let Some(rx) = reports.as_mut() {
                            while let Ok(id) = rx.try_recv() {
                                *failures.entry(id).or_insert(0) += 1;
                            }
                        }
                        if let Err(e) = self.traffic_failures(failures).await {
                            tracing::warn!(error = %e, "could not record proxy failures");
                        }
                    }
                    None => reports = None,
                },
            }
        }
    }

    /// Probes every active proxy once, unless another instance is doing it.
    async fn round(&mut self) -> Result<(), RepositoryError> {
        let hold = self
            .settings
            .interval
            .map_or(Duration::from_secs(1), |every| every.mul_f32(0.9));
        let lock = match self.gateway.state().try_lock(ROUND_LOCK, hold).await {
            Ok(Some(lock)) => lock,
            Ok(None) => return Ok(()),
            // Without the shared state, this instance probes on its own.
            Err(e) => {
                tracing::debug!(error = %e, "probing proxies without the shared lock");
                return self.probe_all().await;
            }
        };
        let result = self.probe_all().await;
        // Left to expire: it spaces the rounds of all instances.
        lock.keep_until_expiry();
        result
    }

    async fn probe_all(&mut self) -> Result<(), RepositoryError> {
        let proxies = self.active_proxies().await?;
        if proxies.is_empty() {
            return Ok(());
        }
        let targets = self.targets().await?;
        let pool = self.gateway.pool().clone();
        let timeout = self.settings.timeout;
        let results: Vec<(Proxy, Option<Duration>)> =
            futures_util::stream::iter(proxies.into_iter().map(|proxy| {
                let target = targets.for_proxy(proxy.id);
                let pool = pool.clone();
                async move {
                    // Nothing to probe against, or a URL no egress can use (the snapshot
                    // already keeps its accounts out): no verdict.
                    let url = ValidProxyUrl::parse(proxy.url.expose()).ok()?;
                    let target = target?;
                    let latency = match tokio::time::timeout(
                        timeout,
                        pool.probe_proxy(&url, &target),
                    )
                    .await
                    {
                        Ok(Ok(took)) => Some(took),
                        Ok(Err(e)) => {
                            tracing::info!(proxy = %proxy.id, error = %e, "proxy probe failed");
                            None
                        }
                        Err(_) => {
                            tracing::info!(proxy = %proxy.id, "proxy probe timed out");
                            None
                        }
                    };
                    Some((proxy, latency))
                }
            }))
            .buffer_unordered(PROBES_IN_FLIGHT)
            .filter_map(std::future::ready)
            .collect()
            .await;
        let mut changed = false;
        for (proxy, latency) in results {
            let after = self
                .repository
                .record_proxy_probe(proxy.id, latency)
                .await?;
            changed |= self.judge(&after, latency.is_some()).await?;
        }
        if changed {
            self.admin.reload().await?;
        }
        Ok(())
    }

    async fn traffic_failures(
        &mut self,
        failures: BTreeMap<ProxyId, i32>,
    ) -> Result<(), RepositoryError> {
        let mut changed = false;
        for (id, n) in failures {
            let after = match self.repository.add_proxy_failures(id, n).await {
                Ok(after) => after,
                // Deleted meanwhile.
                Err(aigw_repository::Error::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            changed |= self.judge(&after, false).await?;
        }
        if changed {
            self.admin.reload().await?;
        }
        Ok(())
    }

    /// Decides the health of `proxy` after one more result; writes and
    /// returns true when it changed.
    async fn judge(&mut self, proxy: &Proxy, ok: bool) -> Result<bool, RepositoryError> {
        let good = self.good.entry(proxy.id).or_insert(0);
        *good = if ok { good.saturating_add(1) } else { 0 };
        let next = next_health(
            proxy.health_status,
            proxy.consecutive_failures,
            proxy.max_failures,
            *good,
            self.settings.recover_after,
        );
        if next == proxy.health_status {
            return Ok(false);
        }
        match next {
            HealthStatus::Down => tracing::warn!(
                proxy = %proxy.id,
                failures = proxy.consecutive_failures,
                "proxy marked down; its accounts move to other proxies"
            ),
            HealthStatus::Healthy if proxy.health_status == HealthStatus::Down => {
                tracing::info!(proxy = %proxy.id, "proxy is back")
            }
            _ => {}
        }
        self.repository.set_proxy_health(proxy.id, next).await?;
        // Only `down` changes routing; a degraded proxy still carries traffic.
        Ok(next == HealthStatus::Down || proxy.health_status == HealthStatus::Down)
    }

    async fn active_proxies(&self) -> Result<Vec<Proxy>, RepositoryError> {
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let page = self
                .repository
                .list_proxies(
                    &ProxyFilter {
                        is_active: Some(true),
                        ..ProxyFilter::default()
                    },
                    Page { limit: 500, offset },
                )
                .await?;
            let n = page.data.len();
            out.extend(page.data);
            offset += n as i64;
            if n == 0 || offset >= page.total {
                return Ok(out);
            }
        }
    }

    /// The probe target of each proxy.
    async fn targets(&self) -> Result<Targets, RepositoryError> {
        if let Some(target) = &self.settings.target {
            return Ok(Targets {
                fixed: Some(target.clone()),
                ..Targets::default()
            });
        }
        let data = self.repository.load_snapshot().await?;
        let base: HashMap<_, Uri> = data
            .providers
            .iter()
            .filter(|p| p.is_active)
            .filter_map(|p| Some((p.id.clone(), origin(&p.base_url)?)))
            .collect();
        let mut by_proxy = HashMap::new();
        for account in data.accounts.iter().filter(|a| a.is_active) {
            if let (Some(proxy), Some(uri)) = (account.proxy_id, base.get(&account.provider_id)) {
                by_proxy.entry(proxy).or_insert_with(|| uri.clone());
            }
        }
        let mut any: Vec<_> = base.into_iter().collect();
        any.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Targets {
            fixed: None,
            by_proxy,
            any: any.into_iter().next().map(|(_, uri)| uri),
        })
    }
}

#[derive(Default)]
struct Targets {
    fixed: Option<Uri>,
    by_proxy: HashMap<ProxyId, Uri>,
    any: Option<Uri>,
}

impl Targets {
    fn for_proxy(&self, id: ProxyId) -> Option<Uri> {
        self.fixed
            .clone()
            .or_else(|| self.by_proxy.get(&id).cloned())
            .or_else(|| self.any.clone())
    }
}

/// The scheme and authority of a base URL: what a tunnel is opened to.
fn origin(url: &str) -> Option<Uri> {
    let uri: Uri = url.parse().ok()?;
    Uri::builder()
        .scheme(uri.scheme()?.clone())
        .authority(uri.authority()?.clone())
        .path_and_query("/")
        .build()
        .ok()
}

/// The health after a result: `down` at `max_failures` consecutive failures
/// (0 never marks down), `degraded` while failing below it, `healthy` after
/// one good result unless the proxy is `down`, which needs `recover_after`
/// good probes in a row.
fn next_health(
    now: HealthStatus,
    consecutive_failures: i32,
    max_failures: i32,
    good_in_a_row: u32,
    recover_after: u32,
) -> HealthStatus {
    if consecutive_failures > 0 {
        let at_limit = max_failures > 0 && consecutive_failures >= max_failures;
        return if at_limit || now == HealthStatus::Down {
            HealthStatus::Down
        } else {
            HealthStatus::Degraded
        };
    }
    match now {
        HealthStatus::Down if good_in_a_row < recover_after.max(1) => HealthStatus::Down,
        _ => HealthStatus::Healthy,
    }
}

async fn next_tick(tick: &mut Option<tokio::time::Interval>) {
    match tick {
        Some(tick) => {
            tick.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn next_report(rx: &mut Option<mpsc::Receiver<ProxyId>>) -> Option<ProxyId> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_degrade_then_take_down_and_good_probes_bring_back() {
        use HealthStatus::{Degraded, Down, Healthy};
        assert_eq!(next_health(Healthy, 1, 3, 0, 2), Degraded);
        assert_eq!(next_health(Degraded, 2, 3, 0, 2), Degraded);
        assert_eq!(next_health(Degraded, 3, 3, 0, 2), Down);
        assert_eq!(next_health(Down, 0, 3, 1, 2), Down);
        assert_eq!(next_health(Down, 0, 3, 2, 2), Healthy);
        assert_eq!(next_health(Degraded, 0, 3, 1, 2), Healthy);
        // A failing probe of a down proxy keeps it down, even below the limit.
        assert_eq!(next_health(Down, 1, 3, 0, 2), Down);
        // max_failures 0: never down.
        assert_eq!(next_health(Healthy, 50, 0, 0, 2), Degraded);
    }

    #[test]
    fn a_probe_goes_to_the_origin_of_the_base_url() {
        assert_eq!(
            origin("https://api.anthropic.com/v1").unwrap().to_string(),
            "https://api.anthropic.com/"
        );
        assert_eq!(
            origin("http://127.0.0.1:9100/v1beta").unwrap().to_string(),
            "http://127.0.0.1:9100/"
        );
        assert!(origin("not a url").is_none());
    }
}
