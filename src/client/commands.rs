//! Each client command: the requests it makes and what it prints.

use std::io::{IsTerminal, Read};
use std::path::Path;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::api::{Api, ClientError, Reply, Result};
use super::follow::{Ending, follow};
use super::model::{Deployment, ProcessOutput, Project, Release, Server, headline, shell_word};
use super::table::table;
use super::{Command, EnvCommand, Launch, Target, connection, exit};

/// Runs `command`; answers the exit status.
pub async fn run(command: Command) -> Result<u8> {
    match command {
        Command::Login { url, token } => login(&url, token).await,
        Command::Logout => logout(),
        command => {
            let api = connection::connect()?;
            run_with(&api, command).await
        }
    }
}

async fn run_with(api: &Api, command: Command) -> Result<u8> {
    match command {
        Command::Login { .. } | Command::Logout => unreachable!("handled before connecting"),
        Command::Projects { output } => projects(api, output.json).await,
        Command::Status { project, output } => status(api, &project, output.json).await,
        Command::Deploy {
            project,
            target,
            launch,
        } => deploy(api, &project, &target, launch).await,
        Command::Logs {
            project,
            deployment,
            follow,
            output,
        } => logs(api, &project, deployment, follow, output.json).await,
        Command::Cancel {
            project,
            deployment,
        } => cancel(api, &project, deployment).await,
        Command::Rollback {
            project,
            to,
            launch,
        } => rollback(api, &project, to, launch).await,
        Command::Releases {
            project,
            environment,
            output,
        } => releases(api, &project, environment, output.json).await,
        Command::Servers { project, output } => servers(api, &project, output.json).await,
        Command::Env { command } => match command {
            EnvCommand::Pull {
                project,
                key_file,
                output,
            } => env_pull(api, &project, key_file, output.json).await,
            EnvCommand::Push {
                project,
                file,
                key_file,
                servers,
            } => env_push(api, &project, file, key_file, &servers).await,
        },
    }
}

const OK: u8 = 0;

async fn login(url: &str, token: Option<String>) -> Result<u8> {
    let url = connection::parse_url(url)?;
    if connection::is_plain_http_elsewhere(&url) {
        eprintln!("warning: {url} is plain http: the token crosses the network unencrypted");
    }
    let token = match token {
        Some(token) => SecretString::from(token),
        None => read_secret("API token: ", "the token")?,
    };
    if token.expose_secret().trim().is_empty() {
        return Err(ClientError::Usage("the token is empty".to_owned()));
    }
    let token = SecretString::from(token.expose_secret().trim().to_owned());
    let api = Api::new(url.clone(), token.clone())?;
    let projects: Vec<Value> = api
        .get("/api/projects")
        .await
        .map_err(|err| match err {
            ClientError::Refused => ClientError::Usage(format!("{url} refused the token")),
            other => other,
        })?
        .field("projects")?;
    let path = connection::save(&url, &token)?;
    println!(
        "Logged in to {url}; the token sees {} project{}.",
        projects.len(),
        plural(projects.len())
    );
    println!("Saved in {}.", path.display());
    Ok(OK)
}

fn logout() -> Result<u8> {
    match connection::forget()? {
        Some(url) if !url.is_empty() => println!("Forgot the token for {url}."),
        Some(_) => println!("Forgot the stored token."),
        None => println!("No token was stored."),
    }
    Ok(OK)
}

async fn projects(api: &Api, json: bool) -> Result<u8> {
    let reply = api.get("/api/projects").await?;
    if json {
        return print_json(&reply);
    }
    let projects: Vec<Project> = reply.field("projects")?;
    if projects.is_empty() {
        println!("No projects yet.");
        return Ok(OK);
    }
    print!(
        "{}",
        table(
            ["ID", "Name", "Branch", "Last deployment", "Repository"],
            projects.iter().map(|p| [
                p.id.to_string(),
                p.name.clone(),
                p.branch.clone().unwrap_or_default(),
                p.last_deployment_status
                    .clone()
                    .unwrap_or_else(|| "-".into()),
                p.repository.clone().unwrap_or_default(),
            ])
        )
    );
    Ok(OK)
}

async fn status(api: &Api, name: &str, json: bool) -> Result<u8> {
    let (project, project_reply) = api.project(name).await?;
    let base = format!("/api/projects/{}", project.id);
    let deployments = api.get(&format!("{base}/deployments")).await?;
    let servers = api.get(&format!("{base}/servers")).await?;
    let releases = api.get(&format!("{base}/releases")).await?;
    if json {
        let all = json!({
            "project": project_reply.json["project"],
            "deployments": deployments.json["deployments"],
            "servers": servers.json["servers"],
            "releases": releases.json["releases"],
        });
        println!("{all}");
        return Ok(OK);
    }
    println!(
        "{} (id {}) · {} · branch {}",
        project.name,
        project.id,
        project.repository.as_deref().unwrap_or("no repository"),
        project.branch.as_deref().unwrap_or("-"),
    );
    println!("Health: {}", health(&project));
    let deployments: Vec<Deployment> = deployments.field("deployments")?;
    println!();
    if deployments.is_empty() {
        println!("No deployments yet.");
    } else {
        println!("Last deployments");
        print!(
            "{}",
            deployment_table(&deployments[..deployments.len().min(5)])
        );
    }
    println!();
    print_servers(&servers.field::<Vec<Server>>("servers")?);
    println!();
    print_releases(&releases.field::<Vec<Release>>("releases")?);
    Ok(OK)
}

fn health(project: &Project) -> String {
    let Some(monitor) = project.monitor.as_deref().filter(|m| !m.is_empty()) else {
        return "no monitor".to_owned();
    };
    let regions = [
        ("New York", &project.new_york_status),
        ("London", &project.london_status),
        ("Singapore", &project.singapore_status),
    ];
    let states: Vec<String> = regions
        .iter()
        .filter_map(|(region, state)| state.as_ref().map(|s| format!("{region} {s}")))
        .collect();
    let states = if states.is_empty() {
        "not checked yet".to_owned()
    } else {
        states.join(", ")
    };
    let heartbeats = if project.has_missing_heartbeats == Some(true) {
        "; a heartbeat is missing"
    } else {
        ""
    };
    format!("{states} (monitor {monitor}){heartbeats}")
}

fn deployment_table(deployments: &[Deployment]) -> String {
    table(
        [
            "ID",
            "Status",
            "Kind",
            "Environment",
            "Commit",
            "Message",
            "Created",
        ],
        deployments.iter().map(|d| {
            [
                d.id.to_string(),
                d.status.clone(),
                d.kind.clone().unwrap_or_else(|| "deploy".into()),
                d.environment.clone().unwrap_or_default(),
                d.commit(),
                headline(d.commit_message.as_deref(), 40),
                d.created_at.clone().unwrap_or_default(),
            ]
        }),
    )
}

/// A titled table, or a sentence saying there is nothing.
fn print_section(title: &str, nothing: &str, rows: usize, table: impl FnOnce() -> String) {
    if rows == 0 {
        println!("{nothing}");
    } else {
        println!("{title}");
        print!("{}", table());
    }
}

fn print_servers(servers: &[Server]) {
    print_section("Servers", "No servers yet.", servers.len(), || {
        table(
            [
                "ID",
                "Name",
                "Address",
                "User",
                "Path",
                "Code",
                "Connection",
            ],
            servers.iter().map(|s| {
                let port = match &s.port {
                    Some(Value::String(port)) => port.clone(),
                    Some(Value::Number(port)) => port.to_string(),
                    _ => "22".to_owned(),
                };
                [
                    s.id.to_string(),
                    s.name.clone(),
                    format!("{}:{port}", s.ip_address.as_deref().unwrap_or("?")),
                    s.connect_as.clone().unwrap_or_default(),
                    s.deployment_path.clone().unwrap_or_default(),
                    if s.receives_code_deployments == Some(false) {
                        "no".to_owned()
                    } else {
                        "yes".to_owned()
                    },
                    s.connection_status.clone().unwrap_or_else(|| "-".into()),
                ]
            }),
        )
    });
}

fn print_releases(releases: &[Release]) {
    print_section("Releases", "No releases yet.", releases.len(), || {
        table(
            [
                "ID",
                "Release",
                "State",
                "Environment",
                "Commit",
                "Message",
                "Deployment",
            ],
            releases.iter().map(|r| {
                let hash = r.commit_hash.as_deref().map(super::model::short_hash);
                [
                    r.id.to_string(),
                    r.name.clone(),
                    // A release that failed yet is still live somewhere says both.
                    if r.live && r.state != "live" {
                        format!("{} (live)", r.state)
                    } else {
                        r.state.clone()
                    },
                    r.environment.clone().unwrap_or_default(),
                    match (&r.commit_branch, hash) {
                        (Some(branch), Some(hash)) => format!("{branch}@{hash}"),
                        (None, Some(hash)) => hash.to_owned(),
                        _ => "-".to_owned(),
                    },
                    headline(r.commit_message.as_deref(), 40),
                    r.deployment_id.map(|d| d.to_string()).unwrap_or_default(),
                ]
            }),
        )
    });
}

async fn deploy(api: &Api, name: &str, target: &Target, launch: Launch) -> Result<u8> {
    let (project, _) = api.project(name).await?;
    let mut body = match (&target.branch, &target.tag, &target.sha) {
        (Some(branch), _, _) => json!({"from": "branch", "branch": branch}),
        (_, Some(tag), _) => json!({"from": "tag", "tag": tag}),
        (_, _, Some(sha)) => json!({"sha": sha}),
        _ => json!({}),
    };
    if let Some(environment) = &launch.environment {
        body["environment"] = json!(environment);
    }
    let reply = api
        .post(&format!("/api/projects/{}/deployments", project.id), &body)
        .await?;
    started(api, &project, reply, &launch, "Queued deployment").await
}

/// After a deployment or rollback was asked for: follows it, prints it, or says how to.
async fn started(
    api: &Api,
    project: &Project,
    reply: Reply,
    launch: &Launch,
    what: &str,
) -> Result<u8> {
    if launch.json {
        return print_json(&reply);
    }
    let deployment: Deployment = reply.field("deployment")?;
    if launch.follow {
        let deployment = record(api, project, deployment.id).await?;
        return follow_to_end(api, project, deployment).await;
    }
    let commit = deployment.commit_between(": ", "");
    println!("{what} {} of {}{commit}.", deployment.id, project.name);
    println!(
        "Follow it with: slipway logs {} {} --follow",
        shell_word(&project.name),
        deployment.id
    );
    Ok(OK)
}

async fn record(api: &Api, project: &Project, id: i64) -> Result<Deployment> {
    api.get(&format!("/api/projects/{}/deployments/{id}", project.id))
        .await
        .map_err(|err| err.missing(format!("deployment {id} of {}", project.name)))?
        .field("deployment")
}

async fn follow_to_end(api: &Api, project: &Project, deployment: Deployment) -> Result<u8> {
    Ok(match follow(api, project, deployment).await? {
        Ending::Finished => OK,
        Ending::Failed => exit::FAILED,
        Ending::Cancelled => exit::CANCELLED,
        Ending::Interrupted => exit::INTERRUPTED,
    })
}

/// The project's deployments, newest first.
async fn deployments(api: &Api, project: &Project) -> Result<Vec<Deployment>> {
    api.get(&format!("/api/projects/{}/deployments", project.id))
        .await?
        .field("deployments")
}

/// The deployment named, or the project's latest.
async fn deployment_or_latest(api: &Api, project: &Project, id: Option<i64>) -> Result<Deployment> {
    if let Some(id) = id {
        return record(api, project, id).await;
    }
    match deployments(api, project).await?.first() {
        Some(latest) => record(api, project, latest.id).await,
        None => Err(ClientError::Usage(format!(
            "{} has no deployments yet",
            project.name
        ))),
    }
}

async fn logs(api: &Api, name: &str, id: Option<i64>, follow_it: bool, json: bool) -> Result<u8> {
    let (project, _) = api.project(name).await?;
    let deployment = deployment_or_latest(api, &project, id).await?;
    if follow_it {
        return follow_to_end(api, &project, deployment).await;
    }
    let reply = api
        .get(&format!(
            "/api/projects/{}/deployments/{}/output",
            project.id, deployment.id
        ))
        .await?;
    if json {
        return print_json(&reply);
    }
    let outputs: Vec<ProcessOutput> = reply.field("processes")?;
    let timings = deployment.processes.clone().unwrap_or_default();
    let commit = deployment.commit_between(": ", "");
    println!(
        "Deployment {} of {} ({}){commit}",
        deployment.id, project.name, deployment.status
    );
    for step in &outputs {
        let lane = step
            .server_name
            .as_deref()
            .unwrap_or(super::model::NO_SERVER);
        let took = timings
            .iter()
            .find(|p| p.id == step.id)
            .and_then(|p| p.duration_ms)
            .map(|ms| format!(", {:.1}s", ms as f64 / 1000.0))
            .unwrap_or_default();
        println!("==> [{lane}] {} ({}{took})", step.name, step.status);
        for line in step.output.lines() {
            println!("[{lane}] {line}");
        }
    }
    if let Some(error) = &deployment.error {
        println!("Error: {error}");
    }
    if deployment.is_open() {
        println!(
            "It is still {}; follow it with: slipway logs {} {} --follow",
            deployment.status,
            shell_word(&project.name),
            deployment.id
        );
    }
    Ok(OK)
}

async fn cancel(api: &Api, name: &str, id: Option<i64>) -> Result<u8> {
    let (project, _) = api.project(name).await?;
    let id = match id {
        Some(id) => id,
        None => {
            let list = deployments(api, &project).await?;
            // The running one first; else the one that would run next.
            let open: Vec<&Deployment> = list.iter().filter(|d| d.is_open()).collect();
            match open
                .iter()
                .find(|d| d.status == "running")
                .or_else(|| open.last())
            {
                Some(d) => d.id,
                None => {
                    return Err(ClientError::Usage(format!(
                        "no deployment of {} is waiting or running",
                        project.name
                    )));
                }
            }
        }
    };
    api.delete(&format!("/api/projects/{}/deployments/{id}", project.id))
        .await
        .map_err(|err| err.missing(format!("deployment {id} of {}", project.name)))?;
    println!("Cancelled deployment {id} of {}.", project.name);
    Ok(OK)
}

async fn rollback(api: &Api, name: &str, to: Option<i64>, launch: Launch) -> Result<u8> {
    let (project, _) = api.project(name).await?;
    let mut body = json!({});
    if let Some(to) = to {
        body["deployment"] = json!(to);
    }
    if let Some(environment) = &launch.environment {
        body["environment"] = json!(environment);
    }
    let reply = api
        .post(&format!("/api/projects/{}/rollback", project.id), &body)
        .await
        .map_err(|err| older_server(err, "rollback"))?;
    started(
        api,
        &project,
        reply,
        &launch,
        "Rolling back with deployment",
    )
    .await
}

async fn releases(api: &Api, name: &str, environment: Option<String>, json: bool) -> Result<u8> {
    let (project, _) = api.project(name).await?;
    let mut path = format!("/api/projects/{}/releases", project.id);
    if let Some(environment) = &environment {
        path.push_str("?environment=");
        path.push_str(
            &url::form_urlencoded::byte_serialize(environment.as_bytes()).collect::<String>(),
        );
    }
    let reply = api
        .get(&path)
        .await
        .map_err(|err| older_server(err, "releases"))?;
    if json {
        return print_json(&reply);
    }
    print_releases(&reply.field::<Vec<Release>>("releases")?);
    Ok(OK)
}

/// A 404 from the releases or rollback routes right after the project was found: the
/// project went in between, or the server predates them.
fn older_server(err: ClientError, route: &str) -> ClientError {
    match err {
        ClientError::NotFound(_) => ClientError::Usage(format!(
            "the server has no {route} for this project: it was just removed, or the server \
             predates releases and rollback (upgrade it)"
        )),
        other => other,
    }
}

async fn servers(api: &Api, name: &str, json: bool) -> Result<u8> {
    let (project, _) = api.project(name).await?;
    let reply = api
        .get(&format!("/api/projects/{}/servers", project.id))
        .await?;
    if json {
        return print_json(&reply);
    }
    print_servers(&reply.field::<Vec<Server>>("servers")?);
    Ok(OK)
}

async fn env_pull(
    api: &Api,
    name: &str,
    key_file: Option<std::path::PathBuf>,
    json: bool,
) -> Result<u8> {
    let (project, _) = api.project(name).await?;
    let key = environment_key(key_file.as_deref())?;
    let reply = api
        .get_with(
            &format!("/api/projects/{}/environment", project.id),
            &json!({"key": key.expose_secret()}),
        )
        .await?;
    if json {
        return print_json(&reply);
    }
    let contents: String = reply.field("environment")?;
    print!("{contents}");
    Ok(OK)
}

async fn env_push(
    api: &Api,
    name: &str,
    file: Option<std::path::PathBuf>,
    key_file: Option<std::path::PathBuf>,
    servers: &[String],
) -> Result<u8> {
    let (project, _) = api.project(name).await?;
    let contents = match &file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|err| ClientError::Usage(format!("cannot read {}: {err}", path.display())))?,
        None => {
            if std::io::stdin().is_terminal() {
                return Err(ClientError::Usage(
                    "give the new .env as a file, or on standard input".to_owned(),
                ));
            }
            let mut contents = String::new();
            std::io::stdin()
                .read_to_string(&mut contents)
                .map_err(|err| ClientError::Usage(format!("cannot read standard input: {err}")))?;
            contents
        }
    };
    let key = environment_key(key_file.as_deref())?;
    let base = format!("/api/projects/{}", project.id);
    let all: Vec<Server> = api
        .get(&format!("{base}/servers"))
        .await?
        .field("servers")?;
    let mut body = json!({"key": key.expose_secret(), "contents": contents});
    if servers.is_empty() {
        let holding: Vec<Server> = api
            .get(&format!("{base}/environment/servers"))
            .await?
            .field("servers")?;
        if holding.is_empty() {
            body["servers"] = json!(all.iter().map(|s| s.id).collect::<Vec<_>>());
        }
    } else {
        let mut ids = Vec::new();
        for wanted in servers {
            let found = all
                .iter()
                .find(|s| s.name == *wanted || s.id.to_string() == *wanted)
                .ok_or_else(|| {
                    ClientError::NotFound(format!("a server {wanted:?} of {}", project.name))
                })?;
            ids.push(found.id);
        }
        body["servers"] = json!(ids);
    }
    let written: Vec<Server> = api
        .put(&format!("{base}/environment"), &body)
        .await?
        .field("servers")?;
    let names: Vec<&str> = written.iter().map(|s| s.name.as_str()).collect();
    if names.is_empty() {
        println!("Saved the .env of {}; no server holds it.", project.name);
    } else {
        println!(
            "Saved the .env of {} and wrote it to {}.",
            project.name,
            names.join(", ")
        );
    }
    Ok(OK)
}

/// The environment key: the first line of `key_file`, or typed unseen. Never an argument,
/// which other users could read in the process list.
fn environment_key(key_file: Option<&Path>) -> Result<SecretString> {
    match key_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|err| {
                ClientError::Usage(format!(
                    "cannot read the key file {}: {err}",
                    path.display()
                ))
            })?;
            let key = text.lines().next().unwrap_or("").to_owned();
            if key.is_empty() {
                return Err(ClientError::Usage(format!(
                    "the key file {} is empty",
                    path.display()
                )));
            }
            Ok(SecretString::from(key))
        }
        None => prompt("Environment key: ", "--key-file"),
    }
}

/// A secret typed unseen on the terminal; `alternative` says how else to give it.
fn prompt(label: &str, alternative: &str) -> Result<SecretString> {
    let typed = rpassword::prompt_password(label).map_err(|_| {
        ClientError::Usage(format!("no terminal to ask on; give it with {alternative}"))
    })?;
    Ok(SecretString::from(typed))
}

/// A secret from standard input (its first line) when that is not a terminal, else typed.
fn read_secret(label: &str, what: &str) -> Result<SecretString> {
    if std::io::stdin().is_terminal() {
        return prompt(label, "--token");
    }
    super::secret_from_stdin()
        .map_err(|err| ClientError::Usage(format!("cannot read {what} from standard input: {err}")))
}

fn print_json(reply: &Reply) -> Result<u8> {
    println!("{}", reply.text.trim_end());
    Ok(OK)
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}
