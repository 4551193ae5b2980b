//! The `slipway` binary as a client of any Slipway server, over its `/api`: log in, deploy
//! and follow, cancel, roll back, read logs, releases and servers, move `.env` files.

mod api;
mod board;
mod commands;
mod connection;
mod follow;
mod model;
mod plain;
mod table;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

/// The commands that speak to a server.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a token against a server and remember both (in $XDG_CONFIG_HOME/slipway/config.toml).
    Login {
        /// The server's address, such as https://deploy.example.com.
        #[arg(long)]
        url: String,
        /// The API token; without it, read from standard input or asked for.
        #[arg(long)]
        token: Option<String>,
    },
    /// Forget the stored server and token.
    Logout,
    /// List the projects the token can see.
    Projects {
        #[command(flatten)]
        output: Output,
    },
    /// A project at a glance: last deployments, servers, health and releases.
    Status {
        /// The project's id or name.
        project: String,
        #[command(flatten)]
        output: Output,
    },
    /// Deploy a project: its branch, or the branch, tag or commit given.
    Deploy {
        /// The project's id or name.
        project: String,
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        launch: Launch,
    },
    /// Show a deployment's output (default: the latest deployment).
    Logs {
        /// The project's id or name.
        project: String,
        /// The deployment's id.
        deployment: Option<i64>,
        /// Show it live until it ends.
        #[arg(long, conflicts_with = "json")]
        follow: bool,
        #[command(flatten)]
        output: Output,
    },
    /// Cancel a deployment (default: the one waiting or running).
    Cancel {
        /// The project's id or name.
        project: String,
        /// The deployment's id.
        deployment: Option<i64>,
    },
    /// Switch back to an earlier release (default: the one live before the current one).
    Rollback {
        /// The project's id or name.
        project: String,
        /// Roll back to the release this deployment built.
        #[arg(long, value_name = "DEPLOYMENT")]
        to: Option<i64>,
        #[command(flatten)]
        launch: Launch,
    },
    /// List the releases kept on the servers, newest first.
    Releases {
        /// The project's id or name.
        project: String,
        /// The environment (default: production).
        #[arg(long)]
        environment: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// List a project's servers.
    Servers {
        /// The project's id or name.
        project: String,
        #[command(flatten)]
        output: Output,
    },
    /// Read or write a project's `.env` file, encrypted with its key.
    Env {
        #[command(subcommand)]
        command: EnvCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// Print the `.env` file.
    Pull {
        /// The project's id or name.
        project: String,
        /// A file holding the key (its first line); without it the key is asked for.
        #[arg(long)]
        key_file: Option<PathBuf>,
        #[command(flatten)]
        output: Output,
    },
    /// Replace the `.env` file and write it to the servers.
    Push {
        /// The project's id or name.
        project: String,
        /// The new contents (default: standard input).
        file: Option<PathBuf>,
        /// A file holding the key (its first line); without it the key is asked for.
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// The servers (names or ids, comma-separated) to write it to; default: those that
        /// hold it already, or all of the project's servers the first time.
        #[arg(long, value_delimiter = ',')]
        servers: Vec<String>,
    },
}

#[derive(Debug, Args)]
#[group(multiple = false)]
pub struct Target {
    /// Deploy this branch.
    #[arg(long)]
    branch: Option<String>,
    /// Deploy this tag.
    #[arg(long)]
    tag: Option<String>,
    /// Deploy this commit.
    #[arg(long)]
    sha: Option<String>,
}

/// How a deployment or rollback is started and watched.
#[derive(Debug, Args)]
pub struct Launch {
    /// The environment (default: production).
    #[arg(long)]
    environment: Option<String>,
    /// Show it live until it ends; the exit status tells how it ended.
    #[arg(long, conflicts_with = "json")]
    follow: bool,
    /// Print it as the API answers it.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct Output {
    /// Print the API's JSON unchanged.
    #[arg(long)]
    json: bool,
}

/// How a client command ended, as its exit status.
pub mod exit {
    /// The deployment followed ended `error`.
    pub const FAILED: u8 = 1;
    /// A usage error or an error from the API.
    pub const ERROR: u8 = 2;
    /// The deployment followed was cancelled.
    pub const CANCELLED: u8 = 3;
    /// Ctrl-C stopped following (128 + SIGINT, as shells report it); the deployment goes on.
    pub const INTERRUPTED: u8 = 130;
}

/// A secret piped in: the first line of standard input, without its line ending.
pub(crate) fn secret_from_stdin() -> std::io::Result<secrecy::SecretString> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(secrecy::SecretString::from(
        line.trim_end_matches(['\r', '\n']).to_owned(),
    ))
}

/// Runs a client command; errors are printed here, and the exit status says how it ended.
pub async fn run(command: Command) -> ExitCode {
    match commands::run(command).await {
        Ok(status) => ExitCode::from(status),
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(exit::ERROR)
        }
    }
}
