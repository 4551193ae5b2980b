//! Response shapes of the Envoyer dialect, field for field as the API document shows them.

use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::db::collaborators::Collaborator;
use crate::db::deployments::{Deployment, Process};
use crate::db::folders::LinkedFolder;
use crate::db::servers::Server;
use crate::domain::catalog::{ACTIONS, ACTIONS_CREATED_AT, NotificationType, Provider};
use crate::domain::time::Timestamp;
use crate::services::deployments::DeploymentView;
use crate::services::heartbeats::HeartbeatView;
use crate::services::hooks::HookView;
use crate::services::notifications::NotificationView;
use crate::services::projects::ProjectView;

fn ts(micros: Option<i64>) -> Value {
    micros.map_or(Value::Null, |m| Value::String(Timestamp(m).envoyer()))
}

pub fn folders(folders: &[LinkedFolder]) -> Value {
    Value::Array(
        folders
            .iter()
            .map(|f| json!({"from": f.from_path, "to": f.to_path}))
            .collect(),
    )
}

pub fn project(view: &ProjectView) -> Value {
    let p = &view.project;
    let clone_url = Provider::parse(&p.provider)
        .map(|provider| provider.clone_url(&p.repository))
        .unwrap_or_else(|| p.repository.clone());
    let last_took = match (p.last_deployment_started_at, p.last_deployment_finished_at) {
        (Some(started), Some(finished)) => json!((finished - started).max(0) / 1_000_000),
        _ => Value::Null,
    };
    let status = if p.running_deployments > 0 {
        json!("running")
    } else {
        Value::Null
    };
    let short_hash = p
        .last_deployment_hash
        .as_deref()
        .map(|h| h.chars().take(7).collect::<String>())
        .unwrap_or_default();
    let region_status = Value::Null;
    json!({
        "id": p.id,
        "user_id": p.user_id,
        "version": 1,
        "name": p.name,
        "provider": p.provider,
        "plain_repository": p.repository,
        "repository": clone_url,
        "type": p.project_type,
        "branch": p.branch,
        "push_to_deploy": p.push_to_deploy,
        "webhook_id": Value::Null,
        "status": status,
        "should_deploy_again": p.pending_deployments.min(1),
        "deployment_started_at": ts(p.deployment_started_at),
        "deployment_finished_at": ts(p.last_deployment_finished_at),
        "last_deployment_status": p.last_deployment_status,
        "daily_deploys": p.daily_deploys,
        "weekly_deploys": p.weekly_deploys,
        "last_deployment_took": last_took,
        "retain_deployments": p.retain_deployments,
        "environment_servers": view.environment_servers,
        "folders": folders(&view.folders),
        "monitor": p.monitor,
        "new_york_status": region_status,
        "london_status": region_status,
        "singapore_status": region_status,
        "token": view.token.expose_secret(),
        "created_at": p.created_at.envoyer(),
        "updated_at": p.updated_at.envoyer(),
        "install_dev_dependencies": p.install_dev_dependencies,
        "install_dependencies": p.install_dependencies,
        "quiet_composer": p.quiet_composer,
        "servers": view.servers.iter().map(server).collect::<Vec<_>>(),
        "has_environment": p.has_environment,
        "has_monitoring_error": false,
        "has_missing_heartbeats": p.has_missing_heartbeats,
        "last_deployed_branch": p.last_deployment_branch,
        "last_deployment_id": p.last_deployment_id,
        "last_deployment_author": p.last_deployment_author,
        "last_deployment_avatar": p.last_deployment_avatar,
        "last_deployment_hash": short_hash,
        "last_deployment_timestamp": p.last_deployment_finished_at
            .map(|f| Timestamp(f).ago(view.now)),
    })
}

pub fn server(s: &Server) -> Value {
    json!({
        "id": s.id,
        "project_id": s.project_id,
        "user_id": s.user_id,
        "name": s.name,
        "connect_as": s.connect_as,
        "ip_address": s.host,
        "port": s.port.to_string(),
        "php_seven": s.php_version.starts_with("php7"),
        "php_version": s.php_version,
        "freebsd": s.freebsd,
        "receives_code_deployments": s.receives_code_deployments,
        "should_restart_fpm": s.should_restart_fpm,
        "deployment_path": s.deployment_path,
        "php_path": s.php_path,
        "composer_path": s.composer_path,
        "public_key": s.public_key,
        "connection_status": s.connection_status,
        "current_activity": s.current_activity,
        "created_at": s.created_at.envoyer(),
        "updated_at": s.updated_at.envoyer(),
    })
}

pub fn servers(servers: &[Server]) -> Value {
    Value::Array(servers.iter().map(server).collect())
}

pub fn actions() -> Value {
    let created = ACTIONS_CREATED_AT.envoyer();
    Value::Array(
        ACTIONS
            .iter()
            .map(|a| {
                json!({
                    "id": a.id,
                    "version": 1,
                    "name": a.name,
                    "view": a.view,
                    "sequence": a.id,
                    "created_at": created,
                    "updated_at": created,
                })
            })
            .collect(),
    )
}

pub fn hook(view: &HookView) -> Value {
    let h = &view.hook;
    json!({
        "user_id": h.user_id,
        "action_id": h.action_id,
        "timing": h.timing,
        "name": h.name,
        "run_as": h.run_as,
        "script": h.script,
        "sequence": h.sequence,
        "project_id": h.project_id,
        "updated_at": h.updated_at.envoyer(),
        "created_at": h.created_at.envoyer(),
        "id": h.id,
        "servers": view.servers,
    })
}

pub fn deployment(d: &Deployment) -> Value {
    json!({
        "id": d.id,
        "project_id": d.project_id,
        "user_id": d.user_id,
        "commit_branch": d.commit_branch,
        "commit_hash": d.commit_hash,
        "commit_author": d.commit_author,
        "commit_avatar": d.commit_avatar,
        "commit_message": d.commit_message,
        "status": d.status,
        "created_at": d.created_at.envoyer(),
        "updated_at": d.updated_at.envoyer(),
    })
}

fn process(p: &Process) -> Value {
    let unix = |micros: Option<i64>| micros.map(|m| Timestamp(m).unix_seconds());
    json!({
        "id": p.id,
        "deployment_id": p.deployment_id,
        "project_id": p.project_id,
        "server_id": p.server_id,
        "server_name": p.server_name,
        "sequence": p.sequence,
        "name": p.name,
        "action_id": p.action_id,
        "hook_id": p.hook_id,
        "status": p.status,
        "started_at": unix(p.started_at),
        "finished_at": unix(p.finished_at),
        "created_at": p.created_at.envoyer(),
        "updated_at": p.updated_at.envoyer(),
        "server": Value::Null,
    })
}

pub fn deployment_detail(view: &DeploymentView) -> Value {
    let mut value = deployment(&view.deployment);
    if let Value::Object(map) = &mut value {
        map.insert(
            "processes".into(),
            Value::Array(view.processes.iter().map(process).collect()),
        );
        map.insert("project".into(), project(&view.project));
    }
    value
}

pub fn heartbeat(view: &HeartbeatView) -> Value {
    let h = &view.heartbeat;
    json!({
        "id": h.id,
        "project_id": h.project_id,
        "name": h.name,
        "token": view.token.expose_secret(),
        "interval": h.interval_minutes,
        "status": h.status,
        "last_checked_in_at": ts(h.last_checked_in_at),
        "created_at": h.created_at.envoyer(),
        "updated_at": h.updated_at.envoyer(),
    })
}

pub fn collaborator(c: &Collaborator) -> Value {
    json!({
        "id": c.user_id,
        "name": c.name,
        "email": c.email,
        "pivot": {
            "project_id": c.project_id,
            "collaborator_id": c.user_id,
            "status": c.status,
        },
    })
}

pub fn notification(view: &NotificationView) -> Value {
    let n = &view.notification;
    let key = NotificationType::parse(&n.notification_type)
        .map(NotificationType::option_key)
        .unwrap_or("webhook");
    json!({
        "id": n.id,
        "project_id": n.project_id,
        "name": n.name,
        "type": n.notification_type,
        "options": { key: view.address.expose_secret() },
        "active": i64::from(n.active),
        "created_at": n.created_at.envoyer(),
        "updated_at": n.updated_at.envoyer(),
    })
}
