//! The subcommands.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};

use crate::app::App;
use crate::config::Config;
use crate::domain::scopes::Scopes;
use crate::services::{accounts, sessions};

#[derive(Debug, Parser)]
#[command(
    name = "slipway",
    version,
    about = "Zero-downtime deployments over SSH"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per run: the size of the server commands' configuration does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    #[command(flatten)]
    Server(ServerCommand),
    #[command(flatten)]
    Client(crate::client::Command),
}

/// The commands that run on the server's machine, on its data directory.
#[derive(Debug, Subcommand)]
pub enum ServerCommand {
    /// Run the API server and this node's background work: deployments, notifications,
    /// health checks.
    Serve(#[command(flatten)] Config),
    /// Bring the database schema up to date and exit.
    Migrate(#[command(flatten)] Config),
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Set a user's dashboard password: read from standard input, or asked for on a terminal.
    Password {
        /// The user's e-mail address.
        #[arg(long)]
        email: String,
        #[command(flatten)]
        config: Config,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token (and its user, when missing); prints the token alone on standard output.
    Create {
        /// The user's e-mail address.
        #[arg(long)]
        email: String,
        /// The user's name, when the user is created.
        #[arg(long)]
        name: Option<String>,
        /// Comma-separated scopes such as `projects:create,servers:delete`, or `*` for all.
        #[arg(long, default_value = "*")]
        scopes: String,
        #[command(flatten)]
        config: Config,
    },
}

/// Runs a command; answers its exit status, or the error that stopped a server-side one.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Client(command) => Ok(crate::client::run(command).await),
        Command::Server(command) => {
            server_side(command).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn server_side(command: ServerCommand) -> anyhow::Result<()> {
    match command {
        ServerCommand::Serve(config) => serve(config).await,
        ServerCommand::Migrate(config) => {
            let app = App::start(config).await?;
            app.store.close().await;
            eprintln!("database is up to date");
            Ok(())
        }
        ServerCommand::Token {
            command:
                TokenCommand::Create {
                    email,
                    name,
                    scopes,
                    config,
                },
        } => {
            let scopes = Scopes::parse_list(&scopes).map_err(anyhow::Error::msg)?;
            let app = App::start(config).await?;
            let user = accounts::ensure_user(&app, &email, name.as_deref())
                .await
                .map_err(|err| anyhow::anyhow!("{err}"))?;
            let token = accounts::create_token(&app, user.id, "cli", &scopes)
                .await
                .map_err(|err| anyhow::anyhow!("{err}"))?;
            println!("{}", token.expose_secret());
            app.store.close().await;
            Ok(())
        }
        ServerCommand::User {
            command: UserCommand::Password { email, config },
        } => {
            let password = read_password()?;
            let app = App::start(config).await?;
            let set = sessions::set_password(&app, &email, &password).await;
            app.store.close().await;
            set.map_err(|err| match err {
                crate::error::Error::Invalid(errors) => {
                    anyhow::anyhow!("{}", crate::web::messages(&errors).join(" "))
                }
                other => anyhow::anyhow!("{other}"),
            })?;
            eprintln!("the password of {email} is set");
            Ok(())
        }
    }
}

/// A password from standard input (its first line), or, on a terminal, typed twice unseen.
fn read_password() -> anyhow::Result<SecretString> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return Ok(crate::client::secret_from_stdin()?);
    }
    let first = rpassword::prompt_password("New password: ")?;
    let second = rpassword::prompt_password("The same again: ")?;
    anyhow::ensure!(first == second, "the two passwords differ");
    Ok(SecretString::from(first))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let listen = config.listen;
    crate::domain::time::shift_clock(config.clock_offset_seconds);
    let app = Arc::new(App::start(config).await?);
    if let Some((email, token)) = accounts::bootstrap_admin(&app)
        .await
        .map_err(|err| anyhow::anyhow!("{err}"))?
    {
        // Printed once, on the first start: the only time this token is ever shown.
        println!("Created the admin user {email}. Its API token (shown only now):");
        println!("{}", token.expose_secret());
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let metrics = match app.config.metrics_listen {
        Some(address) => {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("listening for metrics on {address}"))?;
            tracing::info!(address = %listener.local_addr()?, "metrics listening");
            let router = crate::metrics::router(app.clone());
            Some(tokio::spawn(async move {
                if let Err(err) = axum::serve(listener, router).await {
                    tracing::error!(error = %err, "the metrics listener stopped");
                }
            }))
        }
        None => None,
    };
    let jobs = tokio::spawn(crate::jobs::run(app.clone()));
    tracing::info!(address = %listener.local_addr()?, "slipway listening");
    crate::http::serve(listener, app.clone()).await?;
    // Check-ins answered since the last write are not lost on a clean stop.
    if let Err(err) = crate::services::heartbeats::flush(&app).await {
        tracing::error!(error = %err, "writing the last heartbeat check-ins failed");
    }
    jobs.abort();
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    app.store.close().await;
    Ok(())
}
