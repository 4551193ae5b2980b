//! Notifications: messages go into the outbox first (in the caller's transaction when it has
//! one), then this module's worker delivers them by e-mail or chat web hook, retrying with
//! backoff for 24 hours.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use crate::app::App;
use crate::db::{self, Db, outbox::Due};
use crate::domain::deployment::{DeploymentKind, DeploymentStatus};
use crate::domain::ids::DeploymentId;
use crate::domain::time::Timestamp;
use crate::error::Result;

pub mod chat;
pub mod mail;
pub mod message;

pub use message::{Event, Message};

/// How long messages are retried after they were stored.
const RETRY_FOR_SECONDS: i64 = 24 * 3600;
/// The longest wait between two attempts.
const MAX_RETRY_DELAY_MS: u64 = 3600 * 1000;
/// One attempt at most; the lease outlasts it, so no other node takes the message meanwhile.
const SEND_TIMEOUT: Duration = Duration::from_secs(60);
const LEASE: Duration = Duration::from_secs(120);
const CONCURRENT_DELIVERIES: usize = 8;
/// Other nodes may store messages too; this node looks at least this often.
const POLL: Duration = Duration::from_secs(2);
/// Never busy-waits, whatever the clock says.
const MIN_WAIT: Duration = Duration::from_millis(10);
/// Delivered and abandoned messages are kept this long for operators, then purged.
const KEEP: Duration = Duration::from_secs(7 * 86_400);

pub struct Notifier {
    mailer: Option<mail::Mailer>,
    wake: tokio::sync::Notify,
    retry_base_ms: u64,
}

impl Notifier {
    pub fn new(config: &crate::config::Config) -> anyhow::Result<Notifier> {
        Ok(Notifier {
            mailer: mail::Mailer::from_config(config)?,
            wake: tokio::sync::Notify::new(),
            retry_base_ms: config.notification_retry_ms.max(1),
        })
    }

    /// Tells the worker that messages were stored (call after the transaction commits).
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// Stores `message` for every active channel of its project.
pub async fn enqueue(db: &mut impl Db, message: &Message) -> Result<u64> {
    let json = serde_json::to_string(message).map_err(anyhow::Error::from)?;
    db::outbox::enqueue(
        db,
        crate::domain::ids::ProjectId(message.project_id),
        message.event.as_str(),
        &json,
    )
    .await
}

/// Stores, in the transaction that ends a deployment, the message about its end for the
/// project's channels; answers how many were stored. Stops of environments are not announced.
pub async fn deployment_ended(db: &mut impl Db, public_url: &str, id: DeploymentId) -> Result<u64> {
    let Some(deployment) = db::deployments::get_by_id(db, id).await? else {
        return Ok(0);
    };
    let rollback = deployment.kind == DeploymentKind::Rollback;
    let event = match (deployment.kind, deployment.status) {
        (DeploymentKind::Stop, _) => return Ok(0),
        (_, DeploymentStatus::Cancelled) => Event::DeploymentCancelled,
        (DeploymentKind::Rollback, DeploymentStatus::Finished) => Event::RolledBack,
        (DeploymentKind::Rollback, _) => Event::RollbackFailed,
        (_, DeploymentStatus::Finished) => Event::DeploymentFinished,
        _ if deployment.rolled_back => Event::DeploymentRolledBack,
        _ => Event::DeploymentFailed,
    };
    let commit = deployment.commit_hash.as_deref().map(|hash| {
        let short = hash.get(..7).unwrap_or(hash);
        match &deployment.commit_branch {
            Some(branch) => format!("{short} ({branch})"),
            None => short.to_owned(),
        }
    });
    let subject = match (&deployment.release_name, &commit) {
        (Some(release), Some(commit)) if rollback => Some(format!("{commit}, release {release}")),
        (Some(release), None) if rollback => Some(format!("release {release}")),
        _ => None,
    };
    let message = Message {
        event,
        project_id: deployment.project_id.0,
        project: db::projects::name(db, deployment.project_id)
            .await?
            .unwrap_or_default(),
        subject,
        commit,
        author: deployment.commit_author.clone(),
        status: deployment.status.as_str().to_owned(),
        detail: deployment.error.clone(),
        link: format!(
            "{public_url}/api/projects/{}/deployments/{id}",
            deployment.project_id
        ),
    };
    enqueue(db, &message).await
}

/// Delivers due messages until the process ends.
pub async fn run(app: Arc<App>) {
    if let Err(err) = db::outbox::release_leases(&mut &app.store, &app.engine.node).await {
        tracing::error!(error = %err, "releasing notification leases failed");
    }
    let mut sending: JoinSet<()> = JoinSet::new();
    loop {
        while sending.len() < CONCURRENT_DELIVERIES {
            match db::outbox::claim_next(&mut &app.store, &app.engine.node, LEASE).await {
                Ok(Some(due)) => {
                    sending.spawn(deliver(app.clone(), due));
                }
                Ok(None) => break,
                Err(err) => {
                    tracing::error!(error = %err, "reading the outbox failed");
                    break;
                }
            }
        }
        let idle = if sending.is_empty() {
            until_next_due(&app).await
        } else {
            POLL
        };
        tokio::select! {
            _ = app.notifier.wake.notified() => {}
            Some(_) = sending.join_next(), if !sending.is_empty() => {}
            _ = tokio::time::sleep(idle) => {}
        }
    }
}

async fn until_next_due(app: &App) -> Duration {
    match db::outbox::next_due(&mut &app.store).await {
        Ok(Some(wait)) => wait.clamp(MIN_WAIT, POLL),
        _ => POLL,
    }
}

/// Forgets delivered and abandoned messages once they are [`KEEP`] old.
pub async fn purge(app: &App) -> Result<u64> {
    db::outbox::purge(&mut &app.store, KEEP).await
}

async fn deliver(app: Arc<App>, due: Due) {
    let now = Timestamp::now();
    if !due.active {
        if let Err(err) = db::outbox::skipped(&mut &app.store, &due, now).await {
            tracing::error!(error = %err, "recording a skipped notification failed");
        }
        return;
    }
    let outcome = tokio::time::timeout(SEND_TIMEOUT, send(&app, &due))
        .await
        .unwrap_or_else(|_| Err("sending took too long".to_owned()));
    // The message's outcome and the channel's last error change together: nobody reads one
    // without the other.
    let recorded = async {
        let mut tx = app.store.begin().await?;
        // Retries are scheduled by the clock the outbox is claimed by: the database's.
        let now = db::now(&mut tx).await?;
        match outcome {
            Ok(()) => db::outbox::delivered(&mut tx, &due, &app.engine.node, now).await?,
            Err(error) => {
                app.metrics.delivery_failed(&due.notification_type);
                let retry_at = retry_at(
                    due.created_at,
                    due.attempts + 1,
                    app.notifier.retry_base_ms,
                    now,
                );
                tracing::warn!(
                    notification = %due.notification_id,
                    attempts = due.attempts + 1,
                    retrying = retry_at.is_some(),
                    %error,
                    "a notification could not be delivered"
                );
                db::outbox::failed(&mut tx, &due, &app.engine.node, &error, retry_at, now).await?
            }
        }
        tx.commit().await
    }
    .await;
    if let Err(err) = recorded {
        tracing::error!(error = %err, "recording a notification delivery failed");
    }
}

async fn send(app: &App, due: &Due) -> std::result::Result<(), String> {
    let message: Message = serde_json::from_str(&due.message)
        .map_err(|_| "the stored message could not be read".to_owned())?;
    let address = app
        .vault
        .open_string(&due.address_sealed)
        .map_err(|_| "the channel's address could not be unsealed".to_owned())?;
    let address = secrecy::ExposeSecret::expose_secret(&address);
    let payload = match due.notification_type.as_str() {
        "email" => {
            return match &app.notifier.mailer {
                Some(mailer) => mailer.send(address, &message).await,
                None => Err("e-mail is not set up: start Slipway with --smtp-host".to_owned()),
            };
        }
        "slack" => chat::slack(&message),
        "discord" => chat::discord(&message),
        "teams" => chat::teams(&message),
        other => return Err(format!("unknown channel type {other}")),
    };
    app.outbound.post_json(address, &payload).await
}

/// When attempt `attempts + 1` happens: the base delay doubling per attempt, at most an hour,
/// and never once 24 hours have passed since the message was stored.
fn retry_at(created: Timestamp, attempts: i64, base_ms: u64, now: Timestamp) -> Option<Timestamp> {
    let doublings = (attempts.max(1) - 1).min(30) as u32;
    let delay_ms = base_ms
        .saturating_mul(1u64 << doublings)
        .min(MAX_RETRY_DELAY_MS);
    let at = Timestamp(now.micros() + delay_ms as i64 * 1000);
    let deadline = created.minus_seconds(-RETRY_FOR_SECONDS);
    (at <= deadline).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_and_stop_after_a_day() {
        let created = Timestamp(0);
        let second = 1_000_000;
        assert_eq!(
            retry_at(created, 1, 30_000, created),
            Some(Timestamp(30 * second))
        );
        assert_eq!(
            retry_at(created, 3, 30_000, created),
            Some(Timestamp(120 * second))
        );
        // Capped at an hour.
        assert_eq!(
            retry_at(created, 20, 30_000, created),
            Some(Timestamp(3600 * second))
        );
        let late = Timestamp(23 * 3600 * second + 59 * 60 * second);
        assert_eq!(retry_at(created, 20, 30_000, late), None);
    }
}
