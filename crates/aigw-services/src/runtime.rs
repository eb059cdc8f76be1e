//! Wiring: open the stores, seed the built-in providers, build the first
//! snapshot and keep it fresh, and hand out the data plane.
//!
//! The binary turns its configuration into [`RuntimeSettings`]; tests and
//! embedding services build the settings directly.

use std::collections::BTreeMap;
use std::time::Duration;

use aigw_domain::{AccountId, NewModelMapping, ProviderId, ProviderPatch};
use aigw_repository::state::{Invalidation, SharedState, StateConfig};
use aigw_repository::{Error as RepositoryError, SqlOptions, SqlRepository};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::StartError;
use crate::admin::Admin;
use crate::admin::auth::{AuthSettings, TokenKeys};
use crate::builtin::builtin_providers;
use crate::client_pool::{ClientPool, PoolConfig};
use crate::cooldown::CooldownNotice;
use crate::credentials::{CredentialService, CredentialSettings};
use crate::gateway::{Gateway, GatewaySettings};
use crate::rebuild::SnapshotBuilder;
use crate::retention::{RetentionHandle, RetentionSettings};
use crate::routing::{PrefixRule, RuleTable, default_rules};
use crate::snapshot::{ProxyOverflow, SnapshotStore};
use crate::stats::{FlushReport, Journal, JournalConfig, StatsConfig, StatsHandle, StatsRecorder};

/// Everything needed to start the services.
#[derive(Debug, Clone)]
pub struct RuntimeSettings {
    /// `sqlite://PATH` or `postgres://…`.
    pub database_url: String,
    /// Pool and timeout settings of the SQL store.
    pub sql: SqlOptions,
    /// Run pending migrations at start.
    pub migrate: bool,
    /// The shared-state store (in-process without a Redis URL).
    pub state: StateConfig,
    /// The outbound HTTP client pool.
    pub pool: PoolConfig,
    /// The data plane.
    pub gateway: GatewaySettings,
    /// Ordered model-prefix rules; the defaults when empty.
    pub rules: Vec<PrefixRule>,
    /// Base URLs that win over the stored ones, by provider id.
    pub base_url_overrides: BTreeMap<String, String>,
    /// How often the snapshot is rebuilt even without a change notice.
    pub snapshot_refresh: Duration,
    /// What accounts without a proxy do while proxies are configured.
    pub proxy_overflow: ProxyOverflow,
    /// OAuth refresh: skew, timeouts, token endpoints.
    pub credentials: CredentialSettings,
    /// The stats pipeline: queue, batches, backlog.
    pub stats: StatsConfig,
    /// The stats journal on local disk, which keeps what the database
    /// cannot take; `None` keeps only the in-memory backlog.
    pub stats_journal: Option<JournalConfig>,
    /// Retention of request logs, proxy stats and error-log entries; `None`
    /// keeps everything (no retention task).
    pub retention: Option<RetentionSettings>,
    /// Management API sign-in and the first admin.
    pub auth: AuthSettings,
    /// OAuth onboarding: authorisation and token endpoints, clients, the callback.
    pub onboarding: crate::onboarding::OnboardingSettings,
    /// Proxy health probes.
    pub proxy_health: crate::proxy_health::ProxyHealthSettings,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        Self {
            database_url: "sqlite://aigateway.db".to_owned(),
            sql: SqlOptions::default(),
            migrate: true,
            state: StateConfig::in_process(),
            pool: PoolConfig::default(),
            gateway: GatewaySettings::default(),
            rules: Vec::new(),
            base_url_overrides: BTreeMap::new(),
            snapshot_refresh: Duration::from_secs(5),
            proxy_overflow: ProxyOverflow::Reject,
            credentials: CredentialSettings::default(),
            stats: StatsConfig::default(),
            stats_journal: None,
            retention: None,
            auth: AuthSettings::default(),
            onboarding: crate::onboarding::OnboardingSettings::default(),
            proxy_health: crate::proxy_health::ProxyHealthSettings::default(),
        }
    }
}

/// The running services: the data plane plus the background tasks that
/// keep its snapshot fresh and exchange pins, cooldowns and notices with
/// the other instances.
#[derive(Debug)]
pub struct Runtime {
    repository: SqlRepository,
    gateway: Gateway,
    admin: Admin,
    generated_admin_password: Option<aigw_domain::Secret>,
    stop: watch::Sender<bool>,
    background: Vec<JoinHandle<()>>,
    stats: Option<StatsHandle>,
    stats_timeout: Duration,
    retention: Option<RetentionHandle>,
    proxy_health: Option<crate::proxy_health::ProxyHealthHandle>,
}

impl Runtime {
    /// Opens the stores, migrates, seeds, loads the first snapshot and
    /// starts the background tasks. Fails before anything is served if the SQL
    /// store is unreachable or a setting is invalid; Redis being down is not
    /// a failure (the shared state falls back to this process).
    pub async fn start(settings: RuntimeSettings) -> Result<Self, StartError> {
        let rules = if settings.rules.is_empty() {
            RuleTable::new(&default_rules())?
        } else {
            RuleTable::new(&settings.rules)?
        };
        let repository = SqlRepository::connect_with(&settings.database_url, settings.sql).await?;
        if settings.migrate {
            repository.migrate().await?;
        }
        seed_providers(&repository, &settings.base_url_overrides).await?;
        move_chatgpt_accounts_to_codex(&repository).await?;
        seed_model_mappings(&repository).await?;
        crate::proxy_assign::assign_proxies(&repository, false).await?;
        let state = SharedState::from_config(&settings.state).await?;
        let pool = ClientPool::new(settings.pool)?;
        let builder = SnapshotBuilder::new(rules, settings.proxy_overflow);
        let snapshot = SnapshotStore::new(builder.load(&repository).await?);
        let credentials = CredentialService::new(
            repository.clone(),
            state.clone(),
            pool.clone(),
            settings.credentials,
        );
        let (stats, stats_handle) = match settings.stats_journal {
            Some(journal) => StatsRecorder::start_with_journal(
                repository.clone(),
                state.clone(),
                settings.stats.clone(),
                Journal::open(journal)?,
            ),
            None => StatsRecorder::start(repository.clone(), state.clone(), settings.stats.clone()),
        };
        let gateway = Gateway::new(snapshot, state, pool, credentials, stats, settings.gateway);
        let tokens = TokenKeys::load(&repository, &settings.auth).await?;
        let onboarding = crate::onboarding::Onboarding::new(
            settings.onboarding,
            gateway.state().clone(),
            gateway.pool().clone(),
        );
        let admin = Admin::new(
            repository.clone(),
            gateway.clone(),
            builder.clone(),
            tokens,
            settings.auth.login.clone(),
            onboarding,
        );
        let generated_admin_password = admin
            .bootstrap_admin(settings.auth.admin_password.as_ref())
            .await
            .map_err(StartError::FirstAdmin)?;
        let (stop, stopped) = watch::channel(false);
        let background = spawn_background(
            repository.clone(),
            gateway.clone(),
            builder.clone(),
            settings.snapshot_refresh,
            settings.stats.health,
            stopped,
        );
        let retention = settings.retention.map(|retention| {
            crate::retention::start(
                repository.clone(),
                gateway.state().clone(),
                retention,
                gateway.clone(),
            )
        });
        let proxy_health = crate::proxy_health::start(
            repository.clone(),
            gateway.clone(),
            admin.clone(),
            settings.proxy_health,
            gateway.take_proxy_reports(),
        );
        Ok(Self {
            repository,
            gateway,
            admin,
            generated_admin_password,
            stop,
            background: Vec::from(background),
            stats: Some(stats_handle),
            stats_timeout: settings.stats.shutdown_timeout,
            retention,
            proxy_health: Some(proxy_health),
        })
    }

    /// The data plane.
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// The SQL store.
    pub fn repository(&self) -> &SqlRepository {
        &self.repository
    }

    /// The management API's service layer.
    pub fn admin(&self) -> &Admin {
        &self.admin
    }

    /// The password generated for the first `admin` user when this start
    /// created it and none was configured: the caller shows it once. Later
    /// calls return `None`.
    pub fn take_generated_admin_password(&mut self) -> Option<aigw_domain::Secret> {
        self.generated_admin_password.take()
    }

    /// Rebuilds the snapshot now and tells the other instances to do the same.
    pub async fn reload(&self) -> Result<(), RepositoryError> {
        self.admin.reload().await
    }

    /// Stops the background work and waits for it: the propagator, the
    /// refresher and the retention task, then the stats writer, which drains its queue and
    /// flushes before returning.
    pub async fn shutdown(mut self) -> Option<FlushReport> {
        let _ = self.stop.send(true);
        for handle in std::mem::take(&mut self.background) {
            let _ = handle.await;
        }
        if let Some(retention) = self.retention.take() {
            retention.shutdown().await;
        }
        if let Some(proxy_health) = self.proxy_health.take() {
            proxy_health.shutdown().await;
        }
        match self.stats.take() {
            Some(stats) => Some(stats.shutdown(self.stats_timeout).await),
            None => None,
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Inserts the built-in providers that are missing, then applies the
/// configured base URLs, which win at every start.
async fn seed_providers(
    repository: &SqlRepository,
    overrides: &BTreeMap<String, String>,
) -> Result<(), StartError> {
    for provider in builtin_providers() {
        if repository.insert_provider_if_absent(&provider).await? {
            tracing::info!(provider = %provider.id, "seeded built-in provider");
        }
    }
    for (id, base_url) in overrides {
        let id =
            ProviderId::new(id.clone()).map_err(|_| StartError::UnknownProvider(id.clone()))?;
        let patch = ProviderPatch {
            base_url: Some(base_url.clone()),
            ..ProviderPatch::default()
        };
        match repository.update_provider(&id, &patch).await {
            Ok(_) => {}
            Err(aigw_repository::Error::NotFound { .. }) => {
                return Err(StartError::UnknownProvider(id.to_string()));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Moves the `openai` provider's ChatGPT OAuth accounts to the `codex` provider, whose
/// backend is the only one their grants work at (the OpenAI API takes API keys). A
/// ChatGPT grant is an OAuth credential refreshed at OpenAI's token endpoint, which is
/// what an `openai` OAuth account without a token URL of its own refreshes at.
///
/// This is the data half of the migration that added the `codex` kind
/// (`migrations/*/2025-05-01-000000_codex_provider`): credentials are sealed at rest, so
/// only the gateway, holding the key, can tell a ChatGPT grant from an API key. It runs
/// at every start and finds nothing to move once done.
async fn move_chatgpt_accounts_to_codex(repository: &SqlRepository) -> Result<(), RepositoryError> {
    let (Ok(openai), Ok(codex)) = (ProviderId::new("openai"), ProviderId::new("codex")) else {
        return Ok(());
    };
    let filter = aigw_domain::AccountFilter {
        provider_id: Some(openai),
        ..aigw_domain::AccountFilter::default()
    };
    let mut chatgpt = Vec::new();
    let mut offset = 0;
    loop {
        let page = aigw_domain::Page {
            limit: aigw_domain::Page::MAX_LIMIT,
            offset,
        };
        let listed = repository.list_accounts(&filter, page).await?;
        let read = listed.data.len() as i64;
        chatgpt.extend(
            listed
                .data
                .iter()
                .filter(|a| is_chatgpt_grant(&a.auth_data))
                .map(|a| a.id),
        );
        offset += read;
        if read == 0 || offset >= listed.total {
            break;
        }
    }
    for id in chatgpt {
        repository.set_account_provider(id, &codex).await?;
        tracing::info!(account = %id, "moved a ChatGPT OAuth account to the codex provider");
    }
    Ok(())
}

/// Whether `auth` is a ChatGPT-plan OAuth grant: OAuth, refreshed at OpenAI's token
/// endpoint (the default of OpenAI grants when none is stored).
fn is_chatgpt_grant(auth: &aigw_domain::AuthData) -> bool {
    let aigw_domain::AuthData::Oauth(grant) = auth else {
        return false;
    };
    grant.token_url.as_deref().is_none_or(|url| {
        url::Url::parse(url).is_ok_and(|u| u.host_str() == Some("auth.openai.com"))
    })
}

/// The public aliases of the Claude models Antigravity serves, and the
/// upstream ids they stand for. (Its Gemini ids are the upstream's own: the
/// routing rules send them unchanged.)
pub const ANTIGRAVITY_ALIASES: &[(&str, &str)] = &[
    ("gemini-claude-sonnet-4-5", "claude-sonnet-4-5"),
    (
        "gemini-claude-sonnet-4-5-thinking",
        "claude-sonnet-4-5-thinking",
    ),
    ("gemini-claude-opus-4-5", "claude-opus-4-5"),
    (
        "gemini-claude-opus-4-5-thinking",
        "claude-opus-4-5-thinking",
    ),
];

/// The settings key that records that the built-in mappings were seeded once.
const MAPPINGS_SEEDED: &str = "builtin_model_mappings_seeded";

/// The model mappings every gateway starts with (global, enabled).
pub fn builtin_model_mappings() -> Vec<NewModelMapping> {
    let Ok(antigravity) = ProviderId::new("antigravity") else {
        return Vec::new();
    };
    ANTIGRAVITY_ALIASES
        .iter()
        .map(|(alias, model)| NewModelMapping {
            alias: (*alias).to_owned(),
            provider_id: antigravity.clone(),
            model_name: (*model).to_owned(),
            description: Some("built-in: Antigravity's id for this Claude model".to_owned()),
            enabled: true,
            priority: 0,
            owner_id: None,
        })
        .collect()
}

/// Creates the built-in mappings once per database: later starts leave them
/// as the admins left them, deleted ones included. An alias an admin already
/// uses is kept as it is.
async fn seed_model_mappings(repository: &SqlRepository) -> Result<(), RepositoryError> {
    if repository.get_setting(MAPPINGS_SEEDED).await?.is_some() {
        return Ok(());
    }
    for mapping in builtin_model_mappings() {
        match repository.insert_model_mapping(&mapping).await {
            Ok(_) => tracing::info!(alias = %mapping.alias, "seeded built-in model mapping"),
            // Taken by an admin, or by another instance starting now.
            Err(aigw_repository::Error::Conflict { .. }) => {}
            // The built-in provider was deleted: nothing to map to.
            Err(aigw_repository::Error::ForeignKey { .. }) => {
                tracing::info!(alias = %mapping.alias, "built-in model mapping skipped: no such provider");
            }
            Err(e) => return Err(e),
        }
    }
    repository.init_setting(MAPPINGS_SEEDED, "1").await?;
    Ok(())
}

/// How long the propagator waits before it subscribes again to an
/// invalidation channel that ended.
const RESUBSCRIBE_PAUSE: Duration = Duration::from_secs(1);

/// The background tasks of a runtime: the propagator, which exchanges
/// pins, cooldowns and notices with the shared state and never waits for
/// the SQL store, and the refresher, which rebuilds the snapshot.
fn spawn_background(
    repository: SqlRepository,
    gateway: Gateway,
    builder: SnapshotBuilder,
    interval: Duration,
    health: crate::health::HealthSettings,
    stopped: watch::Receiver<bool>,
) -> [JoinHandle<()>; 2] {
    let rebuilds = std::sync::Arc::new(tokio::sync::Notify::new());
    let propagator = propagate(gateway.clone(), rebuilds.clone(), stopped.clone());
    let refresher = refresh(
        repository, gateway, builder, interval, health, rebuilds, stopped,
    );
    #[expect(
        clippy::disallowed_methods,
        reason = "the runtime's two background tasks, started once per runtime"
    )]
    [tokio::spawn(propagator), tokio::spawn(refresher)]
}

/// Writes this instance's pins, publishes its cooldowns and applies the
/// other instances' notices, each as soon as it comes: a conversation moved
/// or an account limited here is seen by the other instances without
/// waiting for a snapshot rebuild. A change notice asks the refresher for
/// a rebuild.
async fn propagate(
    gateway: Gateway,
    rebuilds: std::sync::Arc<tokio::sync::Notify>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut notices = gateway.state().subscribe();
    let me = gateway.state().instance_id();
    let mut cooldowns = gateway.take_cooldown_notices();
    let mut pins = gateway.take_pin_outbox();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            pin = next_pin(&mut pins) => match (pin, pins.as_mut()) {
                (Some(pin), Some(rx)) => {
                    crate::pins::write_pins(gateway.pin_queue(), gateway.state(), pin, rx).await;
                }
                _ => pins = None,
            },
            local = next_cooldown(&mut cooldowns) => match local {
                Some(notice) => publish_cooldown(&gateway, notice).await,
                None => cooldowns = None,
            },
            notice = notices.recv() => match notice {
                Some(msg) if msg.is_from(me) => {}
                Some(msg) => match msg.event {
                    Invalidation::Cooldown { account, model, until_ms, reason } => {
                        apply_cooldown(&gateway, &account, model, until_ms, &reason);
                    }
                    Invalidation::AccountHealth { account, status, next_probe_ms, probe_wait_ms } => {
                        apply_health(&gateway, &account, &status, next_probe_ms, probe_wait_ms);
                    }
                    // The old credential's tokens go now, before the rebuild
                    // that brings the new credential in. (A request still
                    // holding the previous snapshot may cache its token
                    // again; callers holding the new one skip it.)
                    Invalidation::AccountCredentialsChanged { id } => {
                        if let Ok(id) = id.parse::<AccountId>() {
                            gateway.credentials().forget(id);
                            gateway.cooldowns().clear_account(id);
                        }
                        rebuilds.notify_one();
                    }
                    _ => rebuilds.notify_one(),
                },
                None => {
                    // The subscription ended (the store is shutting down): a
                    // new one after a pause, so that a store that stays
                    // closed is not asked in a loop. The periodic refresh
                    // still keeps the snapshot fresh.
                    tokio::select! {
                        _ = stopped.changed() => break,
                        () = tokio::time::sleep(RESUBSCRIBE_PAUSE) => {}
                    }
                    notices = gateway.state().subscribe();
                }
            },
        }
    }
}

/// Rebuilds the snapshot when the propagator asks (a change notice from
/// another instance) and every `interval` as a safety net.
async fn refresh(
    repository: SqlRepository,
    gateway: Gateway,
    builder: SnapshotBuilder,
    interval: Duration,
    health: crate::health::HealthSettings,
    rebuilds: std::sync::Arc<tokio::sync::Notify>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    reconcile_down(&gateway, &health);
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            _ = tick.tick() => {}
            // Notices that come during a rebuild share the next one.
            () = rebuilds.notified() => {}
        }
        gateway.cooldowns().purge_expired();
        gateway.pool().close_idle_connections();
        if let Err(e) = builder.rebuild(&repository, &gateway).await {
            tracing::warn!(error = %e, "snapshot refresh failed; serving the previous one")
        }
        reconcile_down(&gateway, &health);
    }
}

/// The next pin queued on this instance; pending forever without a receiver.
async fn next_pin(
    rx: &mut Option<tokio::sync::mpsc::Receiver<crate::pins::Pin>>,
) -> Option<crate::pins::Pin> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The next cooldown set on this instance; pending forever without a receiver.
async fn next_cooldown(
    rx: &mut Option<tokio::sync::mpsc::Receiver<CooldownNotice>>,
) -> Option<CooldownNotice> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Tells the other instances about a cooldown set here. Failing to is not
/// fatal: they find out from their own failed attempt.
async fn publish_cooldown(gateway: &Gateway, notice: CooldownNotice) {
    let event = Invalidation::Cooldown {
        account: notice.account.to_string(),
        model: notice.model,
        until_ms: notice.until_ms,
        reason: notice.reason.as_str().to_owned(),
    };
    if let Err(e) = gateway.state().publish(event).await {
        tracing::debug!(error = %e, "could not announce a cooldown to other instances");
    }
}

/// Applies an account health change another instance's stats writer
/// announced. A malformed one is ignored: the next snapshot rebuild reads
/// the stored health.
fn apply_health(
    gateway: &Gateway,
    account: &str,
    status: &str,
    next_probe_ms: i64,
    probe_wait_ms: i64,
) {
    let (Ok(account), Ok(status)) = (
        account.parse::<AccountId>(),
        status.parse::<aigw_domain::HealthStatus>(),
    ) else {
        tracing::debug!(account, status, "ignoring a malformed health notice");
        return;
    };
    let down = gateway.cooldowns().down();
    if status == aigw_domain::HealthStatus::Down {
        let wait = Duration::from_millis(u64::try_from(probe_wait_ms).unwrap_or(0));
        down.mark_down(account, next_probe_ms, wait);
    } else {
        down.restore(account);
    }
}

/// Brings the `down` accounts in line with the health the snapshot read:
/// an account stored `down` that this instance did not hear of (it started
/// later, or missed the notice) waits for a probe one wait after its last
/// failure.
fn reconcile_down(gateway: &Gateway, health: &crate::health::HealthSettings) {
    let snapshot = gateway.snapshot().load();
    let accounts = snapshot
        .providers()
        .flat_map(|entry| entry.accounts.iter().map(|a| &**a));
    gateway.cooldowns().down().reconcile(accounts, |account| {
        let wait = health.probe_wait(account.failure_count);
        let since = account.last_error_at.unwrap_or_else(chrono::Utc::now);
        let wait_ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
        (since.timestamp_millis().saturating_add(wait_ms), wait)
    });
}

/// Applies a cooldown another instance announced. A malformed one (from a
/// newer or broken instance) is ignored: at worst this instance tries the
/// account once and sets the cooldown itself.
fn apply_cooldown(
    gateway: &Gateway,
    account: &str,
    model: Option<String>,
    until_ms: i64,
    reason: &str,
) {
    let (Ok(account), Ok(reason)) = (account.parse::<AccountId>(), reason.parse()) else {
        tracing::debug!(account, reason, "ignoring a malformed cooldown notice");
        return;
    };
    gateway.cooldowns().apply_notice(&CooldownNotice {
        account,
        model,
        until_ms,
        reason,
    });
}
