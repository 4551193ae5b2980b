//! What the services hand their callers (the API dialects, the dashboard, the CLI's server
//! side): records of their own, filled from the storage rows, so that a change in storage
//! never reaches the wire.

use crate::db;
use crate::domain::deployment::{
    DeploymentKind, DeploymentStatus, ProcessStatus, RefKind, ReleaseState,
};
use crate::domain::ids::{
    DeploymentId, EnvironmentId, HeartbeatId, HookId, NotificationId, ProjectId, ReleaseId,
    ServerId, UserId,
};
use crate::domain::time::Timestamp;

/// A project as the services show it: its settings, and what its deployments and checks add
/// up to (its servers come beside it, in `ProjectView`).
#[derive(Debug, Clone)]
pub struct Project {
    pub id: ProjectId,
    pub user_id: UserId,
    pub name: String,
    pub provider: String,
    pub repository: String,
    pub project_type: String,
    pub branch: String,
    pub push_to_deploy: bool,
    pub retain_deployments: i64,
    pub monitor: Option<String>,
    pub install_dependencies: bool,
    pub install_dev_dependencies: bool,
    pub quiet_composer: bool,
    pub deploy_key_public: Option<String>,
    pub step_timeout_seconds: i64,
    pub health_gate: bool,
    pub health_gate_seconds: i64,
    pub delta_releases: bool,
    pub has_environment: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub running_deployments: i64,
    pub pending_deployments: i64,
    pub deployment_started_at: Option<i64>,
    pub daily_deploys: i64,
    pub weekly_deploys: i64,
    pub has_missing_heartbeats: bool,
    pub last_deployment_id: Option<i64>,
    pub last_deployment_status: Option<String>,
    pub last_deployment_branch: Option<String>,
    pub last_deployment_hash: Option<String>,
    pub last_deployment_author: Option<String>,
    pub last_deployment_avatar: Option<String>,
    pub last_deployment_started_at: Option<i64>,
    pub last_deployment_finished_at: Option<i64>,
    pub folders: Vec<LinkedFolder>,
    pub environment_servers: Vec<ServerId>,
    pub has_monitoring_error: bool,
    pub health_checks: Vec<HealthCheck>,
}

impl From<db::projects::Project> for Project {
    fn from(row: db::projects::Project) -> Self {
        Project {
            id: row.id,
            user_id: row.user_id,
            name: row.name,
            provider: row.provider,
            repository: row.repository,
            project_type: row.project_type,
            branch: row.branch,
            push_to_deploy: row.push_to_deploy,
            retain_deployments: row.retain_deployments,
            monitor: row.monitor,
            install_dependencies: row.install_dependencies,
            install_dev_dependencies: row.install_dev_dependencies,
            quiet_composer: row.quiet_composer,
            deploy_key_public: row.deploy_key_public,
            step_timeout_seconds: row.step_timeout_seconds,
            health_gate: row.health_gate,
            health_gate_seconds: row.health_gate_seconds,
            delta_releases: row.delta_releases,
            has_environment: row.has_environment,
            created_at: row.created_at,
            updated_at: row.updated_at,
            running_deployments: row.running_deployments,
            pending_deployments: row.pending_deployments,
            deployment_started_at: row.deployment_started_at,
            daily_deploys: row.daily_deploys,
            weekly_deploys: row.weekly_deploys,
            has_missing_heartbeats: row.has_missing_heartbeats,
            last_deployment_id: row.last_deployment_id,
            last_deployment_status: row.last_deployment_status,
            last_deployment_branch: row.last_deployment_branch,
            last_deployment_hash: row.last_deployment_hash,
            last_deployment_author: row.last_deployment_author,
            last_deployment_avatar: row.last_deployment_avatar,
            last_deployment_started_at: row.last_deployment_started_at,
            last_deployment_finished_at: row.last_deployment_finished_at,
            folders: row.folders.0.into_iter().map(Into::into).collect(),
            environment_servers: row.environment_servers.0,
            has_monitoring_error: row.has_monitoring_error,
            health_checks: row.health_checks.0.into_iter().map(Into::into).collect(),
        }
    }
}

/// A server a project deploys to.
#[derive(Debug, Clone)]
pub struct Server {
    pub id: ServerId,
    pub project_id: ProjectId,
    pub user_id: UserId,
    pub name: String,
    pub connect_as: String,
    pub host: String,
    pub port: i64,
    pub php_version: String,
    pub freebsd: bool,
    pub receives_code_deployments: bool,
    pub should_restart_fpm: bool,
    pub deployment_path: String,
    pub php_path: String,
    pub composer_path: String,
    pub public_key: String,
    pub connection_status: String,
    pub current_activity: Option<String>,
    pub host_key: Option<String>,
    pub connection_error: Option<String>,
    pub tools: Option<String>,
    pub environment: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<db::servers::Server> for Server {
    fn from(row: db::servers::Server) -> Self {
        Server {
            id: row.id,
            project_id: row.project_id,
            user_id: row.user_id,
            name: row.name,
            connect_as: row.connect_as,
            host: row.host,
            port: row.port,
            php_version: row.php_version,
            freebsd: row.freebsd,
            receives_code_deployments: row.receives_code_deployments,
            should_restart_fpm: row.should_restart_fpm,
            deployment_path: row.deployment_path,
            php_path: row.php_path,
            composer_path: row.composer_path,
            public_key: row.public_key,
            connection_status: row.connection_status,
            current_activity: row.current_activity,
            host_key: row.host_key,
            connection_error: row.connection_error,
            tools: row.tools,
            environment: row.environment,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// A folder kept across releases: `from_path` in each release links to `to_path`.
#[derive(Debug, Clone)]
pub struct LinkedFolder {
    pub from_path: String,
    pub to_path: String,
}

impl From<db::folders::LinkedFolder> for LinkedFolder {
    fn from(row: db::folders::LinkedFolder) -> Self {
        LinkedFolder {
            from_path: row.from_path,
            to_path: row.to_path,
        }
    }
}

/// The latest health check of a project's monitor from one region.
#[derive(Debug, Clone)]
pub struct HealthCheck {
    pub region: String,
    pub status: String,
    pub http_status: Option<i64>,
    pub response_ms: Option<i64>,
    pub error: Option<String>,
    pub checked_at: i64,
}

impl From<db::health_checks::HealthCheck> for HealthCheck {
    fn from(row: db::health_checks::HealthCheck) -> Self {
        HealthCheck {
            region: row.region,
            status: row.status,
            http_status: row.http_status,
            response_ms: row.response_ms,
            error: row.error,
            checked_at: row.checked_at,
        }
    }
}

/// A deployment: what it ships, where, and how it went.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub id: DeploymentId,
    pub project_id: ProjectId,
    pub user_id: Option<i64>,
    pub commit_branch: Option<String>,
    pub commit_hash: Option<String>,
    pub commit_author: Option<String>,
    pub commit_avatar: Option<String>,
    pub commit_message: Option<String>,
    pub status: DeploymentStatus,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub requested_from: RefKind,
    pub requested_ref: Option<String>,
    pub release_name: Option<String>,
    pub error: Option<String>,
    pub cancel_requested: bool,
    pub environment: String,
    pub kind: DeploymentKind,
    pub release_id: Option<i64>,
    pub rolled_back: bool,
}

impl From<db::deployments::Deployment> for Deployment {
    fn from(row: db::deployments::Deployment) -> Self {
        Deployment {
            id: row.id,
            project_id: row.project_id,
            user_id: row.user_id,
            commit_branch: row.commit_branch,
            commit_hash: row.commit_hash,
            commit_author: row.commit_author,
            commit_avatar: row.commit_avatar,
            commit_message: row.commit_message,
            status: row.status,
            started_at: row.started_at,
            finished_at: row.finished_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
            requested_from: row.requested_from,
            requested_ref: row.requested_ref,
            release_name: row.release_name,
            error: row.error,
            cancel_requested: row.cancel_requested,
            environment: row.environment,
            kind: row.kind,
            release_id: row.release_id,
            rolled_back: row.rolled_back,
        }
    }
}

/// One step of a deployment on one server (or on none).
#[derive(Debug, Clone)]
pub struct Process {
    pub id: i64,
    pub deployment_id: DeploymentId,
    pub project_id: ProjectId,
    pub server_id: Option<i64>,
    pub server_name: Option<String>,
    pub sequence: i64,
    pub name: String,
    pub action_id: Option<i64>,
    pub hook_id: Option<i64>,
    pub status: ProcessStatus,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<db::deployments::Process> for Process {
    fn from(row: db::deployments::Process) -> Self {
        Process {
            id: row.id,
            deployment_id: row.deployment_id,
            project_id: row.project_id,
            server_id: row.server_id,
            server_name: row.server_name,
            sequence: row.sequence,
            name: row.name,
            action_id: row.action_id,
            hook_id: row.hook_id,
            status: row.status,
            started_at: row.started_at,
            finished_at: row.finished_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// What one step printed.
#[derive(Debug, Clone)]
pub struct ProcessOutput {
    pub id: i64,
    pub server_name: Option<String>,
    pub name: String,
    pub status: ProcessStatus,
    pub output: String,
}

impl From<db::deployments::ProcessOutput> for ProcessOutput {
    fn from(row: db::deployments::ProcessOutput) -> Self {
        ProcessOutput {
            id: row.id,
            server_name: row.server_name,
            name: row.name,
            status: row.status,
            output: row.output,
        }
    }
}

/// A user invited to a project, and whether they accepted.
#[derive(Debug, Clone)]
pub struct Collaborator {
    pub user_id: UserId,
    pub name: String,
    pub email: String,
    pub project_id: ProjectId,
    pub status: String,
}

impl From<db::collaborators::Collaborator> for Collaborator {
    fn from(row: db::collaborators::Collaborator) -> Self {
        Collaborator {
            user_id: row.user_id,
            name: row.name,
            email: row.email,
            project_id: row.project_id,
            status: row.status,
        }
    }
}

/// A script run before or after one of a deployment's actions.
#[derive(Debug, Clone)]
pub struct Hook {
    pub id: HookId,
    pub project_id: ProjectId,
    pub user_id: UserId,
    pub action_id: i64,
    pub timing: String,
    pub name: String,
    pub run_as: String,
    pub script: String,
    pub sequence: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<db::hooks::Hook> for Hook {
    fn from(row: db::hooks::Hook) -> Self {
        Hook {
            id: row.id,
            project_id: row.project_id,
            user_id: row.user_id,
            action_id: row.action_id,
            timing: row.timing,
            name: row.name,
            run_as: row.run_as,
            script: row.script,
            sequence: row.sequence,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// A release directory a deployment built, as a record.
#[derive(Debug, Clone)]
pub struct Release {
    pub id: ReleaseId,
    pub project_id: ProjectId,
    pub environment: String,
    pub deployment_id: Option<i64>,
    pub name: String,
    pub commit_hash: Option<String>,
    pub commit_branch: Option<String>,
    pub commit_message: Option<String>,
    pub state: ReleaseState,
    pub created_at: Timestamp,
    pub activated_at: Option<i64>,
}

impl From<db::releases::Release> for Release {
    fn from(row: db::releases::Release) -> Self {
        Release {
            id: row.id,
            project_id: row.project_id,
            environment: row.environment,
            deployment_id: row.deployment_id,
            name: row.name,
            commit_hash: row.commit_hash,
            commit_branch: row.commit_branch,
            commit_message: row.commit_message,
            state: row.state,
            created_at: row.created_at,
            activated_at: row.activated_at,
        }
    }
}

/// A deployment environment of a project.
#[derive(Debug, Clone)]
pub struct Environment {
    pub id: EnvironmentId,
    pub project_id: ProjectId,
    pub name: String,
    pub slug: String,
    pub external_url: Option<String>,
    pub tier: String,
    pub state: String,
    pub description: Option<String>,
    pub auto_stop_at: Option<i64>,
    pub auto_stop_setting: String,
    pub on_stop: Option<String>,
    pub delete_at: Option<i64>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<db::environments::Environment> for Environment {
    fn from(row: db::environments::Environment) -> Self {
        Environment {
            id: row.id,
            project_id: row.project_id,
            name: row.name,
            slug: row.slug,
            external_url: row.external_url,
            tier: row.tier,
            state: row.state,
            description: row.description,
            auto_stop_at: row.auto_stop_at,
            auto_stop_setting: row.auto_stop_setting,
            on_stop: row.on_stop,
            delete_at: row.delete_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// A Slipway user, as others see them.
#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub name: String,
    pub email: String,
}

impl From<db::users::User> for User {
    fn from(row: db::users::User) -> Self {
        User {
            id: row.id,
            name: row.name,
            email: row.email,
        }
    }
}

/// A URL a scheduled job checks in at.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    pub id: HeartbeatId,
    pub project_id: ProjectId,
    pub name: String,
    pub interval_minutes: i64,
    pub status: String,
    pub last_checked_in_at: Option<i64>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<db::heartbeats::Heartbeat> for Heartbeat {
    fn from(row: db::heartbeats::Heartbeat) -> Self {
        Heartbeat {
            id: row.id,
            project_id: row.project_id,
            name: row.name,
            interval_minutes: row.interval_minutes,
            status: row.status,
            last_checked_in_at: row.last_checked_in_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// Where a project's deployment results are sent.
#[derive(Debug, Clone)]
pub struct Notification {
    pub id: NotificationId,
    pub project_id: ProjectId,
    pub name: String,
    pub notification_type: String,
    pub active: bool,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<db::notifications::Notification> for Notification {
    fn from(row: db::notifications::Notification) -> Self {
        Notification {
            id: row.id,
            project_id: row.project_id,
            name: row.name,
            notification_type: row.notification_type,
            active: row.active,
            last_error: row.last_error,
            last_error_at: row.last_error_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// Rows as records.
pub(crate) fn all<T, R: From<T>>(rows: Vec<T>) -> Vec<R> {
    rows.into_iter().map(R::from).collect()
}
