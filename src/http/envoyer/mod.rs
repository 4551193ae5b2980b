//! The Envoyer dialect under `/api`: routes, thin handlers, Laravel-style answers.

mod error;
mod input;
pub mod openapi;
mod views;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use self::error::{ApiError, ApiResult, rate_limit_headers};
use self::input::Payload;
use super::auth::{TokenRateLimiter, bearer_token};
use crate::app::AppState;
use crate::domain::ids::{
    DeploymentId, HeartbeatId, HookId, NotificationId, ProjectId, ServerId, UserId,
};
use crate::error::Error;
use crate::services::access::Principal;
use crate::services::{
    self, accounts, collaborators, deployments, environment, heartbeats, hooks, notifications,
    projects, servers,
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

pub fn router(app: AppState) -> Router {
    let limiter = TokenRateLimiter::new(app.config.rate_limit_per_minute);
    let authenticated = Router::new()
        .route("/projects", get(list_projects).post(create_project))
        .route(
            "/projects/{project}",
            get(get_project).put(update_project).delete(delete_project),
        )
        .route("/projects/{project}/source", put(update_source))
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
        .route("/projects/{project}/deployments", get(list_deployments))
        .route(
            "/projects/{project}/deployments/{deployment}",
            get(get_deployment),
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
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(middleware::from_fn_with_state(
            (app.clone(), limiter),
            authenticate,
        ));
    Router::new()
        .route("/openapi.json", get(openapi::document))
        .merge(authenticated)
        .fallback(not_found)
        .with_state(app)
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
async fn authenticate(
    State((app, limiter)): State<(AppState, TokenRateLimiter)>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(token) = bearer_token(req.headers()) else {
        return ApiError(Error::Unauthenticated).into_response();
    };
    let principal = match accounts::authenticate(&app, token).await {
        Ok(principal) => principal,
        Err(err) => return ApiError(err).into_response(),
    };
    let limit = match limiter.check(principal.token) {
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

async fn list_projects(State(app): State<AppState>, Extension(who): Who) -> ApiResult<Json<Value>> {
    let list = projects::list(&app, &who).await?;
    Ok(Json(
        json!({"projects": list.iter().map(views::project).collect::<Vec<_>>()}),
    ))
}

async fn get_project(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
) -> ApiResult<Json<Value>> {
    let view = projects::get(&app, &who, id::<ProjectId>(&p)?).await?;
    Ok(Json(json!({"project": views::project(&view)})))
}

async fn create_project(
    State(app): State<AppState>,
    Extension(who): Who,
    Payload(params): Payload,
) -> ApiResult<Json<Value>> {
    let view = projects::create(&app, &who, &params).await?;
    Ok(Json(json!({"project": views::project(&view)})))
}

async fn update_project(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
    Payload(params): Payload,
) -> ApiResult<Json<Value>> {
    let view = projects::update(&app, &who, id(&p)?, &params).await?;
    Ok(Json(json!({"project": views::project(&view)})))
}

async fn update_source(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
    Payload(params): Payload,
) -> ApiResult<Json<Value>> {
    let view = projects::update_source(&app, &who, id(&p)?, &params).await?;
    Ok(Json(json!({"project": views::project(&view)})))
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
) -> ApiResult<Json<Value>> {
    let folders = projects::list_folders(&app, &who, id(&p)?).await?;
    Ok(Json(json!({"folders": views::folders(&folders)})))
}

async fn create_folder(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
    Payload(params): Payload,
) -> ApiResult<Json<Value>> {
    let folders = projects::create_folder(&app, &who, id(&p)?, &params).await?;
    Ok(Json(json!({"folders": views::folders(&folders)})))
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
) -> ApiResult<Json<Value>> {
    let list = servers::list(&app, &who, id(&p)?).await?;
    Ok(Json(json!({"servers": views::servers(&list)})))
}

async fn get_server(
    State(app): State<AppState>,
    Extension(who): Who,
    Path((p, s)): Two,
) -> ApiResult<Json<Value>> {
    let server = servers::get(&app, &who, id(&p)?, id::<ServerId>(&s)?).await?;
    Ok(Json(json!({"server": views::server(&server)})))
}

async fn create_server(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
    Payload(params): Payload,
) -> ApiResult<Json<Value>> {
    let server = servers::create(&app, &who, id(&p)?, &params).await?;
    Ok(Json(json!({"server": views::server(&server)})))
}

async fn update_server(
    State(app): State<AppState>,
    Extension(who): Who,
    Path((p, s)): Two,
    Payload(params): Payload,
) -> ApiResult<Json<Value>> {
    let server = servers::update(&app, &who, id(&p)?, id(&s)?, &params).await?;
    Ok(Json(json!({"server": views::server(&server)})))
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
) -> ApiResult<Json<Value>> {
    let server = servers::refresh(&app, &who, id(&p)?, id(&s)?).await?;
    Ok(Json(json!({"server": views::server(&server)})))
}

// Environment

async fn get_environment(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
    Payload(params): Payload,
) -> ApiResult<Json<Value>> {
    let contents = environment::get(&app, &who, id(&p)?, &params).await?;
    Ok(Json(json!({"environment": contents.expose_secret()})))
}

async fn environment_servers(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
) -> ApiResult<Json<Value>> {
    let list = environment::servers(&app, &who, id(&p)?).await?;
    Ok(Json(json!({"servers": views::servers(&list)})))
}

async fn update_environment(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
    Payload(params): Payload,
) -> ApiResult<Json<Value>> {
    let project = id(&p)?;
    environment::update(&app, &who, project, &params).await?;
    let list = environment::servers(&app, &who, project).await?;
    Ok(Json(json!({"servers": views::servers(&list)})))
}

async fn reset_environment(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
    Payload(params): Payload,
) -> ApiResult<Response> {
    environment::reset(&app, &who, id(&p)?, &params).await?;
    Ok(deleted())
}

// Actions and hooks

async fn list_actions() -> Json<Value> {
    Json(json!({"actions": views::actions()}))
}

async fn list_hooks(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
) -> ApiResult<Json<Value>> {
    let list = hooks::list(&app, &who, id(&p)?).await?;
    Ok(Json(
        json!({"hooks": list.iter().map(views::hook).collect::<Vec<_>>()}),
    ))
}

async fn get_hook(
    State(app): State<AppState>,
    Extension(who): Who,
    Path((p, h)): Two,
) -> ApiResult<Json<Value>> {
    let hook = hooks::get(&app, &who, id(&p)?, id::<HookId>(&h)?).await?;
    Ok(Json(json!({"hook": views::hook(&hook)})))
}

async fn create_hook(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
    Payload(params): Payload,
) -> ApiResult<Json<Value>> {
    let hook = hooks::create(&app, &who, id(&p)?, &params).await?;
    Ok(Json(json!({"hook": views::hook(&hook)})))
}

async fn update_hook(
    State(app): State<AppState>,
    Extension(who): Who,
    Path((p, h)): Two,
    Payload(params): Payload,
) -> ApiResult<Json<Value>> {
    let hook = hooks::update(&app, &who, id(&p)?, id(&h)?, &params).await?;
    Ok(Json(json!({"hook": views::hook(&hook)})))
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
) -> ApiResult<Json<Value>> {
    let list = deployments::list(&app, &who, id(&p)?).await?;
    Ok(Json(
        json!({"deployments": list.iter().map(views::deployment).collect::<Vec<_>>()}),
    ))
}

async fn get_deployment(
    State(app): State<AppState>,
    Extension(who): Who,
    Path((p, d)): Two,
) -> ApiResult<Json<Value>> {
    let view = deployments::get(&app, &who, id(&p)?, id::<DeploymentId>(&d)?).await?;
    Ok(Json(json!({"deployment": views::deployment_detail(&view)})))
}

// Heartbeats

async fn list_heartbeats(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
) -> ApiResult<Json<Value>> {
    let list = heartbeats::list(&app, &who, id(&p)?).await?;
    Ok(Json(
        json!({"heartbeats": list.iter().map(views::heartbeat).collect::<Vec<_>>()}),
    ))
}

async fn get_heartbeat(
    State(app): State<AppState>,
    Extension(who): Who,
    Path((p, h)): Two,
) -> ApiResult<Json<Value>> {
    let heartbeat = heartbeats::get(&app, &who, id(&p)?, id::<HeartbeatId>(&h)?).await?;
    Ok(Json(json!({"heartbeat": views::heartbeat(&heartbeat)})))
}

async fn create_heartbeat(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
    Payload(params): Payload,
) -> ApiResult<Json<Value>> {
    let heartbeat = heartbeats::create(&app, &who, id(&p)?, &params).await?;
    Ok(Json(json!({"heartbeat": views::heartbeat(&heartbeat)})))
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
) -> ApiResult<Json<Value>> {
    let list = collaborators::list(&app, &who, id(&p)?).await?;
    Ok(Json(
        json!({"collaborators": list.iter().map(views::collaborator).collect::<Vec<_>>()}),
    ))
}

async fn get_collaborator(
    State(app): State<AppState>,
    Extension(who): Who,
    Path((p, c)): Two,
) -> ApiResult<Json<Value>> {
    let collaborator = collaborators::get(&app, &who, id(&p)?, id::<UserId>(&c)?).await?;
    Ok(Json(
        json!({"collaborator": views::collaborator(&collaborator)}),
    ))
}

async fn invite_collaborator(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
    Payload(params): Payload,
) -> ApiResult<Json<Value>> {
    let list = collaborators::invite(&app, &who, id(&p)?, &params).await?;
    Ok(Json(
        json!({"collaborators": list.iter().map(views::collaborator).collect::<Vec<_>>()}),
    ))
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
) -> ApiResult<Json<Value>> {
    let collaborator = collaborators::accept(&app, &who, id(&p)?).await?;
    Ok(Json(
        json!({"collaborator": views::collaborator(&collaborator)}),
    ))
}

// Notifications

async fn list_notifications(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
) -> ApiResult<Json<Value>> {
    let list = notifications::list(&app, &who, id(&p)?).await?;
    Ok(Json(
        json!({"notifications": list.iter().map(views::notification).collect::<Vec<_>>()}),
    ))
}

async fn get_notification(
    State(app): State<AppState>,
    Extension(who): Who,
    Path((p, n)): Two,
) -> ApiResult<Json<Value>> {
    let view = notifications::get(&app, &who, id(&p)?, id::<NotificationId>(&n)?).await?;
    Ok(Json(json!({"notification": views::notification(&view)})))
}

async fn create_notification(
    State(app): State<AppState>,
    Extension(who): Who,
    Path(p): One,
    Payload(params): Payload,
) -> ApiResult<Json<Value>> {
    let list = notifications::create(&app, &who, id(&p)?, &params).await?;
    Ok(Json(
        json!({"notifications": list.iter().map(views::notification).collect::<Vec<_>>()}),
    ))
}

async fn update_notification(
    State(app): State<AppState>,
    Extension(who): Who,
    Path((p, n)): Two,
    Payload(params): Payload,
) -> ApiResult<Json<Value>> {
    let view = notifications::update(&app, &who, id(&p)?, id(&n)?, &params).await?;
    Ok(Json(json!({"notification": views::notification(&view)})))
}

async fn delete_notification(
    State(app): State<AppState>,
    Extension(who): Who,
    Path((p, n)): Two,
) -> ApiResult<Response> {
    notifications::delete(&app, &who, id(&p)?, id(&n)?).await?;
    Ok(deleted())
}
