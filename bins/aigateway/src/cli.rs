//! The command line: `serve`, `migrate`, `check-config`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::config::Config;

/// A multi-provider AI API gateway.
#[derive(Debug, Parser)]
#[command(name = "aigateway", version, about)]
pub struct Cli {
    /// Configuration file (default: ./aigateway.toml if present). Every key can
    /// also be set with AIGW_SECTION__KEY environment variables.
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway (the default command).
    Serve,
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Print the effective configuration with secrets masked, then exit.
    CheckConfig,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    let config = Config::load(cli.config.as_deref(), &cwd, std::env::vars())?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            crate::logging::init(&config.log)?;
            crate::serve::serve(config).await
        }
        Command::Migrate => {
            crate::logging::init(&config.log)?;
            crate::serve::migrate(&config).await
        }
        Command::CheckConfig => {
            let text =
                toml::to_string_pretty(&config).context("cannot render the configuration")?;
            #[expect(clippy::print_stdout, reason = "check-config prints the configuration")]
            {
                print!("{text}");
            }
            Ok(())
        }
    }
}
