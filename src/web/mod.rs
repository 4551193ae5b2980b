//! The dashboard: a third dialect over the same services, as server-rendered pages. Sessions
//! are a random HttpOnly cookie; every form carries the session's anti-forgery token, and a
//! state-changing request without it is refused with 419.

mod views;

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};

use self::views::{
    ErrorPage, FormErrors, FormValues, Layout, LoginPage, NewProjectPage, ProjectForms,
    ProjectsPage,
};
use crate::app::{App, AppState};
use crate::domain::ids::{DeploymentId, ProjectId, ServerId};
use crate::domain::validation::Params;
use crate::error::Error;
use crate::http::params;
use crate::services::sessions::{self, Viewer};
use crate::services::{
    self, collaborators, deployments, env_file, environments, heartbeats, hooks, notifications,
    projects, releases, servers,
};

const COOKIE: &str = "slipway_session";
/// Guards the sign-in form, before there is a session.
const LOGIN_COOKIE: &str = "slipway_login";
/// Projects per page of the projects list.
const PAGE: i64 = 50;

pub fn router(app: AppState) -> Router {
    Router::new()
        .route("/", get(projects_page))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/projects", post(create_project))
        .route("/projects/new", get(new_project_page))
        .route("/projects/status", get(projects_status))
        .route("/projects/{project}/servers", post(add_server))
        .route("/projects/{project}/settings", get(settings_page))
        .route(
            "/projects/{project}/settings/{section}",
            post(settings_change),
        )
        .route(
            "/projects/{project}/settings/{section}/{item}/{verb}",
            post(settings_item),
        )
        .route("/projects/{project}", get(project_page))
        .route("/projects/{project}/deploy", post(deploy))
        .route("/projects/{project}/rollback", post(roll_back))
        .route(
            "/projects/{project}/servers/{server}/refresh",
            post(refresh_server),
        )
        .route(
            "/projects/{project}/deployments/{deployment}",
            get(deployment_page),
        )
        .route(
            "/projects/{project}/deployments/{deployment}/events",
            get(deployment_events),
        )
        .route(
            "/projects/{project}/deployments/{deployment}/cancel",
            post(cancel_deployment),
        )
        .route("/assets/app.css", get(stylesheet))
        .route("/assets/app.js", get(script))
        .layer(middleware::from_fn(security_headers))
        .with_state(app)
}

/// No script, style or frame from anywhere else; no framing of these pages.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'; form-action 'self'"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    // Pages may show secrets (a heartbeat's URL, the .env): never kept in a cache.
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn stylesheet() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("../../assets/app.css"),
    )
}

async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../assets/app.js"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// A page's failure as a page: not found (another user's project too), refused, or broken.
pub struct PageError(Error);

impl From<Error> for PageError {
    fn from(err: Error) -> Self {
        PageError(err)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self.0 {
            Error::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here, or it is not yours to see.".to_owned(),
            ),
            Error::Forbidden => (
                StatusCode::FORBIDDEN,
                "Not allowed",
                "Your sign-in does not allow this.".to_owned(),
            ),
            Error::Unauthenticated => return Redirect::to("/login").into_response(),
            Error::Invalid(errors) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "That did not work",
                errors.messages().join(" "),
            ),
            Error::Failed(message) => (StatusCode::BAD_REQUEST, "That did not work", message),
            Error::RateLimited(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests",
                "Please wait a moment and try again.".to_owned(),
            ),
            Error::Internal(err) => {
                tracing::error!(error = %format!("{err:#}"), "a dashboard page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "Slipway could not show this page; its log has the details.".to_owned(),
                )
            }
        };
        let page = ErrorPage {
            layout: Layout::default(),
            title,
            message,
        };
        (status, page).into_response()
    }
}

type PageResult = Result<Response, PageError>;

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    cookie_named(headers, COOKIE)
}

fn cookie_named<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// A cookie of the dashboard's: HttpOnly always, Secure when Slipway is served over https.
/// `value` None clears it.
fn cookie(app: &App, name: &str, value: Option<&str>, path: &str, same_site: &str) -> String {
    let secure = if app.config.public_url().starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    match value {
        // No Max-Age: the server ends an idle session, the browser forgets it when it closes.
        Some(value) => {
            format!("{name}={value}; Path={path}; HttpOnly; SameSite={same_site}{secure}")
        }
        None => format!("{name}=; Path={path}; HttpOnly; SameSite={same_site}; Max-Age=0{secure}"),
    }
}

/// The signed-in person, or `Unauthenticated` (shown as a redirect to /login).
async fn viewer(app: &App, headers: &HeaderMap) -> Result<Viewer, PageError> {
    let cookie = session_cookie(headers).ok_or(Error::Unauthenticated)?;
    Ok(sessions::resume(app, cookie).await?)
}

/// The signed-in person behind a page's own background request (a status poll, an event
/// stream): a 401 rather than a redirect when the session is over, so that the page stops
/// asking. A poll does not keep the session alive.
async fn background_viewer(app: &App, headers: &HeaderMap, poll: bool) -> Result<Viewer, Response> {
    let over = || StatusCode::UNAUTHORIZED.into_response();
    let cookie = session_cookie(headers).ok_or_else(over)?;
    let resumed = if poll {
        sessions::resume_quietly(app, cookie).await
    } else {
        sessions::resume(app, cookie).await
    };
    match resumed {
        Ok(viewer) => Ok(viewer),
        Err(Error::Unauthenticated) => Err(over()),
        Err(err) => Err(PageError(err).into_response()),
    }
}

/// A state-changing request: the signed-in person and the form's fields, once its
/// anti-forgery token matched; otherwise a 419 that changes nothing.
async fn form(app: &App, headers: &HeaderMap, body: &Bytes) -> Result<(Viewer, Params), Response> {
    let viewer = viewer(app, headers)
        .await
        .map_err(IntoResponse::into_response)?;
    let params = params::parse_body(body).unwrap_or_default();
    let token = params
        .string("_token", &mut Default::default())
        .unwrap_or_default();
    if !crate::crypto::secrets_match(&token, &viewer.csrf) {
        return Err(expired(Some(&viewer.csrf)));
    }
    Ok((viewer, params))
}

/// A state-changing request on a project: as [`form`], with the project's id from the path.
async fn project_form(
    app: &App,
    headers: &HeaderMap,
    body: &Bytes,
    project: &str,
) -> Result<(Viewer, Params, ProjectId), Response> {
    let (viewer, params) = form(app, headers, body).await?;
    let project = id::<ProjectId>(project).map_err(IntoResponse::into_response)?;
    Ok((viewer, params, project))
}

/// 419: a form that was stale or did not come from these pages; nothing was changed.
fn expired(csrf: Option<&str>) -> Response {
    let page = ErrorPage {
        layout: Layout {
            csrf: csrf.map(str::to_owned),
            notice: None,
        },
        title: "Page expired",
        message: "This form was stale or did not come from Slipway. Reload the page and try \
                  again."
            .to_owned(),
    };
    let status = StatusCode::from_u16(419).unwrap_or(StatusCode::FORBIDDEN);
    (status, page).into_response()
}

fn id<T: From<i64>>(segment: &str) -> Result<T, PageError> {
    Ok(T::from(services::parse_id(segment)?))
}

// Signing in and out

async fn login_page(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if viewer(&app, &headers).await.is_ok() {
        return Redirect::to("/").into_response();
    }
    login_form(&app, &headers, StatusCode::OK, String::new(), None, None)
}

/// The sign-in page. Before a session exists its forms are protected by a random value in a
/// cookie of their own and in the form (double submit): another site can send neither.
fn login_form(
    app: &App,
    headers: &HeaderMap,
    status: StatusCode,
    email: String,
    email_error: Option<String>,
    token_error: Option<String>,
) -> Response {
    // The guard a browser already holds is kept, so that two open sign-in pages both work.
    let guard = cookie_named(headers, LOGIN_COOKIE)
        .filter(|g| g.len() == 40 && g.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(str::to_owned)
        .unwrap_or_else(|| crate::crypto::random_token(40));
    let page = LoginPage {
        layout: Layout::default(),
        guard: guard.clone(),
        email,
        email_error,
        token_error,
    };
    let set = cookie(app, LOGIN_COOKIE, Some(&guard), "/login", "Strict");
    (status, [(header::SET_COOKIE, set)], page).into_response()
}

async fn login(State(app): State<AppState>, request: Request) -> Response {
    let headers = request.headers().clone();
    // Behind no proxy, the peer; unknown when served without connection info.
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| sessions::client_key(peer.ip()))
        .unwrap_or_default();
    let Ok(body) = axum::body::to_bytes(request.into_body(), 64 * 1024).await else {
        return PageError(Error::invalid("email", "The form is too large.")).into_response();
    };
    let params = params::parse_body(&body).unwrap_or_default();
    let field = |name: &str| {
        params
            .string(name, &mut Default::default())
            .unwrap_or_default()
    };
    let guard = cookie_named(&headers, LOGIN_COOKIE).unwrap_or_default();
    if guard.is_empty() || !crate::crypto::secrets_match(guard, &field("_token")) {
        return expired(None);
    }
    let (email, token) = (field("email"), field("token"));
    let signed_in = if token.is_empty() {
        let password = SecretString::from(field("password"));
        sessions::sign_in_with_password(&app, &email, &password, &client).await
    } else {
        sessions::sign_in_with_token(&app, &token, &client).await
    };
    match signed_in {
        Ok(session) => {
            // A session this browser held before ends: one sign-in, one session.
            if let Some(old) = session_cookie(&headers) {
                let _ = sessions::sign_out(&app, old).await;
            }
            let set_cookie = cookie(&app, COOKIE, Some(session.expose_secret()), "/", "Lax");
            (
                StatusCode::SEE_OTHER,
                [
                    (header::LOCATION, "/".to_owned()),
                    (header::SET_COOKIE, set_cookie),
                ],
            )
                .into_response()
        }
        Err(Error::Invalid(errors)) => {
            let message = Some(errors.messages().join(" "));
            let (email_error, token_error) = if token.is_empty() {
                (message, None)
            } else {
                (None, message)
            };
            login_form(
                &app,
                &headers,
                StatusCode::UNPROCESSABLE_ENTITY,
                email,
                email_error,
                token_error,
            )
        }
        Err(err) => PageError(err).into_response(),
    }
}

async fn logout(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refused) = form(&app, &headers, &body).await {
        return refused;
    }
    if let Some(cookie) = session_cookie(&headers)
        && let Err(err) = sessions::sign_out(&app, cookie).await
    {
        return PageError(err).into_response();
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/login".to_owned()),
            (header::SET_COOKIE, cookie(&app, COOKIE, None, "/", "Lax")),
        ],
    )
        .into_response()
}

// Pages

async fn new_project_page(State(app): State<AppState>, headers: HeaderMap) -> PageResult {
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

async fn create_project(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
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

async fn add_server(
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
struct PageQuery {
    after: Option<String>,
}

async fn projects_page(
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
struct StatusQuery {
    ids: Option<String>,
}

/// The state of the listed projects, for the projects page to refresh itself.
async fn projects_status(
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

async fn project_page(
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
        Error::Invalid(errors) => (StatusCode::UNPROCESSABLE_ENTITY, errors.messages()),
        Error::Failed(message) => (StatusCode::BAD_REQUEST, vec![message]),
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

async fn deploy(
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

async fn roll_back(
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

async fn refresh_server(
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

async fn deployment_page(
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

async fn deployment_events(
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

async fn cancel_deployment(
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

// Settings

async fn settings_page(
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
    let (environments, _) =
        environments::list(app, who, project, &Default::default(), 1, 100).await?;
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
        Err(Error::Invalid(errors)) => errors.messages(),
        Err(Error::Failed(message)) => vec![message],
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
async fn settings_change(
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
            "The contents are empty: show the file first (with its key), or type it.",
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
async fn settings_item(
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
        ("environments", "stop") => environments::stop(&app, who, project, item.into(), false)
            .await
            .map(drop),
        _ => return PageError(Error::NotFound).into_response(),
    };
    settings_outcome(&app, &viewer, project, &section, outcome).await
}
