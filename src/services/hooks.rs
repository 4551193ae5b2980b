//! Deployment hooks: scripts run before or after one of the four actions.

use crate::app::App;
use crate::db::{self, hooks::Hook, hooks::HookFields};
use crate::domain::catalog::{HOOK_TIMINGS, action};
use crate::domain::ids::{HookId, ProjectId, ServerId};
use crate::domain::scopes::{Resource, Scope};
use crate::domain::time::Timestamp;
use crate::domain::validation::{FieldErrors, Params, Problem, check_max_len, is_unix_user};
use crate::error::{Error, Result};
use crate::services::access::{self, Principal};
use crate::services::records;

const MAX_SCRIPT: usize = 64 * 1024;

/// A hook and the servers it runs on.
pub struct HookView {
    pub hook: records::Hook,
    pub servers: Vec<ServerId>,
}

impl From<db::hooks::HookView> for HookView {
    fn from(row: db::hooks::HookView) -> Self {
        HookView {
            hook: row.hook.into(),
            servers: row.servers,
        }
    }
}

pub async fn list(app: &App, who: &Principal, project: ProjectId) -> Result<Vec<HookView>> {
    access::project(app, who, project).await?;
    list_for_project(app, project).await
}

/// The project's hooks in running order, with their servers (callers check access).
pub(crate) async fn list_for_project(app: &App, project: ProjectId) -> Result<Vec<HookView>> {
    Ok(records::all(
        db::hooks::list_with_servers(&mut &app.store, project).await?,
    ))
}

async fn find(app: &App, project: ProjectId, id: HookId) -> Result<HookView> {
    let hook = db::hooks::get(&mut &app.store, project, id)
        .await?
        .ok_or(Error::NotFound)?;
    let servers = db::hooks::server_links(&mut &app.store, project)
        .await?
        .into_iter()
        .filter(|(h, _)| *h == id)
        .map(|(_, s)| s)
        .collect();
    Ok(HookView {
        hook: hook.into(),
        servers,
    })
}

pub async fn get(app: &App, who: &Principal, project: ProjectId, id: HookId) -> Result<HookView> {
    access::project(app, who, project).await?;
    find(app, project, id).await
}

pub async fn create(
    app: &App,
    who: &Principal,
    project: ProjectId,
    params: &Params,
) -> Result<HookView> {
    let access = access::project_for(app, who, project, Scope::create(Resource::Hooks)).await?;
    let (fields, servers) = read_fields(params, None)?;
    let servers = match servers {
        Some(servers) => checked_servers(app, project, servers).await?,
        // Without a choice, a hook runs on every server the project has now.
        None => db::servers::list(&mut &app.store, project)
            .await?
            .into_iter()
            .map(|s| s.id)
            .collect(),
    };
    let mut tx = app.store.begin().await?;
    let id = db::hooks::insert(&mut tx, project, access.owner, &fields, Timestamp::now()).await?;
    db::hooks::set_servers(&mut tx, id, &servers).await?;
    tx.commit().await?;
    find(app, project, id).await
}

pub async fn update(
    app: &App,
    who: &Principal,
    project: ProjectId,
    id: HookId,
    params: &Params,
) -> Result<HookView> {
    access::project_for(app, who, project, Scope::create(Resource::Hooks)).await?;
    let current = db::hooks::get(&mut &app.store, project, id)
        .await?
        .ok_or(Error::NotFound)?;
    let (fields, servers) = read_fields(params, Some(&current))?;
    let servers = match servers {
        Some(servers) => Some(checked_servers(app, project, servers).await?),
        None => None,
    };
    let mut tx = app.store.begin().await?;
    db::hooks::update(&mut tx, &current, &fields, Timestamp::now()).await?;
    if let Some(servers) = &servers {
        db::hooks::set_servers(&mut tx, id, servers).await?;
    }
    tx.commit().await?;
    find(app, project, id).await
}

pub async fn delete(app: &App, who: &Principal, project: ProjectId, id: HookId) -> Result<()> {
    access::project_for(app, who, project, Scope::delete(Resource::Hooks)).await?;
    find(app, project, id).await?;
    db::hooks::delete(&mut &app.store, id).await
}

async fn checked_servers(app: &App, project: ProjectId, ids: Vec<i64>) -> Result<Vec<ServerId>> {
    let ids: Vec<ServerId> = ids.into_iter().map(ServerId).collect();
    let unknown = db::servers::missing_from_project(&mut &app.store, project, &ids).await?;
    if unknown.is_empty() {
        Ok(ids)
    } else {
        Err(Error::invalid("servers", Problem::NotTheProjectsServers))
    }
}

fn read_fields(params: &Params, current: Option<&Hook>) -> Result<(HookFields, Option<Vec<i64>>)> {
    let mut errors = FieldErrors::default();
    let creating = current.is_none();
    let spelled = |names: &[&'static str]| params.first_present(names).unwrap_or(names[0]);
    let need = |field: &str, present: bool, errors: &mut FieldErrors| {
        if creating && !present && !errors.has(field) {
            errors.add(field, Problem::Required);
        }
    };

    let name = params.string("name", &mut errors);
    need("name", name.is_some(), &mut errors);
    if let Some(name) = &name {
        check_max_len("name", name, 255, &mut errors);
    }
    let script = params
        .raw_string("script", &mut errors)
        .filter(|s| !s.trim().is_empty());
    need("script", script.is_some(), &mut errors);
    if let Some(script) = &script
        && script.len() > MAX_SCRIPT
    {
        errors.add("script", Problem::TooLarge(MAX_SCRIPT / 1024));
    }
    let run_as_field = spelled(&["runAs", "run_as"]);
    let run_as = params.string(run_as_field, &mut errors);
    need(run_as_field, run_as.is_some(), &mut errors);
    if let Some(user) = &run_as
        && !is_unix_user(user)
    {
        errors.add(run_as_field, Problem::UnixUser);
    }
    let action_field = spelled(&["actionId", "action_id"]);
    let action_id = params.integer(action_field, &mut errors);
    need(action_field, action_id.is_some(), &mut errors);
    if let Some(id) = action_id
        && action(id).is_none()
    {
        errors.add(action_field, Problem::NotOneOf);
    }
    let timing = params.string("timing", &mut errors);
    need("timing", timing.is_some(), &mut errors);
    if let Some(timing) = &timing
        && !HOOK_TIMINGS.contains(&timing.as_str())
    {
        errors.add("timing", Problem::NotOneOf);
    }
    let servers = params.integer_list("servers", &mut errors);
    errors.into_result()?;

    let fields = HookFields {
        action_id: action_id
            .or(current.map(|h| h.action_id))
            .unwrap_or_default(),
        timing: timing
            .or(current.map(|h| h.timing.clone()))
            .unwrap_or_default(),
        name: name.or(current.map(|h| h.name.clone())).unwrap_or_default(),
        run_as: run_as
            .or(current.map(|h| h.run_as.clone()))
            .unwrap_or_default(),
        script: script
            .or(current.map(|h| h.script.clone()))
            .unwrap_or_default(),
    };
    Ok((fields, servers))
}
