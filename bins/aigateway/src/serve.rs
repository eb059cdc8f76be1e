//! `serve` and `migrate`: wiring the layers together from the configuration.

use std::sync::Arc;

use aigw_domain::mask_url_credentials;
use aigw_handlers::{App, Deployment, Linger, ServeOptions};
use aigw_repository::state::StateConfig;
use aigw_repository::{Keyring, SqlOptions};
use aigw_services::client_pool::PoolConfig;
use aigw_services::{GatewaySettings, Runtime, RuntimeSettings};
use anyhow::Context as _;

use crate::config::{Config, DatabaseTarget};

/// The services' settings from the configuration, with the keyring that credentials
/// at rest are sealed with.
pub fn runtime_settings(
    config: &Config,
    migrate: bool,
    keyring: Keyring,
) -> anyhow::Result<RuntimeSettings> {
    let mut state = match &config.redis.url {
        Some(url) => StateConfig::redis(url.clone()),
        None => StateConfig::in_process(),
    };
    state.key_prefix = config.redis.key_prefix.clone();
    state.command_timeout = config.redis.command_timeout;
    state.pool_size = config.redis.pool_size;
    state.live_counter_grace = config.retention.live_counters;
    Ok(RuntimeSettings {
        database_url: config.database.url.clone(),
        sql: SqlOptions {
            max_connections: config.database.max_connections as usize,
            acquire_timeout: config.database.connect_timeout,
            keyring: Some(keyring),
            ..SqlOptions::default()
        },
        migrate,
        state,
        pool: PoolConfig {
            connect_timeout: config.upstream.connect_timeout,
            first_byte_timeout: config.upstream.first_byte_timeout,
            idle_read_timeout: config.upstream.idle_timeout,
            ..PoolConfig::default()
        },
        gateway: GatewaySettings {
            require_client_key: config.auth.require_client_key,
            failover: config.failover.settings(),
            response_pin_ttl: config.routing.response_pin_ttl,
            affinity_ttl: config.routing.affinity_ttl,
        },
        rules: config.routing.rules.clone(),
        base_url_overrides: config
            .providers
            .iter()
            .filter_map(|(id, p)| p.base_url.clone().map(|u| (id.clone(), u)))
            .collect(),
        snapshot_refresh: config.snapshot.refresh_interval,
        proxy_overflow: config.proxy.overflow,
        proxy_health: config.proxy.health()?,
        credentials: config.oauth.settings(),
        onboarding: config.oauth.onboarding(),
        stats: config.stats_pipeline(),
        stats_journal: config.stats_journal()?,
        retention: Some(config.retention.settings()),
        auth: aigw_services::admin::auth::AuthSettings {
            jwt_secret: config.auth.jwt_secret.clone(),
            token_ttl: config.auth.token_ttl,
            admin_password: config.admin.password.clone(),
            login: config.auth.login_limits(),
        },
    })
}

/// Opens the services, naming the database in any failure. Credentials at rest are
/// always encrypted: the key is resolved first (see `security`), the start fails when a
/// stored credential cannot be decrypted with it, and credentials still stored in clear
/// (written before encryption) are encrypted now. Whichever command first opens an
/// empty database creates the `admin` user, so every command shows a generated password.
/// The stats journal and retention are the server's alone: the other commands record
/// no traffic and should not delete any.
pub async fn start_runtime(config: &Config, migrate: bool) -> anyhow::Result<Runtime> {
    start_runtime_with(config, migrate, false).await
}

/// [`start_runtime`], with the stats journal and retention when `server` (and the
/// configuration) says so.
async fn start_runtime_with(
    config: &Config,
    migrate: bool,
    server: bool,
) -> anyhow::Result<Runtime> {
    let keys = crate::security::load(config)?;
    tracing::debug!(
        key_id = %keys.current.id(),
        previous = keys.previous.len(),
        "credentials at rest are encrypted"
    );
    let mut settings = runtime_settings(config, migrate, keys.keyring())?;
    if !server {
        settings.stats_journal = None;
        settings.retention = None;
    }
    let mut runtime = Runtime::start(settings).await.with_context(|| {
        format!(
            "cannot start on database {}",
            mask_url_credentials(&config.database.url)
        )
    })?;
    let sealed = runtime
        .repository()
        .seal_clear_secrets()
        .await
        .context("cannot encrypt the credentials stored in clear")?;
    if sealed.accounts_sealed
        + sealed.proxies_sealed
        + sealed.providers_sealed
        + sealed.settings_sealed
        > 0
    {
        tracing::info!(
            accounts = sealed.accounts_sealed,
            proxies = sealed.proxies_sealed,
            providers = sealed.providers_sealed,
            settings = sealed.settings_sealed,
            "encrypted credentials that were stored in clear"
        );
    }
    if sealed.changed_concurrently > 0 {
        tracing::warn!(
            rows = sealed.changed_concurrently,
            "credentials stored in clear changed while being encrypted; they are encrypted at the next start"
        );
    }
    if sealed.left_on_older_keys > 0 {
        tracing::info!(
            values = sealed.left_on_older_keys,
            "credentials are still under an older key; run `aigateway rotate-key --keep-current` to finish the rotation"
        );
    }
    let dashboard = (server && config.dashboard.enabled).then(|| dashboard_url(config));
    show_generated_admin_password(&mut runtime, dashboard.as_deref());
    Ok(runtime)
}

/// Runs the gateway until SIGINT or SIGTERM, then shuts down gracefully.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let deployment = Deployment {
        database: match config.database_target()? {
            DatabaseTarget::Sqlite(_) => "sqlite",
            DatabaseTarget::Postgres => "postgres",
        },
        shared_state: if config.redis.url.is_some() {
            "redis"
        } else {
            "in_process"
        },
    };
    // Everything that can fail is checked before the port is bound, so a bad
    // deployment never answers health checks.
    let runtime = start_runtime_with(&config, config.database.migrate_on_start, true).await?;
    let listener = aigw_handlers::bind(config.server.listen, config.server.listen_backlog)
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let local = listener
        .local_addr()
        .context("cannot read the bound address")?;
    tracing::info!(
        listen = %local,
        database = deployment.database,
        shared_state = deployment.shared_state,
        "aigateway listening"
    );
    if config.dashboard.enabled {
        tracing::info!(url = %dashboard_url(&config), "dashboard");
    }
    let max_body = usize::try_from(config.server.max_body_bytes).unwrap_or(usize::MAX);
    let server = &config.server;
    let app = App::new(deployment, runtime.admin().clone(), max_body)
        .with_linger(Linger {
            timeout: server.linger_timeout,
            max_bytes: server.linger_max_bytes,
        })
        .with_dashboard(config.dashboard.settings());
    let max_connections = server
        .max_connections
        .unwrap_or_else(default_max_connections);
    tracing::debug!(max_connections, "connection cap");
    let options = ServeOptions {
        shutdown_grace: server.shutdown_grace,
        max_connections,
        header_timeout: server.header_timeout,
        body_idle_timeout: server.body_idle_timeout,
        body_timeout: server.body_timeout,
        keep_alive_timeout: server.keep_alive_timeout,
    };
    let app = Arc::new(app);
    aigw_handlers::serve(listener, app, options, shutdown_signal())
        .await
        .context("server failed")?;
    if let Some(report) = runtime.shutdown().await {
        tracing::info!(
            written = report.written_rows,
            dropped = report.dropped,
            drained = report.drained,
            "stats flushed"
        );
    }
    tracing::info!("aigateway stopped");
    Ok(())
}

/// The connection cap when none is configured: half the open-files limit,
/// so that client connections leave as many descriptors for upstream
/// connections (one per request being served), the database pool, Redis
/// and files. 1024 when the limit cannot be read.
fn default_max_connections() -> usize {
    #[cfg(unix)]
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    #[cfg(not(unix))]
    let limit: Option<u64> = None;
    connections_for(limit)
}

fn connections_for(open_files: Option<u64>) -> usize {
    match open_files {
        Some(limit) => usize::try_from(limit / 2).unwrap_or(usize::MAX).max(16),
        None => 1024,
    }
}

/// The dashboard's address as a browser on this machine reaches it: the
/// listen address, with `localhost` for an address that means every interface.
fn dashboard_url(config: &Config) -> String {
    let listen = config.server.listen;
    let host = if listen.ip().is_unspecified() {
        "localhost".to_owned()
    } else if listen.is_ipv6() {
        format!("[{}]", listen.ip())
    } else {
        listen.ip().to_string()
    };
    format!("http://{host}:{}/", listen.port())
}

/// Shows the password generated for the first `admin` user, once, on
/// stderr: never through the log, which may be shipped elsewhere; with the
/// dashboard's address when `serve` runs it.
fn show_generated_admin_password(runtime: &mut Runtime, dashboard: Option<&str>) {
    if let Some(password) = runtime.take_generated_admin_password() {
        let how = match dashboard {
            Some(url) => format!("open {url} and sign in as `admin` to change it"),
            None => "change it with PUT /api/v1/auth/password".to_owned(),
        };
        #[expect(
            clippy::print_stderr,
            reason = "the generated password is shown to the operator once, outside the log"
        )]
        {
            eprintln!(
                "aigateway: created user `admin` with password {} (shown only now; {how})",
                password.expose()
            );
        }
    }
}

/// Creates or upgrades the schema of the configured database.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let runtime = start_runtime(config, true).await?;
    tracing::info!(database = %mask_url_credentials(&config.database.url), "schema is up to date");
    runtime.shutdown().await;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use aigw_repository::{Keyring, SecretKey, SqlOptions, SqlRepository};

    use super::{connections_for, dashboard_url, start_runtime};
    use crate::config::Config;
    use crate::security::{NewKey, load, rotate};

    fn config(database_url: &str) -> Config {
        let dir = tempfile::tempdir().unwrap();
        let vars = vec![("AIGW_DATABASE__URL".to_owned(), database_url.to_owned())];
        Config::load(None, dir.path(), vars).unwrap()
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_dashboard_url_is_one_a_local_browser_opens() {
        let mut config = crate::config::Config::default();
        assert_eq!(dashboard_url(&config), "http://127.0.0.1:8080/");
        config.server.listen = "0.0.0.0:9000".parse().unwrap();
        assert_eq!(dashboard_url(&config), "http://localhost:9000/");
        config.server.listen = "[::1]:80".parse().unwrap();
        assert_eq!(dashboard_url(&config), "http://[::1]:80/");
    }

    #[test]
    fn the_default_connection_cap_leaves_half_the_descriptors() {
        assert_eq!(connections_for(Some(1024)), 512);
        assert_eq!(connections_for(Some(512)), 256);
        assert_eq!(connections_for(Some(10)), 16);
        // RLIM_INFINITY
        assert!(connections_for(Some(u64::MAX)) > 1_000_000);
        assert_eq!(connections_for(None), 1024);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rotate_key_writes_the_new_key_first_and_reencrypts() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("gw.db");
        let config = config(&format!("sqlite://{}", database.display()));
        let runtime = start_runtime(&config, true).await.unwrap();
        let provider = aigw_domain::ProviderId::new("openai").unwrap();
        let auth = aigw_domain::AuthData::ApiKey {
            api_key: aigw_domain::Secret::new("sk-canary-0123456789"),
        };
        let account =
            aigw_services::admin::add_account(runtime.repository(), &provider, "a", auth.clone())
                .await
                .unwrap();
        let jwt = runtime
            .repository()
            .init_secret_setting(aigw_repository::sql::JWT_SECRET_SETTING, "unused")
            .await
            .unwrap();
        runtime.shutdown().await;
        assert_eq!(mode(&database), 0o600, "the database is private");
        let before = load(&config).unwrap();

        rotate(&config, NewKey::Generate).await.unwrap();

        let after = load(&config).unwrap();
        assert_ne!(after.current.id(), before.current.id());
        assert_eq!(
            after.previous.iter().map(SecretKey::id).collect::<Vec<_>>(),
            [before.current.id()],
            "the replaced key is kept in the .old file"
        );
        // The new key alone reads the account: every value was re-encrypted.
        let options = SqlOptions {
            keyring: Some(Keyring::new(after.current.clone())),
            ..SqlOptions::default()
        };
        let url = format!("sqlite://{}", database.display());
        let repository = SqlRepository::connect_with(&url, options).await.unwrap();
        assert_eq!(
            repository.get_account(account.id).await.unwrap().auth_data,
            auth
        );
        // The session-signing secret too.
        assert_eq!(
            repository
                .init_secret_setting(aigw_repository::sql::JWT_SECRET_SETTING, "unused")
                .await
                .unwrap(),
            jwt
        );
        // Finishing the rotation has nothing left to do.
        rotate(&config, NewKey::KeepCurrent).await.unwrap();
        assert_eq!(load(&config).unwrap().current.id(), after.current.id());
    }
}
