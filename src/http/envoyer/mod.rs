//! The Envoyer dialect under `/api`: routes, thin handlers, Laravel-style answers.

mod error;
mod input;
pub mod openapi;
mod requests;
mod views;
pub(crate) mod words;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Extension, Json, Router};
use secrecy::ExposeSecret;
use serde_json::json;

use self::error::{ApiError, ApiResult, rate_limit_headers};
use self::input::Payload;
use self::views::Keyed;
use super::auth::bearer_token;
use super::openapi::Routes;
use crate::app::AppState;
use crate::domain::ids::{
    DeploymentId, HeartbeatId, HookId, NotificationId, ProjectId, ServerId, UserId,
};
use crate::domain::validation::Problem;
use crate::error::Error;
use crate::services::access::Principal;
use crate::services::{
    self, accounts, collaborators, deployments, env_file, heartbeats, hooks, notifications,
    projects, releases, servers,
};

type Who = Extension<Principal>;
type One = Path<String>;
type Two = Path<(String, String)>;

fn id<T: From<i64>>(segment: &str) -> Result<T, ApiError> {
    Ok(T::from(services::parse_id(segment)?))
}

fn deleted() -> Response {
    StatusCode::OK.into_response()
}

/// The token-authenticated routes under `/api`.
fn api_routes() -> Routes<AppState> {
    Routes::default()
        .route("/projects", get(list_projects).post(create_project))
        .route(
            "/projects/{project}",
            get(get_project).put(update_project).delete(delete_project),
        )
        .route("/projects/{project}/source", put(update_source))
        .route(
            "/projects/{project}/webhook-secret",
            post(rotate_webhook_secret),
        )
        .route(
            "/projects/{project}/folders",
            get(list_folders).post(create_folder).delete(delete_folder),
        )
        .route(
            "/projects/{project}/servers",
            get(list_servers).post(create_server),
        )
        .route(
            "/projects/{project}/servers/{server}",
            get(get_server).put(update_server).delete(delete_server),
        )
        .route(
            "/projects/{project}/servers/{server}/refresh",
            post(refresh_server),
        )
        .route(
            "/projects/{project}/environment",
            get(get_environment)
                .put(update_environment)
                .delete(reset_environment),
        )
        .route(
            "/projects/{project}/environment/servers",
            get(environment_servers),
        )
        .route("/actions", get(list_actions))
        .route(
            "/projects/{project}/hooks",
            get(list_hooks).post(create_hook),
        )
        .route(
            "/projects/{project}/hooks/{hook}",
            get(get_hook).put(update_hook).delete(delete_hook),
        )
        .route(
            "/projects/{project}/deployments",
            get(list_deployments).post(create_deployment),
        )
        .route(
            "/projects/{project}/deployments/{deployment}",
            get(get_deployment)
                .delete(cancel_deployment)
                .post(cancel_deployment),
        )
        .route(
            "/projects/{project}/deployments/{deployment}/output",
            get(deployment_output),
        )
        .route(
            "/projects/{project}/deployments/{deployment}/stream",
            get(follow_deployment),
        )
        .route("/projects/{project}/releases", get(list_releases))
        .route("/projects/{project}/rollback", post(roll_back))
        .route(
            "/projects/{project}/servers/{server}/host-key",
            delete(reset_host_key),
        )
        .route(
            "/projects/{project}/heartbeats",
            get(list_heartbeats).post(create_heartbeat),
        )
        .route(
            "/projects/{project}/heartbeats/{heartbeat}",
            get(get_heartbeat).delete(delete_heartbeat),
        )
        .route(
            "/projects/{project}/collaborators",
            get(list_collaborators)
                .post(invite_collaborator)
                .delete(remove_collaborator),
        )
        .route(
            "/projects/{project}/collaborators/accept",
            post(accept_invitation),
        )
        .route(
            "/projects/{project}/collaborators/{collaborator}",
            get(get_collaborator),
        )
        .route(
            "/projects/{project}/notifications",
            get(list_notifications).post(create_notification),
        )
        .route(
            "/projects/{project}/notifications/{notification}",
            get(get_notification)
                .put(update_notification)
                .delete(delete_notification),
        )
}

/// Every path the dialect routes, `/api` and token URLs, for the test that holds them
/// against the OpenAPI document.
pub fn routed_paths() -> Vec<String> {
    let api = api_routes();
    let tokens = token_routes();
    api.paths()
        .iter()
        .map(|path| format!("/api{path}"))
        .chain(tokens.paths().iter().map(|path| path.to_string()))
        .collect()
}

pub fn router(app: AppState) -> Router {
    let authenticated = api_routes()
        .into_router()
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(middleware::from_fn_with_state(app.clone(), authenticate));
    Router::new()
        .route("/openapi.json", get(openapi::serve))
        .merge(authenticated)
        .fallback(not_found)
        .with_state(app)
}

/// The URLs whose token is their only credential: deploy a project, check a heartbeat in.
pub fn token_router(app: AppState) -> Router {
    token_routes().into_router().with_state(app)
}

fn token_routes() -> Routes<AppState> {
    Routes::default()
        .route(
            "/deploy/{token}",
            get(deploy_by_token).post(deploy_by_token),
        )
        .route("/heartbeat/{token}", get(check_in).post(check_in))
        .route("/webhooks/{token}", post(provider_push))
}

async fn deploy_by_token(
    State(app): State<AppState>,
    Path(token): Path<String>,
    Payload(params): Payload,
) -> ApiResult<Response> {
    let deployment = deployments::create_by_token(&app, &token, &params).await?;
    Ok(Json(Keyed("deployment", views::deployment(&deployment))).into_response())
}

/// A GitHub, GitLab or Bitbucket push web hook, told apart by its event header.
async fn provider_push(
    State(app): State<AppState>,
    Path(token): Path<String>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    use crate::services::push::{Delivery, Provider};
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (provider, event, signature) = if let Some(event) = header("x-github-event") {
        (Provider::Github, event, header("x-hub-signature-256"))
    } else if let Some(event) = header("x-gitlab-event") {
        (Provider::Gitlab, event, header("x-gitlab-token"))
    } else if let Some(event) = header("x-event-key") {
        (Provider::Bitbucket, event, header("x-hub-signature"))
    } else {
        return Err(ApiError(Error::invalid("event", Problem::NoEventHeader)));
    };
    let delivery = Delivery {
        provider,
        event,
        signature,
        body: &body,
    };
    let outcome = crate::services::push::receive(&app, &token, &delivery).await?;
    Ok(Json(views::push_outcome(&outcome)).into_response())
}

async fn rotate_webhook_secret(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
) -> ApiResult<Response> {
    let secret = crate::services::push::rotate_secret(&app, &who, id(&p)?).await?;
    // Shown only now: afterwards it exists only sealed.
    Ok(Json(views::secret(&secret)).into_response())
}

async fn check_in(State(app): State<AppState>, Path(token): Path<String>) -> ApiResult<Response> {
    heartbeats::check_in(&app, &token).await?;
    Ok((
        Extension(crate::http::RoutineRequest),
        Json(json!({"message": "Checked in."})),
    )
        .into_response())
}

async fn not_found() -> ApiError {
    ApiError(Error::NotFound)
}

async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(json!({"message": "The method is not supported for this route."})),
    )
        .into_response()
}

/// Bearer token → Principal (401 first), then the token's rate limit (429).
async fn authenticate(State(app): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(token) = bearer_token(req.headers()) else {
        return ApiError(Error::Unauthenticated).into_response();
    };
    let principal = match accounts::authenticate(&app, token).await {
        Ok(principal) => principal,
        Err(err) => return ApiError(err).into_response(),
    };
    let limit = match app.rate_limits.check(principal.token) {
        Some(Err(limit)) => return ApiError(Error::RateLimited(limit)).into_response(),
        Some(Ok(limit)) => Some(limit),
        None => None,
    };
    req.extensions_mut().insert(principal);
    let mut response = next.run(req).await;
    if let Some(limit) = limit {
        rate_limit_headers(response.headers_mut(), &limit);
    }
    response
}

// Projects

/// Projects read and written a page at a time.
const PROJECT_PAGE: i64 = 100;

/// `{"projects":[…]}`, written page by page as the client reads it, so that a list of
/// thousands of projects never sits in memory at once. The first page is read before
/// answering, so that its errors are real error answers.
async fn list_projects(State(app): State<AppState>, Extension(who): Who) -> ApiResult<Response> {
    use futures_util::StreamExt;
    let first = projects::list_page(&app, &who, ProjectId(0), PROJECT_PAGE).await?;
    let pages = futures_util::stream::unfold(Some((first, false)), move |state| {
        let (app, who) = (app.clone(), who.clone());
        async move {
            let (page, after_first) = state?;
            let last = page.last()?.project.id;
            let mut chunk = Vec::with_capacity(page.len() * 4096);
            for (index, view) in page.iter().enumerate() {
                if after_first || index > 0 {
                    chunk.push(b',');
                }
                if let Err(err) = serde_json::to_writer(&mut chunk, &views::project(view)) {
                    return Some((Err(std::io::Error::other(err)), None));
                }
            }
            let next = if page.len() < PROJECT_PAGE as usize {
                Vec::new()
            } else {
                match projects::list_page(&app, &who, last, PROJECT_PAGE).await {
                    Ok(next) => next,
                    Err(err) => {
                        tracing::error!(error = %err, "reading a page of projects failed");
                        return Some((Err(std::io::Error::other("a page failed")), None));
                    }
                }
            };
            Some((Ok(Bytes::from(chunk)), Some((next, true))))
        }
    });
    let body = futures_util::stream::once(async { Ok(Bytes::from_static(b"{\"projects\":[")) })
        .chain(pages)
        .chain(futures_util::stream::once(async {
            Ok(Bytes::from_static(b"]}"))
        }));
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response())
}

async fn get_project(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
) -> ApiResult<Response> {
    let view = projects::get(&app, &who, id::<ProjectId>(&p)?).await?;
    Ok(Json(Keyed("project", views::project(&view))).into_response())
}

async fn create_project(
    State(app): State<AppState>,
    Extension(who): Who,
    Payload(params): Payload,
) -> ApiResult<Response> {
    let view = projects::create(&app, &who, &params).await?;
    Ok(Json(Keyed("project", views::project(&view))).into_response())
}

async fn update_project(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
    Payload(params): Payload,
) -> ApiResult<Response> {
    let view = projects::update(&app, &who, id(&p)?, &params).await?;
    Ok(Json(Keyed("project", views::project(&view))).into_response())
}

async fn update_source(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
    Payload(params): Payload,
) -> ApiResult<Response> {
    let view = projects::update_source(&app, &who, id(&p)?, &params).await?;
    Ok(Json(Keyed("project", views::project(&view))).into_response())
}

async fn delete_project(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
) -> ApiResult<Response> {
    projects::delete(&app, &who, id(&p)?).await?;
    Ok(deleted())
}

async fn list_folders(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
) -> ApiResult<Response> {
    let folders = projects::list_folders(&app, &who, id(&p)?).await?;
    Ok(Json(Keyed("folders", views::folders(&folders))).into_response())
}

async fn create_folder(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
    Payload(params): Payload,
) -> ApiResult<Response> {
    let folders = projects::create_folder(&app, &who, id(&p)?, &params).await?;
    Ok(Json(Keyed("folders", views::folders(&folders))).into_response())
}

async fn delete_folder(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
    Payload(params): Payload,
) -> ApiResult<Response> {
    projects::delete_folder(&app, &who, id(&p)?, &params).await?;
    Ok(deleted())
}

// Servers

async fn list_servers(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
) -> ApiResult<Response> {
    let list = servers::list(&app, &who, id(&p)?).await?;
    Ok(Json(Keyed("servers", views::servers(&list))).into_response())
}

async fn get_server(
    State(app): State<AppState>,
    Extension(who): Who,
    Path((p, s)): Two,
) -> ApiResult<Response> {
    let server = servers::get(&app, &who, id(&p)?, id::<ServerId>(&s)?).await?;
    Ok(Json(Keyed("server", views::server(&server))).into_response())
}

async fn create_server(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
    Payload(params): Payload,
) -> ApiResult<Response> {
    let server = servers::create(&app, &who, id(&p)?, &params).await?;
    Ok(Json(Keyed("server", views::server(&server))).into_response())
}

async fn update_server(
    State(app): State<AppState>,
    Extension(who): Who,
    Path((p, s)): Two,
    Payload(params): Payload,
) -> ApiResult<Response> {
    let server = servers::update(&app, &who, id(&p)?, id(&s)?, &params).await?;
    Ok(Json(Keyed("server", views::server(&server))).into_response())
}

async fn delete_server(
    State(app): State<AppState>,
    Extension(who): Who,
    Path((p, s)): Two,
) -> ApiResult<Response> {
    servers::delete(&app, &who, id(&p)?, id(&s)?).await?;
    Ok(deleted())
}

async fn refresh_server(
    State(app): State<AppState>,
    Extension(who): Who,
    Path((p, s)): Two,
) -> ApiResult<Response> {
    let server = servers::refresh(&app, &who, id(&p)?, id(&s)?).await?;
    Ok(Json(Keyed("server", views::server(&server))).into_response())
}

// Environment

async fn get_environment(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
    Payload(params): Payload,
) -> ApiResult<Response> {
    let contents = env_file::get(&app, &who, id(&p)?, &params).await?;
    Ok(Json(Keyed("environment", contents.expose_secret())).into_response())
}

async fn environment_servers(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
) -> ApiResult<Response> {
    let list = env_file::servers(&app, &who, id(&p)?).await?;
    Ok(Json(Keyed("servers", views::servers(&list))).into_response())
}

async fn update_environment(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
    Payload(params): Payload,
) -> ApiResult<Response> {
    let project = id(&p)?;
    env_file::update(&app, &who, project, &params).await?;
    let list = env_file::servers(&app, &who, project).await?;
    Ok(Json(Keyed("servers", views::servers(&list))).into_response())
}

async fn reset_environment(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
    Payload(params): Payload,
) -> ApiResult<Response> {
    env_file::reset(&app, &who, id(&p)?, &params).await?;
    Ok(deleted())
}

// Actions and hooks

async fn list_actions() -> Response {
    Json(Keyed("actions", views::actions())).into_response()
}

async fn list_hooks(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
) -> ApiResult<Response> {
    let list = hooks::list(&app, &who, id(&p)?).await?;
    Ok(Json(Keyed("hooks", views::hooks(&list))).into_response())
}

async fn get_hook(
    State(app): State<AppState>,
    Extension(who): Who,
    Path((p, h)): Two,
) -> ApiResult<Response> {
    let hook = hooks::get(&app, &who, id(&p)?, id::<HookId>(&h)?).await?;
    Ok(Json(Keyed("hook", views::hook(&hook))).into_response())
}

async fn create_hook(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
    Payload(params): Payload,
) -> ApiResult<Response> {
    let hook = hooks::create(&app, &who, id(&p)?, &params).await?;
    Ok(Json(Keyed("hook", views::hook(&hook))).into_response())
}

async fn update_hook(
    State(app): State<AppState>,
    Extension(who): Who,
    Path((p, h)): Two,
    Payload(params): Payload,
) -> ApiResult<Response> {
    let hook = hooks::update(&app, &who, id(&p)?, id(&h)?, &params).await?;
    Ok(Json(Keyed("hook", views::hook(&hook))).into_response())
}

async fn delete_hook(
    State(app): State<AppState>,
    Extension(who): Who,
    Path((p, h)): Two,
) -> ApiResult<Response> {
    hooks::delete(&app, &who, id(&p)?, id(&h)?).await?;
    Ok(deleted())
}

// Deployments

async fn list_deployments(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
) -> ApiResult<Response> {
    let list = deployments::list(&app, &who, id(&p)?).await?;
    Ok(Json(Keyed("deployments", views::deployments(&list))).into_response())
}

async fn get_deployment(
    State(app): State<AppState>,
    Extension(who): Who,
    Path((p, d)): Two,
) -> ApiResult<Response> {
    let view = deployments::get(&app, &who, id(&p)?, id::<DeploymentId>(&d)?).await?;
    Ok(Json(Keyed("deployment", views::deployment_detail(&view))).into_response())
}

async fn create_deployment(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
    Payload(params): Payload,
) -> ApiResult<Response> {
    let deployment = deployments::create(&app, &who, id(&p)?, &params).await?;
    Ok(Json(Keyed("deployment", views::deployment(&deployment))).into_response())
}

async fn cancel_deployment(
    State(app): State<AppState>,
    Extension(who): Who,
    Path((p, d)): Two,
) -> ApiResult<Response> {
    deployments::cancel(&app, &who, id(&p)?, id(&d)?).await?;
    Ok(deleted())
}

async fn list_releases(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
    Payload(params): Payload,
) -> ApiResult<Response> {
    let list = releases::list(&app, &who, id(&p)?, &params).await?;
    Ok(Json(Keyed("releases", views::releases(&list))).into_response())
}

async fn roll_back(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
    Payload(params): Payload,
) -> ApiResult<Response> {
    let view = releases::rollback(&app, &who, id(&p)?, &params).await?;
    Ok(Json(Keyed("deployment", views::deployment_detail(&view))).into_response())
}

async fn deployment_output(
    State(app): State<AppState>,
    Extension(who): Who,
    Path((p, d)): Two,
) -> ApiResult<Response> {
    let list = deployments::output(&app, &who, id(&p)?, id(&d)?).await?;
    Ok(Json(Keyed("processes", views::outputs(&list))).into_response())
}

/// The deployment's output as Server-Sent Events: everything so far, then new output as it
/// comes, ending with an `end` event.
async fn follow_deployment(
    State(app): State<AppState>,
    Extension(who): Who,
    Path((p, d)): Two,
) -> ApiResult<Response> {
    let follow = deployments::follow(&app, &who, id(&p)?, id(&d)?).await?;
    Ok(crate::http::events::deployment_events(follow))
}

async fn reset_host_key(
    State(app): State<AppState>,
    Extension(who): Who,
    Path((p, s)): Two,
) -> ApiResult<Response> {
    let server = servers::reset_host_key(&app, &who, id(&p)?, id(&s)?).await?;
    Ok(Json(Keyed("server", views::server(&server))).into_response())
}

// Heartbeats

async fn list_heartbeats(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
) -> ApiResult<Response> {
    let list = heartbeats::list(&app, &who, id(&p)?).await?;
    Ok(Json(Keyed("heartbeats", views::heartbeats(&list))).into_response())
}

async fn get_heartbeat(
    State(app): State<AppState>,
    Extension(who): Who,
    Path((p, h)): Two,
) -> ApiResult<Response> {
    let heartbeat = heartbeats::get(&app, &who, id(&p)?, id::<HeartbeatId>(&h)?).await?;
    Ok(Json(Keyed("heartbeat", views::heartbeat(&heartbeat))).into_response())
}

async fn create_heartbeat(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
    Payload(params): Payload,
) -> ApiResult<Response> {
    let heartbeat = heartbeats::create(&app, &who, id(&p)?, &params).await?;
    Ok(Json(Keyed("heartbeat", views::heartbeat(&heartbeat))).into_response())
}

async fn delete_heartbeat(
    State(app): State<AppState>,
    Extension(who): Who,
    Path((p, h)): Two,
) -> ApiResult<Response> {
    heartbeats::delete(&app, &who, id(&p)?, id(&h)?).await?;
    Ok(deleted())
}

// Collaborators

async fn list_collaborators(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
) -> ApiResult<Response> {
    let list = collaborators::list(&app, &who, id(&p)?).await?;
    Ok(Json(Keyed("collaborators", views::collaborators(&list))).into_response())
}

async fn get_collaborator(
    State(app): State<AppState>,
    Extension(who): Who,
    Path((p, c)): Two,
) -> ApiResult<Response> {
    let collaborator = collaborators::get(&app, &who, id(&p)?, id::<UserId>(&c)?).await?;
    Ok(Json(Keyed("collaborator", views::collaborator(&collaborator))).into_response())
}

async fn invite_collaborator(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
    Payload(params): Payload,
) -> ApiResult<Response> {
    let list = collaborators::invite(&app, &who, id(&p)?, &params).await?;
    Ok(Json(Keyed("collaborators", views::collaborators(&list))).into_response())
}

async fn remove_collaborator(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
    Payload(params): Payload,
) -> ApiResult<Response> {
    collaborators::remove(&app, &who, id(&p)?, &params).await?;
    Ok(deleted())
}

async fn accept_invitation(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
) -> ApiResult<Response> {
    let collaborator = collaborators::accept(&app, &who, id(&p)?).await?;
    Ok(Json(Keyed("collaborator", views::collaborator(&collaborator))).into_response())
}

// Notifications

async fn list_notifications(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
) -> ApiResult<Response> {
    let list = notifications::list(&app, &who, id(&p)?).await?;
    Ok(Json(Keyed("notifications", views::notifications(&list))).into_response())
}

async fn get_notification(
    State(app): State<AppState>,
    Extension(who): Who,
    Path((p, n)): Two,
) -> ApiResult<Response> {
    let view = notifications::get(&app, &who, id(&p)?, id::<NotificationId>(&n)?).await?;
    Ok(Json(Keyed("notification", views::notification(&view))).into_response())
}

async fn create_notification(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
    Payload(params): Payload,
) -> ApiResult<Response> {
    let list = notifications::create(&app, &who, id(&p)?, &params).await?;
    Ok(Json(Keyed("notifications", views::notifications(&list))).into_response())
}

async fn update_notification(
    State(app): State<AppState>,
    Extension(who): Who,
    Path((p, n)): Two,
    Payload(params): Payload,
) -> ApiResult<Response> {
    let view = notifications::update(&app, &who, id(&p)?, id(&n)?, &params).await?;
    Ok(Json(Keyed("notification", views::notification(&view))).into_response())
}

async fn delete_notification(
    State(app): State<AppState>,
    Extension(who): Who,
    Path((p, n)): Two,
) -> ApiResult<Response> {
    notifications::delete(&app, &who, id(&p)?, id(&n)?).await?;
    Ok(deleted())
}
