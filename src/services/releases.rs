//! Releases and rollbacks: the releases an environment keeps, and going back to one of them
//! at once, without building anything.

use crate::app::App;
use crate::db::{self, deployments::NewRollback, releases::Release, servers::Server};
use crate::deploy;
use crate::domain::deployment::DeploymentKind;
use crate::domain::ids::{DeploymentId, ProjectId, ReleaseId, ServerId};
use crate::domain::scopes::{Resource, Scope};
use crate::domain::time::Timestamp;
use crate::domain::validation::{FieldErrors, Params, Problem};
use crate::error::{Error, Result};
use crate::notify;
use crate::services::access::{self, Principal};
use crate::services::deployments::DeploymentView;
use crate::services::environments;
use crate::services::{projects, records};

/// A release as the API shows it: the record, whether it is live, and where it is.
pub struct ReleaseView {
    pub release: records::Release,
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
    let environment = environments::read_target(params)?;
    let servers: Vec<Server> = environment_servers(app, project, &environment)
        .await?
        .into_iter()
        .filter(|s| s.receives_code_deployments)
        .collect();
    let history = deploy::history(app, project, &environment).await?;
    Ok(history
        .releases
        .iter()
        .map(|release| ReleaseView {
            release: release.clone().into(),
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
    let chosen = choose(app, project, params).await?;
    let id = take_the_slot(app, who, project, &chosen).await?;
    let deployment = db::deployments::get_by_id(&mut &app.store, id)
        .await?
        .ok_or(Error::NotFound)?;
    Ok(DeploymentView {
        processes: records::all(db::deployments::processes(&mut &app.store, id).await?),
        project: projects::load(app, project).await?,
        deployment: deployment.into(),
    })
}

/// A rollback's target and where it goes.
struct Chosen {
    environment: String,
    /// Every server of the environment, in id order.
    servers: Vec<Server>,
    target: Release,
}

/// Picks the target a rollback request names (or the release live before the current one)
/// and checks that every server of its environment holds it complete.
async fn choose(app: &App, project: ProjectId, params: &Params) -> Result<Chosen> {
    let mut errors = FieldErrors::default();
    let release = params.integer("release", &mut errors);
    let deployment = params.integer("deployment", &mut errors);
    errors.into_result()?;
    let field = if deployment.is_some() {
        "deployment"
    } else {
        "release"
    };
    let named = match (release, deployment) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid("release", Problem::ReleaseAndDeployment));
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
        _ => environments::read_target(params)?,
    };
    if let Some(target) = named.as_ref().filter(|t| t.environment != environment) {
        return Err(Error::invalid(
            field,
            Problem::ReleaseElsewhere(
                target.name.clone(),
                target.environment.clone(),
                environment.clone(),
            ),
        ));
    }
    let servers = environment_servers(app, project, &environment).await?;
    let code: Vec<Server> = servers
        .iter()
        .filter(|s| s.receives_code_deployments)
        .cloned()
        .collect();
    if code.is_empty() {
        return Err(Error::invalid(
            "environment",
            Problem::NoCodeServersIn(environment),
        ));
    }
    let history = deploy::history(app, project, &environment).await?;
    let target = match named {
        Some(named) => named,
        None => history
            .previous()
            .cloned()
            .ok_or_else(|| Error::invalid("release", Problem::NoEarlierRelease))?,
    };
    let ids: Vec<ServerId> = code.iter().map(|s| s.id).collect();
    if let Some(refusal) = history.refusal(&target, &ids) {
        return Err(Error::invalid(
            field,
            Problem::Unusable(target.name.clone(), refusal.describe(&code)),
        ));
    }
    Ok(Chosen {
        environment,
        servers,
        target,
    })
}

/// Records the rollback with its processes, in the transaction that cancels the environment's
/// waiting deployment and asks its running one to stop; answers the rollback's id.
async fn take_the_slot(
    app: &App,
    who: &Principal,
    project: ProjectId,
    chosen: &Chosen,
) -> Result<DeploymentId> {
    let Chosen {
        environment,
        servers,
        target,
    } = chosen;
    // The commit's author, from the deployment that built the release.
    let built_by = match target.deployment_id {
        Some(id) => db::deployments::get_by_id(&mut &app.store, DeploymentId(id)).await?,
        None => None,
    };
    let hooks = db::hooks::list_with_servers(&mut &app.store, project).await?;
    let steps = deploy::plan::plan_rollback(servers, &hooks);

    let now = Timestamp::now();
    let mut tx = app.store.begin().await?;
    let mut stored = 0;
    for cancelled in db::deployments::cancel_waiting(&mut tx, project, environment, now).await? {
        stored += notify::deployment_ended(&mut tx, &app.config.public_url(), cancelled).await?;
    }
    let running = db::deployments::running(&mut tx, project)
        .await?
        // An environment's teardown is not interrupted; a rollback waits for it, as it waits
        // for a deployment of another environment (one runs per project at a time).
        .filter(|d| d.environment == *environment && d.kind != DeploymentKind::Stop);
    if let Some(running) = &running {
        db::deployments::request_cancel(&mut tx, running.id, now).await?;
    }
    let id = db::deployments::insert_rollback(
        &mut tx,
        project,
        &NewRollback {
            user_id: Some(who.user.0),
            environment,
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
    deploy::record_plan(&mut tx, &deployment, servers, &steps).await?;
    tx.commit().await?;
    if stored > 0 {
        app.notifier.wake();
    }
    if let Some(running) = running {
        app.engine.cancel(running.id);
    }
    app.engine.wake();
    Ok(id)
}

async fn named_release(app: &App, project: ProjectId, id: ReleaseId) -> Result<Release> {
    db::releases::get(&mut &app.store, project, id)
        .await?
        .ok_or_else(|| Error::invalid("release", Problem::NotOneOf))
}

/// The release a deployment built (or, for a rollback, went back to).
async fn release_of_deployment(app: &App, project: ProjectId, id: DeploymentId) -> Result<Release> {
    let deployment = db::deployments::get(&mut &app.store, project, id)
        .await?
        .ok_or_else(|| Error::invalid("deployment", Problem::NotOneOf))?;
    let release = match deployment.release() {
        Some(release) => db::releases::get(&mut &app.store, project, release).await?,
        None => None,
    };
    release.ok_or_else(|| Error::invalid("deployment", Problem::BuiltNoRelease))
}

/// The environment's servers, in id order.
async fn environment_servers(
    app: &App,
    project: ProjectId,
    environment: &str,
) -> Result<Vec<Server>> {
    Ok(db::servers::list(&mut &app.store, project)
        .await?
        .into_iter()
        .filter(|s| s.environment == environment)
        .collect())
}
