//! GitLab's shapes: the environment entity (fields in GitLab's order), its basic project, the
//! last deployment, and pagination headers.

use axum::http::{HeaderMap, HeaderValue, Uri};
use serde_json::{Value, json};

use crate::db::environments::Environment;
use crate::domain::catalog::Provider;
use crate::domain::deployment::DeploymentStatus;
use crate::domain::time::Timestamp;
use crate::services::environments::LastDeployment;
use crate::services::projects::ProjectView;

fn time(micros: i64) -> String {
    Timestamp(micros).gitlab()
}

/// The entity; `project` is shown by list, create, update and stop, not by get.
pub fn environment(e: &Environment, project: Option<&ProjectView>) -> Value {
    let mut value = json!({
        "id": e.id,
        "name": e.name,
        "slug": e.slug,
        "external_url": e.external_url,
        "created_at": time(e.created_at.micros()),
        "updated_at": time(e.updated_at.micros()),
        "tier": e.tier,
    });
    let map = value.as_object_mut().expect("an object");
    if let Some(project) = project {
        map.insert("project".into(), basic_project(project));
    }
    map.insert("state".into(), json!(e.state));
    map.insert("auto_stop_at".into(), json!(e.auto_stop_at.map(time)));
    map.insert("description".into(), json!(e.description));
    map.insert("auto_stop_setting".into(), json!(e.auto_stop_setting));
    // Slipway: the teardown script run on the environment's servers when it stops.
    map.insert("on_stop".into(), json!(e.on_stop));
    value
}

/// An entry of a review-app clean-up.
pub fn entry(e: &Environment) -> Value {
    json!({
        "id": e.id,
        "name": e.name,
        "slug": e.slug,
        "external_url": e.external_url,
        "created_at": time(e.created_at.micros()),
        "updated_at": time(e.updated_at.micros()),
    })
}

/// Get one: no `project`, and the latest successful deployment (or null).
pub fn environment_detail(e: &Environment, last: Option<&LastDeployment>) -> Value {
    let mut value = environment(e, None);
    let last_deployment = match last {
        None => Value::Null,
        Some(LastDeployment {
            deployment,
            number,
            user,
        }) => json!({
            "id": deployment.id,
            "iid": number,
            "ref": deployment.commit_branch,
            "sha": deployment.commit_hash,
            "created_at": time(deployment.created_at.micros()),
            "updated_at": time(deployment.updated_at.micros()),
            "status": gitlab_status(deployment.status),
            "user": user.as_ref().map(|u| json!({
                "id": u.id,
                "name": u.name,
                "username": u.email.split('@').next().unwrap_or_default(),
                "state": "active",
                "avatar_url": crate::git::avatar_url(&u.email),
                "web_url": Value::Null,
            })),
            "deployable": Value::Null,
        }),
    };
    value
        .as_object_mut()
        .expect("an object")
        .insert("last_deployment".into(), last_deployment);
    value
}

/// Slipway's deployment status in GitLab's words.
pub fn gitlab_status(status: DeploymentStatus) -> &'static str {
    match status {
        DeploymentStatus::Finished => "success",
        DeploymentStatus::Error => "failed",
        DeploymentStatus::Cancelled => "canceled",
        DeploymentStatus::Running => "running",
        DeploymentStatus::Pending => "created",
    }
}

/// GitLab's basic project shape, filled from the Slipway project (path = its `owner/name`).
fn basic_project(view: &ProjectView) -> Value {
    let p = &view.project;
    let provider = Provider::parse(&p.provider);
    let path_with_namespace = match provider {
        Some(Provider::GitlabSelf) => p
            .repository
            .split_once('/')
            .map_or(p.repository.as_str(), |(_, rest)| rest),
        Some(Provider::Custom) | None => p.name.as_str(),
        _ => p.repository.as_str(),
    };
    let (namespace, path) = path_with_namespace
        .rsplit_once('/')
        .unwrap_or(("", path_with_namespace));
    let host = match provider {
        Some(Provider::Github) => Some("github.com".to_owned()),
        Some(Provider::Bitbucket) => Some("bitbucket.org".to_owned()),
        Some(Provider::Gitlab) => Some("gitlab.com".to_owned()),
        Some(Provider::GitlabSelf) => p.repository.split('/').next().map(str::to_owned),
        _ => None,
    };
    let web = |path: &str| host.as_ref().map(|h| format!("https://{h}/{path}"));
    let clone_url = provider
        .map(|provider| provider.clone_url(&p.repository))
        .unwrap_or_else(|| p.repository.clone());
    json!({
        "id": p.id,
        "description": Value::Null,
        "name": p.name,
        "name_with_namespace": if namespace.is_empty() { p.name.clone() } else { format!("{} / {}", namespace.replace('/', " / "), p.name) },
        "path": path,
        "path_with_namespace": path_with_namespace,
        "created_at": time(p.created_at.micros()),
        "default_branch": p.branch,
        "tag_list": [],
        "topics": [],
        "ssh_url_to_repo": clone_url,
        "http_url_to_repo": web(&format!("{path_with_namespace}.git")),
        "web_url": web(path_with_namespace),
        "readme_url": Value::Null,
        "forks_count": 0,
        "avatar_url": Value::Null,
        "star_count": 0,
        "last_activity_at": time(p.updated_at.micros()),
        "visibility": "private",
        "namespace": {
            "id": p.user_id,
            "name": namespace,
            "path": namespace,
            "kind": if namespace.contains('/') { "group" } else { "user" },
            "full_path": namespace,
            "parent_id": Value::Null,
            "avatar_url": Value::Null,
            "web_url": web(namespace),
        },
    })
}

/// `X-Page`, `X-Per-Page`, `X-Next-Page`, `X-Prev-Page`, `X-Total`, `X-Total-Pages` and a
/// `Link` header built from the request's own scheme, host and port.
pub fn pagination(
    out: &mut HeaderMap,
    request: &HeaderMap,
    uri: &Uri,
    page: i64,
    per_page: i64,
    total: i64,
) {
    let pages = ((total + per_page - 1) / per_page).max(1);
    let next = (page < pages).then_some(page + 1);
    let prev = (page > 1).then(|| (page - 1).min(pages));
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            out.insert(name, value);
        }
    };
    set("x-page", page.to_string());
    set("x-per-page", per_page.to_string());
    set(
        "x-next-page",
        next.map(|n| n.to_string()).unwrap_or_default(),
    );
    set(
        "x-prev-page",
        prev.map(|n| n.to_string()).unwrap_or_default(),
    );
    set("x-total", total.to_string());
    set("x-total-pages", pages.to_string());

    let host = request
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = request
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|s| *s == "https")
        .unwrap_or("http");
    let kept: Vec<(String, String)> = crate::http::params::query_pairs(uri.query())
        .into_iter()
        .filter(|(k, _)| k != "page" && k != "per_page" && k != "private_token")
        .collect();
    let link = |page: i64, rel: &str| {
        let mut query = vec![
            ("page".to_owned(), page.to_string()),
            ("per_page".to_owned(), per_page.to_string()),
        ];
        query.extend(kept.iter().cloned());
        let query = serde_urlencoded::to_string(&query).unwrap_or_default();
        format!("<{scheme}://{host}{}?{query}>; rel=\"{rel}\"", uri.path())
    };
    let mut links = Vec::new();
    if let Some(prev) = prev {
        links.push(link(prev, "prev"));
    }
    if let Some(next) = next {
        links.push(link(next, "next"));
    }
    links.push(link(1, "first"));
    links.push(link(pages, "last"));
    set("link", links.join(", "));
}
