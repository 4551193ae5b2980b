//! Running one deployment: resolve the commit, plan the steps, run each step on all its
//! servers at once and wait for all of them (a barrier), and leave every server either on the
//! new release or untouched.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures_util::future::join_all;
use russh::keys::PrivateKey;
use tokio::sync::{Mutex, Semaphore, watch};

use super::hub::LogEvent;
use super::plan::{Step, Work, plan};
use super::scripts::{self, Layout, Link};
use crate::app::App;
use crate::db::{self, deployments::NewDeployment, deployments::NewProcess, servers::Server};
use crate::domain::catalog::project_type_is_laravel;
use crate::domain::ids::{DeploymentId, ProjectId, ServerId};
use crate::domain::time::Timestamp;
use crate::git::{self, Mirror, RefKind};
use crate::services::{hooks, projects};
use crate::ssh::{Session, SshError, Target};

/// Most output kept per process.
const OUTPUT_CAP: usize = 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// How a step ended on one server.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Finished,
    Failed(String),
    Cancelled,
}

/// How the whole deployment ended.
pub(super) struct Ending {
    pub status: &'static str,
    pub error: Option<String>,
}

impl Ending {
    fn finished() -> Ending {
        Ending {
            status: "finished",
            error: None,
        }
    }
    pub(super) fn error(reason: impl Into<String>) -> Ending {
        Ending {
            status: "error",
            error: Some(reason.into()),
        }
    }
    /// Cancelled; once the release went live, the record says so rather than suggest that
    /// nothing changed.
    fn cancelled(activated: bool) -> Ending {
        Ending {
            status: "cancelled",
            error: activated.then(|| {
                "Cancelled after activation: the new release is live on the servers.".to_owned()
            }),
        }
    }
}

/// Everything a running deployment holds: its servers, their keys, one SSH connection per
/// server and user, and the cancel signal.
struct Run<'a> {
    app: &'a App,
    id: DeploymentId,
    servers: HashMap<ServerId, Server>,
    keys: HashMap<ServerId, Arc<PrivateKey>>,
    pins: std::sync::Mutex<HashMap<ServerId, String>>,
    sessions: Mutex<HashMap<(ServerId, String), Arc<Session>>>,
    connecting: Semaphore,
    cancel: watch::Receiver<bool>,
    timeout: Duration,
    archive: PathBuf,
}

pub(super) async fn deploy(
    app: &App,
    id: DeploymentId,
    cancel: watch::Receiver<bool>,
) -> anyhow::Result<Ending> {
    let deployment = db::deployments::get_by_id(&mut &app.store, id)
        .await?
        .context("the deployment disappeared")?;
    let project_id = deployment.project_id;
    let mut view = projects::load(app, project_id).await?;
    // Only the servers of the environment this deployment targets.
    view.servers
        .retain(|s| s.environment == deployment.environment);
    if deployment.requested_from == "stop" {
        return teardown(app, &deployment, &view, cancel).await;
    }
    let project = &view.project;
    if view.servers.is_empty() {
        return Ok(Ending::error(format!(
            "The {} environment has no servers.",
            deployment.environment
        )));
    }

    // The commit: fetch the mirror, resolve what was asked for, record it.
    let deploy_key = match db::projects::deploy_key_sealed(&mut &app.store, project_id).await? {
        Some(sealed) => Some(app.vault.open_string(&sealed)?),
        None => None,
    };
    let mirror = Mirror::new(
        &app.config.data_dir.join("git"),
        &app.config.data_dir.join("tmp"),
        project_id.0,
        deploy_key,
        Duration::from_secs(300),
    );
    let url = crate::domain::catalog::Provider::parse(&project.provider)
        .map(|p| p.clone_url(&project.repository))
        .unwrap_or_else(|| project.repository.clone());
    let mut watch_cancel = cancel.clone();
    tokio::select! {
        fetched = mirror.fetch(&url) => if let Err(err) = fetched {
            return Ok(Ending::error(format!("Could not fetch the repository: {err:#}")));
        },
        _ = watch_cancel.wait_for(|c| *c) => return Ok(Ending::cancelled(false)),
    }
    let requested = deployment
        .requested_ref
        .clone()
        .unwrap_or_else(|| project.branch.clone());
    let kind = match deployment.requested_from.as_str() {
        "tag" => RefKind::Tag,
        "sha" => RefKind::Sha,
        _ => RefKind::Branch,
    };
    let Some(sha) = mirror.resolve(kind, &requested).await? else {
        return Ok(Ending::error(format!(
            "The repository has no {} named {requested}.",
            deployment.requested_from
        )));
    };
    let commit = mirror.commit(&sha).await?;
    let time = release_name(app, project_id).await?;
    db::deployments::set_commit(
        &mut &app.store,
        id,
        &NewDeployment {
            user_id: deployment.user_id,
            commit_branch: Some(requested.clone()),
            commit_hash: Some(commit.sha.clone()),
            commit_author: Some(commit.author_name.clone()),
            commit_avatar: Some(git::avatar_url(&commit.author_email)),
            commit_message: Some(commit.subject.clone()),
            status: "running".into(),
        },
        &time,
        Timestamp::now(),
    )
    .await?;
    let temp_dir = app.config.data_dir.join("tmp");
    std::fs::create_dir_all(&temp_dir)?;
    // Removed when dropped, whichever way this function returns.
    let archive_file = tempfile::Builder::new()
        .prefix("release-")
        .suffix(".tar")
        .tempfile_in(&temp_dir)?;
    let archive = archive_file.path().to_path_buf();
    tokio::select! {
        archived = mirror.archive(&commit.sha, &archive) => if let Err(err) = archived {
            return Ok(Ending::error(format!("Could not archive the commit: {err:#}")));
        },
        _ = watch_cancel.wait_for(|c| *c) => return Ok(Ending::cancelled(false)),
    }

    // The plan, recorded as pending processes before anything runs.
    let hook_views = hooks::list_for_project(app, project_id).await?;
    let steps = plan(&view.servers, &hook_views, project.install_dependencies);
    let mut processes: Vec<Vec<(ServerId, i64)>> = Vec::with_capacity(steps.len());
    let now = Timestamp::now();
    for (index, step) in steps.iter().enumerate() {
        let mut ids = Vec::with_capacity(step.servers.len());
        for server in &step.servers {
            let name = view
                .servers
                .iter()
                .find(|s| s.id == *server)
                .map(|s| s.name.clone());
            let process = db::deployments::insert_process(
                &mut &app.store,
                id,
                project_id,
                &NewProcess {
                    server_id: Some(server.0),
                    server_name: name,
                    sequence: index as i64 + 1,
                    name: step.name.clone(),
                    action_id: Some(step.action_id),
                    hook_id: step.hook_id().map(|h| h.0),
                    status: "pending".into(),
                },
                now,
            )
            .await?;
            ids.push((*server, process));
        }
        processes.push(ids);
    }

    let run = Run::new(app, id, &view, cancel, archive.clone()).await?;
    let environment_slug = crate::domain::environment::slug(&deployment.environment);
    let context = Scripting {
        environment_slug,
        time: time.clone(),
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
        retain: project.retain_deployments,
        composer_dev: project.install_dev_dependencies,
        composer_quiet: project.quiet_composer,
    };
    let ending = run.steps(&steps, &processes, &context).await;
    run.close().await;
    drop(archive_file);
    Ok(ending)
}

/// What the scripts of one deployment are made from.
struct Scripting {
    environment_slug: String,
    time: String,
    sha: String,
    branch: String,
    author: String,
    message: String,
    name: String,
    laravel: bool,
    links: Vec<Link>,
    retain: i64,
    composer_dev: bool,
    composer_quiet: bool,
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

impl<'a> Run<'a> {
    async fn new(
        app: &'a App,
        id: DeploymentId,
        view: &projects::ProjectView,
        cancel: watch::Receiver<bool>,
        archive: PathBuf,
    ) -> anyhow::Result<Run<'a>> {
        let mut keys = HashMap::new();
        for server in &view.servers {
            let sealed = db::servers::private_key_sealed(&mut &app.store, server.id).await?;
            let text = String::from_utf8(app.vault.open(&sealed)?)?;
            let key = crate::ssh::load_private_key(&text).context("a server key does not load")?;
            keys.insert(server.id, key);
        }
        Ok(Run {
            app,
            id,
            pins: std::sync::Mutex::new(
                view.servers
                    .iter()
                    .filter_map(|s| s.host_key.clone().map(|k| (s.id, k)))
                    .collect(),
            ),
            servers: view.servers.iter().map(|s| (s.id, s.clone())).collect(),
            keys,
            sessions: Mutex::new(HashMap::new()),
            connecting: Semaphore::new(app.engine.max_connecting.max(1)),
            cancel,
            timeout: Duration::from_secs(view.project.step_timeout_seconds.max(1) as u64),
            archive,
        })
    }

    fn layout(&self, server: &Server, context: &Scripting) -> Layout {
        Layout {
            base: server.deployment_path.clone(),
            time: context.time.clone(),
        }
    }

    fn cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    async fn steps(
        &self,
        steps: &[Step],
        processes: &[Vec<(ServerId, i64)>],
        context: &Scripting,
    ) -> Ending {
        let code_servers: Vec<ServerId> = self
            .servers
            .values()
            .filter(|s| s.receives_code_deployments)
            .map(|s| s.id)
            .collect();
        let mut activated = false;
        for (step, processes) in steps.iter().zip(processes) {
            if self.cancelled() {
                return self
                    .stop(code_servers, activated, Ending::cancelled(activated))
                    .await;
            }
            if step.work == Work::Activate {
                // Where `current` points now, to switch back to if activation fails somewhere.
                let previous = match self.read_current(&step.servers, context).await {
                    Ok(previous) => previous,
                    Err(reason) => {
                        return self.stop(code_servers, false, Ending::error(reason)).await;
                    }
                };
                let outcomes = self.run_step(step, processes, context).await;
                let failures = failures(&outcomes);
                if failures.is_empty() {
                    activated = true;
                    continue;
                }
                // Every server of the step, not only those that finished: a server may have
                // switched and then failed (a PHP-FPM reload, a timeout). Switching back to
                // the previous release is harmless where nothing switched.
                self.switch_back(&step.servers, &previous, context).await;
                let ending = if outcomes.iter().any(|(_, o)| *o == Outcome::Cancelled) {
                    Ending::cancelled(false)
                } else {
                    Ending::error(failures.join("; "))
                };
                return self.stop(code_servers, false, ending).await;
            }
            let outcomes = self.run_step(step, processes, context).await;
            if outcomes.iter().any(|(_, o)| *o == Outcome::Cancelled) {
                return self
                    .stop(code_servers, activated, Ending::cancelled(activated))
                    .await;
            }
            let failures = failures(&outcomes);
            if !failures.is_empty() {
                let mut ending = Ending::error(failures.join("; "));
                if activated {
                    ending.error = ending
                        .error
                        .map(|e| format!("{e} (after activation: the new release is live)"));
                }
                return self.stop(code_servers, activated, ending).await;
            }
        }
        Ending::finished()
    }

    /// Ends a deployment early: unless the release went live, it is removed from every server.
    async fn stop(&self, code_servers: Vec<ServerId>, activated: bool, ending: Ending) -> Ending {
        if !activated {
            let context_time = self.time_of_release().await;
            if let Some(time) = context_time {
                self.remove_release(&code_servers, &time).await;
            }
        }
        let _ = db::deployments::close_open_processes(
            &mut &self.app.store,
            self.id,
            if ending.status == "cancelled" {
                "cancelled"
            } else {
                "skipped"
            },
            Timestamp::now(),
        )
        .await;
        ending
    }

    async fn time_of_release(&self) -> Option<String> {
        db::deployments::get_by_id(&mut &self.app.store, self.id)
            .await
            .ok()
            .flatten()
            .and_then(|d| d.release_name)
    }

    async fn session(&self, server: &Server, user: &str) -> Result<Arc<Session>, SshError> {
        let key = (server.id, user.to_owned());
        if let Some(session) = self.sessions.lock().await.get(&key) {
            return Ok(session.clone());
        }
        let _slot = self
            .connecting
            .acquire()
            .await
            .map_err(|_| SshError::Cancelled)?;
        let target = Target {
            host: server.host.clone(),
            port: u16::try_from(server.port).unwrap_or(22),
            user: user.to_owned(),
        };
        let pinned = self
            .pins
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&server.id)
            .cloned();
        let private = self
            .keys
            .get(&server.id)
            .cloned()
            .ok_or(SshError::Cancelled)?;
        let connected =
            Session::connect(&target, private, pinned.as_deref(), CONNECT_TIMEOUT).await;
        let session = match connected {
            Ok(session) => Arc::new(session),
            Err(err) => {
                let _ = db::servers::set_connection(
                    &mut &self.app.store,
                    server.id,
                    "failed",
                    Some(&err.to_string()),
                    None,
                    Timestamp::now(),
                )
                .await;
                return Err(err);
            }
        };
        if pinned.is_none() {
            pin(self.app, server, &session.host_key).await?;
            self.pins
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(server.id, session.host_key.clone());
        }
        self.sessions.lock().await.insert(key, session.clone());
        Ok(session)
    }

    fn script_for(&self, step: &Step, server: &Server, context: &Scripting) -> (String, String) {
        let layout = self.layout(server, context);
        match &step.work {
            Work::CloneRelease => (
                server.connect_as.clone(),
                scripts::clone(&layout, &context.sha, context.laravel, &context.links),
            ),
            Work::InstallComposer => (
                server.connect_as.clone(),
                scripts::composer(
                    &layout,
                    &server.composer_path,
                    context.composer_dev,
                    context.composer_quiet,
                ),
            ),
            Work::Activate => {
                let fpm = server
                    .should_restart_fpm
                    .then(|| scripts::fpm_service(&server.php_version))
                    .flatten();
                (
                    server.connect_as.clone(),
                    scripts::activate(&layout, fpm.as_deref()),
                )
            }
            Work::Purge => (
                server.connect_as.clone(),
                scripts::purge(&layout, context.retain),
            ),
            Work::Teardown { script } => {
                let live = layout.current();
                let values = [
                    ("release", live.as_str()),
                    ("time", ""),
                    ("project", server.deployment_path.as_str()),
                    ("sha", ""),
                    ("branch", context.branch.as_str()),
                    ("author", ""),
                    ("message", ""),
                    ("name", context.name.as_str()),
                    ("php", server.php_path.as_str()),
                    ("composer", server.composer_path.as_str()),
                    ("environment", server.environment.as_str()),
                    ("environment_slug", context.environment_slug.as_str()),
                ];
                (server.connect_as.clone(), scripts::hook(script, &values))
            }
            Work::Hook { script, run_as, .. } => {
                let release = layout.release();
                let values = [
                    ("release", release.as_str()),
                    ("time", context.time.as_str()),
                    ("project", server.deployment_path.as_str()),
                    ("sha", context.sha.as_str()),
                    ("branch", context.branch.as_str()),
                    ("author", context.author.as_str()),
                    ("message", context.message.as_str()),
                    ("name", context.name.as_str()),
                    ("php", server.php_path.as_str()),
                    ("composer", server.composer_path.as_str()),
                    ("environment", server.environment.as_str()),
                    ("environment_slug", context.environment_slug.as_str()),
                ];
                (run_as.clone(), scripts::hook(script, &values))
            }
        }
    }

    /// Runs one step on all its servers at once and waits for every one of them.
    async fn run_step(
        &self,
        step: &Step,
        processes: &[(ServerId, i64)],
        context: &Scripting,
    ) -> Vec<(ServerId, Outcome)> {
        let runs = processes.iter().map(|(server_id, process)| async move {
            let Some(server) = self.servers.get(server_id) else {
                return (*server_id, Outcome::Failed("the server was removed".into()));
            };
            let (user, script) = self.script_for(step, server, context);
            let stdin = step.work == Work::CloneRelease;
            let outcome = self
                .run_process(server, &user, *process, &script, stdin)
                .await;
            (*server_id, outcome)
        });
        join_all(runs).await
    }

    async fn run_process(
        &self,
        server: &Server,
        user: &str,
        process: i64,
        script: &str,
        with_archive: bool,
    ) -> Outcome {
        let store = &self.app.store;
        let hub = &self.app.engine.hub;
        let _ = db::deployments::set_process_status(
            &mut &*store,
            process,
            "running",
            Some(Timestamp::now()),
            None,
            Timestamp::now(),
        )
        .await;
        hub.publish(
            self.id,
            LogEvent::Process {
                process_id: process,
                status: "running".into(),
            },
        );
        let mut output = Output::new(self, process, &server.name);
        let outcome = match self.session(server, user).await {
            Err(err) => {
                output.push(format!("{err}\n").as_bytes());
                Outcome::Failed(format!("{}: {err}", server.name))
            }
            Ok(session) => {
                let pidfile = scripts::pidfile(&self.app.engine.node, self.id.0, process);
                let command = scripts::supervised(script, &pidfile);
                self.exec(
                    &session,
                    &command,
                    &pidfile,
                    with_archive,
                    &mut output,
                    &server.name,
                )
                .await
            }
        };
        let status = match &outcome {
            Outcome::Finished => "finished",
            Outcome::Failed(_) => "error",
            Outcome::Cancelled => "cancelled",
        };
        let _ = db::deployments::finish_process(
            &mut &*store,
            process,
            status,
            &output.text(),
            Timestamp::now(),
        )
        .await;
        hub.publish(
            self.id,
            LogEvent::Process {
                process_id: process,
                status: status.into(),
            },
        );
        outcome
    }

    async fn exec(
        &self,
        session: &Session,
        command: &str,
        pidfile: &str,
        with_archive: bool,
        output: &mut Output<'_>,
        server_name: &str,
    ) -> Outcome {
        let mut cancel = self.cancel.clone();
        let archive = if with_archive {
            match tokio::fs::File::open(&self.archive).await {
                Ok(file) => Some(file),
                Err(err) => return Outcome::Failed(format!("the release archive: {err}")),
            }
        } else {
            None
        };
        let result = {
            let mut sink = |chunk: &[u8]| output.push(chunk);
            let running = session.exec(command, archive, &mut sink);
            tokio::select! {
                result = running => Some(result),
                _ = cancel.wait_for(|c| *c) => None,
                _ = tokio::time::sleep(self.timeout) => Some(Err(SshError::Timeout(self.timeout.as_secs()))),
            }
        };
        match result {
            Some(Ok(exit)) if exit.success() => Outcome::Finished,
            Some(Ok(exit)) => Outcome::Failed(format!(
                "{server_name}: exited with {}",
                match exit {
                    crate::ssh::Exit::Code(code) => format!("status {code}"),
                    crate::ssh::Exit::Signal => "a signal".to_owned(),
                }
            )),
            Some(Err(SshError::Timeout(seconds))) => {
                output.push(format!("\n[timed out after {seconds} s]\n").as_bytes());
                self.kill(session, pidfile).await;
                Outcome::Failed(format!("{server_name}: timed out after {seconds} s"))
            }
            Some(Err(err)) => {
                output.push(format!("\n[{err}]\n").as_bytes());
                Outcome::Failed(format!("{server_name}: {err}"))
            }
            None => {
                output.push(b"\n[cancelled]\n");
                self.kill(session, pidfile).await;
                Outcome::Cancelled
            }
        }
    }

    /// Stops a supervised command's whole process group.
    async fn kill(&self, session: &Session, pidfile: &str) {
        let script = scripts::kill(pidfile);
        let mut ignore = |_: &[u8]| {};
        let stop = session.exec(&script, None::<&[u8]>, &mut ignore);
        let _ = tokio::time::timeout(Duration::from_secs(15), stop).await;
    }

    /// Runs an internal command (not recorded as a process) as the server's user.
    async fn internal(&self, server: &Server, script: &str) -> Result<String, String> {
        let session = self
            .session(server, &server.connect_as)
            .await
            .map_err(|e| format!("{}: {e}", server.name))?;
        let mut text = Vec::new();
        let mut collect = |chunk: &[u8]| text.extend_from_slice(chunk);
        let exec = session.exec(script, None::<&[u8]>, &mut collect);
        let result = tokio::time::timeout(CONNECT_TIMEOUT * 2, exec).await;
        match result {
            Ok(Ok(exit)) if exit.success() => Ok(String::from_utf8_lossy(&text).into_owned()),
            Ok(Ok(_)) => Err(format!(
                "{}: {}",
                server.name,
                String::from_utf8_lossy(&text).trim()
            )),
            Ok(Err(err)) => Err(format!("{}: {err}", server.name)),
            Err(_) => Err(format!("{}: timed out", server.name)),
        }
    }

    async fn read_current(
        &self,
        servers: &[ServerId],
        context: &Scripting,
    ) -> Result<HashMap<ServerId, String>, String> {
        let reads = servers
            .iter()
            .filter_map(|id| self.servers.get(id))
            .map(|server| async move {
                let layout = self.layout(server, context);
                let target = self
                    .internal(server, &scripts::read_current(&layout))
                    .await?;
                Ok::<_, String>((server.id, target.trim().to_owned()))
            });
        join_all(reads).await.into_iter().collect()
    }

    async fn switch_back(
        &self,
        servers: &[ServerId],
        previous: &HashMap<ServerId, String>,
        context: &Scripting,
    ) {
        let switches = servers.iter().filter_map(|id| self.servers.get(id)).map(
            |server| async move {
                let layout = self.layout(server, context);
                let script = match previous.get(&server.id).filter(|p| !p.is_empty()) {
                    Some(target) => scripts::switch(&layout, target),
                    None => format!("rm -f {}\n", crate::ssh::quote(&layout.current())),
                };
                if let Err(err) = self.internal(server, &script).await {
                    tracing::warn!(deployment = %self.id, error = %err, "switching back failed");
                }
            },
        );
        join_all(switches).await;
    }

    async fn remove_release(&self, servers: &[ServerId], time: &str) {
        let removals = servers.iter().filter_map(|id| self.servers.get(id)).map(|server| async move {
            let layout = Layout {
                base: server.deployment_path.clone(),
                time: time.to_owned(),
            };
            if let Err(err) = self.internal(server, &scripts::remove_release(&layout)).await {
                tracing::warn!(deployment = %self.id, error = %err, "removing a release failed");
            }
        });
        join_all(removals).await;
    }

    async fn close(self) {
        let sessions: Vec<Arc<Session>> =
            self.sessions.lock().await.drain().map(|(_, s)| s).collect();
        for session in sessions {
            if let Ok(session) = Arc::try_unwrap(session) {
                session.close().await;
            }
        }
    }
}

fn failures(outcomes: &[(ServerId, Outcome)]) -> Vec<String> {
    outcomes
        .iter()
        .filter_map(|(_, o)| match o {
            Outcome::Failed(reason) => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

/// A process's output: kept up to 1 MiB, and published live as it arrives.
struct Output<'a> {
    run: &'a Run<'a>,
    process: i64,
    server: String,
    bytes: Vec<u8>,
    truncated: bool,
}

impl<'a> Output<'a> {
    fn new(run: &'a Run<'a>, process: i64, server: &str) -> Output<'a> {
        Output {
            run,
            process,
            server: server.to_owned(),
            bytes: Vec::new(),
            truncated: false,
        }
    }

    fn push(&mut self, chunk: &[u8]) {
        if self.truncated {
            return;
        }
        let room = OUTPUT_CAP.saturating_sub(self.bytes.len());
        let kept = &chunk[..chunk.len().min(room)];
        self.bytes.extend_from_slice(kept);
        self.run.app.engine.hub.publish(
            self.run.id,
            LogEvent::Output {
                process_id: self.process,
                server: Some(self.server.clone()),
                text: String::from_utf8_lossy(kept).into_owned(),
            },
        );
        if kept.len() < chunk.len() {
            self.truncated = true;
            self.bytes
                .extend_from_slice(b"\n[output truncated at 1 MiB]\n");
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).replace('\0', "")
    }
}

/// Connects to `server` as its user and runs `script` once, feeding it `stdin` when given:
/// for connection checks, `.env` writes and clean-ups outside a deployment. The host key is
/// pinned on the first success, as during deployments. Answers the command's output, or why
/// it failed.
pub(crate) async fn run_once_with_input(
    app: &App,
    server: &Server,
    script: &str,
    stdin: Option<&[u8]>,
) -> Result<String, String> {
    let sealed = db::servers::private_key_sealed(&mut &app.store, server.id)
        .await
        .map_err(|e| e.to_string())?;
    let text = app
        .vault
        .open(&sealed)
        .map_err(|e| e.to_string())
        .and_then(|bytes| String::from_utf8(bytes).map_err(|e| e.to_string()))?;
    let key = crate::ssh::load_private_key(&text).ok_or("the server key does not load")?;
    let target = Target {
        host: server.host.clone(),
        port: u16::try_from(server.port).unwrap_or(22),
        user: server.connect_as.clone(),
    };
    let session = Session::connect(&target, key, server.host_key.as_deref(), CONNECT_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    if server.host_key.is_none() {
        pin(app, server, &session.host_key)
            .await
            .map_err(|e| e.to_string())?;
    }
    let mut output = Vec::new();
    let mut collect = |chunk: &[u8]| output.extend_from_slice(chunk);
    let exec = session.exec(script, stdin, &mut collect);
    let result = tokio::time::timeout(CONNECT_TIMEOUT * 4, exec).await;
    session.close().await;
    let text = String::from_utf8_lossy(&output).trim().to_owned();
    match result {
        Ok(Ok(exit)) if exit.success() => Ok(text),
        Ok(Ok(_)) if text.is_empty() => Err("the command failed".into()),
        Ok(Ok(_)) => Err(text),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err("timed out".into()),
    }
}

pub(crate) async fn run_once(app: &App, server: &Server, script: &str) -> Result<String, String> {
    run_once_with_input(app, server, script, None).await
}

/// Pins the host key a first connection saw, unless another connection pinned a different
/// key first: then this connection is refused, as for a changed key.
async fn pin(app: &App, server: &Server, seen: &str) -> Result<(), SshError> {
    let lost = |e: crate::error::Error| SshError::Lost(e.to_string());
    db::servers::pin_host_key(&mut &app.store, server.id, seen)
        .await
        .map_err(lost)?;
    let pinned = db::servers::get(&mut &app.store, server.project_id, server.id)
        .await
        .map_err(lost)?
        .and_then(|s| s.host_key);
    match pinned {
        Some(key) if key.split_whitespace().nth(1) != seen.split_whitespace().nth(1) => {
            Err(SshError::HostKeyChanged {
                target: server.name.clone(),
                expected: crate::ssh::fingerprint(&key),
                actual: crate::ssh::fingerprint(seen),
            })
        }
        _ => Ok(()),
    }
}

/// Stopping an environment: its on_stop script on each of its servers, recorded like a
/// deployment, then the environment is stopped.
async fn teardown(
    app: &App,
    deployment: &db::deployments::Deployment,
    view: &projects::ProjectView,
    cancel: watch::Receiver<bool>,
) -> anyhow::Result<Ending> {
    let environment = db::environments::get_by_name(
        &mut &app.store,
        deployment.project_id,
        &deployment.environment,
    )
    .await?;
    let Some(environment) = environment else {
        return Ok(Ending::error("The environment no longer exists."));
    };
    let ending = match (&environment.on_stop, view.servers.is_empty()) {
        (Some(script), false) => {
            let step = Step {
                name: "Stop Environment".to_owned(),
                action_id: 0,
                work: Work::Teardown {
                    script: script.clone(),
                },
                servers: view.servers.iter().map(|s| s.id).collect(),
            };
            let mut processes = Vec::new();
            for server in &view.servers {
                let process = db::deployments::insert_process(
                    &mut &app.store,
                    deployment.id,
                    deployment.project_id,
                    &NewProcess {
                        server_id: Some(server.id.0),
                        server_name: Some(server.name.clone()),
                        sequence: 1,
                        name: step.name.clone(),
                        action_id: None,
                        hook_id: None,
                        status: "pending".into(),
                    },
                    Timestamp::now(),
                )
                .await?;
                processes.push((server.id, process));
            }
            let run = Run::new(app, deployment.id, view, cancel, PathBuf::new()).await?;
            let context = Scripting {
                environment_slug: environment.slug.clone(),
                time: String::new(),
                sha: String::new(),
                branch: view.project.branch.clone(),
                author: String::new(),
                message: String::new(),
                name: view.project.name.clone(),
                laravel: false,
                links: Vec::new(),
                retain: view.project.retain_deployments,
                composer_dev: false,
                composer_quiet: false,
            };
            let outcomes = run.run_step(&step, &processes, &context).await;
            run.close().await;
            let failures = failures(&outcomes);
            if outcomes.iter().any(|(_, o)| *o == Outcome::Cancelled) {
                Ending::cancelled(false)
            } else if failures.is_empty() {
                Ending::finished()
            } else {
                Ending::error(failures.join("; "))
            }
        }
        _ => Ending::finished(),
    };
    db::environments::finish_stopping(&mut &app.store, environment.id, Timestamp::now()).await?;
    Ok(ending)
}
