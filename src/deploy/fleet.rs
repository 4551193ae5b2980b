//! Running steps on a fleet: each step on all its servers at once, and a barrier before the
//! next; activation switches every server or, on any failure, switches every server back; the
//! health gate after activation does the same when the monitor does not answer.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::sync::watch;

use super::hub::LogEvent;
use super::plan::{Step, Work};
use super::remote::Pool;
use super::scripts::{self, Layout, Link, Shipment};
use super::source::Source;
use crate::app::App;
use crate::db::{self, servers::Server};
use crate::domain::deployment::{DeploymentStatus, Ending, ProcessStatus};
use crate::domain::ids::{DeploymentId, ProjectId, ReleaseId, ServerId};
use crate::domain::time::Timestamp;
use crate::ssh::{Session, SshError};

/// Most output kept per process.
const OUTPUT_CAP: usize = 1024 * 1024;
/// How often the health gate asks the monitor.
const GATE_POLL: Duration = Duration::from_secs(1);

/// How a step ended on one server.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Outcome {
    Finished,
    Failed(String),
    Cancelled,
}

/// A step's process on each of its servers (`None`: the step runs on Slipway itself).
pub(super) type Processes = Vec<(Option<ServerId>, i64)>;

/// What the scripts of one run are made from.
pub(super) struct Scripting {
    pub environment_slug: String,
    /// The release directory's name, `YmdHis`: the new release, or a rollback's target.
    pub time: String,
    pub sha: String,
    pub branch: String,
    pub author: String,
    pub message: String,
    pub name: String,
    pub laravel: bool,
    pub links: Vec<Link>,
    pub composer_dev: bool,
    pub composer_quiet: bool,
    /// The project ships deltas: servers keep a source copy (and a spare of it).
    pub delta_releases: bool,
    /// The live release whose `vendor/` the new one starts from (its Composer files are
    /// the same).
    pub reuse_vendor: Option<String>,
    /// The release directories Purge Old Releases keeps.
    pub keep: Vec<String>,
}

/// The release a run makes live, and how it is recorded.
pub(super) struct Activation {
    pub project: ProjectId,
    pub environment: String,
    pub release: ReleaseId,
    /// A deployment builds its release (and removes it when it fails); a rollback activates
    /// one that is already there.
    pub builds: bool,
    /// The release live before this run, recorded as live again when the gate switches back.
    pub previous: Option<ReleaseId>,
    /// That release's directory name: where a server that did not say where `current`
    /// pointed is switched back to, if it switched.
    pub previous_name: Option<String>,
    /// What retention removes once the release is live.
    pub purged: Vec<ReleaseId>,
}

/// Everything a running deployment holds: its servers, their sessions and the cancel signal.
pub(super) struct Run<'a> {
    app: &'a App,
    id: DeploymentId,
    servers: HashMap<ServerId, Server>,
    pool: Pool<'a>,
    cancel: watch::Receiver<bool>,
    timeout: Duration,
    /// What a deployment ships, once it is prepared (a rollback ships nothing).
    source: Option<&'a OnceLock<Source>>,
    /// Where `current` pointed on each server before activation, as each server said while
    /// activating ("" when there was no `current`).
    live_before: std::sync::Mutex<HashMap<ServerId, String>>,
    /// A switch back failed somewhere: the release stays where it is live.
    stuck: std::sync::atomic::AtomicBool,
}

/// A server that could not be switched back, and why.
struct Stuck {
    server: ServerId,
    error: String,
}

impl<'a> Run<'a> {
    pub(super) async fn new(
        app: &'a App,
        id: DeploymentId,
        servers: &[Server],
        step_timeout: Duration,
        cancel: watch::Receiver<bool>,
        source: Option<&'a OnceLock<Source>>,
    ) -> anyhow::Result<Run<'a>> {
        Ok(Run {
            app,
            id,
            servers: servers.iter().map(|s| (s.id, s.clone())).collect(),
            pool: Pool::new(app, servers).await?,
            cancel,
            timeout: step_timeout,
            source,
            live_before: std::sync::Mutex::default(),
            stuck: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Opens the sessions the first steps need, ahead of them.
    pub(super) async fn connect_code_servers(&self) {
        let servers: Vec<&Server> = self
            .servers
            .values()
            .filter(|s| s.receives_code_deployments)
            .collect();
        self.pool.connect_all(&servers).await;
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

    fn code_servers(&self) -> Vec<ServerId> {
        let mut ids: Vec<ServerId> = self
            .servers
            .values()
            .filter(|s| s.receives_code_deployments)
            .map(|s| s.id)
            .collect();
        ids.sort();
        ids
    }

    /// Runs the steps in order with a barrier after each, and leaves every server either on
    /// the new release or on the one it served before.
    pub(super) async fn steps(
        &self,
        steps: &[Step],
        processes: &[Processes],
        context: &Scripting,
        activation: Option<&Activation>,
    ) -> Ending {
        let mut activated = false;
        for (step, processes) in steps.iter().zip(processes) {
            if self.cancelled() {
                return self.stop_cancelled(activation, activated).await;
            }
            match &step.work {
                Work::Activate => {
                    if let Some(activation) = activation.filter(|a| a.builds) {
                        self.record(
                            "a complete release",
                            db::releases::mark_complete(
                                &mut &self.app.store,
                                activation.release,
                                Timestamp::now(),
                            )
                            .await,
                        );
                    }
                    // Each server says where `current` pointed as it switches.
                    self.live_before().clear();
                    let outcomes = self.run_step(step, processes, context).await;
                    if outcomes.iter().all(|(_, o)| *o == Outcome::Finished) {
                        activated = true;
                        if let Some(activation) = activation {
                            self.record_activation(activation, &step.servers).await;
                        }
                        continue;
                    }
                    // A failure or a cancel on any server: every server of the step goes
                    // back, not only those that finished, since a server may have switched and
                    // then failed (a PHP-FPM reload, a timeout). Switching back to the previous
                    // release is harmless where nothing switched.
                    let stuck = self.switch_back(&step.servers, context, activation).await;
                    let failures = failures(&outcomes);
                    let mut ending = if failures.is_empty() {
                        Ending::cancelled()
                    } else {
                        Ending::error(failures.join("; "))
                    };
                    if !stuck.is_empty() {
                        self.keep_live_where_stuck(activation, &stuck).await;
                        ending = with_stuck(ending, &stuck);
                    }
                    return self.stop(activation, false, ending).await;
                }
                Work::HealthGate { url, seconds } => {
                    let Some((_, process)) = processes.first() else {
                        continue;
                    };
                    match self.health_gate(*process, url, *seconds).await {
                        Outcome::Finished => {}
                        Outcome::Cancelled => {
                            return self.stop_cancelled(activation, activated).await;
                        }
                        Outcome::Failed(reason) => {
                            let servers = self.code_servers();
                            // Recorded before the switch: a restart in between finishes the
                            // switch back rather than undo it.
                            if let Some(activation) = activation {
                                self.record_switch_back(activation, &servers).await;
                            }
                            let stuck = self.switch_back(&servers, context, activation).await;
                            let mut ending = Ending {
                                status: DeploymentStatus::Error,
                                error: Some(format!(
                                    "The health gate failed: {reason}. Every server was \
                                     switched back to the release it served before."
                                )),
                                rolled_back: true,
                            };
                            if !stuck.is_empty() {
                                self.keep_live_where_stuck(activation, &stuck).await;
                                ending = with_stuck(ending, &stuck);
                            }
                            return self.stop(activation, false, ending).await;
                        }
                    }
                }
                _ => {
                    if step.work == Work::Purge
                        && let Some(activation) = activation
                    {
                        // Recorded first: a release half removed is no rollback target.
                        self.record(
                            "purged releases",
                            db::releases::purge(
                                &mut &self.app.store,
                                &activation.purged,
                                Timestamp::now(),
                            )
                            .await,
                        );
                    }
                    let outcomes = self.run_step(step, processes, context).await;
                    if outcomes.iter().any(|(_, o)| *o == Outcome::Cancelled) {
                        return self.stop_cancelled(activation, activated).await;
                    }
                    let failures = failures(&outcomes);
                    if !failures.is_empty() {
                        let mut ending = Ending::error(failures.join("; "));
                        if activated {
                            ending.error = ending.error.map(|e| {
                                format!("{e} (after activation: {})", live_now(activation))
                            });
                        }
                        return self.stop(activation, activated, ending).await;
                    }
                }
            }
        }
        Ending::finished()
    }

    /// Where `current` pointed on each server before activation.
    fn live_before(&self) -> std::sync::MutexGuard<'_, HashMap<ServerId, String>> {
        self.live_before.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ends a cancelled run; once the switch was made, the record says what is live now.
    async fn stop_cancelled(&self, activation: Option<&Activation>, activated: bool) -> Ending {
        let ending = self.cancelled_ending(activated, activation);
        self.stop(activation, activated, ending).await
    }

    fn cancelled_ending(&self, activated: bool, activation: Option<&Activation>) -> Ending {
        let mut ending = Ending::cancelled();
        if activated {
            ending.error = Some(format!(
                "Cancelled after activation: {}.",
                live_now(activation)
            ));
        }
        ending
    }

    /// Logs a failure to record what happened; the servers are what they are regardless.
    fn record(&self, what: &str, result: crate::error::Result<()>) {
        if let Err(err) = result {
            tracing::error!(deployment = %self.id, error = %err, "recording {what} failed");
        }
    }

    /// Records, in one transaction, that `current` points at the release on `servers`.
    async fn record_activation(&self, activation: &Activation, servers: &[ServerId]) {
        let recorded = async {
            let mut tx = self.app.store.begin().await?;
            db::releases::activate(
                &mut tx,
                activation.project,
                &activation.environment,
                activation.release,
                servers,
                Timestamp::now(),
            )
            .await?;
            tx.commit().await
        };
        self.record("an activation", recorded.await);
    }

    /// Records, in one transaction, that the new release failed and that `servers` serve the
    /// release live before it again.
    async fn record_switch_back(&self, activation: &Activation, servers: &[ServerId]) {
        let recorded = async {
            let now = Timestamp::now();
            let mut tx = self.app.store.begin().await?;
            db::releases::fail(&mut tx, activation.release, false, now).await?;
            match activation.previous {
                Some(previous) => {
                    db::releases::activate(
                        &mut tx,
                        activation.project,
                        &activation.environment,
                        previous,
                        servers,
                        now,
                    )
                    .await?
                }
                None => db::releases::place_live(&mut tx, activation.release, &[]).await?,
            }
            tx.commit().await
        };
        self.record("a switch back", recorded.await);
    }

    /// Servers that could not be switched back still serve the release: so say the records.
    async fn keep_live_where_stuck(&self, activation: Option<&Activation>, stuck: &[Stuck]) {
        if let Some(activation) = activation {
            let servers: Vec<ServerId> = stuck.iter().map(|s| s.server).collect();
            self.record(
                "servers left on the release",
                db::releases::place_live(&mut &self.app.store, activation.release, &servers).await,
            );
        }
    }

    /// Ends a run early. A deployment's release that did not go live is removed from every
    /// server and marked failed; one that went live before a failure or a cancel stays live,
    /// but failed: a release whose run did not finish is never a rollback target.
    async fn stop(
        &self,
        activation: Option<&Activation>,
        activated: bool,
        ending: Ending,
    ) -> Ending {
        let now = Timestamp::now();
        if let Some(activation) = activation.filter(|a| a.builds) {
            let store = &mut &self.app.store;
            if !activated {
                let time = db::deployments::get_by_id(store, self.id)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|d| d.release_name);
                if let Some(time) = time {
                    self.remove_release(&self.code_servers(), &time).await;
                }
                // A server left on the release (its switch back failed) keeps it.
                let removed = !self.stuck.load(std::sync::atomic::Ordering::Relaxed);
                self.record(
                    "a failed release",
                    db::releases::fail(store, activation.release, removed, now).await,
                );
            } else if ending.status != DeploymentStatus::Finished {
                self.record(
                    "a failed release",
                    db::releases::fail(store, activation.release, false, now).await,
                );
            }
        }
        let _ = db::deployments::close_open_processes(
            &mut &self.app.store,
            self.id,
            if ending.status == DeploymentStatus::Cancelled {
                ProcessStatus::Cancelled
            } else {
                ProcessStatus::Skipped
            },
            now,
        )
        .await;
        ending
    }

    /// The user a step runs as on `server`, and its script (a clone's depends on what the
    /// server receives: `shipment`).
    fn script_for(
        &self,
        step: &Step,
        server: &Server,
        context: &Scripting,
        shipment: &Shipment,
    ) -> (String, String) {
        let layout = self.layout(server, context);
        let user = server.connect_as.clone();
        match &step.work {
            Work::CloneRelease => (
                user,
                scripts::clone(
                    &layout,
                    &context.sha,
                    shipment,
                    context.laravel,
                    &context.links,
                ),
            ),
            Work::InstallComposer => (
                user,
                scripts::composer(
                    &layout,
                    &server.composer_path,
                    context.composer_dev,
                    context.composer_quiet,
                    context.reuse_vendor.as_deref(),
                ),
            ),
            Work::Activate => {
                let fpm = server
                    .should_restart_fpm
                    .then(|| scripts::fpm_service(&server.php_version))
                    .flatten();
                (user, scripts::activate(&layout, fpm.as_deref()))
            }
            Work::Purge => {
                // The release live before this one stays, recorded or not.
                let mut keep = context.keep.clone();
                if let Some(before) = self.live_before().get(&server.id) {
                    keep.extend(before.rsplit('/').next().map(str::to_owned));
                }
                let spare = context.delta_releases && super::source::keeps_source(server);
                (user, scripts::purge(&layout, &keep, spare))
            }
            Work::Teardown { script } => {
                let live = layout.current();
                let values = variables(server, context, &live, false);
                (user, scripts::hook(script, &values))
            }
            Work::Hook { script, run_as, .. } => {
                let release = layout.release();
                let values = variables(server, context, &release, true);
                (run_as.clone(), scripts::hook(script, &values))
            }
            // Never sent to a server: the gate runs here.
            Work::HealthGate { .. } => (user, String::from("true\n")),
        }
    }

    /// Runs one step on all its servers at once and waits for every one of them.
    pub(super) async fn run_step(
        &self,
        step: &Step,
        processes: &Processes,
        context: &Scripting,
    ) -> Vec<(ServerId, Outcome)> {
        let runs = processes.iter().filter_map(|(server_id, process)| {
            let server_id = (*server_id)?;
            Some(async move {
                let Some(server) = self.servers.get(&server_id) else {
                    return (server_id, Outcome::Failed("the server was removed".into()));
                };
                let outcome = self.run_process(server, step, *process, context).await;
                (server_id, outcome)
            })
        });
        join_all(runs).await
    }

    async fn set_running(&self, process: i64) {
        let now = Timestamp::now();
        let _ = db::deployments::set_process_status(
            &mut &self.app.store,
            process,
            ProcessStatus::Running,
            Some(now),
            None,
            now,
        )
        .await;
        self.app.engine.hub.publish(
            self.id,
            LogEvent::Process {
                process_id: process,
                status: ProcessStatus::Running.as_str().into(),
            },
        );
    }

    async fn set_ended(
        &self,
        process: i64,
        outcome: &Outcome,
        output: &Output<'_>,
        started: std::time::Instant,
    ) {
        let status = match outcome {
            Outcome::Finished => ProcessStatus::Finished,
            Outcome::Failed(_) => ProcessStatus::Error,
            Outcome::Cancelled => ProcessStatus::Cancelled,
        };
        self.app.metrics.step_ended(status, started.elapsed());
        let _ = db::deployments::finish_process(
            &mut &self.app.store,
            process,
            status,
            &output.text(),
            Timestamp::now(),
        )
        .await;
        self.app.engine.hub.publish(
            self.id,
            LogEvent::Process {
                process_id: process,
                status: status.as_str().into(),
            },
        );
    }

    async fn run_process(
        &self,
        server: &Server,
        step: &Step,
        process: i64,
        context: &Scripting,
    ) -> Outcome {
        let started = std::time::Instant::now();
        self.set_running(process).await;
        let mut output = Output::new(self, process, Some(&server.name));
        let outcome = self
            .run_on(server, step, process, context, &mut output)
            .await;
        self.set_ended(process, &outcome, &output, started).await;
        outcome
    }

    async fn run_on(
        &self,
        server: &Server,
        step: &Step,
        process: i64,
        context: &Scripting,
        output: &mut Output<'_>,
    ) -> Outcome {
        let (user, script) = self.script_for(step, server, context, &Shipment::Full);
        let session = match self.pool.session(server, &user).await {
            Ok(session) => session,
            Err(err) => {
                output.push(format!("{err}\n").as_bytes());
                return Outcome::Failed(format!("{}: {err}", server.name));
            }
        };
        let pidfile = scripts::pidfile(&self.app.engine.node, self.id.0, process);
        if step.work == Work::CloneRelease {
            return self
                .clone_release(&session, server, step, context, &pidfile, output)
                .await;
        }
        if step.work == Work::Activate {
            output.take_first_line(scripts::LIVE_BEFORE);
        }
        let command = scripts::supervised(&script, &pidfile);
        let ended = self.exec(&session, &command, &pidfile, None, output).await;
        if let Some(before) = output.first_line() {
            self.live_before().insert(server.id, before.to_owned());
        }
        outcome(ended, &step.work, output, &server.name)
    }

    /// Clone New Release: the delta planned for the server, or the whole tree; and the whole
    /// tree after all when the server's source copy is not what was recorded.
    async fn clone_release(
        &self,
        session: &Session,
        server: &Server,
        step: &Step,
        context: &Scripting,
        pidfile: &str,
        output: &mut Output<'_>,
    ) -> Outcome {
        let Some(source) = self.source.and_then(OnceLock::get) else {
            return Outcome::Failed(format!("{}: there is nothing to ship", server.name));
        };
        let mut shipment = source.shipment(server.id).await;
        loop {
            let (kind, file) = match shipment {
                Ok(shipment) => shipment,
                Err(err) => return Outcome::Failed(format!("the release archive: {err:#}")),
            };
            let (_, script) = self.script_for(step, server, context, &kind);
            let command = scripts::supervised(&script, pidfile);
            let ended = self
                .exec(session, &command, pidfile, Some(file), output)
                .await;
            let base_missing = Ended::Exit(crate::ssh::Exit::Code(scripts::BASE_MISSING));
            if kind != Shipment::Full && ended == base_missing {
                shipment = source
                    .full_archive()
                    .await
                    .map(|path| (Shipment::Full, path));
                continue;
            }
            let outcome = outcome(ended, &step.work, output, &server.name);
            if outcome == Outcome::Finished {
                self.record(
                    "the server's source commit",
                    db::servers::set_source_commit(&mut &self.app.store, server.id, &context.sha)
                        .await,
                );
            }
            return outcome;
        }
    }

    /// Asks the monitor every second until it answers with a 2xx or `seconds` run out.
    async fn health_gate(&self, process: i64, url: &str, seconds: u64) -> Outcome {
        let started = std::time::Instant::now();
        self.set_running(process).await;
        let mut output = Output::new(self, process, None);
        let shown = crate::net::without_credentials(url);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
        let mut cancel = self.cancel.clone();
        let mut last_error: String;
        let outcome = loop {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let probe = tokio::select! {
                probe = tokio::time::timeout(remaining, self.app.outbound.probe(url)) => probe,
                _ = cancel.wait_for(|c| *c) => break Outcome::Cancelled,
            };
            match probe {
                Ok(probe) if probe.healthy => {
                    output.push(
                        format!(
                            "GET {shown}: {} in {} ms: healthy\n",
                            probe.http_status.unwrap_or_default(),
                            probe.response_ms
                        )
                        .as_bytes(),
                    );
                    break Outcome::Finished;
                }
                Ok(probe) => {
                    last_error = probe.error.unwrap_or_else(|| "no answer".into());
                    output.push(
                        format!("GET {shown}: {last_error} ({} ms)\n", probe.response_ms)
                            .as_bytes(),
                    );
                }
                Err(_) => last_error = "no answer in time".into(),
            }
            let pause =
                GATE_POLL.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
            if pause.is_zero() {
                break Outcome::Failed(format!(
                    "{shown} did not answer with a 2xx within {seconds} s (last: {last_error})"
                ));
            }
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = cancel.wait_for(|c| *c) => break Outcome::Cancelled,
            }
        };
        self.set_ended(process, &outcome, &output, started).await;
        outcome
    }

    /// Runs `command` with `stdin` (a file) on its standard input, its output into
    /// `output`, until it ends, the step's time runs out or the run is cancelled; the last
    /// two stop it on the server.
    async fn exec(
        &self,
        session: &Session,
        command: &str,
        pidfile: &str,
        stdin: Option<&std::path::Path>,
        output: &mut Output<'_>,
    ) -> Ended {
        let mut cancel = self.cancel.clone();
        let stdin = match stdin {
            Some(path) => match tokio::fs::File::open(path).await {
                Ok(file) => Some(file),
                Err(err) => return Ended::Error(format!("the release archive: {err}")),
            },
            None => None,
        };
        let result = {
            let mut sink = |chunk: &[u8]| output.push(chunk);
            let running = session.exec(command, stdin, &mut sink);
            tokio::select! {
                result = running => Some(result),
                _ = cancel.wait_for(|c| *c) => None,
                _ = tokio::time::sleep(self.timeout) => Some(Err(SshError::Timeout(self.timeout.as_secs()))),
            }
        };
        match result {
            Some(Ok(exit)) => Ended::Exit(exit),
            Some(Err(SshError::Timeout(seconds))) => {
                output.push(format!("\n[timed out after {seconds} s]\n").as_bytes());
                self.kill(session, pidfile).await;
                Ended::TimedOut(seconds)
            }
            Some(Err(err)) => {
                output.push(format!("\n[{err}]\n").as_bytes());
                Ended::Error(err.to_string())
            }
            None => {
                output.push(b"\n[cancelled]\n");
                self.kill(session, pidfile).await;
                Ended::Cancelled
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

    /// Points `current` on each server back where it pointed before activation; answers the
    /// servers where that failed. A server that did not say where `current` pointed (its
    /// output did not start with the line) is put back on the release recorded as live
    /// before, or, on a first deployment, loses a `current` that points at this run's.
    async fn switch_back(
        &self,
        servers: &[ServerId],
        context: &Scripting,
        activation: Option<&Activation>,
    ) -> Vec<Stuck> {
        let previous = self.live_before().clone();
        let recorded = activation.and_then(|a| a.previous_name.as_deref());
        let switches = servers
            .iter()
            .filter_map(|id| self.servers.get(id))
            .map(|server| {
                let target = previous.get(&server.id).cloned();
                async move {
                    let layout = self.layout(server, context);
                    let script = match target {
                        Some(target) if target.is_empty() => {
                            format!("rm -f {}\n", crate::ssh::quote(&layout.current()))
                        }
                        Some(target) => scripts::switch(&layout, &target),
                        None => scripts::restore(&layout, recorded),
                    };
                    let switched = self.pool.internal(server, &script).await;
                    switched.err().map(|error| {
                        tracing::warn!(deployment = %self.id, %error, "switching back failed");
                        Stuck {
                            server: server.id,
                            error,
                        }
                    })
                }
            });
        let stuck: Vec<Stuck> = join_all(switches).await.into_iter().flatten().collect();
        if !stuck.is_empty() {
            self.stuck.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        stuck
    }

    async fn remove_release(&self, servers: &[ServerId], time: &str) {
        let removals = servers.iter().filter_map(|id| self.servers.get(id)).map(|server| async move {
            let layout = Layout {
                base: server.deployment_path.clone(),
                time: time.to_owned(),
            };
            if let Err(err) = self.pool.internal(server, &scripts::remove_release(&layout)).await {
                tracing::warn!(deployment = %self.id, error = %err, "removing a release failed");
            }
        });
        join_all(removals).await;
    }

    pub(super) async fn close(self) {
        self.pool.close().await;
    }
}

/// The values of a script's `{{ var }}` placeholders on one server. A teardown knows no
/// commit (`of_release` false): its `release` is the live `current`.
fn variables<'a>(
    server: &'a Server,
    context: &'a Scripting,
    release: &'a str,
    of_release: bool,
) -> [(&'static str, &'a str); 12] {
    let of_commit = |value: &'a str| if of_release { value } else { "" };
    [
        ("release", release),
        ("time", of_commit(&context.time)),
        ("project", &server.deployment_path),
        ("sha", of_commit(&context.sha)),
        ("branch", &context.branch),
        ("author", of_commit(&context.author)),
        ("message", of_commit(&context.message)),
        ("name", &context.name),
        ("php", &server.php_path),
        ("composer", &server.composer_path),
        ("environment", &server.environment),
        ("environment_slug", &context.environment_slug),
    ]
}

/// Says, in a failed run's error, which servers still serve its release.
fn with_stuck(mut ending: Ending, stuck: &[Stuck]) -> Ending {
    let list: Vec<&str> = stuck.iter().map(|s| s.error.as_str()).collect();
    ending.error = Some(format!(
        "{} Switching back failed, so these servers still serve it: {}.",
        ending.error.unwrap_or_default(),
        list.join("; ")
    ));
    ending
}

/// What a run that switched leaves live, in words.
fn live_now(activation: Option<&Activation>) -> &'static str {
    match activation {
        Some(activation) if !activation.builds => {
            "the release rolled back to is live on the servers"
        }
        _ => "the new release is live on the servers",
    }
}

/// How a remote command ended.
#[derive(Debug, PartialEq)]
enum Ended {
    Exit(crate::ssh::Exit),
    /// The connection failed, or the command could not start.
    Error(String),
    /// The step's time ran out (and the command was stopped).
    TimedOut(u64),
    Cancelled,
}

/// A step's outcome on one server from how its command ended.
fn outcome(ended: Ended, work: &Work, output: &Output<'_>, server_name: &str) -> Outcome {
    match ended {
        Ended::Exit(exit) if exit.success() => Outcome::Finished,
        Ended::Exit(exit) => {
            let how = match exit {
                crate::ssh::Exit::Code(code) => format!("status {code}"),
                crate::ssh::Exit::Signal => "a signal".to_owned(),
            };
            // The last thing Slipway's own script said is most often why; what a hook
            // prints stays in its output (it may print anything).
            let own = !matches!(work, Work::Hook { .. } | Work::Teardown { .. });
            match output.last_line().filter(|_| own) {
                Some(line) => Outcome::Failed(format!("{server_name}: exited with {how}: {line}")),
                None => Outcome::Failed(format!("{server_name}: exited with {how}")),
            }
        }
        Ended::TimedOut(seconds) => {
            Outcome::Failed(format!("{server_name}: timed out after {seconds} s"))
        }
        Ended::Error(err) => Outcome::Failed(format!("{server_name}: {err}")),
        Ended::Cancelled => Outcome::Cancelled,
    }
}

pub(super) fn failures(outcomes: &[(ServerId, Outcome)]) -> Vec<String> {
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
    server: Option<String>,
    bytes: Vec<u8>,
    truncated: bool,
    /// A first line of Slipway's own, kept out of the output.
    own_line: Option<FirstLine>,
}

/// Separates a first line of Slipway's own (one that starts with `prefix`) from a command's
/// output.
struct FirstLine {
    prefix: &'static str,
    pending: Vec<u8>,
    /// What followed the prefix, once the line has come.
    line: Option<String>,
    done: bool,
}

impl FirstLine {
    /// Takes a chunk of output; answers what of it is the command's.
    fn take(&mut self, chunk: &[u8]) -> Vec<u8> {
        if self.done {
            return chunk.to_vec();
        }
        self.pending.extend_from_slice(chunk);
        let Some(end) = self.pending.iter().position(|b| *b == b'\n') else {
            let seen = self.pending.len().min(self.prefix.len());
            if self.prefix.as_bytes()[..seen] == self.pending[..seen] {
                return Vec::new();
            }
            // Not the line sought: all of it is output.
            self.done = true;
            return std::mem::take(&mut self.pending);
        };
        self.done = true;
        let rest = self.pending.split_off(end + 1);
        let line = String::from_utf8_lossy(&self.pending[..end]).into_owned();
        match line.strip_prefix(self.prefix) {
            Some(value) => {
                self.line = Some(value.to_owned());
                rest
            }
            None => {
                let mut all = std::mem::take(&mut self.pending);
                all.extend_from_slice(&rest);
                all
            }
        }
    }
}

impl<'a> Output<'a> {
    fn new(run: &'a Run<'a>, process: i64, server: Option<&str>) -> Output<'a> {
        Output {
            run,
            process,
            server: server.map(str::to_owned),
            bytes: Vec::new(),
            truncated: false,
            own_line: None,
        }
    }

    /// Keeps the first line out of the output when it starts with `prefix`.
    fn take_first_line(&mut self, prefix: &'static str) {
        self.own_line = Some(FirstLine {
            prefix,
            pending: Vec::new(),
            line: None,
            done: false,
        });
    }

    /// What followed the prefix on the first line, when it was Slipway's own.
    fn first_line(&self) -> Option<&str> {
        self.own_line.as_ref()?.line.as_deref()
    }

    fn push(&mut self, chunk: &[u8]) {
        let chunk = match &mut self.own_line {
            Some(first) => std::borrow::Cow::Owned(first.take(chunk)),
            None => std::borrow::Cow::Borrowed(chunk),
        };
        let chunk: &[u8] = &chunk;
        if chunk.is_empty() || self.truncated {
            return;
        }
        let room = OUTPUT_CAP.saturating_sub(self.bytes.len());
        let kept = &chunk[..chunk.len().min(room)];
        self.bytes.extend_from_slice(kept);
        self.run.app.engine.hub.publish(
            self.run.id,
            LogEvent::Output {
                process_id: self.process,
                server: self.server.clone(),
                text: String::from_utf8_lossy(kept).into_owned(),
            },
        );
        if kept.len() < chunk.len() {
            self.truncated = true;
            self.bytes
                .extend_from_slice(b"\n[output truncated at 1 MiB]\n");
        }
    }

    /// The last line with something on it, cut to 200 characters.
    fn last_line(&self) -> Option<String> {
        let text = String::from_utf8_lossy(&self.bytes);
        let line = text.lines().rev().map(str::trim).find(|l| !l.is_empty())?;
        Some(crate::notify::message::clip(line, 200).to_owned())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).replace('\0', "")
    }
}

#[cfg(test)]
mod tests {
    use super::FirstLine;

    fn first_line(prefix: &'static str) -> FirstLine {
        FirstLine {
            prefix,
            pending: Vec::new(),
            line: None,
            done: false,
        }
    }

    #[test]
    fn slipways_own_first_line_is_kept_out_of_the_output_however_it_arrives() {
        let mut first = first_line("live:");
        assert_eq!(first.take(b"li"), b"");
        assert_eq!(first.take(b"ve:/srv/app/releases/1\nreloa"), b"reloa");
        assert_eq!(first.take(b"ded\n"), b"ded\n");
        assert_eq!(first.line.as_deref(), Some("/srv/app/releases/1"));

        let mut other = first_line("live:");
        assert_eq!(other.take(b"lip"), b"lip");
        assert_eq!(other.take(b"\n"), b"\n");
        assert_eq!(other.line, None);

        let mut empty = first_line("live:");
        assert_eq!(empty.take(b"live:\n"), b"");
        assert_eq!(empty.line.as_deref(), Some(""));
    }
}
