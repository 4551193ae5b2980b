//! Servers of a project: where releases are shipped to.

use crate::app::App;
use crate::crypto;
use crate::db::{self, servers::Server, servers::ServerFields};
use crate::deploy::scripts;
use crate::domain::catalog::PHP_VERSIONS;
use crate::domain::ids::{ProjectId, ServerId};
use crate::domain::scopes::{Resource, Scope};
use crate::domain::time::Timestamp;
use crate::domain::validation::{
    FieldErrors, Params, Problem, check_max_len, is_host, is_safe_absolute_path, is_unix_user,
};
use crate::error::{Error, Result};
use crate::services::access::{self, Principal};
use crate::services::{environments, records};

pub async fn list(app: &App, who: &Principal, project: ProjectId) -> Result<Vec<records::Server>> {
    access::project(app, who, project).await?;
    Ok(records::all(
        db::servers::list(&mut &app.store, project).await?,
    ))
}

pub async fn get(
    app: &App,
    who: &Principal,
    project: ProjectId,
    id: ServerId,
) -> Result<records::Server> {
    access::project(app, who, project).await?;
    record(app, project, id).await
}

/// The server as the services show it.
async fn record(app: &App, project: ProjectId, id: ServerId) -> Result<records::Server> {
    find(app, project, id).await.map(records::Server::from)
}

async fn find(app: &App, project: ProjectId, id: ServerId) -> Result<Server> {
    db::servers::get(&mut &app.store, project, id)
        .await?
        .ok_or(Error::NotFound)
}

pub async fn create(
    app: &App,
    who: &Principal,
    project: ProjectId,
    params: &Params,
) -> Result<records::Server> {
    let access = access::project_for(app, who, project, Scope::create(Resource::Servers)).await?;
    let fields = read_fields(params, None)?;
    environments::ensure(app, project, &fields.environment).await?;
    let key = crypto::new_ssh_key(&app.vault, &format!("slipway-project-{project}"));
    let id = db::servers::insert(
        &mut &app.store,
        project,
        access.owner,
        &fields,
        &key.public_openssh,
        &key.private_sealed,
        Timestamp::now(),
    )
    .await?;
    record(app, project, id).await
}

pub async fn update(
    app: &App,
    who: &Principal,
    project: ProjectId,
    id: ServerId,
    params: &Params,
) -> Result<records::Server> {
    access::project_for(app, who, project, Scope::create(Resource::Servers)).await?;
    let current = find(app, project, id).await?;
    let fields = read_fields(params, Some(&current))?;
    environments::ensure(app, project, &fields.environment).await?;
    db::servers::update(&mut &app.store, id, &fields, Timestamp::now()).await?;
    record(app, project, id).await
}

pub async fn delete(app: &App, who: &Principal, project: ProjectId, id: ServerId) -> Result<()> {
    access::project_for(app, who, project, Scope::delete(Resource::Servers)).await?;
    find(app, project, id).await?;
    db::servers::delete(&mut &app.store, id).await
}

/// Refresh Server Connection: connects (pinning the host key on first success), checks that
/// the deployment path can be created and written, and which of tar, php and composer exist.
pub async fn refresh(
    app: &App,
    who: &Principal,
    project: ProjectId,
    id: ServerId,
) -> Result<records::Server> {
    access::project_for(app, who, project, Scope::create(Resource::Servers)).await?;
    let server = find(app, project, id).await?;
    let checked =
        crate::deploy::run_once(app, &server, &scripts::check(&server.deployment_path)).await;
    let now = Timestamp::now();
    match checked {
        Ok(output) => {
            let tools: Vec<&str> = output
                .lines()
                .filter_map(|line| line.strip_prefix("tool:"))
                .collect();
            db::servers::set_connection(
                &mut &app.store,
                id,
                "successful",
                None,
                Some(&tools.join(" ")),
                now,
            )
            .await?
        }
        Err(reason) => {
            db::servers::set_connection(&mut &app.store, id, "failed", Some(&reason), None, now)
                .await?
        }
    }
    record(app, project, id).await
}

/// Forgets the server's pinned host key (after a rebuild): the next connection pins anew.
pub async fn reset_host_key(
    app: &App,
    who: &Principal,
    project: ProjectId,
    id: ServerId,
) -> Result<records::Server> {
    access::project_for(app, who, project, Scope::create(Resource::Servers)).await?;
    find(app, project, id).await?;
    db::servers::reset_host_key(&mut &app.store, id, Timestamp::now()).await?;
    record(app, project, id).await
}

/// The spelling of a field that the request used: Create Server documents camelCase, and the
/// response's snake_case names are accepted too. Errors are reported under the name sent.
fn spelled<'a>(params: &Params, names: &[&'a str]) -> &'a str {
    params.first_present(names).unwrap_or(names[0])
}

fn read_fields(params: &Params, current: Option<&Server>) -> Result<ServerFields> {
    let mut errors = FieldErrors::default();
    let creating = current.is_none();
    let text = |names: &[&str], errors: &mut FieldErrors| -> (String, Option<String>) {
        let field = spelled(params, names).to_owned();
        let value = params.string(&field, errors);
        if value.is_none() && creating && !errors.has(&field) && required(names[0]) {
            errors.add(&field, Problem::Required);
        }
        (field, value)
    };
    fn required(name: &str) -> bool {
        matches!(name, "name" | "connectAs" | "host" | "phpVersion")
    }

    let (name_field, name) = text(&["name"], &mut errors);
    if let Some(name) = &name {
        check_max_len(&name_field, name, 255, &mut errors);
    }
    let (connect_field, connect_as) = text(&["connectAs", "connect_as"], &mut errors);
    if let Some(user) = &connect_as
        && !is_unix_user(user)
    {
        errors.add(&connect_field, Problem::UnixUser);
    }
    let (host_field, host) = text(&["host", "ip_address"], &mut errors);
    if let Some(host) = &host
        && !is_host(host)
    {
        errors.add(&host_field, Problem::Host);
    }
    let (php_field, php_version) = text(&["phpVersion", "php_version"], &mut errors);
    if let Some(version) = &php_version
        && !PHP_VERSIONS.contains(&version.as_str())
    {
        errors.add(&php_field, Problem::NotOneOf);
    }
    let port_field = spelled(params, &["port"]);
    let port = params.integer(port_field, &mut errors);
    if let Some(port) = port
        && !(1..=65535).contains(&port)
    {
        errors.add(port_field, Problem::Between(1, 65535));
    }
    let (path_field, deployment_path) = text(&["deploymentPath", "deployment_path"], &mut errors);
    if let Some(path) = &deployment_path
        && !is_safe_absolute_path(path)
    {
        errors.add(&path_field, Problem::AbsolutePath);
    }
    let (php_path_field, php_path) = text(&["phpPath", "php_path"], &mut errors);
    let (composer_field, composer_path) = text(&["composerPath", "composer_path"], &mut errors);
    for (field, value) in [
        (&php_path_field, &php_path),
        (&composer_field, &composer_path),
    ] {
        if let Some(program) = value
            && !is_program_path(program)
        {
            errors.add(field, Problem::ProgramPath);
        }
    }
    let flag =
        |names: &[&str], errors: &mut FieldErrors| params.boolean(spelled(params, names), errors);
    let receives = flag(
        &["receivesCodeDeployments", "receives_code_deployments"],
        &mut errors,
    );
    let restart_fpm = flag(
        &["restartFpm", "should_restart_fpm", "restart_fpm"],
        &mut errors,
    );
    let freebsd = flag(&["freebsd"], &mut errors);
    let environment = params.string("environment", &mut errors);
    if let Some(name) = &environment
        && !crate::domain::environment::is_valid_name(name)
    {
        errors.add("environment", Problem::EnvironmentName);
    }
    errors.into_result()?;

    let fields = match current {
        Some(server) => ServerFields {
            name: name.unwrap_or_else(|| server.name.clone()),
            connect_as: connect_as.unwrap_or_else(|| server.connect_as.clone()),
            host: host.unwrap_or_else(|| server.host.clone()),
            port: port.unwrap_or(server.port),
            php_version: php_version.unwrap_or_else(|| server.php_version.clone()),
            freebsd: freebsd.unwrap_or(server.freebsd),
            receives_code_deployments: receives.unwrap_or(server.receives_code_deployments),
            should_restart_fpm: restart_fpm.unwrap_or(server.should_restart_fpm),
            deployment_path: deployment_path.unwrap_or_else(|| server.deployment_path.clone()),
            php_path: php_path.unwrap_or_else(|| server.php_path.clone()),
            composer_path: composer_path.unwrap_or_else(|| server.composer_path.clone()),
            environment: environment.unwrap_or_else(|| server.environment.clone()),
        },
        None => {
            let connect_as = connect_as.unwrap_or_default();
            let home = if connect_as == "root" {
                "/root".to_owned()
            } else {
                format!("/home/{connect_as}")
            };
            ServerFields {
                name: name.unwrap_or_default(),
                host: host.unwrap_or_default(),
                port: port.unwrap_or(22),
                php_version: php_version.unwrap_or_default(),
                freebsd: freebsd.unwrap_or(false),
                receives_code_deployments: receives.unwrap_or(true),
                should_restart_fpm: restart_fpm.unwrap_or(false),
                deployment_path: deployment_path.unwrap_or_else(|| format!("{home}/app")),
                php_path: php_path.unwrap_or_else(|| "php".to_owned()),
                composer_path: composer_path.unwrap_or_else(|| "composer".to_owned()),
                environment: environment.unwrap_or_else(|| "production".to_owned()),
                connect_as,
            }
        }
    };
    Ok(fields)
}

/// `php`, `php8.3` or `/usr/local/bin/composer`: a bare program name or a safe absolute path.
fn is_program_path(value: &str) -> bool {
    if value.starts_with('/') {
        return is_safe_absolute_path(value);
    }
    !value.is_empty()
        && value.len() <= 64
        && !value.starts_with(['-', '.'])
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}
