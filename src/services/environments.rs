//! Deployment environments: every project has `production`; servers belong to one and each
//! deployment targets one.

use crate::app::App;
use crate::db::{
    self, environments::Environment, environments::EnvironmentFields, environments::Filter,
};
use crate::domain::environment::{guess_tier, slug};
use crate::domain::ids::{EnvironmentId, ProjectId};
use crate::domain::scopes::{Resource, Scope};
use crate::domain::time::Timestamp;
use crate::domain::validation::{FieldErrors, Params};
use crate::error::{Error, Result};
use crate::services::access::{self, Principal};

/// What a new environment named `name` starts with: GitLab's guessed tier, nothing else.
/// The environment a deployment or rollback request names (`environment`, default
/// production).
pub(crate) fn read_target(params: &Params) -> Result<String> {
    let mut errors = FieldErrors::default();
    let environment = params
        .string("environment", &mut errors)
        .unwrap_or_else(|| "production".to_owned());
    errors.into_result()?;
    check_name("environment", &environment)?;
    Ok(environment)
}

/// Creates an environment named in a form's `name` field, with the defaults a new one gets.
pub async fn create_named(
    app: &App,
    who: &Principal,
    project: ProjectId,
    params: &Params,
) -> Result<Environment> {
    let mut errors = FieldErrors::default();
    let name = params.required_string("name", &mut errors);
    errors.into_result()?;
    let name = name.unwrap_or_default();
    check_name("name", &name)?;
    create(app, who, project, &name, &new_fields(&name)).await
}

/// Refuses (422 on `field`) a name GitLab would refuse for an environment.
fn check_name(field: &str, name: &str) -> Result<()> {
    if crate::domain::environment::is_valid_name(name) {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            "The environment may contain only letters, digits, spaces and -_/${}. and may not \
                 start or end with /.",
        ))
    }
}

pub fn new_fields(name: &str) -> EnvironmentFields {
    EnvironmentFields {
        external_url: None,
        tier: guess_tier(name).to_owned(),
        description: None,
        auto_stop_setting: "always".to_owned(),
        on_stop: None,
    }
}

/// The environment named `name`, created (as GitLab CI does on a first deployment) when the
/// project does not have it yet.
pub(crate) async fn ensure(app: &App, project: ProjectId, name: &str) -> Result<Environment> {
    if let Some(environment) = db::environments::get_by_name(&mut &app.store, project, name).await?
    {
        return Ok(environment);
    }
    let fields = new_fields(name);
    // A concurrent request may create it first; either way it exists afterwards.
    db::environments::insert(
        &mut &app.store,
        project,
        name,
        &slug(name),
        &fields,
        Timestamp::now(),
    )
    .await?;
    db::environments::get_by_name(&mut &app.store, project, name)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("environment {name} vanished")))
}

/// A page of a project's environments and how many match in all.
pub async fn list(
    app: &App,
    who: &Principal,
    project: ProjectId,
    filter: &Filter,
    page: i64,
    per_page: i64,
) -> Result<(Vec<Environment>, i64)> {
    access::project(app, who, project).await?;
    // A page far past the end is simply empty.
    let Some(offset) = (page - 1).checked_mul(per_page) else {
        let (_, total) = db::environments::list(&mut &app.store, project, filter, 0, 0).await?;
        return Ok((Vec::new(), total));
    };
    db::environments::list(&mut &app.store, project, filter, per_page, offset).await
}

pub async fn get(
    app: &App,
    who: &Principal,
    project: ProjectId,
    id: EnvironmentId,
) -> Result<Environment> {
    access::project(app, who, project).await?;
    find(app, project, id).await
}

async fn find(app: &App, project: ProjectId, id: EnvironmentId) -> Result<Environment> {
    db::environments::get(&mut &app.store, project, id)
        .await?
        .ok_or(Error::NotFound)
}

/// The newest successful deployment to an environment: the record, its number within the
/// project, and who asked for it.
pub struct LastDeployment {
    pub deployment: db::deployments::Deployment,
    pub number: i64,
    pub user: Option<db::users::User>,
}

pub async fn last_deployment(
    app: &App,
    environment: &Environment,
) -> Result<Option<LastDeployment>> {
    let found = db::deployments::last_successful(
        &mut &app.store,
        environment.project_id,
        &environment.name,
    )
    .await?;
    let Some((deployment, number)) = found else {
        return Ok(None);
    };
    let user = match deployment.user_id {
        Some(id) => db::users::get(&mut &app.store, crate::domain::ids::UserId(id)).await?,
        None => None,
    };
    Ok(Some(LastDeployment {
        deployment,
        number,
        user,
    }))
}

/// Creates an environment; a taken name is an invalid `name`.
pub async fn create(
    app: &App,
    who: &Principal,
    project: ProjectId,
    name: &str,
    fields: &EnvironmentFields,
) -> Result<Environment> {
    access::project_for(app, who, project, Scope::create(Resource::Environments)).await?;
    let id = db::environments::insert(
        &mut &app.store,
        project,
        name,
        &slug(name),
        fields,
        Timestamp::now(),
    )
    .await?
    .ok_or_else(|| Error::invalid("name", "has already been taken"))?;
    find(app, project, id).await
}

/// Changes what `change` changes of an environment (never its name or slug).
pub async fn update(
    app: &App,
    who: &Principal,
    project: ProjectId,
    id: EnvironmentId,
    change: impl FnOnce(&mut EnvironmentFields),
) -> Result<Environment> {
    access::project_for(app, who, project, Scope::create(Resource::Environments)).await?;
    let current = find(app, project, id).await?;
    let mut fields = EnvironmentFields {
        external_url: current.external_url.clone(),
        tier: current.tier.clone(),
        description: current.description.clone(),
        auto_stop_setting: current.auto_stop_setting.clone(),
        on_stop: current.on_stop.clone(),
    };
    change(&mut fields);
    db::environments::update(&mut &app.store, id, &fields, Timestamp::now()).await?;
    find(app, project, id).await
}

/// Deletes a stopped environment. `unmodified_since` (microseconds) makes it conditional:
/// an environment changed after it is not deleted.
pub async fn delete(
    app: &App,
    who: &Principal,
    project: ProjectId,
    id: EnvironmentId,
    unmodified_since: Option<Timestamp>,
) -> Result<DeleteOutcome> {
    access::project_for(app, who, project, Scope::delete(Resource::Environments)).await?;
    let environment = find(app, project, id).await?;
    if environment.state != "stopped" {
        return Err(Error::Forbidden);
    }
    if let Some(since) = unmodified_since
        && environment.updated_at.unix_seconds() > since.unix_seconds()
    {
        return Ok(DeleteOutcome::Modified);
    }
    db::environments::delete(&mut &app.store, id).await?;
    Ok(DeleteOutcome::Deleted)
}

pub enum DeleteOutcome {
    Deleted,
    /// Changed after the client's `If-Unmodified-Since`: nothing was deleted.
    Modified,
}

/// Stops an environment; stopping a stopped one needs `force`.
pub async fn stop(
    app: &App,
    who: &Principal,
    project: ProjectId,
    id: EnvironmentId,
    force: bool,
) -> Result<Environment> {
    access::project_for(app, who, project, Scope::create(Resource::Environments)).await?;
    stop_one(app, who, project, id, force).await
}

/// Stops one environment of a project the caller may change: with a teardown script and
/// servers to run it on, it is stopping until the script has run.
async fn stop_one(
    app: &App,
    who: &Principal,
    project: ProjectId,
    id: EnvironmentId,
    force: bool,
) -> Result<Environment> {
    let environment = find(app, project, id).await?;
    // With a teardown script and servers to run it on, the environment is stopping until the
    // script has run (the worker stops it then).
    let has_servers = db::servers::list(&mut &app.store, project)
        .await?
        .iter()
        .any(|s| s.environment == environment.name);
    if environment.on_stop.is_some()
        && has_servers
        && db::environments::start_stopping(&mut &app.store, id, Timestamp::now()).await?
    {
        db::deployments::enqueue_stop(
            &mut &app.store,
            project,
            Some(who.user.0),
            &environment.name,
            Timestamp::now(),
        )
        .await?;
        app.engine.wake();
        return find(app, project, id).await;
    }
    if !db::environments::stop(&mut &app.store, id, force, Timestamp::now()).await? {
        return Err(Error::Failed(
            "Attempted to stop the environment but failed to change the status".into(),
        ));
    }
    find(app, project, id).await
}

/// What a review-app clean-up picked.
pub struct ReviewAppCleanup {
    pub scheduled: Vec<Environment>,
    pub unprocessable: Vec<Environment>,
}

/// Delete Multiple Stopped Review Apps: picks them, and unless `dry_run` schedules each for
/// deletion a week from now (the worker deletes them then).
pub async fn clean_up_review_apps(
    app: &App,
    who: &Principal,
    project: ProjectId,
    before: Timestamp,
    limit: i64,
    dry_run: bool,
) -> Result<ReviewAppCleanup> {
    access::project_for(app, who, project, Scope::delete(Resource::Environments)).await?;
    let picked =
        db::environments::stopped_review_apps(&mut &app.store, project, before, limit).await?;
    if !dry_run {
        let ids: Vec<EnvironmentId> = picked.iter().map(|e| e.id).collect();
        let week = Timestamp::now().minus_seconds(-7 * 86_400);
        db::environments::schedule_deletion(&mut &app.store, &ids, week).await?;
    }
    Ok(ReviewAppCleanup {
        scheduled: picked,
        unprocessable: Vec::new(),
    })
}

/// Stops the project's environments not deployed to since `before`.
pub async fn stop_stale(
    app: &App,
    who: &Principal,
    project: ProjectId,
    before: Timestamp,
) -> Result<u64> {
    access::project_for(app, who, project, Scope::create(Resource::Environments)).await?;
    let stale = db::environments::stale(&mut &app.store, project, before).await?;
    // Each goes through the usual stop, so teardown scripts run.
    for id in &stale {
        stop_one(app, who, project, *id, false).await?;
    }
    Ok(stale.len() as u64)
}

/// The background sweep: deletes environments whose scheduled deletion has come.
pub async fn delete_scheduled(app: &App) -> Result<u64> {
    db::environments::delete_scheduled(&mut &app.store, Timestamp::now()).await
}
