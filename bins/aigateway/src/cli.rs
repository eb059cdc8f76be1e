//! The command line: `serve`, `migrate`, `check-config`, `rotate-key`, and admin helpers.

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
    /// Manage client API keys (works on the configured database directly).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage upstream accounts (works on the configured database directly).
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Re-encrypt every stored account and proxy credential under a new secret key.
    ///
    /// The new key comes from --new-key-file, else from the AIGW_NEW_SECRET_KEY
    /// variable, else it is generated into the configured key file (the replaced key
    /// is kept in `<file>.old`). The configured keys read the old values.
    RotateKey {
        /// Read the new key from this file; if it does not exist, generate a key into
        /// it (mode 0600).
        #[arg(long, value_name = "PATH", conflicts_with = "keep_current")]
        new_key_file: Option<PathBuf>,
        /// No new key: re-encrypt values still under a previous key with the current
        /// one (the last step of a rotation across several instances).
        #[arg(long)]
        keep_current: bool,
    },
    /// Manage management-API users (works on the configured database directly).
    #[command(subcommand)]
    Users(UsersCommand),
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Create a user. Without --password-stdin a random password is
    /// generated and printed once.
    Create {
        /// The login name.
        #[arg(long)]
        username: String,
        /// admin, user or provider.
        #[arg(long)]
        role: aigw_domain::Role,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Issue a new client key and print it once.
    Create {
        /// A label to recognise the key by.
        #[arg(long)]
        label: Option<String>,
        /// The user who owns the key (created as an admin if missing).
        #[arg(long, default_value = "admin")]
        user: String,
    },
}

#[derive(Debug, Subcommand)]
enum AccountsCommand {
    /// Add an account to a provider and print its id.
    Add {
        /// The provider id (openai, anthropic, gemini, antigravity, glm, …).
        #[arg(long)]
        provider: String,
        /// A label to recognise the account by.
        #[arg(long)]
        label: String,
        /// An API key credential.
        #[arg(
            long,
            conflicts_with = "auth_json",
            required_unless_present = "auth_json"
        )]
        api_key: Option<String>,
        /// Any credential as JSON, e.g. '{"type":"oauth","access_token":"…","refresh_token":"…"}',
        /// or the original gateway's untagged shapes ('{"api_key":"…"}',
        /// '{"access_token":"…","refresh_token":"…","expires_at":"…"}').
        #[arg(long)]
        auth_json: Option<String>,
    },
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
        Command::Keys(KeysCommand::Create { label, user }) => {
            crate::logging::init(&config.log)?;
            let runtime =
                crate::serve::start_runtime(&config, config.database.migrate_on_start).await?;
            let owner = aigw_services::admin::ensure_user(runtime.repository(), &user)
                .await
                .with_context(|| format!("cannot find or create user `{user}`"))?;
            let issued = aigw_services::admin::issue_api_key(runtime.repository(), &owner, label)
                .await
                .context("cannot create the key")?;
            runtime.shutdown().await;
            #[expect(clippy::print_stdout, reason = "the new key is the command's output")]
            {
                println!("{}", issued.raw);
            }
            Ok(())
        }
        Command::Accounts(AccountsCommand::Add {
            provider,
            label,
            api_key,
            auth_json,
        }) => {
            let auth = match (api_key, auth_json) {
                (Some(key), _) => aigw_domain::AuthData::ApiKey {
                    api_key: aigw_domain::Secret::new(key),
                },
                (None, Some(json)) => {
                    serde_json::from_str(&json).map_err(|e| anyhow::anyhow!("--auth-json: {e}"))?
                }
                (None, None) => anyhow::bail!("give --api-key or --auth-json"),
            };
            let provider = aigw_domain::ProviderId::new(provider.clone())
                .map_err(|e| anyhow::anyhow!("--provider: {e}"))?;
            crate::logging::init(&config.log)?;
            let runtime =
                crate::serve::start_runtime(&config, config.database.migrate_on_start).await?;
            let account =
                aigw_services::admin::add_account(runtime.repository(), &provider, &label, auth)
                    .await
                    .context("cannot add the account")?;
            runtime.shutdown().await;
            #[expect(
                clippy::print_stdout,
                reason = "the new account's id is the command's output"
            )]
            {
                println!("{}", account.id);
            }
            Ok(())
        }
        Command::RotateKey {
            new_key_file,
            keep_current,
        } => {
            crate::logging::init(&config.log)?;
            let new = if keep_current {
                crate::security::NewKey::KeepCurrent
            } else if let Some(path) = new_key_file {
                crate::security::NewKey::File(path)
            } else if let Some(text) = std::env::var("AIGW_NEW_SECRET_KEY")
                .ok()
                .filter(|t| !t.trim().is_empty())
            {
                crate::security::NewKey::Text(zeroize::Zeroizing::new(text))
            } else {
                crate::security::NewKey::Generate
            };
            crate::security::rotate(&config, new).await
        }
        Command::Users(UsersCommand::Create {
            username,
            role,
            password_stdin,
        }) => {
            let (password, generated) = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .context("cannot read the password from standard input")?;
                (line.trim_end_matches(['\r', '\n']).to_owned(), false)
            } else {
                (aigw_services::admin::auth::generate_password(), true)
            };
            crate::logging::init(&config.log)?;
            let runtime =
                crate::serve::start_runtime(&config, config.database.migrate_on_start).await?;
            let new = aigw_services::admin::users::CreateUser {
                username: username.clone(),
                password,
                role,
            };
            let created = aigw_services::admin::users::create_user(runtime.repository(), &new)
                .await
                .with_context(|| format!("cannot create user `{username}`"));
            runtime.shutdown().await;
            let user = created?;
            #[expect(clippy::print_stdout, reason = "the new user is the command's output")]
            {
                if generated {
                    println!("{} {}", user.id, new.password);
                } else {
                    println!("{}", user.id);
                }
            }
            Ok(())
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
