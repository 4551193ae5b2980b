//! A project's settings page and its forms.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::ExposeSecret;
use serde_json::{Map, Value};

use super::*;
use crate::domain::validation::Problem;

pub(super) async fn settings_page(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(project): Path<String>,
) -> PageResult {
    let viewer = viewer(&app, &headers).await?;
    let page = render_settings(
        &app,
        &viewer,
        id(&project)?,
        Default::default(),
        String::new(),
    )
    .await?;
    Ok(page.into_response())
}

async fn render_settings(
    app: &App,
    viewer: &Viewer,
    project: ProjectId,
    errors: (String, Vec<String>),
    env_contents: String,
) -> Result<views::SettingsPage, PageError> {
    let who = &viewer.principal;
    let view = projects::get(app, who, project).await?;
    let hooks = hooks::list(app, who, project).await?;
    let heartbeats = heartbeats::list(app, who, project).await?;
    let channels = notifications::list(app, who, project).await?;
    let collaborators = collaborators::list(app, who, project).await?;
    let everything = environments::ListQuery {
        per_page: Some(100),
        ..Default::default()
    };
    let environments = environments::list(app, who, project.into(), &everything)
        .await?
        .environments;
    Ok(views::settings_page(
        Layout::signed_in(&viewer.csrf),
        views::Settings {
            view: &view,
            hooks: &hooks,
            heartbeats: &heartbeats,
            channels: &channels,
            collaborators,
            environments: &environments,
            public_url: app.config.public_url(),
        },
        errors,
        env_contents,
    ))
}

/// After a settings form: back to its section, or the page again with what went wrong.
async fn settings_outcome(
    app: &App,
    viewer: &Viewer,
    project: ProjectId,
    section: &str,
    outcome: Result<(), Error>,
) -> Response {
    settings_answer(app, viewer, project, section, outcome, String::new()).await
}

/// As [`settings_outcome`], with what the `.env` box held, to show it again on a failure.
async fn settings_answer(
    app: &App,
    viewer: &Viewer,
    project: ProjectId,
    section: &str,
    outcome: Result<(), Error>,
    env_contents: String,
) -> Response {
    // Deletions and stops belong to their list's section.
    let section = match section {
        "collaborator-removal" => "collaborators",
        "folder-removal" => "folders",
        other => other,
    };
    let problems = match outcome {
        Ok(()) => {
            return Redirect::to(&format!("/projects/{project}/settings#{section}"))
                .into_response();
        }
        Err(Error::Invalid(errors)) => super::messages(&errors),
        Err(Error::Failed(failure)) => vec![super::words::failure(&failure)],
        Err(other) => return PageError(other).into_response(),
    };
    let errors = (section.to_owned(), problems);
    match render_settings(app, viewer, project, errors, env_contents).await {
        Ok(page) => (StatusCode::UNPROCESSABLE_ENTITY, page).into_response(),
        Err(err) => err.into_response(),
    }
}

/// The settings forms that add or change something: project fields, a hook, a heartbeat, a
/// channel, a collaborator, the `.env` file.
pub(super) async fn settings_change(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path((project, section)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let (viewer, params, project) = match project_form(&app, &headers, &body, &project).await {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let who = &viewer.principal;
    let outcome = match section.as_str() {
        "project" => projects::update(&app, who, project, &params)
            .await
            .map(drop),
        "source" => projects::update_source(&app, who, project, &params)
            .await
            .map(drop),
        "folders" => projects::create_folder(&app, who, project, &params)
            .await
            .map(drop),
        "folder-removal" => projects::delete_folder(&app, who, project, &params).await,
        "environments" => environments::create_named(&app, who, project, &params)
            .await
            .map(drop),
        "hooks" => hooks::create(&app, who, project, &params).await.map(drop),
        "heartbeats" => heartbeats::create(&app, who, project, &params)
            .await
            .map(drop),
        "notifications" => notifications::create(&app, who, project, &channel_params(&params))
            .await
            .map(drop),
        "collaborators" => collaborators::invite(&app, who, project, &params)
            .await
            .map(drop),
        "collaborator-removal" => collaborators::remove(&app, who, project, &params).await,
        "env" => return env_form(&app, &viewer, project, &params).await,
        _ => return PageError(Error::NotFound).into_response(),
    };
    settings_outcome(&app, &viewer, project, &section, outcome).await
}

/// A channel's one address field, named after its type as the API names it.
fn channel_params(params: &Params) -> Params {
    let field = |name: &str| params.string(name, &mut Default::default());
    let mut map = Map::new();
    for name in ["name", "type"] {
        if let Some(value) = field(name) {
            map.insert(name.into(), Value::String(value));
        }
    }
    let kind = field("type")
        .as_deref()
        .and_then(crate::domain::catalog::NotificationType::parse);
    if let (Some(kind), Some(address)) = (kind, field("address")) {
        map.insert(kind.address_field().into(), Value::String(address));
    }
    Params::new(map)
}

/// The `.env` form: "show" opens it with the key given; "save" writes it to the servers.
async fn env_form(app: &App, viewer: &Viewer, project: ProjectId, params: &Params) -> Response {
    let who = &viewer.principal;
    let show = params.string("do", &mut Default::default()).as_deref() == Some("show");
    if show {
        return match env_file::get(app, who, project, params).await {
            Ok(contents) => {
                let contents = contents.expose_secret().to_owned();
                match render_settings(app, viewer, project, Default::default(), contents).await {
                    Ok(page) => page.into_response(),
                    Err(err) => err.into_response(),
                }
            }
            Err(err) => settings_outcome(app, viewer, project, "env", Err(err)).await,
        };
    }
    let typed = params
        .raw_string("contents", &mut Default::default())
        .unwrap_or_default();
    // An empty box is most often a file not shown first: saving it would empty every server's.
    let outcome = if typed.trim().is_empty() {
        Err(Error::invalid(
            "contents",
            Problem::Unreadable(
                "The contents are empty: show the file first (with its key), or type it.".into(),
            ),
        ))
    } else {
        env_file::update(app, who, project, params).await
    };
    let kept = if outcome.is_err() {
        typed
    } else {
        String::new()
    };
    settings_answer(app, viewer, project, "env", outcome, kept).await
}

/// The buttons on one item: delete a hook, heartbeat or channel; remove a collaborator; stop an
/// environment.
pub(super) async fn settings_item(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path((project, section, item, verb)): Path<(String, String, String, String)>,
    body: Bytes,
) -> Response {
    let (viewer, _) = match form(&app, &headers, &body).await {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let (Ok(project), Ok(item)) = (id::<ProjectId>(&project), services::parse_id(&item)) else {
        return PageError(Error::NotFound).into_response();
    };
    let who = &viewer.principal;
    let outcome = match (section.as_str(), verb.as_str()) {
        ("hooks", "delete") => hooks::delete(&app, who, project, item.into()).await,
        ("heartbeats", "delete") => heartbeats::delete(&app, who, project, item.into()).await,
        ("notifications", "delete") => notifications::delete(&app, who, project, item.into()).await,
        ("environments", "stop") => {
            environments::stop(&app, who, project.into(), Some(item.into()), false)
                .await
                .map(drop)
        }
        _ => return PageError(Error::NotFound).into_response(),
    };
    settings_outcome(&app, &viewer, project, &section, outcome).await
}
