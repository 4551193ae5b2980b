//! The pages: projects, a project (deploy, releases, servers), a new project, a deployment
//! followed live, and the actions they offer.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Map, Value, json};

use super::*;

pub(super) async fn new_project_page(
    State(app): State<AppState>,
    headers: HeaderMap,
) -> PageResult {
    let viewer = viewer(&app, &headers).await?;
    let defaults = FormValues(vec![
        ("provider".into(), "github".into()),
        ("branch".into(), "main".into()),
        ("type".into(), "laravel-5".into()),
    ]);
    Ok(NewProjectPage::new(
        Layout::signed_in(&viewer.csrf),
        defaults,
        FormErrors::default(),
    )
    .into_response())
}

/// The fields of a form as sent, without its anti-forgery token.
fn sent_values(body: &Bytes) -> FormValues {
    let pairs = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).unwrap_or_default();
    FormValues(
        pairs
            .into_iter()
            .filter(|(name, _)| name != "_token")
            .collect(),
    )
}

pub(super) async fn create_project(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (viewer, params) = match form(&app, &headers, &body).await {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    match projects::create(&app, &viewer.principal, &params).await {
        Ok(view) => Redirect::to(&format!("/projects/{}", view.project.id)).into_response(),
        Err(Error::Invalid(errors)) => {
            let page = NewProjectPage::new(
                Layout::signed_in(&viewer.csrf),
                sent_values(&body),
                FormErrors::from(&errors),
            );
            (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
        }
        Err(err) => PageError(err).into_response(),
    }
}

pub(super) async fn add_server(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(project): Path<String>,
    body: Bytes,
) -> Response {
    let (viewer, params, project) = match project_form(&app, &headers, &body, &project).await {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    match servers::create(&app, &viewer.principal, project, &params).await {
        Ok(_) => Redirect::to(&format!("/projects/{project}")).into_response(),
        Err(err) => {
            let sent = sent_values(&body);
            project_with_errors(&app, &viewer, project, err, |problems| ProjectForms {
                server_form: sent,
                server_errors: problems,
                ..ProjectForms::default()
            })
            .await
        }
    }
}

#[derive(serde::Deserialize)]
pub(super) struct PageQuery {
    after: Option<String>,
}

pub(super) async fn projects_page(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<PageQuery>,
) -> PageResult {
    let viewer = viewer(&app, &headers).await?;
    let after = query.after.and_then(|a| a.parse::<i64>().ok()).unwrap_or(0);
    let after = ProjectId(after.max(0));
    // One more than a page tells whether there is a next page.
    let mut list = projects::list_page(&app, &viewer.principal, after, PAGE + 1).await?;
    let next_page = (list.len() as i64 > PAGE).then(|| {
        list.truncate(PAGE as usize);
        list.last().map(|p| p.project.id.0).unwrap_or_default()
    });
    Ok(ProjectsPage {
        layout: Layout::signed_in(&viewer.csrf),
        projects: list.iter().map(views::project_row).collect(),
        next_page,
    }
    .into_response())
}

#[derive(serde::Deserialize)]
pub(super) struct StatusQuery {
    ids: Option<String>,
}

/// The state of the listed projects, for the projects page to refresh itself.
pub(super) async fn projects_status(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<StatusQuery>,
) -> Response {
    let viewer = match background_viewer(&app, &headers, true).await {
        Ok(viewer) => viewer,
        Err(over) => return over,
    };
    let mut states = Vec::new();
    for id in query
        .ids
        .unwrap_or_default()
        .split(',')
        .filter_map(|id| id.parse::<i64>().ok())
        .take(PAGE as usize)
    {
        if let Ok(view) = projects::get(&app, &viewer.principal, ProjectId(id)).await {
            states.push(json!({"id": id, "state": views::project_state(&view)}));
        }
    }
    Json(states).into_response()
}

pub(super) async fn project_page(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(project): Path<String>,
) -> PageResult {
    let viewer = viewer(&app, &headers).await?;
    let page = render_project(&app, &viewer, id(&project)?, ProjectForms::default()).await?;
    Ok(page.into_response())
}

async fn render_project(
    app: &App,
    viewer: &Viewer,
    project: ProjectId,
    forms: ProjectForms,
) -> Result<views::ProjectPage, PageError> {
    let who = &viewer.principal;
    let view = projects::get(app, who, project).await?;
    let list = deployments::list(app, who, project).await?;
    let releases = releases::list(app, who, project, &Params::default()).await?;
    Ok(views::project_page(
        Layout::signed_in(&viewer.csrf),
        &view,
        &list,
        &releases,
        forms,
    ))
}

/// Shows the project page again with what went wrong beside the form that caused it, or
/// answers the failure as a page.
async fn project_with_errors(
    app: &App,
    viewer: &Viewer,
    project: ProjectId,
    err: Error,
    forms: impl FnOnce(Vec<String>) -> ProjectForms,
) -> Response {
    let (status, problems) = match err {
        Error::Invalid(errors) => (StatusCode::UNPROCESSABLE_ENTITY, super::messages(&errors)),
        Error::Failed(failure) => (
            StatusCode::BAD_REQUEST,
            vec![super::words::failure(&failure)],
        ),
        other => return PageError(other).into_response(),
    };
    match render_project(app, viewer, project, forms(problems)).await {
        Ok(page) => (status, page).into_response(),
        Err(err) => err.into_response(),
    }
}

/// Errors of the deploy form.
fn beside_deploy(problems: Vec<String>) -> ProjectForms {
    ProjectForms {
        deploy_errors: problems,
        ..ProjectForms::default()
    }
}

pub(super) async fn deploy(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(project): Path<String>,
    body: Bytes,
) -> Response {
    let (viewer, params, project) = match project_form(&app, &headers, &body, &project).await {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    // The form names the kind of ref in `from` and the ref itself in `ref`.
    let field = |name: &str| params.string(name, &mut Default::default());
    let from = field("from").unwrap_or_else(|| "branch".to_owned());
    let mut request = Map::new();
    let target_field = match from.as_str() {
        "tag" => "tag",
        "sha" => "sha",
        _ => "branch",
    };
    request.insert("from".into(), Value::String(from.clone()));
    if let Some(name) = field("ref").filter(|r| !r.trim().is_empty()) {
        request.insert(target_field.into(), Value::String(name.trim().to_owned()));
    }
    if let Some(environment) = field("environment") {
        request.insert("environment".into(), Value::String(environment));
    }
    match deployments::create(&app, &viewer.principal, project, &Params::new(request)).await {
        Ok(deployment) => Redirect::to(&format!(
            "/projects/{project}/deployments/{}",
            deployment.id
        ))
        .into_response(),
        Err(err) => project_with_errors(&app, &viewer, project, err, beside_deploy).await,
    }
}

pub(super) async fn roll_back(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(project): Path<String>,
    body: Bytes,
) -> Response {
    let (viewer, params, project) = match project_form(&app, &headers, &body, &project).await {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    match releases::rollback(&app, &viewer.principal, project, &params).await {
        Ok(view) => Redirect::to(&format!(
            "/projects/{project}/deployments/{}",
            view.deployment.id
        ))
        .into_response(),
        Err(err) => {
            project_with_errors(&app, &viewer, project, err, |problems| ProjectForms {
                release_errors: problems,
                ..ProjectForms::default()
            })
            .await
        }
    }
}

pub(super) async fn refresh_server(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path((project, server)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let (viewer, _) = match form(&app, &headers, &body).await {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let (Ok(project), Ok(server)) = (id::<ProjectId>(&project), id::<ServerId>(&server)) else {
        return PageError(Error::NotFound).into_response();
    };
    match servers::refresh(&app, &viewer.principal, project, server).await {
        Ok(_) => Redirect::to(&format!("/projects/{project}")).into_response(),
        Err(err) => {
            project_with_errors(&app, &viewer, project, err, |problems| ProjectForms {
                server_errors: problems,
                ..ProjectForms::default()
            })
            .await
        }
    }
}

pub(super) async fn deployment_page(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path((project, deployment)): Path<(String, String)>,
) -> PageResult {
    let viewer = viewer(&app, &headers).await?;
    let (project, deployment): (ProjectId, DeploymentId) = (id(&project)?, id(&deployment)?);
    let view = deployments::get(&app, &viewer.principal, project, deployment).await?;
    let outputs = deployments::output(&app, &viewer.principal, project, deployment).await?;
    Ok(views::deployment_page(Layout::signed_in(&viewer.csrf), &view, &outputs).into_response())
}

pub(super) async fn deployment_events(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path((project, deployment)): Path<(String, String)>,
) -> Response {
    let viewer = match background_viewer(&app, &headers, false).await {
        Ok(viewer) => viewer,
        Err(over) => return over,
    };
    let followed = async {
        let follow =
            deployments::follow(&app, &viewer.principal, id(&project)?, id(&deployment)?).await?;
        Ok::<_, PageError>(crate::http::events::deployment_events(follow))
    };
    followed.await.unwrap_or_else(IntoResponse::into_response)
}

pub(super) async fn cancel_deployment(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path((project, deployment)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let (viewer, _) = match form(&app, &headers, &body).await {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let (Ok(project), Ok(deployment)) =
        (id::<ProjectId>(&project), id::<DeploymentId>(&deployment))
    else {
        return PageError(Error::NotFound).into_response();
    };
    let page = format!("/projects/{project}/deployments/{deployment}");
    match deployments::cancel(&app, &viewer.principal, project, deployment).await {
        // A deployment that ended meanwhile shows how it ended.
        Ok(()) | Err(Error::Failed(_)) => Redirect::to(&page).into_response(),
        Err(err) => PageError(err).into_response(),
    }
}
