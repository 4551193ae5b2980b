//! Heartbeats of a project.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use secrecy::SecretString;

use crate::app::App;
use crate::crypto;
use crate::db::{self, heartbeats::CheckIn, heartbeats::Heartbeat, heartbeats::Transition};
use crate::domain::catalog::HEARTBEAT_INTERVALS;
use crate::domain::ids::{HeartbeatId, ProjectId};
use crate::domain::scopes::{Resource, Scope};
use crate::domain::time::Timestamp;
use crate::domain::validation::{FieldErrors, Params, Problem, check_max_len};
use crate::error::{Error, Result};
use crate::notify::{self, Event, Message};
use crate::services::access::{self, Principal};
use crate::services::records;
use crate::services::seen_tokens::SeenTokens;

const TOKEN_LEN: usize = 15;

pub struct HeartbeatView {
    pub heartbeat: records::Heartbeat,
    pub token: SecretString,
}

fn view(app: &App, heartbeat: Heartbeat) -> Result<HeartbeatView> {
    let token = app.vault.open_string(&heartbeat.token_sealed)?;
    Ok(HeartbeatView {
        heartbeat: heartbeat.into(),
        token,
    })
}

pub async fn list(app: &App, who: &Principal, project: ProjectId) -> Result<Vec<HeartbeatView>> {
    access::project(app, who, project).await?;
    db::heartbeats::list(&mut &app.store, project)
        .await?
        .into_iter()
        .map(|h| view(app, h))
        .collect()
}

async fn find(app: &App, project: ProjectId, id: HeartbeatId) -> Result<HeartbeatView> {
    let heartbeat = db::heartbeats::get(&mut &app.store, project, id)
        .await?
        .ok_or(Error::NotFound)?;
    view(app, heartbeat)
}

pub async fn get(
    app: &App,
    who: &Principal,
    project: ProjectId,
    id: HeartbeatId,
) -> Result<HeartbeatView> {
    access::project(app, who, project).await?;
    find(app, project, id).await
}

pub async fn create(
    app: &App,
    who: &Principal,
    project: ProjectId,
    params: &Params,
) -> Result<HeartbeatView> {
    access::project_for(app, who, project, Scope::create(Resource::Heartbeats)).await?;
    let mut errors = FieldErrors::default();
    let name = params.required_string("name", &mut errors);
    if let Some(name) = &name {
        check_max_len("name", name, 255, &mut errors);
    }
    let interval = if params.contains("interval") {
        params.integer("interval", &mut errors)
    } else {
        errors.add("interval", Problem::Required);
        None
    };
    if let Some(interval) = interval
        && !HEARTBEAT_INTERVALS.contains(&interval)
    {
        errors.add("interval", Problem::NotOneOf);
    }
    errors.into_result()?;
    let (Some(name), Some(interval)) = (name, interval) else {
        return Err(Error::invalid("name", Problem::Required));
    };
    let token = crypto::random_token(TOKEN_LEN);
    let id = db::heartbeats::insert(
        &mut &app.store,
        project,
        &name,
        interval,
        &app.vault.seal_str(&token),
        &crypto::token_hash(&token),
        // Its interval is judged by the database's clock from now on.
        db::now(&mut &app.store).await?,
    )
    .await?;
    find(app, project, id).await
}

pub async fn delete(app: &App, who: &Principal, project: ProjectId, id: HeartbeatId) -> Result<()> {
    access::project_for(app, who, project, Scope::delete(Resource::Heartbeats)).await?;
    find(app, project, id).await?;
    db::heartbeats::delete(&mut &app.store, id).await?;
    app.check_ins.forget(id);
    Ok(())
}

/// Check-ins are answered from memory and written in batches ([`flush`], at least every
/// [`FLUSH_EVERY`]): a heartbeat URL can be called thousands of times a second, and one write
/// per call would make the database the bottleneck.
pub const FLUSH_EVERY: Duration = Duration::from_millis(250);

/// How long a token's heartbeat id is remembered; a heartbeat deleted through another node
/// may accept check-ins (which change nothing) for this long.
const KNOWN_FOR: Duration = Duration::from_secs(60);

/// Other nodes write their check-ins up to [`FLUSH_EVERY`] late, and clocks differ a little:
/// a heartbeat is missing only this long after its interval ran out.
const MISSING_GRACE_SECONDS: i64 = 5;

pub struct CheckIns {
    known: SeenTokens<HeartbeatId>,
    pending: Mutex<HashMap<HeartbeatId, (Timestamp, i64)>>,
    /// Held while a batch is written, so that the last flush at shutdown waits for one in
    /// progress instead of racing it.
    writing: tokio::sync::Mutex<()>,
}

impl Default for CheckIns {
    fn default() -> Self {
        CheckIns {
            known: SeenTokens::new(KNOWN_FOR, 100_000),
            pending: Mutex::default(),
            writing: tokio::sync::Mutex::default(),
        }
    }
}

impl CheckIns {
    fn forget(&self, id: HeartbeatId) {
        self.known.forget(|known| *known == id);
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }

    fn record(&self, id: HeartbeatId, at: Timestamp) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let entry = pending.entry(id).or_insert((at, 0));
        entry.0 = entry.0.max(at);
        entry.1 += 1;
    }

    fn take(&self) -> HashMap<HeartbeatId, (Timestamp, i64)> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Puts back a batch that could not be written, to be tried with the next one.
    fn restore(&self, batch: HashMap<HeartbeatId, (Timestamp, i64)>) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        for (id, (at, count)) in batch {
            let entry = pending.entry(id).or_insert((at, 0));
            entry.0 = entry.0.max(at);
            entry.1 += count;
        }
    }
}

/// A check-in by URL (`/heartbeat/{token}`): the token is the only credential.
pub async fn check_in(app: &App, token: &str) -> Result<()> {
    let hash = crypto::token_hash(token);
    let id = match app.check_ins.known.get(&hash) {
        Some(id) => id,
        None => {
            let id = db::heartbeats::id_by_token(&mut &app.store, &hash)
                .await?
                .ok_or(Error::NotFound)?;
            app.check_ins.known.put(hash, id);
            id
        }
    };
    app.metrics.checked_in();
    app.check_ins.record(id, Timestamp::now());
    Ok(())
}

/// Writes the check-ins received since the last flush, in one transaction, and notifies of
/// the heartbeats that were missing and are back.
pub async fn flush(app: &App) -> Result<()> {
    let _writing = app.check_ins.writing.lock().await;
    let batch = app.check_ins.take();
    if batch.is_empty() {
        return Ok(());
    }
    let written = async {
        let mut tx = app.store.begin().await?;
        // Check-ins are timed by this node and judged missing by the database's clock: they
        // are written in the database's time.
        let skew = db::now(&mut tx).await?.micros() - Timestamp::now().micros();
        let mut check_ins: Vec<CheckIn> = batch
            .iter()
            .map(|(id, (at, count))| CheckIn {
                id: *id,
                at: Timestamp(at.micros() + skew),
                count: *count,
            })
            .collect();
        // Rows locked in one order by every node, so that concurrent flushes cannot deadlock.
        check_ins.sort_by_key(|c| c.id);
        let recovered = db::heartbeats::record_check_ins(&mut tx, &check_ins).await?;
        let notified =
            notify_transitions(app, &mut tx, &recovered, Event::HeartbeatRecovered).await?;
        tx.commit().await?;
        Ok::<_, Error>(notified)
    }
    .await;
    match written {
        Ok(notified) => {
            if notified {
                app.notifier.wake();
            }
            Ok(())
        }
        Err(err) => {
            app.check_ins.restore(batch);
            Err(err)
        }
    }
}

/// The sweep: heartbeats whose interval passed without a check-in become missing (as of
/// `now`, so tests can move the clock), and their projects' channels hear of it.
pub async fn mark_missing(app: &App, now: Timestamp) -> Result<Vec<HeartbeatId>> {
    // A check-in that came in time but waits in memory must not count as missing.
    flush(app).await?;
    let mut tx = app.store.begin().await?;
    let missing = db::heartbeats::mark_missing(&mut tx, now, MISSING_GRACE_SECONDS).await?;
    let notified = notify_transitions(app, &mut tx, &missing, Event::HeartbeatMissing).await?;
    tx.commit().await?;
    app.metrics.heartbeats_missed(missing.len());
    if notified {
        app.notifier.wake();
    }
    Ok(missing.into_iter().map(|t| t.id).collect())
}

async fn notify_transitions(
    app: &App,
    tx: &mut db::Tx,
    transitions: &[Transition],
    event: Event,
) -> Result<bool> {
    let base = app.config.public_url();
    let mut stored = 0;
    for transition in transitions {
        let project = db::projects::name(tx, transition.project_id)
            .await?
            .unwrap_or_default();
        let message = Message {
            event,
            project_id: transition.project_id.0,
            project,
            subject: Some(transition.name.clone()),
            commit: None,
            author: None,
            status: match event {
                Event::HeartbeatMissing => "missing",
                _ => "healthy",
            }
            .to_owned(),
            detail: None,
            link: format!(
                "{base}/api/projects/{}/heartbeats/{}",
                transition.project_id, transition.id
            ),
        };
        stored += notify::enqueue(tx, &message).await?;
    }
    Ok(stored > 0)
}
