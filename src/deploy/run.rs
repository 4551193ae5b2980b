//! Running one deployment record, by its kind: a deployment resolves its commit, builds a
//! release on every server and activates it; a rollback activates a release that is already
//! there; a stop runs an environment's teardown.

use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::watch;

use super::fleet::{Activation, Processes, Run, Scripting};
use super::plan::{self, Options, Step, Work};
use super::releases::History;
use super::scripts::Link;
use super::source::{self, Source};
use super::teardown;
use crate::app::App;
use crate::db::{
    self,
    deployments::{Deployment, NewDeployment, NewProcess, Process},
    hooks::HookView,
    projects::Project,
    releases::NewRelease,
    servers::Server,
};
use crate::domain::catalog::{ACTIVATE, project_type_is_laravel};
use crate::domain::deployment::{DeploymentKind, DeploymentStatus, Ending, ProcessStatus};
use crate::domain::ids::{DeploymentId, HookId, ProjectId, ServerId};
use crate::domain::time::Timestamp;

pub(super) async fn run(
    app: &App,
    id: DeploymentId,
    cancel: watch::Receiver<bool>,
) -> anyhow::Result<Ending> {
    let deployment = db::deployments::get_by_id(&mut &app.store, id)
        .await?
        .context("the deployment disappeared")?;
    let project = db::projects::get(&mut &app.store, deployment.project_id, Timestamp::now())
        .await?
        .context("the project disappeared")?;
    // Only the servers of the environment this deployment targets.
    let servers: Vec<Server> = project
        .servers
        .0
        .iter()
        .filter(|s| s.environment == deployment.environment)
        .cloned()
        .collect();
    match deployment.kind {
        DeploymentKind::Stop => teardown::run(app, &deployment, &project, &servers, cancel).await,
        DeploymentKind::Rollback => rollback(app, &deployment, &project, &servers, cancel).await,
        DeploymentKind::Deploy => deploy(app, &deployment, &project, &servers, cancel).await,
    }
}

async fn deploy(
    app: &App,
    deployment: &Deployment,
    project: &Project,
    servers: &[Server],
    cancel: watch::Receiver<bool>,
) -> anyhow::Result<Ending> {
    let id = deployment.id;
    if servers.is_empty() {
        return Ok(Ending::error(format!(
            "The {} environment has no servers.",
            deployment.environment
        )));
    }
    let requested = deployment
        .requested_ref
        .clone()
        .unwrap_or_else(|| project.branch.clone());
    // The servers are connected to while the commit is fetched and its shipments made.
    let shipped = std::sync::OnceLock::new();
    let run = Run::new(
        app,
        id,
        servers,
        step_timeout(project),
        cancel.clone(),
        Some(&shipped),
    )
    .await?;
    let prepared = {
        let preparing = source::prepare(
            app,
            project,
            servers,
            deployment.requested_from,
            &requested,
            &cancel,
        );
        let connecting = run.connect_code_servers();
        tokio::pin!(preparing, connecting);
        let mut connected = false;
        let prepared = loop {
            tokio::select! {
                prepared = &mut preparing => break prepared,
                () = &mut connecting, if !connected => connected = true,
            }
        };
        // The first step needs the sessions; a deployment that ends here does not.
        if !connected && matches!(prepared, Ok(Ok(_))) {
            connecting.await;
        }
        prepared
    };
    let source = match prepared {
        Ok(Ok(source)) => shipped.get_or_init(|| source),
        Ok(Err(ending)) => {
            run.close().await;
            return Ok(ending);
        }
        Err(err) => {
            run.close().await;
            return Err(err);
        }
    };
    let commit = &source.commit;
    let time = release_name(app, project.id).await?;
    db::deployments::set_commit(
        &mut &app.store,
        id,
        &NewDeployment {
            user_id: deployment.user_id,
            commit_branch: Some(requested.clone()),
            commit_hash: Some(commit.sha.clone()),
            commit_author: Some(commit.author_name.clone()),
            commit_avatar: Some(source.avatar.clone()),
            commit_message: Some(commit.subject.clone()),
            status: DeploymentStatus::Running,
        },
        &time,
        Timestamp::now(),
    )
    .await?;

    let hooks = db::hooks::list_with_servers(&mut &app.store, project.id).await?;
    let health_gate = match (&project.monitor, project.health_gate) {
        (Some(url), true) => Some((url.clone(), project.health_gate_seconds.max(1) as u64)),
        _ => None,
    };
    let steps = plan::plan(
        servers,
        &hooks,
        &Options {
            install_dependencies: project.install_dependencies,
            health_gate,
        },
    );
    let processes = record_plan(&mut &app.store, deployment, servers, &steps).await?;

    // The release, recorded before any server sees it.
    let code_servers = plan::code_servers(servers);
    let activation = if code_servers.is_empty() {
        None
    } else {
        let release = db::releases::insert(
            &mut &app.store,
            project.id,
            &NewRelease {
                environment: &deployment.environment,
                deployment: id,
                name: &time,
                commit_hash: &commit.sha,
                commit_branch: &requested,
                commit_message: &commit.subject,
            },
            &code_servers,
            Timestamp::now(),
        )
        .await?;
        db::deployments::set_release(&mut &app.store, id, release).await?;
        let history = history(app, project.id, &deployment.environment).await?;
        let retain = usize::try_from(project.retain_deployments.max(1)).unwrap_or(1);
        let (keep, purged) = history.retention(release, &code_servers, retain);
        let reuse_vendor = match history.live() {
            Some(live) if project.install_dependencies => {
                reusable_vendor(source, live.commit_hash.as_deref(), &live.name).await
            }
            _ => None,
        };
        Some((
            Activation {
                project: project.id,
                environment: deployment.environment.clone(),
                release,
                builds: true,
                previous: history.live().map(|r| r.id),
                previous_name: history.live().map(|r| r.name.clone()),
                purged,
            },
            keep,
            reuse_vendor,
        ))
    };

    let context = Scripting {
        environment_slug: crate::domain::environment::slug(&deployment.environment),
        time,
        sha: commit.sha.clone(),
        branch: project.branch.clone(),
        author: commit.author_name.clone(),
        message: commit.subject.clone(),
        name: project.name.clone(),
        laravel: project_type_is_laravel(&project.project_type),
        links: project
            .folders
            .0
            .iter()
            .map(|f| Link {
                from: f.from_path.clone(),
                to: f.to_path.clone(),
            })
            .collect(),
        composer_dev: project.install_dev_dependencies,
        composer_quiet: project.quiet_composer,
        reuse_vendor: activation.as_ref().and_then(|(_, _, reuse)| reuse.clone()),
        delta_releases: project.delta_releases,
        keep: activation
            .as_ref()
            .map(|(_, keep, _)| keep.clone())
            .unwrap_or_default(),
    };
    let ending = run
        .steps(
            &steps,
            &processes,
            &context,
            activation.as_ref().map(|(a, _, _)| a),
        )
        .await;
    run.close().await;
    Ok(ending)
}

/// The live release, when the new one may start from its `vendor/`: Composer's files are the
/// same in both commits.
async fn reusable_vendor(source: &Source, live_commit: Option<&str>, live: &str) -> Option<String> {
    let live_commit = live_commit?;
    source
        .unchanged_since(live_commit, &["composer.json", "composer.lock"])
        .await
        .then(|| live.to_owned())
}

/// A rollback: its processes were recorded when it was asked for; the target is checked again
/// now, since a server may have been added or the release purged in the meantime.
async fn rollback(
    app: &App,
    deployment: &Deployment,
    project: &Project,
    servers: &[Server],
    cancel: watch::Receiver<bool>,
) -> anyhow::Result<Ending> {
    let target = match deployment.release() {
        Some(release) => db::releases::get(&mut &app.store, project.id, release).await?,
        None => None,
    };
    let Some(target) = target else {
        return Ok(Ending::error(
            "The release to roll back to no longer exists.",
        ));
    };
    let code_servers = plan::code_servers(servers);
    let history = history(app, project.id, &deployment.environment).await?;
    if let Some(refusal) = history.refusal(&target, &code_servers)
        && refusal != super::releases::Refusal::AlreadyLive
    {
        return Ok(Ending::error(refusal.message(&target, servers)));
    }
    let hooks = db::hooks::list_with_servers(&mut &app.store, project.id).await?;
    let recorded = db::deployments::processes(&mut &app.store, deployment.id).await?;
    let (steps, processes) = steps_of(&recorded, &hooks);
    let context = Scripting {
        environment_slug: crate::domain::environment::slug(&deployment.environment),
        time: target.name.clone(),
        sha: target.commit_hash.clone().unwrap_or_default(),
        branch: project.branch.clone(),
        author: deployment.commit_author.clone().unwrap_or_default(),
        message: target.commit_message.clone().unwrap_or_default(),
        name: project.name.clone(),
        laravel: project_type_is_laravel(&project.project_type),
        links: Vec::new(),
        composer_dev: false,
        composer_quiet: false,
        reuse_vendor: None,
        delta_releases: false,
        keep: Vec::new(),
    };
    let activation = Activation {
        project: project.id,
        environment: deployment.environment.clone(),
        release: target.id,
        builds: false,
        previous: history.live().map(|r| r.id),
        previous_name: history.live().map(|r| r.name.clone()),
        purged: Vec::new(),
    };
    let run = Run::new(
        app,
        deployment.id,
        servers,
        step_timeout(project),
        cancel,
        None,
    )
    .await?;
    let ending = run
        .steps(&steps, &processes, &context, Some(&activation))
        .await;
    run.close().await;
    Ok(ending)
}

/// Records the plan as pending processes, before anything runs: one per step and server, and
/// one for a step Slipway runs itself (the health gate).
pub(crate) async fn record_plan(
    db: &mut impl db::Db,
    deployment: &Deployment,
    servers: &[Server],
    steps: &[Step],
) -> crate::error::Result<Vec<Processes>> {
    let now = Timestamp::now();
    let mut all = Vec::with_capacity(steps.len());
    for (index, step) in steps.iter().enumerate() {
        let places: Vec<Option<ServerId>> = if step.servers.is_empty() {
            vec![None]
        } else {
            step.servers.iter().copied().map(Some).collect()
        };
        let mut ids = Vec::with_capacity(places.len());
        for server in places {
            let name =
                server.and_then(|id| servers.iter().find(|s| s.id == id).map(|s| s.name.clone()));
            let process = db::deployments::insert_process(
                db,
                deployment.id,
                deployment.project_id,
                &NewProcess {
                    server_id: server.map(|s| s.0),
                    server_name: name,
                    sequence: index as i64 + 1,
                    name: step.name.clone(),
                    action_id: (step.action_id > 0).then_some(step.action_id),
                    hook_id: step.hook_id().map(|h| h.0),
                    status: ProcessStatus::Pending,
                },
                now,
            )
            .await?;
            ids.push((server, process));
        }
        all.push(ids);
    }
    Ok(all)
}

/// The steps of a recorded plan: its processes grouped by sequence. A hook deleted since it
/// was planned is left out (its processes end `skipped`).
fn steps_of(recorded: &[Process], hooks: &[HookView]) -> (Vec<Step>, Vec<Processes>) {
    let mut steps: Vec<Step> = Vec::new();
    let mut processes: Vec<Processes> = Vec::new();
    let mut sequence = None;
    let mut skipping = false;
    for process in recorded {
        if sequence != Some(process.sequence) {
            sequence = Some(process.sequence);
            let work = match process.hook_id {
                Some(hook) => {
                    hooks
                        .iter()
                        .find(|h| h.hook.id == HookId(hook))
                        .map(|h| Work::Hook {
                            id: h.hook.id,
                            script: h.hook.script.clone(),
                            run_as: h.hook.run_as.clone(),
                        })
                }
                None if process.action_id == Some(ACTIVATE) => Some(Work::Activate),
                None => None,
            };
            skipping = work.is_none();
            if let Some(work) = work {
                steps.push(Step {
                    name: process.name.clone(),
                    action_id: process.action_id.unwrap_or(ACTIVATE),
                    work,
                    servers: Vec::new(),
                });
                processes.push(Vec::new());
            }
        }
        if skipping {
            continue;
        }
        let server = process.server_id.map(ServerId);
        if let (Some(step), Some(ids)) = (steps.last_mut(), processes.last_mut()) {
            step.servers.extend(server);
            ids.push((server, process.id));
        }
    }
    (steps, processes)
}

/// The environment's releases and where each one is.
pub(crate) async fn history(
    app: &App,
    project: ProjectId,
    environment: &str,
) -> crate::error::Result<History> {
    Ok(History {
        releases: db::releases::list(&mut &app.store, project, environment).await?,
        placements: db::releases::placements(&mut &app.store, project, environment).await?,
    })
}

pub(super) fn step_timeout(project: &Project) -> Duration {
    Duration::from_secs(project.step_timeout_seconds.max(1) as u64)
}

/// `YmdHis` of now, or one second after the project's newest release when that is later, so
/// release names always grow.
async fn release_name(app: &App, project: ProjectId) -> anyhow::Result<String> {
    let now = time::OffsetDateTime::now_utc();
    let format = time::macros::format_description!("[year][month][day][hour][minute][second]");
    let mut name = now.format(&format)?;
    if let Some(last) = db::deployments::last_release_name(&mut &app.store, project).await?
        && last >= name
    {
        let parsed = time::PrimitiveDateTime::parse(&last, &format)?;
        name = (parsed + time::Duration::seconds(1)).format(&format)?;
    }
    Ok(name)
}
