//! The dashboard's pages: one typed template each, filled from what the services answer.
//! Every value is escaped by the templates; nothing here writes HTML.

use askama::Template;
use askama_web::WebTemplate;

use crate::domain::deployment::{DeploymentKind, ProcessStatus, ReleaseState};
use crate::domain::time::Timestamp;
use crate::services::deployments::DeploymentView;
use crate::services::projects::ProjectView;
use crate::services::records::{Deployment, Process, ProcessOutput, Release};
use crate::services::releases::ReleaseView;

/// What every page's frame shows: the sign-out form (with the session's anti-forgery token)
/// and a notice.
#[derive(Default)]
pub struct Layout {
    pub csrf: Option<String>,
    pub notice: Option<String>,
}

impl Layout {
    pub fn signed_in(csrf: &str) -> Layout {
        Layout {
            csrf: Some(csrf.to_owned()),
            notice: None,
        }
    }

    pub fn csrf_value(&self) -> &str {
        self.csrf.as_deref().unwrap_or_default()
    }
}

/// What a form was sent with, to show it again beside its errors.
#[derive(Default)]
pub struct FormValues(pub Vec<(String, String)>);

impl FormValues {
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(field, _)| field == name)
            .map_or("", |(_, value)| value.as_str())
    }
}

/// A form's errors by field, as the services name the fields.
#[derive(Default)]
pub struct FormErrors(pub Vec<(String, String)>);

impl FormErrors {
    pub fn from(errors: &crate::domain::validation::FieldErrors) -> FormErrors {
        FormErrors(
            errors
                .iter()
                .flat_map(|(field, problems)| {
                    problems
                        .iter()
                        .map(move |p| (field.to_owned(), super::words::sentence(field, p)))
                })
                .collect(),
        )
    }

    pub fn for_field(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, message)| message.as_str())
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "new_project.html")]
pub struct NewProjectPage {
    pub layout: Layout,
    pub values: FormValues,
    pub errors: FormErrors,
    pub providers: Vec<&'static str>,
    pub types: &'static [&'static str],
}

impl NewProjectPage {
    pub fn new(layout: Layout, values: FormValues, errors: FormErrors) -> NewProjectPage {
        NewProjectPage {
            layout,
            values,
            errors,
            providers: crate::domain::catalog::Provider::ALL
                .iter()
                .map(|p| p.as_str())
                .collect(),
            types: crate::domain::catalog::PROJECT_TYPES,
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub layout: Layout,
    /// The sign-in forms' anti-forgery value, also set as a cookie.
    pub guard: String,
    pub email: String,
    pub email_error: Option<String>,
    pub token_error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub layout: Layout,
    pub title: &'static str,
    pub message: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "projects.html")]
pub struct ProjectsPage {
    pub layout: Layout,
    pub projects: Vec<ProjectRow>,
    pub next_page: Option<i64>,
}

pub struct ProjectRow {
    pub id: i64,
    pub name: String,
    pub repository: String,
    pub branch: String,
    pub state: &'static str,
    pub last: Option<LastDeployment>,
    /// (region, status) of each region's latest check.
    pub health: Vec<(String, String)>,
    pub heartbeats_missing: bool,
}

pub struct LastDeployment {
    pub status: String,
    pub commit: String,
    pub author: String,
    pub when: String,
    pub took: Option<String>,
}

/// A project's state as its list shows it: a deployment running, one waiting, or neither.
pub fn project_state(view: &ProjectView) -> &'static str {
    if view.project.running_deployments > 0 {
        "running"
    } else if view.project.pending_deployments > 0 {
        "pending"
    } else {
        "idle"
    }
}

pub fn project_row(view: &ProjectView) -> ProjectRow {
    let p = &view.project;
    let last = p
        .last_deployment_status
        .as_ref()
        .map(|status| LastDeployment {
            status: status.clone(),
            commit: p
                .last_deployment_hash
                .as_deref()
                .map(short)
                .unwrap_or_default(),
            author: p.last_deployment_author.clone().unwrap_or_default(),
            when: p
                .last_deployment_finished_at
                .map(|at| Timestamp(at).ago(view.now))
                .unwrap_or_default(),
            took: match (p.last_deployment_started_at, p.last_deployment_finished_at) {
                (Some(start), Some(end)) => Some(duration(end - start)),
                _ => None,
            },
        });
    ProjectRow {
        id: p.id.0,
        name: p.name.clone(),
        repository: p.repository.clone(),
        branch: p.branch.clone(),
        state: project_state(view),
        last,
        health: p
            .health_checks
            .iter()
            .map(|c| (c.region.clone(), c.status.clone()))
            .collect(),
        heartbeats_missing: p.has_missing_heartbeats,
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "project.html")]
pub struct ProjectPage {
    pub layout: Layout,
    pub id: i64,
    pub name: String,
    pub repository: String,
    pub branch: String,
    pub environments: Vec<String>,
    pub deploy_errors: Vec<String>,
    pub release_errors: Vec<String>,
    pub deployments: Vec<DeploymentRow>,
    pub release_environment: String,
    pub releases: Vec<ReleaseRow>,
    pub servers: Vec<ServerRow>,
    pub server_form: FormValues,
    pub server_errors: Vec<String>,
    pub php_versions: &'static [&'static str],
}

pub struct DeploymentRow {
    pub id: i64,
    pub status: String,
    pub commit: String,
    pub message: String,
    pub environment: String,
    pub when: String,
    pub rollback: bool,
}

pub struct ReleaseRow {
    pub id: i64,
    pub name: String,
    pub state: &'static str,
    pub commit: String,
    pub message: String,
    /// Where it is complete, in words.
    pub servers: String,
    /// Offered as a rollback target.
    pub target: bool,
}

pub struct ServerRow {
    pub id: i64,
    pub name: String,
    pub address: String,
    pub environment: String,
    pub status: String,
    pub status_class: &'static str,
    pub error: Option<String>,
    pub public_key: String,
}

/// What went wrong in one of the project page's forms, shown beside it.
#[derive(Default)]
pub struct ProjectForms {
    pub deploy_errors: Vec<String>,
    pub release_errors: Vec<String>,
    pub server_form: FormValues,
    pub server_errors: Vec<String>,
}

/// The project page's sections.
pub fn project_page(
    layout: Layout,
    view: &ProjectView,
    deployments: &[Deployment],
    releases: &[ReleaseView],
    forms: ProjectForms,
) -> ProjectPage {
    let p = &view.project;
    let mut environments: Vec<String> =
        view.servers.iter().map(|s| s.environment.clone()).collect();
    environments.sort();
    environments.dedup();
    if let Some(at) = environments.iter().position(|e| e == "production") {
        let production = environments.remove(at);
        environments.insert(0, production);
    }
    ProjectPage {
        layout,
        id: p.id.0,
        name: p.name.clone(),
        repository: p.repository.clone(),
        branch: p.branch.clone(),
        environments,
        deploy_errors: forms.deploy_errors,
        release_errors: forms.release_errors,
        server_form: if forms.server_form.0.is_empty() {
            FormValues(vec![
                ("port".into(), "22".into()),
                ("php_version".into(), "php83".into()),
                ("environment".into(), "production".into()),
            ])
        } else {
            forms.server_form
        },
        server_errors: forms.server_errors,
        php_versions: crate::domain::catalog::PHP_VERSIONS,
        deployments: deployments
            .iter()
            .take(20)
            .map(|d| DeploymentRow {
                id: d.id.0,
                status: d.status.to_string(),
                commit: d.commit_hash.as_deref().map(short).unwrap_or_default(),
                message: d.commit_message.clone().unwrap_or_default(),
                environment: d.environment.clone(),
                when: d.created_at.ago(view.now),
                rollback: d.kind == DeploymentKind::Rollback,
            })
            .collect(),
        release_environment: "production".to_owned(),
        releases: releases.iter().map(release_row).collect(),
        servers: view
            .servers
            .iter()
            .map(|s| ServerRow {
                id: s.id.0,
                name: s.name.clone(),
                address: format!("{}@{}:{}", s.connect_as, s.host, s.port),
                environment: s.environment.clone(),
                status: s.connection_status.clone(),
                status_class: match s.connection_status.as_str() {
                    "successful" => "finished",
                    "failed" => "error",
                    _ => "unknown",
                },
                error: s.connection_error.clone(),
                public_key: s.public_key.trim().to_owned(),
            })
            .collect(),
    }
}

fn release_row(view: &ReleaseView) -> ReleaseRow {
    let r: &Release = &view.release;
    let complete = view.servers.iter().filter(|s| s.present).count();
    ReleaseRow {
        id: r.id.0,
        name: r.name.clone(),
        state: r.state.as_str(),
        commit: r.commit_hash.as_deref().map(short).unwrap_or_default(),
        message: r.commit_message.clone().unwrap_or_default(),
        servers: format!("complete on {complete} of {}", view.servers.len()),
        target: r.state == ReleaseState::Ready
            && !view.live
            && !view.servers.is_empty()
            && complete == view.servers.len(),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "deployment.html")]
pub struct DeploymentPage {
    pub layout: Layout,
    pub id: i64,
    pub project_id: i64,
    pub project_name: String,
    pub rollback: bool,
    pub status: String,
    pub open: bool,
    pub commit: String,
    pub message: String,
    pub author: Option<String>,
    pub environment: String,
    pub error: Option<String>,
    /// The column heads: each server's name, and "Slipway" for steps it runs itself.
    pub servers: Vec<String>,
    pub steps: Vec<StepRow>,
    pub outputs: Vec<OutputBlock>,
}

pub struct StepRow {
    pub name: String,
    pub cells: Vec<Option<Cell>>,
}

pub struct Cell {
    pub process: i64,
    pub status: &'static str,
    pub took: Option<String>,
}

pub struct OutputBlock {
    pub id: i64,
    pub name: String,
    pub server: Option<String>,
    pub status: &'static str,
    pub text: String,
    /// Failed steps are shown open.
    pub open: bool,
}

/// The grid of step × server, and every process's output.
pub fn deployment_page(
    layout: Layout,
    view: &DeploymentView,
    outputs: &[ProcessOutput],
) -> DeploymentPage {
    let d = &view.deployment;
    let column = |p: &Process| {
        p.server_name
            .clone()
            .unwrap_or_else(|| "Slipway".to_owned())
    };
    let mut servers: Vec<String> = Vec::new();
    for process in &view.processes {
        let name = column(process);
        if !servers.contains(&name) {
            servers.push(name);
        }
    }
    let mut steps: Vec<(i64, StepRow)> = Vec::new();
    for process in &view.processes {
        let at = servers
            .iter()
            .position(|s| *s == column(process))
            .unwrap_or(0);
        if steps
            .last()
            .is_none_or(|(sequence, _)| *sequence != process.sequence)
        {
            steps.push((
                process.sequence,
                StepRow {
                    name: process.name.clone(),
                    cells: servers.iter().map(|_| None).collect(),
                },
            ));
        }
        if let Some((_, row)) = steps.last_mut() {
            row.cells.resize_with(servers.len(), || None);
            row.cells[at] = Some(Cell {
                process: process.id,
                status: process.status.as_str(),
                took: match (process.started_at, process.finished_at) {
                    (Some(start), Some(end)) => Some(duration(end - start)),
                    _ => None,
                },
            });
        }
    }
    for (_, row) in &mut steps {
        row.cells.resize_with(servers.len(), || None);
    }
    DeploymentPage {
        layout,
        id: d.id.0,
        project_id: d.project_id.0,
        project_name: view.project.project.name.clone(),
        rollback: d.kind == DeploymentKind::Rollback,
        status: d.status.to_string(),
        open: d.status.is_open(),
        commit: d.commit_hash.as_deref().map(short).unwrap_or_default(),
        message: d.commit_message.clone().unwrap_or_default(),
        author: d.commit_author.clone(),
        environment: d.environment.clone(),
        error: d.error.clone(),
        servers,
        steps: steps.into_iter().map(|(_, row)| row).collect(),
        outputs: outputs
            .iter()
            .map(|o| OutputBlock {
                id: o.id,
                name: o.name.clone(),
                server: o.server_name.clone(),
                status: o.status.as_str(),
                text: o.output.clone(),
                open: o.status == ProcessStatus::Error,
            })
            .collect(),
    }
}

fn short(hash: &str) -> String {
    hash.get(..7).unwrap_or(hash).to_owned()
}

/// A duration given in microseconds, as a person reads it.
fn duration(micros: i64) -> String {
    let seconds = micros.max(0) as f64 / 1e6;
    if seconds < 10.0 {
        format!("{seconds:.1} s")
    } else if seconds < 120.0 {
        format!("{seconds:.0} s")
    } else {
        format!("{:.0} min", seconds / 60.0)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "settings.html")]
pub struct SettingsPage {
    pub layout: Layout,
    /// What went wrong, shown in the section whose form caused it.
    pub errors: Vec<String>,
    pub error_section: String,
    pub id: i64,
    pub name: String,
    pub branch: String,
    pub retain: i64,
    pub step_timeout: i64,
    pub monitor: String,
    pub health_gate: bool,
    pub health_gate_seconds: i64,
    pub delta_releases: bool,
    pub providers: Vec<&'static str>,
    pub provider_now: String,
    pub repository: String,
    pub folders: Vec<crate::services::records::LinkedFolder>,
    pub hooks: Vec<HookRow>,
    pub actions: Vec<(i64, &'static str)>,
    pub heartbeats: Vec<HeartbeatRow>,
    pub intervals: &'static [i64],
    pub channels: Vec<ChannelRow>,
    pub channel_types: Vec<&'static str>,
    pub collaborators: Vec<crate::services::records::Collaborator>,
    pub environments: Vec<EnvironmentRow>,
    /// The `.env` contents, once shown with the right key (never stored by the page).
    pub env_contents: String,
}

pub struct HookRow {
    pub id: i64,
    pub name: String,
    pub when: String,
    pub run_as: String,
}

pub struct HeartbeatRow {
    pub id: i64,
    pub name: String,
    pub interval: i64,
    pub status: String,
    pub url: String,
}

pub struct ChannelRow {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub active: bool,
    pub last_error: Option<String>,
}

pub struct EnvironmentRow {
    pub id: i64,
    pub name: String,
    pub state: String,
}

/// Everything the settings page lists.
pub struct Settings<'a> {
    pub view: &'a ProjectView,
    pub hooks: &'a [crate::services::hooks::HookView],
    pub heartbeats: &'a [crate::services::heartbeats::HeartbeatView],
    pub channels: &'a [crate::services::notifications::NotificationView],
    pub collaborators: Vec<crate::services::records::Collaborator>,
    pub environments: &'a [crate::services::records::Environment],
    pub public_url: String,
}

pub fn settings_page(
    layout: Layout,
    settings: Settings<'_>,
    (error_section, errors): (String, Vec<String>),
    env_contents: String,
) -> SettingsPage {
    use crate::domain::catalog::{ACTIONS, HEARTBEAT_INTERVALS, NotificationType, action};
    use secrecy::ExposeSecret;
    let p = &settings.view.project;
    SettingsPage {
        layout,
        errors,
        error_section,
        id: p.id.0,
        name: p.name.clone(),
        branch: p.branch.clone(),
        retain: p.retain_deployments,
        step_timeout: p.step_timeout_seconds,
        monitor: p.monitor.clone().unwrap_or_default(),
        health_gate: p.health_gate,
        health_gate_seconds: p.health_gate_seconds,
        delta_releases: p.delta_releases,
        providers: crate::domain::catalog::Provider::ALL
            .iter()
            .map(|p| p.as_str())
            .collect(),
        provider_now: p.provider.clone(),
        repository: p.repository.clone(),
        folders: p.folders.clone(),
        hooks: settings
            .hooks
            .iter()
            .map(|h| HookRow {
                id: h.hook.id.0,
                name: h.hook.name.clone(),
                when: format!(
                    "{} {}",
                    h.hook.timing,
                    action(h.hook.action_id).map_or("?", |a| a.name)
                ),
                run_as: h.hook.run_as.clone(),
            })
            .collect(),
        actions: ACTIONS.iter().map(|a| (a.id, a.name)).collect(),
        heartbeats: settings
            .heartbeats
            .iter()
            .map(|h| HeartbeatRow {
                id: h.heartbeat.id.0,
                name: h.heartbeat.name.clone(),
                interval: h.heartbeat.interval_minutes,
                status: h.heartbeat.status.clone(),
                url: format!(
                    "{}/heartbeat/{}",
                    settings.public_url,
                    h.token.expose_secret()
                ),
            })
            .collect(),
        intervals: HEARTBEAT_INTERVALS,
        channels: settings
            .channels
            .iter()
            .map(|c| ChannelRow {
                id: c.notification.id.0,
                name: c.notification.name.clone(),
                kind: c.notification.notification_type.clone(),
                active: c.notification.active,
                last_error: c.notification.last_error.clone(),
            })
            .collect(),
        channel_types: NotificationType::ALL.iter().map(|t| t.as_str()).collect(),
        collaborators: settings.collaborators,
        environments: settings
            .environments
            .iter()
            .map(|e| EnvironmentRow {
                id: e.id.0,
                name: e.name.clone(),
                state: e.state.clone(),
            })
            .collect(),
        env_contents,
    }
}
