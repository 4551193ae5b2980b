//! Response shapes of the Envoyer dialect, field for field (and in the order) the API document
//! shows them. Typed and borrowed, so that large lists serialise without building JSON trees.

use std::fmt;

use secrecy::ExposeSecret;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use utoipa::ToSchema;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{KnownFormat, RefOr, SchemaFormat};

use crate::domain::catalog::{ACTIONS, ACTIONS_CREATED_AT, NotificationType, Provider};
use crate::domain::deployment::{DeploymentKind, DeploymentStatus, ProcessStatus, ReleaseState};
use crate::domain::ids::ReleaseId;
use crate::domain::ids::{
    DeploymentId, HeartbeatId, HookId, NotificationId, ProjectId, ServerId, UserId,
};
use crate::domain::time::Timestamp;
use crate::services::deployments::DeploymentView;
use crate::services::health;
use crate::services::heartbeats::HeartbeatView;
use crate::services::hooks::HookView;
use crate::services::notifications::NotificationView;
use crate::services::projects::ProjectView;
use crate::services::records::{
    Collaborator, Deployment, HealthCheck, LinkedFolder, Process, ProcessOutput, Server,
};
use crate::services::releases::ReleaseView;

/// `{"<key>": value}`: every Envoyer answer wraps its payload in one named field.
pub struct Keyed<T>(pub &'static str, pub T);

impl<T: Serialize> Serialize for Keyed<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(self.0, &self.1)?;
        map.end()
    }
}

/// A timestamp in Laravel's JSON form, written without an intermediate string.
#[derive(Clone, Copy)]
pub struct Time(Timestamp);

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.envoyer())
    }
}

impl utoipa::PartialSchema for Time {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .examples(["2020-10-09T10:54:38.000000Z"])
            .into()
    }
}

impl ToSchema for Time {}

/// A field that is always null, kept because Envoyer's clients expect it.
fn always_null() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Null)
}

/// Envoyer's `options`: one address under the key its type names (`email`, `webhook`…).
fn notification_options() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(ObjectBuilder::new().schema_type(Type::String)))
        .min_properties(Some(1))
        .max_properties(Some(1))
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

fn time(micros: Option<i64>) -> Option<Time> {
    micros.map(|m| Time(Timestamp(m)))
}

#[derive(Serialize, ToSchema)]
#[schema(as = LinkedFolder)]
pub struct Folder<'a> {
    from: &'a str,
    to: &'a str,
}

pub fn folders(folders: &[LinkedFolder]) -> Vec<Folder<'_>> {
    folders
        .iter()
        .map(|f| Folder {
            from: &f.from_path,
            to: &f.to_path,
        })
        .collect()
}

#[derive(Serialize, ToSchema)]
#[schema(as = Project)]
pub struct ProjectJson<'a> {
    id: ProjectId,
    user_id: UserId,
    version: u8,
    name: &'a str,
    provider: &'a str,
    plain_repository: &'a str,
    repository: String,
    #[serde(rename = "type")]
    project_type: &'a str,
    branch: &'a str,
    push_to_deploy: bool,
    #[schema(required = true, schema_with = always_null)]
    webhook_id: Option<i64>,
    #[schema(required = true)]
    status: Option<&'static str>,
    should_deploy_again: i64,
    #[schema(required = true)]
    deployment_started_at: Option<Time>,
    #[schema(required = true)]
    deployment_finished_at: Option<Time>,
    #[schema(required = true)]
    last_deployment_status: Option<&'a str>,
    daily_deploys: i64,
    weekly_deploys: i64,
    #[schema(required = true)]
    last_deployment_took: Option<i64>,
    retain_deployments: i64,
    environment_servers: &'a [ServerId],
    folders: Vec<Folder<'a>>,
    #[schema(required = true)]
    monitor: Option<&'a str>,
    #[schema(required = true)]
    new_york_status: Option<&'a str>,
    #[schema(required = true)]
    london_status: Option<&'a str>,
    #[schema(required = true)]
    singapore_status: Option<&'a str>,
    token: &'a str,
    created_at: Time,
    updated_at: Time,
    install_dev_dependencies: bool,
    install_dependencies: bool,
    quiet_composer: bool,
    servers: Vec<ServerJson<'a>>,
    has_environment: bool,
    has_monitoring_error: bool,
    has_missing_heartbeats: bool,
    #[schema(required = true)]
    last_deployed_branch: Option<&'a str>,
    #[schema(required = true)]
    last_deployment_id: Option<i64>,
    #[schema(required = true)]
    last_deployment_author: Option<&'a str>,
    #[schema(required = true)]
    last_deployment_avatar: Option<&'a str>,
    last_deployment_hash: &'a str,
    #[schema(required = true)]
    last_deployment_timestamp: Option<String>,
    /// Slipway: the latest health check from each region.
    health_checks: Vec<HealthCheckJson<'a>>,
    /// Slipway: the public half of the key the control plane fetches the repository with.
    #[schema(required = true)]
    deploy_key: Option<&'a str>,
    /// Slipway: how long one step may run on a server before it fails.
    step_timeout: i64,
    /// Slipway: after activation, poll the monitor and switch back when it does not answer.
    health_gate: bool,
    health_gate_seconds: i64,
    delta_releases: bool,
}

pub fn project(view: &ProjectView) -> ProjectJson<'_> {
    let p = &view.project;
    let repository = Provider::parse(&p.provider)
        .map(|provider| provider.clone_url(&p.repository))
        .unwrap_or_else(|| p.repository.clone());
    let last_deployment_took = match (p.last_deployment_started_at, p.last_deployment_finished_at) {
        (Some(started), Some(finished)) => Some((finished - started).max(0) / 1_000_000),
        _ => None,
    };
    let short_hash = p
        .last_deployment_hash
        .as_deref()
        .map(|h| h.get(..7).unwrap_or(h))
        .unwrap_or_default();
    ProjectJson {
        id: p.id,
        user_id: p.user_id,
        version: 1,
        name: &p.name,
        provider: &p.provider,
        plain_repository: &p.repository,
        repository,
        project_type: &p.project_type,
        branch: &p.branch,
        push_to_deploy: p.push_to_deploy,
        webhook_id: None,
        status: (p.running_deployments > 0).then_some("running"),
        should_deploy_again: p.pending_deployments.min(1),
        deployment_started_at: time(p.deployment_started_at),
        deployment_finished_at: time(p.last_deployment_finished_at),
        last_deployment_status: p.last_deployment_status.as_deref(),
        daily_deploys: p.daily_deploys,
        weekly_deploys: p.weekly_deploys,
        last_deployment_took,
        retain_deployments: p.retain_deployments,
        environment_servers: &p.environment_servers,
        folders: folders(&p.folders),
        monitor: p.monitor.as_deref(),
        new_york_status: health::region_status(&p.health_checks, "new_york"),
        london_status: health::region_status(&p.health_checks, "london"),
        singapore_status: health::region_status(&p.health_checks, "singapore"),
        token: view.token.expose_secret(),
        created_at: Time(p.created_at),
        updated_at: Time(p.updated_at),
        install_dev_dependencies: p.install_dev_dependencies,
        install_dependencies: p.install_dependencies,
        quiet_composer: p.quiet_composer,
        servers: servers(&view.servers),
        has_environment: p.has_environment,
        has_monitoring_error: p.has_monitoring_error,
        has_missing_heartbeats: p.has_missing_heartbeats,
        last_deployed_branch: p.last_deployment_branch.as_deref(),
        last_deployment_id: p.last_deployment_id,
        last_deployment_author: p.last_deployment_author.as_deref(),
        last_deployment_avatar: p.last_deployment_avatar.as_deref(),
        last_deployment_hash: short_hash,
        last_deployment_timestamp: p
            .last_deployment_finished_at
            .map(|f| Timestamp(f).ago(view.now)),
        health_checks: p.health_checks.iter().map(health_check).collect(),
        deploy_key: p.deploy_key_public.as_deref(),
        step_timeout: p.step_timeout_seconds,
        health_gate: p.health_gate,
        health_gate_seconds: p.health_gate_seconds,
        delta_releases: p.delta_releases,
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = HealthCheck)]
pub struct HealthCheckJson<'a> {
    region: &'a str,
    status: &'a str,
    #[schema(required = true)]
    http_status: Option<i64>,
    /// Milliseconds.
    #[schema(required = true)]
    response_time: Option<i64>,
    #[schema(required = true)]
    error: Option<&'a str>,
    checked_at: Time,
}

fn health_check(check: &HealthCheck) -> HealthCheckJson<'_> {
    HealthCheckJson {
        region: &check.region,
        status: &check.status,
        http_status: check.http_status,
        response_time: check.response_ms,
        error: check.error.as_deref(),
        checked_at: Time(Timestamp(check.checked_at)),
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = Server)]
pub struct ServerJson<'a> {
    id: ServerId,
    project_id: ProjectId,
    user_id: UserId,
    name: &'a str,
    connect_as: &'a str,
    ip_address: &'a str,
    port: String,
    php_seven: bool,
    php_version: &'a str,
    freebsd: bool,
    receives_code_deployments: bool,
    should_restart_fpm: bool,
    deployment_path: &'a str,
    php_path: &'a str,
    composer_path: &'a str,
    public_key: &'a str,
    connection_status: &'a str,
    #[schema(required = true)]
    current_activity: Option<&'a str>,
    created_at: Time,
    updated_at: Time,
    /// Slipway: the host key pinned on the first connection, and its fingerprint.
    #[schema(required = true)]
    host_key: Option<&'a str>,
    #[schema(required = true)]
    host_key_fingerprint: Option<String>,
    /// Slipway: why the last connection check failed.
    #[schema(required = true)]
    connection_error: Option<&'a str>,
    /// Slipway: which of tar, php and composer the last check found.
    tools: Vec<&'a str>,
    /// Slipway: the deployment environment the server belongs to.
    environment: &'a str,
}

pub fn server(s: &Server) -> ServerJson<'_> {
    ServerJson {
        id: s.id,
        project_id: s.project_id,
        user_id: s.user_id,
        name: &s.name,
        connect_as: &s.connect_as,
        ip_address: &s.host,
        port: s.port.to_string(),
        php_seven: s.php_version.starts_with("php7"),
        php_version: &s.php_version,
        freebsd: s.freebsd,
        receives_code_deployments: s.receives_code_deployments,
        should_restart_fpm: s.should_restart_fpm,
        deployment_path: &s.deployment_path,
        php_path: &s.php_path,
        composer_path: &s.composer_path,
        public_key: &s.public_key,
        connection_status: &s.connection_status,
        current_activity: s.current_activity.as_deref(),
        created_at: Time(s.created_at),
        updated_at: Time(s.updated_at),
        host_key: s.host_key.as_deref(),
        host_key_fingerprint: s.host_key.as_deref().map(crate::ssh::fingerprint),
        connection_error: s.connection_error.as_deref(),
        tools: s
            .tools
            .as_deref()
            .map(|t| t.split_whitespace().collect())
            .unwrap_or_default(),
        environment: &s.environment,
    }
}

pub fn servers(servers: &[Server]) -> Vec<ServerJson<'_>> {
    servers.iter().map(server).collect()
}

#[derive(Serialize, ToSchema)]
#[schema(as = Action)]
pub struct ActionJson {
    id: i64,
    version: u8,
    name: &'static str,
    view: &'static str,
    sequence: i64,
    created_at: Time,
    updated_at: Time,
}

pub fn actions() -> Vec<ActionJson> {
    ACTIONS
        .iter()
        .map(|a| ActionJson {
            id: a.id,
            version: 1,
            name: a.name,
            view: a.view,
            sequence: a.id,
            created_at: Time(ACTIONS_CREATED_AT),
            updated_at: Time(ACTIONS_CREATED_AT),
        })
        .collect()
}

#[derive(Serialize, ToSchema)]
#[schema(as = Hook)]
pub struct HookJson<'a> {
    user_id: UserId,
    action_id: i64,
    timing: &'a str,
    name: &'a str,
    run_as: &'a str,
    script: &'a str,
    sequence: i64,
    project_id: ProjectId,
    updated_at: Time,
    created_at: Time,
    id: HookId,
    servers: &'a [ServerId],
}

pub fn hook(view: &HookView) -> HookJson<'_> {
    let h = &view.hook;
    HookJson {
        user_id: h.user_id,
        action_id: h.action_id,
        timing: &h.timing,
        name: &h.name,
        run_as: &h.run_as,
        script: &h.script,
        sequence: h.sequence,
        project_id: h.project_id,
        updated_at: Time(h.updated_at),
        created_at: Time(h.created_at),
        id: h.id,
        servers: &view.servers,
    }
}

pub fn hooks(views: &[HookView]) -> Vec<HookJson<'_>> {
    views.iter().map(hook).collect()
}

#[derive(Serialize, ToSchema)]
#[schema(as = Deployment)]
pub struct DeploymentJson<'a> {
    id: DeploymentId,
    project_id: ProjectId,
    #[schema(required = true)]
    user_id: Option<i64>,
    #[schema(required = true)]
    commit_branch: Option<&'a str>,
    #[schema(required = true)]
    commit_hash: Option<&'a str>,
    #[schema(required = true)]
    commit_author: Option<&'a str>,
    #[schema(required = true)]
    commit_avatar: Option<&'a str>,
    #[schema(required = true)]
    commit_message: Option<&'a str>,
    status: DeploymentStatus,
    created_at: Time,
    updated_at: Time,
    /// Slipway: the release directory's name, and why a deployment failed.
    #[schema(required = true)]
    release: Option<&'a str>,
    #[schema(required = true)]
    error: Option<&'a str>,
    /// Slipway: the environment it deploys to.
    environment: &'a str,
    /// Slipway: `deploy`, `rollback` or `stop` (an environment's teardown).
    kind: DeploymentKind,
    /// Slipway: the record of the release it built or rolled back to.
    #[schema(required = true)]
    release_id: Option<i64>,
    /// Slipway: the health gate failed and switched every server back.
    rolled_back: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    processes: Option<Vec<ProcessJson<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    project: Option<ProjectJson<'a>>,
}

pub fn deployment(d: &Deployment) -> DeploymentJson<'_> {
    DeploymentJson {
        id: d.id,
        project_id: d.project_id,
        user_id: d.user_id,
        commit_branch: d.commit_branch.as_deref(),
        commit_hash: d.commit_hash.as_deref(),
        commit_author: d.commit_author.as_deref(),
        commit_avatar: d.commit_avatar.as_deref(),
        commit_message: d.commit_message.as_deref(),
        status: d.status,
        created_at: Time(d.created_at),
        updated_at: Time(d.updated_at),
        release: d.release_name.as_deref(),
        error: d.error.as_deref(),
        environment: &d.environment,
        kind: d.kind,
        release_id: d.release_id,
        rolled_back: d.rolled_back,
        processes: None,
        project: None,
    }
}

pub fn deployments(list: &[Deployment]) -> Vec<DeploymentJson<'_>> {
    list.iter().map(deployment).collect()
}

#[derive(Serialize, ToSchema)]
#[schema(as = Process)]
pub struct ProcessJson<'a> {
    id: i64,
    deployment_id: DeploymentId,
    project_id: ProjectId,
    #[schema(required = true)]
    server_id: Option<i64>,
    #[schema(required = true)]
    server_name: Option<&'a str>,
    sequence: i64,
    name: &'a str,
    #[schema(required = true)]
    action_id: Option<i64>,
    #[schema(required = true)]
    hook_id: Option<i64>,
    status: ProcessStatus,
    #[schema(required = true)]
    started_at: Option<i64>,
    #[schema(required = true)]
    finished_at: Option<i64>,
    /// Slipway's addition: how long the step ran, to the millisecond, once it has ended.
    #[schema(required = true)]
    duration_ms: Option<i64>,
    created_at: Time,
    updated_at: Time,
    #[schema(required = true, schema_with = always_null)]
    server: Option<()>,
}

fn process(p: &Process) -> ProcessJson<'_> {
    let unix = |micros: Option<i64>| micros.map(|m| Timestamp(m).unix_seconds());
    ProcessJson {
        id: p.id,
        deployment_id: p.deployment_id,
        project_id: p.project_id,
        server_id: p.server_id,
        server_name: p.server_name.as_deref(),
        sequence: p.sequence,
        name: &p.name,
        action_id: p.action_id,
        hook_id: p.hook_id,
        status: p.status,
        started_at: unix(p.started_at),
        finished_at: unix(p.finished_at),
        duration_ms: p
            .started_at
            .zip(p.finished_at)
            .map(|(start, end)| (end - start).max(0) / 1000),
        created_at: Time(p.created_at),
        updated_at: Time(p.updated_at),
        server: None,
    }
}

pub fn deployment_detail(view: &DeploymentView) -> DeploymentJson<'_> {
    DeploymentJson {
        processes: Some(view.processes.iter().map(process).collect()),
        project: Some(project(&view.project)),
        ..deployment(&view.deployment)
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = Release)]
pub struct ReleaseJson<'a> {
    id: ReleaseId,
    name: &'a str,
    #[schema(required = true)]
    deployment_id: Option<i64>,
    #[schema(required = true)]
    commit_hash: Option<&'a str>,
    #[schema(required = true)]
    commit_branch: Option<&'a str>,
    #[schema(required = true)]
    commit_message: Option<&'a str>,
    environment: &'a str,
    state: ReleaseState,
    live: bool,
    servers: Vec<ReleaseServerJson<'a>>,
    created_at: Time,
    #[schema(required = true)]
    activated_at: Option<Time>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = ReleaseServer)]
pub struct ReleaseServerJson<'a> {
    server_id: ServerId,
    server_name: &'a str,
    present: bool,
    live: bool,
}

pub fn releases(list: &[ReleaseView]) -> Vec<ReleaseJson<'_>> {
    list.iter()
        .map(|view| {
            let r = &view.release;
            ReleaseJson {
                id: r.id,
                name: &r.name,
                deployment_id: r.deployment_id,
                commit_hash: r.commit_hash.as_deref(),
                commit_branch: r.commit_branch.as_deref(),
                commit_message: r.commit_message.as_deref(),
                environment: &r.environment,
                state: r.state,
                live: view.live,
                servers: view
                    .servers
                    .iter()
                    .map(|s| ReleaseServerJson {
                        server_id: s.server_id,
                        server_name: &s.server_name,
                        present: s.present,
                        live: s.live,
                    })
                    .collect(),
                created_at: Time(r.created_at),
                activated_at: time(r.activated_at),
            }
        })
        .collect()
}

#[derive(Serialize, ToSchema)]
#[schema(as = Heartbeat)]
pub struct HeartbeatJson<'a> {
    id: HeartbeatId,
    project_id: ProjectId,
    name: &'a str,
    token: &'a str,
    interval: i64,
    status: &'a str,
    #[schema(required = true)]
    last_checked_in_at: Option<Time>,
    created_at: Time,
    updated_at: Time,
}

pub fn heartbeat(view: &HeartbeatView) -> HeartbeatJson<'_> {
    let h = &view.heartbeat;
    HeartbeatJson {
        id: h.id,
        project_id: h.project_id,
        name: &h.name,
        token: view.token.expose_secret(),
        interval: h.interval_minutes,
        status: &h.status,
        last_checked_in_at: time(h.last_checked_in_at),
        created_at: Time(h.created_at),
        updated_at: Time(h.updated_at),
    }
}

pub fn heartbeats(views: &[HeartbeatView]) -> Vec<HeartbeatJson<'_>> {
    views.iter().map(heartbeat).collect()
}

#[derive(Serialize, ToSchema)]
#[schema(as = CollaboratorPivot)]
pub struct Pivot {
    project_id: ProjectId,
    collaborator_id: UserId,
    status: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Collaborator)]
pub struct CollaboratorJson<'a> {
    id: UserId,
    name: &'a str,
    email: &'a str,
    pivot: Pivot,
}

pub fn collaborator(c: &Collaborator) -> CollaboratorJson<'_> {
    CollaboratorJson {
        id: c.user_id,
        name: &c.name,
        email: &c.email,
        pivot: Pivot {
            project_id: c.project_id,
            collaborator_id: c.user_id,
            status: c.status.clone(),
        },
    }
}

pub fn collaborators(list: &[Collaborator]) -> Vec<CollaboratorJson<'_>> {
    list.iter().map(collaborator).collect()
}

#[derive(Serialize, ToSchema)]
#[schema(as = Notification)]
pub struct NotificationJson<'a> {
    id: NotificationId,
    project_id: ProjectId,
    name: &'a str,
    #[serde(rename = "type")]
    notification_type: &'a str,
    #[schema(schema_with = notification_options)]
    options: Keyed<&'a str>,
    active: i64,
    created_at: Time,
    updated_at: Time,
    /// Slipway: why the latest delivery failed (null once one succeeds again).
    #[schema(required = true)]
    last_delivery_error: Option<&'a str>,
    #[schema(required = true)]
    last_delivery_error_at: Option<Time>,
}

pub fn notification(view: &NotificationView) -> NotificationJson<'_> {
    let n = &view.notification;
    let key = NotificationType::parse(&n.notification_type)
        .map(NotificationType::option_key)
        .unwrap_or("webhook");
    NotificationJson {
        id: n.id,
        project_id: n.project_id,
        name: &n.name,
        notification_type: &n.notification_type,
        options: Keyed(key, view.address.expose_secret()),
        active: i64::from(n.active),
        created_at: Time(n.created_at),
        updated_at: Time(n.updated_at),
        last_delivery_error: n.last_error.as_deref(),
        last_delivery_error_at: time(n.last_error_at),
    }
}

pub fn notifications(views: &[NotificationView]) -> Vec<NotificationJson<'_>> {
    views.iter().map(notification).collect()
}

/// A provider push: deployed, or ignored and why.
#[derive(Serialize, ToSchema)]
#[schema(as = PushOutcome)]
pub struct PushJson<'a> {
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    deployment: Option<DeploymentJson<'a>>,
}

pub fn push_outcome(outcome: &crate::services::push::Outcome) -> PushJson<'_> {
    use crate::services::push::Outcome;
    match outcome {
        Outcome::Deployed(deployment) => PushJson {
            message: "Deploying.",
            deployment: Some(self::deployment(deployment)),
        },
        Outcome::Ignored(reason) => PushJson {
            message: reason,
            deployment: None,
        },
    }
}

/// A web hook secret, shown once when it is made.
#[derive(Serialize, ToSchema)]
#[schema(as = WebhookSecret)]
pub struct SecretJson<'a> {
    /// 40 letters and digits.
    secret: &'a str,
}

pub fn secret(secret: &secrecy::SecretString) -> SecretJson<'_> {
    SecretJson {
        secret: secret.expose_secret(),
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = ProcessOutput)]
pub struct OutputJson<'a> {
    id: i64,
    #[schema(required = true)]
    server_name: Option<&'a str>,
    name: &'a str,
    status: ProcessStatus,
    output: &'a str,
}

pub fn outputs(list: &[ProcessOutput]) -> Vec<OutputJson<'_>> {
    list.iter()
        .map(|p| OutputJson {
            id: p.id,
            server_name: p.server_name.as_deref(),
            name: &p.name,
            status: p.status,
            output: &p.output,
        })
        .collect()
}
