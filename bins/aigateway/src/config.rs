//! Configuration: defaults → TOML file → `AIGW_SECTION__KEY` environment,
//! validated in one pass into typed settings.
//!
//! Every error names the key path that caused it (`server.listen`,
//! `database.url`, …) so an operator can fix the right line. Unknown keys are
//! errors, not silently ignored: a typo must not fall back to a default.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aigw_domain::{Secret, mask_url_credentials};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The prefix of environment variables that override configuration keys.
pub const ENV_PREFIX: &str = "AIGW_";
/// The configuration file read when `--config` is not given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "aigateway.toml";

/// The whole configuration of a gateway instance.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    pub auth: AuthConfig,
    pub upstream: UpstreamConfig,
    pub routing: RoutingConfig,
    pub snapshot: SnapshotConfig,
    pub failover: FailoverConfig,
    pub health: HealthConfig,
    pub proxy: ProxyConfig,
    pub oauth: OAuthConfig,
    pub security: SecurityConfig,
    /// Per-provider overrides, keyed by provider id (`openai`, `anthropic`, …).
    pub providers: BTreeMap<String, ProviderOverride>,
    pub log: LogConfig,
    pub admin: AdminConfig,
    pub stats: StatsSection,
    pub retention: RetentionSection,
    pub dashboard: DashboardSection,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// Largest accepted request body; larger bodies get 413 without being read whole.
    pub max_body_bytes: u64,
    /// How long in-flight requests may run after SIGTERM before the process exits.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Client connections open at once; at the cap the longest-idle ones are
    /// closed to make room, else new ones are refused. Unset: half the
    /// open-files limit, leaving the rest for upstream and database connections.
    pub max_connections: Option<usize>,
    /// Connections the kernel queues before the server accepts them.
    pub listen_backlog: u32,
    /// A new connection must send a whole request head within this, and
    /// so must a kept-alive one once it starts the next request.
    #[serde(with = "humantime_serde")]
    pub header_timeout: Duration,
    /// Longest silence while a request body arrives (408).
    #[serde(with = "humantime_serde")]
    pub body_idle_timeout: Duration,
    /// Longest time to receive a whole request body (408).
    #[serde(with = "humantime_serde")]
    pub body_timeout: Duration,
    /// How long a connection may wait, idle, for its next request.
    #[serde(with = "humantime_serde")]
    pub keep_alive_timeout: Duration,
    /// After refusing a body as too large, how long the rest is still read
    /// (and discarded) so the client can read the 413; zero closes at once.
    #[serde(with = "humantime_serde")]
    pub linger_timeout: Duration,
    /// How much of a refused body is read and discarded at most.
    pub linger_max_bytes: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        let edge = aigw_handlers::ServeOptions::default();
        let linger = aigw_handlers::Linger::default();
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 32 * 1024 * 1024,
            shutdown_grace: edge.shutdown_grace,
            max_connections: None,
            listen_backlog: 1024,
            header_timeout: edge.header_timeout,
            body_idle_timeout: edge.body_idle_timeout,
            body_timeout: edge.body_timeout,
            keep_alive_timeout: edge.keep_alive_timeout,
            linger_timeout: linger.timeout,
            linger_max_bytes: linger.max_bytes,
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` (the embedded default) or `postgres://…`.
    #[serde(
        deserialize_with = "scalar_string",
        serialize_with = "serialize_masked_url"
    )]
    pub url: String,
    /// Run pending migrations when `serve` starts.
    pub migrate_on_start: bool,
    /// Upper bound of pooled PostgreSQL connections.
    pub max_connections: u32,
    /// How long to wait for a connection before the database counts as unreachable.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://aigateway.db".to_owned(),
            migrate_on_start: true,
            max_connections: 16,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// `redis://…`; unset means the shared state lives in this process.
    #[serde(
        deserialize_with = "optional_scalar_string",
        serialize_with = "serialize_masked_optional_url"
    )]
    pub url: Option<String>,
    /// Prefix of every key, so tenants and tests never collide.
    #[serde(deserialize_with = "scalar_string")]
    pub key_prefix: String,
    /// Bound on every Redis command, so a dead Redis fails fast into the in-process fallback.
    #[serde(with = "humantime_serde")]
    pub command_timeout: Duration,
    /// Connections in the Redis pool.
    pub pool_size: usize,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: None,
            key_prefix: "aigw:".to_owned(),
            command_timeout: Duration::from_millis(50),
            pool_size: 4,
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Require a gateway API key (`ak_…`) on the data plane.
    pub require_client_key: bool,
    /// The HS256 secret of management-API session tokens. When unset, one is
    /// generated on first start and kept in the database for every instance.
    #[serde(
        deserialize_with = "optional_scalar_secret",
        serialize_with = "serialize_masked_secret"
    )]
    pub jwt_secret: Option<Secret>,
    /// How long a session token from `POST /api/v1/auth/login` is valid.
    #[serde(with = "humantime_serde")]
    pub token_ttl: Duration,
    /// Failed sign-ins per username within `login_window`; the next is refused with 429.
    pub login_max_failures_per_user: u32,
    /// Failed sign-ins per client address (TCP peer; IPv6 by /64) within `login_window`.
    pub login_max_failures_per_address: u32,
    /// The window sign-in failures are counted in, from its first attempt.
    #[serde(with = "humantime_serde")]
    pub login_window: Duration,
    /// Password hashes (argon2) computed or verified at once, so sign-ins never take
    /// every core from the data plane.
    pub password_hash_concurrency: usize,
}

impl Default for AuthConfig {
    fn default() -> Self {
        let login = aigw_services::admin::throttle::LoginLimits::default();
        Self {
            require_client_key: true,
            jwt_secret: None,
            token_ttl: Duration::from_secs(24 * 3600),
            login_max_failures_per_user: login.max_failures_per_user,
            login_max_failures_per_address: login.max_failures_per_address,
            login_window: login.window,
            password_hash_concurrency: login.password_hash_concurrency,
        }
    }
}

impl AuthConfig {
    pub fn login_limits(&self) -> aigw_services::admin::throttle::LoginLimits {
        aigw_services::admin::throttle::LoginLimits {
            max_failures_per_user: self.login_max_failures_per_user,
            max_failures_per_address: self.login_max_failures_per_address,
            window: self.login_window,
            password_hash_concurrency: self.password_hash_concurrency,
        }
    }
}

/// The web dashboard at `/` and `/ui/`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DashboardSection {
    /// Serve it; `false` leaves an API-only gateway (`/` and `/ui/…` are 404).
    pub enabled: bool,
    /// A dashboard session unused for this long ends.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// A dashboard session ends this long after sign-in.
    #[serde(with = "humantime_serde")]
    pub absolute_timeout: Duration,
}

impl Default for DashboardSection {
    fn default() -> Self {
        let d = aigw_handlers::DashboardSettings::default();
        Self {
            enabled: true,
            idle_timeout: d.idle_timeout,
            absolute_timeout: d.absolute_timeout,
        }
    }
}

impl DashboardSection {
    /// The dashboard's settings, `None` when it is turned off.
    pub fn settings(&self) -> Option<aigw_handlers::DashboardSettings> {
        self.enabled.then_some(aigw_handlers::DashboardSettings {
            idle_timeout: self.idle_timeout,
            absolute_timeout: self.absolute_timeout,
        })
    }
}

/// The first admin user, created when the database has no user.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Its password; when unset, a random one is printed once to stderr.
    #[serde(
        deserialize_with = "optional_scalar_secret",
        serialize_with = "serialize_masked_secret"
    )]
    pub password: Option<Secret>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamConfig {
    /// TCP (and proxy tunnel) connect timeout.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Time from sending a request to the upstream's response headers.
    #[serde(with = "humantime_serde")]
    pub first_byte_timeout: Duration,
    /// Longest silence allowed while reading a response body; streams have no total timeout.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(120),
            idle_timeout: Duration::from_secs(120),
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    /// Ordered model-prefix rules (`{ prefix = "gpt-", provider = "openai" }`);
    /// empty means the built-in table.
    pub rules: Vec<aigw_services::routing::PrefixRule>,
    /// How long the account that produced a Responses id is remembered, so
    /// that a `previous_response_id` follow-up goes to it.
    #[serde(with = "humantime_serde")]
    pub response_pin_ttl: Duration,
    /// How long a conversation stays on the account of its last turn, for
    /// providers with session affinity; each turn starts it again.
    #[serde(with = "humantime_serde")]
    pub affinity_ttl: Duration,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            response_pin_ttl: aigw_services::gateway::GatewaySettings::default().response_pin_ttl,
            affinity_ttl: aigw_services::gateway::GatewaySettings::default().affinity_ttl,
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FailoverConfig {
    /// Upstream attempts per request, the first included.
    pub max_attempts: u32,
    /// No new attempt starts after this long.
    #[serde(with = "humantime_serde")]
    pub max_total: Duration,
    /// Cooldown after a 429 that gives no wait.
    #[serde(with = "humantime_serde")]
    pub rate_limit_cooldown: Duration,
    /// Cooldown after an exhausted quota that gives no reset time.
    #[serde(with = "humantime_serde")]
    pub quota_cooldown: Duration,
    /// Cooldown after a 5xx/529 or a broken stream.
    #[serde(with = "humantime_serde")]
    pub server_error_cooldown: Duration,
    /// Cooldown after a connect failure or timeout before the first byte.
    #[serde(with = "humantime_serde")]
    pub unreachable_cooldown: Duration,
    /// Cooldown of a whole account after 401/403.
    #[serde(with = "humantime_serde")]
    pub auth_cooldown: Duration,
    /// Upper bound of any cooldown, whatever an upstream asks for.
    #[serde(with = "humantime_serde")]
    pub max_cooldown: Duration,
}

impl Default for FailoverConfig {
    fn default() -> Self {
        let d = aigw_services::failover::FailoverSettings::default();
        Self {
            max_attempts: d.max_attempts,
            max_total: d.max_total,
            rate_limit_cooldown: d.rate_limit_cooldown,
            quota_cooldown: d.quota_cooldown,
            server_error_cooldown: d.server_error_cooldown,
            unreachable_cooldown: d.unreachable_cooldown,
            auth_cooldown: d.auth_cooldown,
            max_cooldown: d.max_cooldown,
        }
    }
}

/// Account health from traffic: consecutive failures make an account
/// `degraded`, then `down` (out of selection on every instance until a
/// half-open probe succeeds).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Consecutive failures from which an account is `degraded`.
    pub degraded_after: u32,
    /// Consecutive failures from which an account is `down`.
    pub down_after: u32,
    /// Wait before the first probe of a `down` account.
    #[serde(with = "humantime_serde")]
    pub probe_after: Duration,
    /// Longest wait between probes (doubled after each failed probe up to this).
    #[serde(with = "humantime_serde")]
    pub probe_max: Duration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        let d = aigw_services::health::HealthSettings::default();
        Self {
            degraded_after: d.degraded_after,
            down_after: d.down_after,
            probe_after: d.probe_after,
            probe_max: d.probe_max,
        }
    }
}

impl HealthConfig {
    pub fn settings(&self) -> aigw_services::health::HealthSettings {
        aigw_services::health::HealthSettings {
            degraded_after: self.degraded_after,
            down_after: self.down_after,
            probe_after: self.probe_after,
            probe_max: self.probe_max,
        }
    }
}

impl FailoverConfig {
    pub fn settings(&self) -> aigw_services::failover::FailoverSettings {
        aigw_services::failover::FailoverSettings {
            max_attempts: self.max_attempts,
            max_total: self.max_total,
            rate_limit_cooldown: self.rate_limit_cooldown,
            quota_cooldown: self.quota_cooldown,
            server_error_cooldown: self.server_error_cooldown,
            unreachable_cooldown: self.unreachable_cooldown,
            auth_cooldown: self.auth_cooldown,
            max_cooldown: self.max_cooldown,
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OAuthConfig {
    /// Refresh an OAuth token once less than this is left of its life.
    #[serde(with = "humantime_serde")]
    pub refresh_skew: Duration,
    /// Token endpoint and client of Google (Antigravity) grants.
    pub google: OAuthClientConfig,
    /// Token endpoint and client of Anthropic grants.
    pub anthropic: OAuthClientConfig,
    /// Token endpoint and client of OpenAI grants.
    pub openai: OAuthClientConfig,
    /// The gateway's OAuth callback as browsers reach it
    /// (`https://gw.example/api/v1/oauth/callback`).
    #[serde(deserialize_with = "optional_scalar_string")]
    pub redirect_uri: Option<String>,
    /// The origin of the admin page that opens the authorisation window; the
    /// callback page posts its result only there (nowhere when unset).
    #[serde(deserialize_with = "optional_scalar_string")]
    pub callback_origin: Option<String>,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        Self {
            redirect_uri: None,
            callback_origin: None,
            refresh_skew: Duration::from_secs(300),
            google: OAuthClientConfig::default(),
            anthropic: OAuthClientConfig::default(),
            openai: OAuthClientConfig::default(),
        }
    }
}

/// Overrides of one OAuth client; unset keys keep the built-in values.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OAuthClientConfig {
    #[serde(deserialize_with = "optional_scalar_string")]
    pub token_url: Option<String>,
    #[serde(deserialize_with = "optional_scalar_string")]
    pub client_id: Option<String>,
    #[serde(
        deserialize_with = "optional_scalar_secret",
        serialize_with = "serialize_masked_secret"
    )]
    pub client_secret: Option<Secret>,
    /// Where onboarding sends the user to grant access.
    #[serde(deserialize_with = "optional_scalar_string")]
    pub authorize_url: Option<String>,
    /// The redirect URI registered for the client (default: the gateway's
    /// callback for Google, the CLI clients' own for Anthropic and OpenAI).
    #[serde(deserialize_with = "optional_scalar_string")]
    pub redirect_uri: Option<String>,
    /// Scopes asked for at onboarding.
    pub scopes: Option<Vec<String>>,
    /// Google's userinfo endpoint (names the onboarded account).
    #[serde(deserialize_with = "optional_scalar_string")]
    pub userinfo_url: Option<String>,
}

impl OAuthConfig {
    pub fn settings(&self) -> aigw_services::credentials::CredentialSettings {
        use aigw_services::credentials::TokenClient;
        let apply = |mut client: TokenClient, o: &OAuthClientConfig| {
            if let Some(url) = &o.token_url {
                client.token_url = url.clone();
            }
            if let Some(id) = &o.client_id {
                client.client_id = Some(id.clone());
            }
            if let Some(secret) = &o.client_secret {
                client.client_secret = Some(secret.clone());
            }
            client
        };
        aigw_services::credentials::CredentialSettings {
            refresh_skew: self.refresh_skew,
            google: apply(TokenClient::google(), &self.google),
            anthropic: apply(TokenClient::anthropic(), &self.anthropic),
            openai: apply(TokenClient::openai(), &self.openai),
            ..aigw_services::credentials::CredentialSettings::default()
        }
    }
}

impl OAuthConfig {
    /// The onboarding flows: the built-in clients with the configured overrides; token
    /// endpoints and client ids are the same as for refresh.
    pub fn onboarding(&self) -> aigw_services::onboarding::OnboardingSettings {
        use aigw_services::onboarding::{OAuthApp, OnboardingSettings};
        let apply = |mut app: OAuthApp, o: &OAuthClientConfig| {
            if let Some(url) = &o.authorize_url {
                app.authorize_url = url.clone();
            }
            if let Some(url) = &o.token_url {
                app.token_url = url.clone();
            }
            if let Some(id) = &o.client_id {
                app.client_id = Some(id.clone());
            }
            if let Some(secret) = &o.client_secret {
                app.client_secret = Some(secret.clone());
            }
            if let Some(uri) = &o.redirect_uri {
                app.redirect_uri = Some(uri.clone());
            }
            if let Some(scopes) = &o.scopes {
                app.scopes = scopes.clone();
            }
            if let Some(url) = &o.userinfo_url {
                app.userinfo_url = Some(url.clone());
            }
            app
        };
        let defaults = OnboardingSettings::default();
        OnboardingSettings {
            redirect_uri: self.redirect_uri.clone().unwrap_or(defaults.redirect_uri),
            callback_origin: self.callback_origin.clone(),
            google: apply(OAuthApp::google(), &self.google),
            anthropic: apply(OAuthApp::anthropic(), &self.anthropic),
            openai: apply(OAuthApp::openai(), &self.openai),
            ..defaults
        }
    }
}

fn serialize_masked_secret<S: Serializer>(v: &Option<Secret>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(_) => s.serialize_str("********"),
        None => s.serialize_none(),
    }
}

/// The key that account and proxy credentials are encrypted with at rest.
///
/// With neither `secret_key` nor `key_file` set, the embedded deployment (SQLite) keeps a
/// generated key in `<database file>.key`; PostgreSQL refuses to start, since every
/// instance must share one key.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// The key itself: 32 bytes as base64 or hex (`AIGW_SECURITY__SECRET_KEY`).
    #[serde(deserialize_with = "optional_key")]
    pub secret_key: Option<KeyText>,
    /// A file holding the key (base64 or hex on one line).
    pub key_file: Option<PathBuf>,
    /// Older keys that are still read (not written), during a key rotation. In the
    /// environment, a comma-separated list.
    #[serde(deserialize_with = "key_list")]
    pub previous_keys: Vec<KeyText>,
}

/// Key material read from the configuration. Never printed: `Debug` and `Serialize`
/// show a mask.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct KeyText(String);

impl KeyText {
    /// The key text, to parse it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for KeyText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyText(********)")
    }
}

impl Serialize for KeyText {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("********")
    }
}

/// A key; the empty string (an unset environment value) means none.
fn optional_key<'de, D: Deserializer<'de>>(d: D) -> Result<Option<KeyText>, D::Error> {
    let text = String::deserialize(d)?;
    let text = text.trim();
    Ok((!text.is_empty()).then(|| KeyText(text.to_owned())))
}

/// A list of keys, as a TOML array or one comma-separated string (from the environment).
fn key_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<KeyText>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List {
        One(String),
        Many(Vec<String>),
    }
    let items = match List::deserialize(d)? {
        List::One(text) => text.split(',').map(str::to_owned).collect(),
        List::Many(items) => items,
    };
    Ok(items
        .into_iter()
        .map(|k| k.trim().to_owned())
        .filter(|k| !k.is_empty())
        .map(KeyText)
        .collect())
}

/// The stats pipeline: its queue and batches, and the journal where usage
/// records wait while the database cannot take them.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatsSection {
    /// Usage events the queue between the request path and the writer holds;
    /// past it, events are dropped and counted.
    pub queue_capacity: usize,
    /// Events per database write: a full batch is written at once.
    pub batch_size: usize,
    /// The longest an event waits in a partial batch.
    #[serde(with = "humantime_serde")]
    pub flush_interval: Duration,
    /// Keep what the database cannot take in a journal on local disk
    /// (otherwise only a bounded in-memory backlog, then drops).
    pub journal: bool,
    /// The journal's directory; by default `<database file>.journal` beside
    /// the SQLite file, or `journal` in the working directory.
    pub journal_dir: Option<PathBuf>,
    /// The journal's size limit in bytes; past it, batches are dropped and counted.
    pub journal_max_bytes: u64,
    /// Records older than this when their turn to be replayed comes are dropped.
    #[serde(with = "humantime_serde")]
    pub journal_max_age: Duration,
    /// `always`, `interval` or `never`: when appends are forced to disk.
    pub journal_fsync: JournalFsync,
    /// The interval of `journal_fsync = "interval"`.
    #[serde(with = "humantime_serde")]
    pub journal_fsync_interval: Duration,
}

impl Default for StatsSection {
    fn default() -> Self {
        let pipeline = aigw_services::stats::StatsConfig::default();
        Self {
            queue_capacity: pipeline.queue_capacity,
            batch_size: pipeline.batch_size,
            flush_interval: pipeline.flush_interval,
            journal: true,
            journal_dir: None,
            journal_max_bytes: 1 << 30,
            journal_max_age: Duration::from_secs(7 * 24 * 3600),
            journal_fsync: JournalFsync::Interval,
            journal_fsync_interval: Duration::from_secs(1),
        }
    }
}

/// How long usage data is kept; `0s` keeps it for ever.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSection {
    /// Request logs older than this are deleted.
    #[serde(with = "humantime_serde")]
    pub request_logs: Duration,
    /// Error-log entries older than this are deleted.
    #[serde(with = "humantime_serde")]
    pub error_logs: Duration,
    /// Daily proxy stats of days older than this are deleted.
    #[serde(with = "humantime_serde")]
    pub proxy_stats: Duration,
    /// How long the per-day live counters outlive their UTC day.
    #[serde(with = "humantime_serde")]
    pub live_counters: Duration,
    /// How often retention runs.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Rows deleted per step (in statements of a few hundred rows).
    pub batch_rows: usize,
    /// Pause between two steps.
    #[serde(with = "humantime_serde")]
    pub batch_pause: Duration,
}

impl Default for RetentionSection {
    fn default() -> Self {
        const DAY: u64 = 24 * 3600;
        Self {
            request_logs: Duration::from_secs(30 * DAY),
            error_logs: Duration::from_secs(30 * DAY),
            proxy_stats: Duration::from_secs(400 * DAY),
            live_counters: Duration::from_secs(DAY),
            interval: Duration::from_secs(3600),
            batch_rows: 5_000,
            batch_pause: Duration::from_millis(100),
        }
    }
}

impl RetentionSection {
    /// The retention task's settings.
    pub fn settings(&self) -> aigw_services::retention::RetentionSettings {
        let keep = |age: Duration| (!age.is_zero()).then_some(age);
        aigw_services::retention::RetentionSettings {
            request_logs: keep(self.request_logs),
            error_logs: keep(self.error_logs),
            proxy_stats: keep(self.proxy_stats),
            interval: self.interval,
            batch_rows: self.batch_rows,
            batch_pause: self.batch_pause,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JournalFsync {
    Always,
    Interval,
    Never,
}

impl Config {
    /// The stats pipeline's queue, batching and health settings.
    pub fn stats_pipeline(&self) -> aigw_services::stats::StatsConfig {
        aigw_services::stats::StatsConfig {
            queue_capacity: self.stats.queue_capacity,
            batch_size: self.stats.batch_size,
            flush_interval: self.stats.flush_interval,
            shutdown_timeout: self.server.shutdown_grace,
            health: self.health.settings(),
            ..aigw_services::stats::StatsConfig::default()
        }
    }

    /// The stats journal's settings, `None` when it is turned off.
    pub fn stats_journal(
        &self,
    ) -> Result<Option<aigw_services::stats::JournalConfig>, ConfigError> {
        use aigw_services::stats::{FsyncPolicy, JournalConfig};
        let stats = &self.stats;
        if !stats.journal {
            return Ok(None);
        }
        let dir = match (&stats.journal_dir, self.database_target()?) {
            (Some(dir), _) => dir.clone(),
            (None, DatabaseTarget::Sqlite(database)) => {
                let mut name = database.file_name().unwrap_or_default().to_os_string();
                name.push(".journal");
                database.with_file_name(name)
            }
            (None, DatabaseTarget::Postgres) => PathBuf::from("journal"),
        };
        Ok(Some(JournalConfig {
            max_bytes: stats.journal_max_bytes,
            max_age: stats.journal_max_age,
            fsync: match stats.journal_fsync {
                JournalFsync::Always => FsyncPolicy::Always,
                JournalFsync::Interval => FsyncPolicy::Interval,
                JournalFsync::Never => FsyncPolicy::Never,
            },
            fsync_interval: stats.journal_fsync_interval,
            ..JournalConfig::new(dir)
        }))
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    /// `reject` (default): an account left without a proxy while proxies are
    /// configured is not used. `direct`: it connects directly.
    pub overflow: aigw_services::snapshot::ProxyOverflow,
    /// Time between two rounds of health probes; `0s` turns probing off
    /// (tunnel failures on traffic still count).
    #[serde(with = "humantime_serde")]
    pub health_interval: Duration,
    /// A probe that takes longer fails.
    #[serde(with = "humantime_serde")]
    pub probe_timeout: Duration,
    /// Consecutive good probes that bring a `down` proxy back.
    pub recover_after: u32,
    /// Where probes open their tunnel (`https://host[:port]`); unset: the
    /// base URL of a provider whose accounts the proxy carries.
    pub probe_target: Option<String>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        let health = aigw_services::proxy_health::ProxyHealthSettings::default();
        Self {
            overflow: aigw_services::snapshot::ProxyOverflow::default(),
            health_interval: health.interval.unwrap_or_default(),
            probe_timeout: health.timeout,
            recover_after: health.recover_after,
            probe_target: None,
        }
    }
}

impl ProxyConfig {
    /// The proxy health settings, the probe target checked.
    pub fn health(&self) -> anyhow::Result<aigw_services::proxy_health::ProxyHealthSettings> {
        let target = match &self.probe_target {
            None => None,
            Some(url) => {
                let uri: http::Uri = url
                    .parse()
                    .map_err(|e| anyhow::anyhow!("proxy.probe_target: {e}"))?;
                match (uri.scheme_str(), uri.host()) {
                    (Some("http" | "https"), Some(_)) => Some(uri),
                    _ => anyhow::bail!("proxy.probe_target: expected http(s)://host[:port]"),
                }
            }
        };
        anyhow::ensure!(
            !self.probe_timeout.is_zero(),
            "proxy.probe_timeout: must be more than 0s"
        );
        Ok(aigw_services::proxy_health::ProxyHealthSettings {
            interval: (!self.health_interval.is_zero()).then_some(self.health_interval),
            timeout: self.probe_timeout,
            recover_after: self.recover_after.max(1),
            target,
        })
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SnapshotConfig {
    /// How often the in-memory routing snapshot is rebuilt from the database
    /// even when no change was announced (changes made with the CLI, or
    /// announcements lost while Redis was down).
    #[serde(with = "humantime_serde")]
    pub refresh_interval: Duration,
}

impl Default for SnapshotConfig {
    fn default() -> Self {
        Self {
            refresh_interval: Duration::from_secs(5),
        }
    }
}

/// Settings of one provider that win over the seeded row at every start.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProviderOverride {
    /// May carry an upstream's basic-auth credentials (`https://user:pw@host/v1`):
    /// printed masked, sealed at rest like every stored credential.
    #[serde(
        deserialize_with = "optional_scalar_string",
        serialize_with = "serialize_masked_optional_url"
    )]
    pub base_url: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `tracing` filter directive, e.g. `info` or `aigw_services=debug,info`.
    #[serde(deserialize_with = "scalar_string")]
    pub level: String,
    /// `text` for people, `json` for log pipelines.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Which SQL backend a database URL selects, with what it needs to open it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    Sqlite(PathBuf),
    Postgres,
}

/// A configuration problem, always naming the key path or file at fault.
#[derive(Debug)]
pub enum ConfigError {
    Read(PathBuf, std::io::Error),
    Parse(PathBuf, String),
    Env(String, String),
    Invalid(String, String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read(path, e) => write!(f, "cannot read config file {}: {e}", path.display()),
            Self::Parse(path, msg) => write!(f, "config file {}: {msg}", path.display()),
            Self::Env(var, msg) => write!(f, "environment variable {var}: {msg}"),
            Self::Invalid(key, msg) => write!(f, "config key `{key}`: {msg}"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Loads the configuration: defaults, then the file (the explicit one, or
    /// `aigateway.toml` in `cwd` if present), then the `AIGW_*` variables of
    /// `env`, then validation.
    ///
    /// `env` is passed in rather than read here so tests never mutate the
    /// process environment.
    pub fn load<I>(explicit_file: Option<&Path>, cwd: &Path, env: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let mut tree = toml::Table::new();
        let file = match explicit_file {
            Some(path) => Some(path.to_path_buf()),
            None => {
                let default = cwd.join(DEFAULT_CONFIG_FILE);
                default.is_file().then_some(default)
            }
        };
        let mut origin = String::from("defaults");
        if let Some(path) = &file {
            let text =
                std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.clone(), e))?;
            tree = text
                .parse::<toml::Table>()
                .map_err(|e| ConfigError::Parse(path.clone(), one_line(&e.to_string())))?;
            origin = path.display().to_string();
        }
        let mut env_vars: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX) && k.contains("__"))
            .collect();
        // A stable order keeps error messages deterministic when several
        // variables are wrong at once.
        env_vars.sort();
        for (var, value) in &env_vars {
            apply_env(&mut tree, var, value)?;
        }
        let config: Config =
            serde_path_to_error::deserialize(toml::Value::Table(tree)).map_err(|e| {
                let path = e.path().to_string();
                let msg = one_line(&e.inner().to_string());
                if path == "." {
                    ConfigError::Invalid(format!("(top level of {origin})"), msg)
                } else {
                    ConfigError::Invalid(path, msg)
                }
            })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.database_target()?;
        if self.dashboard.idle_timeout.is_zero() {
            return Err(ConfigError::Invalid(
                "dashboard.idle_timeout".into(),
                "must be longer than 0s".into(),
            ));
        }
        if self.dashboard.absolute_timeout < self.dashboard.idle_timeout {
            return Err(ConfigError::Invalid(
                "dashboard.absolute_timeout".into(),
                "must not be shorter than dashboard.idle_timeout".into(),
            ));
        }
        if let Some(url) = &self.redis.url {
            let parsed = url::Url::parse(url)
                .map_err(|e| ConfigError::Invalid("redis.url".into(), format!("not a URL: {e}")))?;
            if !matches!(parsed.scheme(), "redis" | "rediss") {
                return Err(ConfigError::Invalid(
                    "redis.url".into(),
                    format!("unsupported scheme `{}` (use redis://)", parsed.scheme()),
                ));
            }
        }
        if self.redis.command_timeout.is_zero() {
            return Err(ConfigError::Invalid(
                "redis.command_timeout".into(),
                "must be greater than zero".into(),
            ));
        }
        if self.health.down_after == 0 || self.health.degraded_after == 0 {
            return Err(ConfigError::Invalid(
                "health.down_after".into(),
                "health.degraded_after and health.down_after must be at least 1".into(),
            ));
        }
        if self.health.degraded_after > self.health.down_after {
            return Err(ConfigError::Invalid(
                "health.degraded_after".into(),
                "must not exceed health.down_after".into(),
            ));
        }
        if self.health.probe_after.is_zero() || self.health.probe_max < self.health.probe_after {
            return Err(ConfigError::Invalid(
                "health.probe_after".into(),
                "must be greater than zero and at most health.probe_max".into(),
            ));
        }
        if self.failover.max_attempts == 0 {
            return Err(ConfigError::Invalid(
                "failover.max_attempts".into(),
                "must be at least 1".into(),
            ));
        }
        if self.snapshot.refresh_interval.is_zero() {
            return Err(ConfigError::Invalid(
                "snapshot.refresh_interval".into(),
                "must be greater than zero".into(),
            ));
        }
        if self.upstream.first_byte_timeout <= self.upstream.connect_timeout {
            return Err(ConfigError::Invalid(
                "upstream.first_byte_timeout".into(),
                "must be greater than upstream.connect_timeout (it includes connecting)".into(),
            ));
        }
        if let Err(e) = aigw_services::routing::RuleTable::new(&self.routing.rules) {
            return Err(ConfigError::Invalid("routing.rules".into(), e.to_string()));
        }
        if self.server.max_body_bytes == 0 {
            return Err(ConfigError::Invalid(
                "server.max_body_bytes".into(),
                "must be greater than zero".into(),
            ));
        }
        self.validate_server_edge()?;
        for (key, value) in [
            (
                "auth.login_max_failures_per_user",
                u64::from(self.auth.login_max_failures_per_user),
            ),
            (
                "auth.login_max_failures_per_address",
                u64::from(self.auth.login_max_failures_per_address),
            ),
            (
                "auth.password_hash_concurrency",
                self.auth.password_hash_concurrency as u64,
            ),
            (
                "auth.login_window",
                self.auth.login_window.as_millis() as u64,
            ),
        ] {
            if value == 0 {
                return Err(ConfigError::Invalid(
                    key.into(),
                    "must be greater than zero".into(),
                ));
            }
        }
        self.validate_security()?;
        if self.retention.interval.is_zero() || self.retention.batch_rows == 0 {
            return Err(ConfigError::Invalid(
                if self.retention.interval.is_zero() {
                    "retention.interval"
                } else {
                    "retention.batch_rows"
                }
                .into(),
                "must be greater than zero".into(),
            ));
        }
        for (key, zero) in [
            ("stats.queue_capacity", self.stats.queue_capacity == 0),
            ("stats.batch_size", self.stats.batch_size == 0),
            ("stats.flush_interval", self.stats.flush_interval.is_zero()),
        ] {
            if zero {
                return Err(ConfigError::Invalid(
                    key.into(),
                    "must be greater than zero".into(),
                ));
            }
        }
        if self.stats.batch_size > self.stats.queue_capacity {
            return Err(ConfigError::Invalid(
                "stats.batch_size".into(),
                "must not exceed stats.queue_capacity".into(),
            ));
        }
        if self.stats.journal && self.stats.journal_max_bytes == 0 {
            return Err(ConfigError::Invalid(
                "stats.journal_max_bytes".into(),
                "must be greater than zero (set stats.journal = false to turn the journal off)"
                    .into(),
            ));
        }
        for (id, provider) in &self.providers {
            if let Some(base) = &provider.base_url {
                let parsed = url::Url::parse(base).map_err(|e| {
                    ConfigError::Invalid(format!("providers.{id}.base_url"), format!("{e}"))
                })?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(ConfigError::Invalid(
                        format!("providers.{id}.base_url"),
                        "must be an http:// or https:// URL".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Checks the key settings that can be checked without reading files; a malformed
    /// key is named by its key path, never echoed.
    fn validate_server_edge(&self) -> Result<(), ConfigError> {
        let server = &self.server;
        if server.max_connections == Some(0) {
            return Err(ConfigError::Invalid(
                "server.max_connections".into(),
                "must be at least 1 (leave it unset for the default)".into(),
            ));
        }
        if server.listen_backlog == 0 {
            return Err(ConfigError::Invalid(
                "server.listen_backlog".into(),
                "must be at least 1".into(),
            ));
        }
        for (key, value) in [
            ("server.header_timeout", server.header_timeout),
            ("server.body_idle_timeout", server.body_idle_timeout),
            ("server.body_timeout", server.body_timeout),
            ("server.keep_alive_timeout", server.keep_alive_timeout),
        ] {
            if value.is_zero() {
                return Err(ConfigError::Invalid(
                    key.into(),
                    "must be greater than zero".into(),
                ));
            }
        }
        Ok(())
    }

    fn validate_security(&self) -> Result<(), ConfigError> {
        let security = &self.security;
        if let Some(key) = &security.secret_key {
            if security.key_file.is_some() {
                return Err(ConfigError::Invalid(
                    "security.key_file".into(),
                    "set either security.secret_key or security.key_file, not both".into(),
                ));
            }
            aigw_repository::SecretKey::parse(key.expose())
                .map_err(|e| ConfigError::Invalid("security.secret_key".into(), e.to_string()))?;
        }
        for (index, key) in security.previous_keys.iter().enumerate() {
            aigw_repository::SecretKey::parse(key.expose()).map_err(|e| {
                ConfigError::Invalid(format!("security.previous_keys[{index}]"), e.to_string())
            })?;
        }
        if security
            .key_file
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return Err(ConfigError::Invalid(
                "security.key_file".into(),
                "must be a file path".into(),
            ));
        }
        Ok(())
    }

    /// The SQL backend that `database.url` selects.
    pub fn database_target(&self) -> Result<DatabaseTarget, ConfigError> {
        database_target(&self.database.url)
    }
}

/// Classifies a database URL, checking what can be checked without connecting.
pub fn database_target(url: &str) -> Result<DatabaseTarget, ConfigError> {
    let invalid = |msg: String| ConfigError::Invalid("database.url".into(), msg);
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(invalid("sqlite:// needs a file path".into()));
        }
        let path = PathBuf::from(path);
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !parent.is_dir() {
            return Err(invalid(format!(
                "the folder {} of the SQLite file does not exist",
                parent.display()
            )));
        }
        return Ok(DatabaseTarget::Sqlite(path));
    }
    match url.split_once("://") {
        Some(("postgres" | "postgresql", _)) => Ok(DatabaseTarget::Postgres),
        Some((scheme, _)) => Err(invalid(format!(
            "unsupported scheme `{scheme}` (use sqlite://PATH or postgres://…)"
        ))),
        None => Err(invalid(
            "not a URL (use sqlite://PATH or postgres://…)".into(),
        )),
    }
}

/// Sets the key that `AIGW_SECTION__KEY[__SUBKEY]` names. Values are typed by
/// TOML literal rules (`true`, `42`, `1.5`); anything else is a string.
fn apply_env(tree: &mut toml::Table, var: &str, value: &str) -> Result<(), ConfigError> {
    let path: Vec<String> = var[ENV_PREFIX.len()..]
        .split("__")
        .map(str::to_ascii_lowercase)
        .collect();
    if path.iter().any(String::is_empty) {
        return Err(ConfigError::Env(var.into(), "empty key segment".into()));
    }
    let Some((last, parents)) = path.split_last() else {
        return Err(ConfigError::Env(var.into(), "no key".into()));
    };
    let mut table = tree;
    for (depth, segment) in parents.iter().enumerate() {
        let entry = table
            .entry(segment.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = match entry {
            toml::Value::Table(t) => t,
            _ => {
                return Err(ConfigError::Env(
                    var.into(),
                    format!("`{}` is not a section", path[..=depth].join(".")),
                ));
            }
        };
    }
    table.insert(last.clone(), env_value(value));
    Ok(())
}

fn env_value(raw: &str) -> toml::Value {
    if let Ok(b) = raw.parse::<bool>() {
        return toml::Value::Boolean(b);
    }
    if let Ok(i) = raw.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    if let Ok(f) = raw.parse::<f64>()
        && f.is_finite()
        && raw.contains('.')
    {
        return toml::Value::Float(f);
    }
    toml::Value::String(raw.to_owned())
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Accepts any scalar for a string key, since an environment value like
/// `AIGW_REDIS__KEY_PREFIX=2024` is typed as an integer by the TOML rules.
fn scalar_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        S(String),
        I(i64),
        F(f64),
        B(bool),
    }
    Ok(match Scalar::deserialize(d)? {
        Scalar::S(s) => s,
        Scalar::I(i) => i.to_string(),
        Scalar::F(f) => f.to_string(),
        Scalar::B(b) => b.to_string(),
    })
}

fn optional_scalar_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    scalar_string(d).map(|s| if s.is_empty() { None } else { Some(s) })
}

fn optional_scalar_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    optional_scalar_string(d).map(|s| s.map(Secret::new))
}

fn serialize_masked_url<S: Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&mask_url_credentials(url))
}

fn serialize_masked_optional_url<S: Serializer>(
    url: &Option<String>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match url {
        Some(u) => s.serialize_str(&mask_url_credentials(u)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(file: Option<&str>, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = file.map(|text| {
            let p = dir.path().join("gw.toml");
            std::fs::write(&p, text).unwrap();
            p
        });
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::load(path.as_deref(), dir.path(), env)
    }

    #[test]
    fn defaults_are_the_embedded_deployment() {
        let c = load(None, &[]).unwrap();
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database.url, "sqlite://aigateway.db");
        assert!(c.redis.url.is_none());
        assert_eq!(c.redis.command_timeout, Duration::from_millis(50));
        assert!(c.auth.require_client_key);
        let journal = c.stats_journal().unwrap().unwrap();
        assert_eq!(journal.dir, PathBuf::from("aigateway.db.journal"));
        assert_eq!(journal.max_bytes, 1 << 30);
    }

    #[test]
    fn the_stats_journal_is_configured_or_turned_off() {
        let c = load(
            Some("[stats]\njournal_dir = \"/var/lib/aigw/journal\"\njournal_fsync = \"always\"\n"),
            &[("AIGW_STATS__JOURNAL_MAX_BYTES", "1048576")],
        )
        .unwrap();
        let journal = c.stats_journal().unwrap().unwrap();
        assert_eq!(journal.dir, PathBuf::from("/var/lib/aigw/journal"));
        assert_eq!(journal.max_bytes, 1_048_576);
        assert_eq!(journal.fsync, aigw_services::stats::FsyncPolicy::Always);
        let retention = load(None, &[("AIGW_RETENTION__REQUEST_LOGS", "0s")])
            .unwrap()
            .retention
            .settings();
        assert_eq!(retention.request_logs, None, "0s keeps for ever");
        assert_eq!(
            retention.proxy_stats,
            Some(Duration::from_secs(400 * 24 * 3600))
        );
        let pipeline = load(
            Some("[stats]\nqueue_capacity = 4096\nbatch_size = 256\nflush_interval = \"250ms\"\n"),
            &[],
        )
        .unwrap()
        .stats_pipeline();
        assert_eq!(pipeline.queue_capacity, 4096);
        assert_eq!(pipeline.batch_size, 256);
        assert_eq!(pipeline.flush_interval, Duration::from_millis(250));
        let err = load(None, &[("AIGW_STATS__BATCH_SIZE", "0")]).unwrap_err();
        assert!(err.to_string().contains("stats.batch_size"), "{err}");
        let err = load(
            None,
            &[
                ("AIGW_STATS__QUEUE_CAPACITY", "100"),
                ("AIGW_STATS__BATCH_SIZE", "1000"),
            ],
        )
        .unwrap_err();
        assert!(err.to_string().contains("stats.queue_capacity"), "{err}");
        let off = load(None, &[("AIGW_STATS__JOURNAL", "false")]).unwrap();
        assert!(off.stats_journal().unwrap().is_none());
        let err = load(None, &[("AIGW_STATS__JOURNAL_FSYNC", "sometimes")]).unwrap_err();
        assert!(err.to_string().contains("stats.journal_fsync"), "{err}");
    }

    #[test]
    fn edge_limits_have_defaults_and_take_env() {
        let c = load(None, &[]).unwrap();
        assert_eq!(c.server.max_connections, None);
        assert_eq!(c.server.listen_backlog, 1024);
        assert_eq!(c.server.header_timeout, Duration::from_secs(30));
        assert_eq!(c.server.keep_alive_timeout, Duration::from_secs(75));
        let c = load(
            None,
            &[
                ("AIGW_SERVER__MAX_CONNECTIONS", "500"),
                ("AIGW_SERVER__BODY_TIMEOUT", "2m"),
            ],
        )
        .unwrap();
        assert_eq!(c.server.max_connections, Some(500));
        assert_eq!(c.server.body_timeout, Duration::from_secs(120));
        let e = load(None, &[("AIGW_SERVER__HEADER_TIMEOUT", "0s")]).unwrap_err();
        assert!(e.to_string().contains("server.header_timeout"), "{e}");
        let e = load(None, &[("AIGW_SERVER__MAX_CONNECTIONS", "0")]).unwrap_err();
        assert!(e.to_string().contains("server.max_connections"), "{e}");
    }

    #[test]
    fn env_overrides_file() {
        let c = load(
            Some("[server]\nlisten = \"127.0.0.1:9000\"\n[redis]\nkey_prefix = \"t:\"\n"),
            &[
                ("AIGW_SERVER__LISTEN", "127.0.0.1:9100"),
                ("AIGW_REDIS__URL", "redis://127.0.0.1:6379"),
                ("AIGW_REDIS__COMMAND_TIMEOUT", "75ms"),
                ("AIGW_PROVIDERS__OPENAI__BASE_URL", "http://127.0.0.1:1/v1"),
                ("OTHER_VAR", "ignored"),
            ],
        )
        .unwrap();
        assert_eq!(c.server.listen.port(), 9100);
        assert_eq!(c.redis.key_prefix, "t:");
        assert_eq!(c.redis.command_timeout, Duration::from_millis(75));
        assert_eq!(
            c.providers["openai"].base_url.as_deref(),
            Some("http://127.0.0.1:1/v1")
        );
    }

    #[test]
    fn response_pins_last_a_day_unless_configured() {
        let c = load(None, &[]).unwrap();
        assert_eq!(c.routing.response_pin_ttl, Duration::from_secs(24 * 3600));
        let c = load(
            Some("[routing]\nresponse_pin_ttl = \"2h\"\n"),
            &[("AIGW_ROUTING__RESPONSE_PIN_TTL", "30m")],
        )
        .unwrap();
        assert_eq!(c.routing.response_pin_ttl, Duration::from_secs(1800));
    }

    #[test]
    fn conversations_stay_pinned_an_hour_unless_configured() {
        let c = load(None, &[]).unwrap();
        assert_eq!(c.routing.affinity_ttl, Duration::from_secs(3600));
        let c = load(
            Some("[routing]\naffinity_ttl = \"2h\"\n"),
            &[("AIGW_ROUTING__AFFINITY_TTL", "15m")],
        )
        .unwrap();
        assert_eq!(c.routing.affinity_ttl, Duration::from_secs(900));
        let c = load(Some("[routing]\naffinity_ttl = \"2h\"\n"), &[]).unwrap();
        assert_eq!(c.routing.affinity_ttl, Duration::from_secs(7200));
    }

    #[test]
    fn onboarding_clients_take_file_and_env_overrides() {
        let c = load(
            Some(
                "[oauth]\ncallback_origin = \"https://admin.example\"\n\
                 [oauth.google]\nclient_id = \"gid\"\nauthorize_url = \"http://127.0.0.1:1/auth\"\n\
                 scopes = [\"openid\", \"email\"]\n",
            ),
            &[(
                "AIGW_OAUTH__REDIRECT_URI",
                "https://gw.example/api/v1/oauth/callback",
            )],
        )
        .unwrap();
        let o = c.oauth.onboarding();
        assert_eq!(o.callback_origin.as_deref(), Some("https://admin.example"));
        assert_eq!(o.redirect_uri, "https://gw.example/api/v1/oauth/callback");
        assert_eq!(o.google.client_id.as_deref(), Some("gid"));
        assert_eq!(o.google.authorize_url, "http://127.0.0.1:1/auth");
        assert_eq!(o.google.scopes, ["openid", "email"]);
        assert_eq!(
            o.anthropic,
            aigw_services::onboarding::OAuthApp::anthropic()
        );
        let none = load(None, &[]).unwrap().oauth.onboarding();
        assert_eq!(
            none.callback_origin, None,
            "posts nowhere unless configured"
        );
    }

    #[test]
    fn numeric_env_value_for_a_string_key_stays_a_string() {
        let c = load(None, &[("AIGW_REDIS__KEY_PREFIX", "2024")]).unwrap();
        assert_eq!(c.redis.key_prefix, "2024");
    }

    #[test]
    fn unknown_key_in_file_names_its_path() {
        let e = load(Some("[server]\nlisten = \"127.0.0.1:1\"\nlistn = 3\n"), &[]).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("server"), "{msg}");
        assert!(msg.contains("listn"), "{msg}");
    }

    #[test]
    fn unknown_env_section_is_an_error() {
        let e = load(None, &[("AIGW_SERVR__LISTEN", "127.0.0.1:1")]).unwrap_err();
        assert!(e.to_string().contains("servr"), "{e}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let e = load(Some("[server]\nmax_body_bytes = \"lots\"\n"), &[]).unwrap_err();
        assert!(e.to_string().contains("server.max_body_bytes"), "{e}");
        let e = load(None, &[("AIGW_SERVER__LISTEN", "not-an-address")]).unwrap_err();
        assert!(e.to_string().contains("server.listen"), "{e}");
    }

    #[test]
    fn database_url_is_checked_before_connecting() {
        let e = load(None, &[("AIGW_DATABASE__URL", "mysql://root@localhost/x")]).unwrap_err();
        assert!(e.to_string().contains("unsupported scheme `mysql`"), "{e}");
        let e = load(
            None,
            &[(
                "AIGW_DATABASE__URL",
                "sqlite:///definitely/missing/dir/gw.db",
            )],
        )
        .unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
        let c = load(
            None,
            &[("AIGW_DATABASE__URL", "postgres://u:pw@127.0.0.1/test")],
        )
        .unwrap();
        assert_eq!(c.database_target().unwrap(), DatabaseTarget::Postgres);
    }

    #[test]
    fn masked_url_hides_the_password() {
        assert_eq!(
            mask_url_credentials("postgres://u:hunter2@db/x"),
            "postgres://****@db/x"
        );
        let c = load(None, &[("AIGW_DATABASE__URL", "postgres://u:hunter2@db/x")]).unwrap();
        let shown = toml::to_string(&c).unwrap();
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn the_dashboard_is_on_unless_turned_off() {
        let c = load(None, &[]).unwrap();
        let d = c.dashboard.settings().unwrap();
        assert_eq!(d.idle_timeout, Duration::from_secs(30 * 60));
        assert_eq!(d.absolute_timeout, Duration::from_secs(12 * 3600));
        let c = load(
            Some("[dashboard]\nidle_timeout = \"5m\"\n"),
            &[("AIGW_DASHBOARD__ENABLED", "false")],
        )
        .unwrap();
        assert!(c.dashboard.settings().is_none());
        assert_eq!(c.dashboard.idle_timeout, Duration::from_secs(300));
        let e = load(None, &[("AIGW_DASHBOARD__ABSOLUTE_TIMEOUT", "1m")]).unwrap_err();
        assert!(e.to_string().contains("dashboard.absolute_timeout"), "{e}");
    }

    #[test]
    fn login_limits_come_from_the_auth_section() {
        let c = load(
            None,
            &[
                ("AIGW_AUTH__LOGIN_MAX_FAILURES_PER_USER", "3"),
                ("AIGW_AUTH__LOGIN_WINDOW", "5m"),
            ],
        )
        .unwrap();
        let limits = c.auth.login_limits();
        assert_eq!(limits.max_failures_per_user, 3);
        assert_eq!(limits.window, Duration::from_secs(300));
        assert_eq!(limits.max_failures_per_address, 50);
        let e = load(None, &[("AIGW_AUTH__PASSWORD_HASH_CONCURRENCY", "0")]).unwrap_err();
        assert!(
            e.to_string().contains("auth.password_hash_concurrency"),
            "{e}"
        );
    }

    /// `check-config` prints a provider's base URL without the credentials in it.
    #[test]
    fn provider_base_url_credentials_are_masked() {
        let c = load(
            None,
            &[(
                "AIGW_PROVIDERS__OPENAI__BASE_URL",
                "https://gw-user:hunter2@llm.internal/v1",
            )],
        )
        .unwrap();
        assert_eq!(
            c.providers["openai"].base_url.as_deref(),
            Some("https://gw-user:hunter2@llm.internal/v1"),
            "kept whole for the data plane"
        );
        let shown = toml::to_string(&c).unwrap();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("gw-user"), "{shown}");
        assert!(shown.contains("https://****@llm.internal/v1"), "{shown}");
    }

    #[test]
    fn a_malformed_secret_key_is_named_and_not_echoed() {
        let e = load(None, &[("AIGW_SECURITY__SECRET_KEY", "hunter2-not-a-key")]).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("security.secret_key"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
        let e = load(Some("[security]\nprevious_keys = [\"hunter2\"]\n"), &[]).unwrap_err();
        assert!(e.to_string().contains("security.previous_keys[0]"), "{e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn sign_in_and_oauth_secrets_load_and_never_print() {
        let c = load(
            None,
            &[
                ("AIGW_AUTH__JWT_SECRET", "jwt-hunter2-secret"),
                ("AIGW_ADMIN__PASSWORD", "admin-hunter2-pass"),
                ("AIGW_OAUTH__GOOGLE__CLIENT_SECRET", "google-hunter2-client"),
            ],
        )
        .unwrap();
        assert_eq!(
            c.auth.jwt_secret.as_ref().map(Secret::expose),
            Some("jwt-hunter2-secret")
        );
        assert_eq!(
            c.admin.password.as_ref().map(Secret::expose),
            Some("admin-hunter2-pass")
        );
        let google = c.oauth.settings().google.client_secret;
        assert_eq!(
            google.as_ref().map(Secret::expose),
            Some("google-hunter2-client")
        );
        let shown = format!("{} {c:?}", toml::to_string(&c).unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
        let empty = load(None, &[("AIGW_AUTH__JWT_SECRET", "")]).unwrap();
        assert!(empty.auth.jwt_secret.is_none());
    }

    #[test]
    fn secret_keys_load_from_env_and_never_print() {
        let key = aigw_repository::SecretKey::generate();
        let (current, old1, old2) = (
            key.expose_base64(),
            aigw_repository::SecretKey::generate().expose_base64(),
            aigw_repository::SecretKey::generate().expose_base64(),
        );
        let c = load(
            None,
            &[
                ("AIGW_SECURITY__SECRET_KEY", current.as_str()),
                (
                    "AIGW_SECURITY__PREVIOUS_KEYS",
                    &format!("{}, {}", old1.as_str(), old2.as_str()),
                ),
            ],
        )
        .unwrap();
        assert_eq!(c.security.previous_keys.len(), 2);
        let shown = format!("{} {c:?}", toml::to_string(&c).unwrap());
        for secret in [&current, &old1, &old2] {
            assert!(!shown.contains(secret.as_str()), "{shown}");
        }
        assert!(
            load(None, &[("AIGW_SECURITY__SECRET_KEY", "")])
                .unwrap()
                .security
                .secret_key
                .is_none()
        );
        let e = load(
            None,
            &[
                ("AIGW_SECURITY__SECRET_KEY", current.as_str()),
                ("AIGW_SECURITY__KEY_FILE", "/etc/aigateway.key"),
            ],
        )
        .unwrap_err();
        assert!(e.to_string().contains("security.key_file"), "{e}");
    }

    #[test]
    fn bad_toml_names_the_file() {
        let e = load(Some("[server\n"), &[]).unwrap_err();
        assert!(e.to_string().contains("gw.toml"), "{e}");
    }
}
