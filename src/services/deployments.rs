//! Deployments: queueing, cancelling, records and output.

use crate::app::App;
use crate::db;
use crate::deploy::hub::LogEvent;
use crate::domain::deployment::{DeploymentStatus, ProcessStatus, RefKind};
use crate::domain::ids::{DeploymentId, ProjectId, UserId};
use crate::domain::scopes::{Resource, Scope};
use crate::domain::time::Timestamp;
use crate::domain::validation::{FieldErrors, Params, Problem, is_git_ref_name};
use crate::error::{Error, Failure, Result};
use crate::notify;
use crate::services::access::{self, Principal};
use crate::services::environments;
use crate::services::projects::{self, ProjectView};
use crate::services::records::{self, Deployment, Process, ProcessOutput};

pub struct DeploymentView {
    pub deployment: Deployment,
    pub processes: Vec<Process>,
    pub project: ProjectView,
}

pub async fn list(app: &App, who: &Principal, project: ProjectId) -> Result<Vec<Deployment>> {
    access::project(app, who, project).await?;
    Ok(records::all(
        db::deployments::list(&mut &app.store, project).await?,
    ))
}

pub async fn get(
    app: &App,
    who: &Principal,
    project: ProjectId,
    id: DeploymentId,
) -> Result<DeploymentView> {
    access::project(app, who, project).await?;
    let deployment = db::deployments::get(&mut &app.store, project, id)
        .await?
        .ok_or(Error::NotFound)?;
    let processes = db::deployments::processes(&mut &app.store, id).await?;
    let project = projects::load(app, project).await?;
    Ok(DeploymentView {
        deployment: deployment.into(),
        processes: records::all(processes),
        project,
    })
}

/// Deploy Project: queues a deployment of the project's branch, another branch, a tag or a
/// commit. A request while one is already waiting retargets the waiting one.
pub async fn create(
    app: &App,
    who: &Principal,
    project: ProjectId,
    params: &Params,
) -> Result<Deployment> {
    access::project_for(app, who, project, Scope::create(Resource::Deployments)).await?;
    queue(app, project, who.user, params).await
}

/// Queues a deployment asked for by something other than a token holder (a push); the
/// project's owner is recorded as the deployer.
pub(crate) async fn queue_for(
    app: &App,
    project: ProjectId,
    owner: UserId,
    params: &Params,
) -> Result<Deployment> {
    queue(app, project, owner, params).await
}

/// Queues a deployment the caller was allowed to ask for.
async fn queue(app: &App, project: ProjectId, user: UserId, params: &Params) -> Result<Deployment> {
    let view = projects::load(app, project).await?;
    let (from, name) = read_target(params, &view.project.branch)?;
    let environment = environments::read_target(params)?;
    if !view.servers.iter().any(|s| s.environment == environment) {
        return Err(Error::invalid("servers", Problem::NoServersIn(environment)));
    }
    // Deploying to an environment creates it, or makes a stopped one available again.
    let target = environments::ensure(app, project, &environment).await?;
    db::environments::make_available(&mut &app.store, target.id, Timestamp::now()).await?;
    let id = db::deployments::enqueue(
        &mut &app.store,
        project,
        Some(user.0),
        &environment,
        from,
        &name,
        Timestamp::now(),
    )
    .await?;
    app.engine.wake();
    db::deployments::get(&mut &app.store, project, id)
        .await?
        .map(Deployment::from)
        .ok_or(Error::NotFound)
}

/// What a deploy request names: `{}` (the project's branch), `{"from":"branch","branch":…}`,
/// `{"from":"tag","tag":…}`, or a commit as `sha`.
pub fn read_target(params: &Params, default_branch: &str) -> Result<(RefKind, String)> {
    let mut errors = FieldErrors::default();
    let from = params.string("from", &mut errors);
    let branch = params.string("branch", &mut errors);
    let tag = params.string("tag", &mut errors);
    let sha = params.string("sha", &mut errors);
    errors.into_result()?;
    let target = match (from.as_deref(), sha) {
        (None | Some("sha"), Some(sha)) => {
            if !crate::git::is_commit_hash(&sha) {
                return Err(Error::invalid("sha", Problem::Sha));
            }
            (RefKind::Sha, sha.to_ascii_lowercase())
        }
        (Some("tag"), _) => {
            let tag = tag.ok_or_else(|| Error::invalid("tag", Problem::Required))?;
            (RefKind::Tag, tag)
        }
        (None | Some("branch"), _) => (
            RefKind::Branch,
            branch.unwrap_or_else(|| default_branch.to_owned()),
        ),
        _ => return Err(Error::invalid("from", Problem::NotOneOf)),
    };
    if target.0 != RefKind::Sha && !is_git_ref_name(&target.1) {
        return Err(Error::invalid(target.0.as_str(), Problem::GitRef));
    }
    Ok(target)
}

/// Cancel Deployment: a waiting deployment ends at once; a running one stops its remote
/// commands, removes its unactivated release and ends `cancelled`.
pub async fn cancel(
    app: &App,
    who: &Principal,
    project: ProjectId,
    id: DeploymentId,
) -> Result<()> {
    access::project_for(app, who, project, Scope::delete(Resource::Deployments)).await?;
    let deployment = db::deployments::get(&mut &app.store, project, id)
        .await?
        .ok_or(Error::NotFound)?;
    if !deployment.status.is_open() {
        return Err(Error::Failed(Failure::DeploymentEnded(deployment.status)));
    }
    let now = Timestamp::now();
    let mut tx = app.store.begin().await?;
    if db::deployments::request_cancel(&mut tx, id, now).await? {
        // A pending deployment ended here and now; a running one is announced by its runner.
        let stored = notify::deployment_ended(&mut tx, &app.config.public_url(), id).await?;
        tx.commit().await?;
        if stored > 0 {
            app.notifier.wake();
        }
    } else {
        tx.commit().await?;
        // Running: stop it now if it runs here; another node's runner sees the flag.
        app.engine.cancel(id);
    }
    Ok(())
}

/// What each process of a deployment printed.
pub async fn output(
    app: &App,
    who: &Principal,
    project: ProjectId,
    id: DeploymentId,
) -> Result<Vec<ProcessOutput>> {
    access::project(app, who, project).await?;
    db::deployments::get(&mut &app.store, project, id)
        .await?
        .ok_or(Error::NotFound)?;
    Ok(records::all(
        db::deployments::outputs(&mut &app.store, id).await?,
    ))
}

/// Where a viewer of a deployment's output starts: the live stream of a running deployment,
/// the stored output of one that ended, or, for one that waits in the queue or runs on another
/// node, what to follow once that changes (so that the viewer is answered at once).
pub enum Follow {
    /// What was printed so far, what comes next, and what to follow should the live stream
    /// close without an end (its end could not be recorded yet).
    Live(
        Vec<LogEvent>,
        tokio::sync::broadcast::Receiver<LogEvent>,
        Later,
    ),
    Ended(Vec<LogEvent>),
    /// What another node running the deployment has recorded since the viewer last looked
    /// (steps that changed, and the output of those that finished), then what follows.
    Recorded(Vec<LogEvent>, Later),
    Later(Later),
}

/// The follow a deployment will have once it starts here, or ends.
pub type Later = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Follow>> + Send>>;

pub async fn follow(
    app: &crate::app::AppState,
    who: &Principal,
    project: ProjectId,
    id: DeploymentId,
) -> Result<Follow> {
    access::project(app, who, project).await?;
    let mut seen = Seen::default();
    if let Some(follow) = follow_now(app, project, id, &mut seen).await? {
        return Ok(follow);
    }
    Ok(Follow::Later(later(app.clone(), project, id, seen)))
}

/// What a viewer has been sent of a deployment's record: each step's status, and the steps
/// whose output went out.
#[derive(Default)]
struct Seen {
    statuses: std::collections::HashMap<i64, ProcessStatus>,
    outputs: Vec<i64>,
}

impl Seen {
    /// The events of the record (read without the outputs already sent) that the viewer has
    /// not been sent yet.
    fn news(&mut self, processes: Vec<db::deployments::ProcessOutput>) -> Vec<LogEvent> {
        let mut events = Vec::new();
        for process in processes {
            let done = !matches!(
                process.status,
                ProcessStatus::Pending | ProcessStatus::Running
            );
            if done && !process.output.is_empty() && !self.outputs.contains(&process.id) {
                self.outputs.push(process.id);
                events.push(LogEvent::Output {
                    process_id: process.id,
                    server: process.server_name.clone(),
                    text: process.output,
                });
            }
            if self.statuses.insert(process.id, process.status) != Some(process.status) {
                events.push(LogEvent::Process {
                    process_id: process.id,
                    status: process.status.as_str().to_owned(),
                });
            }
        }
        events
    }
}

/// Waits (checking five times a second) until the deployment can be followed, or another node
/// running it has recorded something new.
fn later(app: crate::app::AppState, project: ProjectId, id: DeploymentId, mut seen: Seen) -> Later {
    Box::pin(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            if let Some(follow) = follow_now(&app, project, id, &mut seen).await? {
                return Ok(follow);
            }
        }
    })
}

/// What follows a live stream that closed without an end: the record, from what it holds when
/// the stream closed (the stream had sent all of that).
fn after_live(app: crate::app::AppState, project: ProjectId, id: DeploymentId) -> Later {
    Box::pin(async move {
        let mut seen = Seen::default();
        seen.news(db::deployments::outputs(&mut &app.store, id).await?);
        later(app, project, id, seen).await
    })
}

/// The deployment as it can be followed now: live here, ended, or what another node running
/// it recorded since `seen`; `None` while it waits or nothing new was recorded.
async fn follow_now(
    app: &crate::app::AppState,
    project: ProjectId,
    id: DeploymentId,
    seen: &mut Seen,
) -> Result<Option<Follow>> {
    if let Some((history, receiver)) = app.engine.hub.subscribe(id) {
        let then = after_live(app.clone(), project, id);
        return Ok(Some(Follow::Live(history, receiver, then)));
    }
    let deployment = db::deployments::get(&mut &app.store, project, id)
        .await?
        .ok_or(Error::NotFound)?;
    if deployment.status == DeploymentStatus::Pending {
        return Ok(None);
    }
    let recorded = db::deployments::outputs_except(&mut &app.store, id, &seen.outputs).await?;
    let mut events = seen.news(recorded);
    if deployment.status.is_open() {
        if events.is_empty() {
            return Ok(None);
        }
        let then = later(app.clone(), project, id, std::mem::take(seen));
        return Ok(Some(Follow::Recorded(events, then)));
    }
    events.push(LogEvent::End {
        status: deployment.status.as_str().to_owned(),
    });
    Ok(Some(Follow::Ended(events)))
}

/// Deploy by URL (`/deploy/{token}`): the project's token is the only credential. Deploys
/// the project's branch, or the `branch` or `sha` given, to `environment` (production).
pub async fn create_by_token(app: &App, token: &str, params: &Params) -> Result<Deployment> {
    let hash = crate::crypto::token_hash(token);
    let (project, owner) = db::projects::find_by_token_hash(&mut &app.store, &hash)
        .await?
        .ok_or(Error::NotFound)?;
    // Deployed in the owner's name: the token stands for the project.
    queue(app, project, owner, params).await
}
