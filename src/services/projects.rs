//! Projects and their linked folders.

use secrecy::SecretString;

use crate::app::App;
use crate::crypto;
use crate::db::{self, projects::ProjectFields};
use crate::domain::catalog::{
    PROJECT_TYPES, Provider, local_repository_path, project_type_is_laravel,
};
use crate::domain::ids::ProjectId;
use crate::domain::scopes::{Resource, Scope};
use crate::domain::time::Timestamp;
use crate::domain::validation::{
    FieldErrors, Params, Problem, RepositoryForm, check_max_len, is_git_ref_name, is_http_url,
    is_safe_relative_path,
};
use crate::error::{Error, Result};
use crate::services::access::{self, Principal};
use crate::services::records::{self, LinkedFolder, Project, Server};

/// A project as every API shows it: the record, its servers and its deploy token.
pub struct ProjectView {
    pub project: Project,
    pub token: SecretString,
    pub servers: Vec<Server>,
    pub now: Timestamp,
}

const DEFAULT_RETAIN: i64 = 5;
const DEFAULT_STEP_TIMEOUT: i64 = 600;
const MAX_STEP_TIMEOUT: i64 = 24 * 3600;
const MAX_RETAIN: i64 = 100;
const DEFAULT_HEALTH_GATE_SECONDS: i64 = 60;
const HEALTH_GATE_SECONDS: std::ops::RangeInclusive<i64> = 5..=600;

fn view(app: &App, mut row: db::projects::Project, now: Timestamp) -> Result<ProjectView> {
    let token = app.vault.open_string(&row.token_sealed)?;
    let servers = records::all(std::mem::take(&mut row.servers.0));
    Ok(ProjectView {
        project: Project::from(row),
        token,
        servers,
        now,
    })
}

/// One page of the projects the caller may see: up to `limit`, in id order, after `after`
/// (a list of thousands is read a page at a time, never all at once).
pub async fn list_page(
    app: &App,
    who: &Principal,
    after: ProjectId,
    limit: i64,
) -> Result<Vec<ProjectView>> {
    let now = Timestamp::now();
    db::projects::list_visible(&mut &app.store, who.user, after, limit, now)
        .await?
        .into_iter()
        .map(|project| view(app, project, now))
        .collect()
}

/// Loads the view of a project the caller was already allowed to see.
pub(crate) async fn load(app: &App, id: ProjectId) -> Result<ProjectView> {
    let now = Timestamp::now();
    let project = db::projects::get(&mut &app.store, id, now)
        .await?
        .ok_or(Error::NotFound)?;
    view(app, project, now)
}

pub async fn get(app: &App, who: &Principal, id: ProjectId) -> Result<ProjectView> {
    let now = Timestamp::now();
    let project = db::projects::get_visible(&mut &app.store, id, who.user, now)
        .await?
        .ok_or(Error::NotFound)?;
    view(app, project, now)
}

pub async fn create(app: &App, who: &Principal, params: &Params) -> Result<ProjectView> {
    who.require(Scope::create(Resource::Projects))?;
    let fields = read_fields(app, params, None)?;
    super::check_outbound_url(app, "monitor", fields.monitor.as_deref()).await?;
    let token = crypto::random_token(40);
    let now = Timestamp::now();
    let deploy_key = crypto::new_ssh_key(&app.vault, "slipway-deploy-key");
    // The project and its production environment appear together.
    let mut tx = app.store.begin().await?;
    let id = db::projects::insert(
        &mut tx,
        who.user,
        &fields,
        &app.vault.seal_str(&token),
        &crypto::token_hash(&token),
        db::projects::DeployKey {
            public: &deploy_key.public_openssh,
            sealed: &deploy_key.private_sealed,
        },
        now,
    )
    .await?;
    db::environments::insert(
        &mut tx,
        id,
        "production",
        "production",
        &super::environments::new_fields("production"),
        now,
    )
    .await?;
    tx.commit().await?;
    load(app, id).await
}

pub async fn update(
    app: &App,
    who: &Principal,
    id: ProjectId,
    params: &Params,
) -> Result<ProjectView> {
    access::project_for(app, who, id, Scope::create(Resource::Projects)).await?;
    let current = load(app, id).await?;
    let fields = read_fields(app, params, Some(&current.project))?;
    let monitor_changed = fields.monitor != current.project.monitor;
    if monitor_changed {
        super::check_outbound_url(app, "monitor", fields.monitor.as_deref()).await?;
    }
    let mut tx = app.store.begin().await?;
    db::projects::update(&mut tx, id, &fields, Timestamp::now()).await?;
    // Results for another URL say nothing about this one.
    if monitor_changed {
        db::health_checks::clear(&mut tx, id).await?;
    }
    tx.commit().await?;
    load(app, id).await
}

/// Update Project Source: provider, repository, branch and push-to-deploy only.
pub async fn update_source(
    app: &App,
    who: &Principal,
    id: ProjectId,
    params: &Params,
) -> Result<ProjectView> {
    access::project_for(app, who, id, Scope::create(Resource::Projects)).await?;
    let current = load(app, id).await?;
    let mut errors = FieldErrors::default();
    let mut fields = current_fields(&current.project);
    read_source(
        app,
        params,
        Some(&current.project),
        &mut fields,
        &mut errors,
    );
    errors.into_result()?;
    db::projects::update(&mut &app.store, id, &fields, Timestamp::now()).await?;
    load(app, id).await
}

pub async fn delete(app: &App, who: &Principal, id: ProjectId) -> Result<()> {
    let access = access::project_for(app, who, id, Scope::delete(Resource::Projects)).await?;
    access.require_owner()?;
    db::projects::delete(&mut &app.store, id).await
}

fn current_fields(project: &Project) -> ProjectFields {
    ProjectFields {
        name: project.name.clone(),
        provider: project.provider.clone(),
        repository: project.repository.clone(),
        project_type: project.project_type.clone(),
        branch: project.branch.clone(),
        push_to_deploy: project.push_to_deploy,
        retain_deployments: project.retain_deployments,
        monitor: project.monitor.clone(),
        install_dependencies: project.install_dependencies,
        install_dev_dependencies: project.install_dev_dependencies,
        quiet_composer: project.quiet_composer,
        step_timeout_seconds: project.step_timeout_seconds,
        health_gate: project.health_gate,
        health_gate_seconds: project.health_gate_seconds,
        delta_releases: project.delta_releases,
    }
}

/// Reads the fields of Create Project (`current` is `None`: required fields must be there) or
/// Update Project (only what is sent changes).
fn read_fields(app: &App, params: &Params, current: Option<&Project>) -> Result<ProjectFields> {
    let mut errors = FieldErrors::default();
    let creating = current.is_none();
    let mut fields = match current {
        Some(project) => current_fields(project),
        None => ProjectFields {
            name: String::new(),
            provider: String::new(),
            repository: String::new(),
            project_type: "laravel-5".to_owned(),
            branch: "main".to_owned(),
            push_to_deploy: false,
            retain_deployments: DEFAULT_RETAIN,
            monitor: None,
            install_dependencies: true,
            install_dev_dependencies: false,
            quiet_composer: false,
            step_timeout_seconds: DEFAULT_STEP_TIMEOUT,
            health_gate: false,
            health_gate_seconds: DEFAULT_HEALTH_GATE_SECONDS,
            delta_releases: true,
        },
    };

    let name = if creating {
        params.required_string("name", &mut errors)
    } else {
        params.string("name", &mut errors)
    };
    if let Some(name) = name {
        check_max_len("name", &name, 255, &mut errors);
        fields.name = name;
    }

    if creating {
        read_source(app, params, None, &mut fields, &mut errors);
    }

    let type_given = params.string("type", &mut errors);
    if let Some(project_type) = &type_given {
        if PROJECT_TYPES.contains(&project_type.as_str()) {
            fields.project_type = project_type.clone();
        } else {
            errors.add("type", Problem::NotOneOf);
        }
    }

    if let Some(retain) = params.integer("retain_deployments", &mut errors) {
        if (1..=MAX_RETAIN).contains(&retain) {
            fields.retain_deployments = retain;
        } else {
            errors.add("retain_deployments", Problem::Between(1, MAX_RETAIN));
        }
    }

    if let Some(timeout) = params.integer("step_timeout", &mut errors) {
        if (1..=MAX_STEP_TIMEOUT).contains(&timeout) {
            fields.step_timeout_seconds = timeout;
        } else {
            errors.add("step_timeout", Problem::SecondsBetween(1, MAX_STEP_TIMEOUT));
        }
    }

    if let Some(gate) = params.boolean("health_gate", &mut errors) {
        fields.health_gate = gate;
    }
    if let Some(delta) = params.boolean("delta_releases", &mut errors) {
        fields.delta_releases = delta;
    }
    if let Some(seconds) = params.integer("health_gate_seconds", &mut errors) {
        if HEALTH_GATE_SECONDS.contains(&seconds) {
            fields.health_gate_seconds = seconds;
        } else {
            errors.add(
                "health_gate_seconds",
                Problem::Between(*HEALTH_GATE_SECONDS.start(), *HEALTH_GATE_SECONDS.end()),
            );
        }
    }

    if params.sent("monitor") {
        let monitor = params.string("monitor", &mut errors);
        match &monitor {
            Some(url) if !is_http_url(url) => errors.add("monitor", Problem::Url),
            Some(url) => check_max_len("monitor", url, 2048, &mut errors),
            None => {}
        }
        fields.monitor = monitor;
    }
    if fields.health_gate && fields.monitor.is_none() {
        // Whichever of the two this request changed.
        let field = if params.sent("health_gate") {
            "health_gate"
        } else {
            "monitor"
        };
        errors.add(field, Problem::HealthGateNeedsMonitor);
    }

    let composer = params.boolean("composer", &mut errors);
    match composer {
        Some(value) => fields.install_dependencies = value,
        // A new static site has no composer.json to install from.
        None if creating => {
            fields.install_dependencies = project_type_is_laravel(&fields.project_type)
        }
        None => {}
    }
    if let Some(value) = params.boolean("composer_dev", &mut errors) {
        fields.install_dev_dependencies = value;
    }
    if let Some(value) = params.boolean("composer_quiet", &mut errors) {
        fields.quiet_composer = value;
    }
    errors.into_result()?;
    Ok(fields)
}

/// Provider, repository, branch and push-to-deploy, as Create Project and Update Project
/// Source take them.
fn read_source(
    app: &App,
    params: &Params,
    current: Option<&Project>,
    fields: &mut ProjectFields,
    errors: &mut FieldErrors,
) {
    let creating = current.is_none();
    let provider_text = if creating {
        params.required_string("provider", errors)
    } else {
        params.string("provider", errors)
    };
    let provider = match provider_text {
        Some(text) => match Provider::parse(&text) {
            Some(provider) => Some(provider),
            None => {
                errors.add("provider", Problem::NotOneOf);
                None
            }
        },
        None => current.and_then(|p| Provider::parse(&p.provider)),
    };
    let repository = if creating {
        params.required_string("repository", errors)
    } else {
        params.string("repository", errors)
    };
    if let Some(provider) = provider {
        fields.provider = provider.as_str().to_owned();
        if let Some(repository) = &repository {
            if provider.accepts_repository(repository) {
                match local_repository_problem(app, repository) {
                    Some(problem) => errors.add("repository", problem),
                    None => fields.repository = repository.clone(),
                }
            } else {
                errors.add(
                    "repository",
                    Problem::Repository(match provider {
                        Provider::Custom => RepositoryForm::GitUrl,
                        Provider::GitlabSelf => RepositoryForm::HostGroupName,
                        _ => RepositoryForm::OwnerName,
                    }),
                );
            }
        } else if !provider.accepts_repository(&fields.repository) && !creating {
            errors.add("repository", Problem::RepositoryForProvider);
        }
    }
    if let Some(branch) = params.string("branch", errors) {
        if is_git_ref_name(&branch) {
            fields.branch = branch;
        } else {
            errors.add("branch", Problem::GitRef);
        }
    }
    if let Some(push) = params.boolean("push_to_deploy", errors) {
        fields.push_to_deploy = push;
    }
}

/// `file://` repositories are read by this machine's git, so they are allowed only under the
/// directory the operator named for them.
fn local_repository_problem(app: &App, repository: &str) -> Option<Problem> {
    if !repository.starts_with("file:") {
        return None;
    }
    let Some(allowed) = app.config.local_repositories.as_deref() else {
        return Some(Problem::LocalRepositoriesOff);
    };
    match local_repository_path(repository) {
        Some(path) if path.starts_with(allowed) => None,
        _ => Some(Problem::LocalRepositoryOutside(
            allowed.display().to_string(),
        )),
    }
}

pub async fn list_folders(app: &App, who: &Principal, id: ProjectId) -> Result<Vec<LinkedFolder>> {
    access::project(app, who, id).await?;
    Ok(records::all(db::folders::list(&mut &app.store, id).await?))
}

fn read_folder(params: &Params) -> Result<db::folders::LinkedFolder> {
    let mut errors = FieldErrors::default();
    let from = params.required_string("from", &mut errors);
    let to = params.required_string("to", &mut errors);
    for (field, value) in [("from", &from), ("to", &to)] {
        if let Some(path) = value
            && !is_safe_relative_path(path)
        {
            errors.add(field, Problem::RelativePath);
        }
    }
    errors.into_result()?;
    Ok(db::folders::LinkedFolder {
        from_path: from.unwrap_or_default(),
        to_path: to.unwrap_or_default(),
    })
}

pub async fn create_folder(
    app: &App,
    who: &Principal,
    id: ProjectId,
    params: &Params,
) -> Result<Vec<LinkedFolder>> {
    access::project_for(app, who, id, Scope::create(Resource::Projects)).await?;
    let folder = read_folder(params)?;
    if !db::folders::insert(&mut &app.store, id, &folder).await? {
        return Err(Error::invalid("from", Problem::FolderLinked));
    }
    db::projects::touch(&mut &app.store, id, Timestamp::now()).await?;
    Ok(records::all(db::folders::list(&mut &app.store, id).await?))
}

pub async fn delete_folder(
    app: &App,
    who: &Principal,
    id: ProjectId,
    params: &Params,
) -> Result<()> {
    access::project_for(app, who, id, Scope::delete(Resource::Projects)).await?;
    let folder = read_folder(params)?;
    if !db::folders::delete(&mut &app.store, id, &folder).await? {
        return Err(Error::NotFound);
    }
    db::projects::touch(&mut &app.store, id, Timestamp::now()).await
}

/// How a request names a project: by id, or the GitLab way (its id or its `owner/name`).
#[derive(Clone, Copy)]
pub enum ProjectKey<'a> {
    Id(ProjectId),
    IdOrPath(&'a str),
}

impl From<ProjectId> for ProjectKey<'_> {
    fn from(id: ProjectId) -> Self {
        ProjectKey::Id(id)
    }
}

/// The project a request names, as the caller may see it; [`Error::NoProject`] when there is
/// none, so that a dialect can tell it from what the rest of the path names.
pub async fn find(app: &App, who: &Principal, key: ProjectKey<'_>) -> Result<ProjectView> {
    let found = match key {
        ProjectKey::Id(id) => get(app, who, id).await,
        ProjectKey::IdOrPath(text) => resolve(app, who, text).await,
    };
    found.map_err(|err| match err {
        Error::NotFound => Error::NoProject,
        other => other,
    })
}

/// A project named the GitLab way: its id, or its `owner/name` path. A project the caller
/// may not see is not found.
pub async fn resolve(app: &App, who: &Principal, id_or_path: &str) -> Result<ProjectView> {
    let id = match id_or_path.parse::<i64>() {
        Ok(id) if id > 0 => ProjectId(id),
        _ => db::projects::find_visible_by_repository(&mut &app.store, who.user, id_or_path)
            .await?
            .ok_or(Error::NotFound)?,
    };
    get(app, who, id).await
}
