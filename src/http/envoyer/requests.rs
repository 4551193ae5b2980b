//! What each request may send, as the document promises it: required fields, enums, ranges
//! and lengths as the services validate them.
//!
//! These types are described, never built: the services read a loose parameter bag
//! (`Params`), because clients also send form fields, numeric strings and `"1"` for true.
//! The document names the canonical JSON types; the fuzzing run in the test suite holds it to
//! what the server really accepts. A `null` counts as not sent, so optional fields are
//! nullable, except enums, which a generated client is better off taking as plain enums.
#![allow(dead_code)]

use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
use utoipa::{IntoParams, ToSchema};

use crate::http::openapi::fields::*;

use crate::domain::catalog::{
    ACTIONS, HEARTBEAT_INTERVALS, HOOK_TIMINGS, NotificationType, PHP_VERSIONS, PROJECT_TYPES,
    Provider,
};

fn words(words: impl IntoIterator<Item = &'static str>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(words))
}

fn providers() -> ObjectBuilder {
    words(Provider::ALL.map(Provider::as_str))
}

fn project_types() -> ObjectBuilder {
    words(PROJECT_TYPES.iter().copied())
}

fn php_versions() -> ObjectBuilder {
    words(PHP_VERSIONS.iter().copied())
}

fn timings() -> ObjectBuilder {
    words(HOOK_TIMINGS.iter().copied())
}

fn action_ids() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .enum_values(Some(ACTIONS.iter().map(|a| a.id)))
}

fn intervals() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .enum_values(Some(HEARTBEAT_INTERVALS.iter().copied()))
}

fn notification_types() -> ObjectBuilder {
    words(NotificationType::ALL.map(NotificationType::as_str))
}

fn deploy_from() -> ObjectBuilder {
    words(["branch", "tag", "sha"])
}

/// Server ids of the project, as a JSON array (form clients may send `servers[]=1`).
fn server_ids() -> ArrayBuilder {
    ArrayBuilder::new().items(
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1)),
    )
}

#[derive(ToSchema)]
pub struct NewProject {
    #[schema(schema_with = name)]
    name: String,
    #[schema(schema_with = providers)]
    provider: String,
    /// `owner/name` for github and bitbucket, `group/…/name` for gitlab,
    /// `host/group/name` for gitlab-self, and a git URL for custom.
    #[schema(schema_with = repository)]
    repository: String,
    /// Defaults to `main`.
    #[schema(schema_with = git_ref)]
    branch: Option<String>,
    #[schema(schema_with = project_types)]
    r#type: Option<String>,
    #[schema(minimum = 1, maximum = 100)]
    retain_deployments: Option<i64>,
    /// An http(s) URL polled by the health checks and the health gate.
    #[schema(schema_with = http_url)]
    monitor: Option<String>,
    composer: Option<bool>,
    composer_dev: Option<bool>,
    composer_quiet: Option<bool>,
    push_to_deploy: Option<bool>,
    /// Seconds one step may run on a server.
    #[schema(minimum = 1, maximum = 86400)]
    step_timeout: Option<i64>,
    /// Needs a monitor URL.
    health_gate: Option<bool>,
    #[schema(minimum = 5, maximum = 600)]
    health_gate_seconds: Option<i64>,
    delta_releases: Option<bool>,
}

/// Every field is optional; the source (provider, repository, branch) changes through
/// `PUT …/source`.
#[derive(ToSchema)]
pub struct ProjectChanges {
    #[schema(schema_with = name)]
    name: Option<String>,
    #[schema(schema_with = project_types)]
    r#type: Option<String>,
    #[schema(minimum = 1, maximum = 100)]
    retain_deployments: Option<i64>,
    /// null or an empty string removes the monitor.
    #[schema(schema_with = http_url)]
    monitor: Option<String>,
    composer: Option<bool>,
    composer_dev: Option<bool>,
    composer_quiet: Option<bool>,
    #[schema(minimum = 1, maximum = 86400)]
    step_timeout: Option<i64>,
    health_gate: Option<bool>,
    #[schema(minimum = 5, maximum = 600)]
    health_gate_seconds: Option<i64>,
    delta_releases: Option<bool>,
}

#[derive(ToSchema)]
pub struct SourceChanges {
    #[schema(schema_with = providers)]
    provider: Option<String>,
    /// Required when the provider changes and the stored repository does not fit it.
    #[schema(schema_with = repository)]
    repository: Option<String>,
    #[schema(schema_with = git_ref)]
    branch: Option<String>,
    push_to_deploy: Option<bool>,
}

/// A folder kept across releases: `from` in each release links to `to` in the shared
/// directory. Both are relative paths without `..`.
#[derive(ToSchema)]
pub struct FolderLink {
    #[schema(schema_with = relative_path)]
    from: String,
    #[schema(schema_with = relative_path)]
    to: String,
}

/// Also accepted in snake_case: `connect_as`, `ip_address`, `php_version`, `deployment_path`,
/// `php_path`, `composer_path`, `receives_code_deployments`, `restart_fpm`.
#[derive(ToSchema)]
pub struct NewServer {
    #[schema(schema_with = name)]
    name: String,
    #[serde(rename = "connectAs")]
    #[schema(schema_with = unix_user)]
    connect_as: String,
    /// A host name or an IPv4 or IPv6 address.
    #[schema(schema_with = host)]
    host: String,
    #[schema(minimum = 1, maximum = 65535)]
    port: Option<i64>,
    #[serde(rename = "phpVersion")]
    #[schema(schema_with = php_versions)]
    php_version: String,
    #[serde(rename = "receivesCodeDeployments")]
    receives_code_deployments: Option<bool>,
    /// An absolute path; defaults to the user's home directory's `app`.
    #[serde(rename = "deploymentPath")]
    #[schema(schema_with = absolute_path)]
    deployment_path: Option<String>,
    #[serde(rename = "restartFpm")]
    restart_fpm: Option<bool>,
    /// A program name or an absolute path; defaults to `composer`.
    #[serde(rename = "composerPath")]
    #[schema(schema_with = program_path)]
    composer_path: Option<String>,
    /// A program name or an absolute path; defaults to `php`.
    #[serde(rename = "phpPath")]
    #[schema(schema_with = program_path)]
    php_path: Option<String>,
    freebsd: Option<bool>,
    /// The deployment environment the server belongs to; made when it does not exist yet.
    /// Defaults to `production`.
    #[schema(schema_with = environment_name)]
    environment: Option<String>,
}

/// Every field is optional; what is not sent keeps its value.
#[derive(ToSchema)]
pub struct ServerChanges {
    #[schema(schema_with = name)]
    name: Option<String>,
    #[serde(rename = "connectAs")]
    #[schema(schema_with = unix_user)]
    connect_as: Option<String>,
    #[schema(schema_with = host)]
    host: Option<String>,
    #[schema(minimum = 1, maximum = 65535)]
    port: Option<i64>,
    #[serde(rename = "phpVersion")]
    #[schema(schema_with = php_versions)]
    php_version: Option<String>,
    #[serde(rename = "receivesCodeDeployments")]
    receives_code_deployments: Option<bool>,
    #[serde(rename = "deploymentPath")]
    #[schema(schema_with = absolute_path)]
    deployment_path: Option<String>,
    #[serde(rename = "restartFpm")]
    restart_fpm: Option<bool>,
    #[serde(rename = "composerPath")]
    #[schema(schema_with = program_path)]
    composer_path: Option<String>,
    #[serde(rename = "phpPath")]
    #[schema(schema_with = program_path)]
    php_path: Option<String>,
    freebsd: Option<bool>,
    #[schema(schema_with = environment_name)]
    environment: Option<String>,
}

/// The key the `.env` contents are sealed with (for a reset: the new key).
#[derive(ToSchema)]
pub struct EnvironmentKey {
    #[schema(schema_with = secret_key)]
    key: String,
}

#[derive(ToSchema)]
pub struct EnvironmentUpdate {
    #[schema(schema_with = secret_key)]
    key: String,
    /// The whole `.env` file, at most 1 MiB.
    #[schema(schema_with = env_contents)]
    contents: String,
    /// The servers to write it to; by default those that hold it already (or all).
    #[schema(schema_with = server_ids)]
    servers: Option<Vec<i64>>,
}

/// Also accepted in snake_case: `run_as`, `action_id`.
#[derive(ToSchema)]
pub struct NewHook {
    #[schema(schema_with = name)]
    name: String,
    /// At most 64 KiB.
    #[schema(schema_with = script)]
    script: String,
    #[serde(rename = "runAs")]
    #[schema(schema_with = unix_user)]
    run_as: String,
    /// The action it runs before or after (see `GET /api/actions`).
    #[serde(rename = "actionId")]
    #[schema(schema_with = action_ids)]
    action_id: i64,
    #[schema(schema_with = timings)]
    timing: String,
    /// The servers it runs on; by default every server the project has now.
    #[schema(schema_with = server_ids)]
    servers: Option<Vec<i64>>,
}

/// Every field is optional; what is not sent keeps its value.
#[derive(ToSchema)]
pub struct HookChanges {
    #[schema(schema_with = name)]
    name: Option<String>,
    #[schema(schema_with = script)]
    script: Option<String>,
    #[serde(rename = "runAs")]
    #[schema(schema_with = unix_user)]
    run_as: Option<String>,
    #[serde(rename = "actionId")]
    #[schema(schema_with = action_ids)]
    action_id: Option<i64>,
    #[schema(schema_with = timings)]
    timing: Option<String>,
    /// Replaces the hook's servers.
    #[schema(schema_with = server_ids)]
    servers: Option<Vec<i64>>,
}

#[derive(ToSchema)]
pub struct NewHeartbeat {
    #[schema(schema_with = name)]
    name: String,
    /// Minutes between check-ins.
    #[schema(schema_with = intervals)]
    interval: i64,
}

#[derive(ToSchema)]
pub struct CollaboratorEmail {
    #[schema(schema_with = email)]
    email: String,
}

/// What to deploy: a branch (the project's by default), a tag or a commit. Without `from`, a
/// `sha` wins over a `branch`.
#[derive(ToSchema)]
pub struct DeployRequest {
    #[schema(schema_with = deploy_from)]
    from: Option<String>,
    #[schema(schema_with = git_ref)]
    branch: Option<String>,
    /// Required with `from: tag`.
    #[schema(schema_with = git_ref)]
    tag: Option<String>,
    #[schema(schema_with = commit_sha)]
    sha: Option<String>,
    /// Defaults to `production`.
    #[schema(schema_with = environment_name)]
    environment: Option<String>,
}

/// The release to go back to, named by its id or by the deployment that built it; by default
/// the one live before the current one.
#[derive(ToSchema)]
pub struct RollbackRequest {
    #[schema(minimum = 1, maximum = 9007199254740991_i64)]
    release: Option<i64>,
    #[schema(minimum = 1, maximum = 9007199254740991_i64)]
    deployment: Option<i64>,
    /// Defaults to the named release's environment, else `production`.
    #[schema(schema_with = environment_name)]
    environment: Option<String>,
}

/// The address field the type names is required: `email_address`, `slack_webhook`,
/// `discord_webhook` or `teams_webhook`.
#[derive(ToSchema)]
pub struct NewNotification {
    #[schema(schema_with = name)]
    name: String,
    #[schema(schema_with = notification_types)]
    r#type: String,
    #[schema(schema_with = email)]
    email_address: Option<String>,
    #[schema(schema_with = http_url)]
    slack_webhook: Option<String>,
    #[schema(schema_with = http_url)]
    discord_webhook: Option<String>,
    #[schema(schema_with = http_url)]
    teams_webhook: Option<String>,
    /// Defaults to true.
    active: Option<bool>,
}

/// Every field is optional; a changed type needs its address field.
#[derive(ToSchema)]
pub struct NotificationChanges {
    #[schema(schema_with = name)]
    name: Option<String>,
    #[schema(schema_with = notification_types)]
    r#type: Option<String>,
    #[schema(schema_with = email)]
    email_address: Option<String>,
    #[schema(schema_with = http_url)]
    slack_webhook: Option<String>,
    #[schema(schema_with = http_url)]
    discord_webhook: Option<String>,
    #[schema(schema_with = http_url)]
    teams_webhook: Option<String>,
    active: Option<bool>,
}

/// `?key=…`: the key the `.env` contents are sealed with.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeyQuery {
    #[param(schema_with = secret_key)]
    key: String,
}

/// `?environment=…`
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EnvironmentQuery {
    /// Defaults to `production`.
    #[param(schema_with = environment_name)]
    environment: Option<String>,
}

/// A deploy URL's query: what to deploy, as in Deploy Project.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeployQuery {
    #[param(schema_with = deploy_from)]
    from: Option<String>,
    #[param(schema_with = git_ref)]
    branch: Option<String>,
    #[param(schema_with = git_ref)]
    tag: Option<String>,
    #[param(schema_with = commit_sha)]
    sha: Option<String>,
    #[param(schema_with = environment_name)]
    environment: Option<String>,
}

/// A provider push web hook's headers: one event header names the provider.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct PushHeaders {
    /// GitHub's event name (`push`); signed in `X-Hub-Signature-256`.
    #[param(rename = "X-GitHub-Event")]
    github_event: Option<String>,
    #[param(rename = "X-Hub-Signature-256")]
    github_signature: Option<String>,
    /// GitLab's event name (`Push Hook`); the secret in `X-Gitlab-Token`.
    #[param(rename = "X-Gitlab-Event")]
    gitlab_event: Option<String>,
    #[param(rename = "X-Gitlab-Token")]
    gitlab_token: Option<String>,
    /// Bitbucket's event name (`repo:push`); signed in `X-Hub-Signature`.
    #[param(rename = "X-Event-Key")]
    bitbucket_event: Option<String>,
    #[param(rename = "X-Hub-Signature")]
    bitbucket_signature: Option<String>,
}
