//! `serve` and `migrate`: wiring the layers together from the configuration.

use std::sync::Arc;

use aigw_handlers::{App, Deployment, ServeOptions};
use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::config::{Config, DatabaseTarget};

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
    let app = Arc::new(App::new(deployment));
    let options = ServeOptions {
        shutdown_grace: config.server.shutdown_grace,
    };
    aigw_handlers::serve(listener, app, options, shutdown_signal())
        .await
        .context("server failed")?;
    tracing::info!("aigateway stopped");
    Ok(())
}

/// Creates or upgrades the schema of the configured database.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let _ = config.database_target()?;
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
