//! `serve` and `migrate`: wiring the layers together from the configuration.

use std::sync::Arc;

use aigw_handlers::{App, Deployment, ServeOptions};
use aigw_repository::state::StateConfig;
use aigw_repository::{Keyring, SqlOptions};
use aigw_services::client_pool::PoolConfig;
use aigw_services::{GatewaySettings, Runtime, RuntimeSettings};
use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::config::{Config, DatabaseTarget, mask_url};

/// The services' settings from the configuration, with the keyring that credentials
/// at rest are sealed with.
pub fn runtime_settings(config: &Config, migrate: bool, keyring: Keyring) -> RuntimeSettings {
    let mut state = match &config.redis.url {
        Some(url) => StateConfig::redis(url.clone()),
        None => StateConfig::in_process(),
    };
    state.key_prefix = config.redis.key_prefix.clone();
    state.command_timeout = config.redis.command_timeout;
    state.pool_size = config.redis.pool_size;
    RuntimeSettings {
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
        },
        rules: config.routing.rules.clone(),
        base_url_overrides: config
            .providers
            .iter()
            .filter_map(|(id, p)| p.base_url.clone().map(|u| (id.clone(), u)))
            .collect(),
        snapshot_refresh: config.snapshot.refresh_interval,
        proxy_overflow: config.proxy.overflow,
        credentials: config.oauth.settings(),
        onboarding: config.oauth.onboarding(),
        stats: aigw_services::stats::StatsConfig {
            shutdown_timeout: config.server.shutdown_grace,
            ..aigw_services::stats::StatsConfig::default()
        },
        auth: aigw_services::admin::auth::AuthSettings {
            jwt_secret: config.auth.jwt_secret.clone().map(aigw_domain::Secret::new),
            token_ttl: config.auth.token_ttl,
            admin_password: config.admin.password.clone().map(aigw_domain::Secret::new),
        },
    }
}

/// Opens the services, naming the database in any failure. Credentials at rest are
/// always encrypted: the key is resolved first (see `security`), the start fails when a
/// stored credential cannot be decrypted with it, and credentials still stored in clear
/// (written before encryption) are encrypted now. Whichever command first opens an
/// empty database creates the `admin` user, so every command shows a generated password.
pub async fn start_runtime(config: &Config, migrate: bool) -> anyhow::Result<Runtime> {
    let keys = crate::security::load(config)?;
    tracing::debug!(
        key_id = %keys.current.id(),
        previous = keys.previous.len(),
        "credentials at rest are encrypted"
    );
    let mut runtime = Runtime::start(runtime_settings(config, migrate, keys.keyring()))
        .await
        .with_context(|| {
            format!(
                "cannot start on database {}",
                mask_url(&config.database.url)
            )
        })?;
    let sealed = runtime
        .repository()
        .seal_clear_secrets()
        .await
        .context("cannot encrypt the credentials stored in clear")?;
    if sealed.accounts_sealed + sealed.proxies_sealed > 0 {
        tracing::info!(
            accounts = sealed.accounts_sealed,
            proxies = sealed.proxies_sealed,
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
    show_generated_admin_password(&mut runtime);
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
    let runtime = start_runtime(&config, config.database.migrate_on_start).await?;
    let listener = TcpListener::bind(config.server.listen)
        .await
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
    let max_body = usize::try_from(config.server.max_body_bytes).unwrap_or(usize::MAX);
    let app = Arc::new(App::new(deployment, runtime.admin().clone(), max_body));
    let options = ServeOptions {
        shutdown_grace: config.server.shutdown_grace,
    };
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

/// Shows the password generated for the first `admin` user, once, on
/// stderr: never through the log, which may be shipped elsewhere.
fn show_generated_admin_password(runtime: &mut Runtime) {
    if let Some(password) = runtime.take_generated_admin_password() {
        #[expect(
            clippy::print_stderr,
            reason = "the generated password is shown to the operator once, outside the log"
        )]
        {
            eprintln!(
                "aigateway: created user `admin` with password {} (shown only now; \
                 change it with PUT /api/v1/auth/password)",
                password.expose()
            );
        }
    }
}

/// Creates or upgrades the schema of the configured database.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let runtime = start_runtime(config, true).await?;
    tracing::info!(database = %mask_url(&config.database.url), "schema is up to date");
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
