//! One Config value, built once from defaults, `SLIPWAY_*` environment variables and flags.

use std::net::SocketAddr;
use std::path::PathBuf;

use secrecy::SecretString;

use crate::domain::network::Cidr;

#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address the HTTP server listens on.
    #[arg(long, env = "SLIPWAY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Address `GET /metrics` (Prometheus) is served on; off when unset. Keep it off the
    /// public port.
    #[arg(long, env = "SLIPWAY_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

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

    /// Deployments (of different projects) this node runs at once; more wait for a free
    /// slot here or on another node.
    #[arg(long, env = "SLIPWAY_MAX_DEPLOYMENTS", default_value_t = 16,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub max_deployments: u16,

    /// Seconds a node holds a running deployment without renewing it (every third of it).
    /// When a node dies, another takes its deployments over once their lease runs out.
    #[arg(long, env = "SLIPWAY_LEASE_SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(3..=3600))]
    pub lease_seconds: u64,

    /// Only for testing nodes whose clocks disagree: shifts this node's clock.
    #[arg(
        long,
        env = "SLIPWAY_CLOCK_OFFSET_SECONDS",
        default_value_t = 0,
        hide = true,
        allow_negative_numbers = true,
        value_parser = clap::value_parser!(i64).range(-86_400 * 366..=86_400 * 366)
    )]
    pub clock_offset_seconds: i64,

    /// API requests allowed per token per minute; 0 switches the limit off.
    #[arg(long, env = "SLIPWAY_RATE_LIMIT_PER_MINUTE", default_value_t = 600)]
    pub rate_limit_per_minute: u32,

    /// This node's region label for health checks: `new_york`, `london` and `singapore` fill
    /// the documented per-region statuses.
    #[arg(long, env = "SLIPWAY_REGION", default_value = "local", value_parser = parse_region)]
    pub region: String,

    /// Seconds between two health checks of a project's monitor URL.
    #[arg(long, env = "SLIPWAY_HEALTH_CHECK_INTERVAL", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub health_check_interval: u64,

    /// Seconds a monitor URL has to answer with a 2xx status to count as healthy.
    #[arg(long, env = "SLIPWAY_HEALTH_CHECK_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub health_check_timeout: u64,

    /// Networks that web hook and monitor URLs may reach although they are loopback or private
    /// (comma-separated, such as `127.0.0.0/8,10.1.0.0/16`); by default only public addresses.
    #[arg(long, env = "SLIPWAY_ALLOW_PRIVATE_TARGETS", value_delimiter = ',')]
    pub allow_private_targets: Vec<Cidr>,

    /// The URL this server is reached at, for links in notifications (default: from --listen).
    #[arg(long, env = "SLIPWAY_PUBLIC_URL")]
    pub public_url: Option<url::Url>,

    /// SMTP server for e-mail notifications (none: e-mail channels fail with a clear error).
    #[arg(long, env = "SLIPWAY_SMTP_HOST")]
    pub smtp_host: Option<String>,

    /// SMTP port (default: 25 without TLS, 587 with STARTTLS, 465 with TLS).
    #[arg(long, env = "SLIPWAY_SMTP_PORT")]
    pub smtp_port: Option<u16>,

    /// How the SMTP connection is secured.
    #[arg(long, env = "SLIPWAY_SMTP_TLS", value_enum, default_value = "starttls")]
    pub smtp_tls: SmtpTls,

    #[arg(long, env = "SLIPWAY_SMTP_USERNAME")]
    pub smtp_username: Option<String>,

    #[arg(long, env = "SLIPWAY_SMTP_PASSWORD", hide_env_values = true,
          value_parser = parse_secret)]
    pub smtp_password: Option<SecretString>,

    /// The sender of notification e-mails.
    #[arg(
        long,
        env = "SLIPWAY_MAIL_FROM",
        default_value = "Slipway <slipway@localhost>"
    )]
    pub mail_from: String,

    /// Milliseconds before the first retry of a failed notification; each later retry waits
    /// twice as long (at most an hour), for up to 24 hours.
    #[arg(long, env = "SLIPWAY_NOTIFICATION_RETRY_MS", default_value_t = 30_000)]
    pub notification_retry_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SmtpTls {
    /// Plain text (only for a relay on this machine or a trusted network).
    None,
    /// Upgrade with STARTTLS, which the server must offer.
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
}

fn parse_region(text: &str) -> Result<String, String> {
    let valid = !text.is_empty()
        && text.len() <= 32
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if valid {
        Ok(text.to_owned())
    } else {
        Err("a region is 1 to 32 of a-z, 0-9, '_' and '-'".into())
    }
}

fn parse_secret(text: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(text.to_owned()))
}

/// For building a Config from flags alone, as `slipway serve` would.
#[derive(clap::Parser)]
struct Flags {
    #[command(flatten)]
    config: Config,
}

impl Config {
    /// A Config from `serve`'s flags (after defaults and `SLIPWAY_*` variables).
    pub fn from_flags<I, T>(flags: I) -> Result<Config, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::Parser;
        let args = std::iter::once(std::ffi::OsString::from("slipway"))
            .chain(flags.into_iter().map(Into::into));
        Flags::try_parse_from(args).map(|flags| flags.config)
    }

    /// Where links in notifications point.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.as_str().trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("slipway.db").display()),
        }
    }
}
