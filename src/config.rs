//! One Config value, built once from defaults, `SLIPWAY_*` environment variables and flags.

use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address the HTTP server listens on.
    #[arg(long, env = "SLIPWAY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Directory for the SQLite database, the master key and other state.
    #[arg(long, env = "SLIPWAY_DATA_DIR", default_value = "./slipway-data")]
    pub data_dir: PathBuf,

    /// `postgres://…` for PostgreSQL; default: an SQLite file in the data directory.
    #[arg(long, env = "SLIPWAY_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Directory under which `file://` repositories may be deployed from (none when unset):
    /// without it, a project could read any repository on this machine.
    #[arg(long, env = "SLIPWAY_LOCAL_REPOSITORIES")]
    pub local_repositories: Option<PathBuf>,

    /// SSH connections a deployment may be setting up at the same time.
    #[arg(long, env = "SLIPWAY_MAX_CONNECTING", default_value_t = 10)]
    pub max_connecting: usize,

    /// API requests allowed per token per minute; 0 switches the limit off.
    #[arg(long, env = "SLIPWAY_RATE_LIMIT_PER_MINUTE", default_value_t = 600)]
    pub rate_limit_per_minute: u32,
}

impl Config {
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("slipway.db").display()),
        }
    }
}
