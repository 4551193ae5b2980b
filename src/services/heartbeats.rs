//! Heartbeats of a project.

use secrecy::SecretString;

use crate::app::App;
use crate::crypto;
use crate::db::{self, heartbeats::Heartbeat};
use crate::domain::catalog::HEARTBEAT_INTERVALS;
use crate::domain::ids::{HeartbeatId, ProjectId};
use crate::domain::scopes::{Resource, Scope};
use crate::domain::time::Timestamp;
use crate::domain::validation::{FieldErrors, Params, check_max_len, invalid_choice_message};
use crate::error::{Error, Result};
use crate::services::access::{self, Principal};

const TOKEN_LEN: usize = 15;

pub struct HeartbeatView {
    pub heartbeat: Heartbeat,
    pub token: SecretString,
}

fn view(app: &App, heartbeat: Heartbeat) -> Result<HeartbeatView> {
    let token = app.vault.open_string(&heartbeat.token_sealed)?;
    Ok(HeartbeatView { heartbeat, token })
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
        errors.add("interval", "The interval field is required.");
        None
    };
    if let Some(interval) = interval
        && !HEARTBEAT_INTERVALS.contains(&interval)
    {
        errors.add("interval", invalid_choice_message("interval"));
    }
    errors.into_result()?;
    let (Some(name), Some(interval)) = (name, interval) else {
        return Err(Error::invalid("name", "The name field is required."));
    };
    let token = crypto::random_token(TOKEN_LEN);
    let id = db::heartbeats::insert(
        &mut &app.store,
        project,
        &name,
        interval,
        &app.vault.seal_str(&token),
        &crypto::token_hash(&token),
        Timestamp::now(),
    )
    .await?;
    find(app, project, id).await
}

pub async fn delete(app: &App, who: &Principal, project: ProjectId, id: HeartbeatId) -> Result<()> {
    access::project_for(app, who, project, Scope::delete(Resource::Heartbeats)).await?;
    find(app, project, id).await?;
    db::heartbeats::delete(&mut &app.store, id).await
}

/// A check-in by URL (`/heartbeat/{token}`): the token is the only credential.
pub async fn check_in(app: &App, token: &str) -> Result<()> {
    if db::heartbeats::check_in(
        &mut &app.store,
        &crypto::token_hash(token),
        Timestamp::now(),
    )
    .await?
    {
        Ok(())
    } else {
        Err(Error::NotFound)
    }
}

/// The sweep: heartbeats whose interval passed without a check-in become missing (as of
/// `now`, so tests can move the clock).
pub async fn mark_missing(app: &App, now: Timestamp) -> Result<Vec<HeartbeatId>> {
    db::heartbeats::mark_missing(&mut &app.store, now).await
}
