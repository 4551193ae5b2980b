//! Releases and rollbacks: the releases an environment keeps, and going back to one of them
//! at once, without building anything.

use crate::app::App;
use crate::db::{self, deployments::NewRollback, releases::Release, servers::Server};
use crate::deploy;
use crate::domain::ids::{DeploymentId, ProjectId, ReleaseId, ServerId};
use crate::domain::scopes::{Resource, Scope};
use crate::domain::time::Timestamp;
use crate::domain::validation::{FieldErrors, Params};
use crate::error::{Error, Result};
use crate::notify;
use crate::services::access::{self, Principal};
use crate::services::deployments::DeploymentView;
use crate::services::projects;

/// A release as the API shows it: the record, whether it is live, and where it is.
pub struct ReleaseView {
    pub release: Release,
    pub live: bool,
    pub servers: Vec<Placement>,
}

/// A release on one server of its environment.
pub struct Placement {
    pub server_id: ServerId,
    pub server_name: String,
    pub present: bool,
    pub live: bool,
}

/// The releases of an environment (`environment`, default production), newest first.
pub async fn list(
    app: &App,
    who: &Principal,
    project: ProjectId,
    params: &Params,
) -> Result<Vec<ReleaseView>> {
    access::project(app, who, project).await?;
    let environment = read_environment(params)?;
    let servers = code_servers(app, project, &environment).await?;
    let history = deploy::history(app, project, &environment).await?;
    Ok(history
        .releases
        .iter()
        .map(|release| ReleaseView {
            release: release.clone(),
            live: history.is_live(release.id),
            servers: servers
                .iter()
                .map(|server| {
                    let placed = history
                        .placements
                        .iter()
                        .find(|p| p.release_id == release.id && p.server_id == server.id);
                    Placement {
                        server_id: server.id,
                        server_name: server.name.clone(),
                        present: placed.is_some_and(|p| p.present),
                        live: placed.is_some_and(|p| p.live),
                    }
                })
                .collect(),
        })
        .collect())
}

/// Rolls an environment back: `{}` to the release live before the current one, or to a named
/// `release` or `deployment`. Never waits: the environment's waiting deployment is cancelled
/// and a running one stopped. The target must be complete on every server, else a 422 naming
/// the servers that lack it.
pub async fn rollback(
    app: &App,
    who: &Principal,
    project: ProjectId,
    params: &Params,
) -> Result<DeploymentView> {
    access::project_for(app, who, project, Scope::create(Resource::Deployments)).await?;
    let mut errors = FieldErrors::default();
    let release = params.integer("release", &mut errors);
    let deployment = params.integer("deployment", &mut errors);
    errors.into_result()?;
    let named = match (release, deployment) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid(
                "release",
                "Name the release or the deployment to roll back to, not both.",
            ));
        }
        (Some(release), None) => Some(named_release(app, project, ReleaseId(release)).await?),
        (None, Some(deployment)) => {
            Some(release_of_deployment(app, project, DeploymentId(deployment)).await?)
        }
        (None, None) => None,
    };
    // A named release picks its environment; one asked for must match it.
    let environment = match (&named, params.sent("environment")) {
        (Some(target), false) => target.environment.clone(),
        _ => read_environment(params)?,
    };
    if let Some(target) = named.as_ref().filter(|t| t.environment != environment) {
        return Err(Error::invalid(
            if release.is_some() {
                "release"
            } else {
                "deployment"
            },
            format!(
                "Release {} belongs to the {} environment, not {environment}.",
                target.name, target.environment
            ),
        ));
    }
    let servers = code_servers(app, project, &environment).await?;
    if servers.is_empty() {
        return Err(Error::invalid(
            "environment",
            format!("The {environment} environment has no servers that receive code."),
        ));
    }
    let history = deploy::history(app, project, &environment).await?;
    let target = match &named {
        Some(named) => history
            .releases
            .iter()
            .find(|r| r.id == named.id)
            .ok_or(Error::NotFound)?,
        None => history.previous().ok_or_else(|| {
            Error::invalid(
                "release",
                "There is no earlier release to roll back to: none was live before the \
                 current one, or it is gone.",
            )
        })?,
    };
    let ids: Vec<ServerId> = servers.iter().map(|s| s.id).collect();
    if let Some(refusal) = history.refusal(target, &ids) {
        return Err(Error::invalid(
            "release",
            format!(
                "Release {} cannot be rolled back to: {}.",
                target.name,
                refusal.describe(&servers)
            ),
        ));
    }
    // The commit's author, from the deployment that built the release.
    let built_by = match target.deployment_id {
        Some(id) => db::deployments::get_by_id(&mut &app.store, DeploymentId(id)).await?,
        None => None,
    };
    let hooks = db::hooks::list_with_servers(&mut &app.store, project).await?;
    let environment_servers: Vec<Server> = db::servers::list(&mut &app.store, project)
        .await?
        .into_iter()
        .filter(|s| s.environment == environment)
        .collect();
    let steps = deploy::plan::plan_rollback(&environment_servers, &hooks);

    let now = Timestamp::now();
    let mut tx = app.store.begin().await?;
    let mut stored = 0;
    for cancelled in db::deployments::cancel_waiting(&mut tx, project, &environment, now).await? {
        stored +=
            notify::deployment_ended(&mut tx, &app.config.public_url(), cancelled, now).await?;
    }
    let running = db::deployments::running(&mut tx, project)
        .await?
        .filter(|d| d.environment == environment);
    if let Some(running) = &running {
        db::deployments::request_cancel(&mut tx, running.id, now).await?;
    }
    let id = db::deployments::insert_rollback(
        &mut tx,
        project,
        &NewRollback {
            user_id: Some(who.user.0),
            environment: &environment,
            release: target.id,
            release_name: &target.name,
            commit_branch: target.commit_branch.as_deref(),
            commit_hash: target.commit_hash.as_deref(),
            commit_message: target.commit_message.as_deref(),
            commit_author: built_by.as_ref().and_then(|d| d.commit_author.as_deref()),
            commit_avatar: built_by.as_ref().and_then(|d| d.commit_avatar.as_deref()),
        },
        now,
    )
    .await?;
    let deployment = db::deployments::get_by_id(&mut tx, id)
        .await?
        .ok_or(Error::NotFound)?;
    // Recorded with the rollback, so that the worker finds them whenever it takes it.
    deploy::record_plan(&mut tx, &deployment, &environment_servers, &steps).await?;
    tx.commit().await?;
    if stored > 0 {
        app.notifier.wake();
    }
    if let Some(running) = running {
        app.engine.cancel(running.id);
    }
    app.engine.wake();
    Ok(DeploymentView {
        processes: db::deployments::processes(&mut &app.store, id).await?,
        project: projects::load(app, project).await?,
        deployment,
    })
}

async fn named_release(app: &App, project: ProjectId, id: ReleaseId) -> Result<Release> {
    db::releases::get(&mut &app.store, project, id)
        .await?
        .ok_or_else(|| Error::invalid("release", "The selected release is invalid."))
}

/// The release a deployment built (or, for a rollback, went back to).
async fn release_of_deployment(app: &App, project: ProjectId, id: DeploymentId) -> Result<Release> {
    let deployment = db::deployments::get(&mut &app.store, project, id)
        .await?
        .ok_or_else(|| Error::invalid("deployment", "The selected deployment is invalid."))?;
    let release = match deployment.release() {
        Some(release) => db::releases::get(&mut &app.store, project, release).await?,
        None => None,
    };
    release.ok_or_else(|| Error::invalid("deployment", "The selected deployment built no release."))
}

fn read_environment(params: &Params) -> Result<String> {
    let mut errors = FieldErrors::default();
    let environment = params
        .string("environment", &mut errors)
        .unwrap_or_else(|| "production".to_owned());
    errors.into_result()?;
    if !crate::domain::environment::is_valid_name(&environment) {
        return Err(Error::invalid(
            "environment",
            "The environment may contain only letters, digits, spaces and -_/${}. and may not \
             start or end with /.",
        ));
    }
    Ok(environment)
}

/// The environment's servers that receive code, in id order.
async fn code_servers(app: &App, project: ProjectId, environment: &str) -> Result<Vec<Server>> {
    Ok(db::servers::list(&mut &app.store, project)
        .await?
        .into_iter()
        .filter(|s| s.environment == environment && s.receives_code_deployments)
        .collect())
}
