//! App: everything a request or job needs, built once and shared as `AppState(Arc<App>)`.

use std::sync::Arc;

use anyhow::Context;

use crate::config::Config;
use crate::crypto::{PassphraseSealer, Vault};
use crate::db::Store;
use crate::deploy::Engine;
use crate::domain::network::AddressPolicy;
use crate::net::Outbound;
use crate::notify::Notifier;
use crate::services::accounts::TokenCache;
use crate::services::heartbeats::CheckIns;
use crate::services::rate_limits::RateLimits;
use crate::services::sessions::SignInLimits;

pub struct App {
    pub config: Config,
    pub store: Store,
    pub vault: Vault,
    pub tokens: TokenCache,
    pub passphrases: PassphraseSealer,
    pub engine: Engine,
    /// Web hook and monitor requests, held to the address policy.
    pub outbound: Outbound,
    pub notifier: Notifier,
    pub check_ins: CheckIns,
    pub rate_limits: RateLimits,
    pub sign_ins: SignInLimits,
    /// The large request bodies held at once (see `http::bodies`).
    pub request_bodies: tokio::sync::Semaphore,
    pub metrics: crate::metrics::Metrics,
}

pub type AppState = Arc<App>;

impl App {
    /// Creates the data directory and master key when missing, connects to the database and
    /// brings its schema up to date.
    pub async fn start(config: Config) -> anyhow::Result<App> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating {}", config.data_dir.display()))?;
        let vault = Vault::open_or_create(&config.data_dir)?;
        let store = Store::connect(&config.database_url()).await?;
        store.migrate().await?;
        check_master_key(&store, &vault, &config.data_dir).await?;
        let engine = Engine::new(
            node_id(&config.data_dir)?,
            config.max_connecting,
            std::time::Duration::from_secs(config.lease_seconds),
        );
        let outbound = Outbound::new(
            AddressPolicy::new(config.allow_private_targets.clone()),
            std::time::Duration::from_secs(config.health_check_timeout),
        )?;
        let notifier = Notifier::new(&config)?;
        let rate_limits = RateLimits::new(config.rate_limit_per_minute);
        Ok(App {
            config,
            store,
            vault,
            tokens: crate::services::accounts::token_cache(),
            // Each derivation keeps a core busy for its whole run: one core stays free for
            // everything else.
            passphrases: PassphraseSealer::new(
                std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1)),
            ),
            engine,
            outbound,
            notifier,
            check_ins: CheckIns::default(),
            rate_limits,
            sign_ins: SignInLimits::default(),
            request_bodies: crate::memory::body_budget(),
            metrics: crate::metrics::Metrics::default(),
        })
    }
}

/// Refuses a master key other than the one the database's secrets are sealed with (a node
/// that joined without the first node's `master.key`): nothing it stores could be read by
/// the others, nor theirs by it. A sealed check value is kept for that; an installation from
/// before it is checked against a project's sealed token first.
async fn check_master_key(
    store: &Store,
    vault: &Vault,
    data_dir: &std::path::Path,
) -> anyhow::Result<()> {
    const CHECK: &str = "slipway master key";
    let mut db = store;
    let unreadable = |err: crate::error::Error| anyhow::anyhow!("checking the master key: {err}");
    let wrong_key = || {
        anyhow::anyhow!(
            "{} is not the key this database's secrets are sealed with: every node on one \
             database needs the same master.key (copy it from the first node's data directory)",
            data_dir.join("master.key").display()
        )
    };
    // Checked before anything is stored, so that a wrong key never becomes the check value.
    if let Some(sealed) = crate::db::projects::any_sealed_token(&mut db)
        .await
        .map_err(unreadable)?
        && vault.open(&sealed).is_err()
    {
        return Err(wrong_key());
    }
    let stored = crate::db::settings::get_or_insert(&mut db, "key_check", &vault.seal_str(CHECK))
        .await
        .map_err(unreadable)?;
    match vault.open(&stored) {
        Ok(plain) if plain == CHECK.as_bytes() => Ok(()),
        _ => Err(wrong_key()),
    }
}

/// This node's name for leases, kept in the data directory so that after a restart the node
/// knows which running deployments were its own.
fn node_id(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let path = data_dir.join("node-id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_owned()),
        _ => {
            let id = format!("node-{}", crate::crypto::random_token(12));
            std::fs::write(&path, &id).with_context(|| format!("writing {}", path.display()))?;
            Ok(id)
        }
    }
}
